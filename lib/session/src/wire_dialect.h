// Internal: a session wire dialect turns session messages (Envelope values) into frames and
// frames back into messages. The SessionMachine speaks only in messages; which bytes carry
// them is the dialect's business, so a second wire format (for example automerge-repo's
// CBOR messages) plugs in beside EnvelopeDialect without touching the machine.
//
// Contract: encode() takes messages in send order and returns the frame for each. decode()
// takes frames in arrival order and says, for each, whether it carries a message, is to be
// ignored (a repeat the dialect tolerates), or is a protocol error, with a reason naming
// what was wrong. A dialect keeps only per-connection framing state (e.g. sequence numbers).
#pragma once

#include <cstddef>
#include <string>

#include "automerge_repo_message.h"
#include "dagsync/bytes.h"
#include "envelope.h"

namespace dagsync {

struct DecodedFrame {
  enum class Kind { kMessage, kIgnore, kError };
  Kind kind = Kind::kIgnore;
  Envelope message;   // kMessage
  std::string error;  // kError: what was wrong, for the error sent to the peer and the log
};

class WireDialect {
 public:
  virtual ~WireDialect() = default;
  // An empty frame: the message has no form in this dialect and nothing is sent.
  virtual Bytes encode(Envelope message) = 0;
  virtual DecodedFrame decode(ByteView frame) = 0;
  // The accepting side sends its hello only in answer to the peer's (automerge-repo's
  // `peer` answers the client's `join`, naming it).
  virtual bool answers_hello() const { return false; }
  // Sync payloads are Automerge sync messages, for the AutomergeSyncEngine
  // (automerge_sync.h), rather than dagsync's; ephemeral messages are relayed.
  virtual bool automerge() const { return false; }
};

// dagsync's own envelopes (docs/sessions.md): msgpack arrays whose seq numbers each
// direction's frames from 0. A repeated seq is ignored; a gap (a lost or reordered frame) is
// a protocol error, since sync restarts cleanly on reconnect.
class EnvelopeDialect : public WireDialect {
 public:
  explicit EnvelopeDialect(std::size_t max_payload) : max_payload_(max_payload) {}
  Bytes encode(Envelope message) override;
  DecodedFrame decode(ByteView frame) override;

 private:
  std::size_t max_payload_;
  std::uint64_t send_seq_ = 0;
  std::uint64_t receive_seq_ = 0;
};

// automerge-repo's WebSocket messages (automerge_repo_message.h), on the accepting side: the
// client's `join` is the hello (protocol "1" is version 1), our hello goes out as the `peer`
// answer naming the client, sync/request/doc-unavailable/ephemeral/error map one to one.
// Heartbeats and read-only notices have no automerge-repo form (the WebSocket's pings keep
// the connection alive). `leave` and the remote-heads messages are ignored, as are messages
// whose senderId is not the peer that joined (automerge-repo's server ignores them too); a
// second join from the same peer is ignored, one naming another peer is an error.
class AutomergeRepoDialect : public WireDialect {
 public:
  AutomergeRepoDialect(std::string local_peer_id, std::string storage_id,
                       AutomergeRepoLimits limits)
      : storage_id_(std::move(storage_id)),
        limits_(limits),
        local_peer_id_(std::move(local_peer_id)) {}
  Bytes encode(Envelope message) override;
  DecodedFrame decode(ByteView frame) override;
  bool answers_hello() const override { return true; }
  bool automerge() const override { return true; }

 private:
  std::string storage_id_;
  AutomergeRepoLimits limits_;
  std::string local_peer_id_;
  std::string remote_peer_id_;  // from the join
};

}  // namespace dagsync
