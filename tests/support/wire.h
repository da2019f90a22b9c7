// Test helpers for hand-made wire bytes: msgpack written by the library's own writer, and a
// sync message whose one filter has raw fields (for hostile-input tests).
#pragma once

#include <cstdint>

#include "dagsync/bytes.h"
#include "encoding/msgpack_io.h"

namespace dagsync::test {

template <typename F>
Bytes pack(F&& fn) {
  Bytes out;
  MsgpackWriter w(out);
  fn(w);
  return out;
}

// [3, heads, need, [[last_sync, [entries, bits_per_entry, probes, <bits_field>]]], changes,
// nil, 0, 0] with everything empty but the filter; `bits_field` is spliced in as encoded.
inline Bytes message_with_bloom_field(std::uint64_t entries, std::uint64_t bits_per_entry,
                                      std::uint64_t probes, ByteView bits_field) {
  Bytes out = pack([&](MsgpackWriter& w) {
    w.array(8);
    w.uint(3);
    w.bin({});
    w.bin({});
    w.array(1);
    w.array(2);
    w.bin({});
    w.array(4);
    w.uint(entries);
    w.uint(bits_per_entry);
    w.uint(probes);
  });
  out.insert(out.end(), bits_field.begin(), bits_field.end());
  out.insert(out.end(), {0xc4, 0x00, 0xc0, 0x00, 0x00});  // no changes, summary, flags, received
  return out;
}

}  // namespace dagsync::test
