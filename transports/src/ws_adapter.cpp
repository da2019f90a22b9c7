#include "ws_adapter.h"

#include <asio.hpp>
#include <stdexcept>

#include "dagsync/error.h"
#include "ws_core.h"

namespace dagsync {

namespace {

ws::Options to_ws(const TransportOptions& o) {
  ws::Options w;
  w.max_frame_bytes = o.max_frame_bytes;
  w.max_send_queue_bytes = o.max_send_queue_bytes;
  w.handshake_timeout_ms = o.handshake_timeout.count();
  w.idle_timeout_ms = o.idle_timeout.count();
  w.keepalive_interval_ms = o.keepalive_interval.count();
  return w;
}

class WsConnection : public Connection {
 public:
  explicit WsConnection(std::shared_ptr<ws::Conn> conn) : conn_(std::move(conn)) {}
  void start(FrameHandler on_frame, CloseHandler on_close) override {
    conn_->start(std::move(on_frame),
                 [on_close = std::move(on_close)](int code, std::string message) {
                   on_close(CloseReason{static_cast<CloseReason::Code>(code), std::move(message)});
                 });
  }
  bool send(Bytes frame) override { return conn_->send(std::move(frame)); }
  void close(CloseReason reason) override {
    conn_->close(static_cast<int>(reason.code), std::move(reason.message));
  }
  void pause_reading(bool paused) override { conn_->pause_reading(paused); }
  bool is_open() const override { return conn_->is_open(); }
  std::size_t queued_bytes() const override { return conn_->queued_bytes(); }
  std::string description() const override { return conn_->description(); }

 private:
  std::shared_ptr<ws::Conn> conn_;
};

class WsListener : public Listener {
 public:
  WsListener(std::unique_ptr<ws::Server> server, Url url)
      : server_(std::move(server)), url_(std::move(url)) {
    url_.port = server_->port();
    url_.has_port = true;
  }
  void start(AcceptHandler on_accept) override {
    server_->start([on_accept = std::move(on_accept)](std::shared_ptr<ws::Conn> c) {
      on_accept(std::make_shared<WsConnection>(std::move(c)));
    });
  }
  std::string url() const override { return url_.to_string(); }
  void close() override { server_->close(); }

 private:
  std::unique_ptr<ws::Server> server_;
  Url url_;
};

class WsAdapter : public TransportAdapter {
 public:
  WsAdapter(asio::io_context& io, std::shared_ptr<spdlog::logger> logger)
      : io_(io), logger_(std::move(logger)) {}
  std::string scheme() const override { return "ws"; }

  std::unique_ptr<Listener> listen(const Url& url, const TransportOptions& options) override {
    if (!url.has_port)
      throw Error("ws: listen URL needs a port (0 lets the OS choose): " + url.to_string());
    try {
      return std::make_unique<WsListener>(
          ws::listen(io_, url.host, url.port, url.path, to_ws(options), logger_), url);
    } catch (const std::runtime_error& e) {
      throw Error(std::string("ws: ") + e.what());
    }
  }

  void connect(const Url& url, const TransportOptions& options, ConnectHandler done) override {
    if (!url.has_port) {
      asio::post(io_, [done = std::move(done), u = url.to_string()] {
        done(nullptr, "ws: URL needs a port: " + u);
      });
      return;
    }
    // websocketpp fixes its resolve/connect timeouts at compile time; the whole attempt is
    // bounded here by connect_timeout instead.
    struct Attempt {
      explicit Attempt(asio::io_context& io) : timer(io) {}
      asio::steady_timer timer;
      ConnectHandler done;
      bool finished = false;
    };
    auto attempt = std::make_shared<Attempt>(io_);
    attempt->done = std::move(done);
    std::string target = url.to_string();
    attempt->timer.expires_after(options.connect_timeout + options.handshake_timeout);
    attempt->timer.async_wait([attempt, target, options](const std::error_code& ec) {
      if (ec || attempt->finished) return;
      attempt->finished = true;
      attempt->done(
          nullptr,
          "ws: connect to " + target + " timed out after " +
              std::to_string((options.connect_timeout + options.handshake_timeout).count()) +
              " ms");
    });
    ws::connect(io_, url.host, url.port, url.path.empty() ? "/" : url.path, to_ws(options), logger_,
                [attempt](std::shared_ptr<ws::Conn> c, std::string error) {
                  if (attempt->finished) {
                    if (c)
                      c->close(static_cast<int>(CloseReason::Code::kShutdown), "connect timed out");
                    return;
                  }
                  attempt->finished = true;
                  attempt->timer.cancel();
                  attempt->done(c ? std::make_shared<WsConnection>(std::move(c)) : nullptr,
                                std::move(error));
                });
  }

 private:
  asio::io_context& io_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

std::unique_ptr<TransportAdapter> make_ws_adapter(asio::io_context& io,
                                                  std::shared_ptr<spdlog::logger> logger) {
  return std::make_unique<WsAdapter>(io, std::move(logger));
}

}  // namespace dagsync
