// Test helpers: deterministic actors and content, a two-peer sync loop that goes through the
// wire encoding, and convergence checks. Shared by every test file.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "dagsync/core.h"

namespace dagsync::test {

// Actor whose 16 bytes are all `n` (readable in failures, distinct per n).
inline ActorId actor(std::uint8_t n) {
  ActorId a;
  a.bytes.fill(n);
  return a;
}

inline Bytes text(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// Commits `count` changes with payloads "<label> <i>" and a fixed timestamp.
inline void commit_n(ChangeGraph& g, int count, const std::string& label) {
  for (int i = 0; i < count; ++i) g.commit(text(label + " " + std::to_string(i)), std::nullopt, 0);
}

// Adds every applied change of `from` to `to`.
inline void merge_into(ChangeGraph& to, const ChangeGraph& from) {
  to.add(from.changes());
}

// The message after a round trip through its encoding, as a peer would receive it.
inline SyncMessage wire(const SyncMessage& m) {
  return SyncMessage::decode(m.encode());
}

inline std::vector<ChangeHash> hashes_of(const std::vector<Change>& changes) {
  std::vector<ChangeHash> out;
  for (const auto& c : changes) out.push_back(c.hash());
  return out;
}

inline std::vector<ChangeHash> sorted(std::vector<ChangeHash> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The set of applied changes, as sorted hashes.
inline std::vector<ChangeHash> change_set(const ChangeGraph& g) {
  return sorted(hashes_of(g.changes()));
}

struct SyncStats {
  int iterations = 0;
  int messages = 0;
  std::size_t changes_sent = 0;
};

constexpr int kMaxIterations = 10;

// The generate options scenarios run with: summaries on, or filters only (Automerge's
// behaviour) when DAGSYNC_FILTERS_ONLY is set; the `core-filters` test runs the conformance
// scenarios that way.
inline GenerateOptions default_generate() {
  GenerateOptions options;
  options.summaries = std::getenv("DAGSYNC_FILTERS_ONLY") == nullptr;
  return options;
}

// Alternates generate/receive between a and b (both generate, then both receive) until
// neither has anything to send. Fails the test if that takes more than kMaxIterations.
inline SyncStats sync_peers(ChangeGraph& a, ChangeGraph& b, SyncState& sa, SyncState& sb,
                            ReceiveOptions a_opts = {}, ReceiveOptions b_opts = {},
                            const GenerateOptions& gen = default_generate()) {
  SyncStats stats;
  while (true) {
    auto a_to_b = generate_sync_message(a, sa, gen);
    auto b_to_a = generate_sync_message(b, sb, gen);
    if (!a_to_b && !b_to_a) break;
    if (++stats.iterations > kMaxIterations) {
      FAIL("did not synchronise within " << kMaxIterations << " iterations");
      break;
    }
    if (a_to_b) {
      ++stats.messages;
      stats.changes_sent += a_to_b->changes.size();
      receive_sync_message(b, sb, wire(*a_to_b), b_opts);
    }
    if (b_to_a) {
      ++stats.messages;
      stats.changes_sent += b_to_a->changes.size();
      receive_sync_message(a, sa, wire(*b_to_a), a_opts);
    }
  }
  return stats;
}

inline SyncStats sync_peers(ChangeGraph& a, ChangeGraph& b) {
  SyncState sa, sb;
  return sync_peers(a, b, sa, sb);
}

inline void check_converged(const ChangeGraph& a, const ChangeGraph& b) {
  CHECK(a.heads() == b.heads());
  CHECK(change_set(a) == change_set(b));
  CHECK(a.pending_count() == 0);
  CHECK(b.pending_count() == 0);
}

inline SyncState reload(const SyncState& s) {
  return SyncState::decode(s.encode());
}

// Seeds the randomised tests run: DAGSYNC_SEEDS overrides the default.
inline int seed_count(int fallback) {
  if (const char* env = std::getenv("DAGSYNC_SEEDS")) return std::max(1, std::atoi(env));
  return fallback;
}

}  // namespace dagsync::test
