#include "tcp_transport.h"

#include <spdlog/spdlog.h>
#include <array>
#include <asio.hpp>
#include <deque>

#include "connect_attempt.h"
#include "dagsync/error.h"
#include "listen_socket.h"
#include "send_limits.h"

namespace dagsync {

namespace {

using asio::ip::tcp;

std::string endpoint_text(const tcp::endpoint& ep) {
  auto addr = ep.address();
  std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  return host + ":" + std::to_string(ep.port());
}

class TcpConnection : public Connection, public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(tcp::socket socket, TransportOptions options,
                std::shared_ptr<spdlog::logger> logger)
      : socket_(std::move(socket)),
        options_(options),
        logger_(std::move(logger)),
        idle_timer_(socket_.get_executor()),
        linger_timer_(socket_.get_executor()) {
    std::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    auto remote = socket_.remote_endpoint(ec);
    description_ = "tcp " + (ec ? std::string("?") : endpoint_text(remote));
  }

  void start(FrameHandler on_frame, CloseHandler on_close) override {
    on_frame_ = std::move(on_frame);
    on_close_ = std::move(on_close);
    started_ = true;
    arm_idle_timer();
    read_header();
  }

  bool send(Bytes frame) override {
    if (!open_) return false;
    if (auto refusal = refuse_send(frame.size(), queued_, options_)) {
      close(std::move(*refusal));
      return false;
    }
    Outgoing out;
    auto n = static_cast<std::uint32_t>(frame.size());
    out.header = {std::uint8_t(n >> 24), std::uint8_t(n >> 16), std::uint8_t(n >> 8),
                  std::uint8_t(n)};
    out.body = std::move(frame);
    queued_ += out.body.size();
    queue_.push_back(std::move(out));
    if (!writing_) write_next();
    return true;
  }

  void close(CloseReason reason) override {
    if (!open_) return;
    finish(reason);
    // Flush what was queued, for a bounded time, then close.
    if (writing_) {
      linger_timer_.expires_after(std::chrono::seconds(5));
      auto self = shared_from_this();
      linger_timer_.async_wait([self](const std::error_code& ec) {
        if (!ec) self->close_socket();
      });
    } else {
      close_socket();
    }
  }

  // While paused the peer cannot reach us, so the idle timer rests too.
  void pause_reading(bool paused) override {
    paused_ = paused;
    if (paused) {
      idle_timer_.cancel();
    } else if (open_ && started_) {
      arm_idle_timer();
      if (!reading_) read_header();
    }
  }
  bool is_open() const override { return open_; }
  std::size_t queued_bytes() const override { return queued_; }
  std::string description() const override { return description_; }

 private:
  struct Outgoing {
    std::array<std::uint8_t, 4> header;
    Bytes body;
  };

  void read_header() {
    if (!open_ || paused_ || reading_) return;
    reading_ = true;
    auto self = shared_from_this();
    asio::async_read(
        socket_, asio::buffer(header_), [self](const std::error_code& ec, std::size_t n) {
          self->reading_ = false;
          if (ec) return self->read_failed(ec, n, 4, true);
          std::uint32_t size = std::uint32_t(self->header_[0]) << 24 |
                               std::uint32_t(self->header_[1]) << 16 |
                               std::uint32_t(self->header_[2]) << 8 | self->header_[3];
          if (size > self->options_.max_frame_bytes) {
            return self->close({CloseReason::Code::kFrameTooLarge,
                                "peer announced a frame of " + std::to_string(size) +
                                    " bytes (limit " +
                                    std::to_string(self->options_.max_frame_bytes) + ")"});
          }
          self->read_body(size);
        });
  }

  // The body grows as bytes arrive (in chunks of at most kChunk), so a header announcing a
  // large frame pins no more memory than the peer has actually sent.
  static constexpr std::size_t kChunk = 64 * 1024;

  void read_body(std::uint32_t size) {
    if (!open_) return;
    body_.clear();
    read_chunk(size);
  }

  void read_chunk(std::uint32_t size) {
    std::size_t got = body_.size();
    if (got == size) {
      arm_idle_timer();
      on_frame_(std::move(body_));
      body_.clear();
      read_header();
      return;
    }
    std::size_t chunk = std::min<std::size_t>(kChunk, size - got);
    body_.resize(got + chunk);
    reading_ = true;
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(body_.data() + got, chunk),
                     [self, size, got](const std::error_code& ec, std::size_t n) {
                       self->reading_ = false;
                       if (ec) return self->read_failed(ec, got + n, size, false);
                       if (!self->open_) return;
                       self->read_chunk(size);
                     });
  }

  void read_failed(const std::error_code& ec, std::size_t got, std::size_t wanted, bool header) {
    if (!open_ || ec == asio::error::operation_aborted) return;
    if (ec == asio::error::eof && header && got == 0) {
      finish({CloseReason::Code::kRemoteClosed, "the peer closed the connection"});
    } else if (ec == asio::error::eof) {
      finish({CloseReason::Code::kNetwork,
              std::string("connection lost mid-frame: ") + (header ? "header " : "body ") +
                  std::to_string(got) + " of " + std::to_string(wanted) + " bytes"});
    } else {
      finish({CloseReason::Code::kNetwork, ec.message()});
    }
    close_socket();
  }

  void write_next() {
    if (queue_.empty()) return;
    writing_ = true;
    auto self = shared_from_this();
    const Outgoing& front = queue_.front();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(front.header), asio::buffer(front.body)};
    asio::async_write(socket_, buffers, [self](const std::error_code& ec, std::size_t) {
      self->writing_ = false;
      self->queued_ -= self->queue_.front().body.size();
      self->queue_.pop_front();
      if (ec) {
        if (ec != asio::error::operation_aborted) {
          self->finish({CloseReason::Code::kNetwork, "write failed: " + ec.message()});
        }
        self->queue_.clear();
        self->queued_ = 0;
        self->close_socket();
        return;
      }
      if (!self->queue_.empty()) {
        self->write_next();
      } else if (!self->open_) {
        self->close_socket();
      }
    });
  }

  void arm_idle_timer() {
    if (options_.idle_timeout.count() <= 0 || !open_ || paused_) return;
    idle_timer_.expires_after(options_.idle_timeout);
    std::weak_ptr<TcpConnection> weak = weak_from_this();
    idle_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || !self->open_) return;
      self->close(
          {CloseReason::Code::kTimeout,
           "no frame received for " + std::to_string(self->options_.idle_timeout.count()) + " ms"});
    });
  }

  void finish(const CloseReason& reason) {
    if (!open_) return;
    open_ = false;
    idle_timer_.cancel();
    if (logger_) logger_->debug("{}: closed ({})", description_, reason.to_string());
    if (on_close_) {
      // The frame handler stays: finish() may run inside it (a handler that closes).
      auto handler = std::move(on_close_);
      handler(reason);
    }
  }

  void close_socket() {
    linger_timer_.cancel();
    std::error_code ignored;
    if (socket_.is_open()) {
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
  }

  tcp::socket socket_;
  TransportOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  asio::steady_timer idle_timer_;
  asio::steady_timer linger_timer_;
  std::string description_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  bool open_ = true, started_ = false, paused_ = false, reading_ = false, writing_ = false;
  std::array<std::uint8_t, 4> header_{};
  Bytes body_;
  std::deque<Outgoing> queue_;
  std::size_t queued_ = 0;
};

class TcpListener : public Listener {
 public:
  TcpListener(asio::io_context& io, const Url& url, TransportOptions options,
              std::shared_ptr<spdlog::logger> logger)
      : state_(std::make_shared<State>(io, options, std::move(logger))) {
    if (!url.has_port)
      throw Error("tcp: listen URL needs a port (0 lets the OS choose): " + url.to_string());
    try {
      net::open_listening(state_->acceptor, io, url.host, url.port, url.to_string());
    } catch (const std::runtime_error& e) {
      throw Error(std::string("tcp: ") + e.what());
    }
    state_->url = "tcp://" + endpoint_text(state_->acceptor.local_endpoint());
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
    state_->on_accept = nullptr;
  }

 private:
  struct State {
    State(asio::io_context& io, TransportOptions o, std::shared_ptr<spdlog::logger> l)
        : acceptor(io), options(o), logger(std::move(l)) {}
    tcp::acceptor acceptor;
    TransportOptions options;
    std::shared_ptr<spdlog::logger> logger;
    std::string url;
    AcceptHandler on_accept;
  };

  static void accept_next(const std::shared_ptr<State>& state) {
    state->acceptor.async_accept([state](const std::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) return;
      if (!ec && state->on_accept) {
        state->on_accept(
            std::make_shared<TcpConnection>(std::move(socket), state->options, state->logger));
      } else if (ec && state->logger) {
        state->logger->warn("tcp {}: accept failed: {}", state->url, ec.message());
      }
      accept_next(state);
    });
  }

  std::shared_ptr<State> state_;
};

class TcpAdapter : public TransportAdapter {
 public:
  TcpAdapter(asio::io_context& io, std::shared_ptr<spdlog::logger> logger)
      : io_(io), logger_(std::move(logger)) {}

  std::string scheme() const override { return "tcp"; }

  std::unique_ptr<Listener> listen(const Url& url, const TransportOptions& options) override {
    return std::make_unique<TcpListener>(io_, url, options, logger_);
  }

  void connect(const Url& url, const TransportOptions& options, ConnectHandler done) override {
    std::string target = url.to_string();
    if (!url.has_port)
      return net::fail_connect(io_, std::move(done),
                               ConnectError("tcp: URL needs a port: " + target, true));
    // The resolver and socket outlive this call in the handlers that hold them.
    auto resolver = std::make_shared<tcp::resolver>(io_);
    auto socket = std::make_shared<tcp::socket>(io_);
    auto attempt =
        net::ConnectAttempt::start(io_, std::move(done), options.connect_timeout,
                                   "tcp: connect to " + target + " timed out after " +
                                       std::to_string(options.connect_timeout.count()) + " ms",
                                   [resolver, socket] {
                                     std::error_code ignored;
                                     resolver->cancel();
                                     socket->close(ignored);
                                   });
    auto logger = logger_;
    resolver->async_resolve(
        url.host, std::to_string(url.port),
        [attempt, resolver, socket, target, options, logger](const std::error_code& ec,
                                                             tcp::resolver::results_type results) {
          if (ec)
            return attempt->finish(nullptr, "tcp: cannot resolve " + target + ": " + ec.message());
          asio::async_connect(
              *socket, results,
              [attempt, socket, target, options, logger](const std::error_code& ec,
                                                         const tcp::endpoint&) {
                if (attempt->finished()) return;
                if (ec) {
                  return attempt->finish(nullptr,
                                         "tcp: connect to " + target + " failed: " + ec.message());
                }
                attempt->finish(
                    std::make_shared<TcpConnection>(std::move(*socket), options, logger), "");
              });
        });
  }

 private:
  asio::io_context& io_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

std::unique_ptr<TransportAdapter> make_tcp_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger) {
  return std::make_unique<TcpAdapter>(io, std::move(logger));
}

}  // namespace dagsync
