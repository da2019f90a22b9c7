// Change: one immutable, content-addressed unit of history.
//
// A change is (actor, seq, deps, timestamp?, message?, payload). It has exactly one encoding
// (docs/protocol.md, "Change encoding") and its hash is the SHA-256 of those bytes, so equal
// hashes mean equal changes. `seq` counts an actor's changes from 1; `deps` are the hashes of
// the changes it builds on, sorted and distinct. Copies are cheap (shared, immutable body). A
// moved-from Change may only be assigned to or destroyed.
//
// A Change is in one of two formats, fixed for its lifetime (ChangeFormat): dagsync's own, or
// an Automerge change chunk (docs/automerge.md) accepted by from_automerge(). For the latter,
// bytes() is the uncompressed type-1 chunk, hash() is Automerge's change hash, actor() is a
// 16-byte key derived from the Automerge actor id (automerge_actor() holds the real one, of
// any length), and payload() is what dagsync does not interpret (the operations).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/deps_view.h"
#include "dagsync/ids.h"
#include "dagsync/limits.h"

namespace dagsync {

enum class ChangeFormat : std::uint8_t { kDagsync = 0, kAutomerge = 1 };

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
  // decode() of the change at the start of `bytes`, which may go on (changes packed back to
  // back); sets `used` to its length.
  static Change decode_prefix(ByteView bytes, std::size_t& used, const ChangeLimits& limits = {});

  // decode() that also checks the bytes hash to `expected`; GraphError on mismatch.
  static Change decode_verified(ByteView bytes, const ChangeHash& expected,
                                const ChangeLimits& limits = {});

  // Validates one Automerge change chunk (type 1, or type 2 which is inflated and kept as
  // type 1) that makes up all of `bytes`; from_automerge_prefix() takes the chunk at the start
  // of `bytes` and sets `used` to its length. Throws DecodeError naming the field: magic,
  // checksum, a non-minimal LEB128, a limit, a field outside its range, message not UTF-8,
  // column metadata out of order or compressed, a document or unknown chunk type.
  static Change from_automerge(ByteView bytes, const AutomergeLimits& limits = {});
  static Change from_automerge_prefix(ByteView bytes, std::size_t& used,
                                      const AutomergeLimits& limits = {});
  // from_automerge() that also checks the chunk hashes to `expected` (decode_verified()'s
  // counterpart, for stored chunks); GraphError on mismatch.
  static Change from_automerge_verified(ByteView bytes, const ChangeHash& expected,
                                        const AutomergeLimits& limits = {});
  // The graph's key for an Automerge actor id: the first 16 bytes of SHA-256 over a
  // domain tag and the id, so that ids of any length (or ones chosen to collide with another
  // actor's key) map to distinct keys.
  static ActorId automerge_actor_key(ByteView actor);
  // Where an Automerge change's fields sit in its chunk (defined in the core's sources).
  struct AutomergeFields;

  Change(const Change& other) noexcept : body_(other.body_) {
    if (body_) body_->retain();
  }
  Change(Change&& other) noexcept : body_(other.body_) { other.body_ = nullptr; }
  Change& operator=(const Change& other) noexcept {
    if (other.body_) other.body_->retain();
    Body* old = body_;
    body_ = other.body_;
    if (old) old->release();
    return *this;
  }
  Change& operator=(Change&& other) noexcept {
    if (this != &other) {
      if (body_) body_->release();
      body_ = other.body_;
      other.body_ = nullptr;
    }
    return *this;
  }
  ~Change() {
    if (body_) body_->release();
  }

  const ChangeHash& hash() const { return body_->hash; }
  const ActorId& actor() const { return body_->actor; }
  ChangeFormat format() const { return static_cast<ChangeFormat>(body_->format); }
  // The Automerge actor id as the chunk holds it; empty for dagsync's changes.
  ByteView automerge_actor() const;
  // The fields below are read from the encoding on each call (it was validated once, when
  // the change was built or decoded); views borrow the body, which every copy shares. An
  // Automerge change's time is in seconds: timestamp_ms() is it times 1000 (nothing if 0 or
  // out of range).
  std::uint64_t seq() const;
  DepsView deps() const;
  std::optional<std::int64_t> timestamp_ms() const;
  std::optional<std::string> message() const;
  ByteView payload() const;
  // The canonical encoding: what travels and what is hashed.
  ByteView bytes() const { return {body_->data(), body_->size}; }

  bool operator==(const Change& other) const { return hash() == other.hash(); }

 private:
  // decode() (whole: nothing may follow) and decode_prefix().
  static Change parse(ByteView bytes, std::size_t& used, const ChangeLimits& limits, bool whole);
  // Reads an Automerge change's field offsets back (automerge/change_chunk.cpp).
  AutomergeFields automerge_fields() const;
  // One allocation per change: this header, then the encoded bytes. Counted references, as
  // std::shared_ptr counts them (copies may be released on any thread).
  struct Body {
    std::atomic<std::uint32_t> refs{1};
    std::uint32_t size = 0;
    ChangeHash hash;
    ActorId actor;
    std::uint8_t format = 0;  // ChangeFormat

    std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(this + 1); }
    const std::uint8_t* data() const { return reinterpret_cast<const std::uint8_t*>(this + 1); }
    void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
    void release() {
      if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(this);
    }
    static Body* create(ByteView bytes, const ChangeHash& hash, const ActorId& actor,
                        ChangeFormat format = ChangeFormat::kDagsync);
    static void destroy(Body* body);
  };
  // Offset of the deps array header in the encoding: after seq, which starts at kSeqAt.
  std::size_t deps_at() const;
  // Offset of the timestamp: after the last dep.
  std::size_t after_deps() const;
  // Offset of the message (or its nil): after the timestamp.
  std::size_t message_at() const;

  explicit Change(Body* body) : body_(body) {}
  Body* body_;
};

}  // namespace dagsync
