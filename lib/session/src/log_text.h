// Internal: text from peers made safe for a log line. Peer ids, document ids, addresses and
// error messages a peer sent are its choice of bytes; written as they are, a newline would
// let a peer forge whole log lines ("server: admin connected") and control characters could
// rewrite a terminal. log_text() escapes every byte below 0x20, 0x7f and the backslash as
// \n, \r, \t, \\ or \xNN, and leaves everything else (printable ASCII and UTF-8) as it is.
#pragma once

#include <string>
#include <string_view>

namespace dagsync {

inline std::string log_text(std::string_view text) {
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
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace dagsync
