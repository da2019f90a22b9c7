// Checking what users type as addresses before anything is dialled or bound, so that a
// mistake that can never work ends at once with kExitUsage and a message saying what form
// was expected, instead of being retried until --timeout.
#pragma once

#include <cstdint>
#include <string>

namespace dagsync::peer {

// A URL to dial: tcp://HOST:PORT or ws://HOST:PORT[/PATH]. Throws Failure(kExitUsage).
void check_dial_url(const std::string& url);

// A listen address as given to --tcp/--ws/--metrics: HOST:PORT[/PATH], HOST may be empty
// (every address) or a [v6] literal. `path` is `default_path` when none was given.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  std::string path;
};
// Throws Failure(kExitUsage) naming `flag`. `takes_path`: whether a /PATH may follow.
ListenAddress parse_listen_address(const std::string& flag, const std::string& text,
                                   bool takes_path, const std::string& default_path = "");

// "HOST:PORT" with brackets around an IPv6 host.
std::string host_port(const std::string& host, std::uint16_t port);

}  // namespace dagsync::peer
