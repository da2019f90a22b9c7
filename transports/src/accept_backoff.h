// Internal: how an accept loop reacts to failures (both listeners; C++17 for ws_core.cpp).
//
// Contract: out of file descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), accepting
// again at once would fail again at once, a busy loop that also floods the log. failed()
// then asks for a pause of 100 ms, doubling up to 1 s while failures go on; succeeded()
// resets it. Other errors concern one connection (ECONNABORTED) and are retried at once.
// A warning is due for the first failure and then at most once per second, carrying how
// many failures it stands for, so the log grows by one line per interval, not per failure.
#pragma once

#include <algorithm>
#include <asio/error.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <system_error>

namespace dagsync::net {

class AcceptBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kInitialDelay{100};
  static constexpr std::chrono::milliseconds kMaxDelay{1000};
  static constexpr std::chrono::milliseconds kWarningInterval{1000};

  struct Decision {
    std::chrono::milliseconds delay{0};  // before the next accept
    bool warn = false;                   // log now
    std::size_t failures = 0;            // failures the warning stands for (this one included)
  };

  static bool resource_exhausted(const std::error_code& ec) {
    // Asio reports OS errors in a category of its own.
    if (ec.category() != asio::error::get_system_category() &&
        ec.category() != std::system_category())
      return false;
    int e = ec.value();
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
  }

  Decision failed(const std::error_code& ec, Clock::time_point now = Clock::now()) {
    Decision d;
    if (resource_exhausted(ec)) {
      delay_ = delay_.count() == 0 ? kInitialDelay : std::min(delay_ * 2, kMaxDelay);
      d.delay = delay_;
    }
    ++unreported_;
    if (!warned_ || now - last_warning_ >= kWarningInterval) {
      d.warn = true;
      d.failures = unreported_;
      unreported_ = 0;
      warned_ = true;
      last_warning_ = now;
    }
    return d;
  }

  void succeeded() { delay_ = std::chrono::milliseconds(0); }

 private:
  std::chrono::milliseconds delay_{0};
  std::size_t unreported_ = 0;
  bool warned_ = false;
  Clock::time_point last_warning_{};
};

}  // namespace dagsync::net
