#include "dagsync/error.h"
#include "wire_dialect.h"

namespace dagsync {

Bytes EnvelopeDialect::encode(Envelope message) {
  message.seq = send_seq_++;
  return message.take_frame();
}

DecodedFrame EnvelopeDialect::decode(ByteView frame) {
  DecodedFrame out;
  try {
    out.message = Envelope::decode(frame, max_payload_);
  } catch (const DecodeError& e) {
    out.kind = DecodedFrame::Kind::kError;
    out.error = std::string("malformed frame: ") + e.what();
    return out;
  }
  // The transport promises order and no loss; a channel that breaks that is detected here
  // and the connection is reset, so that sync restarts from a consistent state.
  std::uint64_t seq = out.message.seq;
  if (seq < receive_seq_) {
    out.kind = DecodedFrame::Kind::kIgnore;
    return out;
  }
  if (seq > receive_seq_) {
    out.kind = DecodedFrame::Kind::kError;
    out.error = "frames lost: expected frame " + std::to_string(receive_seq_) + ", got " +
                std::to_string(seq);
    return out;
  }
  ++receive_seq_;
  out.kind = DecodedFrame::Kind::kMessage;
  return out;
}

}  // namespace dagsync
