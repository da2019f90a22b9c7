// libFuzzer target for every decoder of untrusted bytes. The first byte picks the decoder,
// the rest is its input. Each decoder must either return a value or throw DecodeError (or
// GraphError where documented); anything else (a crash, another exception, a sanitizer
// report, unbounded allocation) is a finding.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "dagsync/dagsync.h"
#include "envelope.h"

using namespace dagsync;

namespace {

SyncLimits small_limits() {
  // Small limits so the fuzzer explores the limit checks, not the allocator.
  SyncLimits l;
  l.max_message_bytes = 1 << 20;
  l.max_hashes = 256;
  l.max_haves = 8;
  l.max_changes = 256;
  l.max_bloom_entries = 1 << 16;
  l.change.max_change_bytes = 1 << 16;
  l.change.max_deps = 64;
  return l;
}

template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const DecodeError&) {
  } catch (const GraphError&) {
  }
  // Any other exception escapes and libFuzzer reports it.
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  ByteView input(data + 1, size - 1);
  const SyncLimits limits = small_limits();
  switch (data[0] % 7) {
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
  }
  return 0;
}
