// Byte builders for the codec tests (tests/core/encoding/): deterministic hashes, and the
// pieces hand-made encodings are put together from.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "dagsync/core.h"
#include "wire.h"

namespace dagsync::test {

// A deterministic hash, distinct per n.
inline ChangeHash hash_n(int n) {
  return sha256(as_bytes("encoding test hash " + std::to_string(n)));
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes repeat(std::size_t n, std::uint8_t byte = 'x') {
  return Bytes(n, byte);
}

// A hash list as sync messages carry it: one bin of 32-byte hashes.
inline Bytes hash_bin(const std::vector<ChangeHash>& hashes) {
  Bytes packed;
  for (const auto& h : hashes) packed.insert(packed.end(), h.bytes.begin(), h.bytes.end());
  return pack([&](MsgpackWriter& w) { w.bin(packed); });
}

// A hash list as changes and sync states carry it: an array of 32-byte bins.
inline Bytes hash_array(const std::vector<ChangeHash>& hashes) {
  return pack([&](MsgpackWriter& w) {
    w.array(static_cast<std::uint32_t>(hashes.size()));
    for (const auto& h : hashes) w.id(h);
  });
}

}  // namespace dagsync::test
