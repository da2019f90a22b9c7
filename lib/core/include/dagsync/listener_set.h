// ListenerSet: the callbacks registered for one kind of event, each held by a Subscription.
//
// Contract: add() returns the Subscription that removes the callback when it is destroyed or
// reset(); it may outlive the set. notify() calls every callback registered when it starts,
// in registration order, each with the same arguments; a callback may add or remove
// callbacks (its own included) while it runs: removed ones that have not run yet are still
// called this time, added ones from the next notify() on. Not thread-safe, like the objects
// that hold one. Not copyable: a copy of an object owning a set starts with no listeners.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "dagsync/subscription.h"

namespace dagsync {

template <typename... Args>
class ListenerSet {
 public:
  using Callback = std::function<void(const Args&...)>;

  ListenerSet() : state_(std::make_shared<State>()) {}
  ListenerSet(ListenerSet&&) noexcept = default;
  ListenerSet& operator=(ListenerSet&&) noexcept = default;
  ListenerSet(const ListenerSet&) = delete;
  ListenerSet& operator=(const ListenerSet&) = delete;

  Subscription add(Callback callback) {
    if (!state_) state_ = std::make_shared<State>();  // a moved-from set works again
    std::uint64_t id = state_->next_id++;
    state_->by_id.emplace(id, std::move(callback));
    std::weak_ptr<State> weak = state_;
    return Subscription([weak, id] {
      if (auto state = weak.lock()) state->by_id.erase(id);
    });
  }

  void notify(const Args&... args) const {
    if (!state_ || state_->by_id.empty()) return;
    // Copied first: a callback may unsubscribe itself or another while being called.
    std::vector<Callback> current;
    current.reserve(state_->by_id.size());
    for (const auto& [id, fn] : state_->by_id) current.push_back(fn);
    for (const auto& fn : current) fn(args...);
  }

  bool empty() const { return !state_ || state_->by_id.empty(); }

 private:
  struct State {
    std::uint64_t next_id = 0;
    std::map<std::uint64_t, Callback> by_id;
  };
  std::shared_ptr<State> state_;
};

}  // namespace dagsync
