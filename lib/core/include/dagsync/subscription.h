// Subscription: an RAII handle for a registered callback. Destroying (or reset()) it
// unregisters the callback, at most once; it may outlive the object it subscribed to.
// Move-only: exactly one handle owns a registration, and a default-constructed or
// moved-from handle owns none (active() is false). Not synchronised: reset it on the thread
// that uses the object it subscribed to.
#pragma once

#include <functional>
#include <memory>
#include <utility>

namespace dagsync {

class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(Subscription&& other) noexcept : cancel_(std::exchange(other.cancel_, {})) {}
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      reset();
      cancel_ = std::exchange(other.cancel_, {});
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }

  void reset() {
    if (cancel_) std::exchange(cancel_, {})();
  }
  bool active() const { return static_cast<bool>(cancel_); }

 private:
  std::function<void()> cancel_;
};

}  // namespace dagsync
