#include "automerge_repo_message.h"

#include <cbor.h>

#include <cmath>
#include <cstring>
#include <string_view>

#include "automerge_ids.h"
#include "dagsync/error.h"
#include "encoding/utf8.h"

namespace dagsync {

namespace {

using Type = AutomergeRepoMessage::Type;

struct TypeName {
  Type type;
  std::string_view name;
};
constexpr TypeName kTypeNames[] = {
    {Type::kJoin, "join"},
    {Type::kPeer, "peer"},
    {Type::kError, "error"},
    {Type::kLeave, "leave"},
    {Type::kSync, "sync"},
    {Type::kRequest, "request"},
    {Type::kDocUnavailable, "doc-unavailable"},
    {Type::kEphemeral, "ephemeral"},
    {Type::kRemoteSubscriptionChange, "remote-subscription-change"},
    {Type::kRemoteHeadsChanged, "remote-heads-changed"},
};

// One CBOR item header (or a whole scalar), as libcbor's streaming decoder reports it.
struct Token {
  enum class Kind {
    kNone,
    kUint,
    kNegint,
    kBytes,
    kText,
    kArray,
    kMap,
    kFloat,
    kBool,
    kNull,
    kUndefined,
    kTag,
    kIndefinite
  };
  Kind kind = Kind::kNone;
  std::uint64_t value = 0;             // kUint, kNegint, kArray and kMap counts, kTag
  double number = 0;                   // kFloat
  bool flag = false;                   // kBool
  const std::uint8_t* data = nullptr;  // kBytes, kText
  std::size_t size = 0;
};

// Keys and type names are short words; ids have their own limit.
constexpr std::size_t kMaxKeyChars = 64;

Token& token_of(void* context) {
  return *static_cast<Token*>(context);
}

cbor_callbacks make_callbacks() {
  cbor_callbacks cb = cbor_empty_callbacks;
  using K = Token::Kind;
  cb.uint8 = [](void* c, std::uint8_t v) { token_of(c) = {K::kUint, v}; };
  cb.uint16 = [](void* c, std::uint16_t v) { token_of(c) = {K::kUint, v}; };
  cb.uint32 = [](void* c, std::uint32_t v) { token_of(c) = {K::kUint, v}; };
  cb.uint64 = [](void* c, std::uint64_t v) { token_of(c) = {K::kUint, v}; };
  cb.negint8 = [](void* c, std::uint8_t v) { token_of(c) = {K::kNegint, v}; };
  cb.negint16 = [](void* c, std::uint16_t v) { token_of(c) = {K::kNegint, v}; };
  cb.negint32 = [](void* c, std::uint32_t v) { token_of(c) = {K::kNegint, v}; };
  cb.negint64 = [](void* c, std::uint64_t v) { token_of(c) = {K::kNegint, v}; };
  cb.byte_string = [](void* c, cbor_data d, std::size_t n) {
    token_of(c) = {K::kBytes, 0, 0, false, d, n};
  };
  cb.string = [](void* c, cbor_data d, std::size_t n) {
    token_of(c) = {K::kText, 0, 0, false, d, n};
  };
  cb.array_start = [](void* c, std::size_t n) { token_of(c) = {K::kArray, n}; };
  cb.map_start = [](void* c, std::size_t n) { token_of(c) = {K::kMap, n}; };
  cb.tag = [](void* c, std::uint64_t v) { token_of(c) = {K::kTag, v}; };
  cb.float2 = [](void* c, float v) { token_of(c) = {K::kFloat, 0, v}; };
  cb.float4 = [](void* c, float v) { token_of(c) = {K::kFloat, 0, v}; };
  cb.float8 = [](void* c, double v) { token_of(c) = {K::kFloat, 0, v}; };
  cb.boolean = [](void* c, bool v) { token_of(c) = {K::kBool, 0, 0, v}; };
  cb.null = [](void* c) { token_of(c) = {K::kNull}; };
  cb.undefined = [](void* c) { token_of(c) = {K::kUndefined}; };
  auto indefinite = [](void* c) { token_of(c) = {K::kIndefinite}; };
  cb.byte_string_start = indefinite;
  cb.string_start = indefinite;
  cb.indef_array_start = indefinite;
  cb.indef_map_start = indefinite;
  cb.indef_break = indefinite;
  return cb;
}

const cbor_callbacks kCallbacks = make_callbacks();

class Reader {
 public:
  Reader(ByteView in, const AutomergeRepoLimits& limits) : in_(in), limits_(limits) {}

  Token next() {
    if (pos_ >= in_.size()) throw DecodeError("truncated CBOR: the message ends early");
    Token token;
    cbor_decoder_result r =
        cbor_stream_decode(in_.data() + pos_, in_.size() - pos_, &kCallbacks, &token);
    if (r.status == CBOR_DECODER_NEDATA)
      throw DecodeError("truncated CBOR: the message ends early");
    if (r.status != CBOR_DECODER_FINISHED || token.kind == Token::Kind::kNone) {
      throw DecodeError("malformed CBOR at byte " + std::to_string(pos_));
    }
    pos_ += r.read;
    if (token.kind == Token::Kind::kIndefinite) {
      throw DecodeError("indefinite-length CBOR item at byte " + std::to_string(pos_ - r.read));
    }
    if (token.kind == Token::Kind::kTag) {
      throw DecodeError("CBOR tag " + std::to_string(token.value) + " (automerge-repo sends none)");
    }
    // Every element of a container takes at least one byte: a count beyond the bytes left is
    // a lie, refused before anything trusts it.
    if (token.kind == Token::Kind::kArray || token.kind == Token::Kind::kMap) {
      std::uint64_t items = token.value * (token.kind == Token::Kind::kMap ? 2 : 1);
      if (token.value > remaining() || items > remaining()) {
        throw DecodeError("CBOR container of " + std::to_string(token.value) + " items in " +
                          std::to_string(remaining()) + " bytes");
      }
    }
    return token;
  }

  void skip_value(std::size_t depth) {
    if (depth > limits_.max_depth) {
      throw DecodeError("CBOR nested deeper than " + std::to_string(limits_.max_depth));
    }
    Token t = next();
    if (t.kind == Token::Kind::kArray) {
      for (std::uint64_t i = 0; i < t.value; ++i) skip_value(depth + 1);
    } else if (t.kind == Token::Kind::kMap) {
      for (std::uint64_t i = 0; i < 2 * t.value; ++i) skip_value(depth + 1);
    }
  }

  std::size_t remaining() const { return in_.size() - pos_; }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  ByteView in_;
  const AutomergeRepoLimits& limits_;
  std::size_t pos_ = 0;
};

std::string text_of(const Token& t, std::string_view field, std::size_t max_chars) {
  if (t.kind != Token::Kind::kText) throw DecodeError(std::string(field) + ": expected a string");
  if (t.size > max_chars) {
    throw DecodeError(std::string(field) + ": " + std::to_string(t.size) + " bytes (at most " +
                      std::to_string(max_chars) + ")");
  }
  if (!is_valid_utf8(std::string_view(reinterpret_cast<const char*>(t.data), t.size)))
    throw DecodeError(std::string(field) + ": invalid UTF-8");
  return std::string(reinterpret_cast<const char*>(t.data), t.size);
}

// What a message's map held, before the per-type checks.
struct Fields {
  std::optional<std::string> type, sender_id, target_id, document_id, message, session_id,
      selected_protocol_version;
  std::optional<Bytes> data;
  std::optional<std::uint64_t> count;
  std::optional<std::vector<std::string>> versions;
  bool has_peer_metadata = false;
  std::string storage_id;
  bool is_ephemeral = false;
};

std::uint64_t count_of(const Token& t) {
  // cbor-x writes integers above 32 bits as float64.
  if (t.kind == Token::Kind::kUint) return t.value;
  if (t.kind == Token::Kind::kFloat && t.number >= 0 && t.number <= 9007199254740992.0 &&
      std::floor(t.number) == t.number) {
    return static_cast<std::uint64_t>(t.number);
  }
  throw DecodeError("count: expected a non-negative integer");
}

void read_peer_metadata(Reader& r, Fields& f, const AutomergeRepoLimits& limits) {
  Token t = r.next();
  f.has_peer_metadata = true;
  if (t.kind == Token::Kind::kUndefined || t.kind == Token::Kind::kNull) return;
  if (t.kind != Token::Kind::kMap) throw DecodeError("peerMetadata: expected a map");
  if (t.value > limits.max_keys) throw DecodeError("peerMetadata: too many keys");
  for (std::uint64_t i = 0; i < t.value; ++i) {
    std::string key = text_of(r.next(), "peerMetadata key", kMaxKeyChars);
    if (key == "storageId") {
      Token v = r.next();
      if (v.kind == Token::Kind::kUndefined || v.kind == Token::Kind::kNull) continue;
      f.storage_id = text_of(v, "peerMetadata.storageId", limits.max_id_chars);
    } else if (key == "isEphemeral") {
      Token v = r.next();
      if (v.kind == Token::Kind::kUndefined || v.kind == Token::Kind::kNull) continue;
      if (v.kind != Token::Kind::kBool)
        throw DecodeError("peerMetadata.isEphemeral: expected a bool");
      f.is_ephemeral = v.flag;
    } else {
      r.skip_value(2);
    }
  }
}

Fields read_fields(Reader& r, const AutomergeRepoLimits& limits) {
  Token top = r.next();
  if (top.kind != Token::Kind::kMap) throw DecodeError("expected a CBOR map");
  if (top.value > limits.max_keys) {
    throw DecodeError("map of " + std::to_string(top.value) + " keys (at most " +
                      std::to_string(limits.max_keys) + ")");
  }
  Fields f;
  auto once = [](auto& slot, const std::string& key) {
    if (slot) throw DecodeError("key " + key + " appears twice");
  };
  for (std::uint64_t i = 0; i < top.value; ++i) {
    std::string key = text_of(r.next(), "key", kMaxKeyChars);
    if (key == "type") {
      once(f.type, key);
      f.type = text_of(r.next(), key, kMaxKeyChars);
    } else if (key == "senderId") {
      once(f.sender_id, key);
      f.sender_id = text_of(r.next(), key, limits.max_id_chars);
    } else if (key == "targetId") {
      once(f.target_id, key);
      f.target_id = text_of(r.next(), key, limits.max_id_chars);
    } else if (key == "documentId") {
      once(f.document_id, key);
      f.document_id = text_of(r.next(), key, limits.max_id_chars);
    } else if (key == "message") {
      once(f.message, key);
      f.message = text_of(r.next(), key, limits.max_error_chars);
    } else if (key == "sessionId") {
      once(f.session_id, key);
      f.session_id = text_of(r.next(), key, limits.max_id_chars);
    } else if (key == "selectedProtocolVersion") {
      once(f.selected_protocol_version, key);
      f.selected_protocol_version = text_of(r.next(), key, limits.max_id_chars);
    } else if (key == "data") {
      once(f.data, key);
      Token t = r.next();
      if (t.kind != Token::Kind::kBytes) throw DecodeError("data: expected a byte string");
      f.data = Bytes(t.data, t.data + t.size);
    } else if (key == "count") {
      once(f.count, key);
      f.count = count_of(r.next());
    } else if (key == "supportedProtocolVersions") {
      once(f.versions, key);
      Token t = r.next();
      if (t.kind != Token::Kind::kArray) {
        throw DecodeError("supportedProtocolVersions: expected an array");
      }
      if (t.value > limits.max_protocol_versions) {
        throw DecodeError("supportedProtocolVersions: " + std::to_string(t.value) +
                          " entries (at most " + std::to_string(limits.max_protocol_versions) +
                          ")");
      }
      f.versions.emplace();
      for (std::uint64_t k = 0; k < t.value; ++k) {
        f.versions->push_back(text_of(r.next(), "supportedProtocolVersions", limits.max_id_chars));
      }
    } else if (key == "peerMetadata") {
      if (f.has_peer_metadata) throw DecodeError("key peerMetadata appears twice");
      read_peer_metadata(r, f, limits);
    } else {
      r.skip_value(1);  // unknown keys (and newHeads, add, remove) are read past
    }
  }
  return f;
}

template <typename T>
T required(const std::optional<T>& value, std::string_view type, std::string_view field) {
  if (!value) throw DecodeError(std::string(type) + " message without " + std::string(field));
  return *value;
}

}  // namespace

const char* to_string(AutomergeRepoMessage::Type type) {
  for (const auto& entry : kTypeNames) {
    if (entry.type == type) return entry.name.data();
  }
  return "?";
}

AutomergeRepoMessage AutomergeRepoMessage::decode(ByteView frame,
                                                  const AutomergeRepoLimits& limits) {
  if (frame.empty()) throw DecodeError("empty message");
  if (frame.size() > limits.max_message_bytes) {
    throw DecodeError("message of " + std::to_string(frame.size()) + " bytes (at most " +
                      std::to_string(limits.max_message_bytes) + ")");
  }
  Reader reader(frame, limits);
  Fields f = read_fields(reader, limits);
  if (!reader.at_end()) {
    throw DecodeError(std::to_string(reader.remaining()) + " bytes after the CBOR map");
  }
  if (!f.type) throw DecodeError("message without a type");
  AutomergeRepoMessage m;
  bool known = false;
  for (const auto& entry : kTypeNames) {
    if (entry.name == *f.type) {
      m.type = entry.type;
      known = true;
    }
  }
  if (!known) throw DecodeError("unknown message type \"" + *f.type + "\"");
  const std::string& type = *f.type;
  m.sender_id = required(f.sender_id, type, "senderId");
  if (m.sender_id.empty()) throw DecodeError(type + " message with an empty senderId");
  m.target_id = f.target_id.value_or("");
  auto need_document = [&] {
    m.document_id = required(f.document_id, type, "documentId");
    if (auto problem = refuse_document_id(m.document_id)) {
      throw DecodeError(type + " message: " + *problem);
    }
  };
  auto need_data = [&] {
    m.data = required(f.data, type, "data");
    if (m.data.empty()) throw DecodeError(type + " message with empty data");
  };
  switch (m.type) {
    case Type::kJoin:
      m.supported_protocol_versions = f.versions;
      m.has_peer_metadata = f.has_peer_metadata;
      m.storage_id = f.storage_id;
      m.is_ephemeral = f.is_ephemeral;
      break;
    case Type::kPeer:
      m.has_peer_metadata = f.has_peer_metadata;
      m.storage_id = f.storage_id;
      m.is_ephemeral = f.is_ephemeral;
      m.selected_protocol_version =
          required(f.selected_protocol_version, type, "selectedProtocolVersion");
      break;
    case Type::kError:
      m.error = f.message.value_or("");
      break;
    case Type::kSync:
    case Type::kRequest:
      need_document();
      need_data();
      break;
    case Type::kDocUnavailable:
      need_document();
      break;
    case Type::kEphemeral:
      need_document();
      need_data();
      m.count = required(f.count, type, "count");
      m.session_id = required(f.session_id, type, "sessionId");
      break;
    case Type::kLeave:
    case Type::kRemoteSubscriptionChange:
    case Type::kRemoteHeadsChanged:
      break;
  }
  return m;
}

namespace {
class Writer {
 public:
  void map(std::size_t n) { put(cbor_encode_map_start, n); }
  void text(std::string_view s) {
    put(cbor_encode_string_start, s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void bytes(ByteView b) {
    put(cbor_encode_bytestring_start, b.size());
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void array(std::size_t n) { put(cbor_encode_array_start, n); }
  void count(std::uint64_t v) {
    // cbor-x decodes a 64-bit integer to a BigInt, which breaks comparisons: above 32 bits
    // a number goes as float64, as cbor-x writes it.
    std::uint8_t buf[9];
    std::size_t n = v <= 0xffffffffu ? cbor_encode_uint(v, buf, sizeof buf)
                                     : cbor_encode_double(static_cast<double>(v), buf, sizeof buf);
    out_.insert(out_.end(), buf, buf + n);
  }
  void boolean(bool v) {
    std::uint8_t buf[1];
    std::size_t n = cbor_encode_bool(v, buf, sizeof buf);
    out_.insert(out_.end(), buf, buf + n);
  }
  void undefined() {
    std::uint8_t buf[1];
    std::size_t n = cbor_encode_undef(buf, sizeof buf);
    out_.insert(out_.end(), buf, buf + n);
  }
  Bytes take() { return std::move(out_); }

 private:
  void put(std::size_t (*encode)(std::size_t, unsigned char*, std::size_t), std::size_t n) {
    unsigned char buf[9];
    std::size_t len = encode(n, buf, sizeof buf);
    out_.insert(out_.end(), buf, buf + len);
  }
  Bytes out_;
};
}  // namespace

Bytes AutomergeRepoMessage::encode() const {
  Writer w;
  bool has_target = !target_id.empty();
  auto head = [&](std::size_t fields) {
    w.map(fields + 2 + (has_target ? 1 : 0));
    w.text("type");
    w.text(to_string(type));
    w.text("senderId");
    w.text(sender_id);
    if (has_target) {
      w.text("targetId");
      w.text(target_id);
    }
  };
  auto metadata = [&] {
    w.text("peerMetadata");
    w.map(2);
    w.text("storageId");
    if (storage_id.empty()) {
      w.undefined();
    } else {
      w.text(storage_id);
    }
    w.text("isEphemeral");
    w.boolean(is_ephemeral);
  };
  switch (type) {
    case Type::kJoin: {
      bool versions = supported_protocol_versions.has_value();
      head(1 + (versions ? 1 : 0));
      metadata();
      if (versions) {
        w.text("supportedProtocolVersions");
        w.array(supported_protocol_versions->size());
        for (const auto& v : *supported_protocol_versions) w.text(v);
      }
      break;
    }
    case Type::kPeer:
      head(2);
      metadata();
      w.text("selectedProtocolVersion");
      w.text(selected_protocol_version);
      break;
    case Type::kError:
      head(1);
      w.text("message");
      w.text(error);
      break;
    case Type::kSync:
    case Type::kRequest:
      head(2);
      w.text("documentId");
      w.text(document_id);
      w.text("data");
      w.bytes(data);
      break;
    case Type::kDocUnavailable:
      head(1);
      w.text("documentId");
      w.text(document_id);
      break;
    case Type::kEphemeral:
      head(4);
      w.text("count");
      w.count(count);
      w.text("sessionId");
      w.text(session_id);
      w.text("documentId");
      w.text(document_id);
      w.text("data");
      w.bytes(data);
      break;
    case Type::kLeave:
    case Type::kRemoteSubscriptionChange:
    case Type::kRemoteHeadsChanged:
      head(0);
      break;
  }
  return w.take();
}

}  // namespace dagsync
