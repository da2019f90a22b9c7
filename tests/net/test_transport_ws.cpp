// WebSocket adapter tests (ws://): the transport contract over real loopback sockets, the
// frames our own client cannot produce (text, malformed, oversized) sent through a raw socket
// (tests/support/raw_socket.h, frames.h), and interop with the npm `ws` client (run by
// tests/node/run.sh).
//
// Every test drives its io_context until a condition holds, with a generous deadline
// (run_until); none sleeps to synchronise.
#include <algorithm>
#include <array>
#include <asio.hpp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include "child_process.h"
#include "frames.h"
#include "net_helpers.h"
#include "raw_socket.h"

using namespace dagsync;
using namespace dagsync::test;
using Code = CloseReason::Code;

namespace {

std::uint16_t port_of(const std::string& url) {
  auto colon = url.rfind(':');
  return static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1)));
}

// A server whose connections record their close reasons, for raw clients to provoke.
struct RecordingServer {
  std::unique_ptr<Listener> listener;
  std::vector<std::shared_ptr<Connection>> connections;
  std::vector<Bytes> got;
  std::vector<CloseReason> closes;

  RecordingServer(Transports& transports, const std::string& url)
      : listener(transports.listen(url)) {
    listener->start([this](std::shared_ptr<Connection> c) {
      connections.push_back(c);
      c->start([this](Bytes f) { got.push_back(std::move(f)); },
               [this](const CloseReason& r) { closes.push_back(r); });
    });
  }
  std::string url() const { return listener->url(); }
};

// A raw socket that has completed the WebSocket upgrade with `server`, to send what our own
// client never would: text, reserved bits, lengths over the limit.
RawSocket upgraded(asio::io_context& io, const RecordingServer& server) {
  RawSocket raw(io, server.url());
  std::string status = raw.upgrade(server.url());
  REQUIRE_MESSAGE(status.rfind("HTTP/1.1 101", 0) == 0, status);
  return raw;
}

}  // namespace

TEST_CASE("ws: frames arrive whole and in order, both ways (IPv4 and IPv6)") {
  for (std::string url : {"ws://127.0.0.1:0/sync", "ws://[::1]:0/sync"}) {
    CAPTURE(url);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    Endpoints e;
    auto listener = pair_up(transports, transports, io, url, e);
    CHECK(port_of(listener->url()) != 0);
    CHECK(contains(listener->url(), "/sync"));
    CHECK(e.client->description().rfind("ws ", 0) == 0);
    CHECK(e.server->description().rfind("ws ", 0) == 0);
    std::vector<std::size_t> sizes = {0, 1, 125, 126, 65'535, 70'000, 1u << 20};
    exchange_frames(e, io, sizes);
    REQUIRE(run_until(
        io, [&] { return e.client->queued_bytes() == 0 && e.server->queued_bytes() == 0; }));

    // A graceful close: the local side sees its own reason, the peer kRemoteClosed with it.
    e.client->close({Code::kNormal, "done"});
    CHECK_FALSE(e.client->is_open());
    CHECK_FALSE(e.client->send(frame_of(1, 1)));
    REQUIRE(e.client_closed.has_value());
    CHECK(e.client_closed->code == Code::kNormal);
    REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
    CHECK(e.server_closed->code == Code::kRemoteClosed);
    CHECK(contains(e.server_closed->message, "1000"));
    CHECK(contains(e.server_closed->message, "done"));
  }
}

TEST_CASE("ws: a close from the server reaches the client with its code and reason") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Endpoints e;
  auto listener = pair_up(transports, transports, io, "ws://127.0.0.1:0/sync", e);
  CHECK(e.server->send(frame_of(10, 1)));
  e.server->close({Code::kProtocol, "unknown document"});
  REQUIRE(run_until(io, [&] { return e.client_closed.has_value(); }));
  CHECK(e.client_got.size() == 1);  // sent before the close, so delivered before it
  CHECK(e.client_closed->code == Code::kRemoteClosed);
  CHECK(contains(e.client_closed->message, "1008"));
  CHECK(contains(e.client_closed->message, "unknown document"));
  REQUIRE(e.server_closed.has_value());
  CHECK(e.server_closed->code == Code::kProtocol);
}

TEST_CASE("ws: upgrades for another path are refused with 404; an empty path accepts any") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto listener = transports.listen("ws://127.0.0.1:0/sync");
  int accepted = 0;
  listener->start([&](std::shared_ptr<Connection>) { ++accepted; });
  std::optional<std::string> error;
  std::string other = "ws://127.0.0.1:" + std::to_string(port_of(listener->url())) + "/other";
  transports.connect(other, [&](std::shared_ptr<Connection> c, ConnectError err) {
    CHECK(c == nullptr);
    error = err.message;
  });
  REQUIRE(run_until(io, [&] { return error.has_value(); }));
  CHECK(contains(*error, "404"));
  CHECK(contains(*error, "/other"));
  CHECK(accepted == 0);

  auto any = transports.listen("ws://127.0.0.1:0");
  std::shared_ptr<Connection> server_side;
  any->start([&](std::shared_ptr<Connection> c) { server_side = c; });
  std::shared_ptr<Connection> client_side;
  transports.connect(any->url() + "/whatever/path?x=1",
                     [&](std::shared_ptr<Connection> c, ConnectError err) {
                       CHECK(err.empty());
                       client_side = c;
                     });
  REQUIRE(run_until(io, [&] { return client_side && server_side; }));
}

TEST_CASE("ws: a text message closes that connection with kBadFrame and 1003") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RecordingServer server(transports, "ws://127.0.0.1:0/sync");
  RawSocket raw = upgraded(io, server);
  raw.write(ws_frame(as_bytes("binary first")));
  raw.write(ws_frame(as_bytes("hello as text"), kWsText));
  REQUIRE(run_until(io, [&] { return server.closes.size() == 1; }));
  CHECK(server.got.size() == 1);
  CHECK(server.closes[0].code == Code::kBadFrame);
  CHECK(contains(server.closes[0].message, "text"));
  REQUIRE(run_until(io, [&] { return raw.close_frame().has_value(); }));
  CHECK(raw.close_frame()->first == 1003);
  CHECK(contains(raw.close_frame()->second, "text"));

  // A text message that is not even UTF-8: websocketpp refuses it itself (1007).
  RawSocket invalid = upgraded(io, server);
  invalid.write(ws_frame(as_bytes("\xff\xfe not UTF-8"), kWsText));
  REQUIRE(run_until(io, [&] { return server.closes.size() == 2; }));
  CHECK(server.closes[1].code == Code::kBadFrame);
  CHECK(contains(server.closes[1].message, "UTF-8"));
  REQUIRE(run_until(io, [&] { return invalid.close_frame().has_value(); }));
  CHECK(invalid.close_frame()->first == 1007);
  CHECK(server.got.size() == 1);
}

TEST_CASE("ws: a malformed frame closes that connection with kBadFrame and 1002") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RecordingServer server(transports, "ws://127.0.0.1:0/sync");
  RawSocket raw = upgraded(io, server);
  // A reserved bit, though no extension was negotiated.
  raw.write(ws_frame(as_bytes("x"), kWsBinary, {.rsv1 = true, .announced_size = {}}));
  REQUIRE(run_until(io, [&] { return server.closes.size() == 1; }));
  CHECK(server.closes[0].code == Code::kBadFrame);
  CHECK(contains(server.closes[0].message, "malformed"));
  REQUIRE(run_until(io, [&] { return raw.close_frame().has_value(); }));
  CHECK(raw.close_frame()->first == 1002);
}

TEST_CASE("ws: frames over max_frame_bytes close with kFrameTooLarge, either way") {
  asio::io_context io;
  TransportOptions small;
  small.max_frame_bytes = 1000;
  Transports strict(io, small, quiet_logger());
  Transports lenient(io, {}, quiet_logger());

  SUBCASE("refused on send") {
    Endpoints e;
    auto listener = pair_up(lenient, strict, io, "ws://127.0.0.1:0/sync", e);
    CHECK(e.client->send(frame_of(1000, 1)));
    CHECK_FALSE(e.client->send(frame_of(1001, 1)));
    REQUIRE(e.client_closed.has_value());
    CHECK(e.client_closed->code == Code::kFrameTooLarge);
    CHECK(contains(e.client_closed->message, "1001"));
    REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
    CHECK(e.server_got.size() == 1);
    CHECK(e.server_closed->code == Code::kRemoteClosed);
    CHECK(contains(e.server_closed->message, "1009"));
  }
  SUBCASE("refused on receipt") {
    Endpoints e;
    auto listener = pair_up(strict, lenient, io, "ws://127.0.0.1:0/sync", e);
    CHECK(e.client->send(frame_of(1000, 1)));
    CHECK(e.client->send(frame_of(5000, 2)));
    REQUIRE(
        run_until(io, [&] { return e.server_closed.has_value() && e.client_closed.has_value(); }));
    CHECK(e.server_got.size() == 1);
    CHECK(e.server_closed->code == Code::kFrameTooLarge);
    CHECK(contains(e.server_closed->message, "1000"));
    CHECK(e.client_closed->code == Code::kRemoteClosed);
    CHECK(contains(e.client_closed->message, "1009"));
  }
  SUBCASE("refused from the header alone") {
    RecordingServer server(strict, "ws://127.0.0.1:0/sync");
    RawSocket raw = upgraded(io, server);
    // Announces 1 TiB, sends none.
    raw.write(ws_frame({}, kWsBinary, {.announced_size = std::uint64_t(1) << 40}));
    REQUIRE(run_until(io, [&] { return server.closes.size() == 1; }));
    CHECK(server.closes[0].code == Code::kFrameTooLarge);
    REQUIRE(run_until(io, [&] { return raw.close_frame().has_value(); }));
    CHECK(raw.close_frame()->first == 1009);
  }
}

TEST_CASE("ws: a peer that stops reading fills a bounded send queue, then is closed") {
  asio::io_context io;
  TransportOptions limited;
  limited.max_send_queue_bytes = 1u << 20;
  Transports server_side(io, limited, quiet_logger());
  Transports client_side(io, {}, quiet_logger());
  Endpoints e;
  auto listener = pair_up(server_side, client_side, io, "ws://127.0.0.1:0/sync", e);
  e.client->pause_reading(true);
  const std::size_t frame = 64 * 1024;
  std::size_t max_queued = 0;
  std::size_t sent = 0;
  bool refused = false;
  // Keep writing, letting every write that can complete complete, until the send queue is
  // full: it fills only once the socket buffers hold all the paused peer will take.
  REQUIRE(run_until(io, [&] {
    settle(io);
    if (!e.server->send(frame_of(frame, 7))) {
      refused = true;
      return true;
    }
    ++sent;
    max_queued = std::max(max_queued, e.server->queued_bytes());
    return false;
  }));
  CHECK(refused);
  CHECK(max_queued <= limited.max_send_queue_bytes + frame);
  CHECK(max_queued > limited.max_send_queue_bytes / 2);
  CHECK(sent * frame > limited.max_send_queue_bytes);  // the kernel took some before it filled
  CHECK(e.client_got.empty());                         // paused: nothing was delivered
  REQUIRE(e.server_closed.has_value());
  CHECK(e.server_closed->code == Code::kBackpressure);
  CHECK(contains(e.server_closed->message, "not reading"));
  MESSAGE("closed after " << sent << " frames of 64 KiB, at most " << max_queued
                          << " bytes queued");
  // The reader resumes: it gets what reached it, then learns the connection is gone.
  e.client->pause_reading(false);
  REQUIRE(run_until(io, [&] { return e.client_closed.has_value(); }));
  CHECK(e.client_closed->code != Code::kNormal);
  CHECK(e.client_got.size() < sent);
}

TEST_CASE("ws: pausing holds frames back; resuming delivers them in order") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Endpoints e;
  auto listener = pair_up(transports, transports, io, "ws://127.0.0.1:0/sync", e);
  CHECK(e.client->send(frame_of(100, 0)));
  REQUIRE(run_until(io, [&] { return e.server_got.size() == 1; }));
  e.server->pause_reading(true);
  for (int i = 1; i <= 20; ++i) CHECK(e.client->send(frame_of(1000, std::uint8_t(i))));
  REQUIRE(run_until(io, [&] { return e.client->queued_bytes() == 0; }));
  io.run_for(std::chrono::milliseconds(50));  // give frames every chance to (wrongly) arrive
  CHECK(e.server_got.size() == 1);
  // A pause and resume in quick succession (websocketpp would start a second read).
  e.server->pause_reading(false);
  e.server->pause_reading(true);
  e.server->pause_reading(false);
  REQUIRE(run_until(io, [&] { return e.server_got.size() == 21; }));
  for (int i = 1; i <= 20; ++i) CHECK(e.server_got[i] == frame_of(1000, std::uint8_t(i)));
  // A stream after the toggles: two reads left outstanding into one buffer would tear it.
  for (int i = 0; i < 200; ++i) CHECK(e.client->send(frame_of(10'000, std::uint8_t(i))));
  REQUIRE(run_until(io, [&] { return e.server_got.size() == 221 || e.server_closed; }));
  REQUIRE_FALSE(e.server_closed);
  for (int i = 0; i < 200; ++i) CHECK(e.server_got[21 + i] == frame_of(10'000, std::uint8_t(i)));
  e.server_got.resize(21);
  // A close that arrives while paused waits behind the frames received before it.
  e.server->pause_reading(true);
  CHECK(e.client->send(frame_of(10, 99)));
  e.client->close({Code::kNormal, "bye"});
  io.run_for(std::chrono::milliseconds(50));
  e.server->pause_reading(false);
  REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
  CHECK(e.server_got.size() == 22);
  CHECK(e.server_closed->code == Code::kRemoteClosed);
}

TEST_CASE("ws: a frame handler may close its connection and hold its last reference") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto listener = transports.listen("ws://127.0.0.1:0/sync");
  auto seen = std::make_shared<int>(0);
  std::optional<CloseReason> server_closed;
  listener->start([&server_closed, seen](std::shared_ptr<Connection> c) {
    // Only the handler keeps the connection: it must be released once closed, and not
    // while it runs.
    c->start(
        [c, seen](Bytes) {
          c->close({Code::kProtocol, "one frame is enough"});
          ++*seen;
        },
        [&server_closed](const CloseReason& r) { server_closed = r; });
  });
  std::shared_ptr<Connection> client;
  std::optional<CloseReason> client_closed;
  transports.connect(listener->url(), [&](std::shared_ptr<Connection> c, ConnectError) {
    client = c;
    c->start([](Bytes) {}, [&](const CloseReason& r) { client_closed = r; });
    for (int i = 0; i < 3; ++i) c->send(frame_of(10, 1));
  });
  REQUIRE(run_until(io, [&] { return client_closed.has_value(); }));
  CHECK(*seen == 1);
  REQUIRE(server_closed.has_value());
  CHECK(server_closed->code == Code::kProtocol);
  CHECK(contains(client_closed->message, "one frame is enough"));
  listener.reset();
  settle(io);
  CHECK(seen.use_count() == 1);  // the server's handlers and its connection are gone
}

TEST_CASE("ws: idle timeout closes a silent connection") {
  asio::io_context io;
  TransportOptions options;
  options.idle_timeout = std::chrono::milliseconds(100);
  Transports transports(io, options, quiet_logger());
  Endpoints e;
  auto listener = pair_up(transports, transports, io, "ws://127.0.0.1:0/sync", e);
  REQUIRE(
      run_until(io, [&] { return e.server_closed.has_value() && e.client_closed.has_value(); }));
  bool timed_out =
      e.server_closed->code == Code::kTimeout || e.client_closed->code == Code::kTimeout;
  CHECK(timed_out);
}

// Pings and pongs count as received: a peer that answers keepalive pings is alive, so the
// idle timeout (meant for a peer gone silent) does not fire while they flow.
TEST_CASE("ws: keepalive pings keep a quiet but live connection past the idle timeout") {
  asio::io_context io;
  TransportOptions options;
  options.idle_timeout = std::chrono::milliseconds(300);
  options.keepalive_interval = std::chrono::milliseconds(100);  // also each pong's deadline
  Transports transports(io, options, quiet_logger());
  Endpoints e;
  auto listener = pair_up(transports, transports, io, "ws://127.0.0.1:0/sync", e);
  io.run_for(std::chrono::milliseconds(1500));  // five idle timeouts without a message
  REQUIRE_MESSAGE(!e.server_closed, e.server_closed->to_string());
  REQUIRE_MESSAGE(!e.client_closed, e.client_closed->to_string());
  CHECK(e.client->send(frame_of(10, 1)));
  REQUIRE(run_until(io, [&] { return e.server_got.size() == 1; }));
}

TEST_CASE("ws: keepalive closes with kTimeout when pongs stop coming") {
  asio::io_context io;
  TransportOptions pinging;
  pinging.keepalive_interval = std::chrono::milliseconds(40);
  Transports client_side(io, pinging, quiet_logger());
  Transports server_side(io, {}, quiet_logger());
  Endpoints e;
  auto listener = pair_up(server_side, client_side, io, "ws://127.0.0.1:0/sync", e);
  e.server->pause_reading(true);  // reads nothing, so answers no ping
  REQUIRE(run_until(io, [&] { return e.client_closed.has_value(); }));
  CHECK(e.client_closed->code == Code::kTimeout);
  CHECK(contains(e.client_closed->message, "pong"));
  CHECK(e.server->is_open());  // the paused side's own timers do not blame the peer
}

TEST_CASE("ws: connect failures are reported as clear errors") {
  asio::io_context io;
  TransportOptions options;
  options.handshake_timeout = std::chrono::milliseconds(200);
  Transports transports(io, options, quiet_logger());

  std::string closed_url;
  {
    auto l = transports.listen("ws://127.0.0.1:0/sync");
    closed_url = l->url();
  }
  // A TCP server that accepts and never answers the upgrade.
  asio::ip::tcp::acceptor mute(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket mute_peer(io);
  mute.async_accept(mute_peer, [](const std::error_code&) {});
  std::string mute_url = "ws://127.0.0.1:" + std::to_string(mute.local_endpoint().port()) + "/sync";

  std::map<std::string, std::string> errors;
  for (const std::string& url : {closed_url, mute_url, std::string("ws://127.0.0.1/sync")}) {
    transports.connect(url, [&errors, url](std::shared_ptr<Connection> c, ConnectError error) {
      CHECK(c == nullptr);
      errors[url] = error.message;
    });
  }
  CHECK(errors.empty());  // never synchronously
  REQUIRE(run_until(io, [&] { return errors.size() == 3; }));
  CHECK(contains(errors[closed_url], "ws: connect to " + closed_url + " failed"));
  CHECK(contains(errors[closed_url], "refused"));
  CHECK(contains(errors[mute_url], "timed out"));
  CHECK(contains(errors["ws://127.0.0.1/sync"], "port"));
  CHECK_THROWS_AS(transports.listen("ws://127.0.0.1/sync"), Error);
  auto taken = transports.listen("ws://127.0.0.1:0/sync");
  CHECK_THROWS_WITH_AS(transports.listen(taken->url()), doctest::Contains("cannot listen"), Error);
}

TEST_CASE("ws: clients that never complete the upgrade are dropped (handshake timeout, bodies)") {
  asio::io_context io;
  TransportOptions options;
  options.handshake_timeout = std::chrono::milliseconds(150);
  Transports transports(io, options, quiet_logger());
  RecordingServer server(transports, "ws://127.0.0.1:0/sync");
  RawSocket silent(io, server.url());
  silent.write(std::string("GET /sync HTTP/1.1\r\n"));  // and nothing more
  REQUIRE(run_until(io, [&] { return silent.ended(); }));
  CHECK(silent.end_reason() == asio::error::eof);

  // A request announcing a body is refused at once rather than buffered.
  RawSocket bulky(io, server.url());
  bulky.write(
      std::string("GET /sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n"));
  REQUIRE(run_until(io, [&] { return contains(bulky.received(), "\r\n\r\n"); }));
  CHECK(bulky.received().rfind("HTTP/1.1 413", 0) == 0);
  CHECK(server.connections.empty());
}

TEST_CASE("ws: an http_handler answers plain HTTP on the listener's port; upgrades still work") {
  asio::io_context io;
  std::vector<HttpRequest> seen;
  TransportOptions options;
  options.http_handler = [&](const HttpRequest& r) {
    seen.push_back(r);
    if (r.target == "/boom") throw std::runtime_error("the handler failed");
    return HttpResponse{200, "text/html; charset=utf-8", "<p>hi</p>"};
  };
  Transports transports(io, options, quiet_logger());
  RecordingServer server(transports, "ws://127.0.0.1:0/sync");
  auto get = [&](const std::string& request) {
    RawSocket raw(io, server.url());
    raw.write(request);
    REQUIRE(run_until(io, [&] { return raw.ended(); }));  // one request per connection
    return raw.received();
  };

  std::string answer = get("GET /page?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(contains(answer, "Content-Type: text/html; charset=utf-8\r\n"));
  CHECK(contains(answer, "Content-Length: 9\r\n"));
  CHECK(answer.substr(answer.size() - 9) == "<p>hi</p>");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].target == "/page?x=1");  // as sent, whatever the listener's path

  CHECK(get("GET /boom HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").rfind("HTTP/1.1 500", 0) == 0);
  // A body is refused before the handler sees the request.
  CHECK(get("POST /page HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello")
            .rfind("HTTP/1.1 413", 0) == 0);
  CHECK(seen.size() == 2);

  RawSocket ws = upgraded(io, server);  // the WebSocket on the same port is unaffected
  REQUIRE(run_until(io, [&] { return server.connections.size() == 1; }));

  // A listener opened without a handler answers plain HTTP with 426, as before.
  transports.set_options(TransportOptions{});
  RecordingServer plain(transports, "ws://127.0.0.1:0/sync");
  RawSocket raw(io, plain.url());
  raw.write(std::string("GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  REQUIRE(run_until(io, [&] { return contains(raw.received(), "\r\n\r\n"); }));
  CHECK(raw.received().rfind("HTTP/1.1 426", 0) == 0);
  CHECK(seen.size() == 2);
}

TEST_CASE("ws: closing a listener keeps its connections; dropping objects mid-flight is safe") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());

  SUBCASE("listener closed, connection still works") {
    Endpoints e;
    auto listener = pair_up(transports, transports, io, "ws://127.0.0.1:0/sync", e);
    std::string url = listener->url();
    listener->close();
    listener.reset();
    CHECK(e.client->send(frame_of(10, 1)));
    CHECK(e.server->send(frame_of(20, 2)));
    REQUIRE(run_until(io, [&] { return e.server_got.size() == 1 && e.client_got.size() == 1; }));
    std::optional<std::string> error;
    transports.connect(url, [&](std::shared_ptr<Connection> c, ConnectError err) {
      CHECK(c == nullptr);
      error = err.message;
    });
    REQUIRE(run_until(io, [&] { return error.has_value(); }));
  }
  SUBCASE("listener destroyed during handshakes") {
    auto listener = transports.listen("ws://127.0.0.1:0/sync");
    int accepted = 0;
    listener->start([&](std::shared_ptr<Connection>) { ++accepted; });
    int outcomes = 0;
    for (int i = 0; i < 5; ++i) {
      transports.connect(listener->url(), [&](std::shared_ptr<Connection> c, ConnectError) {
        ++outcomes;
        if (c) c->start([](Bytes) {}, [&](const CloseReason&) {});
      });
    }
    io.run_one();  // let some of it start
    listener.reset();
    REQUIRE(run_until(io, [&] { return outcomes == 5; }));
    CHECK(accepted == 0);
  }
  SUBCASE("connections dropped with frames in flight") {
    Endpoints e;
    auto listener = pair_up(transports, transports, io, "ws://127.0.0.1:0/sync", e);
    for (int i = 0; i < 10; ++i) e.client->send(frame_of(100'000, 3));
    e.client.reset();
    e.server->close({Code::kShutdown, "going"});
    e.server.reset();
    listener.reset();
    io.run_for(std::chrono::milliseconds(200));
  }
  SUBCASE("unstarted connections are closed when dropped") {
    auto listener = transports.listen("ws://127.0.0.1:0/sync");
    listener->start([](std::shared_ptr<Connection>) {});  // ignores every connection
    std::shared_ptr<Connection> client;
    std::optional<CloseReason> closed;
    transports.connect(listener->url(), [&](std::shared_ptr<Connection> c, ConnectError) {
      client = c;
      c->start([](Bytes) {}, [&](const CloseReason& r) { closed = r; });
    });
    REQUIRE(run_until(io, [&] { return closed.has_value(); }));
    CHECK(closed->code == Code::kRemoteClosed);
    CHECK(contains(closed->message, "1001"));
  }
  SUBCASE("Transports destroyed with everything open") {
    auto owned = std::make_unique<Transports>(io, TransportOptions{}, quiet_logger());
    Endpoints e;
    auto listener = pair_up(*owned, *owned, io, "ws://127.0.0.1:0/sync", e);
    e.client->send(frame_of(1000, 1));
    listener.reset();
    owned.reset();
    REQUIRE(run_until(io, [&] { return e.server_got.size() == 1; }));
    e.client->close({});
    REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
  }
}

// ---- interop with the npm `ws` client ----------------------------------------------------
// Skipped unless run with --no-skip: tests/node/run.sh installs `ws` (npm ci, pinned by
// package-lock.json), sets DAGSYNC_WS_NODE_SCRIPT and runs this case.

TEST_CASE("ws: interop with the npm ws client (tests/node)" * doctest::skip()) {
  const char* script = std::getenv("DAGSYNC_WS_NODE_SCRIPT");
  REQUIRE_MESSAGE(
      script != nullptr,
      "run through tests/node/run.sh, which installs ws and sets DAGSYNC_WS_NODE_SCRIPT");
  const std::size_t limit = 64 * 1024;

  asio::io_context io;
  TransportOptions options;
  options.max_frame_bytes = limit;
  Transports transports(io, options, quiet_logger());
  auto listener = transports.listen("ws://127.0.0.1:0/sync");
  // An echo server that records how each connection ended.
  std::vector<std::shared_ptr<Connection>> connections;
  std::vector<CloseReason> closes;
  std::size_t echoed = 0;
  listener->start([&](std::shared_ptr<Connection> c) {
    connections.push_back(c);
    std::weak_ptr<Connection> weak = c;
    c->start(
        [&, weak](Bytes frame) {
          if (auto self = weak.lock()) self->send(std::move(frame));
          ++echoed;
        },
        [&](const CloseReason& r) { closes.push_back(r); });
  });

  auto [pid, out_fd] = spawn_with_stdout({"node", script, listener->url(), std::to_string(limit)});
  ChildOutput output(io, out_fd);
  output.read();
  int status = 0;
  bool finished = wait_for_child(io, pid, output, status, std::chrono::seconds(60));
  MESSAGE("node output:\n" << output.text);
  REQUIRE(finished);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  // What the Node client saw.
  CHECK(contains(line_starting(output.text, "echo "), "ok"));
  CHECK(contains(line_starting(output.text, "text "), "close 1003"));
  CHECK(contains(line_starting(output.text, "oversized "), "close 1009"));
  CHECK(contains(line_starting(output.text, "malformed "), "close 1002"));
  CHECK(contains(line_starting(output.text, "garbage "), "HTTP/1.1 400"));
  CHECK(contains(line_starting(output.text, "path "), "404"));
  CHECK(contains(line_starting(output.text, "after "), "ok"));
  CHECK(line_starting(output.text, "done").size() > 0);

  // What our server saw: the three bad connections closed with clear reasons, the good one
  // closed by the peer at the end.
  REQUIRE(run_until(io, [&] { return closes.size() == connections.size(); }));
  auto count = [&](Code code, const std::string& part) {
    return std::count_if(closes.begin(), closes.end(), [&](const CloseReason& r) {
      return r.code == code && contains(r.message, part);
    });
  };
  CHECK(count(Code::kBadFrame, "text") == 1);
  CHECK(count(Code::kBadFrame, "malformed") == 1);
  CHECK(count(Code::kFrameTooLarge, std::to_string(limit)) == 1);
  CHECK(count(Code::kRemoteClosed, "1000") == 1);
  CHECK(connections.size() == 4);
  CHECK(echoed >= 4);
}
