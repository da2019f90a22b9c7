// Automerge's generate/receive (docs/automerge.md, "The sync algorithm"), mirroring the Rust
// implementation where peers depend on it, restricted to a V1-only peer: no whole-document
// messages, no trailer, so none of the V2 branches is ever taken.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "dagsync/automerge/sync.h"
#include "dagsync/error.h"

namespace dagsync::automerge {

namespace {

std::vector<ChangeHash> sorted_union(std::vector<ChangeHash> a, std::span<const ChangeHash> b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

Have make_have(const ChangeGraph& graph, const std::vector<ChangeHash>& shared_heads) {
  std::vector<ChangeHash> hashes;
  graph.visit_since(shared_heads, [&](const Change& c) {
    hashes.push_back(c.hash());
    return true;
  });
  Have h;
  h.last_sync = shared_heads;
  if (!hashes.empty()) h.bloom = BloomFilter(hashes);
  return h;
}

// What the peer lacks: the changes it needs that we hold, then every change since the
// union of its last_syncs that no filter contains, and every change depending on one of
// those (their filter's false positives would otherwise hide them).
std::vector<Change> changes_to_send(const ChangeGraph& graph, const std::vector<Have>& have,
                                    const std::vector<ChangeHash>& need) {
  std::vector<Change> out;
  if (have.empty()) {
    for (const auto& h : need) {
      if (auto c = graph.get(h)) out.push_back(*c);
    }
    return out;
  }
  std::vector<ChangeHash> last_sync;
  for (const auto& h : have) last_sync = sorted_union(std::move(last_sync), h.last_sync);
  std::vector<Change> since = graph.changes_since(last_sync);
  std::unordered_set<ChangeHash, IdHasher> to_send;
  // Application order is topological: a dependent comes after its deps, so one pass
  // carries "depends on a change to send" forward.
  for (const Change& c : since) {
    bool in_some = std::any_of(have.begin(), have.end(),
                               [&](const Have& h) { return h.bloom.contains(c.hash()); });
    bool depends = false;
    for (const auto& d : c.deps()) {
      if (to_send.count(d)) {
        depends = true;
        break;
      }
    }
    if (!in_some || depends) to_send.insert(c.hash());
  }
  for (const auto& h : need) {
    if (to_send.count(h)) continue;
    if (auto c = graph.get(h)) out.push_back(*c);
  }
  for (const Change& c : since) {
    if (to_send.count(c.hash())) out.push_back(c);
  }
  return out;
}

void require_automerge(const ChangeGraph& graph) {
  if (graph.format() != ChangeFormat::kAutomerge) {
    throw GraphError("automerge sync: the document holds dagsync's changes");
  }
}

}  // namespace

std::optional<SyncMessage> generate_sync_message(const ChangeGraph& graph, SyncState& state,
                                                 const SyncOptions& options) {
  require_automerge(graph);
  std::vector<ChangeHash> our_heads = graph.heads();
  std::vector<ChangeHash> our_need;
  if (!options.read_only) {
    our_need =
        graph.missing_deps(state.their_heads ? *state.their_heads : std::vector<ChangeHash>{});
  }
  const std::vector<ChangeHash> no_heads;
  const auto& their_heads = state.their_heads ? *state.their_heads : no_heads;
  bool need_only_heads = std::all_of(our_need.begin(), our_need.end(), [&](const ChangeHash& h) {
    return std::find(their_heads.begin(), their_heads.end(), h) != their_heads.end();
  });

  // The peer's last_sync names changes we lack (we lost data, or it synced with a copy of us
  // we no longer are): ask it to start over.
  if (state.their_have && !state.their_have->empty()) {
    const auto& first = state.their_have->front().last_sync;
    if (!std::all_of(first.begin(), first.end(),
                     [&](const ChangeHash& h) { return graph.has(h); })) {
      SyncMessage reset;
      reset.heads = our_heads;
      reset.have.push_back(Have{});
      return reset;
    }
  }

  std::vector<Change> to_send;
  if (state.their_have && state.their_need && !state.peer_read_only) {
    to_send = changes_to_send(graph, *state.their_have, *state.their_need);
  }
  std::erase_if(to_send, [&](const Change& c) { return state.sent_hashes.count(c.hash()) != 0; });

  bool heads_unchanged = state.last_sent_heads == our_heads;
  bool heads_equal = state.their_heads && *state.their_heads == our_heads;
  if (heads_unchanged && state.have_responded) {
    if ((heads_equal || options.read_only) && to_send.empty()) return std::nullopt;
    if (state.in_flight) return std::nullopt;
  }

  SyncMessage m;
  m.heads = our_heads;
  m.need = std::move(our_need);
  if (need_only_heads) m.have.push_back(make_have(graph, state.shared_heads));
  m.changes = std::move(to_send);

  state.have_responded = true;
  state.last_sent_heads = our_heads;
  for (const auto& c : m.changes) state.sent_hashes.insert(c.hash());
  state.in_flight = true;
  return m;
}

ReceiveResult receive_sync_message(ChangeGraph& graph, SyncState& state, const SyncMessage& message,
                                   const SyncOptions& options) {
  require_automerge(graph);
  ReceiveResult result;
  std::vector<ChangeHash> before = graph.heads();
  bool apply = !message.changes.empty() && !options.read_only;
  // add() is atomic: if it throws, neither the graph nor the state has changed.
  if (apply) result.status = graph.add(message.changes);
  if (options.read_only) result.ignored_changes = message.changes.size();

  state.in_flight = false;
  if (message.trailer) {
    PeerFlags flags = message.flags();
    state.peer_read_only = flags.read_only;
    if (flags.sync_reset) state.sent_hashes.clear();
  }
  if (apply) {
    // Heads that appeared, plus shared heads still heads.
    std::vector<ChangeHash> after = graph.heads();
    std::vector<ChangeHash> advanced;
    for (const auto& h : after) {
      bool fresh = !std::binary_search(before.begin(), before.end(), h);
      bool shared = std::binary_search(state.shared_heads.begin(), state.shared_heads.end(), h);
      if (fresh || shared) advanced.push_back(h);
    }
    state.shared_heads = std::move(advanced);
  }

  std::vector<ChangeHash> known;
  for (const auto& h : message.heads) {
    if (graph.has(h)) known.push_back(h);
  }
  // What the peer's heads cover, it has: no need to remember we sent it.
  if (!known.empty() && !state.sent_hashes.empty()) {
    std::vector<ChangeHash> sent(state.sent_hashes.begin(), state.sent_hashes.end());
    for (const auto& h : graph.ancestors_among(sent, known)) state.sent_hashes.erase(h);
  }
  if (message.changes.empty() && message.heads == before) state.last_sent_heads = message.heads;

  if (known.size() == message.heads.size()) {
    state.shared_heads = message.heads;
    if (message.heads.empty()) {
      // The peer lost all its data: send it everything again.
      state.last_sent_heads.clear();
      state.sent_hashes.clear();
    }
  } else {
    state.shared_heads = sorted_union(std::move(state.shared_heads), known);
  }
  state.their_have = message.have;
  state.their_heads = message.heads;
  state.their_need = message.need;
  return result;
}

}  // namespace dagsync::automerge
