// Url: scheme://host[:port][/path], with [v6] hosts. Enough for transport URLs
// (mem://name, tcp://host:port, ws://host:port/path); not a general URL parser.
#pragma once

#include <cstdint>
#include <string>

namespace dagsync {

struct Url {
  std::string scheme;  // lower case
  std::string host;    // without brackets
  std::uint16_t port = 0;
  bool has_port = false;
  std::string path;  // starts with '/' when present

  // Throws dagsync::Error naming what is wrong.
  static Url parse(const std::string& text);
  std::string to_string() const;
};

}  // namespace dagsync
