#include "envelope.h"

#include "dagsync/error.h"

#include "encoding/msgpack_io.h"
#include "encoding/utf8.h"

namespace dagsync {

const char* to_string(Envelope::Type type) {
  switch (type) {
    case Envelope::Type::kHello:
      return "hello";
    case Envelope::Type::kSync:
      return "sync";
    case Envelope::Type::kRequest:
      return "request";
    case Envelope::Type::kUnavailable:
      return "unavailable";
    case Envelope::Type::kError:
      return "error";
    case Envelope::Type::kHeartbeat:
      return "heartbeat";
    case Envelope::Type::kReadOnly:
      return "read-only";
    case Envelope::Type::kEphemeral:
      return "ephemeral";
    case Envelope::Type::kGoodbye:
      return "goodbye";
  }
  return "unknown";
}

Bytes Envelope::take_frame() {
  if (type != Type::kSync) return encode();
  Bytes head;
  MsgpackWriter w(head);
  w.array(5);
  w.uint(kVersion);
  w.uint(static_cast<std::uint64_t>(type));
  w.uint(seq);
  w.str(doc_id);
  w.bin_header(static_cast<std::uint32_t>(payload.size()));
  Bytes frame = std::move(payload);
  payload.clear();
  frame.insert(frame.begin(), head.begin(), head.end());
  return frame;
}

Bytes Envelope::encode() const {
  Bytes out;
  out.reserve(32 + doc_id.size() + payload.size());
  MsgpackWriter w(out);
  auto header = [&](std::uint32_t fields) {
    w.array(3 + fields);
    w.uint(kVersion);
    w.uint(static_cast<std::uint64_t>(type));
    w.uint(seq);
  };
  switch (type) {
    case Type::kHello:
      header(token.empty() ? 3 : 4);
      w.uint(protocol_version);
      w.str(peer_id);
      w.array(static_cast<std::uint32_t>(capabilities.size()));
      for (const auto& c : capabilities) w.str(c);
      if (!token.empty()) w.str(token);
      break;
    case Type::kSync:
      header(2);
      w.str(doc_id);
      w.bin(payload);
      break;
    case Type::kRequest:
    case Type::kUnavailable:
    case Type::kReadOnly:
      header(1);
      w.str(doc_id);
      break;
    case Type::kError:
      header(code.empty() ? 1 : 2);
      w.str(error);
      if (!code.empty()) w.str(code);
      break;
    case Type::kHeartbeat:
      header(0);
      break;
    case Type::kGoodbye:
      header(1);
      w.uint(count);
      break;
    case Type::kEphemeral:
      throw Error("ephemeral messages have no dagsync envelope");
  }
  return out;
}

namespace {
std::string read_id(MsgpackReader& r, std::string_view field) {
  std::string_view s = r.str(field, Envelope::kMaxIdChars);
  if (s.empty()) r.fail(field, "must not be empty");
  if (!is_valid_utf8(s)) r.fail(field, "not valid UTF-8");
  return std::string(s);
}
}  // namespace

Envelope Envelope::decode(ByteView bytes, std::size_t max_payload) {
  MsgpackReader r(bytes, "envelope");
  std::uint32_t n = r.versioned_array(kVersion, 3, 7, "envelope version");
  Envelope e;
  std::uint64_t type = r.uint("type");
  e.seq = r.uint("seq");
  auto expect = [&](std::uint32_t fields) {
    if (n != 3 + fields) {
      r.fail("fields",
             std::string(to_string(e.type)) + " takes " + std::to_string(fields) + " fields");
    }
  };
  switch (type) {
    case 1:
      e.type = Type::kHello;
      if (n != 7) expect(3);
      e.protocol_version = r.uint("protocol_version");
      e.peer_id = read_id(r, "peer_id");
      for (std::uint32_t i = 0, k = r.array("capabilities", kMaxCapabilities); i < k; ++i) {
        e.capabilities.push_back(read_id(r, "capability"));
      }
      if (n == 7) {
        std::string_view token = r.str("token", kMaxTokenChars);
        if (token.empty()) r.fail("token", "must not be empty when present");
        e.token = std::string(token);
      }
      break;
    case 2:
      e.type = Type::kSync;
      expect(2);
      e.doc_id = read_id(r, "doc_id");
      {
        ByteView p = r.bin("message", max_payload);
        e.payload.assign(p.begin(), p.end());
      }
      break;
    case 3:
    case 4:
    case 7:
      e.type = type == 3 ? Type::kRequest : type == 4 ? Type::kUnavailable : Type::kReadOnly;
      expect(1);
      e.doc_id = read_id(r, "doc_id");
      break;
    case 5:
      e.type = Type::kError;
      if (n != 4) expect(2);
      e.error = std::string(r.str("error", kMaxErrorChars));
      if (n == 5) e.code = read_id(r, "code");
      break;
    case 6:
      e.type = Type::kHeartbeat;
      expect(0);
      break;
    case 9:
      e.type = Type::kGoodbye;
      expect(1);
      e.count = r.uint("count");
      break;
    default:
      r.fail("type", "unknown envelope type " + std::to_string(type));
  }
  r.expect_end();
  return e;
}

}  // namespace dagsync
