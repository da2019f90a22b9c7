// Transport frames built by hand, for tests that write below our adapters: the TCP adapter's
// length-prefixed frames, and masked client-to-server WebSocket frames (RFC 6455) including
// those our own client never sends (text, reserved bits, a length other than the payload's).
#pragma once

#include <cstdint>
#include <optional>

#include "dagsync/bytes.h"

namespace dagsync::test {

// The TCP adapter's frame header: the frame's length, 4 bytes big-endian.
inline Bytes tcp_frame_header(std::uint32_t length) {
  return {std::uint8_t(length >> 24), std::uint8_t(length >> 16), std::uint8_t(length >> 8),
          std::uint8_t(length)};
}

// A TCP frame of our adapter: the header, then the bytes.
inline Bytes tcp_frame(ByteView payload) {
  Bytes f = tcp_frame_header(static_cast<std::uint32_t>(payload.size()));
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

constexpr std::uint8_t kWsText = 0x1;
constexpr std::uint8_t kWsBinary = 0x2;

struct WsFrameOptions {
  bool rsv1 = false;                            // a reserved bit no extension negotiated
  std::optional<std::uint64_t> announced_size;  // the length the header claims, if not the
                                                // payload's (only the payload is sent)
};

// A masked client-to-server WebSocket frame with FIN set, carrying `payload`.
inline Bytes ws_frame(ByteView payload, std::uint8_t opcode = kWsBinary,
                      WsFrameOptions options = {}) {
  Bytes f{static_cast<std::uint8_t>(0x80 | (options.rsv1 ? 0x40 : 0) | opcode)};
  std::uint64_t n = options.announced_size.value_or(payload.size());
  if (n < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | n));
  } else if (n < 65536) {
    f.insert(f.end(), {0x80 | 126, std::uint8_t(n >> 8), std::uint8_t(n)});
  } else {
    f.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f.push_back(std::uint8_t(n >> shift));
  }
  const std::uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.insert(f.end(), mask, mask + 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(payload[i] ^ mask[i % 4]);
  return f;
}

}  // namespace dagsync::test
