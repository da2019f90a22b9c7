// Sync state encoding: msgpack array [version=1, shared_heads: [bin32] sorted].
#include "dagsync/sync_state.h"

#include "encoding/msgpack_io.h"

namespace dagsync {

namespace {
constexpr std::uint32_t kFields = 2;
}  // namespace

Bytes SyncState::encode() const {
  Bytes out;
  MsgpackWriter w(out);
  w.array(kFields);
  w.uint(kVersion);
  w.id_array(shared_heads);
  return out;
}

SyncState SyncState::decode(ByteView bytes, std::size_t max_heads) {
  MsgpackReader r(bytes, "sync state");
  r.versioned_array(kVersion, kFields, kFields);
  SyncState s;
  r.sorted_ids<ChangeHash>("shared_heads", limit32(max_heads), s.shared_heads);
  r.expect_end();
  return s;
}

}  // namespace dagsync
