// Internal: dagsync's TCP framing (a 4-byte big-endian length, then the bytes) over a stream:
// a plain socket for tcp://, a TLS stream for tls://.
//
// Contract: the Connection contract of transport.h, plus
// - a header announcing more than max_frame_bytes closes at once (kFrameTooLarge), nothing
//   allocated for it; the body grows only as bytes arrive;
// - on the first frame, an over-limit "length" that is really another protocol is named:
//   an HTTP request is answered with HTTP 400 saying what this port speaks, a TLS record or
//   an HTTP response ("HTTP/...", we dialled an HTTP port) closes with kBadFrame and a hint;
// - a frame not complete within frame_timeout of its first byte closes (kTimeout);
// - refusals of what the peer sent are logged at warning level, naming the remote address;
// - close() flushes the queue for at most kLingerTimeout, then drops the connection (TLS
//   without close_notify: the framing delimits frames, so a cut cannot pass for a frame).
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <deque>
#include <string>
#include <string_view>

#include "dagsync/transport.h"
#include "peer_text.h"
#include "protocol_sniff.h"
#include "send_limits.h"

namespace dagsync::net {

using asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

inline tcp::socket& lowest_socket(tcp::socket& s) {
  return s;
}
inline tcp::socket& lowest_socket(TlsStream& s) {
  return s.next_layer();
}

inline std::string endpoint_text(const tcp::endpoint& ep) {
  auto addr = ep.address();
  std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  return host + ":" + std::to_string(ep.port());
}

inline std::string remote_text(tcp::socket& socket) {
  std::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  return ec ? std::string("?") : endpoint_text(remote);
}

// What a plain tcp:// listener answers to an HTTP request before closing.
inline std::string http_refusal() {
  static constexpr std::string_view kBody =
      "This port speaks dagsync's TCP framing, not HTTP. Use ws:// for dagsync over WebSocket.\r\n";
  return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: " +
         std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
}

// What a plain tcp:// listener answers to a TLS ClientHello before closing.
inline constexpr const char kTlsRefusal[] =
    "dagsync: this port speaks plain tcp:// framing, not TLS\r\n";

template <typename Stream>
class FramedConnection : public Connection,
                         public std::enable_shared_from_this<FramedConnection<Stream>> {
 public:
  static constexpr std::chrono::seconds kLingerTimeout{5};

  // `scheme` names the transport in description() ("tcp", "tls").
  FramedConnection(Stream stream, const TransportOptions& options,
                   std::shared_ptr<spdlog::logger> logger, const std::string& scheme,
                   PeerCredentials credentials = {})
      : stream_(std::move(stream)),
        options_(options),
        logger_(std::move(logger)),
        credentials_(std::move(credentials)),
        idle_timer_(stream_.get_executor()),
        frame_timer_(stream_.get_executor()),
        linger_timer_(stream_.get_executor()) {
    std::error_code ec;
    socket().set_option(tcp::no_delay(true), ec);
    description_ = scheme + " " + remote_text(socket());
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
    auto n = static_cast<std::uint32_t>(frame.size());
    queue({std::uint8_t(n >> 24), std::uint8_t(n >> 16), std::uint8_t(n >> 8), std::uint8_t(n)}, 4,
          std::move(frame));
    return true;
  }

  void close(CloseReason reason) override {
    if (!open_) return;
    finish(reason);
    // Flush what was queued, for a bounded time, then close.
    if (writing_) {
      linger_timer_.expires_after(kLingerTimeout);
      auto self = this->shared_from_this();
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
  PeerCredentials credentials() const override { return credentials_; }

 private:
  struct Outgoing {
    std::array<std::uint8_t, 4> header;
    std::size_t header_bytes;
    Bytes body;
  };

  tcp::socket& socket() { return lowest_socket(stream_); }

  void queue(std::array<std::uint8_t, 4> header, std::size_t header_bytes, Bytes body) {
    queued_ += body.size();
    queue_.push_back({header, header_bytes, std::move(body)});
    if (!writing_) write_next();
  }

  // A new frame starts with a read of up to 4 bytes: the first byte starts the frame's clock.
  void read_header() {
    if (!open_ || paused_ || reading_) return;
    header_got_ = 0;
    read_header_rest();
  }

  void read_header_rest() {
    reading_ = true;
    auto self = this->shared_from_this();
    stream_.async_read_some(asio::buffer(header_.data() + header_got_, 4 - header_got_),
                            [self](const std::error_code& ec, std::size_t n) {
                              self->reading_ = false;
                              if (ec) return self->read_failed(ec, self->header_got_, 4, true);
                              if (!self->open_) return;
                              if (self->header_got_ == 0 && n > 0) self->frame_started();
                              self->header_got_ += n;
                              if (self->header_got_ < 4) return self->read_header_rest();
                              self->header_complete();
                            });
  }

  void header_complete() {
    std::uint32_t size = std::uint32_t(header_[0]) << 24 | std::uint32_t(header_[1]) << 16 |
                         std::uint32_t(header_[2]) << 8 | header_[3];
    bool first = frames_received_ == 0;
    if (size > options_.max_frame_bytes) {
      if (first && refuse_other_protocol()) return;
      return refuse({CloseReason::Code::kFrameTooLarge,
                     "peer announced a frame of " + std::to_string(size) + " bytes (limit " +
                         std::to_string(options_.max_frame_bytes) + ")"});
    }
    body_.clear();
    frame_size_ = size;
    read_chunk(size);
  }

  // The first four bytes, read as a length, were over the limit: say what they really were.
  bool refuse_other_protocol() {
    std::string first4 =
        peer_text(std::string_view(reinterpret_cast<const char*>(header_.data()), 4));
    switch (sniff_protocol(header_)) {
      case Sniffed::kHttpRequest: {
        std::string text = http_refusal();
        queue({}, 0, Bytes(text.begin(), text.end()));
        refuse({CloseReason::Code::kBadFrame,
                "the peer sent an HTTP request (\"" + first4 +
                    "...\"); this port speaks dagsync's TCP framing (use ws:// for WebSocket)"});
        return true;
      }
      case Sniffed::kHttpResponse:
        refuse({CloseReason::Code::kBadFrame,
                "the peer answered in HTTP (\"" + first4 +
                    "...\"): it is an HTTP or WebSocket server, not dagsync's TCP framing; dial it "
                    "with ws://"});
        return true;
      case Sniffed::kTlsHandshake: {
        // Plain text where TLS expects a record: the client's TLS library fails at once with
        // "wrong version number" (a permanent error) instead of waiting for an answer.
        std::string text = kTlsRefusal;
        queue({}, 0, Bytes(text.begin(), text.end()));
        [[fallthrough]];
      }
      case Sniffed::kTlsAlert:
        refuse({CloseReason::Code::kBadFrame,
                std::string("the peer speaks TLS (it sent a TLS ") +
                    (sniff_protocol(header_) == Sniffed::kTlsAlert ? "alert" : "handshake") +
                    " record) on a plain tcp:// connection; use tls://"});
        return true;
      case Sniffed::kNothing:
        return false;
    }
    return false;
  }

  // The body grows as bytes arrive (in chunks of at most kChunk), so a header announcing a
  // large frame pins no more memory than the peer has actually sent.
  static constexpr std::size_t kChunk = 64 * 1024;

  void read_chunk(std::uint32_t size) {
    std::size_t got = body_.size();
    if (got == size) {
      ++frames_received_;
      frame_in_progress_ = false;
      arm_idle_timer();
      on_frame_(std::move(body_));
      body_.clear();
      read_header();
      return;
    }
    body_got_ = got;  // for the frame timeout's message: whole chunks so far
    std::size_t chunk = std::min<std::size_t>(kChunk, size - got);
    body_.resize(got + chunk);
    reading_ = true;
    auto self = this->shared_from_this();
    asio::async_read(stream_, asio::buffer(body_.data() + got, chunk),
                     [self, size, got](const std::error_code& ec, std::size_t n) {
                       self->reading_ = false;
                       if (ec) return self->read_failed(ec, got + n, size, false);
                       if (!self->open_) return;
                       self->read_chunk(size);
                     });
  }

  void read_failed(const std::error_code& ec, std::size_t got, std::size_t wanted, bool header) {
    if (!open_ || ec == asio::error::operation_aborted) return;
    // A TLS peer that drops the connection without close_notify ends the same way.
    bool ended = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
    if (ended && header && got == 0) {
      finish({CloseReason::Code::kRemoteClosed, "the peer closed the connection"});
    } else if (ended) {
      finish({CloseReason::Code::kNetwork,
              std::string("connection lost mid-frame: ") + (header ? "header " : "body ") +
                  std::to_string(got) + " of " + std::to_string(wanted) + " bytes"});
    } else if (ec.category() == asio::error::get_ssl_category()) {
      refuse({CloseReason::Code::kNetwork, "TLS error: " + ec.message()});
      return;
    } else {
      finish({CloseReason::Code::kNetwork, ec.message()});
    }
    close_socket();
  }

  void write_next() {
    if (queue_.empty()) return;
    writing_ = true;
    auto self = this->shared_from_this();
    const Outgoing& front = queue_.front();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(front.header.data(), front.header_bytes),
                                              asio::buffer(front.body)};
    asio::async_write(stream_, buffers, [self](const std::error_code& ec, std::size_t) {
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
    std::weak_ptr<FramedConnection> weak = this->weak_from_this();
    idle_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || !self->open_) return;
      self->close(
          {CloseReason::Code::kTimeout,
           "no frame received for " + std::to_string(self->options_.idle_timeout.count()) + " ms"});
    });
  }

  // One timer serves every frame: it is armed when a frame starts and none is pending, and on
  // expiry either closes (the frame is late) or re-arms for the frame now in progress.
  void frame_started() {
    if (options_.frame_timeout.count() <= 0) return;
    frame_in_progress_ = true;
    frame_deadline_ = std::chrono::steady_clock::now() + options_.frame_timeout;
    if (!frame_timer_armed_) arm_frame_timer();
  }

  void arm_frame_timer() {
    frame_timer_armed_ = true;
    frame_timer_.expires_at(frame_deadline_);
    std::weak_ptr<FramedConnection> weak = this->weak_from_this();
    frame_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (!self) return;
      self->frame_timer_armed_ = false;
      if (ec || !self->open_ || !self->frame_in_progress_) return;
      if (std::chrono::steady_clock::now() < self->frame_deadline_) return self->arm_frame_timer();
      std::string progress = self->header_got_ < 4
                                 ? "header " + std::to_string(self->header_got_) + " of 4 bytes"
                                 : "body: at least " + std::to_string(self->body_got_) + " of " +
                                       std::to_string(self->frame_size_) + " bytes";
      self->refuse(
          {CloseReason::Code::kTimeout, "a frame was not completed within frame_timeout (" +
                                            std::to_string(self->options_.frame_timeout.count()) +
                                            " ms) of its first byte: " + progress});
    });
  }

  // Closes because of what the peer sent, with a warning naming it.
  void refuse(CloseReason reason) {
    if (logger_ && open_)
      logger_->warn("{}: closing: {}", description_, peer_text(reason.to_string()));
    close(std::move(reason));
  }

  void finish(const CloseReason& reason) {
    if (!open_) return;
    open_ = false;
    idle_timer_.cancel();
    frame_timer_.cancel();
    if (logger_) logger_->debug("{}: closed ({})", description_, peer_text(reason.to_string()));
    if (on_close_) {
      // The frame handler stays: finish() may run inside it (a handler that closes).
      auto handler = std::move(on_close_);
      handler(reason);
    }
  }

  void close_socket() {
    linger_timer_.cancel();
    std::error_code ignored;
    if (socket().is_open()) {
      socket().shutdown(tcp::socket::shutdown_both, ignored);
      socket().close(ignored);
    }
  }

  Stream stream_;
  TransportOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  PeerCredentials credentials_;
  asio::steady_timer idle_timer_;
  asio::steady_timer frame_timer_;
  asio::steady_timer linger_timer_;
  std::string description_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  bool open_ = true, started_ = false, paused_ = false, reading_ = false, writing_ = false;
  bool frame_in_progress_ = false, frame_timer_armed_ = false;
  std::chrono::steady_clock::time_point frame_deadline_{};
  std::uint64_t frames_received_ = 0;
  std::array<std::uint8_t, 4> header_{};
  std::size_t header_got_ = 0;
  std::uint32_t frame_size_ = 0;
  std::size_t body_got_ = 0;
  Bytes body_;
  std::deque<Outgoing> queue_;
  std::size_t queued_ = 0;
};

}  // namespace dagsync::net
