// Internal: the send-side limits every adapter enforces the same way (transport.h).
#pragma once

#include <optional>
#include <string>

#include "dagsync/transport.h"

namespace dagsync {

// Why a frame of `frame_bytes` must not be queued behind `queued_bytes` already accepted:
// over max_frame_bytes (kFrameTooLarge) or over max_send_queue_bytes (kBackpressure).
inline std::optional<CloseReason> refuse_send(std::size_t frame_bytes, std::size_t queued_bytes,
                                              const TransportOptions& options) {
  if (frame_bytes > options.max_frame_bytes) {
    return CloseReason{CloseReason::Code::kFrameTooLarge,
                       "refusing to send a frame of " + std::to_string(frame_bytes) +
                           " bytes (limit " + std::to_string(options.max_frame_bytes) + ")"};
  }
  if (queued_bytes + frame_bytes > options.max_send_queue_bytes) {
    return CloseReason{CloseReason::Code::kBackpressure,
                       "send queue full: " + std::to_string(queued_bytes) +
                           " bytes not yet taken by the peer (limit " +
                           std::to_string(options.max_send_queue_bytes) + "); it is not reading"};
  }
  return std::nullopt;
}

}  // namespace dagsync
