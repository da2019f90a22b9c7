// Internal: one outgoing connection attempt of an adapter, bounded in time.
//
// Contract: the attempt reports exactly once through its handler, never synchronously:
// with the connection if finish() gets there first, or with the timeout message when the
// deadline passes first (then `on_timeout` runs, to cancel what is in progress). A
// connection handed to finish() after the attempt ended is closed (kShutdown), not leaked.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "dagsync/transport.h"

namespace dagsync::net {

class ConnectAttempt {
 public:
  static std::shared_ptr<ConnectAttempt> start(asio::io_context& io, ConnectHandler done,
                                               std::chrono::milliseconds timeout,
                                               std::string timeout_message,
                                               std::function<void()> on_timeout = {}) {
    auto attempt = std::shared_ptr<ConnectAttempt>(new ConnectAttempt(io, std::move(done)));
    attempt->timer_.expires_after(timeout);
    attempt->timer_.async_wait([attempt, timeout_message = std::move(timeout_message),
                                on_timeout = std::move(on_timeout)](const std::error_code& ec) {
      if (ec || attempt->finished_) return;
      if (on_timeout) on_timeout();
      attempt->finish(nullptr, timeout_message);
    });
    return attempt;
  }

  void finish(std::shared_ptr<Connection> connection, ConnectError error) {
    if (finished_) {
      if (connection) connection->close({CloseReason::Code::kShutdown, "connect timed out"});
      return;
    }
    finished_ = true;
    timer_.cancel();
    done_(std::move(connection), std::move(error));
  }
  bool finished() const { return finished_; }

 private:
  ConnectAttempt(asio::io_context& io, ConnectHandler done) : timer_(io), done_(std::move(done)) {}
  asio::steady_timer timer_;
  ConnectHandler done_;
  bool finished_ = false;
};

// Reports a failure that is known before anything was tried, from the event loop (a
// ConnectHandler is never called synchronously).
inline void fail_connect(asio::io_context& io, ConnectHandler done, ConnectError error) {
  asio::post(io, [done = std::move(done), error = std::move(error)] { done(nullptr, error); });
}

}  // namespace dagsync::net
