// Change encoding: msgpack array
//   [version=1, actor: bin16, seq: uint>=1, deps: [bin32...] sorted distinct,
//    timestamp_ms: int|nil, message: str|nil, payload: bin]
// The payload comes last so that Change can expose it as the tail of the encoding.
//
// A Change keeps only its encoding (plus hash and actor); the other fields are read back from
// it on access. Every encoding a Change holds was produced by build() or accepted by decode(),
// so it is canonical and the readers below need no bounds checks: each form has one length.
#include "dagsync/change.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "automerge/chunk_layout.h"
#include "encoding/hash_list.h"
#include "encoding/msgpack_io.h"
#include "encoding/utf8.h"

namespace dagsync {

namespace {
constexpr std::uint64_t kChangeVersion = 1;
constexpr std::uint32_t kChangeFields = 7;
// fixarray tag, version, bin8 tag and length, 16 actor bytes: seq always starts here.
constexpr std::size_t kSeqAt = 4 + ActorId::kSize;

std::uint64_t read_be(const std::uint8_t* p, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | p[i];
  return v;
}

// Width of the big-endian value after a uint (0xcc..0xcf) or int (0xd0..0xd3) tag.
std::size_t int_width(std::uint8_t tag) {
  return std::size_t{1} << (tag & 0x03);
}

// Encoded size of an int, uint or nil.
std::size_t scalar_size(std::uint8_t tag) {
  if (tag <= 0x7f || tag >= 0xe0 || tag == 0xc0) return 1;
  return 1 + int_width(tag);
}

// A str or bin header: where the body starts and how long it is.
struct Span {
  std::size_t header;
  std::size_t length;
};
Span str_or_bin(const std::uint8_t* p) {
  std::uint8_t tag = p[0];
  if ((tag & 0xe0) == 0xa0) return {1, std::size_t(tag & 0x1f)};
  switch (tag) {
    case 0xc4:
    case 0xd9:
      return {2, p[1]};
    case 0xc5:
    case 0xda:
      return {3, read_be(p + 1, 2)};
    default:  // 0xc6, 0xdb
      return {5, read_be(p + 1, 4)};
  }
}

// The deps array header: element count and header size.
Span array_header(const std::uint8_t* p) {
  std::uint8_t tag = p[0];
  if ((tag & 0xf0) == 0x90) return {1, std::size_t(tag & 0x0f)};
  if (tag == 0xdc) return {3, read_be(p + 1, 2)};
  return {5, read_be(p + 1, 4)};  // 0xdd
}

void check_size(std::size_t size, const ChangeLimits& limits) {
  // The body records its size in 32 bits; msgpack itself cannot frame more.
  check_input_size("change", size, std::min<std::size_t>(limits.max_change_bytes, UINT32_MAX));
}
}  // namespace

Change::Body* Change::Body::create(ByteView bytes, const ChangeHash& hash, const ActorId& actor,
                                   ChangeFormat format) {
  void* memory = ::operator new(sizeof(Body) + bytes.size());
  Body* body = new (memory) Body;
  body->size = static_cast<std::uint32_t>(bytes.size());
  body->hash = hash;
  body->actor = actor;
  body->format = static_cast<std::uint8_t>(format);
  if (!bytes.empty()) std::memcpy(body->data(), bytes.data(), bytes.size());
  return body;
}

void Change::Body::destroy(Body* body) {
  body->~Body();
  ::operator delete(body);
}

std::uint64_t Change::seq() const {
  if (format() == ChangeFormat::kAutomerge) return automerge_fields().seq;
  const std::uint8_t* p = body_->data() + kSeqAt;
  return p[0] <= 0x7f ? p[0] : read_be(p + 1, int_width(p[0]));
}

std::size_t Change::deps_at() const {
  return kSeqAt + scalar_size(body_->data()[kSeqAt]);
}

std::size_t Change::after_deps() const {
  std::size_t at = deps_at();
  Span deps = array_header(body_->data() + at);
  return at + deps.header + deps.length * DepsView::kStride;
}

DepsView Change::deps() const {
  if (format() == ChangeFormat::kAutomerge) {
    AutomergeFields f = automerge_fields();
    return DepsView::packed(body_->data() + f.deps_at, f.deps_count);
  }
  std::size_t at = deps_at();
  Span deps = array_header(body_->data() + at);
  return DepsView(body_->data() + at + deps.header, deps.length);
}

std::optional<std::int64_t> Change::timestamp_ms() const {
  if (format() == ChangeFormat::kAutomerge) {
    std::int64_t seconds = automerge_fields().time;
    constexpr std::int64_t kMax = INT64_MAX / 1000;
    if (seconds == 0 || seconds > kMax || seconds < -kMax) return std::nullopt;
    return seconds * 1000;
  }
  const std::uint8_t* p = body_->data() + after_deps();
  std::uint8_t tag = p[0];
  if (tag == 0xc0) return std::nullopt;
  if (tag <= 0x7f) return tag;
  if (tag >= 0xe0) return static_cast<std::int8_t>(tag);
  std::size_t width = int_width(tag);
  std::uint64_t raw = read_be(p + 1, width);
  if (tag <= 0xcf) return static_cast<std::int64_t>(raw);  // decode() bounds it by INT64_MAX
  // Sign-extend a negative value of `width` bytes.
  std::size_t shift = 64 - 8 * width;
  return static_cast<std::int64_t>(raw << shift) >> shift;
}

std::size_t Change::message_at() const {
  std::size_t at = after_deps();
  return at + scalar_size(body_->data()[at]);
}

std::optional<std::string> Change::message() const {
  if (format() == ChangeFormat::kAutomerge) {
    AutomergeFields f = automerge_fields();
    if (f.message_len == 0) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(body_->data() + f.message_at), f.message_len);
  }
  const std::uint8_t* p = body_->data() + message_at();
  if (p[0] == 0xc0) return std::nullopt;
  Span s = str_or_bin(p);
  return std::string(reinterpret_cast<const char*>(p + s.header), s.length);
}

ByteView Change::payload() const {
  if (format() == ChangeFormat::kAutomerge) return bytes().subspan(automerge_fields().payload_at);
  const std::uint8_t* data = body_->data();
  std::size_t at = message_at();
  if (data[at] == 0xc0) {
    ++at;
  } else {
    Span m = str_or_bin(data + at);
    at += m.header + m.length;
  }
  return bytes().subspan(at + str_or_bin(data + at).header);
}

Change Change::build(ChangeFields fields, const ChangeLimits& limits) {
  make_sorted_unique(fields.deps);
  if (fields.seq == 0) throw DecodeError("change: seq must be at least 1");
  if (fields.deps.size() > limits.max_deps) {
    throw DecodeError("change: " + std::to_string(fields.deps.size()) + " deps exceed limit " +
                      std::to_string(limits.max_deps));
  }
  if (fields.message) {
    if (fields.message->size() > limits.max_message_chars) {
      throw DecodeError("change: message exceeds limit " +
                        std::to_string(limits.max_message_chars));
    }
    if (!is_valid_utf8(*fields.message)) throw DecodeError("change: message is not valid UTF-8");
  }

  Bytes out;
  out.reserve(64 + fields.deps.size() * DepsView::kStride + fields.payload.size() +
              (fields.message ? fields.message->size() : 0));
  MsgpackWriter w(out);
  w.array(kChangeFields);
  w.uint(kChangeVersion);
  w.id(fields.actor);
  w.uint(fields.seq);
  w.id_array(fields.deps);
  if (fields.timestamp_ms) {
    w.sint(*fields.timestamp_ms);
  } else {
    w.nil();
  }
  if (fields.message) {
    w.str(*fields.message);
  } else {
    w.nil();
  }
  w.bin(fields.payload);
  check_size(out.size(), limits);
  return Change(Body::create(out, sha256(out), fields.actor));
}

Change Change::decode(ByteView bytes, const ChangeLimits& limits) {
  check_size(bytes.size(), limits);
  std::size_t used = 0;
  return parse(bytes, used, limits, true);
}

Change Change::decode_prefix(ByteView bytes, std::size_t& used, const ChangeLimits& limits) {
  return parse(bytes, used, limits, false);
}

Change Change::parse(ByteView bytes, std::size_t& used, const ChangeLimits& limits, bool whole) {
  // Parsing allocates nothing, so the size limit can wait until the end is known.
  MsgpackReader r(bytes, "change");
  r.versioned_array(kChangeVersion, kChangeFields, kChangeFields);
  ActorId actor = r.id<ActorId>("actor");
  if (r.uint("seq") == 0) r.fail("seq", "must be at least 1");
  // Deps stay in the encoding; only their order is checked here.
  std::uint32_t deps = r.array("deps", limit32(limits.max_deps));
  const std::uint8_t* previous = nullptr;
  for (std::uint32_t i = 0; i < deps; ++i) {
    ByteView h = r.bin("deps", ChangeHash::kSize);
    if (h.size() != ChangeHash::kSize) {
      r.fail("deps", "expected " + std::to_string(ChangeHash::kSize) + " bytes");
    }
    if (previous && std::memcmp(previous, h.data(), ChangeHash::kSize) >= 0) {
      r.fail("deps", "not sorted and distinct");
    }
    previous = h.data();
  }
  if (r.is_nil()) {
    r.nil("timestamp");
  } else {
    r.sint("timestamp");
  }
  if (r.is_nil()) {
    r.nil("message");
  } else {
    std::string_view m = r.str("message", limits.max_message_chars);
    if (!is_valid_utf8(m)) r.fail("message", "not valid UTF-8");
  }
  r.bin("payload", limits.max_change_bytes);
  if (whole) r.expect_end();
  used = r.position();
  check_size(used, limits);
  ByteView own = bytes.first(used);
  return Change(Body::create(own, sha256(own), actor));
}

Change Change::decode_verified(ByteView bytes, const ChangeHash& expected,
                               const ChangeLimits& limits) {
  Change c = decode(bytes, limits);
  if (c.hash() != expected) {
    throw GraphError("change: hash mismatch: bytes hash to " + c.hash().hex() + ", expected " +
                     expected.hex());
  }
  return c;
}

Change Change::from_automerge_verified(ByteView bytes, const ChangeHash& expected,
                                       const AutomergeLimits& limits) {
  Change c = from_automerge(bytes, limits);
  if (c.hash() != expected) {
    throw GraphError("Automerge change: hash mismatch: chunk hashes to " + c.hash().hex() +
                     ", expected " + expected.hex());
  }
  return c;
}

}  // namespace dagsync
