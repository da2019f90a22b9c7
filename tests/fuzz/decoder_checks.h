// The checks each decoder fuzz target applies to one input, shared with the replay test in
// the normal suite (tests/fuzz/test_fuzz_replay.cpp), which runs every committed seed and every
// regression input through them. Returns normally or aborts: a decoder must return a value
// or throw DecodeError/GraphError; any other exception propagates to the caller.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "dagsync/dagsync.h"
#include "envelope.h"
#include "upgrade_tokens.h"
#include "wire_dialect.h"

namespace dagsync::fuzz {

inline SyncLimits small_limits() {
  // Small limits so the fuzzer explores the limit checks, not the allocator.
  SyncLimits l;
  l.max_message_bytes = 1 << 20;
  l.max_hashes = 256;
  l.max_haves = 8;
  l.max_changes = 256;
  l.max_bloom_entries = 1 << 16;
  l.change.max_change_bytes = 1 << 16;
  l.change.max_deps = 64;
  l.automerge.max_chunk_bytes = 1 << 16;
  l.automerge.max_deps = 64;
  l.automerge.max_other_actors = 256;
  return l;
}

template <typename F>
inline void expect_clean(F&& f) {
  try {
    f();
  } catch (const DecodeError&) {
  } catch (const GraphError&) {
  }
  // Any other exception escapes: libFuzzer reports it, the replay test fails on it.
}

// The targets by name, as in tests/fuzz/meson.build and tests/fuzz/corpus/.
inline int target_index(const std::string& name) {
  static const char* kNames[] = {"fuzz_change",          "fuzz_sync_message",
                                 "fuzz_sync_state",      "fuzz_version_vector",
                                 "fuzz_envelope",        "fuzz_updates",
                                 "fuzz_storage_row",     "fuzz_credentials",
                                 "fuzz_automerge_chunk", "fuzz_automerge_sync_message",
                                 "fuzz_automerge_repo"};
  for (int i = 0; i < 11; ++i) {
    if (name == kNames[i]) return i;
  }
  return -1;
}

inline void check_decoder(int target, ByteView input) {
  const SyncLimits limits = small_limits();
  switch (target) {
    case 0:
      expect_clean([&] {
        Change c = Change::decode(input, limits.change);
        // What decodes must re-encode to the same bytes: one encoding per change.
        if (!std::equal(c.bytes().begin(), c.bytes().end(), input.begin(), input.end()))
          std::abort();
      });
      break;
    case 1:
      expect_clean([&] {
        SyncMessage m = SyncMessage::decode(input, limits);
        SyncMessage again = SyncMessage::decode(m.encode(), limits);
        if (again.heads != m.heads || again.need != m.need ||
            again.changes.size() != m.changes.size())
          std::abort();
        // A decoded message must be safe to receive: refused atomically or applied.
        ChangeGraph graph(ActorId{}, GraphLimits{64, 1 << 20});
        SyncState state;
        receive_sync_message(graph, state, m);
        generate_sync_message(graph, state);
      });
      break;
    case 2:
      expect_clean([&] { SyncState::decode(input, 256); });
      break;
    case 3:
      expect_clean([&] { VersionVector::decode(input, 256); });
      break;
    case 4:
      expect_clean([&] { Envelope::decode(input, 1 << 20); });
      break;
    case 5:
      expect_clean([&] {
        ChangeGraph graph(ActorId{}, GraphLimits{64, 1 << 20});
        graph.import_updates(input, limits);
      });
      break;
    case 6:
      // A storage row: hash (32 bytes) then change bytes, as SqliteStorage verifies them.
      expect_clean([&] {
        if (input.size() < 32) return;
        ChangeHash h = ChangeHash::from_bytes(input.first(32));
        Change::decode_verified(input.subspan(32), h, limits.change);
      });
      break;
    case 7: {
      // Credentials a WebSocket upgrade carries, as the peer chose them: an Authorization
      // header and a request target. Decoding only shrinks text, and never throws.
      std::string text(input.begin(), input.end());
      std::string bearer = net::bearer_token(text);
      std::string token = net::query_parameter(text, "token");
      std::string decoded = net::percent_decode(text);
      if (bearer.size() > text.size() || token.size() > text.size() || decoded.size() > text.size())
        std::abort();
      break;
    }
    case 8:
      // Automerge change chunks back to back, as a sync message's entry holds them.
      expect_clean([&] {
        std::vector<Change> changes;
        ByteView rest = input;
        while (!rest.empty()) {
          std::size_t used = 0;
          Change c = Change::from_automerge_prefix(rest, used, limits.automerge);
          if (used == 0 || used > rest.size()) std::abort();
          // The kept (type-1) form parses to the same change.
          Change again = Change::from_automerge(c.bytes(), limits.automerge);
          if (again.hash() != c.hash() || again.seq() != c.seq() ||
              again.deps().size() != c.deps().size())
            std::abort();
          changes.push_back(c);
          rest = rest.subspan(used);
        }
        ChangeGraph graph(ChangeFormat::kAutomerge, GraphLimits{64, 1 << 20});
        graph.add(changes);
      });
      break;
    case 9:
      expect_clean([&] {
        automerge::SyncMessage m = automerge::SyncMessage::decode(input, limits);
        automerge::SyncMessage again = automerge::SyncMessage::decode(m.encode(), limits);
        if (again.heads != m.heads || again.need != m.need || again.have != m.have ||
            again.changes.size() != m.changes.size())
          std::abort();
        ChangeGraph graph(ChangeFormat::kAutomerge, GraphLimits{64, 1 << 20});
        automerge::SyncState state;
        automerge::receive_sync_message(graph, state, m);
        automerge::generate_sync_message(graph, state);
      });
      break;
    case 10: {
      // automerge-repo's CBOR messages: what decodes re-encodes to a message that decodes to
      // the same fields; the dialect turns it into a session message or refuses it cleanly.
      AutomergeRepoLimits am;
      am.max_message_bytes = 1 << 16;
      expect_clean([&] {
        auto m = AutomergeRepoMessage::decode(input, am);
        auto again = AutomergeRepoMessage::decode(m.encode(), am);
        if (again.type != m.type || again.sender_id != m.sender_id ||
            again.document_id != m.document_id || again.data != m.data || again.count != m.count ||
            again.session_id != m.session_id || again.storage_id != m.storage_id)
          std::abort();
      });
      AutomergeRepoDialect dialect("server", "", am);
      DecodedFrame first = dialect.decode(input);
      if (first.kind == DecodedFrame::Kind::kError && first.error.empty()) std::abort();
      dialect.decode(input);  // a second time, after a join it may have carried
      break;
    }
  }
}

}  // namespace dagsync::fuzz
