// Session envelopes: the frames a peer connection carries (docs/sessions.md). Each is a
// msgpack array [version=1, type, seq, ...fields]; seq numbers each direction's frames from 0
// so that a channel that loses, repeats or reorders frames is detected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dagsync/bytes.h"

namespace dagsync {

struct Envelope {
  static constexpr std::uint64_t kVersion = 1;
  static constexpr std::size_t kMaxIdChars = 256;  // peer and document ids
  static constexpr std::size_t kMaxCapabilities = 32;
  static constexpr std::size_t kMaxErrorChars = 1024;

  enum class Type : std::uint8_t {
    kHello = 1,        // fields: protocol_version, peer_id, capabilities[, token]
    kSync = 2,         // fields: doc_id, sync message bytes
    kRequest = 3,      // fields: doc_id  ("start syncing this document with me")
    kUnavailable = 4,  // fields: doc_id  ("I do not have it")
    kError = 5,        // fields: message[, code] (sent before closing on a protocol error)
    kHeartbeat = 6,    // no fields: keeps seq moving so a lost last frame shows up
    kReadOnly = 7,     // fields: doc_id  ("you may only read it: your changes are ignored")
    // Not on dagsync's wire (encode() throws): an automerge-repo ephemeral message, relayed
    // unchanged to the document's other peers and never stored. Fields: doc_id, payload,
    // peer_id (the original sender), session_id, count.
    kEphemeral = 8,
    // fields: count (the frames received from the peer so far, this one excluded when it
    // opens the goodbye, included when it answers one). Ends a resumed session closed on
    // purpose: the answer says every frame we sent arrived and was handled, which is what
    // lets a state saved at the end count as fresh (docs/sessions.md#goodbye).
    kGoodbye = 9,
  };

  Type type = Type::kHeartbeat;
  std::uint64_t seq = 0;
  std::uint64_t protocol_version = 0;
  std::string peer_id;
  std::vector<std::string> capabilities;
  std::string token;  // kHello: credentials for the peer's authenticator; empty: none sent
  static constexpr std::size_t kMaxTokenChars = 4096;
  std::string doc_id;
  Bytes payload;  // kSync: the encoded SyncMessage
  std::string error;
  std::string session_id;   // kEphemeral
  std::uint64_t count = 0;  // kEphemeral, kGoodbye
  // kError: what kind of refusal, for the peer's retry decision; empty: unspecified.
  // kErrorUnauthorized and kErrorVersion tell a dialling peer that retrying cannot help.
  std::string code;
  static constexpr const char* kErrorUnauthorized = "unauthorized";
  static constexpr const char* kErrorVersion = "version";

  Bytes encode() const;
  // encode(), built in the payload's own buffer (the header moved in front of it), so a
  // large sync message is not held twice while it is framed. Leaves the payload empty.
  Bytes take_frame();
  // Throws DecodeError naming the field; `max_payload` bounds the sync message bytes.
  static Envelope decode(ByteView bytes, std::size_t max_payload);
};

const char* to_string(Envelope::Type type);

}  // namespace dagsync
