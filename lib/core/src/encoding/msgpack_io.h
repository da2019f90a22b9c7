// Internal msgpack helpers shared by every codec.
//
// MsgpackWriter wraps msgpack-c's packer, which always picks the shortest form. MsgpackReader
// is a strict, bounds-checked cursor over untrusted bytes: it accepts only the shortest
// form of each value (so every value has exactly one encoding, which is what makes change
// hashes well defined), checks each length against the bytes left before allocating, and
// names the field being read in every error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dagsync/bytes.h"
#include "dagsync/error.h"
#include "dagsync/ids.h"

namespace dagsync {

// A configured limit as a 32-bit count (msgpack lengths are 32-bit): larger means unlimited.
inline std::uint32_t limit32(std::size_t v) {
  return v > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(v);
}

// Refuses input over `limit` bytes before anything is read: "<what>: N bytes exceed limit L".
inline void check_input_size(std::string_view what, std::size_t size, std::size_t limit) {
  if (size > limit) {
    throw DecodeError(std::string(what) + ": " + std::to_string(size) + " bytes exceed limit " +
                      std::to_string(limit));
  }
}

class MsgpackWriter {
 public:
  explicit MsgpackWriter(Bytes& out) : out_(out) {}
  void array(std::uint32_t n);
  void map(std::uint32_t n);
  void uint(std::uint64_t v);
  void sint(std::int64_t v);
  void nil();
  void boolean(bool v);
  void str(std::string_view s);
  void bin(ByteView b);
  // The header of a bin of `n` bytes, for a body the caller appends itself.
  void bin_header(std::uint32_t n);
  template <typename Id>
  void id(const Id& id) {
    bin(id.view());
  }
  template <typename Range>
  void id_array(const Range& ids) {
    array(static_cast<std::uint32_t>(ids.size()));
    for (const auto& h : ids) id(h);
  }

 private:
  Bytes& out_;
};

class MsgpackReader {
 public:
  explicit MsgpackReader(ByteView in, std::string_view what) : in_(in), what_(what) {}

  // Each reader takes the name of the field for error messages.
  std::uint32_t array(std::string_view field, std::uint32_t max);
  std::uint32_t map(std::string_view field, std::uint32_t max);
  std::uint64_t uint(std::string_view field);
  std::uint32_t uint32(std::string_view field);
  std::int64_t sint(std::string_view field);
  bool is_nil();  // peeks
  void nil(std::string_view field);
  std::string_view str(std::string_view field, std::size_t max);
  ByteView bin(std::string_view field, std::size_t max);
  template <typename Id>
  Id id(std::string_view field) {
    ByteView b = bin(field, Id::kSize);
    if (b.size() != Id::kSize) fail(field, "expected " + std::to_string(Id::kSize) + " bytes");
    Id out;
    std::copy(b.begin(), b.end(), out.bytes.begin());
    return out;
  }
  // Sorted, distinct ids (the canonical form of every hash list).
  template <typename Id, typename Out>
  void sorted_ids(std::string_view field, std::uint32_t max, Out& out) {
    std::uint32_t n = array(field, max);
    out.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      Id h = id<Id>(field);
      if (!out.empty() && !(out.back() < h)) fail(field, "not sorted and distinct");
      out.push_back(h);
    }
  }

  // Reads the outer array of a versioned format, [version, ...], and returns its element
  // count. Every top-level format opens this way, so one function makes them fail alike:
  // more than `max_fields` elements fails first (array() refuses it before anything is
  // read), then the version, then fewer than `min_fields` elements. The version goes before
  // the count because a format's version decides its layout: a message of another version is
  // reported as that, not as a wrong number of fields. A count error names the offset of the
  // count. The version error reads "unsupported <version_name> N" (the session envelope
  // calls its version "envelope version").
  std::uint32_t versioned_array(std::uint64_t version, std::uint32_t min_fields,
                                std::uint32_t max_fields,
                                std::string_view version_name = "version");

  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }
  void expect_end();
  [[noreturn]] void fail(std::string_view field, const std::string& problem) const;

 private:
  [[noreturn]] void fail_at(std::size_t at, std::string_view field,
                            const std::string& problem) const;
  std::uint8_t peek(std::string_view field) const;
  ByteView take(std::string_view field, std::size_t n);
  std::uint64_t read_be(std::string_view field, std::size_t n);
  std::uint32_t length(std::string_view field, std::uint8_t tag, std::uint8_t fix_base,
                       std::uint8_t fix_mask, std::uint8_t t8, std::uint8_t t16, std::uint8_t t32,
                       const char* kind);

  ByteView in_;
  std::size_t pos_ = 0;
  std::string what_;
};

}  // namespace dagsync
