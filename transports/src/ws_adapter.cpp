#include "ws_adapter.h"

#include <asio.hpp>
#include <stdexcept>

#include "connect_attempt.h"
#include "dagsync/error.h"
#include "send_limits.h"
#include "ws_core.h"

namespace dagsync {

namespace {

ws::Options to_ws(const TransportOptions& o, bool tls) {
  ws::Options w;
  w.tls = tls;
  w.max_frame_bytes = o.max_frame_bytes;
  w.max_send_queue_bytes = o.max_send_queue_bytes;
  w.handshake_timeout_ms = o.handshake_timeout.count();
  w.idle_timeout_ms = o.idle_timeout.count();
  w.keepalive_interval_ms = o.keepalive_interval.count();
  w.frame_timeout_ms = o.frame_timeout.count();
  w.tls_settings = {o.tls.cert_chain_file, o.tls.private_key_file, o.tls.ca_file,
                    o.tls.client_ca_file, o.tls.server_name};
  if (o.http_handler) {
    w.http = [handler = o.http_handler](const std::string& method, const std::string& target) {
      HttpResponse r = handler(HttpRequest{method, target});
      return ws::HttpReply{r.status, std::move(r.content_type), std::move(r.body)};
    };
  }
  return w;
}

// ws_core.cpp is compiled as C++17 without transport.h, so it carries its own copy of the
// close codes; the two enums must stay numerically identical for the casts below.
template <CloseReason::Code code, ws::CloseCode ws_code>
constexpr bool same_code = static_cast<int>(code) == static_cast<int>(ws_code);
static_assert(same_code<CloseReason::Code::kNormal, ws::kNormal>);
static_assert(same_code<CloseReason::Code::kRemoteClosed, ws::kRemoteClosed>);
static_assert(same_code<CloseReason::Code::kFrameTooLarge, ws::kFrameTooLarge>);
static_assert(same_code<CloseReason::Code::kBadFrame, ws::kBadFrame>);
static_assert(same_code<CloseReason::Code::kProtocol, ws::kProtocol>);
static_assert(same_code<CloseReason::Code::kTimeout, ws::kTimeout>);
static_assert(same_code<CloseReason::Code::kNetwork, ws::kNetwork>);
static_assert(same_code<CloseReason::Code::kBackpressure, ws::kBackpressure>);
static_assert(same_code<CloseReason::Code::kShutdown, ws::kShutdown>);
static_assert(static_cast<int>(CloseReason::Code::kShutdown) == ws::kShutdown,
              "a code added to one enum must be added to the other, last");

class WsConnection : public Connection {
 public:
  WsConnection(std::shared_ptr<ws::Conn> conn, const TransportOptions& options)
      : conn_(std::move(conn)), options_(options) {}
  void start(FrameHandler on_frame, CloseHandler on_close) override {
    conn_->start(std::move(on_frame),
                 [on_close = std::move(on_close)](int code, std::string message) {
                   on_close(CloseReason{static_cast<CloseReason::Code>(code), std::move(message)});
                 });
  }
  bool send(Bytes frame) override {
    if (!conn_->is_open()) return false;
    if (auto refusal = refuse_send(frame.size(), conn_->queued_bytes(), options_)) {
      close(std::move(*refusal));
      return false;
    }
    return conn_->send(std::move(frame));
  }
  void close(CloseReason reason) override {
    conn_->close(static_cast<int>(reason.code), std::move(reason.message));
  }
  void pause_reading(bool paused) override { conn_->pause_reading(paused); }
  bool is_open() const override { return conn_->is_open(); }
  std::size_t queued_bytes() const override { return conn_->queued_bytes(); }
  std::string description() const override { return conn_->description(); }
  PeerCredentials credentials() const override {
    ws::Credentials c = conn_->credentials();
    return {c.tls, std::move(c.bearer_token), std::move(c.query_token),
            std::move(c.client_cert_subject), std::move(c.client_cert_sha256)};
  }

 private:
  std::shared_ptr<ws::Conn> conn_;
  TransportOptions options_;
};

class WsListener : public Listener {
 public:
  WsListener(std::unique_ptr<ws::Server> server, Url url, const TransportOptions& options)
      : server_(std::move(server)), url_(std::move(url)), options_(options) {
    url_.port = server_->port();
    url_.has_port = true;
  }
  void start(AcceptHandler on_accept) override {
    server_->start(
        [on_accept = std::move(on_accept), options = options_](std::shared_ptr<ws::Conn> c) {
          on_accept(std::make_shared<WsConnection>(std::move(c), options));
        });
  }
  std::string url() const override { return url_.to_string(); }
  void close() override { server_->close(); }

 private:
  std::unique_ptr<ws::Server> server_;
  Url url_;
  TransportOptions options_;
};

class WsAdapter : public TransportAdapter {
 public:
  WsAdapter(asio::io_context& io, std::shared_ptr<spdlog::logger> logger, bool tls)
      : io_(io), logger_(std::move(logger)), tls_(tls) {}
  std::string scheme() const override { return tls_ ? "wss" : "ws"; }

  std::unique_ptr<Listener> listen(const Url& url, const TransportOptions& options) override {
    if (!url.has_port) {
      throw Error(scheme() +
                  ": listen URL needs a port (0 lets the OS choose): " + url.to_string());
    }
    try {
      return std::make_unique<WsListener>(
          ws::listen(io_, url.host, url.port, url.path, to_ws(options, tls_), logger_), url,
          options);
    } catch (const std::runtime_error& e) {
      throw Error(scheme() + ": cannot listen on " + url.to_string() + ": " + e.what());
    }
  }

  void connect(const Url& url, const TransportOptions& options, ConnectHandler done) override {
    std::string target = url.to_string();
    if (!url.has_port)
      return net::fail_connect(io_, std::move(done),
                               ConnectError(scheme() + ": URL needs a port: " + target, true));
    // websocketpp fixes its resolve/connect timeouts at compile time; the whole attempt is
    // bounded here by connect_timeout + handshake_timeout instead.
    auto limit = options.connect_timeout + options.handshake_timeout;
    auto attempt =
        net::ConnectAttempt::start(io_, std::move(done), limit,
                                   scheme() + ": connect to " + target + " timed out after " +
                                       std::to_string(limit.count()) + " ms");
    ws::connect(
        io_, url.host, url.port, url.path.empty() ? "/" : url.path, to_ws(options, tls_), logger_,
        [attempt, options](std::shared_ptr<ws::Conn> c, std::string error, bool permanent) {
          attempt->finish(c ? std::make_shared<WsConnection>(std::move(c), options) : nullptr,
                          ConnectError(std::move(error), permanent));
        });
  }

 private:
  asio::io_context& io_;
  std::shared_ptr<spdlog::logger> logger_;
  bool tls_;
};

}  // namespace

std::unique_ptr<TransportAdapter> make_ws_adapter(asio::io_context& io,
                                                  std::shared_ptr<spdlog::logger> logger) {
  return std::make_unique<WsAdapter>(io, std::move(logger), false);
}

std::unique_ptr<TransportAdapter> make_wss_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger) {
  return std::make_unique<WsAdapter>(io, std::move(logger), true);
}

}  // namespace dagsync
