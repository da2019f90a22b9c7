// ChangeGraph: the DAG of one document's changes.
//
// Contract:
// - add() accepts changes in any order; duplicates (applied or pending) are counted and
//   ignored. A change whose deps are not all applied is parked as pending and applied as
//   soon as they are. Applied changes form a closed DAG (every dep applied first).
// - add() of a batch is atomic: on GraphError nothing changes. Refused: a change whose
//   actor already has a different change at that seq (equivocation; the message names both
//   hashes); a change whose deps are all available while its actor's seq-1 is nowhere (a gap
//   no later delivery can fill); a pending pool over GraphLimits.
// - A formerly pending change that proves invalid once its deps arrive is evicted and
//   reported in ImportStatus::evicted rather than failing the batch that delivered the deps.
// - Queries never mutate. changes() and changes_since() are in application order, which is a
//   topological order: sending them in that order lets any receiver apply them directly.
// - Copying copies the history but not the subscriptions.
// - A graph holds changes of one format (ChangeFormat), fixed when it is made: add() refuses
//   a change of the other format, and an Automerge graph authors nothing (commit() and
//   next_change() throw GraphError; Automerge's changes come from Automerge).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dagsync/change.h"
#include "dagsync/detail/hash_index.h"
#include "dagsync/import_status.h"
#include "dagsync/limits.h"
#include "dagsync/listener_set.h"
#include "dagsync/subscription.h"
#include "dagsync/version_vector.h"

namespace dagsync {

class ChangeGraph {
 public:
  explicit ChangeGraph(ActorId local_actor = random_actor_id(), GraphLimits limits = {});
  // A graph of `format`'s changes (the one above holds dagsync's).
  explicit ChangeGraph(ChangeFormat format, GraphLimits limits = {});
  ChangeGraph(const ChangeGraph& other);
  ChangeGraph& operator=(const ChangeGraph& other);
  ChangeGraph(ChangeGraph&&) noexcept;
  ChangeGraph& operator=(ChangeGraph&&) noexcept;
  ~ChangeGraph();

  const ActorId& local_actor() const { return local_actor_; }
  const GraphLimits& limits() const { return limits_; }
  ChangeFormat format() const { return format_; }

  ImportStatus add(const Change& change);
  ImportStatus add(std::span<const Change> changes);

  // Builds the local actor's next change on the current heads, applies it and tells the
  // local subscribers. The timestamp is the caller's: the graph reads no clock.
  Change commit(Bytes payload, std::optional<std::string> message = std::nullopt,
                std::optional<std::int64_t> timestamp_ms = std::nullopt);
  // commit() in two steps, for a caller that must store a change before it is applied:
  // next_change() builds the change commit() would make now, without applying it;
  // commit_built() applies it and tells the local subscribers. commit_built() throws
  // GraphError, leaving the graph unchanged, unless `change` is the local actor's next seq
  // on the current heads.
  Change next_change(Bytes payload, std::optional<std::string> message = std::nullopt,
                     std::optional<std::int64_t> timestamp_ms = std::nullopt) const;
  const Change& commit_built(const Change& change);

  using LocalListener = std::function<void(const Change&)>;
  // Called after each commit() (Loro's subscribeLocalUpdates); not for add().
  Subscription subscribe_local(LocalListener listener);

  std::vector<ChangeHash> heads() const { return heads_; }  // sorted
  bool has(const ChangeHash& hash) const;                   // applied
  bool is_pending(const ChangeHash& hash) const;            // received, waiting for deps
  std::optional<Change> get(const ChangeHash& hash) const;  // applied only
  std::size_t size() const { return changes_.size(); }
  std::size_t pending_count() const { return pending_.size(); }
  std::size_t pending_bytes() const { return pending_bytes_; }
  const std::vector<Change>& changes() const { return changes_; }
  std::vector<Change> pending_changes() const;
  // Forgets every pending change (held in memory only; nothing applied changes). Returns
  // how many. A session drops what a departed peer left waiting on deps it never sent.
  std::size_t drop_pending();

  // Applied changes that are not ancestors of (or equal to) any of `heads`; hashes the graph
  // does not hold are ignored. Application order.
  std::vector<Change> changes_since(std::span<const ChangeHash> heads) const;
  // changes_since(heads).size(), without building the list.
  std::size_t count_since(std::span<const ChangeHash> heads) const;
  // Calls `visit` on each change of changes_since(heads), in order, until it returns false.
  void visit_since(std::span<const ChangeHash> heads,
                   const std::function<bool(const Change&)>& visit) const;
  // Calls `visit` on each applied change that is an ancestor of (or equal to) one of `from`
  // and not of any of `to`, in application order, until it returns false; hashes the graph
  // does not hold are ignored. visit_since(heads) is visit_between(heads(), heads). Costs
  // what lies between the two and the frontier where they meet, as visit_since does.
  void visit_between(std::span<const ChangeHash> from, std::span<const ChangeHash> to,
                     const std::function<bool(const Change&)>& visit) const;
  // Hashes needed to apply the pending changes, plus those of `heads` we neither hold nor
  // have pending. Sorted.
  std::vector<ChangeHash> missing_deps(std::span<const ChangeHash> heads = {}) const;
  // True when every hash in `hashes` is applied and everything applied is an ancestor of
  // (or equal to) one of them.
  bool covered_by(std::span<const ChangeHash> hashes) const;

  // The hashes of `candidates` that are held and are ancestors of (or equal to) one of the
  // held `heads`.
  std::vector<ChangeHash> ancestors_among(std::span<const ChangeHash> candidates,
                                          std::span<const ChangeHash> heads) const;

  // Kept up to date by add() (O(log actors) per applied change), so reading it costs nothing
  // per sync message.
  const VersionVector& version_vector() const { return version_; }
  // Lamport depth: 1 for a root, else 1 + the deepest dep. 0 when unknown.
  std::uint64_t depth(const ChangeHash& hash) const;

  // Loro-style update exchange: the applied changes `from` lacks, in application order, and
  // that as bytes (docs/protocol.md, "Update batches"). import_updates() decodes with limits
  // and adds atomically.
  std::vector<Change> changes_missing_from(const VersionVector& from) const;
  Bytes export_updates(const VersionVector& from = {}) const;
  ImportStatus import_updates(ByteView bytes, const SyncLimits& limits = {});

  // The highest applied seq of `actor` (0 if none): its next change takes max_seq + 1.
  std::uint64_t max_seq(const ActorId& actor) const;

 private:
  struct Plan;
  void plan_candidate(Plan& plan, const Change& change, bool fresh) const;
  void run_plan(Plan& plan) const;
  void apply_planned(const Change& change);
  // The common case of a batch that applies in order: each change is new (neither applied
  // nor pending), is its actor's next seq, has every dep applied or earlier in the batch, and
  // no pending change waits for it. Applies it and returns true; otherwise leaves the graph
  // and `status` as they were, for the general path.
  bool add_in_order(std::span<const Change> batch, ImportStatus& status);
  bool applies_next(const Change& change) const;
  // Drops the nodes from `first` on (and restores `heads`): undoes add_in_order.
  void truncate(std::size_t first, std::size_t first_dep, std::vector<ChangeHash>* heads);
  std::optional<std::uint32_t> index_of(const ChangeHash& hash) const;
  // Nodes of changes_since(heads), in application order; with `first_only`, at most one
  // (enough to tell whether there are any). Walks only the difference and its frontier.
  std::vector<std::uint32_t> since_nodes(std::span<const ChangeHash> heads, bool first_only) const;
  // Nodes that are ancestors of (or equal to) the held `from` and not of the held `to`, in
  // application order: the walk behind since_nodes, from any hashes.
  std::vector<std::uint32_t> between_nodes(std::span<const ChangeHash> from,
                                           std::span<const ChangeHash> to, bool first_only) const;

  ActorId local_actor_;
  GraphLimits limits_;
  ChangeFormat format_ = ChangeFormat::kDagsync;

  // Applied changes in application (topological) order, with per-node metadata.
  std::vector<Change> changes_;
  std::vector<std::uint32_t> dep_begin_;  // node i's deps are dep_index_[begin[i], begin[i+1])
  std::vector<std::uint32_t> dep_index_;
  std::vector<std::uint32_t> depth_;
  HashIndex index_;                                                             // hash -> node
  std::unordered_map<ActorId, std::vector<std::uint32_t>, IdHasher> by_actor_;  // seq-1 -> node
  VersionVector version_;  // actor -> by_actor_[actor].size()
  std::vector<ChangeHash> heads_;

  // Pending changes, and which pending changes wait on a given hash (a missing dep, or the
  // pending predecessor of the same actor). Entries may be stale; readers re-check.
  std::unordered_map<ChangeHash, Change, IdHasher> pending_;
  std::unordered_map<ChangeHash, std::vector<ChangeHash>, IdHasher> waiters_;
  std::size_t pending_bytes_ = 0;

  ListenerSet<Change> listeners_;
};

}  // namespace dagsync
