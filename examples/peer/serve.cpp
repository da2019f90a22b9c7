// serve: relay and store documents for many clients. At start it says who it is (peer id),
// where it listens, its store and how many documents it holds; then one line per client
// connecting or leaving. --metrics adds a Prometheus endpoint; --web serves a page's files
// on the automerge-repo port.
#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <csignal>
#include <optional>

#include "addresses.h"
#include "auth_file.h"
#include "exit_codes.h"
#include "format.h"
#include "log.h"
#include "metrics_http.h"
#include "options.h"
#include "prometheus.h"
#include "static_files.h"
#include "store.h"

namespace dagsync::peer {

namespace {

// Listens as asked. An empty host means every address: "[::]" first, which on most
// systems is dual-stack and takes IPv4 too; then "0.0.0.0" on the same port, which
// succeeds only where it is not (IPv6-only sockets, or no IPv6 at all). Returns the lines
// to print.
std::vector<std::string> listen_on(Repo& repo, const std::string& scheme, const ListenAddress& a,
                                   ListenOptions options = {}) {
  auto url = [&](const std::string& host, std::uint16_t port) {
    return scheme + "://" + host_port(host, port) + a.path;
  };
  auto bind = [&](const std::string& host, std::uint16_t port) {
    try {
      return repo.listen(url(host, port), options);
    } catch (const std::exception& e) {
      throw Failure(kExitListen, e.what());
    }
  };
  if (!a.host.empty()) return {bind(a.host, a.port)};
  std::string v6;
  try {
    v6 = repo.listen(url("::", a.port), options);
  } catch (const std::exception&) {
    return {bind("0.0.0.0", a.port) + " (IPv4 only: no IPv6 here)"};
  }
  std::uint16_t port = Url::parse(v6).port;
  try {
    return {v6 + " (IPv6)", repo.listen(url("0.0.0.0", port), options) + " (IPv4)"};
  } catch (const std::exception&) {
    return {v6 + " (IPv6 and IPv4)"};  // a dual-stack socket already holds the IPv4 port
  }
}

}  // namespace

int serve(const CommonOptions& common, const ServeOptions& options) {
  std::optional<ListenAddress> tcp, ws, automerge, metrics_at;
  if (!options.tcp.empty()) tcp = parse_listen_address("--tcp", options.tcp, false);
  if (!options.ws.empty()) ws = parse_listen_address("--ws", options.ws, true, "/sync");
  if (!options.automerge.empty()) {
    automerge = parse_listen_address("--automerge", options.automerge, true, "/");
  }
  if (!options.metrics.empty()) {
    metrics_at = parse_listen_address("--metrics", options.metrics, false);
  }
  std::optional<StaticFiles> web;
  if (!options.web.empty()) web.emplace(options.web);

  asio::io_context io;
  auto logger = make_logger(common);
  Transports transports(io, {}, logger);
  RepoOptions ro = repo_options(common, open_store(common), logger);
  ro.accept_unknown_documents = !options.no_unknown_documents;
  std::optional<AuthFile> auth;
  if (!options.auth.empty()) {
    auth = AuthFile::load(options.auth);
    ro.authenticate = auth->authenticator();
    ro.access = auth->access_policy();
    if (!options.no_unknown_documents) ro.may_create = auth->create_policy();
  }
  if (options.max_connections) ro.quotas.max_connections = options.max_connections;
  if (options.max_connections_per_address)
    ro.quotas.max_connections_per_address = options.max_connections_per_address;
  if (options.max_connections_per_principal)
    ro.quotas.max_connections_per_principal = options.max_connections_per_principal;
  if (options.max_documents_per_principal)
    ro.quotas.max_documents_created_per_principal = options.max_documents_per_principal;
  bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (tls) {
    if (options.tls_cert.empty() || options.tls_key.empty())
      throw Failure(kExitUsage, "serve: --tls-cert and --tls-key go together");
    TransportOptions to = transports.options();
    to.tls.cert_chain_file = options.tls_cert;
    to.tls.private_key_file = options.tls_key;
    to.tls.client_ca_file = options.tls_client_ca;
    transports.set_options(to);
  } else if (!options.tls_client_ca.empty()) {
    throw Failure(kExitUsage, "serve: --tls-client-ca needs --tls-cert and --tls-key");
  }
  if (automerge) {
    // automerge-repo clients send nothing while idle: WebSocket pings every 5 s (as
    // automerge-repo's own server sends them) find the dead ones.
    TransportOptions to = transports.options();
    to.keepalive_interval = std::chrono::milliseconds(5000);
    transports.set_options(to);
  }
  Repo repo(io, transports, ro);
  auto say = [&](const std::string& event, const Fields& fields, const std::string& text) {
    announce(common, "server", event, fields, text);
  };

  auto sub = repo.on_peer_event([&](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kConnected) {
      say("connected", {{"peer", e.peer_id}, {"address", e.address}},
          e.peer_id + " connected from " + e.address);
    } else if (e.kind == PeerEvent::Kind::kDisconnected) {
      say("disconnected", {{"peer", e.peer_id}, {"reason", e.detail}},
          e.peer_id + " disconnected (" + e.detail + ")");
    } else if (e.kind == PeerEvent::Kind::kStorageFailed) {
      say("storage_failed", {{"peer", e.peer_id}, {"error", e.detail}},
          "storage failed for " + e.peer_id + ": " + e.detail);
    }
  });
  LatencyHistogram latency;
  auto changes_sub = repo.on_remote_changes([&](const RemoteChanges& r) {
    ChangeGraph* g = repo.find(r.doc_id);
    if (!g) return;
    std::int64_t now = now_ms();
    for (const auto& h : r.applied) {
      std::optional<Change> c = g->get(h);
      if (!c || !c->timestamp_ms()) continue;
      latency.observe(static_cast<double>(std::max<std::int64_t>(0, now - *c->timestamp_ms())) /
                      1000.0);
    }
  });

  say("started", {{"peer_id", repo.peer_id()}}, "peer id " + repo.peer_id());
  if (auth) {
    say("auth", {{"file", options.auth}, {"principals", std::to_string(auth->size())}},
        "access control from " + options.auth + " (" + plural(auth->size(), "principal") + ")");
  } else {
    logger->warn("no --auth: anyone who can connect reads and writes every document; see README");
  }
  std::vector<std::string> listening;
  std::optional<Url> web_url;  // the first automerge-repo listener, when it serves --web
  if (tcp) listening = listen_on(repo, tls ? "tls" : "tcp", *tcp);
  if (ws) {
    for (auto& line : listen_on(repo, tls ? "wss" : "ws", *ws)) listening.push_back(line);
  }
  if (automerge) {
    ListenOptions am{ListenOptions::Dialect::kAutomergeRepo};
    // Only the automerge-repo listeners answer plain HTTP: a listener keeps the transport
    // options it was opened with, so the handler is set around their listen and removed.
    TransportOptions plain = transports.options();
    if (web) {
      TransportOptions with_page = plain;
      with_page.http_handler = [&web](const HttpRequest& r) { return web->answer(r); };
      transports.set_options(with_page);
    }
    std::vector<std::string> lines = listen_on(repo, tls ? "wss" : "ws", *automerge, am);
    transports.set_options(plain);
    for (auto& line : lines) listening.push_back(line + " (automerge-repo)");
    if (web) web_url = Url::parse(lines.front().substr(0, lines.front().find(' ')));
  }
  for (const auto& line : listening) {
    say("listening", {{"url", line.substr(0, line.find(' '))}}, "listening on " + line);
  }
  if (web_url) {
    // The page connects to the WebSocket of the host it came from, on any path; a listener
    // with a path of its own is named to it with ?ws=.
    std::string origin = (tls ? "https://" : "http://") + host_port(web_url->host, web_url->port);
    std::string page = origin + "/";
    if (web_url->path != "/") {
      page += "?ws=" + std::string(tls ? "wss://" : "ws://") +
              host_port(web_url->host, web_url->port) + web_url->path;
    }
    say("web", {{"url", page}, {"folder", web->root().string()}},
        "web page at " + page + " (from " + web->root().string() + ")");
  }
  std::unique_ptr<MetricsHttpServer> metrics;
  if (metrics_at) {
    try {
      metrics = std::make_unique<MetricsHttpServer>(io, metrics_at->host, metrics_at->port, [&] {
        return render_metrics(repo.metrics(), repo.loaded_documents(), latency);
      });
    } catch (const std::exception& e) {
      throw Failure(kExitListen, e.what());
    }
    std::string url =
        "http://" + host_port(metrics_at->host.empty() ? "::" : metrics_at->host, metrics->port()) +
        "/metrics";
    say("metrics", {{"url", url}}, "metrics on " + url);
  }
  auto documents = repo.documents().size();
  say("store", {{"store", store_label(common)}, {"documents", std::to_string(documents)}},
      plural(documents, "document") + " in " + store_label(common));

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code&, int) { io.stop(); });
  io.run();
  say("stopped", {}, "stopped");
  return kExitOk;
}

}  // namespace dagsync::peer
