// What each dagsync-peer command was asked to do, as parsed by main.cpp (flags or, for
// serve, a config file), and the commands themselves. Each command returns an exit code
// (exit_codes.h) or throws Failure.
#pragma once

#include <string>
#include <vector>

namespace dagsync::peer {

struct CommonOptions {
  std::string command;  // serve, local, connect, inspect: for the lock file and messages
  std::string store;
  std::string peer_id;
  bool verbose = false;
  std::string log_format = "text";  // text | json
};

struct ServeOptions {
  std::string tcp;      // HOST:PORT; an empty HOST: every address, IPv4 and IPv6
  std::string ws;       // HOST:PORT[/PATH], path /sync when absent
  std::string metrics;  // HOST:PORT for Prometheus metrics over HTTP; empty: off
};

struct LocalOptions {
  std::string doc;
  std::vector<std::string> add;  // one change per text
  bool list = false;
  bool create = false;
};

struct ConnectCliOptions {
  std::string url;
  std::string doc;
  std::string action;  // empty: interactive
  std::string text;    // for add: the words joined by spaces
  double timeout_s = 15;
  bool create = false;
};

struct InspectOptions {
  std::string doc;  // empty: every document
};

int serve(const CommonOptions& common, const ServeOptions& options);
int local(const CommonOptions& common, const LocalOptions& options);
int connect(const CommonOptions& common, const ConnectCliOptions& options);
int inspect(const CommonOptions& common, const InspectOptions& options);

}  // namespace dagsync::peer
