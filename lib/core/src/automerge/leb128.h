// Automerge's LEB128 integers and a bounds-checked cursor over hostile bytes.
//
// Readers follow Automerge's rules: at most 10 bytes, the value must fit 64 bits, and an
// overlong encoding (a multi-byte form whose last byte adds nothing) is refused, so every
// value has exactly one encoding and hashes over it are stable. Every failure throws
// DecodeError "<what>: <field>: <reason>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dagsync/bytes.h"
#include "dagsync/error.h"

namespace dagsync::automerge {

class LebReader {
 public:
  LebReader(ByteView bytes, std::string_view what) : bytes_(bytes), what_(what) {}

  [[noreturn]] void fail(std::string_view field, std::string_view reason) const {
    throw DecodeError(std::string(what_) + ": " + std::string(field) + ": " + std::string(reason));
  }

  std::size_t position() const { return at_; }
  std::size_t remaining() const { return bytes_.size() - at_; }
  bool at_end() const { return at_ == bytes_.size(); }

  std::uint64_t uleb(std::string_view field) {
    std::uint64_t value = 0;
    for (int i = 0; i < 10; ++i) {
      if (at_ >= bytes_.size()) fail(field, "truncated LEB128");
      std::uint8_t b = bytes_[at_++];
      if (i == 9 && b > 1) fail(field, "LEB128 value exceeds 64 bits");
      value |= std::uint64_t(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        if (i > 0 && b == 0) fail(field, "non-minimal LEB128");
        return value;
      }
    }
    fail(field, "LEB128 longer than 10 bytes");
  }

  std::uint32_t uleb32(std::string_view field) {
    std::uint64_t v = uleb(field);
    if (v > UINT32_MAX) fail(field, "value exceeds 32 bits");
    return static_cast<std::uint32_t>(v);
  }

  // A count or length, refused above `limit` before anything is allocated for it.
  std::size_t count(std::string_view field, std::size_t limit) {
    std::uint64_t v = uleb(field);
    if (v > limit) fail(field, std::to_string(v) + " exceeds limit " + std::to_string(limit));
    return static_cast<std::size_t>(v);
  }

  std::int64_t sleb(std::string_view field) {
    std::uint64_t value = 0;
    int shift = 0;
    for (int i = 0; i < 10; ++i) {
      if (at_ >= bytes_.size()) fail(field, "truncated LEB128");
      std::uint8_t b = bytes_[at_++];
      if (i == 9 && b != 0x00 && b != 0x7f) fail(field, "LEB128 value exceeds 64 bits");
      value |= std::uint64_t(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) {
        if (i > 0) {
          std::uint8_t prev = bytes_[at_ - 2];
          if ((b == 0x00 && (prev & 0x40) == 0) || (b == 0x7f && (prev & 0x40) != 0)) {
            fail(field, "non-minimal LEB128");
          }
        }
        if (shift < 64 && (b & 0x40)) value |= ~std::uint64_t(0) << shift;
        return static_cast<std::int64_t>(value);
      }
    }
    fail(field, "LEB128 longer than 10 bytes");
  }

  ByteView take(std::string_view field, std::uint64_t n) {
    if (n > remaining()) fail(field, "truncated (" + std::to_string(n) + " bytes declared)");
    ByteView v = bytes_.subspan(at_, static_cast<std::size_t>(n));
    at_ += v.size();
    return v;
  }

  std::uint8_t byte(std::string_view field) { return take(field, 1)[0]; }

 private:
  ByteView bytes_;
  std::string_view what_;
  std::size_t at_ = 0;
};

inline void write_uleb(Bytes& out, std::uint64_t v) {
  do {
    std::uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(b);
  } while (v);
}

inline void write_sleb(Bytes& out, std::int64_t v) {
  while (true) {
    std::uint8_t b = v & 0x7f;
    v >>= 7;  // arithmetic shift
    bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
    if (!done) b |= 0x80;
    out.push_back(b);
    if (done) return;
  }
}

}  // namespace dagsync::automerge
