// The WebSocket engine (see ws_core.h) on websocketpp 0.8.2 and standalone Asio. Servers and
// clients run on the application's io_context: no threads, no io_context of their own.
//
// Semantics beyond the header, decided here:
// - Idle timeout: anything received counts as a sign of life, a data message, a ping or a
//   pong. So a peer that answers our keepalive pings (or sends its own) keeps an otherwise
//   quiet connection open; idle_timeout_ms catches a peer that has gone silent entirely.
// - Keepalive: every keepalive_interval_ms a ping goes out; if the pong for the previous
//   ping has not arrived by then, the connection closes with kTimeout.
// - Frame timeout: a message whose first bytes arrived must be complete within
//   frame_timeout_ms (see track_partial() for how a partial message is recognised).
// - Control frames count against max_send_queue_bytes: a ping whose pong would not fit is
//   not answered, and the connection closes (kBackpressure).
// - While reading is paused, neither timer can close the connection: we are the ones not
//   reading, so silence (and a missing pong) proves nothing about the peer. Both restart
//   on resume.
// - Close frames: close() sends the WebSocket code matching the reason (kFrameTooLarge 1009,
//   kBadFrame 1003, kProtocol 1008, kTimeout/kShutdown 1001, else 1000), except kNetwork
//   and kBackpressure, which drop the TCP connection at once: a close frame would wait
//   behind the bytes the peer is not reading.
// - A connection reports a close the peer started (or a failure) only after delivering the
//   frames it had already received, as TCP does; a local close() discards them.
//
// websocketpp 0.8.2 is written against Asio's pre-1.13 names (io_service, io_service::strand,
// strand::wrap), which the project-wide ASIO_NO_DEPRECATED (from asio_dep) hides. They are
// aliases and thin wrappers over the same io_context machinery, so this one translation
// unit may see them while the rest of the library does not.
#undef ASIO_NO_DEPRECATED

#include "ws_core.h"

#include "accept_backoff.h"
#include "listen_socket.h"
#include "peer_text.h"
#include "tls_context.h"
#include "upgrade_tokens.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio.hpp>
#include <websocketpp/config/asio_client.hpp>
#include <websocketpp/server.hpp>

namespace dagsync::ws {

namespace {

using Clock = std::chrono::steady_clock;
using WsErrorCode = websocketpp::lib::error_code;
namespace status = websocketpp::close::status;

// How long a close we start waits for the peer's close frame before dropping the TCP
// connection (the same bound as the TCP adapter's flush on close).
constexpr long kCloseHandshakeTimeoutMs = 5'000;

// ---- websocketpp customisation ----------------------------------------------------------

// The asio transport connection with three additions websocketpp 0.8.2 lacks:
// - Reads never overlap. pause_reading() only takes effect once the read in flight completes,
//   but resume_reading() starts a new read unconditionally; a pause followed soon by a resume
//   would put two reads on one socket into one buffer. The extra read is dropped: the one in
//   flight continues the loop when it completes.
// - after_read runs once websocketpp has processed each read, so the engine learns at once
//   that websocketpp closed the connection itself (a malformed or oversized frame) or that
//   the peer's close frame arrived, instead of after the closing handshake.
// - Bytes handed to a socket write and not yet written are counted: get_buffered_amount()
//   forgets a message as soon as it is moved into a write, so alone it understates the
//   memory held for a peer that does not read.
template <typename TransportConfig>
class TrackedSocket : public websocketpp::transport::asio::connection<TransportConfig> {
  using Base = websocketpp::transport::asio::connection<TransportConfig>;

 public:
  using Base::async_write;  // the handshake's single-buffer overload stays as it is
  using Base::Base;

  void async_read_at_least(std::size_t num_bytes, char* buf, std::size_t len,
                           websocketpp::transport::read_handler handler) {
    if (read_pending_) return;
    read_pending_ = true;
    // `this` stays valid: the base binds a shared pointer to this connection into the read.
    Base::async_read_at_least(num_bytes, buf, len,
                              [this, handler](const WsErrorCode& ec, std::size_t n) {
                                read_pending_ = false;
                                handler(ec, n);
                                auto hook = after_read;  // a copy: the hook may replace itself
                                if (hook) hook(ec ? 0 : n);
                              });
  }

  void async_write(const std::vector<websocketpp::transport::buffer>& bufs,
                   websocketpp::transport::write_handler handler) {
    std::size_t n = 0;
    for (const auto& b : bufs) n += b.len;
    writing_ += n;
    Base::async_write(bufs, [this, n, handler](const WsErrorCode& ec) {
      writing_ -= n;
      handler(ec);
    });
  }

  std::size_t bytes_being_written() const { return writing_; }

  std::function<void(std::size_t bytes)> after_read;

 private:
  bool read_pending_ = false;
  std::size_t writing_ = 0;
};

template <typename TransportConfig>
class TrackedTransport : public websocketpp::transport::asio::endpoint<TransportConfig> {
 public:
  using transport_con_type = TrackedSocket<TransportConfig>;
  using transport_con_ptr = websocketpp::lib::shared_ptr<transport_con_type>;
};

// websocketpp's TLS socket with two changes: the handshake's own error is kept (websocketpp
// replaces it with a bare "TLS handshake failed"), so a failure can say why; and a client
// sends no SNI of its own, as prepare_client() (run from the socket init handler) has set
// the right one (websocketpp would send the URL's host, even an IP address).
class TlsSocket : public websocketpp::transport::asio::tls_socket::connection {
  using Base = websocketpp::transport::asio::tls_socket::connection;

 public:
  using type = TlsSocket;
  using ptr = websocketpp::lib::shared_ptr<TlsSocket>;

  const std::error_code& handshake_error() const { return handshake_error_; }
  bool handshake_done() const { return handshake_done_; }

 protected:
  websocketpp::lib::error_code init_asio(io_service_ptr service, strand_ptr strand,
                                         bool is_server) {
    is_server_ = is_server;
    return Base::init_asio(service, strand, is_server);
  }
  void pre_init(websocketpp::transport::init_handler callback) {
    callback(websocketpp::lib::error_code());
  }
  void post_init(websocketpp::transport::init_handler callback) {
    auto self = std::static_pointer_cast<TlsSocket>(get_shared());
    get_socket().async_handshake(
        is_server_ ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
        [self, callback](const std::error_code& ec) {
          self->handshake_error_ = ec;
          self->handshake_done_ = !ec;
          self->handle_init(callback, ec);
        });
  }

 private:
  bool is_server_ = false;
  bool handshake_done_ = false;
  std::error_code handshake_error_;
};

class TlsSocketEndpoint : public websocketpp::transport::asio::tls_socket::endpoint {
 public:
  using socket_con_type = TlsSocket;
  using socket_con_ptr = TlsSocket::ptr;
};

template <typename Base, typename Socket>
struct Tracked : Base {
  using type = Tracked;
  struct transport_config : Base::transport_config {
    using socket_type = Socket;
    // Compile-time in websocketpp: they bound name resolution and the TCP connect of
    // connect(); ws::Options carries only the upgrade's timeout. TransportOptions' default.
    static constexpr long timeout_dns_resolve = 10'000;
    static constexpr long timeout_connect = 10'000;
    // The TLS handshake; only a backstop: handshake_timeout bounds it at run time (the
    // server's handshake timer, the client's ConnectAttempt).
    static constexpr long timeout_socket_post_init = 60'000;
  };
  using transport_type = TrackedTransport<transport_config>;
  // Nothing is compiled into websocketpp's own loggers; the engine logs through spdlog.
  static constexpr websocketpp::log::level alog_level = websocketpp::log::alevel::none;
  static constexpr websocketpp::log::level elog_level = websocketpp::log::elevel::none;
};

using PlainSocket = websocketpp::transport::asio::basic_socket::endpoint;
using ServerConfig = Tracked<websocketpp::config::asio, PlainSocket>;
using ClientConfig = Tracked<websocketpp::config::asio_client, PlainSocket>;
using TlsServerConfig = Tracked<websocketpp::config::asio_tls, TlsSocketEndpoint>;
using TlsClientConfig = Tracked<websocketpp::config::asio_tls_client, TlsSocketEndpoint>;

template <typename Config>
constexpr bool kIsTls =
    std::is_same_v<typename Config::transport_config::socket_type, TlsSocketEndpoint>;

// Settings shared by server and client endpoints.
template <typename Endpoint>
void init_endpoint(Endpoint& endpoint, asio::io_context& io, const Options& options) {
  endpoint.clear_access_channels(websocketpp::log::alevel::all);
  endpoint.clear_error_channels(websocketpp::log::elevel::all);
  WsErrorCode ec;
  endpoint.init_asio(&io, ec);
  if (ec) throw std::runtime_error("cannot set up the WebSocket engine: " + ec.message());
  endpoint.set_user_agent("dagsync");
  // websocketpp refuses a larger incoming message as soon as its frame header announces it,
  // closing with 1009 before buffering the payload.
  endpoint.set_max_message_size(options.max_frame_bytes);
  endpoint.set_open_handshake_timeout(
      static_cast<long>(std::max(0LL, options.handshake_timeout_ms)));
  endpoint.set_close_handshake_timeout(kCloseHandshakeTimeoutMs);
}

// ---- small helpers ----------------------------------------------------------------------

const char* code_name(int code) {
  switch (code) {
    case kNormal:
      return "normal";
    case kRemoteClosed:
      return "remote closed";
    case kFrameTooLarge:
      return "frame too large";
    case kBadFrame:
      return "bad frame";
    case kProtocol:
      return "protocol error";
    case kTimeout:
      return "timeout";
    case kNetwork:
      return "network error";
    case kBackpressure:
      return "backpressure";
    case kShutdown:
      return "shutdown";
  }
  return "unknown";
}

status::value wire_code(int code) {
  switch (code) {
    case kFrameTooLarge:
      return status::message_too_big;  // 1009
    case kBadFrame:
      return status::unsupported_data;  // 1003
    case kProtocol:
      return status::policy_violation;  // 1008
    case kTimeout:
    case kShutdown:
      return status::going_away;  // 1001
    default:
      return status::normal;  // 1000
  }
}

// A close reason fit for a close frame: at most 123 bytes (RFC 6455), cut at a UTF-8 character
// boundary (a peer may reject a reason that is not valid UTF-8).
std::string wire_reason(const std::string& message) {
  std::size_t n =
      std::min<std::size_t>(message.size(), websocketpp::frame::limits::close_reason_size);
  while (n > 0 && n < message.size() && (static_cast<unsigned char>(message[n]) & 0xC0) == 0x80)
    --n;
  return message.substr(0, n);
}

std::string url_text(bool tls, const std::string& host, std::uint16_t port,
                     const std::string& path) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "wss://" : "ws://") + h + ":" + std::to_string(port) + path;
}

// ---- connections ------------------------------------------------------------------------

// One open WebSocket connection, server or client side. websocketpp's handlers reach it
// through weak references, so dropping it never leaves a dangling handler. Once started, it
// keeps itself alive until it has reported its close, through a pending wait on the
// io_context (as the TCP adapter's read loop does): destroying the io_context still frees it.
template <typename Config>
class ConnImpl final : public Conn, public std::enable_shared_from_this<ConnImpl<Config>> {
 public:
  using WsConnection = websocketpp::connection<Config>;
  using WsConnectionPtr = typename WsConnection::ptr;
  using MessagePtr = typename WsConnection::message_ptr;

  // `owner` keeps the websocketpp endpoint alive: its connections refer to some of its parts.
  ConnImpl(asio::io_context& io, WsConnectionPtr con, std::shared_ptr<void> owner,
           const Options& options, std::shared_ptr<spdlog::logger> logger)
      : io_(io),
        con_(std::move(con)),
        owner_(std::move(owner)),
        options_(options),
        logger_(std::move(logger)),
        idle_timer_(io),
        keepalive_timer_(io),
        frame_timer_(io),
        lifeline_(io),
        description_(std::string(kIsTls<Config> ? "wss " : "ws ") + con_->get_remote_endpoint() +
                     net::peer_text(con_->get_resource())) {}

  ~ConnImpl() override {
    // Dropped before start(): nobody can use the connection any more, so end it. (A started
    // one is destroyed while open only with its io_context, which takes the socket along.)
    if (ended_ || started_) return;
    set_ws_reading(true);
    WsErrorCode ignored;
    con_->close(status::going_away, "connection dropped", ignored);
  }

  // Routes websocketpp's events for this connection here. Called once, right after
  // construction (it needs weak_from_this).
  void attach() {
    std::weak_ptr<ConnImpl> weak = this->weak_from_this();
    con_->set_message_handler([weak](websocketpp::connection_hdl, MessagePtr message) {
      if (auto self = weak.lock()) self->on_message(message);
    });
    // websocketpp queues a pong for every ping, behind whatever the peer is not reading: a
    // peer that floods pings and reads nothing would grow that queue without end. The pong
    // counts against max_send_queue_bytes like a frame; over it, no pong, and the connection
    // closes (posted: websocketpp is still working through the read that held the ping).
    con_->set_ping_handler([weak](websocketpp::connection_hdl, std::string payload) {
      auto self = weak.lock();
      if (!self || self->ended_ || self->flooded_) return false;
      self->last_received_ = Clock::now();
      ++self->completed_;
      std::size_t pong = payload.size() + 6;  // a pong's header: 2 bytes, a client's + 4 (mask)
      std::size_t queued = self->queued_bytes();
      if (queued + pong <= self->options_.max_send_queue_bytes) return true;
      self->flooded_ = true;
      asio::post(self->io_, [self, queued] {
        self->refuse(kBackpressure, "the peer keeps sending pings but does not read the pongs: " +
                                        std::to_string(queued) + " bytes queued (limit " +
                                        std::to_string(self->options_.max_send_queue_bytes) + ")");
      });
      return false;
    });
    con_->set_pong_handler([weak](websocketpp::connection_hdl, std::string) {
      if (auto self = weak.lock()) {
        self->awaiting_pong_ = false;
        self->last_received_ = Clock::now();
        ++self->completed_;
      }
    });
    auto ended = [weak](websocketpp::connection_hdl) {
      if (auto self = weak.lock()) self->on_ended();
    };
    con_->set_close_handler(ended);
    con_->set_fail_handler(ended);
    con_->after_read = [weak](std::size_t bytes) {
      auto self = weak.lock();
      if (!self || self->ended_) return;
      if (self->con_->get_state() != websocketpp::session::state::open) return self->on_ended();
      self->track_partial(bytes);
    };
  }

  // Called after the connection was handed to the application: until it calls start(),
  // nothing more is read (what already arrived waits in the backlog).
  void hold_until_started() {
    if (!started_ && !ended_) set_ws_reading(false);
  }

  void start(FrameHandler on_frame, CloseHandler on_close) override {
    if (started_) return;
    auto self = this->shared_from_this();
    started_ = true;
    on_frame_ = std::move(on_frame);
    on_close_ = std::move(on_close);
    if (ended_) {
      schedule_drain();  // delivers what arrived, then the close
      return;
    }
    lifeline_.expires_at(Clock::time_point::max());
    lifeline_.async_wait([self](const std::error_code&) {});  // released by deliver_close()
    last_received_ = Clock::now();
    arm_idle_timer();
    arm_keepalive_timer();
    if (!paused_) set_ws_reading(true);
    schedule_drain();
  }

  bool send(std::vector<std::uint8_t> frame) override {
    // The frame and queue limits are checked by the adapter (ws_adapter.cpp, send_limits.h),
    // the same way as for every other transport.
    if (ended_ || con_->get_state() != websocketpp::session::state::open) return false;
    WsErrorCode ec = con_->send(frame.data(), frame.size(), websocketpp::frame::opcode::binary);
    if (ec) {
      close(kNetwork, "send failed: " + ec.message());
      return false;
    }
    return true;
  }

  void close(int code, std::string message) override {
    if (ended_) return;
    auto self = this->shared_from_this();
    ended_ = true;
    stop_timers();
    backlog_.clear();
    if (code == kNetwork || code == kBackpressure) {
      // No close frame: it could not be sent, or would wait behind the bytes the peer is not
      // reading. websocketpp's terminate() drops the TCP connection (and its send queue).
      if (con_->get_state() != websocketpp::session::state::closed) con_->terminate(WsErrorCode());
    } else {
      set_ws_reading(true);  // the closing handshake needs the peer's reply
      WsErrorCode ignored;   // fails harmlessly when websocketpp is already closing
      con_->close(wire_code(code), wire_reason(message), ignored);
    }
    if (started_) {
      deliver_close(code, std::move(message));
    } else {
      pending_close_.emplace(code, std::move(message));
    }
  }

  void pause_reading(bool paused) override {
    if (paused == paused_) return;
    paused_ = paused;
    if (ended_) {
      if (!paused) schedule_drain();
      return;
    }
    if (paused) {
      set_ws_reading(false);
      return;
    }
    if (!started_) return;
    set_ws_reading(true);
    last_received_ = Clock::now();
    awaiting_pong_ = false;
    arm_idle_timer();
    schedule_drain();
  }

  bool is_open() const override { return !ended_; }
  std::size_t queued_bytes() const override {
    // Once websocketpp has dropped the connection, what it still holds will never be sent.
    if (con_->get_state() == websocketpp::session::state::closed) return 0;
    return con_->get_buffered_amount() + con_->bytes_being_written();
  }
  std::string description() const override { return description_; }
  Credentials credentials() const override { return credentials_; }
  void set_credentials(Credentials credentials) { credentials_ = std::move(credentials); }

 private:
  // Closes because of what the peer sent, with a warning naming it.
  void refuse(int code, std::string message) {
    if (ended_) return;
    warn_refusal(code, message);
    close(code, std::move(message));
  }
  void warn_refusal(int code, const std::string& message) const {
    if (logger_) {
      logger_->warn("{}: closing: {}: {}", description_, code_name(code), net::peer_text(message));
    }
  }

  // frame_timeout: websocketpp does not say whether it holds part of a message, but a read
  // that brought bytes and completed nothing (no message, ping or pong) shows that it does.
  // From the first such read, the message must be complete within frame_timeout; a read
  // that completes something ends the clock (a message begun within that very read then
  // starts it at its next read). While paused the peer cannot progress, so it rests.
  void track_partial(std::size_t bytes) {
    if (options_.frame_timeout_ms <= 0 || bytes == 0) return;
    if (completed_ != completed_at_last_read_) {
      partial_ = false;
    } else if (!partial_) {
      partial_ = true;
      partial_deadline_ = Clock::now() + std::chrono::milliseconds(options_.frame_timeout_ms);
      if (!frame_timer_armed_) arm_frame_timer();
    }
    completed_at_last_read_ = completed_;
  }

  void arm_frame_timer() {
    frame_timer_armed_ = true;
    frame_timer_.expires_at(partial_deadline_);
    std::weak_ptr<ConnImpl> weak = this->weak_from_this();
    frame_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (!self) return;
      self->frame_timer_armed_ = false;
      if (ec || self->ended_ || !self->partial_) return;
      if (self->paused_) {  // resuming restarts the clock
        self->partial_ = false;
        return;
      }
      if (Clock::now() < self->partial_deadline_) return self->arm_frame_timer();
      self->refuse(kTimeout, "a message was not completed within frame_timeout (" +
                                 std::to_string(self->options_.frame_timeout_ms) +
                                 " ms) of its first bytes");
    });
  }

  void on_message(const MessagePtr& message) {
    if (ended_) return;
    last_received_ = Clock::now();
    ++completed_;
    if (message->get_opcode() != websocketpp::frame::opcode::binary) {
      refuse(kBadFrame, "received a text message; dagsync frames are binary WebSocket messages");
      return;
    }
    const std::string& payload = message->get_payload();
    std::vector<std::uint8_t> frame(payload.begin(), payload.end());
    // websocketpp delivers every message of the read in flight, even once paused; those wait.
    if (!started_ || paused_ || !backlog_.empty()) {
      backlog_.push_back(std::move(frame));
      return;
    }
    on_frame_(std::move(frame));
  }

  // websocketpp ended the connection, or is ending it: the peer closed, the peer sent
  // something websocketpp refused, or the connection failed.
  void on_ended() {
    if (ended_) return;
    auto [code, message] = classify();
    // websocketpp refused what the peer sent (over the limit, not UTF-8, malformed).
    if (code == kFrameTooLarge || code == kBadFrame) warn_refusal(code, message);
    ended_ = true;
    stop_timers();
    set_ws_reading(true);  // let websocketpp finish the closing handshake
    if (started_ && backlog_.empty()) {
      deliver_close(code, std::move(message));
    } else {
      pending_close_.emplace(code, std::move(message));
      schedule_drain();
    }
  }

  std::pair<int, std::string> classify() const {
    auto remote = con_->get_remote_close_code();
    if (remote != status::abnormal_close) {  // the peer's close frame arrived
      std::string m = "the peer closed the connection";
      if (remote != status::no_status) m += " with code " + std::to_string(remote);
      const std::string& why = con_->get_remote_close_reason();
      if (!why.empty()) m += ": " + why;
      return {kRemoteClosed, m};
    }
    // websocketpp sent a close frame on its own: it refused what the peer sent.
    switch (con_->get_local_close_code()) {
      case status::abnormal_close:
        break;  // no close frame sent
      case status::message_too_big:
        return {kFrameTooLarge, "the peer sent a message over the limit of " +
                                    std::to_string(options_.max_frame_bytes) + " bytes"};
      case status::invalid_payload:
        return {kBadFrame,
                "the peer sent a text message that is not valid UTF-8 (dagsync frames are binary)"};
      case status::protocol_error:
        return {kBadFrame, "malformed WebSocket frame: " + con_->get_local_close_reason()};
      default:
        return {kProtocol, "websocketpp closed the connection with code " +
                               std::to_string(con_->get_local_close_code()) + ": " +
                               con_->get_local_close_reason()};
    }
    WsErrorCode ec = con_->get_ec();
    if (ec == websocketpp::transport::error::make_error_code(websocketpp::transport::error::eof)) {
      return {kNetwork, "the connection ended without a WebSocket close frame"};
    }
    if (auto tec = con_->get_transport_ec()) return {kNetwork, tec.message()};
    if (ec) return {kNetwork, ec.message()};
    return {kNetwork, "the connection ended"};
  }

  void deliver_close(int code, std::string message) {
    if (reported_) return;
    reported_ = true;
    pending_close_.reset();
    if (logger_) logger_->debug("{}: closed ({}: {})", description_, code_name(code), message);
    auto handler = std::move(on_close_);
    on_close_ = nullptr;
    lifeline_.cancel();  // its handler, run later, drops the reference start() took
    // The frame handler may be running (it may have called close()): release it later.
    asio::post(io_, [self = this->shared_from_this()] { self->on_frame_ = nullptr; });
    if (handler) handler(code, std::move(message));
  }

  // Delivers the backlog, then a pending close, from a fresh handler (never inside the
  // application's own call, e.g. pause_reading(false)).
  void schedule_drain() {
    if (drain_posted_ || !started_ || reported_) return;
    if (backlog_.empty() && !pending_close_) return;
    if (paused_ && !backlog_.empty()) return;
    drain_posted_ = true;
    asio::post(io_, [self = this->shared_from_this()] {
      self->drain_posted_ = false;
      self->drain();
    });
  }

  void drain() {
    while (started_ && !reported_ && !paused_ && !backlog_.empty()) {
      auto frame = std::move(backlog_.front());
      backlog_.pop_front();
      on_frame_(std::move(frame));
    }
    if (!reported_ && backlog_.empty() && pending_close_) {
      auto [code, message] = std::move(*pending_close_);
      deliver_close(code, std::move(message));
    }
  }

  // Asks websocketpp to stop or resume reading the socket; only calls it on a change, as
  // its resume always starts a read.
  void set_ws_reading(bool on) {
    if (on != ws_paused_) return;
    auto state = con_->get_state();
    if (state != websocketpp::session::state::open && state != websocketpp::session::state::closing)
      return;
    ws_paused_ = !on;
    if (on) {
      con_->resume_reading();
    } else {
      con_->pause_reading();
    }
  }

  void arm_idle_timer() {
    if (options_.idle_timeout_ms <= 0 || ended_) return;
    idle_timer_.expires_at(last_received_ + std::chrono::milliseconds(options_.idle_timeout_ms));
    std::weak_ptr<ConnImpl> weak = this->weak_from_this();
    idle_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->ended_ || self->paused_) return;  // resuming re-arms
      auto limit = std::chrono::milliseconds(self->options_.idle_timeout_ms);
      if (Clock::now() - self->last_received_ >= limit) {
        self->close(kTimeout, "nothing received (no message, ping or pong) for " +
                                  std::to_string(self->options_.idle_timeout_ms) + " ms");
      } else {
        self->arm_idle_timer();
      }
    });
  }

  void arm_keepalive_timer() {
    if (options_.keepalive_interval_ms <= 0 || ended_) return;
    keepalive_timer_.expires_after(std::chrono::milliseconds(options_.keepalive_interval_ms));
    std::weak_ptr<ConnImpl> weak = this->weak_from_this();
    keepalive_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->ended_) return;
      self->keepalive_tick();
    });
  }

  void keepalive_tick() {
    if (paused_) {
      awaiting_pong_ = false;  // we are not reading, so the pong could not arrive
    } else if (awaiting_pong_) {
      close(kTimeout,
            "no pong within " + std::to_string(options_.keepalive_interval_ms) + " ms of a ping");
      return;
    } else {
      WsErrorCode ec;
      con_->ping("", ec);
      if (!ec) awaiting_pong_ = true;
    }
    arm_keepalive_timer();
  }

  void stop_timers() {
    frame_timer_.cancel();
    idle_timer_.cancel();
    keepalive_timer_.cancel();
  }

  asio::io_context& io_;
  WsConnectionPtr con_;
  std::shared_ptr<void> owner_;
  Options options_;
  std::shared_ptr<spdlog::logger> logger_;
  asio::steady_timer idle_timer_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer frame_timer_;
  asio::steady_timer lifeline_;  // never expires; its wait holds a started connection
  std::string description_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  std::deque<std::vector<std::uint8_t>> backlog_;             // received, not yet delivered
  std::optional<std::pair<int, std::string>> pending_close_;  // reported after the backlog
  Clock::time_point last_received_ = Clock::now();
  bool started_ = false;    // start() was called
  bool ended_ = false;      // closed, locally or not; nothing more is sent
  bool reported_ = false;   // on_close ran
  bool paused_ = false;     // the application paused reading
  bool ws_paused_ = false;  // websocketpp was asked to stop reading
  bool drain_posted_ = false;
  bool awaiting_pong_ = false;
  bool flooded_ = false;         // pings refused; closing
  std::uint64_t completed_ = 0;  // messages, pings and pongs received
  std::uint64_t completed_at_last_read_ = 0;
  bool partial_ = false;  // a message is in progress (frame_timeout)
  bool frame_timer_armed_ = false;
  Clock::time_point partial_deadline_{};
  Credentials credentials_;
};

// ---- server -----------------------------------------------------------------------------

// Shared by the Server object, the accept loop and every connection it made: websocketpp
// connections refer to parts of their endpoint, so it lives as long as any of them.
template <typename Config>
struct ServerState {
  explicit ServerState(asio::io_context& context)
      : io(context), acceptor(context), backoff_timer(context) {}
  asio::io_context& io;
  websocketpp::server<Config> endpoint;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer backoff_timer;
  net::AcceptBackoff backoff;
  std::string path;
  std::string url;
  Options options;
  std::shared_ptr<spdlog::logger> logger;
  std::function<void(std::shared_ptr<Conn>)> on_accept;
  bool started = false;
  bool closed = false;
};

// One accepted socket until its upgrade completes or fails: its address (known while the
// socket is open) and, for TLS, the timer bounding the TLS handshake and upgrade together.
struct Pending {
  explicit Pending(asio::io_context& io) : timer(io) {}
  std::string remote;
  asio::steady_timer timer;
  bool timed_out = false;
};

// True when an upgrade for `resource` (path and query) may proceed on a listener for `path`.
bool path_accepts(const std::string& path, const std::string& resource) {
  if (path.empty() || path == "/") return true;
  return resource.substr(0, resource.find('?')) == path;
}

template <typename Config>
Credentials upgrade_credentials(websocketpp::connection<Config>& con) {
  Credentials c;
  c.tls = kIsTls<Config>;
  c.bearer_token = net::bearer_token(con.get_request_header("Authorization"));
  c.query_token = net::query_parameter(con.get_resource(), "token");
  if constexpr (kIsTls<Config>) {
    auto cert = net::peer_certificate(con.get_socket().native_handle());
    c.client_cert_subject = std::move(cert.subject);
    c.client_cert_sha256 = std::move(cert.sha256);
  }
  return c;
}

template <typename Config>
void accept_next(const std::shared_ptr<ServerState<Config>>& state);

// A failed TLS handshake on the server: a warning naming the client and why, and for a
// client that does not speak TLS, a plaintext answer it understands.
template <typename Config>
void tls_failed(const std::shared_ptr<ServerState<Config>>& state,
                websocketpp::connection<Config>& con, const Pending& pending) {
  if constexpr (kIsTls<Config>) {
    net::TlsFailure failure;
    if (pending.timed_out) {
      failure.message = "the TLS handshake and upgrade did not complete within " +
                        std::to_string(state->options.handshake_timeout_ms) + " ms";
    } else {
      failure =
          net::describe_failure(con.get_socket().native_handle(), con.handshake_error(), false);
      std::string_view refusal = net::plaintext_refusal(failure.peer);
      if (!refusal.empty()) {
        std::error_code ignored;  // a fresh socket's buffer takes these few bytes at once
        asio::write(con.get_next_layer(), asio::buffer(refusal.data(), refusal.size()), ignored);
      }
    }
    if (state->logger) {
      state->logger->warn("{}: TLS handshake with {} failed: {}", state->url, pending.remote,
                          failure.message);
    }
  }
}

template <typename Config>
void configure_server_connection(const std::shared_ptr<ServerState<Config>>& state,
                                 const typename websocketpp::server<Config>::connection_ptr& con,
                                 const std::shared_ptr<Pending>& pending) {
  using WsConnection = typename websocketpp::server<Config>::connection_type;
  std::weak_ptr<WsConnection> weak_con = con;
  con->set_validate_handler([state, weak_con](websocketpp::connection_hdl) {
    auto c = weak_con.lock();
    if (!c) return false;
    if (path_accepts(state->path, c->get_resource())) return true;
    c->set_status(websocketpp::http::status_code::not_found);
    if (state->logger) {
      state->logger->debug("ws {}: refused an upgrade for {} from {} (404)", state->url,
                           net::peer_text(c->get_resource()), c->get_remote_endpoint());
    }
    return false;
  });
  if (state->options.http) {
    // Plain HTTP on the WebSocket's port (a page beside its socket). websocketpp ends the
    // connection once the response is written; the pending timer still bounds a slow reader.
    con->set_http_handler([state, weak_con](websocketpp::connection_hdl) {
      auto c = weak_con.lock();
      if (!c) return;
      HttpReply reply;
      try {
        reply = state->options.http(c->get_request().get_method(), c->get_resource());
      } catch (const std::exception& e) {
        if (state->logger) {
          state->logger->warn("{}: the HTTP handler failed for {}: {}", state->url,
                              net::peer_text(c->get_resource()), e.what());
        }
        reply = {500, "text/plain; charset=utf-8", "internal error\n"};
      }
      c->set_status(static_cast<websocketpp::http::status_code::value>(reply.status));
      if (!reply.content_type.empty()) c->append_header("Content-Type", reply.content_type);
      c->set_body(reply.body);
    });
  }
  con->set_open_handler([state, weak_con, pending](websocketpp::connection_hdl) {
    pending->timer.cancel();
    auto c = weak_con.lock();
    if (!c) return;
    auto conn =
        std::make_shared<ConnImpl<Config>>(state->io, c, state, state->options, state->logger);
    conn->attach();
    conn->set_credentials(upgrade_credentials(*c));
    auto handler = state->on_accept;  // a copy: the handler may close the server
    if (!handler) {
      conn->close(kShutdown, "the server is no longer accepting connections");
      return;
    }
    if (state->logger) state->logger->debug("{}: accepted {}", state->url, conn->description());
    handler(conn);
    conn->hold_until_started();
  });
  con->set_fail_handler([state, weak_con, pending](websocketpp::connection_hdl) {
    pending->timer.cancel();
    auto c = weak_con.lock();
    if (!c) return;
    if constexpr (kIsTls<Config>) {
      if (!c->handshake_done()) return tls_failed(state, *c, *pending);
    }
    if (state->logger) {
      state->logger->debug("{}: handshake with {} failed: {}", state->url, pending->remote,
                           c->get_ec().message());
    }
  });
}

// A plain ws:// listener peeks at the first bytes before websocketpp reads them: a TLS
// ClientHello (a wss:// client) gets a plaintext answer, which its TLS library reports at once
// as "not TLS", instead of websocketpp waiting for the end of an HTTP header.
template <typename Config>
void start_unless_tls(const std::shared_ptr<ServerState<Config>>& state,
                      const typename websocketpp::server<Config>::connection_ptr& con,
                      const std::shared_ptr<Pending>& pending) {
  auto first = std::make_shared<std::array<std::uint8_t, 2>>();
  auto& socket = con->get_raw_socket();
  socket.async_receive(
      asio::buffer(*first), asio::socket_base::message_peek,
      [state, con, pending, first](const std::error_code& ec, std::size_t n) {
        if (ec || state->closed) {
          pending->timer.cancel();
          std::error_code ignored;
          con->get_raw_socket().close(ignored);
          return;
        }
        if (n >= 2 && (*first)[0] == 0x16 && (*first)[1] == 0x03) {
          pending->timer.cancel();
          static constexpr char kRefusal[] =
              "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
              "Content-Length: 44\r\n\r\nThis port speaks plain ws://, not TLS/wss.\r\n";
          std::error_code ignored;
          asio::write(con->get_raw_socket(), asio::buffer(kRefusal, sizeof kRefusal - 1), ignored);
          con->get_raw_socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
          con->get_raw_socket().close(ignored);
          if (state->logger) {
            state->logger->warn(
                "{}: {} started a TLS handshake on this plain ws:// port (use "
                "wss:// to reach a TLS listener); closed",
                state->url, pending->remote);
          }
          return;
        }
        con->start();  // reads the upgrade request; the open handler hands the connection over
      });
}

template <typename Config>
void accept_failed(const std::shared_ptr<ServerState<Config>>& state, const std::error_code& ec) {
  auto decision = state->backoff.failed(ec);
  if (decision.warn && state->logger) {
    state->logger->warn("{}: accept failed: {} ({} failure(s) since the last warning){}",
                        state->url, ec.message(), decision.failures,
                        decision.delay.count() ? "; pausing accepts for " +
                                                     std::to_string(decision.delay.count()) + " ms"
                                               : std::string());
  }
  if (decision.delay.count() == 0) return accept_next(state);
  state->backoff_timer.expires_after(decision.delay);
  state->backoff_timer.async_wait([state](const std::error_code& wait_ec) {
    if (!wait_ec && !state->closed) accept_next(state);
  });
}

// Our own accept loop rather than websocketpp's: websocketpp binds its endpoint's raw `this`
// into the pending accept, which would dangle once the Server is destroyed; here the loop
// holds the shared state, and closing the acceptor leaves established connections alone.
template <typename Config>
void accept_next(const std::shared_ptr<ServerState<Config>>& state) {
  if (state->closed) return;
  auto con = state->endpoint.get_connection();
  if (!con) {
    if (state->logger)
      state->logger->warn("{}: cannot create a connection; no longer accepting", state->url);
    return;
  }
  auto pending = std::make_shared<Pending>(state->io);
  configure_server_connection(state, con, pending);
  state->acceptor.async_accept(
      con->get_raw_socket(), [state, con, pending](const std::error_code& ec) {
        if (state->closed || ec == asio::error::operation_aborted) return;
        if (ec) return accept_failed(state, ec);
        state->backoff.succeeded();
        std::error_code ignored;
        auto remote = con->get_raw_socket().remote_endpoint(ignored);
        pending->remote = remote.address().to_string() + ":" + std::to_string(remote.port());
        {
          // For TLS, websocketpp's open-handshake timer starts only after the TLS handshake; for
          // plain ws, only once start_unless_tls() has seen the first bytes.
          pending->timer.expires_after(
              std::chrono::milliseconds(std::max(1LL, state->options.handshake_timeout_ms)));
          std::weak_ptr<typename websocketpp::server<Config>::connection_type> weak_con = con;
          pending->timer.async_wait([weak_con, pending](const std::error_code& wait_ec) {
            auto c = weak_con.lock();
            if (wait_ec || !c) return;
            pending->timed_out = true;
            std::error_code ignored;
            c->get_raw_socket().close(ignored);  // fails the handshake in progress
          });
        }
        if constexpr (kIsTls<Config>) {
          con->start();  // the TLS handshake, then the upgrade; the open handler hands it over
        } else {
          start_unless_tls(state, con, pending);
        }
        accept_next(state);
      });
}

template <typename Config>
class ServerImpl final : public Server {
 public:
  ServerImpl(std::shared_ptr<ServerState<Config>> state, std::uint16_t port)
      : state_(std::move(state)), port_(port) {}
  ~ServerImpl() override { close(); }

  void start(std::function<void(std::shared_ptr<Conn>)> on_accept) override {
    if (state_->started || state_->closed) return;
    state_->started = true;
    state_->on_accept = std::move(on_accept);
    accept_next(state_);
  }
  std::uint16_t port() const override { return port_; }
  void close() override {
    if (state_->closed) return;
    state_->closed = true;
    state_->on_accept = nullptr;
    std::error_code ignored;
    state_->acceptor.close(ignored);
    state_->backoff_timer.cancel();
  }

 private:
  std::shared_ptr<ServerState<Config>> state_;
  std::uint16_t port_;
};

template <typename Config>
std::unique_ptr<Server> listen_with(asio::io_context& io, const std::string& host,
                                    std::uint16_t port, const std::string& path,
                                    const Options& options,
                                    std::shared_ptr<spdlog::logger> logger) {
  auto state = std::make_shared<ServerState<Config>>(io);
  state->path = path;
  state->url = url_text(options.tls, host, port, path);
  state->options = options;
  state->logger = std::move(logger);
  init_endpoint(state->endpoint, io, options);
  // An upgrade request has no body, and we serve nothing else: refuse any (413) rather than
  // buffer up to websocketpp's default of 32 MB for a stranger.
  state->endpoint.set_max_http_body_size(0);
  if constexpr (kIsTls<Config>) {
    auto context = net::make_server_context(options.tls_settings);
    state->endpoint.set_tls_init_handler(
        [context](websocketpp::connection_hdl) { return context; });
  }

  std::uint16_t bound = net::open_listening(state->acceptor, io, host, port, state->url);
  state->url = url_text(options.tls, host, bound, path);
  if (state->logger) state->logger->debug("ws: listening on {}", state->url);
  return std::make_unique<ServerImpl<Config>>(std::move(state), bound);
}

// ---- client -----------------------------------------------------------------------------

template <typename Config>
struct ClientState {
  websocketpp::client<Config> endpoint;
};

struct Failure {
  std::string text;
  bool permanent = false;
};

template <typename Config>
Failure failure_text(websocketpp::connection<Config>& con, const Options& options) {
  WsErrorCode ec = con.get_ec();
  if (ec == websocketpp::error::make_error_code(websocketpp::error::open_handshake_timeout)) {
    return {"timed out: no WebSocket upgrade within " +
            std::to_string(options.handshake_timeout_ms) + " ms"};
  }
  if (ec ==
      websocketpp::transport::error::make_error_code(websocketpp::transport::error::timeout)) {
    return {"timed out resolving or connecting"};
  }
  auto http_status = con.get_response_code();
  if constexpr (kIsTls<Config>) {
    SSL* ssl = con.get_socket().native_handle();
    if (!con.handshake_done() && con.handshake_error()) {
      auto failure = net::describe_failure(ssl, con.handshake_error(), true);
      return {"failed: " + failure.message, failure.permanent};
    }
    int alert = net::last_alert_received(ssl);
    if (http_status == websocketpp::http::status_code::uninitialized && alert >= 0) {
      if (alert == 116) {  // certificate_required (TLS 1.3)
        return {"failed: the server requires a client certificate (tls.cert_chain_file)", true};
      }
      return {"failed: the server ended TLS with the alert \"" + net::alert_text(alert) +
                  "\" before answering the upgrade",
              alert == 42 || alert == 43 || alert == 44 || alert == 45 || alert == 46 ||
                  alert == 48};  // certificate problems
    }
  }
  if (http_status != websocketpp::http::status_code::uninitialized &&
      http_status != websocketpp::http::status_code::switching_protocols) {
    // 4xx: the server refuses this request and will again; 5xx and others may pass.
    bool permanent = http_status >= 400 && http_status < 500;
    return {"failed: the server answered HTTP " + std::to_string(http_status) + " " +
                net::peer_text(con.get_response_msg()),
            permanent};
  }
  if (ec == websocketpp::transport::error::make_error_code(websocketpp::transport::error::eof) ||
      con.get_transport_ec() == asio::error::eof) {
    return {std::string("failed: the server closed the connection before answering the upgrade") +
            (kIsTls<Config> ? "" : " (a wss:// port closes on a plain upgrade request)")};
  }
  if (auto tec = con.get_transport_ec()) return {"failed: " + tec.message()};
  return {"failed: " + ec.message()};
}

template <typename Config>
void connect_with(asio::io_context& io, const std::string& host, std::uint16_t port,
                  const std::string& path, const Options& options,
                  std::shared_ptr<spdlog::logger> logger, ConnectDone done) {
  using WsClient = websocketpp::client<Config>;
  std::string url = url_text(options.tls, host, port, path.empty() ? "/" : path);
  auto client = std::make_shared<ClientState<Config>>();
  typename WsClient::connection_ptr con;
  std::string problem;
  bool permanent = false;
  try {
    init_endpoint(client->endpoint, io, options);
    client->endpoint.set_max_http_body_size(64 * 1024);  // a refusal's body, if any
    if constexpr (kIsTls<Config>) {
      auto context = net::make_client_context(options.tls_settings);
      client->endpoint.set_tls_init_handler(
          [context](websocketpp::connection_hdl) { return context; });
      client->endpoint.set_socket_init_handler(
          [host, settings = options.tls_settings](websocketpp::connection_hdl,
                                                  asio::ssl::stream<asio::ip::tcp::socket>& s) {
            net::prepare_client(s.native_handle(), host, settings);
          });
    }
    WsErrorCode ec;
    con = client->endpoint.get_connection(url, ec);
    if (ec) problem = ec.message();
  } catch (const std::exception& e) {
    problem = e.what();
    permanent = true;  // a CA file that cannot be read stays unreadable on retry
  }
  if (!con || !problem.empty()) {
    asio::post(io, [done = std::move(done), permanent,
                    error = "ws: cannot connect to " + url + ": " + problem] {
      done(nullptr, error, permanent);
    });
    return;
  }

  struct Attempt {
    ConnectDone done;
    bool finished = false;
  };
  auto attempt = std::make_shared<Attempt>();
  attempt->done = std::move(done);
  std::weak_ptr<typename WsClient::connection_type> weak_con = con;

  con->set_open_handler(
      [&io, client, attempt, weak_con, options, logger](websocketpp::connection_hdl) {
        auto c = weak_con.lock();
        if (!c || attempt->finished) return;
        attempt->finished = true;
        auto conn = std::make_shared<ConnImpl<Config>>(io, c, client, options, logger);
        conn->attach();
        Credentials credentials;
        credentials.tls = kIsTls<Config>;
        conn->set_credentials(credentials);
        if (logger) logger->debug("{}: connected", conn->description());
        auto finish = std::move(attempt->done);
        finish(conn, "", false);
        conn->hold_until_started();
      });
  // Posted: websocketpp may fail a connection inside connect() itself, and `done` must never
  // run synchronously.
  con->set_fail_handler(
      [&io, attempt, weak_con, url, options, logger](websocketpp::connection_hdl) {
        auto c = weak_con.lock();
        if (!c || attempt->finished) return;
        attempt->finished = true;
        Failure failure = failure_text(*c, options);
        std::string error =
            (options.tls ? "wss: connect to " : "ws: connect to ") + url + " " + failure.text;
        if (logger) logger->debug("{}", error);
        asio::post(io, [attempt, error, permanent = failure.permanent] {
          auto finish = std::move(attempt->done);
          finish(nullptr, error, permanent);
        });
      });
  client->endpoint.connect(con);
}

}  // namespace

std::unique_ptr<Server> listen(asio::io_context& io, const std::string& host, std::uint16_t port,
                               const std::string& path, const Options& options,
                               std::shared_ptr<spdlog::logger> logger) {
  if (options.tls)
    return listen_with<TlsServerConfig>(io, host, port, path, options, std::move(logger));
  return listen_with<ServerConfig>(io, host, port, path, options, std::move(logger));
}

void connect(asio::io_context& io, const std::string& host, std::uint16_t port,
             const std::string& path, const Options& options,
             std::shared_ptr<spdlog::logger> logger, ConnectDone done) {
  if (options.tls) {
    return connect_with<TlsClientConfig>(io, host, port, path, options, std::move(logger),
                                         std::move(done));
  }
  connect_with<ClientConfig>(io, host, port, path, options, std::move(logger), std::move(done));
}

}  // namespace dagsync::ws
