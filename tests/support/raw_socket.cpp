#include "raw_socket.h"

#include <array>
#include <vector>

#include "dagsync/url.h"
#include "net_helpers.h"

namespace dagsync::test {

struct RawSocket::State {
  asio::io_context& io;
  asio::ip::tcp::socket socket;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::array<char, 4096> buffer{};
  std::string received;
  bool ended = false;
  std::error_code end_reason;
  std::size_t dribbled = 0;
  bool write_failed = false;
  bool stopped = false;
  std::string unsent;  // write_nonblocking()'s backlog

  explicit State(asio::io_context& context) : io(context), socket(context) {}

  void write(ByteView bytes) {
    std::error_code ec;
    asio::write(socket, asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) write_failed = true;
  }

  // Reads until the connection ends; each pending read holds the state alive.
  static void read_more(const std::shared_ptr<State>& state) {
    state->socket.async_read_some(asio::buffer(state->buffer),
                                  [state](const std::error_code& ec, std::size_t n) {
                                    if (!ec) state->received.append(state->buffer.data(), n);
                                    if (ec || state->stopped) {
                                      if (ec && ec != asio::error::operation_aborted) {
                                        state->ended = true;
                                        state->end_reason = ec;
                                      }
                                      return;
                                    }
                                    read_more(state);
                                  });
  }
};

RawSocket::RawSocket(asio::io_context& io, const std::string& url, bool small_receive_buffer)
    : state_(std::make_shared<State>(io)) {
  Url u = Url::parse(url);
  asio::ip::tcp::endpoint to{asio::ip::make_address(u.host), u.port};
  if (small_receive_buffer) {
    state_->socket.open(to.protocol());  // the option must precede connect to shape the window
    state_->socket.set_option(asio::socket_base::receive_buffer_size(1024));
  }
  state_->socket.connect(to);
  State::read_more(state_);
}

RawSocket::~RawSocket() {
  if (state_) close();
}

void RawSocket::write(ByteView bytes) {
  state_->write(bytes);
}

void RawSocket::write(const std::string& s) {
  state_->write(as_bytes(s));
}

void RawSocket::dribble(const Bytes& bytes, std::chrono::milliseconds interval) {
  auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    state_->timers.push_back(std::make_unique<asio::steady_timer>(state_->io));
    state_->timers.back()->expires_at(start + interval * static_cast<int>(i + 1));
    state_->timers.back()->async_wait([state = state_, byte = bytes[i]](const std::error_code& ec) {
      if (ec || state->ended || state->write_failed) return;
      state->write(Bytes{byte});
      if (!state->write_failed) ++state->dribbled;
    });
  }
}

std::size_t RawSocket::write_nonblocking(ByteView bytes) {
  std::string& out = state_->unsent;
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::error_code ec;
  state_->socket.non_blocking(true, ec);
  while (!out.empty() && !ec) {
    std::size_t n = state_->socket.write_some(asio::buffer(out), ec);
    out.erase(0, n);
  }
  if (ec && ec != asio::error::would_block) state_->write_failed = true;
  std::error_code ignored;
  state_->socket.non_blocking(false, ignored);
  return out.size();
}

void RawSocket::stop_reading() {
  state_->stopped = true;
  std::error_code ignored;
  state_->socket.cancel(ignored);  // the pending read ends; writes are synchronous
}

void RawSocket::shutdown_send() {
  std::error_code ignored;
  state_->socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void RawSocket::close() {
  for (auto& t : state_->timers) t->cancel();
  std::error_code ignored;
  state_->socket.close(ignored);
}

std::string RawSocket::upgrade(const std::string& url, const std::string& extra_headers) {
  write(upgrade_request(url, extra_headers));
  REQUIRE(run_until(
      state_->io, [&] { return contains(state_->received, "\r\n\r\n") || state_->ended; },
      std::chrono::seconds(10)));
  std::string& received = state_->received;
  std::string status = received.substr(0, received.find("\r\n"));
  received.erase(0, received.find("\r\n\r\n") + 4);
  return status;
}

std::string RawSocket::upgrade_request(const std::string& url, const std::string& extra_headers) {
  Url u = Url::parse(url);
  return "GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + std::to_string(u.port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra_headers + "\r\n";
}

std::optional<std::pair<int, std::string>> RawSocket::close_frame() const {
  const std::string& received = state_->received;
  std::size_t at = 0;
  while (at + 2 <= received.size()) {
    auto b0 = static_cast<std::uint8_t>(received[at]);
    std::size_t len = static_cast<std::uint8_t>(received[at + 1]) & 0x7f;
    std::size_t header = 2;
    if (len == 126) {
      if (at + 4 > received.size()) return std::nullopt;
      len = std::size_t(std::uint8_t(received[at + 2])) << 8 | std::uint8_t(received[at + 3]);
      header = 4;
    }
    if (at + header + len > received.size()) return std::nullopt;
    if ((b0 & 0x0f) == 0x8 && len >= 2) {
      int code = std::uint8_t(received[at + header]) << 8 | std::uint8_t(received[at + header + 1]);
      return std::make_pair(code, received.substr(at + header + 2, len - 2));
    }
    at += header + len;
  }
  return std::nullopt;
}

const std::string& RawSocket::received() const {
  return state_->received;
}

bool RawSocket::ended() const {
  return state_->ended;
}

std::error_code RawSocket::end_reason() const {
  return state_->end_reason;
}

std::size_t RawSocket::dribbled() const {
  return state_->dribbled;
}

bool RawSocket::write_failed() const {
  return state_->write_failed;
}

}  // namespace dagsync::test
