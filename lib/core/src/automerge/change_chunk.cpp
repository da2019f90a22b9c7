// Automerge change chunks (docs/automerge.md, "Change chunks"):
//   magic 85 6f 4a 83 | checksum (first 4 bytes of the hash) | type | uLEB body length | body
// with the change hash = SHA-256 over type, length and body. Type 1 is a change; type 2 is
// one whose body is raw DEFLATE of a type-1 body, checksummed as the type-1 chunk it inflates
// to. The body is validated field by field (deps, actor, seq, start_op, time, message, other
// actors, column metadata, column data, extra bytes) but the operations are not decoded:
// dagsync holds and relays them.
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "automerge/chunk_layout.h"
#include "automerge/leb128.h"
#include "dagsync/change.h"
#include "dagsync/error.h"
#include "encoding/utf8.h"

namespace dagsync {

namespace {
using automerge::LebReader;

constexpr std::uint8_t kMagic[4] = {0x85, 0x6f, 0x4a, 0x83};
constexpr std::uint8_t kDocumentChunk = 0x00;
constexpr std::uint8_t kChangeChunk = 0x01;
constexpr std::uint8_t kCompressedChunk = 0x02;
constexpr std::uint8_t kBundleChunk = 0x03;
constexpr std::uint32_t kDeflateBit = 0x08;
constexpr char kWhat[] = "automerge change";

// Raw DEFLATE (no zlib or gzip header). Refuses output beyond `limit` as soon as it is
// produced, and input that goes on after the stream ends.
Bytes inflate_raw(ByteView in, std::size_t limit) {
  auto fail = [](const std::string& why) {
    throw DecodeError(std::string(kWhat) + ": compressed body: " + why);
  };
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) throw Error("zlib: inflateInit2 failed");
  Bytes out;
  out.resize(std::min<std::size_t>(limit + 1, std::max<std::size_t>(in.size() * 4, 256)));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  std::size_t produced = 0;
  while (true) {
    if (produced == out.size()) {
      if (out.size() > limit) break;
      out.resize(std::min<std::size_t>(limit + 1, out.size() * 2));
    }
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(out.size() - produced);
    rc = inflate(&zs, Z_NO_FLUSH);
    produced = out.size() - zs.avail_out;
    if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR)) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ran out mid-stream
  }
  std::size_t left = zs.avail_in;
  inflateEnd(&zs);
  if (produced > limit) fail("inflates beyond the limit of " + std::to_string(limit) + " bytes");
  if (rc != Z_STREAM_END) fail(rc == Z_DATA_ERROR ? "invalid DEFLATE data" : "truncated DEFLATE");
  if (left != 0) fail(std::to_string(left) + " bytes after the end of the DEFLATE stream");
  out.resize(produced);
  return out;
}

// Validates a type-1 body; offsets in the result are relative to the body.
Change::AutomergeFields validate_body(ByteView body, const AutomergeLimits& limits) {
  Change::AutomergeFields f;
  LebReader r(body, kWhat);
  f.deps_count = r.count("deps", limits.max_deps);
  f.deps_at = r.position();
  ByteView deps = r.take("deps", f.deps_count * 32);
  for (std::size_t i = 1; i < f.deps_count; ++i) {
    if (std::memcmp(deps.data() + (i - 1) * 32, deps.data() + i * 32, 32) >= 0) {
      r.fail("deps", "not sorted and distinct");
    }
  }
  f.actor_len = r.count("actor", limits.max_actor_bytes);
  f.actor_at = r.position();
  r.take("actor", f.actor_len);
  f.seq = r.uleb("seq");
  if (f.seq == 0) r.fail("seq", "must be at least 1");
  std::uint64_t start_op = r.uleb("start_op");
  if (start_op == 0 || start_op > UINT32_MAX) r.fail("start_op", "must be in 1..2^32-1");
  f.time = r.sleb("time");
  f.message_len = r.count("message", limits.max_message_bytes);
  f.message_at = r.position();
  ByteView message = r.take("message", f.message_len);
  if (!is_valid_utf8({reinterpret_cast<const char*>(message.data()), message.size()})) {
    r.fail("message", "not valid UTF-8");
  }
  f.payload_at = r.position();
  std::size_t others = r.count("other actors", limits.max_other_actors);
  for (std::size_t i = 0; i < others; ++i) {
    r.take("other actors", r.count("other actors", limits.max_actor_bytes));
  }
  std::size_t columns = r.count("columns", limits.max_columns);
  std::uint64_t data = 0;
  std::uint32_t previous = 0;
  for (std::size_t i = 0; i < columns; ++i) {
    std::uint32_t spec = r.uleb32("column spec");
    if (spec & kDeflateBit) r.fail("column spec", "compressed column in a change");
    if (spec < previous) r.fail("column spec", "columns not in normalized order");
    previous = spec;
    std::uint64_t len = r.uleb("column length");
    if (len > body.size()) r.fail("column length", "exceeds the chunk");
    data += len;
  }
  if (data > r.remaining()) r.fail("column data", "column lengths exceed the chunk");
  // What follows the column data is reserved by Automerge; it is kept and hashed.
  return f;
}
}  // namespace

ActorId Change::automerge_actor_key(ByteView actor) {
  static constexpr char kTag[] = "dagsync automerge actor";
  Bytes input(kTag, kTag + sizeof kTag);  // with its NUL: no actor id can be mistaken for it
  input.insert(input.end(), actor.begin(), actor.end());
  ChangeHash h = sha256(input);
  return ActorId::from_bytes(h.view().first(ActorId::kSize));
}

Change Change::from_automerge(ByteView bytes, const AutomergeLimits& limits) {
  std::size_t used = 0;
  Change c = from_automerge_prefix(bytes, used, limits);
  if (used != bytes.size()) {
    throw DecodeError(std::string(kWhat) + ": " + std::to_string(bytes.size() - used) +
                      " bytes after the chunk");
  }
  return c;
}

Change Change::from_automerge_prefix(ByteView bytes, std::size_t& used,
                                     const AutomergeLimits& limits) {
  // The body is bounded by max_chunk_bytes and Body's 32-bit size.
  const std::size_t max_chunk = std::min<std::size_t>(limits.max_chunk_bytes, UINT32_MAX - 32);
  LebReader r(bytes, kWhat);
  ByteView magic = r.take("magic", 4);
  if (std::memcmp(magic.data(), kMagic, 4) != 0) r.fail("magic", "not an Automerge chunk");
  ByteView checksum = r.take("checksum", 4);
  std::uint8_t type = r.byte("chunk type");
  if (type == kDocumentChunk) r.fail("chunk type", "document chunks are not supported");
  if (type == kBundleChunk) r.fail("chunk type", "bundle chunks are not supported");
  if (type != kChangeChunk && type != kCompressedChunk) {
    r.fail("chunk type", "unknown chunk type " + std::to_string(type));
  }
  std::size_t body_len = r.count("length", max_chunk);
  std::size_t header_len = r.position();
  ByteView body = r.take("body", body_len);
  std::size_t end = r.position();

  Bytes rebuilt;  // the type-1 form of a compressed chunk
  ByteView chunk = bytes.first(end);
  if (type == kCompressedChunk) {
    Bytes inflated = inflate_raw(body, max_chunk);
    rebuilt.assign(kMagic, kMagic + 4);
    rebuilt.insert(rebuilt.end(), checksum.begin(), checksum.end());
    rebuilt.push_back(kChangeChunk);
    automerge::write_uleb(rebuilt, inflated.size());
    header_len = rebuilt.size();
    rebuilt.insert(rebuilt.end(), inflated.begin(), inflated.end());
    if (rebuilt.size() > max_chunk) r.fail("length", "inflated chunk exceeds the limit");
    chunk = rebuilt;
    body = ByteView(rebuilt).subspan(header_len);
  } else if (end > max_chunk) {
    r.fail("length", "chunk exceeds the limit");
  }
  ChangeHash hash = sha256(chunk.subspan(8));
  if (std::memcmp(hash.bytes.data(), checksum.data(), 4) != 0) {
    r.fail("checksum", "does not match the chunk's hash " + hash.hex());
  }
  AutomergeFields f = validate_body(body, limits);
  ActorId key = automerge_actor_key(body.subspan(f.actor_at, f.actor_len));
  used = end;
  return Change(Body::create(chunk, hash, key, ChangeFormat::kAutomerge));
}

Change::AutomergeFields Change::automerge_fields() const {
  // Validated on the way in: these reads cannot fail.
  ByteView chunk = bytes();
  LebReader r(chunk.subspan(9), kWhat);
  r.uleb("length");
  std::size_t body_at = 9 + r.position();
  LebReader b(chunk.subspan(body_at), kWhat);
  AutomergeFields f;
  f.deps_count = b.uleb("deps");
  f.deps_at = body_at + b.position();
  b.take("deps", f.deps_count * 32);
  f.actor_len = b.uleb("actor");
  f.actor_at = body_at + b.position();
  b.take("actor", f.actor_len);
  f.seq = b.uleb("seq");
  b.uleb("start_op");
  f.time = b.sleb("time");
  f.message_len = b.uleb("message");
  f.message_at = body_at + b.position();
  f.payload_at = f.message_at + f.message_len;
  return f;
}

ByteView Change::automerge_actor() const {
  if (format() != ChangeFormat::kAutomerge) return {};
  AutomergeFields f = automerge_fields();
  return bytes().subspan(f.actor_at, f.actor_len);
}

}  // namespace dagsync
