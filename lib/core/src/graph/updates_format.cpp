// The update batch format (docs/protocol.md, "Update batches"): msgpack array
//   [version=1, changes: [bin...]]
// with each bin holding one change's canonical encoding, in application order.
#include "dagsync/change_graph.h"
#include "dagsync/error.h"
#include "encoding/msgpack_io.h"

namespace dagsync {

namespace {
constexpr std::uint64_t kUpdatesVersion = 1;
constexpr std::uint32_t kUpdatesFields = 2;
}  // namespace

Bytes ChangeGraph::export_updates(const VersionVector& from) const {
  auto changes = changes_missing_from(from);
  Bytes out;
  MsgpackWriter w(out);
  w.array(kUpdatesFields);
  w.uint(kUpdatesVersion);
  w.array(static_cast<std::uint32_t>(changes.size()));
  for (const Change& c : changes) w.bin(c.bytes());
  return out;
}

ImportStatus ChangeGraph::import_updates(ByteView bytes, const SyncLimits& limits) {
  check_input_size("updates", bytes.size(), limits.max_message_bytes);
  MsgpackReader r(bytes, "updates");
  r.versioned_array(kUpdatesVersion, kUpdatesFields, kUpdatesFields);
  std::uint32_t n = r.array("changes", limit32(limits.max_changes));
  std::vector<Change> changes;
  changes.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    ByteView b = r.bin("changes", limits.change.max_change_bytes);
    try {
      changes.push_back(Change::decode(b, limits.change));
    } catch (const DecodeError& e) {
      throw DecodeError("updates: change " + std::to_string(i) + ": " + e.what());
    }
  }
  r.expect_end();
  return add(changes);
}

}  // namespace dagsync
