// Internal: the tokens a WebSocket upgrade request can carry (C++17, for ws_core.cpp).
//
// Contract: bearer_token() is the token of an "Authorization: Bearer <token>" header value
// (the scheme matched case-insensitively, surrounding spaces dropped), else empty.
// query_parameter() is the first `name=` parameter of the request target's query,
// percent-decoded (a malformed %XX stays as it is; '+' stays '+'), else empty.
#pragma once

#include <cctype>
#include <string>

namespace dagsync::net {

inline std::string bearer_token(const std::string& authorization) {
  static constexpr char kScheme[] = "bearer ";
  std::size_t at = authorization.find_first_not_of(' ');
  if (at == std::string::npos || authorization.size() - at < sizeof kScheme - 1) return "";
  for (std::size_t i = 0; i + 1 < sizeof kScheme; ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[at + i])) != kScheme[i]) return "";
  }
  std::size_t start = authorization.find_first_not_of(' ', at + sizeof kScheme - 1);
  if (start == std::string::npos) return "";
  std::size_t end = authorization.find_last_not_of(' ');
  return authorization.substr(start, end + 1 - start);
}

inline std::string percent_decode(const std::string& text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    int hi = 0, lo = 0;
    if (text[i] == '%' && i + 2 < text.size() && (hi = hex(text[i + 1])) >= 0 &&
        (lo = hex(text[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

inline std::string query_parameter(const std::string& target, const std::string& name) {
  std::size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string query = target.substr(q + 1, target.find('#', q) - q - 1);
  std::size_t at = 0;
  while (at <= query.size()) {
    std::size_t end = query.find('&', at);
    if (end == std::string::npos) end = query.size();
    std::string pair = query.substr(at, end - at);
    std::size_t eq = pair.find('=');
    if (eq != std::string::npos && pair.compare(0, eq, name) == 0 && eq == name.size())
      return percent_decode(pair.substr(eq + 1));
    at = end + 1;
  }
  return "";
}

}  // namespace dagsync::net
