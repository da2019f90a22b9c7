// Documents load on demand and unload when idle (RepoOptions::unload_after,
// max_loaded_documents): construction opens nothing, a peer naming a stored document loads
// it, and a document unloaded and loaded again syncs as before, with its sync states.
#include "net_helpers.h"
#include "temp_dir.h"

namespace dagsync::test {
namespace {

using namespace std::chrono_literals;

TEST_CASE("lazy documents: construction loads nothing; a peer naming one loads only it") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  TempDir dir;
  {
    RepoOptions o = repo_options("server");
    o.storage = std::make_shared<SqliteStorage>(dir.file("server.db"));
    Repo seed(io, transports, o);
    for (int i = 0; i < 50; ++i) seed.commit("doc-" + std::to_string(i), text("v1"));
  }
  RepoOptions so = repo_options("server");
  so.share_policy = share_nothing();
  so.storage = std::make_shared<SqliteStorage>(dir.file("server.db"));
  Repo server(io, transports, so);
  CHECK(server.loaded_documents() == 0);
  CHECK(server.documents().size() == 50);  // listed from storage, not loaded
  CHECK(server.loaded_documents() == 0);
  std::string url = server.listen("tcp://127.0.0.1:0");

  Repo client(io, transports, repo_options("client"));
  client.request("doc-7");
  client.connect(url);
  REQUIRE(run_until(io, [&] { return client.find("doc-7") && client.find("doc-7")->size() == 1; }));
  CHECK(server.loaded_documents() == 1);
}

TEST_CASE("lazy documents: unloaded when idle, loaded again, still syncing from saved states") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<MemoryStorage>();
  RepoOptions so = repo_options("server");
  so.share_policy = share_nothing();
  so.storage = storage;
  so.unload_after = 20ms;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");

  RepoOptions co = repo_options("client");
  co.storage = std::make_shared<MemoryStorage>();
  auto client = std::make_unique<Repo>(io, transports, co);
  for (int i = 0; i < 5; ++i) client->commit("notes", text("edit " + std::to_string(i)));
  client->connect(url);
  REQUIRE(run_until(io, [&] { return client->in_sync_with("server", "notes"); }));
  CHECK(server.loaded_documents() == 1);
  // The client leaves: the server saves its state for the client, then unloads the document.
  client.reset();
  REQUIRE(run_until(io, [&] { return server.loaded_documents() == 0; }));
  CHECK(storage->load_sync_state("notes", "client").has_value());

  // Back with one more edit: the server loads the document and its saved state, and only
  // the new change travels.
  client = std::make_unique<Repo>(io, transports, co);
  client->commit("notes", text("edit 5"));
  client->connect(url);
  REQUIRE(run_until(io, [&] {
    return client->in_sync_with("server", "notes") && server.loaded_documents() == 1 &&
           storage->load_changes("notes").size() == 6;
  }));
  REQUIRE(client->peers().size() == 1);
  CHECK(client->peers()[0].changes_sent == 1);
  CHECK(client->peers()[0].changes_received == 0);
}

TEST_CASE("lazy documents: beyond max_loaded_documents the least recently used unload first") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<MemoryStorage>();
  {
    RepoOptions o = repo_options("seed");
    o.storage = storage;
    Repo seed(io, transports, o);
    for (int i = 0; i < 10; ++i) seed.commit("doc-" + std::to_string(i), text("x"));
  }
  RepoOptions so = repo_options("server");
  so.share_policy = share_nothing();
  so.storage = storage;
  so.unload_after = std::chrono::hours(1);  // only the bound unloads here
  so.max_loaded_documents = 3;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");
  auto fetch = [&](const std::string& id, int from, int to) {
    Repo client(io, transports, repo_options(id));
    for (int i = from; i < to; ++i) client.request("doc-" + std::to_string(i));
    client.connect(url);
    REQUIRE(run_until(io, [&] {
      for (int i = from; i < to; ++i) {
        auto* doc = client.find("doc-" + std::to_string(i));
        if (!doc || doc->size() != 1) return false;
      }
      return true;
    }));
    // Shared by a live session, none may go: the bound yields to what is in use.
    CHECK(server.loaded_documents() >= static_cast<std::size_t>(to - from));
  };
  fetch("first", 0, 6);
  CHECK(server.loaded_documents() == 6);
  REQUIRE(run_until(io, [&] { return server.peers().empty(); }));
  // The next load trims to the bound, oldest first, and serves the new document.
  fetch("second", 9, 10);
  CHECK(server.loaded_documents() == 3);
}

}  // namespace
}  // namespace dagsync::test
