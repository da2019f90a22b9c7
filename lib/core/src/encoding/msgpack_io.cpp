#include "encoding/msgpack_io.h"

#include <msgpack.hpp>

namespace dagsync {
namespace {

// msgpack-c's packer writes to anything with write(const char*, size_t).
struct ByteSink {
  Bytes* out;
  void write(const char* data, std::size_t size) {
    out->insert(out->end(), reinterpret_cast<const std::uint8_t*>(data),
                reinterpret_cast<const std::uint8_t*>(data) + size);
  }
};

using Packer = msgpack::packer<ByteSink>;

}  // namespace

#define DAGSYNC_PACK(call) \
  do {                     \
    ByteSink sink{&out_};  \
    Packer packer(sink);   \
    packer.call;           \
  } while (0)

void MsgpackWriter::array(std::uint32_t n) {
  DAGSYNC_PACK(pack_array(n));
}
void MsgpackWriter::map(std::uint32_t n) {
  DAGSYNC_PACK(pack_map(n));
}
void MsgpackWriter::uint(std::uint64_t v) {
  DAGSYNC_PACK(pack_uint64(v));
}
void MsgpackWriter::sint(std::int64_t v) {
  DAGSYNC_PACK(pack_int64(v));
}
void MsgpackWriter::nil() {
  DAGSYNC_PACK(pack_nil());
}
void MsgpackWriter::boolean(bool v) {
  if (v) {
    DAGSYNC_PACK(pack_true());
  } else {
    DAGSYNC_PACK(pack_false());
  }
}
void MsgpackWriter::str(std::string_view s) {
  DAGSYNC_PACK(pack_str(static_cast<std::uint32_t>(s.size())));
  DAGSYNC_PACK(pack_str_body(s.data(), static_cast<std::uint32_t>(s.size())));
}
void MsgpackWriter::bin_header(std::uint32_t n) {
  DAGSYNC_PACK(pack_bin(n));
}
void MsgpackWriter::bin(ByteView b) {
  DAGSYNC_PACK(pack_bin(static_cast<std::uint32_t>(b.size())));
  DAGSYNC_PACK(
      pack_bin_body(reinterpret_cast<const char*>(b.data()), static_cast<std::uint32_t>(b.size())));
}

#undef DAGSYNC_PACK

void MsgpackReader::fail(std::string_view field, const std::string& problem) const {
  fail_at(pos_, field, problem);
}

void MsgpackReader::fail_at(std::size_t at, std::string_view field,
                            const std::string& problem) const {
  throw DecodeError(what_ + ": " + std::string(field) + ": " + problem + " (at byte " +
                    std::to_string(at) + ")");
}

std::uint8_t MsgpackReader::peek(std::string_view field) const {
  if (pos_ >= in_.size()) fail(field, "truncated");
  return in_[pos_];
}

ByteView MsgpackReader::take(std::string_view field, std::size_t n) {
  if (n > remaining()) {
    fail(field, "truncated: needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) +
                    " left");
  }
  ByteView out = in_.subspan(pos_, n);
  pos_ += n;
  return out;
}

std::uint64_t MsgpackReader::read_be(std::string_view field, std::size_t n) {
  ByteView b = take(field, n);
  std::uint64_t v = 0;
  for (std::uint8_t byte : b) v = (v << 8) | byte;
  return v;
}

std::uint32_t MsgpackReader::length(std::string_view field, std::uint8_t tag, std::uint8_t fix_base,
                                    std::uint8_t fix_mask, std::uint8_t t8, std::uint8_t t16,
                                    std::uint8_t t32, const char* kind) {
  std::uint64_t n;
  std::uint64_t min;
  if (fix_mask != 0 && (tag & static_cast<std::uint8_t>(~fix_mask)) == fix_base) {
    ++pos_;
    return tag & fix_mask;
  } else if (t8 != 0 && tag == t8) {
    ++pos_;
    n = read_be(field, 1);
    min = fix_mask == 0 ? 0 : std::uint64_t(fix_mask) + 1;
  } else if (tag == t16) {
    ++pos_;
    n = read_be(field, 2);
    min = t8 != 0 ? 0x100 : std::uint64_t(fix_mask) + 1;
  } else if (tag == t32) {
    ++pos_;
    n = read_be(field, 4);
    min = 0x10000;
  } else {
    fail(field, std::string("expected ") + kind);
  }
  if (n < min) fail(field, std::string("non-canonical ") + kind + " length");
  return static_cast<std::uint32_t>(n);
}

std::uint32_t MsgpackReader::array(std::string_view field, std::uint32_t max) {
  std::uint32_t n = length(field, peek(field), 0x90, 0x0f, 0, 0xdc, 0xdd, "array");
  if (n > max)
    fail(field, "array of " + std::to_string(n) + " exceeds limit " + std::to_string(max));
  // Every element takes at least one byte: reject counts the bytes cannot hold up front.
  if (n > remaining())
    fail(field, "array claims " + std::to_string(n) + " elements, " + std::to_string(remaining()) +
                    " bytes left");
  return n;
}

std::uint32_t MsgpackReader::map(std::string_view field, std::uint32_t max) {
  std::uint32_t n = length(field, peek(field), 0x80, 0x0f, 0, 0xde, 0xdf, "map");
  if (n > max) fail(field, "map of " + std::to_string(n) + " exceeds limit " + std::to_string(max));
  if (std::uint64_t(n) * 2 > remaining())
    fail(field, "map claims " + std::to_string(n) + " entries, " + std::to_string(remaining()) +
                    " bytes left");
  return n;
}

std::uint64_t MsgpackReader::uint(std::string_view field) {
  std::uint8_t tag = peek(field);
  if (tag <= 0x7f) {
    ++pos_;
    return tag;
  }
  std::size_t width;
  std::uint64_t min;
  switch (tag) {
    case 0xcc:
      width = 1;
      min = 0x80;
      break;
    case 0xcd:
      width = 2;
      min = 0x100;
      break;
    case 0xce:
      width = 4;
      min = 0x10000;
      break;
    case 0xcf:
      width = 8;
      min = 0x100000000ULL;
      break;
    default:
      fail(field, "expected an unsigned integer");
  }
  ++pos_;
  std::uint64_t v = read_be(field, width);
  if (v < min) fail(field, "non-canonical integer");
  return v;
}

std::uint32_t MsgpackReader::uint32(std::string_view field) {
  std::uint64_t v = uint(field);
  if (v > 0xffffffffULL) fail(field, "integer out of range");
  return static_cast<std::uint32_t>(v);
}

std::int64_t MsgpackReader::sint(std::string_view field) {
  std::uint8_t tag = peek(field);
  if (tag <= 0x7f || (tag >= 0xcc && tag <= 0xcf)) {
    std::uint64_t v = uint(field);
    if (v > static_cast<std::uint64_t>(INT64_MAX)) fail(field, "integer out of range");
    return static_cast<std::int64_t>(v);
  }
  if (tag >= 0xe0) {
    ++pos_;
    return static_cast<std::int8_t>(tag);
  }
  std::size_t width;
  std::int64_t max;  // the value must be below this, or a shorter form exists
  switch (tag) {
    case 0xd0:
      width = 1;
      max = -32;
      break;
    case 0xd1:
      width = 2;
      max = -128;
      break;
    case 0xd2:
      width = 4;
      max = -32768;
      break;
    case 0xd3:
      width = 8;
      max = -2147483648LL;
      break;
    default:
      fail(field, "expected an integer");
  }
  ++pos_;
  std::uint64_t raw = read_be(field, width);
  std::int64_t v;
  switch (width) {
    case 1:
      v = static_cast<std::int8_t>(raw);
      break;
    case 2:
      v = static_cast<std::int16_t>(raw);
      break;
    case 4:
      v = static_cast<std::int32_t>(raw);
      break;
    default:
      v = static_cast<std::int64_t>(raw);
      break;
  }
  if (v >= max) fail(field, "non-canonical integer");
  return v;
}

bool MsgpackReader::is_nil() {
  return pos_ < in_.size() && in_[pos_] == 0xc0;
}

void MsgpackReader::nil(std::string_view field) {
  if (peek(field) != 0xc0) fail(field, "expected nil");
  ++pos_;
}

std::string_view MsgpackReader::str(std::string_view field, std::size_t max) {
  std::uint32_t n = length(field, peek(field), 0xa0, 0x1f, 0xd9, 0xda, 0xdb, "string");
  if (n > max)
    fail(field, "string of " + std::to_string(n) + " bytes exceeds limit " + std::to_string(max));
  ByteView b = take(field, n);
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

ByteView MsgpackReader::bin(std::string_view field, std::size_t max) {
  std::uint32_t n = length(field, peek(field), 0, 0, 0xc4, 0xc5, 0xc6, "binary");
  if (n > max)
    fail(field, "binary of " + std::to_string(n) + " bytes exceeds limit " + std::to_string(max));
  return take(field, n);
}

std::uint32_t MsgpackReader::versioned_array(std::uint64_t version, std::uint32_t min_fields,
                                             std::uint32_t max_fields,
                                             std::string_view version_name) {
  std::uint32_t n = array("fields", max_fields);
  const std::size_t count_at = pos_;
  auto wrong_count = [&] {
    std::string expected = std::to_string(min_fields);
    if (min_fields != max_fields) expected += " to " + std::to_string(max_fields);
    fail_at(count_at, "fields", "expected " + expected + " fields");
  };
  // An empty array has no version to read: whatever follows it is not part of this value.
  if (n == 0) wrong_count();
  std::uint64_t v = uint("version");
  if (v != version) {
    fail("version", "unsupported " + std::string(version_name) + " " + std::to_string(v));
  }
  if (n < min_fields) wrong_count();
  return n;
}

void MsgpackReader::expect_end() {
  if (remaining() != 0) fail("end", std::to_string(remaining()) + " trailing bytes");
}

}  // namespace dagsync
