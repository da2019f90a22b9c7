// Scenario (f): history independence. What one round of sync costs should not depend on how
// long the history behind it is. For each N (default 10^3 ... 10^6 shared changes, linear,
// P = 64), sans-I/O, messages encoded and decoded as on a wire:
//   - realtime round: two graphs already in sync (states from a previous exchange kept), one
//     commit on one side, then generate/receive on both until both are quiet; mean of
//     --rounds rounds after --warmup, the best of --R such runs;
//   - saved-state sync, D = 1: scenario b with one new change per side (A = 2); best of --R;
//   - first sync without state, D = 10, A = 3 (scenario a); best of --R;
//   - realtime round over TCP loopback: a server Repo and one client Repo (one io_context,
//     this process) both holding the N changes and in sync; one commit on one side
//     (alternating), timed until the other side's on_remote_changes fires; the
//     acknowledgements then settle untimed; p50 and mean of --rounds after --warmup.
// Each figure is printed with its ratio to the smallest N and, at the largest N, its target.
#include <algorithm>
#include <iostream>
#include <optional>
#include <sstream>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <memory>

#include "dagsync/memory_storage.h"
#include "dagsync/repo.h"
#include "dagsync/sync.h"
#include "dagsync/transports.h"
#include "report.h"
#include "shape.h"

namespace dagsync::bench {

namespace {

struct Side {
  ChangeGraph graph;
  SyncState state;
};

struct Exchange {
  std::uint64_t messages = 0;
  std::uint64_t wire_bytes = 0;
};

// Both generate, then both receive, until neither has anything to send.
Exchange until_quiet(Side& a, Side& b) {
  Exchange ex;
  while (true) {
    auto x = generate_sync_message(a.graph, a.state);
    auto y = generate_sync_message(b.graph, b.state);
    if (!x && !y) return ex;
    std::optional<Bytes> to_b, to_a;
    if (x) to_b = x->encode();
    if (y) to_a = y->encode();
    if (to_b) {
      ++ex.messages;
      ex.wire_bytes += to_b->size();
      receive_sync_message(b.graph, b.state, SyncMessage::decode(*to_b));
    }
    if (to_a) {
      ++ex.messages;
      ex.wire_bytes += to_a->size();
      receive_sync_message(a.graph, a.state, SyncMessage::decode(*to_a));
    }
  }
}

// The timed steps, kept out of line so that a profiler can collect them alone:
//   valgrind --tool=callgrind --toggle-collect='*timed_round*' ... history --N 1000000
[[gnu::noinline]] Exchange timed_round(Side& author, Side& a, Side& b, std::uint64_t i,
                                       std::size_t p) {
  author.graph.commit(payload(i, p), std::nullopt, 0);
  return until_quiet(a, b);
}
[[gnu::noinline]] Exchange timed_sync(Side& a, Side& b) {
  return until_quiet(a, b);
}

ChangeGraph graph_of(const ActorId& local, const std::vector<Change>& shared) {
  ChangeGraph g(local);
  g.add(shared);
  return g;
}

std::vector<std::uint64_t> parse_list(const std::string& s) {
  std::vector<std::uint64_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoull(item));
  if (out.empty()) throw std::invalid_argument("--N: a comma-separated list of sizes");
  return out;
}

struct Row {
  std::uint64_t n;
  double realtime_us;
  double realtime_bytes;
  double tcp_p50_us;
  double tcp_mean_us;
  double saved_ms;
  std::uint64_t saved_bytes;
  double first_ms;
  std::uint64_t first_bytes;
};

std::shared_ptr<spdlog::logger> null_logger() {
  return std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
}

// One commit on one side until the other side hears of it.
[[gnu::noinline]] void timed_tcp_round(asio::io_context& io, Repo& author, const bool& heard,
                                       std::uint64_t i, std::size_t p) {
  author.commit("doc", payload(i, p));
  while (!heard) io.run_one();
}

// The realtime round over TCP loopback (see the top of the file).
void tcp_round(std::uint64_t n, std::uint64_t rounds, std::uint64_t warmup, std::size_t p,
               Row& row) {
  ShapeChanges shape = make_shape({"linear", n, 0, 3, p});
  asio::io_context io;
  Transports transports(io, {}, null_logger());
  auto options = [&](const std::string& id) {
    RepoOptions o;
    o.peer_id = id;
    o.logger = null_logger();
    o.heartbeat_interval = std::chrono::milliseconds(0);
    auto storage = std::make_shared<MemoryStorage>();
    storage->append_changes("doc", shape.shared);
    o.storage = storage;
    return o;
  };
  Repo server(io, transports, options("server"));
  Repo client(io, transports, options("client"));
  server.open("doc");
  client.open("doc");
  shape = {};
  bool server_heard = false, client_heard = false;
  auto s_sub = server.on_remote_changes([&](const RemoteChanges&) { server_heard = true; });
  auto c_sub = client.on_remote_changes([&](const RemoteChanges&) { client_heard = true; });
  client.connect(server.listen("tcp://127.0.0.1:0"));
  auto settled = [&] {
    return client.in_sync_with("server", "doc") && server.in_sync_with("client", "doc");
  };
  while (!settled()) io.run_one();
  std::vector<double> took_us;
  for (std::uint64_t r = 0; r < warmup + rounds; ++r) {
    bool by_server = r % 2 == 0;
    bool& heard = by_server ? client_heard : server_heard;
    heard = false;
    double start = now_ms();
    timed_tcp_round(io, by_server ? server : client, heard, n + r, p);
    double took = now_ms() - start;
    while (!settled()) io.run_one();  // acknowledgements, untimed
    if (r >= warmup) took_us.push_back(took * 1000.0);
  }
  double total = 0;
  for (double t : took_us) total += t;
  row.tcp_mean_us = total / static_cast<double>(took_us.size());
  std::sort(took_us.begin(), took_us.end());
  row.tcp_p50_us = took_us[took_us.size() / 2];
}

Row measure(std::uint64_t n, std::uint64_t rounds, std::uint64_t warmup, std::uint64_t reps,
            std::size_t p, const std::string& only) {
  Row row{n, 0, 0, 0, 0, 0, 0, 0, 0};
  auto want = [&](const char* part) { return only.empty() || only == part; };
  if (want("realtime")) {
    ShapeChanges shape = make_shape({"linear", n, 0, 3, p});
    Side a{graph_of(named_actor("sideA"), shape.shared), {}};
    Side b{graph_of(named_actor("sideB"), shape.shared), {}};
    until_quiet(a, b);
    // The best of --R means: a shared machine's preemptions land in some runs, not in all.
    row.realtime_us = 1e300;
    std::uint64_t i = n;
    for (std::uint64_t rep = 0; rep < reps; ++rep) {
      double total = 0;
      std::uint64_t bytes = 0;
      for (std::uint64_t r = 0; r < warmup + rounds; ++r) {
        Side& author = r % 2 ? b : a;
        double start = now_ms();
        Exchange ex = timed_round(author, a, b, i++, p);
        double took = now_ms() - start;
        if (r < warmup) continue;
        total += took;
        bytes += ex.wire_bytes;
      }
      row.realtime_us = std::min(row.realtime_us, total * 1000.0 / static_cast<double>(rounds));
      row.realtime_bytes = static_cast<double>(bytes) / static_cast<double>(rounds);
    }
  }
  auto best_sync = [&](const ShapeParams& params, bool saved, double& best_ms,
                       std::uint64_t& bytes) {
    ShapeChanges shape = make_shape(params);
    Side a0{graph_of(named_actor("sideA"), shape.shared), {}};
    Side b0{graph_of(named_actor("sideB"), shape.shared), {}};
    if (saved) {
      until_quiet(a0, b0);
      a0.state = SyncState::decode(a0.state.encode());
      b0.state = SyncState::decode(b0.state.encode());
    }
    best_ms = 1e300;
    for (std::uint64_t r = 0; r < reps; ++r) {
      Side a = a0, b = b0;  // copies are not timed
      a.graph.add(shape.side_a);
      b.graph.add(shape.side_b);
      double start = now_ms();
      Exchange ex = timed_sync(a, b);
      best_ms = std::min(best_ms, now_ms() - start);
      bytes = ex.wire_bytes;
      if (a.graph.heads() != b.graph.heads()) throw std::runtime_error("did not converge");
    }
  };
  if (want("tcp")) tcp_round(n, rounds, warmup, p, row);
  if (want("saved")) best_sync({"linear", n, 1, 2, p}, true, row.saved_ms, row.saved_bytes);
  if (want("first")) best_sync({"linear", n, 10, 3, p}, false, row.first_ms, row.first_bytes);
  return row;
}

}  // namespace

int run_history(int argc, char** argv) {
  Args args(argc, argv,
            {{"N", "1000,10000,100000,1000000"},
             {"rounds", "200"},
             {"warmup", "20"},
             {"R", "5"},
             {"P", "64"},
             {"only", ""}});  // realtime, tcp, saved or first: one part (for profiling)
  std::vector<std::uint64_t> sizes = parse_list(args.str("N"));
  std::vector<Row> rows;
  for (std::uint64_t n : sizes) {
    std::cerr << "history: N=" << n << "\n";
    rows.push_back(measure(n, args.num("rounds"), args.num("warmup"), args.num("R"), args.num("P"),
                           args.str("only")));
  }
  const Row& base = rows.front();
  const Row& top = rows.back();
  bool targeted = top.n >= 1'000'000;
  auto figure = [&](const std::string& what, const Row& r, double value, double base_value,
                    const char* unit, std::uint64_t bytes, const std::string& target, bool ok) {
    JsonLine line;
    line.add("kind", "figure").add("name", "(f) " + what + ", N=" + std::to_string(r.n));
    line.add("value", value).add("unit", unit);
    line.add("ratio_to_smallest", value / base_value);
    if (bytes) line.add("wire_bytes", bytes);  // the TCP rows count frames, not bytes
    if (targeted && &r == &top && !target.empty()) {
      line.add("target", target).add("target_ok", ok);
    }
    line.print();
  };
  for (const Row& r : rows) {
    double ratio = r.realtime_us / base.realtime_us;
    figure("realtime round sans-I/O", r, r.realtime_us, base.realtime_us, "us",
           static_cast<std::uint64_t>(r.realtime_bytes),
           "<= 2x N=" + std::to_string(base.n) + " and <= 50 us",
           ratio <= 2.0 && r.realtime_us <= 50.0);
  }
  for (const Row& r : rows) {
    double ratio = r.tcp_p50_us / base.tcp_p50_us;
    figure("realtime round TCP loopback p50", r, r.tcp_p50_us, base.tcp_p50_us, "us", 0,
           "<= 2x N=" + std::to_string(base.n), ratio <= 2.0);
  }
  for (const Row& r : rows) {
    figure("realtime round TCP loopback mean", r, r.tcp_mean_us, base.tcp_mean_us, "us", 0, "",
           true);
  }
  for (const Row& r : rows) {
    figure("saved-state sync D=1 A=2", r, r.saved_ms, base.saved_ms, "ms", r.saved_bytes, "<= 1 ms",
           r.saved_ms <= 1.0);
  }
  for (const Row& r : rows) {
    figure("first sync without state D=10 A=3", r, r.first_ms, base.first_ms, "ms", r.first_bytes,
           "<= 10 ms", r.first_ms <= 10.0);
  }
  return 0;
}

}  // namespace dagsync::bench
