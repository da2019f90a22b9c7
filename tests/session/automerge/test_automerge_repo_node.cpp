// Real automerge-repo clients (Node, the npm packages pinned in tests/automerge-repo) against
// a Repo listening with ListenOptions::Dialect::kAutomergeRepo. Skipped unless run with
// --no-skip: tests/automerge-repo/run.sh installs the packages (npm ci), copies the scripts
// beside them, sets DAGSYNC_AUTOMERGE_REPO_DIR and runs the "automerge-repo: interop" case.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "child_process.h"
#include "net_helpers.h"
#include "temp_dir.h"

namespace dagsync::test {
namespace {

std::string script(const char* name) {
  const char* dir = std::getenv("DAGSYNC_AUTOMERGE_REPO_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "run through tests/automerge-repo/run.sh");
  return std::string(dir) + "/" + name;
}

// Runs `node args...` while the loop serves; returns its output, checking it exited 0.
std::string run_node(asio::io_context& io, const std::vector<std::string>& args) {
  std::vector<std::string> command = {"node"};
  command.insert(command.end(), args.begin(), args.end());
  auto [pid, out_fd] = spawn_with_stdout(command, true);
  ChildOutput output(io, out_fd);
  output.read();
  int status = 0;
  bool finished = wait_for_child(io, pid, output, status, std::chrono::seconds(90));
  MESSAGE("node output:\n" << output.text);
  REQUIRE(finished);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  return output.text;
}

}  // namespace

TEST_CASE("automerge-repo: interop with real automerge-repo clients, no engine needed" *
          doctest::skip()) {
  asio::io_context io;
  TransportOptions transport;
  transport.keepalive_interval = std::chrono::milliseconds(5000);  // as automerge-repo's server
  Transports transports(io, transport, quiet_logger());
  RepoOptions options;
  options.peer_id = "dagsync-test-server";
  options.logger = quiet_logger();
  Repo server(io, transports, options);
  std::string url =
      server.listen("ws://127.0.0.1:0/", ListenOptions{ListenOptions::Dialect::kAutomergeRepo});

  std::string out = run_node(io, {script("interop.mjs"), url, options.peer_id});
  CHECK(contains(line_starting(out, "handshake "), "ok"));
  CHECK(contains(line_starting(out, "unavailable "), "ok"));
  CHECK(contains(line_starting(out, "ephemeral "), "ok"));
  CHECK(line_starting(out, "done") == "done");
  // The document nobody has stays without changes (the client's sync of its own empty copy
  // may leave it empty here); the one alice created for the ephemeral messages is synced
  // with its one change, and the ephemeral messages added nothing to it.
  CHECK(server.documents().size() <= 2);
  for (const auto& id : server.documents()) {
    REQUIRE(server.find(id));
    CHECK(server.find(id)->size() == (id == "4NMNnkMhL8jXrdJ9jamS58PAVdXu" ? 0u : 1u));
  }
  CHECK(server.metrics().unavailable_sent >= 1);  // the answer to the unknown document
}

// Real Automerge documents through the server's default engine (the core's), stored in
// SQLite: edited and found by two clients, then found by a third after a restart.
TEST_CASE("automerge-repo: sync" * doctest::skip()) {
  TempDir dir;
  std::string store = (dir.path / "server.db").string();
  std::string doc_url;
  RepoOptions options;
  options.peer_id = "dagsync-test-server";
  options.logger = quiet_logger();
  options.automerge_storage_id = "5d8a4e22-9d0b-4c61-8f1e-0c7b3a2d9e14";
  // No engine set: the Repo uses core_automerge_sync_engine(), as dagsync-peer serve does.
  for (const char* phase : {"edit", "find"}) {
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    options.storage = std::make_shared<SqliteStorage>(store);
    Repo server(io, transports, options);
    std::string url =
        server.listen("ws://127.0.0.1:0/", ListenOptions{ListenOptions::Dialect::kAutomergeRepo});
    std::vector<std::string> args = {script("sync.mjs"), phase, url, options.peer_id};
    if (!doc_url.empty()) args.push_back(doc_url);
    std::string out = run_node(io, args);
    if (std::string(phase) == "edit") {
      CHECK(contains(line_starting(out, "found "), "ok"));
      CHECK(contains(line_starting(out, "converged "), "ok"));
      doc_url = line_starting(out, "url ").substr(4);
      REQUIRE(!doc_url.empty());
    } else {
      CHECK(contains(line_starting(out, "restored "), "ok"));
    }
    CHECK(line_starting(out, "done") == "done");
  }
}

}  // namespace dagsync::test
