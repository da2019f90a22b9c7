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
  virtual Bytes encode(Envelope message) = 0;
  virtual DecodedFrame decode(ByteView frame) = 0;
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

}  // namespace dagsync
