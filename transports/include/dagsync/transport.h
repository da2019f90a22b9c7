// Transport interface: message-oriented connections that carry whole binary frames.
//
// Contract, for every adapter:
// - A Connection delivers the peer's frames whole and in order to the frame handler given
//   to start(), and reports its end exactly once to the close handler, with a reason; no
//   frame is delivered after that. Handlers run on the application's io_context thread.
// - send() queues a frame and returns at once. A frame over max_frame_bytes, or a send
//   queue over max_send_queue_bytes (a peer that does not read), closes the connection
//   with a clear reason and returns false; memory stays bounded.
// - Incoming frames over max_frame_bytes close the connection (kFrameTooLarge).
// - close() flushes what was queued where the transport allows it, then ends the
//   connection; the local close handler sees the reason passed in.
// - Nothing here starts threads: all work runs on the io_context the application owns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dagsync/bytes.h"

namespace dagsync {

struct CloseReason {
  enum class Code : std::uint8_t {
    kNormal,         // closed on purpose by this side
    kRemoteClosed,   // the peer closed
    kFrameTooLarge,  // a frame over max_frame_bytes, either way
    kBadFrame,       // bytes that are not a frame of this transport (e.g. a text frame)
    kProtocol,       // the session layer refused what arrived
    kTimeout,        // connect, handshake, idle or frame timeout
    kNetwork,        // an I/O error
    kBackpressure,   // the peer stopped reading and the send queue filled
    kShutdown,       // the local side is shutting down
  };
  Code code = Code::kNormal;
  std::string message;

  std::string to_string() const;
};

const char* to_string(CloseReason::Code code);

// TLS for tls:// and wss:// (docs/transports.md). Files are PEM. TLS 1.2 or newer only.
struct TlsOptions {
  // This side's certificate (then its intermediates) and key. A listener needs both; a
  // client presents them when set (for a listener with client_ca_file: mutual TLS).
  std::string cert_chain_file;
  std::string private_key_file;
  // Client: the CAs the server's certificate must chain to; empty: the system's default store.
  std::string ca_file;
  // Listener: require a client certificate that chains to these CAs; empty: ask for none.
  std::string client_ca_file;
  // Client: the name (or IP address) the server's certificate must be valid for, also sent
  // as SNI; empty: the URL's host.
  std::string server_name;
};

// A plain HTTP request (not a WebSocket upgrade) that reached a ws:// or wss:// listener.
struct HttpRequest {
  std::string method;  // as sent: GET, HEAD, POST, ...
  std::string target;  // as sent: the path, then any query ("/app.js?v=2")
};

struct HttpResponse {
  int status = 404;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Answers plain HTTP requests on a WebSocket listener, on the io_context's thread, so a page
// can be served on the port of the WebSocket it talks to. What arrives is hostile: the
// target is exactly what the client sent. A handler that throws answers 500. Requests with a
// body are refused (413) before it is called; the response must be written within
// handshake_timeout, after which the connection is closed.
using HttpHandler = std::function<HttpResponse(const HttpRequest& request)>;

struct TransportOptions {
  std::size_t max_frame_bytes = 16u << 20;
  std::size_t max_send_queue_bytes = 64u << 20;  // WebSocket: control frames count too
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds handshake_timeout{10'000};  // TLS handshake and WebSocket upgrade
  std::chrono::milliseconds idle_timeout{0};            // nothing received for this long; 0: off
  std::chrono::milliseconds keepalive_interval{0};      // WebSocket ping; 0: off
  // A frame (WebSocket: a message) whose first byte arrived must be complete within this;
  // 0: off.
  std::chrono::milliseconds frame_timeout{30'000};
  TlsOptions tls;
  // ws:// and wss:// listeners opened while this is set answer plain HTTP requests with it
  // (a listener keeps the options it was opened with); unset: 426 Upgrade Required.
  HttpHandler http_handler;
};

// Identity a transport carries below the session protocol. A session-level token travels in
// the hello instead (docs/security.md); these are the ones a browser or TLS can provide.
struct PeerCredentials {
  bool tls = false;                 // the connection is encrypted
  std::string bearer_token;         // WebSocket upgrade: "Authorization: Bearer <token>"
  std::string query_token;          // WebSocket upgrade: "?token=<token>" on the request URL
  std::string client_cert_subject;  // TLS: the verified client certificate's subject
  std::string client_cert_sha256;   // TLS: SHA-256 of its DER encoding, lowercase hex
};

class Connection {
 public:
  using FrameHandler = std::function<void(Bytes frame)>;
  using CloseHandler = std::function<void(const CloseReason& reason)>;

  virtual ~Connection() = default;
  // Begins delivery. Call once.
  virtual void start(FrameHandler on_frame, CloseHandler on_close) = 0;
  // Queues a frame; false if the connection is closed or this send closed it.
  virtual bool send(Bytes frame) = 0;
  virtual void close(CloseReason reason = {}) = 0;
  // Stops (true) or resumes (false) reading from the peer: local backpressure.
  virtual void pause_reading(bool paused) = 0;
  virtual bool is_open() const = 0;
  // Bytes accepted by send() and not yet handed to the network.
  virtual std::size_t queued_bytes() const = 0;
  // For logs: scheme and remote address.
  virtual std::string description() const = 0;
  // What the transport learned of the peer's identity, for the application's authenticator.
  // Fixed once the connection was handed out; empty where the transport has none.
  virtual PeerCredentials credentials() const { return {}; }
};

class Listener {
 public:
  using AcceptHandler = std::function<void(std::shared_ptr<Connection> connection)>;
  virtual ~Listener() = default;
  virtual void start(AcceptHandler on_accept) = 0;
  // The URL peers connect to, with the port the OS chose when the URL asked for port 0.
  virtual std::string url() const = 0;
  virtual void close() = 0;
};

// Why dialling failed. `permanent`: dialling the same URL again cannot succeed (a malformed
// URL, an unknown scheme, the upgrade refused with an HTTP 4xx, a peer speaking another
// protocol, a certificate that does not verify); otherwise the failure may heal (refused,
// reset, timed out) and is worth retrying. Converts from text for transient errors.
struct ConnectError {
  std::string message;
  bool permanent = false;

  ConnectError() = default;
  ConnectError(std::string text, bool is_permanent = false)  // NOLINT: implicit on purpose
      : message(std::move(text)), permanent(is_permanent) {}
  ConnectError(const char* text) : message(text) {}  // NOLINT: implicit on purpose
  bool empty() const { return message.empty(); }
};

// Called once: a connection (and an empty error), or null and why.
using ConnectHandler =
    std::function<void(std::shared_ptr<Connection> connection, ConnectError error)>;

}  // namespace dagsync
