// What each dagsync-peer command was asked to do, as parsed by main.cpp (flags or, for
// serve, a config file), and the commands themselves. Each command returns an exit code
// (exit_codes.h) or throws Failure.
#pragma once

#include <cstddef>
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
  std::string tcp;  // HOST:PORT; an empty HOST: every address, IPv4 and IPv6
  std::string ws;   // HOST:PORT[/PATH], path /sync when absent
  // HOST:PORT[/PATH] for automerge-repo clients (ws://, or wss:// with TLS); any path when
  // absent, as automerge-repo's own server.
  std::string automerge;
  std::string web;      // a folder served over HTTP on the --automerge port (static_files.h)
  std::string metrics;  // HOST:PORT for Prometheus metrics over HTTP; empty: off
  std::string auth;     // auth file (auth_file.h); empty: anyone reads and writes everything
  bool no_unknown_documents = false;  // serve only documents already in the store
  // TLS: with a certificate and key, --tcp listens as tls:// and --ws as wss://.
  std::string tls_cert, tls_key, tls_client_ca;
  // Quotas (dagsync::Quotas); 0 keeps the library's default.
  std::size_t max_connections = 0, max_connections_per_address = 0,
              max_connections_per_principal = 0, max_documents_per_principal = 0;
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
  std::string token;  // sent in the hello, for the server's --auth
  std::string ca;     // tls:// and wss://: the CA file to verify the server with (default: system)
};

struct InspectOptions {
  std::string doc;  // empty: every document
};

int serve(const CommonOptions& common, const ServeOptions& options);
int local(const CommonOptions& common, const LocalOptions& options);
int connect(const CommonOptions& common, const ConnectCliOptions& options);
int inspect(const CommonOptions& common, const InspectOptions& options);
int hash_token_command(const std::string& token);

}  // namespace dagsync::peer
