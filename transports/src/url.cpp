#include "dagsync/url.h"

#include <algorithm>
#include <cctype>

#include "dagsync/error.h"

namespace dagsync {

Url Url::parse(const std::string& text) {
  auto fail = [&](const std::string& why) -> Url {
    throw Error("invalid URL '" + text + "': " + why);
  };
  Url url;
  auto sep = text.find("://");
  if (sep == std::string::npos || sep == 0) return fail("expected scheme://...");
  url.scheme = text.substr(0, sep);
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string rest = text.substr(sep + 3);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) url.path = rest.substr(slash);
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return fail("unterminated [ in host");
    url.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail("expected :port after ]");
      port = after.substr(1);
      url.has_port = true;
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string::npos) {
      url.host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      url.has_port = true;
    } else {
      url.host = authority;
    }
  }
  if (url.has_port) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return fail("port must be a number");
    }
    unsigned long p = std::stoul(port);
    if (p > 65535) return fail("port out of range");
    url.port = static_cast<std::uint16_t>(p);
  }
  return url;
}

std::string Url::to_string() const {
  std::string out = scheme + "://";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (has_port) out += ":" + std::to_string(port);
  return out + path;
}

}  // namespace dagsync
