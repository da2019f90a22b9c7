// Internal: recognising another protocol in the first four bytes a tcp:// or tls:// peer
// sends, which our framing would otherwise read as the length of a gigantic frame.
//
// Contract: sniff_protocol() names what the bytes begin: an HTTP request ("GET ", "POST",
// ...), an HTTP response ("HTTP"), or a TLS record (0x16 0x03 a handshake such as a
// ClientHello, 0x15 0x03 an alert). The framing asks only when the announced length is over
// max_frame_bytes anyway, so no frame it would accept is ever misread.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace dagsync::net {

enum class Sniffed { kNothing, kHttpRequest, kHttpResponse, kTlsHandshake, kTlsAlert };

inline Sniffed sniff_protocol(const std::array<std::uint8_t, 4>& b) {
  if (b[1] == 0x03 && b[0] == 0x16) return Sniffed::kTlsHandshake;
  if (b[1] == 0x03 && b[0] == 0x15) return Sniffed::kTlsAlert;
  static constexpr const char* kMethods[] = {"GET ", "POST", "PUT ", "HEAD", "DELE",
                                             "OPTI", "PATC", "CONN", "TRAC", "PRI "};
  for (const char* m : kMethods) {
    if (std::memcmp(b.data(), m, 4) == 0) return Sniffed::kHttpRequest;
  }
  if (std::memcmp(b.data(), "HTTP", 4) == 0) return Sniffed::kHttpResponse;
  return Sniffed::kNothing;
}

}  // namespace dagsync::net
