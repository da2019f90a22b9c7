// Scenario (h), reconnects and idle connections:
//
//   reconnect --M m --changed percent
//     A client and a server (SQLite, synchronous=NORMAL) hold the same M documents of 20
//     changes of 64 bytes, with sync states and peer records as a finished session leaves
//     them (every state fresh: the peer held all of ours). While apart, `percent` of the
//     documents got one new change on the server. Reports the time from connect() until the
//     client holds every changed document in sync and a request round trip confirms nothing
//     else is on its way, the frames, sync messages and bytes each way, and the documents
//     each side offered (document syncs). The stores are built in child processes.
//
//   idle --C c
//     C clients (this process) connect over TCP loopback to one server (a fork()ed process,
//     so its RSS is its own), say hello and stay idle. Reports the server's RSS growth per
//     idle connection, measured after every client is connected.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dagsync/error.h"
#include "dagsync/repo.h"
#include "dagsync/sqlite_storage.h"
#include "dagsync/sync_state.h"
#include "dagsync/transports.h"
#include "report.h"

namespace dagsync::bench {
namespace {

constexpr int kChangesPerDocument = 20;

std::shared_ptr<spdlog::logger> quiet() {
  return std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
}

std::int64_t current_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

ActorId fixed_actor(std::uint8_t n) {
  std::array<std::uint8_t, ActorId::kSize> b{};
  b.fill(n);
  return ActorId::from_bytes(ByteView(b.data(), b.size()));
}

// Document d's 20 changes, the same on both sides.
std::vector<Change> document_changes(std::size_t d) {
  std::vector<Change> changes;
  std::vector<ChangeHash> deps;
  for (int s = 1; s <= kChangesPerDocument; ++s) {
    ChangeFields f;
    f.actor = fixed_actor(1);
    f.seq = static_cast<std::uint64_t>(s);
    f.deps = deps;
    f.payload = Bytes(64, static_cast<std::uint8_t>(d * 31 + static_cast<std::size_t>(s)));
    changes.push_back(Change::build(std::move(f)));
    deps = {changes.back().hash()};
  }
  return changes;
}

std::string doc_name(std::size_t d) {
  return "doc" + std::to_string(d);
}

// A store holding the M documents and a fresh state for `peer` on each: what a session that
// ended in sync leaves.
void build_store(const std::string& path, std::size_t m, const std::string& peer) {
  SqliteStorage store(path, {.durability = SqliteOptions::Durability::kNormal});
  std::vector<SyncStateRecord> states;
  for (std::size_t d = 0; d < m; ++d) {
    auto changes = document_changes(d);
    store.append_changes(doc_name(d), changes);
    SyncState state;
    state.shared_heads = {changes.back().hash()};
    states.push_back({doc_name(d), state.encode(), true});
  }
  store.save_sync_states(peer, states);
}

void build_in_child(const std::string& path, std::size_t m, const std::string& peer, pid_t& pid) {
  pid = fork();
  if (pid == 0) {
    try {
      build_store(path, m, peer);
    } catch (const std::exception& e) {
      std::cerr << "reconnect: building " << path << ": " << e.what() << "\n";
      _exit(1);
    }
    _exit(0);
  }
}

RepoOptions options(const std::string& id, std::shared_ptr<Storage> storage) {
  RepoOptions o;
  o.peer_id = id;
  o.storage = std::move(storage);
  o.logger = quiet();
  o.heartbeat_interval = std::chrono::milliseconds(0);
  o.idle_timeout = std::chrono::milliseconds(0);
  o.quotas.max_connections = 0;
  o.quotas.max_connections_per_address = 0;
  o.quotas.max_documents_created_per_principal = 0;
  return o;
}

}  // namespace

int run_reconnect(int argc, char** argv) {
  Args args(argc, argv, {{"M", "1000"}, {"changed", "1"}});
  const std::size_t m = args.num("M"), percent = args.num("changed");
  const std::size_t changed = m * percent / 100;
  auto dir = std::filesystem::temp_directory_path() /
             ("dagsync-bench-reconnect-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string server_path = (dir / "server.db").string(),
              client_path = (dir / "client.db").string();
  std::cerr << "reconnect: building two stores of " << m << " documents\n";
  pid_t a = 0, b = 0;
  build_in_child(server_path, m, "client", a);
  build_in_child(client_path, m, "server", b);
  for (pid_t pid : {a, b}) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Error("building a store failed");
  }
  // synchronous=NORMAL, as in `disconnect`: with FULL every received change costs its own
  // fsync (one transaction per document), which is the disk's figure, not the protocol's.
  SqliteOptions normal{.durability = SqliteOptions::Durability::kNormal};
  auto server_store = std::make_shared<SqliteStorage>(server_path, normal);
  auto client_store = std::make_shared<SqliteStorage>(client_path, normal);
  server_store->save_peer("client", {client_store->store_id(), server_store->change_sequence()});
  client_store->save_peer("server", {server_store->store_id(), client_store->change_sequence()});
  // While apart: one new change on the server to every (100 / percent)-th document.
  std::vector<std::string> edited;
  for (std::size_t i = 0; i < changed; ++i) {
    std::size_t d = i * (m / changed);
    ChangeFields f;
    f.actor = fixed_actor(2);
    f.seq = 1;
    f.deps = {document_changes(d).back().hash()};
    f.payload = Bytes(64, 7);
    std::vector<Change> one{Change::build(std::move(f))};
    server_store->append_changes(doc_name(d), one);
    edited.push_back(doc_name(d));
  }

  asio::io_context io;
  Transports transports(io, {}, quiet());
  Repo server(io, transports, options("server", server_store));
  std::string url = server.listen("tcp://127.0.0.1:0");
  Repo client(io, transports, options("client", client_store));
  bool probed = false;
  auto sub = client.on_peer_event([&](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kUnavailable && e.detail == "probe") probed = true;
  });
  // Each Repo's start-up work posted to the loop (forgetting peers not seen for 90 days
  // scans the states) runs before the reconnect is timed.
  io.poll();
  double start = now_ms();
  client.connect(url);
  auto resumed = [&] {
    return client.peers().size() == 1 && client.peers()[0].resumed && server.peers().size() == 1 &&
           server.peers()[0].resumed;
  };
  while (!resumed()) io.run_one();
  std::size_t next = 0;
  while (next < edited.size()) {
    io.run_one();
    while (next < edited.size() && client.find(edited[next])->size() == kChangesPerDocument + 1 &&
           client.in_sync_with("server", edited[next]))
      ++next;
  }
  // Frames keep their order: once the probe's answer is back, nothing sent before it is
  // still on its way.
  client.request("probe");
  while (!probed) io.run_one();
  double elapsed = now_ms() - start;
  PeerStats c = client.peers()[0], s = server.peers()[0];
  // Less the probe (one request, one unavailable answer).
  std::uint64_t c_frames = c.frames_sent - 1, s_frames = s.frames_sent - 1;
  std::uint64_t bytes = c.bytes_sent + s.bytes_sent;
  std::uint64_t syncs = c.documents_resumed + s.documents_resumed;
  std::string label =
      "(h) reconnect, M = " + std::to_string(m) + ", " + std::to_string(percent) + "% changed";
  bool nothing = changed == 0;
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": time to in sync")
      .add("value", elapsed)
      .add("unit", "ms")
      .add("target", nothing ? "" : "<= 1 s at M = 10^5")
      .add("target_ok", nothing || m < 100000 || elapsed <= 1000.0)
      .print();
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": frames client -> server / server -> client")
      .add("value", static_cast<std::int64_t>(c_frames))
      .add("unit", "frames")
      .add("server_frames", static_cast<std::int64_t>(s_frames))
      .add("sync_messages_client", static_cast<std::int64_t>(c.sync_messages_sent))
      .add("sync_messages_server", static_cast<std::int64_t>(s.sync_messages_sent))
      .add("target", nothing ? "<= 3 each way" : "")
      .add("target_ok", !nothing || (c_frames <= 3 && s_frames <= 3))
      .print();
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": document syncs")
      .add("value", static_cast<std::int64_t>(syncs))
      .add("unit", "documents")
      .add("target", "<= M/100 + a constant (1,000 at M = 10^5, 1%)")
      .add("target_ok", syncs <= m * percent / 100 + 10)
      .print();
  double bytes_target = nothing ? 1024.0 : 0.05 * 6.5e6 * static_cast<double>(m) / 1e5;
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": bytes both ways")
      .add("value", static_cast<std::int64_t>(bytes))
      .add("unit", "bytes")
      .add("target", nothing ? "<= 1 KB" : "<= 5% of 65 bytes x 2 x M (6.5 MB at M = 10^5)")
      .add("target_ok", static_cast<double>(bytes) <= bytes_target)
      .print();
  std::filesystem::remove_all(dir);
  return 0;
}

namespace {

// The server process of `idle`: listens, reports its RSS, serves until told, reports again.
[[noreturn]] void serve_idle(std::size_t c, int url_out, int go_in, int figures_out) {
  raise_fd_limit();
  asio::io_context io;
  Transports transports(io, {}, quiet());
  auto repo = std::make_unique<Repo>(io, transports, options("server", nullptr));
  std::string url = repo->listen("tcp://127.0.0.1:0") + "\n";
  std::int64_t before = current_rss_kb();
  if (write(url_out, url.data(), url.size()) != static_cast<ssize_t>(url.size())) _exit(3);
  asio::posix::stream_descriptor go(io, go_in);
  char byte = 0;
  asio::async_read(go, asio::buffer(&byte, 1), [&](std::error_code, std::size_t) { io.stop(); });
  io.run();
  // A client counts itself connected at our hello; we count it at its own, which may still be
  // on its way.
  io.restart();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (repo->metrics().peers_connected < c && std::chrono::steady_clock::now() < deadline)
    io.run_one_for(std::chrono::milliseconds(10));
  std::int64_t after = current_rss_kb();
  std::ostringstream out;
  out << before << " " << after << " " << repo->metrics().peers_connected << "\n";
  std::string s = out.str();
  if (write(figures_out, s.data(), s.size()) != static_cast<ssize_t>(s.size())) _exit(3);
  _exit(0);
}

}  // namespace

int run_idle(int argc, char** argv) {
  Args args(argc, argv, {{"C", "10000"}});
  const std::size_t c = args.num("C");
  raise_fd_limit();
  int url_pipe[2], go_pipe[2], figures_pipe[2];
  if (pipe(url_pipe) || pipe(go_pipe) || pipe(figures_pipe)) throw Error("pipe");
  pid_t child = fork();
  if (child < 0) throw Error("fork");
  if (child == 0) {
    close(url_pipe[0]), close(go_pipe[1]), close(figures_pipe[0]);
    serve_idle(c, url_pipe[1], go_pipe[0], figures_pipe[1]);
  }
  close(url_pipe[1]), close(go_pipe[0]), close(figures_pipe[1]);
  std::string url;
  for (char ch; read(url_pipe[0], &ch, 1) == 1 && ch != '\n';) url += ch;
  if (url.empty()) throw Error("the server process did not start");
  std::cerr << "idle: " << c << " clients\n";
  std::string line;
  {
    asio::io_context io;
    TransportOptions topts;
    topts.connect_timeout = std::chrono::seconds(60);
    Transports transports(io, topts, quiet());
    std::vector<std::unique_ptr<Repo>> clients;
    std::vector<Subscription> subs;
    std::size_t connected = 0;
    for (std::size_t i = 0; i < c; ++i) {
      auto o = options("client" + std::to_string(i), nullptr);
      o.hello_timeout = std::chrono::seconds(120);
      clients.push_back(std::make_unique<Repo>(io, transports, o));
      subs.push_back(clients.back()->on_peer_event([&](const PeerEvent& e) {
        if (e.kind == PeerEvent::Kind::kConnected) ++connected;
      }));
    }
    for (auto& r : clients) r->connect(url);
    while (connected < c) io.run_one();
    // The server has said hello to each (their hellos arrived here); let its loop drain.
    for (int i = 0; i < 100; ++i) io.poll();
    if (write(go_pipe[1], "x", 1) != 1) throw Error("pipe");
    for (char ch; read(figures_pipe[0], &ch, 1) == 1 && ch != '\n';) line += ch;
  }
  std::int64_t before = 0, after = 0, peers = 0;
  std::istringstream(line) >> before >> after >> peers;
  int status = 0;
  waitpid(child, &status, 0);
  double per = static_cast<double>(after - before) / static_cast<double>(c);
  JsonLine()
      .add("kind", "figure")
      .add("name", "(h) " + std::to_string(c) + " idle connections: server RSS per connection")
      .add("value", per)
      .add("unit", "KiB")
      .add("server_rss_before_mib", static_cast<double>(before) / 1024)
      .add("server_rss_after_mib", static_cast<double>(after) / 1024)
      .add("peers_connected", peers)
      .add("target", "<= 20 KB")
      .add("target_ok", per <= 20.0 && peers == static_cast<std::int64_t>(c))
      .print();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace dagsync::bench
