// Change encoding: msgpack array
//   [version=1, actor: bin16, seq: uint>=1, deps: [bin32...] sorted distinct,
//    timestamp_ms: int|nil, message: str|nil, payload: bin]
// The payload comes last so that Change can expose it as the tail of the encoding.
#include "dagsync/change.h"

#include <algorithm>

#include "msgpack_io.h"
#include "utf8.h"

namespace dagsync {

namespace {
constexpr std::uint64_t kChangeVersion = 1;
constexpr std::uint32_t kChangeFields = 7;
}  // namespace

class ChangeCodec {
 public:
  static Change make(std::shared_ptr<const Change::Body> body) { return Change(std::move(body)); }
};

Change Change::build(ChangeFields fields, const ChangeLimits& limits) {
  std::sort(fields.deps.begin(), fields.deps.end());
  fields.deps.erase(std::unique(fields.deps.begin(), fields.deps.end()), fields.deps.end());
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

  auto body = std::make_shared<Body>();
  Bytes& out = body->bytes;
  out.reserve(64 + fields.deps.size() * 34 + fields.payload.size() +
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
  body->payload_offset = out.size() - fields.payload.size();
  if (out.size() > limits.max_change_bytes) {
    throw DecodeError("change: " + std::to_string(out.size()) + " bytes exceed limit " +
                      std::to_string(limits.max_change_bytes));
  }
  body->hash = sha256(out);
  body->actor = fields.actor;
  body->seq = fields.seq;
  body->deps = std::move(fields.deps);
  body->timestamp_ms = fields.timestamp_ms;
  body->message = std::move(fields.message);
  return ChangeCodec::make(std::move(body));
}

Change Change::decode(ByteView bytes, const ChangeLimits& limits) {
  if (bytes.size() > limits.max_change_bytes) {
    throw DecodeError("change: " + std::to_string(bytes.size()) + " bytes exceed limit " +
                      std::to_string(limits.max_change_bytes));
  }
  auto body = std::make_shared<Body>();
  MsgpackReader r(bytes, "change");
  if (r.array("fields", kChangeFields) != kChangeFields) {
    r.fail("fields", "expected " + std::to_string(kChangeFields) + " fields");
  }
  std::uint64_t version = r.uint("version");
  if (version != kChangeVersion) {
    r.fail("version", "unsupported version " + std::to_string(version));
  }
  body->actor = r.id<ActorId>("actor");
  body->seq = r.uint("seq");
  if (body->seq == 0) r.fail("seq", "must be at least 1");
  r.sorted_ids<ChangeHash>("deps", limit32(limits.max_deps), body->deps);
  if (r.is_nil()) {
    r.nil("timestamp");
  } else {
    body->timestamp_ms = r.sint("timestamp");
  }
  if (r.is_nil()) {
    r.nil("message");
  } else {
    std::string_view m = r.str("message", limits.max_message_chars);
    if (!is_valid_utf8(m)) r.fail("message", "not valid UTF-8");
    body->message = std::string(m);
  }
  ByteView payload = r.bin("payload", limits.max_change_bytes);
  r.expect_end();
  body->payload_offset = bytes.size() - payload.size();
  body->bytes.assign(bytes.begin(), bytes.end());
  body->hash = sha256(bytes);
  return ChangeCodec::make(std::move(body));
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

}  // namespace dagsync
