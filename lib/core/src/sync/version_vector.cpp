// Encoding: msgpack array [version=1, [[actor: bin16, seq: uint>=1]...] sorted by actor].
#include "dagsync/version_vector.h"

#include "encoding/msgpack_io.h"

namespace dagsync {

namespace {
constexpr std::uint64_t kVersionVectorVersion = 1;
constexpr std::uint32_t kVersionVectorFields = 2;
}  // namespace

std::uint64_t VersionVector::get(const ActorId& actor) const {
  auto it = entries_.find(actor);
  return it == entries_.end() ? 0 : it->second;
}

void VersionVector::set(const ActorId& actor, std::uint64_t seq) {
  if (seq == 0) {
    entries_.erase(actor);
  } else {
    entries_[actor] = seq;
  }
}

bool VersionVector::includes(const VersionVector& other) const {
  for (const auto& [actor, seq] : other.entries_) {
    if (get(actor) < seq) return false;
  }
  return true;
}

Bytes VersionVector::encode() const {
  Bytes out;
  MsgpackWriter w(out);
  w.array(kVersionVectorFields);
  w.uint(kVersionVectorVersion);
  w.array(static_cast<std::uint32_t>(entries_.size()));
  for (const auto& [actor, seq] : entries_) {
    w.array(2);
    w.id(actor);
    w.uint(seq);
  }
  return out;
}

VersionVector VersionVector::decode(ByteView bytes, std::size_t max_entries) {
  MsgpackReader r(bytes, "version vector");
  r.versioned_array(kVersionVectorVersion, kVersionVectorFields, kVersionVectorFields);
  std::uint32_t n = r.array("entries", limit32(max_entries));
  VersionVector vv;
  const ActorId* previous = nullptr;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (r.array("entry", 2) != 2) r.fail("entry", "expected [actor, seq]");
    ActorId actor = r.id<ActorId>("entry.actor");
    std::uint64_t seq = r.uint("entry.seq");
    if (seq == 0) r.fail("entry.seq", "must be at least 1");
    if (previous && !(*previous < actor)) r.fail("entry.actor", "not sorted and distinct");
    auto it = vv.entries_.emplace_hint(vv.entries_.end(), actor, seq);
    previous = &it->first;
  }
  r.expect_end();
  return vv;
}

}  // namespace dagsync
