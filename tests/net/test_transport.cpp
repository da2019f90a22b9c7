// Transport contract tests for the in-memory and TCP adapters (the WebSocket adapter has
// its own file): whole frames in order, limits, backpressure, timeouts, close reasons.
#include <asio.hpp>
#include <numeric>

#include "frames.h"
#include "net_helpers.h"
#include "raw_socket.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {}  // namespace

TEST_CASE("transport: frames arrive whole and in order, both ways") {
  for (std::string url : {"mem://order", "tcp://127.0.0.1:0", "tcp://[::1]:0"}) {
    CAPTURE(url);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    Endpoints e;
    auto listener = pair_up(transports, io, url, e);
    std::vector<std::size_t> sizes = {0, 1, 100, 70'000, 1u << 20};
    exchange_frames(e, io, sizes);
    e.client->close({CloseReason::Code::kNormal, "done"});
    REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
    CHECK(e.server_closed->code == CloseReason::Code::kRemoteClosed);
    REQUIRE(e.client_closed.has_value());
    CHECK(e.client_closed->code == CloseReason::Code::kNormal);
  }
}

TEST_CASE("transport: an oversized frame closes the connection with a clear reason") {
  for (std::string url : {"mem://big", "tcp://127.0.0.1:0"}) {
    CAPTURE(url);
    asio::io_context io;
    TransportOptions options;
    options.max_frame_bytes = 1000;
    Transports transports(io, options, quiet_logger());
    Endpoints e;
    auto listener = pair_up(transports, io, url, e);
    CHECK_FALSE(e.client->send(frame_of(1001, 1)));
    REQUIRE(e.client_closed.has_value());
    CHECK(e.client_closed->code == CloseReason::Code::kFrameTooLarge);
    CHECK(e.client_closed->message.find("1001") != std::string::npos);
    REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
    CHECK(e.server_got.empty());
  }
}

TEST_CASE("transport: tcp refuses a frame header over the limit and a frame cut mid-way") {
  asio::io_context io;
  TransportOptions options;
  options.max_frame_bytes = 1000;
  Transports transports(io, options, quiet_logger());
  auto listener = transports.listen("tcp://127.0.0.1:0");
  std::vector<std::shared_ptr<Connection>> accepted;
  std::vector<CloseReason> reasons;
  std::size_t frames = 0;
  listener->start([&](std::shared_ptr<Connection> c) {
    accepted.push_back(c);
    c->start([&](Bytes) { ++frames; }, [&](const CloseReason& r) { reasons.push_back(r); });
  });

  SUBCASE("header announcing 2 GB") {
    RawSocket raw(io, listener->url());
    raw.write(tcp_frame_header(0x7fffffff));
    REQUIRE(run_until(io, [&] { return reasons.size() == 1; }));
    CHECK(reasons[0].code == CloseReason::Code::kFrameTooLarge);
    CHECK(reasons[0].message.find("2147483647") != std::string::npos);
  }
  SUBCASE("peer disconnects after half a frame") {
    RawSocket raw(io, listener->url());
    Bytes half = tcp_frame_header(100);
    half.resize(half.size() + 10);  // 10 of the 100 bytes
    raw.write(half);
    REQUIRE(run_until(io, [&] { return accepted.size() == 1; }));
    raw.close();
    REQUIRE(run_until(io, [&] { return reasons.size() == 1; }));
    CHECK(reasons[0].code == CloseReason::Code::kNetwork);
    CHECK(reasons[0].message.find("mid-frame") != std::string::npos);
  }
  CHECK(frames == 0);
}

TEST_CASE("transport: a peer that stops reading fills a bounded send queue, then is closed") {
  for (std::string url : {"mem://slow", "tcp://127.0.0.1:0"}) {
    CAPTURE(url);
    asio::io_context io;
    TransportOptions options;
    options.max_send_queue_bytes = 4u << 20;
    Transports transports(io, options, quiet_logger());
    Endpoints e;
    auto listener = pair_up(transports, io, url, e);
    e.client->pause_reading(true);
    std::size_t max_queued = 0;
    int sent = 0;
    // Keep writing 64 KiB frames, letting the loop run, until the server gives up.
    REQUIRE(run_until(io, [&] {
      if (!e.server->is_open()) return true;
      e.server->send(frame_of(64 * 1024, 7));
      ++sent;
      max_queued = std::max(max_queued, e.server->queued_bytes());
      return false;
    }));
    REQUIRE(e.server_closed.has_value());
    CHECK(e.server_closed->code == CloseReason::Code::kBackpressure);
    CHECK(max_queued <= options.max_send_queue_bytes);
    MESSAGE(url << ": closed after " << sent << " frames, at most " << max_queued
                << " bytes queued");
  }
}

TEST_CASE("transport: idle timeout closes a silent connection") {
  for (std::string url : {"mem://idle", "tcp://127.0.0.1:0"}) {
    CAPTURE(url);
    asio::io_context io;
    TransportOptions options;
    options.idle_timeout = std::chrono::milliseconds(50);
    Transports transports(io, options, quiet_logger());
    Endpoints e;
    auto listener = pair_up(transports, io, url, e);
    REQUIRE(
        run_until(io, [&] { return e.server_closed.has_value() && e.client_closed.has_value(); }));
    CHECK((e.server_closed->code == CloseReason::Code::kTimeout ||
           e.client_closed->code == CloseReason::Code::kTimeout));
  }
}

TEST_CASE("transport: connect failures are reported, not thrown") {
  asio::io_context io;
  TransportOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  Transports transports(io, options, quiet_logger());
  std::vector<std::string> errors;
  // A port that was just free: listen, note the port, close.
  std::string closed_url;
  {
    auto l = transports.listen("tcp://127.0.0.1:0");
    closed_url = l->url();
  }
  for (std::string url : {closed_url, std::string("mem://nobody"), std::string("bogus://x"),
                          std::string("not a url")}) {
    transports.connect(url, [&](std::shared_ptr<Connection> c, ConnectError error) {
      CHECK(c == nullptr);
      errors.push_back(error.message);
    });
  }
  REQUIRE(run_until(io, [&] { return errors.size() == 4; }));
  for (const auto& e : errors) CHECK_FALSE(e.empty());
  CHECK_THROWS_AS(transports.listen("tcp://127.0.0.1"), Error);
  CHECK_THROWS_AS(transports.listen("gopher://x:1"), Error);
}

TEST_CASE("transport: url parsing") {
  auto u = Url::parse("ws://[::1]:8080/sync/a");
  CHECK(u.scheme == "ws");
  CHECK(u.host == "::1");
  CHECK(u.port == 8080);
  CHECK(u.path == "/sync/a");
  CHECK(u.to_string() == "ws://[::1]:8080/sync/a");
  CHECK(Url::parse("mem://server").host == "server");
  CHECK(Url::parse("TCP://h:0").scheme == "tcp");
  CHECK_THROWS_AS(Url::parse("tcp://h:99999"), Error);
  CHECK(Url::parse("tcp://h:65535").port == 65535);
  CHECK_THROWS_WITH_AS(Url::parse("tcp://h:65536"), doctest::Contains("port out of range"),
                       Error);
  CHECK_THROWS_AS(Url::parse("tcp://h:1234567"), Error);
  CHECK_THROWS_AS(Url::parse("tcp://h:"), Error);
  CHECK_THROWS_AS(Url::parse("tcp://h:-1"), Error);
  CHECK_THROWS_AS(Url::parse("tcp://h:x"), Error);
  CHECK_THROWS_AS(Url::parse("nothing"), Error);
}

TEST_CASE("transport: memory faults are reproducible from the seed") {
  auto run = [](std::uint64_t seed) {
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    MemoryFaults faults;
    faults.seed = seed;
    faults.drop = 0.2;
    faults.duplicate = 0.2;
    faults.reorder = 0.2;
    transports.memory().set_faults(faults);
    Endpoints e;
    auto listener = pair_up(transports, io, "mem://faults", e);
    for (int i = 0; i < 200; ++i) e.client->send(Bytes{std::uint8_t(i)});
    run_until(
        io, [&] { return false; }, std::chrono::milliseconds(50));
    std::vector<int> got;
    for (const auto& f : e.server_got) got.push_back(f[0]);
    return got;
  };
  auto a = run(7), b = run(7), c = run(8);
  CHECK(a == b);
  CHECK(a != c);
  std::vector<int> in_order(200);
  std::iota(in_order.begin(), in_order.end(), 0);
  CHECK(a != in_order);  // the faults did something
}
