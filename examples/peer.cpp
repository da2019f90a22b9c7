// dagsync-peer: a sync server and a client, built only on dagsync's public API.
//
//   dagsync-peer serve --tcp 127.0.0.1:7000 --ws 127.0.0.1:7001 --store server.db
//   dagsync-peer local --store alice.db --doc notes --add "buy milk"     (offline edit)
//   dagsync-peer local --store alice.db --doc notes --list
//   dagsync-peer connect tcp://127.0.0.1:7000 --store alice.db --doc notes sync
//       (or instead of sync: add TEXT, list, status)
//   dagsync-peer connect ws://127.0.0.1:7001/sync --store bob.db --doc notes   (interactive)
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "dagsync/dagsync.h"

using namespace dagsync;

namespace {

std::string text_of(ByteView payload) {
  return std::string(payload.begin(), payload.end());
}

std::string human_bytes(std::uint64_t n) {
  char buf[32];
  if (n < 1024)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  return buf;
}

std::string heads_text(const ChangeGraph& g) {
  std::string out;
  for (const auto& h : g.heads()) out += (out.empty() ? "" : " ") + h.short_hex();
  return "[" + out + "]";
}

void print_document(const std::string& name, const ChangeGraph& g) {
  std::printf("%s: %zu changes, heads %s\n", name.c_str(), g.size(), heads_text(g).c_str());
  for (const Change& c : g.changes()) {
    std::printf("  %s #%llu  %s\n", c.actor().short_hex().c_str(),
                static_cast<unsigned long long>(c.seq()), text_of(c.payload()).c_str());
  }
}

void print_status(const Repo& repo) {
  auto peers = repo.peers();
  if (peers.empty()) std::printf("no peers connected\n");
  for (const auto& p : peers) {
    std::printf(
        "peer %s (%s): sync messages %llu sent / %llu received, changes %llu sent / %llu received, "
        "%s sent / %s received, %llu round trips\n",
        p.peer_id.c_str(), p.address.c_str(), static_cast<unsigned long long>(p.sync_messages_sent),
        static_cast<unsigned long long>(p.sync_messages_received),
        static_cast<unsigned long long>(p.changes_sent),
        static_cast<unsigned long long>(p.changes_received), human_bytes(p.bytes_sent).c_str(),
        human_bytes(p.bytes_received).c_str(), static_cast<unsigned long long>(p.round_trips));
  }
}

std::shared_ptr<spdlog::logger> make_logger(bool verbose) {
  auto logger = std::make_shared<spdlog::logger>(
      "dagsync", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  return logger;
}

// A stable peer id per store, so that sync states saved under it are found again.
std::string default_peer_id(const std::string& store) {
  std::string absolute = std::filesystem::absolute(store).string();
  return "peer-" + sha256(as_bytes(absolute)).short_hex();
}

struct Common {
  std::string store;
  std::string peer_id;
  bool verbose = false;
};

RepoOptions repo_options(const Common& c, bool serve) {
  RepoOptions o;
  o.peer_id = c.peer_id.empty() ? default_peer_id(c.store) : c.peer_id;
  o.storage = std::make_shared<SqliteStorage>(c.store);
  o.logger = make_logger(c.verbose);
  // The default share policy: a client offers its documents to the server it dials; the
  // server pushes nothing unasked and relays what clients bring or ask for.
  return o;
}

int serve(const Common& common, const std::string& tcp, const std::string& ws) {
  asio::io_context io;
  Transports transports(io, {}, make_logger(common.verbose));
  Repo repo(io, transports, repo_options(common, true));
  auto sub = repo.on_peer_event([](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kConnected)
      std::printf("server: %s connected\n", e.peer_id.c_str());
    if (e.kind == PeerEvent::Kind::kDisconnected)
      std::printf("server: %s disconnected\n", e.peer_id.c_str());
    std::fflush(stdout);
  });
  if (!tcp.empty()) std::printf("server: listening on %s\n", repo.listen("tcp://" + tcp).c_str());
  if (!ws.empty())
    std::printf("server: listening on %s\n", repo.listen("ws://" + ws + "/sync").c_str());
  std::printf("server: %zu documents in %s\n", repo.documents().size(), common.store.c_str());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code&, int) { io.stop(); });
  io.run();
  std::printf("server: stopped\n");
  return 0;
}

int local(const Common& common, const std::string& doc, const std::vector<std::string>& add,
          bool list) {
  asio::io_context io;
  Transports transports(io, {}, make_logger(common.verbose));
  Repo repo(io, transports, repo_options(common, false));
  for (const auto& line : add) repo.commit(doc, Bytes(line.begin(), line.end()));
  const ChangeGraph& g = repo.open(doc);
  if (list || add.empty()) {
    print_document(doc, g);
  } else {
    std::printf("added %zu changes: %s now has %zu changes, heads %s\n", add.size(), doc.c_str(),
                g.size(), heads_text(g).c_str());
  }
  return 0;
}

int connect(const Common& common, const std::string& url, const std::string& doc,
            std::string action, const std::vector<std::string>& words, double timeout_s) {
  asio::io_context io;
  Transports transports(io, {}, make_logger(common.verbose));
  Repo repo(io, transports, repo_options(common, false));
  repo.open(doc);
  if (action == "add") {
    std::string line;
    for (const auto& w : words) line += (line.empty() ? "" : " ") + w;
    repo.commit(doc, Bytes(line.begin(), line.end()));
  }
  std::string peer, last_error;
  auto sub = repo.on_peer_event([&](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kConnected) peer = e.peer_id;
    if (e.kind == PeerEvent::Kind::kConnectFailed) last_error = e.detail;
  });
  repo.connect(url);

  if (action.empty()) {
    // Interactive: commands from stdin while the connection syncs in the background.
    std::printf("connected mode: add TEXT | list | heads | status | quit\n");
    std::fflush(stdout);
    asio::posix::stream_descriptor input(io, ::dup(STDIN_FILENO));
    asio::streambuf buffer;
    std::function<void()> read_line = [&] {
      asio::async_read_until(input, buffer, '\n', [&](const std::error_code& ec, std::size_t) {
        if (ec) return io.stop();  // end of input: like quit
        std::string line;
        std::getline(std::istream(&buffer) >> std::ws, line);
        if (line == "quit") return io.stop();
        if (line.rfind("add ", 0) == 0) {
          std::string t = line.substr(4);
          Change c = repo.commit(doc, Bytes(t.begin(), t.end()));
          std::printf("added %s\n", c.hash().short_hex().c_str());
        } else if (line == "list") {
          print_document(doc, *repo.find(doc));
        } else if (line == "heads") {
          std::printf("%s\n", heads_text(*repo.find(doc)).c_str());
        } else if (line == "status") {
          print_status(repo);
        } else if (!line.empty()) {
          std::printf("unknown command: %s\n", line.c_str());
        }
        std::fflush(stdout);
        read_line();
      });
    };
    read_line();
    io.run();
    io.restart();
    input.close();
    // Before leaving, give the last edits the chance to reach the peer.
    action = "quit";
  }

  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!(!peer.empty() && repo.in_sync_with(peer, doc))) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "error: not in sync with %s after %.0f s%s%s\n", url.c_str(), timeout_s,
                   last_error.empty() ? "" : ": ", last_error.c_str());
      return 1;
    }
    io.run_one_for(std::chrono::milliseconds(20));
  }
  io.poll();  // let the last acknowledgements go out
  if (action == "quit") return 0;
  if (action == "list" || action == "add") print_document(doc, *repo.find(doc));
  if (action == "status" || action == "sync") print_status(repo);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dagsync-peer: sync documents between peers over TCP and WebSocket"};
  app.require_subcommand(1);
  Common common;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--store", common.store, "SQLite file holding documents and sync states")
        ->required();
    cmd->add_option("--peer-id", common.peer_id,
                    "this peer's id (default: derived from the store path)");
    cmd->add_flag("-v,--verbose", common.verbose, "log sessions at debug level");
  };

  std::string tcp, ws;
  auto* serve_cmd = app.add_subcommand("serve", "relay and store documents for many clients");
  add_common(serve_cmd);
  serve_cmd->add_option("--tcp", tcp, "HOST:PORT to listen on with TCP (port 0: any)");
  serve_cmd->add_option("--ws", ws, "HOST:PORT to listen on with WebSocket, path /sync");

  std::string doc, url, action;
  std::vector<std::string> words;
  double timeout_s = 15;
  auto* local_cmd = app.add_subcommand("local", "edit or list a document offline");
  add_common(local_cmd);
  local_cmd->add_option("--doc", doc, "document name")->required();
  std::vector<std::string> local_add;
  bool local_list = false;
  local_cmd->add_option("--add", local_add, "add a change with this text (repeatable)");
  local_cmd->add_flag("--list", local_list, "list the document's changes and heads");

  auto* connect_cmd =
      app.add_subcommand("connect", "sync with a server; interactive without an action");
  add_common(connect_cmd);
  connect_cmd->add_option("url", url, "tcp://HOST:PORT or ws://HOST:PORT/sync")->required();
  connect_cmd->add_option("--doc", doc, "document name")->required();
  connect_cmd->add_option("--timeout", timeout_s, "seconds to reach sync before failing");
  connect_cmd->add_option("action", action, "add TEXT | list | status | sync")
      ->check(CLI::IsMember({"add", "list", "status", "sync"}));
  connect_cmd->add_option("text", words, "text of the change to add");

  CLI11_PARSE(app, argc, argv);
  try {
    if (serve_cmd->parsed()) {
      if (tcp.empty() && ws.empty()) throw CLI::ValidationError("serve", "give --tcp and/or --ws");
      return serve(common, tcp, ws);
    }
    if (local_cmd->parsed()) return local(common, doc, local_add, local_list);
    if (action == "add" && words.empty())
      throw CLI::ValidationError("add", "needs the text of the change");
    return connect(common, url, doc, action, words, timeout_s);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
