// Scenarios (a) first sync without saved state and (b) with saved sync states: two graphs,
// sans-I/O, messages encoded and decoded as on a wire, driven ping-pong exactly like
// bench/peers/run.mjs drives the other libraries.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "dagsync/sync.h"
#include "report.h"
#include "shape.h"

namespace dagsync::bench {

namespace {

struct Replica {
  ChangeGraph graph;
  SyncState state;
};

struct SyncFigures {
  std::uint64_t messages = 0;
  std::uint64_t wire_bytes = 0;
  std::uint64_t change_bytes = 0;
  std::uint64_t max_message_bytes = 0;
  std::uint64_t heads_sent = 0;  // heads carried by all messages: the (b) overhead target's unit
  double wall_ms = 0;
};

// A generates first; each turn the side receives what is waiting for it, then generates.
// Ends when both sides in a row have nothing to send.
SyncFigures ping_pong(Replica& a, Replica& b) {
  SyncFigures f;
  std::optional<Bytes> to[2];
  Replica* sides[2] = {&a, &b};
  int idle = 0;
  double start = now_ms();
  for (int turn = 0; idle < 2; turn ^= 1) {
    Replica& me = *sides[turn];
    if (to[turn]) {
      SyncMessage m = SyncMessage::decode(*to[turn]);
      to[turn].reset();
      receive_sync_message(me.graph, me.state, m);
    }
    auto out = generate_sync_message(me.graph, me.state);
    if (!out) {
      ++idle;
      continue;
    }
    idle = 0;
    Bytes bytes = out->encode();
    if (std::getenv("DAGSYNC_BENCH_TRACE")) {
      std::size_t have = 0;
      for (const Have& h : out->have) have += h.last_sync.size() * 32 + h.bloom.bits().size();
      std::cerr << "message " << f.messages + 1 << " from " << (turn ? "B" : "A") << ": "
                << bytes.size() << " bytes; heads " << out->heads.size() << ", need "
                << out->need.size() << ", have " << have << " B, summary "
                << (out->summary ? out->summary->encoded_size() : 0) << " B, changes "
                << out->changes.size() << " (" << out->change_bytes() << " B)\n";
    }
    ++f.messages;
    f.heads_sent += out->heads.size();
    f.wire_bytes += bytes.size();
    f.change_bytes += out->change_bytes();
    f.max_message_bytes = std::max<std::uint64_t>(f.max_message_bytes, bytes.size());
    to[turn ^ 1] = std::move(bytes);
  }
  f.wall_ms = now_ms() - start;
  return f;
}

ChangeGraph graph_of(const ActorId& local, const std::vector<Change>& shared,
                     const std::vector<Change>& own) {
  ChangeGraph g(local);
  g.add(shared);
  g.add(own);
  return g;
}

}  // namespace

int run_sync(int argc, char** argv) {
  Args args(argc, argv,
            {{"scenario", "a"},
             {"shape", "linear"},
             {"N", "100000"},
             {"D", "10"},
             {"A", "3"},
             {"P", "64"}});
  ShapeParams params{args.str("shape"), args.num("N"), args.num("D"), args.num("A"), args.num("P")};
  std::string scenario = args.str("scenario");
  if (scenario != "a" && scenario != "b") {
    std::cerr << "--scenario: a (no saved state) or b (saved states)\n";
    return 2;
  }
  std::cerr << "building shape " << params.shape << " N=" << params.n << " D=" << params.d
            << " A=" << params.a << " P=" << params.p << "\n";
  ShapeChanges shape = make_shape(params);
  Replica a{graph_of(named_actor("sideA"), shape.shared, {}), {}};
  Replica b{graph_of(named_actor("sideB"), shape.shared, {}), {}};
  if (scenario == "b") {
    // A previous session synced the shared history; its states were saved and reloaded.
    ping_pong(a, b);
    a.state = SyncState::decode(a.state.encode());
    b.state = SyncState::decode(b.state.encode());
  }
  a.graph.add(shape.side_a);
  b.graph.add(shape.side_b);
  std::cerr << "syncing\n";
  SyncFigures f = ping_pong(a, b);
  bool converged = a.graph.heads() == b.graph.heads() && a.graph.size() == b.graph.size();

  JsonLine line;
  line.add("impl", "dagsync")
      .add("version", "protocol " + std::to_string(SyncMessage::kVersion))
      .add("scenario", scenario)
      .add("shape", params.shape)
      .add("N", params.n)
      .add("D", params.d)
      .add("A", params.a)
      .add("P", params.p)
      .add("messages", f.messages)
      .add("round_trips", (f.messages + 1) / 2)
      .add("wire_bytes", f.wire_bytes)
      .add("change_bytes", f.change_bytes)
      .add("overhead", static_cast<std::int64_t>(f.wire_bytes - f.change_bytes))
      .add("wall_ms", f.wall_ms)
      .add("peak_rss_kb", peak_rss_kb())
      .add("max_message_bytes", f.max_message_bytes)
      .add("heads_sent", f.heads_sent)
      .add("converged", converged);
  line.print();
  return converged ? 0 : 1;
}

}  // namespace dagsync::bench
