#include "tcp_transport.h"

#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "accept_backoff.h"
#include "connect_attempt.h"
#include "dagsync/error.h"
#include "framed_connection.h"
#include "listen_socket.h"
#include "tls_context.h"

namespace dagsync {

namespace {

using asio::ip::tcp;
using net::FramedConnection;
using net::TlsStream;

net::TlsSettings tls_settings(const TlsOptions& t) {
  return {t.cert_chain_file, t.private_key_file, t.ca_file, t.client_ca_file, t.server_name};
}

// Runs a TLS handshake bounded by handshake_timeout; `done(error)` runs once, with the
// stream ready when the error is empty.
void tls_handshake(const std::shared_ptr<TlsStream>& stream, TlsStream::handshake_type type,
                   std::chrono::milliseconds timeout,
                   std::function<void(std::optional<net::TlsFailure>)> done) {
  auto timer = std::make_shared<asio::steady_timer>(stream->get_executor());
  auto timed_out = std::make_shared<bool>(false);
  timer->expires_after(timeout);
  timer->async_wait([stream, timed_out](const std::error_code& ec) {
    if (ec) return;
    *timed_out = true;
    std::error_code ignored;
    stream->next_layer().close(ignored);  // fails the handshake in progress
  });
  stream->async_handshake(type, [stream, timer, timed_out, timeout, type,
                                 done = std::move(done)](const std::error_code& ec) {
    timer->cancel();
    if (!ec) return done(std::nullopt);
    if (*timed_out) {
      return done(net::TlsFailure{
          "the TLS handshake did not complete within " + std::to_string(timeout.count()) + " ms",
          false});
    }
    done(net::describe_failure(stream->native_handle(), ec, type == TlsStream::client));
  });
}

PeerCredentials tls_credentials(TlsStream& stream) {
  PeerCredentials c;
  c.tls = true;
  auto cert = net::peer_certificate(stream.native_handle());
  c.client_cert_subject = std::move(cert.subject);
  c.client_cert_sha256 = std::move(cert.sha256);
  return c;
}

// Accepts on tcp:// or, with a TLS context, tls://; hands over each connection once it is
// ready (after the TLS handshake), backs off while out of descriptors.
class TcpListener : public Listener {
 public:
  TcpListener(asio::io_context& io, const Url& url, TransportOptions options,
              std::shared_ptr<spdlog::logger> logger, std::shared_ptr<asio::ssl::context> tls)
      : state_(std::make_shared<State>(io, options, std::move(logger), std::move(tls))) {
    std::string scheme = state_->tls ? "tls" : "tcp";
    if (!url.has_port)
      throw Error(scheme + ": listen URL needs a port (0 lets the OS choose): " + url.to_string());
    try {
      net::open_listening(state_->acceptor, io, url.host, url.port, url.to_string());
    } catch (const std::runtime_error& e) {
      throw Error(scheme + ": " + e.what());
    }
    state_->url = scheme + "://" + net::endpoint_text(state_->acceptor.local_endpoint());
  }
  ~TcpListener() override { close(); }

  void start(AcceptHandler on_accept) override {
    state_->on_accept = std::move(on_accept);
    accept_next(state_);
  }
  std::string url() const override { return state_->url; }
  void close() override {
    std::error_code ignored;
    state_->acceptor.close(ignored);
    state_->backoff_timer.cancel();
    state_->on_accept = nullptr;
  }

 private:
  struct State {
    State(asio::io_context& io, TransportOptions o, std::shared_ptr<spdlog::logger> l,
          std::shared_ptr<asio::ssl::context> t)
        : acceptor(io), backoff_timer(io), options(o), logger(std::move(l)), tls(std::move(t)) {}
    tcp::acceptor acceptor;
    asio::steady_timer backoff_timer;
    net::AcceptBackoff backoff;
    TransportOptions options;
    std::shared_ptr<spdlog::logger> logger;
    std::shared_ptr<asio::ssl::context> tls;
    std::string url;
    AcceptHandler on_accept;
  };

  static void accept_next(const std::shared_ptr<State>& state) {
    state->acceptor.async_accept([state](const std::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) return;
      if (ec) return accept_failed(state, ec);
      state->backoff.succeeded();
      if (state->tls) {
        start_tls(state, std::move(socket));
      } else if (state->on_accept) {
        state->on_accept(std::make_shared<FramedConnection<tcp::socket>>(
            std::move(socket), state->options, state->logger, "tcp"));
      }
      accept_next(state);
    });
  }

  static void accept_failed(const std::shared_ptr<State>& state, const std::error_code& ec) {
    auto decision = state->backoff.failed(ec);
    if (decision.warn && state->logger) {
      state->logger->warn(
          "{}: accept failed: {} ({} failure(s) since the last warning){}", state->url,
          ec.message(), decision.failures,
          decision.delay.count()
              ? "; pausing accepts for " + std::to_string(decision.delay.count()) + " ms"
              : std::string());
    }
    if (decision.delay.count() == 0) return accept_next(state);
    state->backoff_timer.expires_after(decision.delay);
    state->backoff_timer.async_wait([state](const std::error_code& wait_ec) {
      if (!wait_ec && state->acceptor.is_open()) accept_next(state);
    });
  }

  // A client that does not speak TLS learns why in its own terms before the connection
  // closes: our tcp:// client reads a TLS alert record as "this peer speaks TLS", an HTTP
  // client gets a 400.
  static void refuse_plaintext(const std::shared_ptr<TlsStream>& stream,
                               net::TlsFailure::Peer peer) {
    auto close = [stream](const std::error_code& = {}, std::size_t = 0) {
      std::error_code ignored;
      stream->next_layer().shutdown(tcp::socket::shutdown_both, ignored);
      stream->next_layer().close(ignored);
    };
    std::string_view refusal = net::plaintext_refusal(peer);
    if (refusal.empty()) return close();
    asio::async_write(stream->next_layer(), asio::buffer(refusal.data(), refusal.size()), close);
  }

  static void start_tls(const std::shared_ptr<State>& state, tcp::socket socket) {
    std::string remote = net::remote_text(socket);
    auto stream = std::make_shared<TlsStream>(std::move(socket), *state->tls);
    tls_handshake(stream, TlsStream::server, state->options.handshake_timeout,
                  [state, stream, remote](std::optional<net::TlsFailure> failure) {
                    if (failure) {
                      if (state->logger) {
                        state->logger->warn("{}: TLS handshake with {} failed: {}", state->url,
                                            remote, failure->message);
                      }
                      refuse_plaintext(stream, failure->peer);
                      return;
                    }
                    auto credentials = tls_credentials(*stream);
                    auto conn = std::make_shared<FramedConnection<TlsStream>>(
                        std::move(*stream), state->options, state->logger, "tls",
                        std::move(credentials));
                    if (state->on_accept) {
                      state->on_accept(std::move(conn));
                    } else {
                      conn->close({CloseReason::Code::kShutdown, "the listener was closed"});
                    }
                  });
  }

  std::shared_ptr<State> state_;
};

class TcpAdapter : public TransportAdapter {
 public:
  TcpAdapter(asio::io_context& io, std::shared_ptr<spdlog::logger> logger, bool tls)
      : io_(io), logger_(std::move(logger)), tls_(tls) {}

  std::string scheme() const override { return tls_ ? "tls" : "tcp"; }

  std::unique_ptr<Listener> listen(const Url& url, const TransportOptions& options) override {
    std::shared_ptr<asio::ssl::context> context;
    if (tls_) {
      try {
        context = net::make_server_context(tls_settings(options.tls));
      } catch (const std::exception& e) {
        throw Error("tls: cannot listen on " + url.to_string() + ": " + e.what());
      }
    }
    return std::make_unique<TcpListener>(io_, url, options, logger_, std::move(context));
  }

  void connect(const Url& url, const TransportOptions& options, ConnectHandler done) override {
    std::string s = scheme();
    std::string target = url.to_string();
    if (!url.has_port)
      return net::fail_connect(io_, std::move(done),
                               ConnectError(s + ": URL needs a port: " + target, true));
    std::shared_ptr<asio::ssl::context> context;
    if (tls_) {
      try {
        context = net::make_client_context(tls_settings(options.tls));
      } catch (const std::exception& e) {
        return net::fail_connect(
            io_, std::move(done),
            ConnectError("tls: cannot connect to " + target + ": " + e.what(), true));
      }
    }
    // The resolver and socket outlive this call in the handlers that hold them. The
    // connect timeout covers resolving and connecting; the TLS handshake has its own.
    auto resolver = std::make_shared<tcp::resolver>(io_);
    auto socket = std::make_shared<tcp::socket>(io_);
    auto attempt = net::ConnectAttempt::start(
        io_, std::move(done),
        options.connect_timeout + (tls_ ? options.handshake_timeout : std::chrono::milliseconds(0)),
        s + ": connect to " + target + " timed out", [resolver, socket] {
          std::error_code ignored;
          resolver->cancel();
          socket->close(ignored);
        });
    auto logger = logger_;
    resolver->async_resolve(
        url.host, std::to_string(url.port),
        [attempt, resolver, socket, target, options, logger, context, host = url.host, s](
            const std::error_code& ec, tcp::resolver::results_type results) {
          if (ec)
            return attempt->finish(nullptr, s + ": cannot resolve " + target + ": " + ec.message());
          asio::async_connect(
              *socket, results,
              [attempt, socket, target, options, logger, context, host, s](
                  const std::error_code& ec, const tcp::endpoint&) {
                if (attempt->finished()) return;
                if (ec) {
                  return attempt->finish(nullptr,
                                         s + ": connect to " + target + " failed: " + ec.message());
                }
                if (!context) {
                  return attempt->finish(std::make_shared<FramedConnection<tcp::socket>>(
                                             std::move(*socket), options, logger, "tcp"),
                                         "");
                }
                auto stream = std::make_shared<TlsStream>(std::move(*socket), *context);
                net::prepare_client(stream->native_handle(), host, tls_settings(options.tls));
                tls_handshake(
                    stream, TlsStream::client, options.handshake_timeout,
                    [attempt, stream, context, target, options,
                     logger](std::optional<net::TlsFailure> failure) {
                      if (attempt->finished()) return;
                      if (failure) {
                        return attempt->finish(nullptr, ConnectError("tls: connect to " + target +
                                                                         ": " + failure->message,
                                                                     failure->permanent));
                      }
                      PeerCredentials credentials;
                      credentials.tls = true;
                      attempt->finish(
                          std::make_shared<FramedConnection<TlsStream>>(
                              std::move(*stream), options, logger, "tls", std::move(credentials)),
                          "");
                    });
              });
        });
  }

 private:
  asio::io_context& io_;
  std::shared_ptr<spdlog::logger> logger_;
  bool tls_;
};

}  // namespace

std::unique_ptr<TransportAdapter> make_tcp_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger) {
  return std::make_unique<TcpAdapter>(io, std::move(logger), false);
}

std::unique_ptr<TransportAdapter> make_tls_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger) {
  return std::make_unique<TcpAdapter>(io, std::move(logger), true);
}

}  // namespace dagsync
