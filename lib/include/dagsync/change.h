// Change: one immutable, content-addressed unit of history.
//
// A change is (actor, seq, deps, timestamp?, message?, payload). It has exactly one encoding
// (docs/protocol.md, "Change encoding") and its hash is the SHA-256 of those bytes, so equal
// hashes mean equal changes. `seq` counts an actor's changes from 1; `deps` are the hashes of
// the changes it builds on, sorted and distinct. Copies are cheap (shared, immutable body).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/ids.h"
#include "dagsync/limits.h"

namespace dagsync {

struct ChangeFields {
  ActorId actor;
  std::uint64_t seq = 1;
  std::vector<ChangeHash> deps;  // sorted and deduplicated by Change::build
  std::optional<std::int64_t> timestamp_ms;
  std::optional<std::string> message;
  Bytes payload;
};

class Change {
 public:
  // Encodes and hashes. Sorts and deduplicates deps. Throws DecodeError if a field is out of
  // range (seq 0, message not UTF-8, over `limits`).
  static Change build(ChangeFields fields, const ChangeLimits& limits = {});

  // Decodes canonical bytes and computes their hash. Throws DecodeError naming the field on
  // anything else: truncation, wrong types, non-minimal encodings, unsorted deps, trailing
  // bytes, an unknown version, a limit exceeded.
  static Change decode(ByteView bytes, const ChangeLimits& limits = {});

  // decode() that also checks the bytes hash to `expected`; GraphError on mismatch.
  static Change decode_verified(ByteView bytes, const ChangeHash& expected,
                                const ChangeLimits& limits = {});

  const ChangeHash& hash() const { return body_->hash; }
  const ActorId& actor() const { return body_->actor; }
  std::uint64_t seq() const { return body_->seq; }
  const std::vector<ChangeHash>& deps() const { return body_->deps; }
  std::optional<std::int64_t> timestamp_ms() const { return body_->timestamp_ms; }
  const std::optional<std::string>& message() const { return body_->message; }
  ByteView payload() const { return ByteView(body_->bytes).subspan(body_->payload_offset); }
  // The canonical encoding: what travels and what is hashed.
  ByteView bytes() const { return body_->bytes; }

  bool operator==(const Change& other) const { return hash() == other.hash(); }

 private:
  struct Body {
    ChangeHash hash;
    ActorId actor;
    std::uint64_t seq = 0;
    std::vector<ChangeHash> deps;
    std::optional<std::int64_t> timestamp_ms;
    std::optional<std::string> message;
    std::size_t payload_offset = 0;  // the payload is the tail of the encoding
    Bytes bytes;
  };
  friend class ChangeCodec;
  explicit Change(std::shared_ptr<const Body> body) : body_(std::move(body)) {}
  std::shared_ptr<const Body> body_;
};

}  // namespace dagsync
