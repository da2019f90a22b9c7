// A plain TCP socket under none of our adapters, for byte-level tests: frame headers, bytes
// dribbled one at a time, a hand-made WebSocket upgrade, and the close frame a WebSocket
// server answers with. It connects when constructed and reads on the io_context from then on;
// what arrives collects in received(). Destroying it closes it.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "dagsync/bytes.h"

namespace dagsync::test {

class RawSocket {
 public:
  // Connects to the host and port of `url` (any scheme). `small_receive_buffer`: as small a
  // receive buffer as the OS allows, so that after stop_reading() the peer's writes back up
  // into its own memory quickly.
  RawSocket(asio::io_context& io, const std::string& url, bool small_receive_buffer = false);
  ~RawSocket();
  RawSocket(RawSocket&&) noexcept = default;
  RawSocket& operator=(RawSocket&&) noexcept = default;
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void write(ByteView bytes);
  void write(const std::string& s);
  // Sends `bytes` one at a time, the k-th (from 1) at now + k * interval. Every byte's timer
  // is armed up front with its absolute expiry, so the bytes keep their place among the
  // server's timers however busy the loop is.
  void dribble(const Bytes& bytes, std::chrono::milliseconds interval);
  // Queues `bytes` behind what is still unsent and writes as much as the socket takes
  // without blocking (the loop that would drain the other end is this thread's); returns the
  // bytes still unsent. An empty `bytes` only flushes.
  std::size_t write_nonblocking(ByteView bytes);
  // Reads nothing more: a peer that does not read.
  void stop_reading();
  // Ends our direction of the connection (the server reads end of stream).
  void shutdown_send();
  // Cancels the dribble and closes the socket; what the server sent stays in received().
  void close();

  // The WebSocket opening handshake for `url`, by hand: sends upgrade_request(url), waits
  // for the response headers (or the end), and returns the status line. The headers are
  // removed from received().
  // `extra_headers`: more header lines, each ending in \r\n.
  std::string upgrade(const std::string& url, const std::string& extra_headers = "");
  static std::string upgrade_request(const std::string& url, const std::string& extra_headers = "");
  // The close frame (code, reason) among the server's frames once it has arrived. Server
  // frames are unmasked; only frames up to 65535 bytes are parsed.
  std::optional<std::pair<int, std::string>> close_frame() const;

  const std::string& received() const;
  bool ended() const;                  // the server closed (or reset) the connection
  std::error_code end_reason() const;  // why the read ended, once ended()
  std::size_t dribbled() const;        // bytes of the dribble written so far
  bool write_failed() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the pending handlers
};

}  // namespace dagsync::test
