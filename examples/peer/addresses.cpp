#include "addresses.h"

#include "dagsync/error.h"
#include "dagsync/url.h"
#include "exit_codes.h"

namespace dagsync::peer {

void check_dial_url(const std::string& url) {
  const std::string expected =
      "expected tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH";
  Url u;
  try {
    u = Url::parse(url);
  } catch (const Error& e) {
    throw Failure(kExitUsage, std::string(e.what()) + "; " + expected);
  }
  auto bad = [&](const std::string& why) {
    throw Failure(kExitUsage, "invalid URL '" + url + "': " + why + "; " + expected);
  };
  if (u.scheme == "http" || u.scheme == "https") {
    bad("dagsync peers do not speak plain HTTP (a WebSocket server is ws:// or wss://)");
  }
  if (u.scheme != "tcp" && u.scheme != "tls" && u.scheme != "ws" && u.scheme != "wss") {
    bad("unknown scheme '" + u.scheme + "'");
  }
  if (u.host.empty()) bad("no host");
  if (!u.has_port) bad("no port");
  if (u.port == 0) bad("port 0 cannot be dialled");
  if ((u.scheme == "tcp" || u.scheme == "tls") && !u.path.empty()) {
    bad(u.scheme + " URLs take no path");
  }
}

ListenAddress parse_listen_address(const std::string& flag, const std::string& text,
                                   bool takes_path, const std::string& default_path) {
  const std::string form = takes_path ? "HOST:PORT[/PATH]" : "HOST:PORT";
  Url u;
  try {
    u = Url::parse("tcp://" + text);
  } catch (const Error& e) {
    std::string why = e.what();
    if (auto colon = why.rfind("': "); colon != std::string::npos) why = why.substr(colon + 3);
    throw Failure(kExitUsage, flag + " " + text + ": " + why + " (expected " + form + ")");
  }
  if (!u.has_port) {
    throw Failure(kExitUsage, flag + " " + text + ": no port (expected " + form +
                                  "; port 0 lets the system choose)");
  }
  if (!u.path.empty() && !takes_path) {
    throw Failure(kExitUsage, flag + " " + text + ": takes no path (expected " + form + ")");
  }
  return {u.host, u.port, u.path.empty() ? default_path : u.path};
}

std::string host_port(const std::string& host, std::uint16_t port) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

}  // namespace dagsync::peer
