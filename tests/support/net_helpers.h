// Helpers for tests that run an io_context: drive it until a condition holds (never a
// fixed sleep), quiet or captured loggers, a test Repo's options, and URLs for each transport
// on loopback with OS-chosen ports.
#pragma once

#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "dagsync/dagsync.h"
#include "dagsync/memory_transport.h"
#include "dagsync/repo.h"
#include "dagsync/transports.h"
#include "helpers.h"

namespace dagsync::test {

// Runs the loop until `done()` or the deadline; returns whether `done()` held.
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Runs ready handlers without blocking (lets posted work settle).
inline void settle(asio::io_context& io) {
  if (io.stopped()) io.restart();
  io.poll();
}

inline std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

// Whether `text` (a log, an error, a close reason) contains `part`.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A logger whose output the test can read.
struct CapturedLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>(
      "captured", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  CapturedLog() { logger->set_level(spdlog::level::debug); }
  std::string text() const { return out.str(); }
};

// Options for a Repo under test: quiet, no heartbeats, reconnects after 5 ms backing off to
// 100 ms, and a mesh of equals (every document offered to every peer), which is what the
// tests of sync mechanics assume. The tests of the default share policy
// (test_share_policy.cpp) build their options without it.
inline RepoOptions repo_options(const std::string& id) {
  RepoOptions o;
  o.peer_id = id;
  o.share_policy = share_everything();
  o.logger = quiet_logger();
  o.heartbeat_interval = std::chrono::milliseconds(0);
  o.reconnect.initial = std::chrono::milliseconds(5);
  o.reconnect.max = std::chrono::milliseconds(100);
  return o;
}

// A listen URL on loopback for the scheme; mem names are made unique by `name`.
inline std::string listen_url(const std::string& scheme, const std::string& name) {
  if (scheme == "mem") return "mem://" + name;
  if (scheme == "tcp") return "tcp://127.0.0.1:0";
  return "ws://127.0.0.1:0/sync";
}

// Two connected ends of one transport, recording what each receives and how each closed.
struct Endpoints {
  std::shared_ptr<Connection> server, client;
  std::vector<Bytes> server_got, client_got;
  std::optional<CloseReason> server_closed, client_closed;
};

// Listens on `url` with `server_side`, connects with `client_side` (they may be one
// Transports), and starts both ends recording what they get.
inline std::unique_ptr<Listener> pair_up(Transports& server_side, Transports& client_side,
                                         asio::io_context& io, const std::string& url,
                                         Endpoints& e) {
  auto listener = server_side.listen(url);
  listener->start([&](std::shared_ptr<Connection> c) {
    e.server = c;
    c->start([&](Bytes f) { e.server_got.push_back(std::move(f)); },
             [&](const CloseReason& r) { e.server_closed = r; });
  });
  std::string error;
  client_side.connect(listener->url(), [&](std::shared_ptr<Connection> c, ConnectError err) {
    error = err.message;
    e.client = c;
    if (c) {
      c->start([&](Bytes f) { e.client_got.push_back(std::move(f)); },
               [&](const CloseReason& r) { e.client_closed = r; });
    }
  });
  REQUIRE(run_until(io, [&] { return (e.client && e.server) || !error.empty(); }));
  REQUIRE_MESSAGE(error.empty(), error);
  return listener;
}

inline std::unique_ptr<Listener> pair_up(Transports& transports, asio::io_context& io,
                                         const std::string& url, Endpoints& e) {
  return pair_up(transports, transports, io, url, e);
}

// A frame of `size` bytes whose content depends on `fill` and the position, so that a frame
// cut, shifted or mixed with another does not compare equal.
inline Bytes frame_of(std::size_t size, std::uint8_t fill) {
  Bytes b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(fill + i * 31);
  return b;
}

// Sends one frame of each size both ways at once and checks each side got them whole and in
// order.
inline void exchange_frames(Endpoints& e, asio::io_context& io,
                            const std::vector<std::size_t>& sizes) {
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CHECK(e.client->send(frame_of(sizes[i], std::uint8_t(i))));
    CHECK(e.server->send(frame_of(sizes[i], std::uint8_t(i + 100))));
  }
  REQUIRE(run_until(io, [&] {
    return e.server_got.size() == sizes.size() && e.client_got.size() == sizes.size();
  }));
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CHECK(e.server_got[i] == frame_of(sizes[i], std::uint8_t(i)));
    CHECK(e.client_got[i] == frame_of(sizes[i], std::uint8_t(i + 100)));
  }
}

}  // namespace dagsync::test
