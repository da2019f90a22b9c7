// dagsync-peer: a sync server and a client, built only on dagsync's public API.
//
//   dagsync-peer serve --tcp 127.0.0.1:7000 --ws 127.0.0.1:7001 --store server.db
//   dagsync-peer serve --automerge 127.0.0.1:3030 --store server.db   (automerge-repo clients)
//   dagsync-peer serve --config server.toml            (the same, from a file)
//   dagsync-peer local --store alice.db --doc notes --create --add "buy milk"  (offline edit)
//   dagsync-peer local --store alice.db --doc notes --list
//   dagsync-peer connect tcp://127.0.0.1:7000 --store alice.db --doc notes sync
//       (or instead of sync: add TEXT, list, status)
//   dagsync-peer connect ws://127.0.0.1:7001/sync --store bob.db --doc notes   (interactive)
//   dagsync-peer inspect --store server.db [--doc notes]
//   dagsync-peer serve ... --auth users.auth --tls-cert cert.pem --tls-key key.pem
//   dagsync-peer connect tls://HOST:PORT --ca ca.pem --token TOKEN ...
//   dagsync-peer hash-token TOKEN                       (for --auth files)
//
// This file is the command line; each command lives in its own file. Exit codes:
// exit_codes.h.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "config_file.h"
#include "exit_codes.h"
#include "options.h"

using namespace dagsync::peer;

namespace {

// "" would make SQLite open a private temporary database: never what was meant.
const CLI::Validator kNonEmpty(
    [](std::string& value) { return value.empty() ? std::string("must not be empty") : ""; },
    "NONEMPTY", "NonEmpty");

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dagsync-peer: sync documents between peers over TCP and WebSocket"};
  app.require_subcommand(1);
  CommonOptions common;
  auto add_common = [&](CLI::App* cmd, bool store_required = true) {
    auto* store = cmd->add_option("--store", common.store,
                                  "SQLite file holding documents and sync states, or a "
                                  "postgresql:// URI (a database servers share)")
                      ->check(kNonEmpty);
    if (store_required) store->required();
    cmd->add_option("--peer-id", common.peer_id,
                    "this peer's id (default: derived from the store path)");
    cmd->add_flag("-v,--verbose", common.verbose, "log sessions at debug level");
    cmd->add_option("--log-format", common.log_format, "text or json (JSON lines)")
        ->check(CLI::IsMember({"text", "json"}));
  };

  ServeOptions serve_options;
  auto* serve_cmd = app.add_subcommand("serve", "relay and store documents for many clients");
  std::string config_path;
  serve_cmd->add_option("--config", config_path,
                        "read these options from a TOML or INI file (examples/peer-server.toml)");
  add_common(serve_cmd, /*store_required=*/false);  // it may come from the config file
  serve_cmd->add_option("--tcp", serve_options.tcp,
                        "HOST:PORT to listen on with TCP (port 0: any; no HOST: all addresses)");
  serve_cmd->add_option("--ws", serve_options.ws,
                        "HOST:PORT[/PATH] to listen on with WebSocket (path default /sync)");
  serve_cmd->add_option("--automerge", serve_options.automerge,
                        "HOST:PORT[/PATH] to listen on for automerge-repo clients over WebSocket "
                        "(any path when none is given)");
  serve_cmd->add_option("--web", serve_options.web,
                        "folder of static files (a page) to serve over HTTP on the --automerge "
                        "port, index.html at / (examples/web)");
  serve_cmd->add_option("--metrics", serve_options.metrics,
                        "HOST:PORT to serve Prometheus metrics on, at /metrics");
  serve_cmd->add_option("--auth", serve_options.auth,
                        "file of token hashes, principals and document access (README)");
  serve_cmd->add_flag("--no-unknown-documents", serve_options.no_unknown_documents,
                      "serve only documents already in the store; clients cannot create any");
  serve_cmd->add_option("--tls-cert", serve_options.tls_cert,
                        "PEM certificate chain: --tcp then listens as tls://, --ws as wss://");
  serve_cmd->add_option("--tls-key", serve_options.tls_key, "PEM private key of --tls-cert");
  serve_cmd->add_option("--tls-client-ca", serve_options.tls_client_ca,
                        "require client certificates from this CA (mutual TLS)");
  serve_cmd->add_option("--max-connections", serve_options.max_connections,
                        "connections in total (default 10000)");
  serve_cmd->add_option("--max-connections-per-address", serve_options.max_connections_per_address,
                        "connections from one IP address (default 1000)");
  serve_cmd->add_option("--max-connections-per-principal",
                        serve_options.max_connections_per_principal,
                        "connections of one principal (default 100)");
  serve_cmd->add_option("--max-documents-per-principal", serve_options.max_documents_per_principal,
                        "documents one principal may create while the server runs (default 10000)");

  LocalOptions local_options;
  auto* local_cmd = app.add_subcommand("local", "edit or list a document offline");
  add_common(local_cmd);
  local_cmd->add_option("--doc", local_options.doc, "document name")->required()->check(kNonEmpty);
  // One text per --add: `--add buy eggs` is a mistake to report, not two changes.
  local_cmd->add_option("--add", local_options.add, "add a change with this text (repeatable)")
      ->allow_extra_args(false);
  local_cmd->add_flag("--list", local_options.list, "list the document's changes and heads");
  local_cmd->add_flag("--create", local_options.create, "make the document if it does not exist");

  ConnectCliOptions connect_options;
  std::vector<std::string> words;
  auto* connect_cmd =
      app.add_subcommand("connect", "sync with a server; interactive without an action");
  add_common(connect_cmd);
  connect_cmd->add_option("url", connect_options.url, "tcp://HOST:PORT or ws://HOST:PORT/PATH")
      ->required();
  connect_cmd->add_option("--doc", connect_options.doc, "document name")
      ->required()
      ->check(kNonEmpty);
  connect_cmd->add_option("--timeout", connect_options.timeout_s,
                          "seconds to reach sync before failing (default 15)");
  connect_cmd->add_flag("--create", connect_options.create,
                        "make the document if neither this store nor the server has it");
  connect_cmd->add_option("--token", connect_options.token,
                          "credentials for a server started with --auth");
  connect_cmd->add_option(
      "--ca", connect_options.ca,
      "tls:// and wss://: CA file to verify the server (default: system store)");
  connect_cmd->add_option("action", connect_options.action, "add TEXT | list | status | sync")
      ->check(CLI::IsMember({"add", "list", "status", "sync"}));
  connect_cmd->add_option("text", words, "text of the change to add");

  InspectOptions inspect_options;
  auto* inspect_cmd = app.add_subcommand(
      "inspect", "show a store's documents, heads, size and peers (read-only, no lock)");
  add_common(inspect_cmd);
  inspect_cmd->add_option("--doc", inspect_options.doc, "only this document");

  std::string token_to_hash;
  auto* hash_cmd = app.add_subcommand("hash-token", "print the hash of a token, for --auth files");
  hash_cmd->add_option("token", token_to_hash, "the token")->required()->check(kNonEmpty);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help, or the error with a hint
    return code == 0 ? kExitOk : kExitUsage;
  }
  try {
    if (serve_cmd->parsed()) {
      common.command = "serve";
      if (!config_path.empty()) apply_config_file(*serve_cmd, config_path);
      if (common.store.empty()) throw Failure(kExitUsage, "serve: --store is required");
      if (serve_options.tcp.empty() && serve_options.ws.empty() &&
          serve_options.automerge.empty()) {
        throw Failure(kExitUsage, "serve: give --tcp, --ws and/or --automerge");
      }
      if (!serve_options.web.empty() && serve_options.automerge.empty()) {
        throw Failure(kExitUsage,
                      "serve: --web serves its page on the --automerge port; give --automerge");
      }
      return serve(common, serve_options);
    }
    if (local_cmd->parsed()) {
      common.command = "local";
      return local(common, local_options);
    }
    if (hash_cmd->parsed()) return hash_token_command(token_to_hash);
    if (inspect_cmd->parsed()) {
      common.command = "inspect";
      return inspect(common, inspect_options);
    }
    common.command = "connect";
    for (const auto& w : words)
      connect_options.text += (connect_options.text.empty() ? "" : " ") + w;
    if (connect_options.action == "add" && words.empty()) {
      throw Failure(kExitUsage, "add: needs the text of the change");
    }
    if (connect_options.action != "add" && !words.empty()) {
      throw Failure(kExitUsage, connect_options.action + ": takes no text");
    }
    return connect(common, connect_options);
  } catch (const Failure& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitFailed;
  }
}
