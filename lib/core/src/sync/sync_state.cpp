// Sync state encoding: msgpack array [version=1, shared_heads: [bin32] sorted].
#include "dagsync/sync_state.h"

#include "encoding/msgpack_io.h"

namespace dagsync {

Bytes SyncState::encode() const {
  Bytes out;
  MsgpackWriter w(out);
  w.array(2);
  w.uint(kVersion);
  w.id_array(shared_heads);
  return out;
}

SyncState SyncState::decode(ByteView bytes, std::size_t max_heads) {
  MsgpackReader r(bytes, "sync state");
  if (r.array("fields", 2) != 2) r.fail("fields", "expected 2 fields");
  std::uint64_t version = r.uint("version");
  if (version != kVersion) r.fail("version", "unsupported version " + std::to_string(version));
  SyncState s;
  r.sorted_ids<ChangeHash>("shared_heads", limit32(max_heads), s.shared_heads);
  r.expect_end();
  return s;
}

}  // namespace dagsync
