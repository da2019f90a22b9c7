// Internal: automerge-repo's WebSocket messages (docs/automerge.md, "automerge-repo over
// WebSocket"), as @automerge/automerge-repo-network-websocket 2.5.6 sends them: one CBOR map
// per binary WebSocket message, string keys in any order, unknown keys ignored.
//
// Decoding is strict and bounded: libcbor reads the items one at a time (nothing is
// allocated from a declared count, and every declared count must fit in the bytes left),
// nesting is bounded, tags and indefinite lengths are refused, required fields must be
// there with the right type, document ids must be base58check, and an unknown `type` is an
// error naming it. Every refusal is a DecodeError saying what was wrong.
//
// Encoding writes what cbor-x's decoder expects: definite lengths, integers of at most 32
// bits (larger counts as float64, as cbor-x itself writes them), byte strings untagged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dagsync/bytes.h"

namespace dagsync {

struct AutomergeRepoLimits {
  std::size_t max_message_bytes = 64u << 20;  // a whole frame
  std::size_t max_id_chars = 256;             // peer, storage and session ids
  std::size_t max_error_chars = 1024;
  std::size_t max_keys = 64;  // per map
  std::size_t max_depth = 8;  // nesting of the values we skip (newHeads, ...)
  std::size_t max_protocol_versions = 16;
};

struct AutomergeRepoMessage {
  enum class Type {
    kJoin,            // client -> server: senderId, peerMetadata, supportedProtocolVersions
    kPeer,            // server -> client: senderId, targetId, peerMetadata, selectedProtocolVersion
    kError,           // senderId, message[, targetId]; the sender closes next
    kLeave,           // automerge-repo 1.x on disconnect; ignored
    kSync,            // senderId, targetId, documentId, data (an Automerge sync message)
    kRequest,         // as kSync, from a peer that does not have the document
    kDocUnavailable,  // senderId, targetId, documentId
    kEphemeral,       // senderId, targetId, count, sessionId, documentId, data
    kRemoteSubscriptionChange,  // remote-heads gossip: ignored
    kRemoteHeadsChanged,        // remote-heads gossip: ignored
  };
  static constexpr const char* kProtocolV1 = "1";

  Type type = Type::kSync;
  std::string sender_id;
  std::string target_id;  // not checked on receipt (automerge-repo does not either)
  std::string document_id;
  Bytes data;
  // kJoin, kPeer: peerMetadata. storage_id empty: none (written as undefined).
  bool has_peer_metadata = false;
  std::string storage_id;
  bool is_ephemeral = false;
  // kJoin: absent means "1" (automerge-repo's server reads it so).
  std::optional<std::vector<std::string>> supported_protocol_versions;
  std::string selected_protocol_version;  // kPeer
  std::string error;                      // kError
  std::uint64_t count = 0;                // kEphemeral
  std::string session_id;                 // kEphemeral

  // Throws DecodeError naming what was wrong.
  static AutomergeRepoMessage decode(ByteView frame, const AutomergeRepoLimits& limits = {});
  Bytes encode() const;
};

const char* to_string(AutomergeRepoMessage::Type type);

}  // namespace dagsync
