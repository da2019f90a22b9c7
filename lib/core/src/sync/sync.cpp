// The generate/receive algorithm (docs/protocol.md, "Algorithm"). It follows Automerge's sync
// protocol, with two departures that make it terminate and converge deterministically:
//   1. A message is sent only when it carries something new for the peer: our first message
//      on this connection, changed heads, a changed `need`, changes to send, or a reset.
//      (Automerge also re-sends whenever heads differ and nothing is in flight, which
//      ping-pongs forever when one side cannot or will not apply the other's changes.)
//   2. Our `have` names only shared heads we still hold, so a state saved before we lost
//      data still yields a filter the peer can use.
// With summaries on, two more rules shorten the exchange (docs/protocol.md, section 8.14): a
// `complete` message (exactly all the peer lacks) is acknowledged by the peer's silence when
// it leaves the peer at our heads, and the first message from a saved state pushes what
// follows the shared heads. A first sync then takes three messages, a saved-state sync two.
// A `need` for a change already sent on this connection is not answered again: messages
// cross, so such a need usually predates the delivery. A peer that really lost data starts
// a new connection (fresh sent_hashes) or reports heads that went backwards, which clears
// them. The protocol assumes an ordered, reliable channel per connection: a transport that
// drops a message must end the connection.
#include "dagsync/sync.h"

#include <algorithm>
#include <unordered_set>

#include "dagsync/summary.h"
#include "encoding/hash_list.h"
#include "sync/summary_algorithms.h"
#include "sync/wire_size.h"

namespace dagsync {

namespace {

Have make_have(const ChangeGraph& graph, const std::vector<ChangeHash>& shared_heads) {
  Have have;
  for (const auto& h : shared_heads) {
    if (graph.has(h)) have.last_sync.push_back(h);
  }
  auto since = graph.changes_since(have.last_sync);
  std::vector<ChangeHash> hashes;
  hashes.reserve(since.size());
  for (const Change& c : since) hashes.push_back(c.hash());
  have.bloom = BloomFilter(hashes);
  return have;
}

// What the peer lacks, in an order it can apply: exactly, when we hold all its heads or can
// use its summary; else from its Bloom filters; plus whatever it asks for by hash.
struct ToSend {
  std::vector<Change> changes;
  bool summary_unusable = false;  // it sent a summary we cannot use (and heads we lack)
  bool exact = false;             // from its heads or summary: all it lacks, by its account
  bool truncated = false;         // collection stopped at the budget: more follows
};

// The shared heads we still hold: what the peer is known to hold, as far as we can tell.
std::vector<ChangeHash> held_shared_heads(const ChangeGraph& graph, const SyncState& state) {
  std::vector<ChangeHash> out;
  for (const auto& h : state.shared_heads) {
    if (graph.has(h)) out.push_back(h);
  }
  return out;
}

// With no message from the peer yet (`state.their_heads` absent), only the push from the
// shared heads applies.
ToSend changes_to_send(const ChangeGraph& graph, const SyncState& state, bool have_usable,
                       bool heads_shortcut, std::size_t budget) {
  ToSend out;
  std::unordered_set<ChangeHash, IdHasher> chosen;
  std::size_t bytes = 0;
  auto choose = [&](const Change& c) {
    if (!state.sent_hashes.count(c.hash()) && chosen.insert(c.hash()).second) {
      out.changes.push_back(c);
      bytes += c.bytes().size();
    }
  };
  // The rest of a long backlog goes in later messages: stop collecting once past the budget.
  auto full = [&] {
    if (bytes > budget) out.truncated = true;
    return out.truncated;
  };
  static const std::vector<ChangeHash> kNone;
  static const std::vector<Have> kNoHave;
  const auto& their_heads = state.their_heads ? *state.their_heads : kNone;
  const auto& have = state.their_have ? *state.their_have : kNoHave;
  bool exact = false;
  bool heard = state.their_heads.has_value();
  // Even a need-only message (the peer waits for deps) gets this: it is exactly what the
  // peer lacks, and without it a long missing chain would come one dep per round trip.
  if (heard && heads_shortcut &&
      std::all_of(their_heads.begin(), their_heads.end(),
                  [&](const ChangeHash& h) { return graph.has(h); })) {
    // Their heads name their whole history (for an honest peer): no filter needed. While the
    // peer stays silent after our complete messages (it holds what they carried: section
    // 8.14), their heads do not move; the walk starts from the heads it expects to hold as
    // well, so a long realtime session costs each push what changed since the last, not
    // everything since the peer last spoke. What lies between was sent (sent_hashes).
    std::vector<ChangeHash> from = their_heads;
    if (state.expected_heads) {
      for (const auto& h : *state.expected_heads) {
        if (graph.has(h)) from.push_back(h);
      }
      from = sorted_unique(std::move(from));
    }
    graph.visit_since(from, [&](const Change& c) {
      if (full()) return false;
      choose(c);
      return true;
    });
    exact = true;
  } else if (heard && state.their_summary) {
    if (auto missing = missing_from(graph, *state.their_summary)) {
      for (const Change& c : *missing) {
        if (full()) break;
        choose(c);
      }
      exact = true;
    } else {
      out.summary_unusable = true;
    }
  }
  if (!exact && have_usable && !have.empty()) {
    std::vector<ChangeHash> last_sync;
    for (const Have& h : have)
      last_sync.insert(last_sync.end(), h.last_sync.begin(), h.last_sync.end());
    last_sync = sorted_unique(std::move(last_sync));
    // A change goes if no filter claims it, or if it depends on one that goes: a false
    // positive must not strand its dependents. Application order is topological, so one
    // forward pass propagates to all descendants.
    std::unordered_set<ChangeHash, IdHasher> missing;
    for (const Change& c : graph.changes_since(last_sync)) {
      if (full()) break;
      bool goes = std::none_of(have.begin(), have.end(),
                               [&](const Have& h) { return h.bloom.contains(c.hash()); });
      if (!goes) {
        goes = std::any_of(c.deps().begin(), c.deps().end(),
                           [&](const ChangeHash& d) { return missing.count(d) != 0; });
      }
      if (goes) {
        missing.insert(c.hash());
        choose(c);
      }
    }
  }
  out.exact = exact;
  // No description of the peer's history (none yet, or it described itself earlier only by
  // its saved state): what it is known to hold is the shared heads, so everything beyond them
  // goes. This is what lets a sync from a saved state finish in two messages. The heads and
  // `need` of the peer's answer recover whatever a stale state hid. Never from nothing: with
  // no shared heads that would be the whole history.
  if (!exact && heads_shortcut && have.empty() && !state.their_summary) {
    auto shared = held_shared_heads(graph, state);
    if (!shared.empty()) {
      graph.visit_since(shared, [&](const Change& c) {
        if (full()) return false;
        choose(c);
        return true;
      });
    }
  }
  std::size_t before_needs = out.changes.size();
  if (state.their_need) {
    for (const auto& h : *state.their_need) {
      if (auto c = graph.get(h)) choose(*c);
    }
  }
  // Needed changes may be older than the others: restore a topological order.
  if (out.changes.size() != before_needs) {
    std::stable_sort(out.changes.begin(), out.changes.end(), [&](const Change& a, const Change& b) {
      return graph.depth(a.hash()) < graph.depth(b.hash());
    });
  }
  return out;
}

// What we tell the peer about our history: a Bloom filter since the shared heads, or an
// exact summary when that is smaller. A summary that may not reach far enough back (it
// lacks the root level) is sent only when the filter would be large, since the peer may
// have to ask for the filter after all.
void describe_history(const ChangeGraph& graph, const SyncState& state, bool summaries,
                      SyncMessage& message) {
  if (summaries) {
    // A partial summary costs about twice its deepest useful level; the budget trades that
    // against the chance (a divergence deeper than it reaches) of a round to ask for a filter.
    constexpr std::size_t kPartialAbove = 2048;
    constexpr std::size_t kPartialShare = 8;
    std::size_t held = 0;
    for (const auto& h : state.shared_heads) held += graph.has(h) ? 1 : 0;
    // What each description adds to the message: the filter its `have` entry and a nil
    // summary field; the root-only summary that field, filled.
    std::size_t filter = default_have_size(held, graph.count_since(state.shared_heads)) + 1;
    std::size_t full = full_summary_size(graph);
    // The summary is exact; a filter's false positive holds a change back for a round, so
    // which exchange two peers run would depend on their hashes. The summary therefore goes
    // even when it is a little larger: a first message of one change (a one-entry filter,
    // 12 bytes, against a one-actor summary, 24) is always exact. The slack stays below what
    // the shapes of docs/performance.md would pay (26 bytes and more), so they keep their
    // filters.
    constexpr std::size_t kExactSlack = 16;
    std::optional<Summary> summary;
    if (full <= kPartialAbove && full <= filter + kExactSlack) {
      summary = summarize(graph, state.shared_heads, full);
    } else if (std::min(full, filter) > kPartialAbove && !state.their_want_filter) {
      summary = summarize(graph, state.shared_heads, std::min(full, filter) / kPartialShare);
    } else if (full <= filter + kExactSlack) {
      summary = summarize(graph, state.shared_heads, full);
    }
    if (summary) {
      message.summary = std::move(summary);
      return;
    }
  }
  message.have.push_back(make_have(graph, state.shared_heads));
}

// Shared heads after applying a message's changes: our new heads that this message brought,
// plus the old shared heads that are still heads. (A new head that was pending from some
// other peer and merely unblocked is not known to be held by this one.)
std::vector<ChangeHash> advance_heads(const std::vector<ChangeHash>& old_heads,
                                      const std::vector<ChangeHash>& new_heads,
                                      const std::vector<ChangeHash>& old_shared,
                                      const std::vector<Change>& received) {
  std::unordered_set<ChangeHash, IdHasher> from_peer;
  for (const Change& c : received) from_peer.insert(c.hash());
  std::vector<ChangeHash> out;
  for (const auto& h : new_heads) {
    if (!sorted_contains(old_heads, h) && from_peer.count(h)) out.push_back(h);
  }
  for (const auto& h : old_shared) {
    if (sorted_contains(new_heads, h)) out.push_back(h);
  }
  return sorted_unique(std::move(out));
}

}  // namespace

namespace {

// Beyond this many sent hashes, a complete message sent while the previous one is still
// expected to have arrived forgets the hashes that previous one covers (below).
constexpr std::size_t kPruneSentAbove = 1024;

// Every message returned goes through here: the per-connection bookkeeping of section 8.1
// step 6.
SyncMessage record_sent(const ChangeGraph& graph, SyncState& state, SyncMessage message) {
  // A peer that accepts our complete messages stays silent (section 8.14), so its reports
  // never prune sent_hashes: on a long realtime connection they would grow with every change
  // pushed. Whatever lies behind the heads the peer is expected to hold already is no longer
  // walked (changes_to_send starts from them), so it is forgotten once the set is large; at
  // worst a change goes again later (a read-only peer's reply), which the peer skips as held.
  if (message.complete && state.expected_heads && state.sent_hashes.size() > kPruneSentAbove) {
    std::vector<ChangeHash> sent(state.sent_hashes.begin(), state.sent_hashes.end());
    for (const auto& h : graph.ancestors_among(sent, *state.expected_heads))
      state.sent_hashes.erase(h);
  }
  for (const Change& c : message.changes) state.sent_hashes.insert(c.hash());
  if (!message.have.empty() || message.summary) state.described = true;
  state.last_sent_heads = message.heads;
  state.last_sent_need = message.need;
  state.have_responded = true;
  state.in_flight = true;
  state.answer_due = false;
  // A complete message counts as delivered, as sent_hashes does: the peer will hold our
  // heads. Should it not (it receives read-only), its reply says so and the shared heads go
  // back to what they were; should the connection fail first, the heads and needs of the
  // next one recover the difference (docs/protocol.md, section 8.14).
  if (message.complete) {
    if (!state.expected_heads) state.shared_before_complete = state.shared_heads;
    state.expected_heads = message.heads;
    state.shared_heads = message.heads;
  }
  message.received = state.messages_received;
  ++state.messages_sent;
  return message;
}

}  // namespace

std::optional<SyncMessage> generate_sync_message(const ChangeGraph& graph, SyncState& state,
                                                 const GenerateOptions& options) {
  std::vector<ChangeHash> our_heads = graph.heads();
  static const std::vector<ChangeHash> kNone;
  const std::vector<ChangeHash>& their_heads = state.their_heads ? *state.their_heads : kNone;
  std::vector<ChangeHash> our_need = graph.missing_deps(their_heads);

  // The peer's last_sync names changes we do not hold: we lost data since, so its filter
  // is meaningless to us. Ask it to start over (an empty have), once per message received;
  // until it answers, send only what it asks for explicitly.
  bool their_have_usable = true;
  if (state.their_have && !state.their_have->empty()) {
    const auto& last_sync = state.their_have->front().last_sync;
    their_have_usable = std::all_of(last_sync.begin(), last_sync.end(),
                                    [&](const ChangeHash& h) { return graph.has(h); });
    if (!their_have_usable && !state.reset_sent) {
      state.reset_sent = true;
      SyncMessage reset;
      reset.heads = std::move(our_heads);
      reset.have.push_back(Have{});
      reset.want_filter = state.want_filter_sent;
      reset.resend = state.ask_again;
      state.ask_again = false;
      SyncMessage out = record_sent(graph, state, std::move(reset));
      state.last_sent_need.clear();
      state.described = false;  // the reset's empty filter describes nothing
      return out;
    }
  }

  // With summaries on, the first message from a saved state also pushes what we hold beyond
  // the shared heads (changes_to_send), so the peer answers with the rest and is done.
  ToSend to_send;
  if ((state.their_have && state.their_need) || (options.summaries && !state.have_responded)) {
    to_send = changes_to_send(graph, state, their_have_usable, options.summaries,
                              options.max_message_bytes);
  }
  if (!options.send_changes) to_send.changes.clear();
  // Their summary reaches back to nothing we hold: ask once for filters instead.
  bool ask_filter = to_send.summary_unusable && !state.want_filter_sent;

  // After ignoring changes we ask for them again, with the resend flag.
  if (state.ask_again && our_need.empty()) state.ask_again = false;
  bool resend = state.ask_again;
  bool unchanged = state.have_responded && state.last_sent_heads == our_heads &&
                   state.last_sent_need == our_need;
  if (unchanged && to_send.changes.empty() && !ask_filter && !resend && !state.answer_due) {
    return std::nullopt;
  }
  state.ask_again = false;

  SyncMessage message;
  message.resend = resend;
  // Complete: we know exactly what the peer lacks and all of it goes in this message, so once
  // it arrives the peer holds our heads. A peer left with exactly our heads then stays silent.
  message.complete =
      options.summaries && options.send_changes && to_send.exact && !to_send.truncated;

  // A description of our history only helps when the peer will act on it; while we wait
  // for hashes the peer did not announce as heads (deps of pending changes), ask for
  // exactly those instead.
  bool need_only_heads = std::all_of(our_need.begin(), our_need.end(), [&](const ChangeHash& h) {
    return sorted_contains(their_heads, h);
  });
  // A peer that holds all our heads knows our history from them (it answers with what
  // follows them), so describing it again is redundant.
  auto known_to_peer = [&](const ChangeHash& h) {
    return sorted_contains(state.shared_heads, h) || sorted_contains(their_heads, h);
  };
  bool peer_holds_ours = options.summaries && !our_heads.empty() &&
                         std::all_of(our_heads.begin(), our_heads.end(), known_to_peer);
  // So does a peer that will hold them once this complete message arrives. Should it not
  // apply it (it receives read-only), it still has a lower bound of our history to work
  // from: the description we sent earlier, or the shared heads.
  bool peer_will_hold_ours =
      message.complete && (state.described || !held_shared_heads(graph, state).empty());
  // Neither does the first message from a saved state: it pushes what follows the shared
  // heads, and the peer answers from our heads (or, if it lacks them, from the shared heads).
  bool pushing =
      options.summaries && !state.their_heads && !held_shared_heads(graph, state).empty();
  // A resend always describes us: the peer then sends all we lack at once, rather than one
  // needed dep per round trip.
  if (resend || (need_only_heads && !peer_holds_ours && !peer_will_hold_ours && !pushing)) {
    describe_history(graph, state, options.summaries, message);
  }
  if (ask_filter) state.want_filter_sent = true;
  message.want_filter = state.want_filter_sent;

  message.heads = std::move(our_heads);
  message.need = std::move(our_need);

  // Bounded messages: changes go while the whole encoded message stays within the limit, and
  // the rest of a long backlog follows in later messages. The first change goes whatever its
  // size: held back, it would never travel.
  const std::size_t fixed = sync_message_size_without_changes(message);
  std::size_t used = 0, take = 0;
  for (const Change& c : to_send.changes) {
    std::size_t next = used + c.bytes().size();
    if (take > 0 && fixed + changes_field_size(next) > options.max_message_bytes) break;
    used = next;
    ++take;
  }
  if (take < to_send.changes.size()) message.complete = false;
  to_send.changes.erase(to_send.changes.begin() + static_cast<std::ptrdiff_t>(take),
                        to_send.changes.end());
  message.changes = std::move(to_send.changes);
  return record_sent(graph, state, std::move(message));
}

ReceiveResult receive_sync_message(ChangeGraph& graph, SyncState& state, const SyncMessage& input,
                                   ReceiveOptions options) {
  // Decoded messages are canonical already; a message built in memory may not be.
  const SyncMessage* normalised = &input;
  SyncMessage copy;
  if (!is_sorted_unique(input.heads) || !is_sorted_unique(input.need)) {
    copy = input;
    copy.heads = sorted_unique(std::move(copy.heads));
    copy.need = sorted_unique(std::move(copy.need));
    normalised = &copy;
  }
  const SyncMessage& message = *normalised;
  ReceiveResult result;
  std::vector<ChangeHash> before_heads = graph.heads();
  if (!message.changes.empty()) {
    if (options.apply_changes) {
      result.status = graph.add(message.changes);  // the only step that throws
    } else {
      result.ignored_changes = message.changes.size();
    }
  }
  if (!options.apply_changes) {
    if (std::any_of(message.changes.begin(), message.changes.end(),
                    [&](const Change& c) { return !graph.has(c.hash()); })) {
      state.changes_ignored = true;
    }
  } else if (state.changes_ignored) {
    state.changes_ignored = false;
    state.ask_again = true;
  }

  // The peer had read all our messages when it wrote this one: it answers our latest, so
  // what it says replaces what our complete message let us expect.
  bool answers_ours = message.received == state.messages_sent;
  ++state.messages_received;
  auto forget_expected = [&] {
    if (!state.expected_heads) return;
    state.shared_heads = std::move(state.shared_before_complete);
    state.shared_before_complete.clear();
    state.expected_heads.reset();
  };
  if (answers_ours) forget_expected();

  // The peer ignored changes we sent and asks for them again.
  if (message.resend) {
    state.sent_hashes.clear();
    forget_expected();
  }

  state.in_flight = false;
  state.reset_sent = false;
  if (!result.status.applied.empty()) {
    state.shared_heads =
        advance_heads(before_heads, graph.heads(), state.shared_heads, message.changes);
  }

  // Whatever the peer's heads cover has been received: stop tracking it.
  if (!state.sent_hashes.empty()) {
    std::vector<ChangeHash> sent(state.sent_hashes.begin(), state.sent_hashes.end());
    for (const auto& h : graph.ancestors_among(sent, message.heads)) state.sent_hashes.erase(h);
  }

  // (Automerge also marks equal heads as already announced here. That loses the
  // announcement when both sides reached those heads independently: the peer would never
  // learn that we hold them, and has_our_changes() would stay false on its side. A complete
  // message is different: its sender expects us at its heads, section 8.14.)
  if (message.complete) {
    if (graph.heads() == message.heads) {
      // Our silence tells the peer what it expects; a message of ours that crossed this one
      // will make it look again, so then we announce as usual.
      // Whatever we asked for is here too, so an emptied need is no news either.
      if (answers_ours) {
        state.last_sent_heads = message.heads;
        if (graph.missing_deps(message.heads).empty()) state.last_sent_need.clear();
      }
    } else {
      state.answer_due = true;
    }
  }

  std::vector<ChangeHash> known;
  for (const auto& h : message.heads) {
    if (graph.has(h)) known.push_back(h);
  }
  if (known.size() == message.heads.size()) {
    state.shared_heads = message.heads;
    // Within a connection a peer's heads only grow. If heads it reported earlier are not in
    // the history of the heads it reports now, it lost data: what we sent may be gone, and
    // it must hear our heads again. (Empty heads from a peer that never reported any is no
    // news: that message merely crossed ours.)
    if (state.their_heads && *state.their_heads != message.heads &&
        graph.ancestors_among(*state.their_heads, message.heads).size() !=
            state.their_heads->size()) {
      state.last_sent_heads.clear();
      state.sent_hashes.clear();
      state.expected_heads.reset();  // shared_heads are the peer's heads already
    }
  } else {
    known.insert(known.end(), state.shared_heads.begin(), state.shared_heads.end());
    state.shared_heads = sorted_unique(std::move(known));
  }

  // A complete message without a description leaves the previous one in place: the peer's
  // history has only grown since, so it is still a lower bound (section 8.14).
  if (!(message.complete && message.have.empty() && !message.summary)) {
    state.their_have = message.have;
    state.their_summary = message.summary;
  } else if (!state.their_have) {
    state.their_have.emplace();
  }
  if (message.want_filter) state.their_want_filter = true;
  state.their_heads = message.heads;
  state.their_need = message.need;
  return result;
}

bool has_our_changes(const ChangeGraph& graph, const SyncState& state) {
  if (!state.their_heads) return false;
  auto covers = [&](const std::vector<ChangeHash>& heads) {
    std::vector<ChangeHash> known;
    for (const auto& h : heads) {
      if (graph.has(h)) known.push_back(h);
    }
    return graph.covered_by(known);
  };
  return covers(*state.their_heads) || (state.expected_heads && covers(*state.expected_heads));
}

}  // namespace dagsync
