// Internal: peer-chosen text (a TLS subject, an HTTP status line, a URL path, the first bytes
// of a connection) made safe for a log line or a close reason. C++17, for ws_core.cpp too.
//
// Contract: peer_text() escapes the backslash, \n, \r, \t and every other byte below 0x20 or
// from 0x7f up as \\, \n, \r, \t or \xNN, so a peer can neither forge a log line nor write
// anything a terminal interprets; printable ASCII stays as it is. (The session layer keeps
// UTF-8 in its own log_text(); here nothing a peer sends needs to be readable beyond ASCII.)
#pragma once

#include <string>
#include <string_view>

namespace dagsync::net {

inline std::string peer_text(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace dagsync::net
