// Transport bounds for a server on the internet, each over real loopback sockets and each
// asserting the bound: accepts back off when descriptors run out; the listen backlog holds
// thousands of connects; a ping flood cannot grow a WebSocket's memory; a frame must be
// completed within frame_timeout (tcp:// and tls://); the TCP framing names HTTP and TLS
// bytes instead of reading them as a length; refusals are logged, peer text escaped.
//
// Every test drives its io_context until a condition holds (run_until); the backoff test
// also runs the loop for a fixed window, to count what happens in it.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <fstream>

#include "frames.h"
#include "net_helpers.h"
#include "raw_socket.h"
#include "test_pki.h"

using namespace dagsync;
using namespace dagsync::test;
using Code = CloseReason::Code;

namespace {

// A listener whose connections record their close reasons.
struct Server {
  std::unique_ptr<Listener> listener;
  std::vector<std::shared_ptr<Connection>> connections;
  std::vector<CloseReason> closes;
  std::size_t frames = 0;

  Server(Transports& transports, const std::string& url) : listener(transports.listen(url)) {
    listener->start([this](std::shared_ptr<Connection> c) {
      connections.push_back(c);
      c->start([this](Bytes) { ++frames; }, [this](const CloseReason& r) { closes.push_back(r); });
    });
  }
  std::string url() const { return listener->url(); }
};

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Lowers the soft RLIMIT_NOFILE to the lowest free descriptor, so that every new descriptor
// fails with EMFILE, and restores it when destroyed. (Under -fsanitize=undefined the
// runtime's vptr checks need descriptors too and report spurious "does not point to an
// object of type" lines while the table is full; they come from this window only.)
class NoFreeDescriptors {
 public:
  NoFreeDescriptors() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    int lowest_free = ::open("/dev/null", O_RDONLY);
    REQUIRE(lowest_free >= 0);
    ::close(lowest_free);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(lowest_free);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  }
  ~NoFreeDescriptors() { restore(); }
  void restore() {
    if (!restored_) ::setrlimit(RLIMIT_NOFILE, &saved_);
    restored_ = true;
  }

 private:
  rlimit saved_{};
  bool restored_ = false;
};

}  // namespace

TEST_CASE("listeners back off while accept fails for want of descriptors, then recover") {
  for (std::string url : {"tcp://127.0.0.1:0", "ws://127.0.0.1:0/sync"}) {
    CAPTURE(url);
    asio::io_context io;
    CapturedLog log;
    Transports transports(io, {}, log.logger);
    Server server(transports, url);
    // TCP completes these in the backlog; accepting each needs a descriptor.
    std::vector<std::unique_ptr<RawSocket>> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<RawSocket>(io, server.url()));

    std::size_t handlers = 0;
    const auto window = std::chrono::milliseconds(1500);
    {
      NoFreeDescriptors limit;
      auto end = std::chrono::steady_clock::now() + window;
      while (std::chrono::steady_clock::now() < end) {
        handlers += io.run_one_for(std::chrono::milliseconds(5));
      }
    }
    std::string during = log.text();
    std::size_t warnings = count(during, "accept failed");
    MESSAGE(url << ": " << handlers << " handlers and " << warnings << " warnings in "
                << window.count() << " ms without descriptors");
    CHECK(contains(during, "Too many open files"));
    CHECK(contains(during, "pausing accepts"));
    // Backing off 100 ms doubling to 1 s: about five attempts in the window, one warning per
    // second. Retrying at once would run thousands of handlers and log as many lines.
    CHECK(warnings >= 1);
    CHECK(warnings <= 2);
    CHECK(handlers <= 30);
    // Descriptors back: the waiting connections are accepted within the backoff's 1 s cap.
    auto restored = std::chrono::steady_clock::now();
    if (url.rfind("ws", 0) == 0) {
      for (auto& c : clients) CHECK(c->upgrade(server.url()).rfind("HTTP/1.1 101", 0) == 0);
    }
    REQUIRE(run_until(io, [&] { return server.connections.size() == 3; }));
    auto recovery = std::chrono::steady_clock::now() - restored;
    CHECK(recovery < std::chrono::milliseconds(1500));
  }
}

TEST_CASE("tcp: the listen backlog holds thousands of connects; 10,000 at once all get in") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto listener = transports.listen("tcp://127.0.0.1:0");
  asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"),
                             static_cast<std::uint16_t>(std::stoi(
                                 listener->url().substr(listener->url().rfind(':') + 1))));
  std::size_t somaxconn = 4096;
  std::ifstream("/proc/sys/net/core/somaxconn") >> somaxconn;

  // Nobody accepting yet: the kernel completes connects into the accept queue up to the
  // backlog and drops SYNs beyond it (retried after a second or more). A backlog of the OS
  // maximum takes all of these at once; a small one (say 128) would leave most waiting.
  const std::size_t queued = std::min<std::size_t>(3000, somaxconn - 1);
  const std::size_t total = 10'000;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> clients;
  std::size_t connected = 0, failed = 0;
  auto dial = [&](std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      clients.push_back(std::make_unique<asio::ip::tcp::socket>(io));
      clients.back()->async_connect(
          to, [&](const std::error_code& ec) { ++(ec ? failed : connected); });
    }
  };
  auto start = std::chrono::steady_clock::now();
  dial(queued);
  REQUIRE(run_until(
      io, [&] { return connected + failed == queued; }, std::chrono::milliseconds(900)));
  CHECK(failed == 0);

  // Now accepting (each connection dropped at once), with the rest dialled all together.
  std::size_t accepted = 0;
  listener->start([&](std::shared_ptr<Connection>) { ++accepted; });
  dial(total - queued);
  REQUIRE(run_until(
      io, [&] { return accepted == total && connected + failed == total; },
      std::chrono::seconds(60)));
  CHECK(failed == 0);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  MESSAGE(total << " connects accepted in " << took.count() << " ms (somaxconn " << somaxconn
                << ")");
}

TEST_CASE("ws: a ping flood from a peer that reads no pongs closes with kBackpressure") {
  asio::io_context io;
  TransportOptions options;
  options.max_send_queue_bytes = 256 * 1024;
  CapturedLog log;
  Transports transports(io, options, log.logger);
  Server server(transports, "ws://127.0.0.1:0/sync");
  RawSocket raw(io, server.url(), /*small_receive_buffer=*/true);
  REQUIRE(raw.upgrade(server.url()).rfind("HTTP/1.1 101", 0) == 0);
  REQUIRE(run_until(io, [&] { return server.connections.size() == 1; }));
  raw.stop_reading();

  Bytes batch;
  const Bytes payload(125, 0x5a);  // the largest a control frame may carry
  for (int i = 0; i < 500; ++i) {
    Bytes ping = ws_frame(payload, 0x9);
    batch.insert(batch.end(), ping.begin(), ping.end());
  }
  std::size_t sent = 0, max_queued = 0;
  REQUIRE(run_until(
      io,
      [&] {
        max_queued = std::max(max_queued, server.connections[0]->queued_bytes());
        if (!server.closes.empty() || raw.write_failed()) return true;
        // Keep at most one batch unsent: the flood goes as fast as the server reads it.
        std::size_t unsent = raw.write_nonblocking({});
        if (unsent == 0) {
          raw.write_nonblocking(batch);
          sent += batch.size();
        }
        return false;
      },
      std::chrono::seconds(60)));
  REQUIRE(run_until(io, [&] { return !server.closes.empty(); }));
  CHECK(server.closes[0].code == Code::kBackpressure);
  CHECK(contains(server.closes[0].message, "pings"));
  CHECK(max_queued <= options.max_send_queue_bytes);
  CHECK(contains(log.text(), "[warning]"));
  CHECK(contains(log.text(), "ws 127.0.0.1:"));
  MESSAGE("closed after " << sent / 131 << " pings (" << sent << " bytes); at most " << max_queued
                          << " bytes queued for the peer (limit " << options.max_send_queue_bytes
                          << ")");
}

TEST_CASE("tcp: a frame not completed within frame_timeout of its first byte closes") {
  asio::io_context io;
  TransportOptions options;
  options.frame_timeout = std::chrono::milliseconds(300);
  CapturedLog log;
  Transports transports(io, options, log.logger);
  Server server(transports, "tcp://127.0.0.1:0");

  SUBCASE("a 16 MiB frame dribbled") {
    RawSocket raw(io, server.url());
    auto start = std::chrono::steady_clock::now();
    raw.write(tcp_frame_header(16u << 20));
    raw.dribble(Bytes(100, 7), std::chrono::milliseconds(20));
    REQUIRE(run_until(
        io, [&] { return !server.closes.empty(); }, std::chrono::seconds(10)));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(server.closes[0].code == Code::kTimeout);
    CHECK(contains(server.closes[0].message, "frame_timeout"));
    CHECK(took >= std::chrono::milliseconds(300));
    CHECK(took < std::chrono::milliseconds(2000));
    CHECK(raw.dribbled() < 100);  // cut while still dribbling
    CHECK(contains(log.text(), "[warning] tcp 127.0.0.1:"));
  }
  SUBCASE("half a header") {
    RawSocket raw(io, server.url());
    raw.write(Bytes{0, 0});
    REQUIRE(run_until(
        io, [&] { return !server.closes.empty(); }, std::chrono::seconds(10)));
    CHECK(server.closes[0].code == Code::kTimeout);
    CHECK(contains(server.closes[0].message, "header 2 of 4"));
  }
  SUBCASE("whole frames keep a connection open however long it lives") {
    Endpoints e;
    auto other = pair_up(transports, io, "tcp://127.0.0.1:0", e);
    for (int i = 0; i < 8; ++i) {
      e.client->send(frame_of(10, 1));
      run_until(
          io, [] { return false; }, std::chrono::milliseconds(100));
    }
    CHECK(e.server_got.size() == 8);
    CHECK_FALSE(e.server_closed.has_value());
  }
}

TEST_CASE("ws: a message not completed within frame_timeout of its first bytes closes") {
  asio::io_context io;
  TransportOptions options;
  options.frame_timeout = std::chrono::milliseconds(300);
  options.keepalive_interval = std::chrono::milliseconds(0);
  Transports transports(io, options, quiet_logger());
  Server server(transports, "ws://127.0.0.1:0/sync");
  RawSocket raw(io, server.url());
  REQUIRE(raw.upgrade(server.url()).rfind("HTTP/1.1 101", 0) == 0);
  REQUIRE(run_until(io, [&] { return server.connections.size() == 1; }));
  // Whole messages first: they never start the clock however slowly they come.
  for (int i = 0; i < 4; ++i) {
    raw.write(ws_frame(as_bytes("whole")));
    run_until(
        io, [] { return false; }, std::chrono::milliseconds(100));
  }
  CHECK(server.frames == 4);
  CHECK(server.closes.empty());
  // Then a 1 MiB message whose payload arrives a byte at a time.
  auto start = std::chrono::steady_clock::now();
  raw.write(ws_frame(Bytes(2, 1), kWsBinary, {.rsv1 = false, .announced_size = 1u << 20}));
  raw.dribble(Bytes(100, 7), std::chrono::milliseconds(20));
  REQUIRE(run_until(
      io, [&] { return !server.closes.empty(); }, std::chrono::seconds(10)));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(server.closes[0].code == Code::kTimeout);
  CHECK(contains(server.closes[0].message, "frame_timeout"));
  CHECK(took >= std::chrono::milliseconds(280));
  CHECK(took < std::chrono::milliseconds(2000));
  CHECK(raw.dribbled() < 100);
}

TEST_CASE("tls: a frame not completed within frame_timeout of its first byte closes") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  TransportOptions options;
  options.tls.cert_chain_file = pki.server.cert;
  options.tls.private_key_file = pki.server.key;
  options.frame_timeout = std::chrono::milliseconds(300);
  Transports transports(io, options, quiet_logger());
  Server server(transports, "tls://127.0.0.1:0");

  // A TLS client of our own making that sends a 16 MiB header and then a byte at a time.
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(pki.ca);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
  auto port =
      static_cast<std::uint16_t>(std::stoi(server.url().substr(server.url().rfind(':') + 1)));
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  std::optional<std::error_code> handshake;
  stream.async_handshake(asio::ssl::stream_base::client,
                         [&](const std::error_code& ec) { handshake = ec; });
  REQUIRE(run_until(io, [&] { return handshake.has_value(); }));
  REQUIRE_MESSAGE(!*handshake, handshake->message());
  REQUIRE(run_until(io, [&] { return server.connections.size() == 1; }));

  Bytes header = tcp_frame_header(16u << 20);
  asio::write(stream, asio::buffer(header));
  auto start = std::chrono::steady_clock::now();
  asio::steady_timer tick(io);
  std::size_t dribbled = 0;
  std::function<void()> dribble = [&] {
    tick.expires_after(std::chrono::milliseconds(20));
    tick.async_wait([&](const std::error_code& ec) {
      if (ec || !server.closes.empty()) return;
      std::uint8_t byte = 1;
      std::error_code wec;
      asio::write(stream, asio::buffer(&byte, 1), wec);
      if (!wec) ++dribbled;
      dribble();
    });
  };
  dribble();
  REQUIRE(run_until(
      io, [&] { return !server.closes.empty(); }, std::chrono::seconds(10)));
  auto took = std::chrono::steady_clock::now() - start;
  tick.cancel();
  CHECK(server.closes[0].code == Code::kTimeout);
  CHECK(took >= std::chrono::milliseconds(280));
  CHECK(took < std::chrono::milliseconds(2000));
  CHECK(dribbled > 3);
}

TEST_CASE("tcp: HTTP on a tcp:// port is answered, and a tcp:// client on an HTTP port is told") {
  asio::io_context io;
  CapturedLog log;
  Transports transports(io, {}, log.logger);

  SUBCASE("an HTTP request gets a 400 that names the framing") {
    Server server(transports, "tcp://127.0.0.1:0");
    RawSocket raw(io, server.url());
    raw.write(std::string("GET /sync HTTP/1.1\r\nHost: x\r\n\r\n"));
    REQUIRE(run_until(io, [&] { return raw.ended(); }));
    CHECK(raw.received().rfind("HTTP/1.1 400", 0) == 0);
    CHECK(contains(raw.received(), "ws://"));
    REQUIRE(server.closes.size() == 1);
    CHECK(server.closes[0].code == Code::kBadFrame);
    CHECK(contains(server.closes[0].message, "HTTP request"));
    CHECK(contains(log.text(), "[warning] tcp 127.0.0.1:"));
  }
  SUBCASE("a TLS ClientHello is closed with a reason") {
    Server server(transports, "tcp://127.0.0.1:0");
    RawSocket raw(io, server.url());
    raw.write(Bytes{0x16, 0x03, 0x01, 0x02, 0x00, 0x01});
    REQUIRE(run_until(io, [&] { return raw.ended() && server.closes.size() == 1; }));
    CHECK(server.closes[0].code == Code::kBadFrame);
    CHECK(contains(server.closes[0].message, "tls://"));
  }
  SUBCASE("a tcp:// client dialling an HTTP port") {
    // An HTTP server that answers whatever arrives with a 400, as most do.
    asio::ip::tcp::acceptor http(io, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket peer(io);
    std::array<char, 256> request{};
    const std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    http.async_accept(peer, [&](const std::error_code& ec) {
      if (ec) return;
      peer.async_read_some(asio::buffer(request), [&](const std::error_code& rec, std::size_t) {
        if (!rec) asio::write(peer, asio::buffer(answer));
      });
    });
    Endpoints e;
    std::optional<ConnectError> error;
    transports.connect("tcp://127.0.0.1:" + std::to_string(http.local_endpoint().port()),
                       [&](std::shared_ptr<Connection> c, ConnectError err) {
                         error = err;
                         e.client = c;
                         if (c) {
                           c->start([](Bytes) {},
                                    [&](const CloseReason& r) { e.client_closed = r; });
                         }
                       });
    REQUIRE(run_until(io, [&] { return error.has_value(); }));
    REQUIRE(e.client);
    e.client->send(frame_of(30, 1));  // a hello, say: the HTTP server answers 400
    REQUIRE(run_until(io, [&] { return e.client_closed.has_value(); }));
    CHECK(e.client_closed->code == Code::kBadFrame);
    CHECK_MESSAGE(contains(e.client_closed->message, "ws://"), e.client_closed->message);
    CHECK(contains(e.client_closed->message, "HTTP"));
    CHECK(contains(log.text(), "[warning] tcp 127.0.0.1:"));
  }
  SUBCASE("a legitimate frame starting with the same bytes is a frame when the limit allows") {
    TransportOptions big;
    big.max_frame_bytes = 0x47455420 + 1;  // "GET " read as a length
    Transports lenient(io, big, quiet_logger());
    Server server(lenient, "tcp://127.0.0.1:0");
    RawSocket raw(io, server.url());
    raw.write(std::string("GET /"));
    REQUIRE(run_until(io, [&] { return server.connections.size() == 1; }));
    run_until(
        io, [] { return false; }, std::chrono::milliseconds(50));
    CHECK(server.closes.empty());  // waiting for the rest of a 1.2 GB frame
  }
}

TEST_CASE("ws: refusals are logged as warnings with the peer's text escaped") {
  asio::io_context io;
  CapturedLog log;
  Transports transports(io, {}, log.logger);
  Server server(transports, "ws://127.0.0.1:0");
  RawSocket raw(io, server.url());
  std::string base = server.url();
  REQUIRE(raw.upgrade(base + "/a\x1b[2Jb").rfind("HTTP/1.1 101", 0) == 0);
  raw.write(ws_frame(as_bytes("text"), kWsText));
  REQUIRE(run_until(io, [&] { return server.closes.size() == 1; }));
  std::string text = log.text();
  CHECK(contains(text, "[warning] ws 127.0.0.1:"));
  CHECK(contains(text, "/a\\x1b[2Jb"));
  CHECK_FALSE(contains(text, "\x1b"));
}
