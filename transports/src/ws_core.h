// Internal: the WebSocket engine on websocketpp. This header and ws_core.cpp compile as
// C++17 (websocketpp 0.8.2 does not build as C++20), so they use none of dagsync's public
// headers; ws_adapter.cpp adapts them to the Connection/Listener interfaces.
//
// Contract: the same as dagsync::Connection (transport.h): binary messages are frames;
// a text message, a message over max_frame_bytes, or a send queue over
// max_send_queue_bytes closes the connection with the matching code and a clear message;
// on_close runs exactly once; everything runs on the given io_context.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tls_settings.h"

namespace asio {
class io_context;
}
namespace spdlog {
class logger;
}

namespace dagsync::ws {

// Numerically and by meaning dagsync::HttpResponse.
struct HttpReply {
  int status = 404;
  std::string content_type;
  std::string body;
};
using HttpAnswer = std::function<HttpReply(const std::string& method, const std::string& target)>;

struct Options {
  std::size_t max_frame_bytes = 16u << 20;
  std::size_t max_send_queue_bytes = 64u << 20;
  long long handshake_timeout_ms = 10'000;
  long long idle_timeout_ms = 0;        // 0: off
  long long keepalive_interval_ms = 0;  // ping period; 0: off. A missing pong closes (kTimeout).
  long long frame_timeout_ms = 30'000;  // a message begun must be complete within this; 0: off
  bool tls = false;                     // wss://
  net::TlsSettings tls_settings;
  HttpAnswer http;  // server: answers plain HTTP requests; unset: 426 Upgrade Required
};

// Numerically and by meaning dagsync::PeerCredentials.
struct Credentials {
  bool tls = false;
  std::string bearer_token;
  std::string query_token;
  std::string client_cert_subject;
  std::string client_cert_sha256;
};

// Numerically equal to dagsync::CloseReason::Code.
enum CloseCode : int {
  kNormal = 0,
  kRemoteClosed,
  kFrameTooLarge,
  kBadFrame,
  kProtocol,
  kTimeout,
  kNetwork,
  kBackpressure,
  kShutdown,
};

class Conn {
 public:
  using FrameHandler = std::function<void(std::vector<std::uint8_t>)>;
  using CloseHandler = std::function<void(int code, std::string message)>;
  virtual ~Conn() = default;
  virtual void start(FrameHandler on_frame, CloseHandler on_close) = 0;
  virtual bool send(std::vector<std::uint8_t> frame) = 0;
  virtual void close(int code, std::string message) = 0;
  virtual void pause_reading(bool paused) = 0;
  virtual bool is_open() const = 0;
  virtual std::size_t queued_bytes() const = 0;
  virtual std::string description() const = 0;
  virtual Credentials credentials() const = 0;
};

class Server {
 public:
  virtual ~Server() = default;
  virtual void start(std::function<void(std::shared_ptr<Conn>)> on_accept) = 0;
  virtual std::uint16_t port() const = 0;  // the bound port (the OS's choice for port 0)
  virtual void close() = 0;
};

// Listens on host:port (TLS first with options.tls) and accepts upgrades for `path` only
// (others get HTTP 404); an empty path or "/" accepts any. Throws std::runtime_error with a
// clear message on failure, naming the certificate or key file that cannot be used.
std::unique_ptr<Server> listen(asio::io_context& io, const std::string& host, std::uint16_t port,
                               const std::string& path, const Options& options,
                               std::shared_ptr<spdlog::logger> logger);

// Connects (with options.tls: TLS, verifying the server) and upgrades; `done` is called
// once, never synchronously. `permanent`: retrying cannot help (an HTTP 4xx, a certificate
// that does not verify, a server that does not speak TLS).
using ConnectDone = std::function<void(std::shared_ptr<Conn>, std::string error, bool permanent)>;
void connect(asio::io_context& io, const std::string& host, std::uint16_t port,
             const std::string& path, const Options& options,
             std::shared_ptr<spdlog::logger> logger, ConnectDone done);

}  // namespace dagsync::ws
