// Scenario (h), many documents and clients (the share-policy half):
//
//   clients --C c --share default|everything
//     C clients, each with its own document of 20 changes of 64 bytes, connect over TCP
//     loopback to one server (a fork()ed process, so its RSS is its own). Reports the time
//     until every client is in sync, the changes the server relayed to clients, the changes
//     the clients received, and the server's peak RSS. With the default share policy the
//     server relays nothing unasked (O(C)); with `everything` every client downloads every
//     other client's document (O(C^2)), the behaviour the default replaced.
//
//   disconnect --M m
//     A client and a server (SQLite, synchronous=NORMAL) share M documents of one change. The
//     first session syncs them all; then three disconnects are timed: after the first sync
//     (every state is new), after a session that changed 1 document, and after one that
//     changed nothing. Each reports the sync-state rows written and the time from
//     disconnect() until the server has closed the session, and the reconnect's time.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "dagsync/repo.h"
#include "dagsync/sqlite_storage.h"
#include "dagsync/transports.h"
#include "report.h"

namespace dagsync::bench {

namespace {

std::shared_ptr<spdlog::logger> null_logger() {
  return std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
}

RepoOptions options_for(const std::string& id, bool share_everything_) {
  RepoOptions o;
  o.peer_id = id;
  o.logger = null_logger();
  o.heartbeat_interval = std::chrono::milliseconds(0);
  if (share_everything_) o.share_policy = share_everything();
  // One client brings up to 10^5 documents and 10^4 clients connect from one address: the
  // scale measured here, above the default quotas for strangers.
  o.quotas.max_documents_created_per_principal = 0;
  o.quotas.max_connections_per_address = 0;
  o.quotas.max_connections = 0;
  o.idle_timeout = std::chrono::milliseconds(0);
  return o;
}

// Each process may need one descriptor per connection: raise the soft limit to the hard one.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

Bytes payload(std::uint64_t i) {
  Bytes b(64);
  for (std::size_t k = 0; k < b.size(); ++k) b[k] = static_cast<std::uint8_t>(i * 131 + k);
  return b;
}

// The server process of `clients`: listens, serves until told, reports its figures.
[[noreturn]] void serve_clients(bool everything, int url_out, int done_in, int figures_out) {
  raise_fd_limit();
  asio::io_context io;
  Transports transports(io, {}, null_logger());
  auto repo = std::make_unique<Repo>(io, transports, options_for("server", everything));
  std::string url = repo->listen("tcp://127.0.0.1:0") + "\n";
  if (write(url_out, url.data(), url.size()) != static_cast<ssize_t>(url.size())) _exit(3);
  asio::posix::stream_descriptor done(io, done_in);
  char byte = 0;
  asio::async_read(done, asio::buffer(&byte, 1), [&](std::error_code, std::size_t) { io.stop(); });
  io.run();
  std::uint64_t relayed = 0;
  for (const auto& p : repo->peers()) relayed += p.changes_sent;
  std::ostringstream out;
  out << relayed << " " << repo->documents().size() << " " << peak_rss_kb() << "\n";
  std::string s = out.str();
  if (write(figures_out, s.data(), s.size()) != static_cast<ssize_t>(s.size())) _exit(3);
  _exit(0);
}

}  // namespace

int run_clients(int argc, char** argv) {
  Args args(argc, argv, {{"C", "100"}, {"share", "default"}, {"changes", "20"}});
  const std::size_t c = args.num("C"), per_doc = args.num("changes");
  const bool everything = args.str("share") == "everything";
  if (!everything && args.str("share") != "default")
    throw std::runtime_error("--share takes default or everything");
  raise_fd_limit();
  int url_pipe[2], done_pipe[2], figures_pipe[2];
  if (pipe(url_pipe) || pipe(done_pipe) || pipe(figures_pipe)) throw std::runtime_error("pipe");
  pid_t child = fork();
  if (child < 0) throw std::runtime_error("fork");
  if (child == 0) {
    close(url_pipe[0]), close(done_pipe[1]), close(figures_pipe[0]);
    serve_clients(everything, url_pipe[1], done_pipe[0], figures_pipe[1]);
  }
  close(url_pipe[1]), close(done_pipe[0]), close(figures_pipe[1]);
  std::string url;
  for (char ch; read(url_pipe[0], &ch, 1) == 1 && ch != '\n';) url += ch;
  if (url.empty()) throw std::runtime_error("the server process did not start");

  std::cerr << "clients: " << c << " clients, share " << args.str("share") << "\n";
  double wall = 0;
  std::uint64_t received = 0;
  std::string line;
  {
    asio::io_context io;
    TransportOptions topts;
    topts.connect_timeout = std::chrono::seconds(60);
    Transports transports(io, topts, null_logger());
    std::vector<std::unique_ptr<Repo>> clients;
    clients.reserve(c);
    for (std::size_t i = 0; i < c; ++i) {
      auto o = options_for("client" + std::to_string(i), everything);
      o.hello_timeout = std::chrono::seconds(120);
      clients.push_back(std::make_unique<Repo>(io, transports, o));
      for (std::size_t k = 0; k < per_doc; ++k)
        clients.back()->commit("doc" + std::to_string(i), payload(i * per_doc + k));
    }
    double start = now_ms();
    for (auto& r : clients) r->connect(url);
    // Done when every client is in sync on its own document and, when the server offers
    // everything, holds every other client's document in full too.
    std::size_t next = 0;
    auto done_with = [&](std::size_t i) {
      auto& r = *clients[i];
      if (!r.in_sync_with("server", "doc" + std::to_string(i))) return false;
      if (!everything) return true;
      for (std::size_t j = 0; j < c; ++j) {
        auto* g = r.find("doc" + std::to_string(j));
        if (!g || g->size() != per_doc) return false;
      }
      return true;
    };
    while (next < c) {
      io.run_one();
      while (next < c && done_with(next)) ++next;
    }
    wall = now_ms() - start;
    for (auto& r : clients) {
      for (const auto& p : r->peers()) received += p.changes_received;
    }
    // The server reports while every session is still open (its counters are per session).
    if (write(done_pipe[1], "x", 1) != 1) throw std::runtime_error("pipe");
    for (char ch; read(figures_pipe[0], &ch, 1) == 1 && ch != '\n';) line += ch;
  }
  std::uint64_t relayed = 0, server_docs = 0;
  std::int64_t server_rss_kb = 0;
  std::istringstream(line) >> relayed >> server_docs >> server_rss_kb;
  int status = 0;
  waitpid(child, &status, 0);
  std::string label =
      "(h) " + std::to_string(c) + " clients with their own document, share " + args.str("share");
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": time to in sync")
      .add("value", wall)
      .add("unit", "ms")
      .add("changes_received_by_clients", received)
      .add("server_documents", server_docs)
      .print();
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": changes the server relayed")
      .add("value", static_cast<std::int64_t>(relayed))
      .add("unit", "changes")
      .add("target", everything ? "(the old default, for comparison)" : "0: nothing unasked")
      .add("target_ok", everything || relayed == 0)
      .print();
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": server peak RSS")
      .add("value", static_cast<double>(server_rss_kb) / 1024)
      .add("unit", "MiB")
      .print();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

namespace {

// SqliteStorage that counts the sync-state rows it writes.
struct CountingSqlite : SqliteStorage {
  using SqliteStorage::SqliteStorage;
  std::uint64_t rows = 0;
  void save_sync_states(const std::string& peer_id,
                        std::span<const SyncStateRecord> states) override {
    rows += states.size();
    SqliteStorage::save_sync_states(peer_id, states);
  }
};

}  // namespace

int run_disconnect(int argc, char** argv) {
  Args args(argc, argv, {{"M", "100000"}});
  const std::size_t m = args.num("M");
  auto dir = std::filesystem::temp_directory_path() /
             ("dagsync-bench-disconnect-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    asio::io_context io;
    Transports transports(io, {}, null_logger());
    // synchronous=NORMAL on both sides: building and first syncing M documents with an
    // fsync per transaction would take minutes and is not what is measured here.
    SqliteOptions normal{.durability = SqliteOptions::Durability::kNormal};
    auto server_store = std::make_shared<CountingSqlite>((dir / "server.db").string(), normal);
    auto client_store = std::make_shared<CountingSqlite>((dir / "client.db").string(), normal);
    RepoOptions so = options_for("server", false);
    so.storage = server_store;
    Repo server(io, transports, so);
    RepoOptions co = options_for("client", false);
    co.storage = client_store;
    co.hello_timeout = std::chrono::seconds(600);
    Repo client(io, transports, co);
    std::cerr << "disconnect: committing " << m << " documents\n";
    for (std::size_t i = 0; i < m; ++i) client.commit("doc" + std::to_string(i), payload(i));
    std::string url = server.listen("tcp://127.0.0.1:0");
    bool server_closed = false;
    auto sub = server.on_peer_event([&](const PeerEvent& e) {
      if (e.kind == PeerEvent::Kind::kDisconnected) server_closed = true;
    });
    auto session = [&](const std::string& what) {
      double start = now_ms();
      client.connect(url);
      // Checking all M documents after every handler would be quadratic: check each
      // document once, in order, as they come in sync.
      std::size_t next = 0;
      while (next < m) {
        io.run_one();
        while (next < m && client.in_sync_with("server", "doc" + std::to_string(next))) ++next;
      }
      double synced = now_ms() - start;
      std::uint64_t server_rows = server_store->rows, client_rows = client_store->rows;
      server_closed = false;
      double close_start = now_ms();
      client.disconnect(url);
      while (!server_closed || !client.peers().empty()) io.run_one();
      double closed = now_ms() - close_start;
      std::uint64_t written = server_store->rows - server_rows;
      std::string label = "(h) disconnect after " + what + ", M = " + std::to_string(m);
      JsonLine()
          .add("kind", "figure")
          .add("name", label + ": time until the server closed the session")
          .add("value", closed)
          .add("unit", "ms")
          .add("session_sync_ms", synced)
          .print();
      JsonLine()
          .add("kind", "figure")
          .add("name", label + ": sync-state rows the server wrote")
          .add("value", static_cast<std::int64_t>(written))
          .add("unit", "rows")
          .add("client_rows_written", client_store->rows - client_rows)
          .add("target", what == "a session that changed nothing"      ? "0 rows"
                         : what == "a session that changed 1 document" ? "1 row"
                                                                       : "M rows, one transaction")
          .add("target_ok", what == "a session that changed nothing"      ? written == 0
                            : what == "a session that changed 1 document" ? written == 1
                                                                          : written == m)
          .print();
    };
    std::cerr << "disconnect: first sync\n";
    session("the first sync");
    client.commit("doc" + std::to_string(m / 2), payload(m + 1));
    std::cerr << "disconnect: 1 document changed\n";
    session("a session that changed 1 document");
    std::cerr << "disconnect: nothing changed\n";
    session("a session that changed nothing");
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace dagsync::bench
