#include "dagsync/memory_transport.h"

#include <spdlog/spdlog.h>
#include <asio.hpp>
#include <deque>
#include <functional>
#include <optional>
#include <random>
#include <vector>

#include "dagsync/error.h"
#include "send_limits.h"

namespace dagsync {

class MemoryConnection;

// MemoryFaults::max_delay_turns: what connections send waits here for its turn, instead of
// being posted to the io_context at once. Each turn (one posted handler) first applies the
// cuts decided since the last one, then releases what is due, connection by connection in
// the order they were made, each connection's items in the order they were queued. So the
// order in which one handler sends on several connections (a Repo pushing to its peers)
// does not change what runs next, and a run replays exactly from its seed.
class TurnScheduler : public std::enable_shared_from_this<TurnScheduler> {
 public:
  explicit TurnScheduler(asio::io_context& io) : io_(io) {}

  std::uint64_t turn() const { return turn_; }
  // Runs `run` at turn `due` or later, after whatever `connection` queued before it.
  void at(std::uint64_t connection, std::uint64_t due, std::function<void()> run) {
    waiting_[connection].push_back({due, std::move(run)});
    post();
  }
  // Runs `run` at the start of the next turn, before anything is released.
  void first(std::uint64_t connection, std::function<void()> run) {
    cuts_[connection].push_back(std::move(run));
    post();
  }

 private:
  struct Waiting {
    std::uint64_t due;
    std::function<void()> run;
  };

  void post() {
    if (posted_) return;
    posted_ = true;
    std::weak_ptr<TurnScheduler> weak = weak_from_this();
    asio::post(io_, [weak] {
      if (auto self = weak.lock()) self->next_turn();
    });
  }

  void next_turn() {
    posted_ = false;
    ++turn_;
    // Collected first: what runs may queue more, for a later turn.
    std::vector<std::function<void()>> now;
    for (auto& [connection, runs] : cuts_) {
      for (auto& run : runs) now.push_back(std::move(run));
    }
    cuts_.clear();
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      auto& queue = it->second;
      while (!queue.empty() && queue.front().due <= turn_) {
        now.push_back(std::move(queue.front().run));
        queue.pop_front();
      }
      it = queue.empty() ? waiting_.erase(it) : std::next(it);
    }
    for (auto& run : now) run();
    if (!waiting_.empty() || !cuts_.empty()) post();
  }

  asio::io_context& io_;
  std::uint64_t turn_ = 0;
  bool posted_ = false;
  std::map<std::uint64_t, std::deque<Waiting>> waiting_;
  std::map<std::uint64_t, std::vector<std::function<void()>>> cuts_;
};

struct MemoryNetwork::Registry {
  std::map<std::uint64_t, std::weak_ptr<MemoryConnection>> open;
  std::shared_ptr<TurnScheduler> turns;
};

class MemoryConnection : public Connection, public std::enable_shared_from_this<MemoryConnection> {
 public:
  MemoryConnection(asio::io_context& io, TransportOptions options, MemoryFaults faults,
                   std::uint64_t seed, std::string description)
      : io_(io),
        options_(options),
        faults_(faults),
        rng_(seed),
        description_(std::move(description)),
        idle_timer_(io) {}

  void link(const std::shared_ptr<MemoryConnection>& peer) { peer_ = peer; }
  void use_turns(const std::shared_ptr<TurnScheduler>& turns, std::uint64_t id) {
    turns_ = turns;
    id_ = id;
  }

  void start(FrameHandler on_frame, CloseHandler on_close) override {
    on_frame_ = std::move(on_frame);
    on_close_ = std::move(on_close);
    started_ = true;
    arm_idle_timer();
    schedule_drain();
  }

  bool send(Bytes frame) override {
    if (!open_) return false;
    if (auto refusal = refuse_send(frame.size(), in_flight_bytes_, options_)) {
      close(std::move(*refusal));
      return false;
    }
    if (faults_.any()) return send_with_faults(std::move(frame));
    deliver(std::move(frame), std::chrono::milliseconds(0));
    return true;
  }

  void close(CloseReason reason) override {
    if (!open_) return;
    finish(reason);
    if (auto peer = peer_.lock()) {
      CloseReason remote{reason.code == CloseReason::Code::kNetwork
                             ? CloseReason::Code::kNetwork
                             : CloseReason::Code::kRemoteClosed,
                         reason.message};
      // Posted after every frame already sent; the peer reads what arrived, then closes.
      auto notify = [peer, remote] { peer->finish_after_inbox(remote); };
      if (auto turns = in_turns()) {
        turns->at(id_, next_due(*turns, 0), std::move(notify));
      } else {
        asio::post(io_, std::move(notify));
      }
    }
  }

  // While paused the peer cannot reach us, so the idle timer rests too.
  void pause_reading(bool paused) override {
    paused_ = paused;
    if (paused) {
      idle_timer_.cancel();
    } else {
      arm_idle_timer();
      schedule_drain();
    }
  }
  bool is_open() const override { return open_; }
  std::size_t queued_bytes() const override { return in_flight_bytes_; }
  std::string description() const override { return description_; }

  // Cut by the network: both ends learn at once.
  void cut(const std::string& why) {
    auto self = shared_from_this();
    CloseReason reason{CloseReason::Code::kNetwork, why};
    if (auto turns = in_turns()) {
      auto peer = peer_.lock();
      turns->first(id_, [self, peer, reason] {
        if (peer) peer->finish(reason);
        self->finish(reason);
      });
      return;
    }
    if (auto peer = peer_.lock()) asio::post(io_, [peer, reason] { peer->finish(reason); });
    asio::post(io_, [self, reason] { self->finish(reason); });
  }

  std::function<void()> on_finished;  // unregisters from the network

  // A graceful close from the peer: deliver what it sent before closing (unless paused).
  void finish_after_inbox(const CloseReason& reason) {
    drain();
    finish(reason);
  }

 private:
  bool send_with_faults(Bytes frame) {
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    if (coin(rng_) < faults_.drop) return true;
    std::chrono::milliseconds delay{0};
    std::uint64_t turns = 0;
    if (faults_.max_delay_turns > 0) {
      turns = std::uniform_int_distribution<std::uint64_t>(0, faults_.max_delay_turns)(rng_);
    } else if (faults_.max_delay.count() > 0) {
      delay = std::chrono::milliseconds(
          std::uniform_int_distribution<long>(0, faults_.max_delay.count())(rng_));
    }
    bool duplicate = coin(rng_) < faults_.duplicate;
    bool cut_after = coin(rng_) < faults_.cut;
    if (held_) {
      // The held frame goes after this one.
      deliver(frame, delay, turns);
      in_flight_bytes_ -= held_->size();
      deliver(std::move(*held_), delay, turns);
      held_.reset();
    } else if (coin(rng_) < faults_.reorder) {
      in_flight_bytes_ += frame.size();  // counted while held back
      held_ = frame;
    } else {
      deliver(frame, delay, turns);
    }
    if (duplicate) deliver(std::move(frame), delay, turns);
    if (cut_after) cut("connection cut (fault injection)");
    return true;
  }

  // The turn scheduler, when this connection's faults use it (max_delay_turns).
  std::shared_ptr<TurnScheduler> in_turns() const {
    return faults_.max_delay_turns > 0 ? turns_.lock() : nullptr;
  }
  // The turn for something sent now that waits `turns` turns, no earlier than the last one.
  std::uint64_t next_due(const TurnScheduler& scheduler, std::uint64_t turns) {
    last_due_turn_ = std::max(scheduler.turn() + 1 + turns, last_due_turn_);
    return last_due_turn_;
  }

  // Sends `frame` to the peer, no earlier than the previous frame (order is kept).
  void deliver(Bytes frame, std::chrono::milliseconds delay, std::uint64_t turns = 0) {
    auto peer = peer_.lock();
    if (!peer) return;
    std::size_t size = frame.size();
    in_flight_bytes_ += size;
    auto self = shared_from_this();
    auto arrive = [self, peer, size, frame = std::move(frame)]() mutable {
      self->in_flight_bytes_ -= std::min(self->in_flight_bytes_, size);
      peer->enqueue(std::move(frame), self);
    };
    if (auto scheduler = in_turns()) {
      scheduler->at(id_, next_due(*scheduler, turns), std::move(arrive));
      return;
    }
    auto now = std::chrono::steady_clock::now();
    auto at = std::max(now + delay, last_delivery_);
    last_delivery_ = at;
    if (at <= now) {
      asio::post(io_, std::move(arrive));
    } else {
      auto timer = std::make_shared<asio::steady_timer>(io_, at);
      timer->async_wait(
          [timer, arrive = std::move(arrive)](const std::error_code&) mutable { arrive(); });
    }
  }

  // A frame arrived from the peer. Its bytes stay on the sender's account until the frame is
  // handed to our handler, so a reader that pauses makes the sender's queue fill.
  void enqueue(Bytes frame, const std::shared_ptr<MemoryConnection>& from) {
    if (!open_) return;
    from->in_flight_bytes_ += frame.size();
    inbox_.push_back({std::move(frame), from});
    schedule_drain();
  }

  void schedule_drain() {
    if (draining_ || !started_ || paused_ || inbox_.empty()) return;
    draining_ = true;
    auto self = shared_from_this();
    asio::post(io_, [self] {
      self->draining_ = false;
      self->drain();
    });
  }

  void drain() {
    while (open_ && started_ && !paused_ && !inbox_.empty()) {
      auto [frame, from] = std::move(inbox_.front());
      inbox_.pop_front();
      from->in_flight_bytes_ -= std::min(from->in_flight_bytes_, frame.size());
      if (frame.size() > options_.max_frame_bytes) {
        close({CloseReason::Code::kFrameTooLarge, "frame of " + std::to_string(frame.size()) +
                                                      " bytes over the limit of " +
                                                      std::to_string(options_.max_frame_bytes)});
        return;
      }
      arm_idle_timer();
      on_frame_(std::move(frame));
    }
  }

  void arm_idle_timer() {
    if (options_.idle_timeout.count() <= 0 || !open_ || paused_) return;
    idle_timer_.expires_after(options_.idle_timeout);
    std::weak_ptr<MemoryConnection> weak = weak_from_this();
    idle_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || !self->open_) return;
      self->close({CloseReason::Code::kTimeout,
                   "idle for " + std::to_string(self->options_.idle_timeout.count()) + " ms"});
    });
  }

  void finish(const CloseReason& reason) {
    if (!open_) return;
    open_ = false;
    idle_timer_.cancel();
    inbox_.clear();
    if (on_finished) on_finished();
    if (on_close_) {
      // The frame handler stays: finish() may run inside it (a handler that closes).
      auto handler = std::move(on_close_);
      handler(reason);
    }
  }

  asio::io_context& io_;
  TransportOptions options_;
  MemoryFaults faults_;
  std::mt19937_64 rng_;
  std::string description_;
  asio::steady_timer idle_timer_;
  std::weak_ptr<MemoryConnection> peer_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  bool open_ = true, started_ = false, paused_ = false, draining_ = false;
  std::deque<std::pair<Bytes, std::shared_ptr<MemoryConnection>>> inbox_;
  std::size_t in_flight_bytes_ = 0;
  std::optional<Bytes> held_;
  std::chrono::steady_clock::time_point last_delivery_{};
  std::weak_ptr<TurnScheduler> turns_;
  std::uint64_t id_ = 0;
  std::uint64_t last_due_turn_ = 0;
};

class MemoryListenerImpl : public Listener {
 public:
  MemoryListenerImpl(MemoryNetwork& network, std::string name, TransportOptions options)
      : network_(&network), name_(std::move(name)), options_(options) {
    network_->listeners_[name_] = this;
  }
  ~MemoryListenerImpl() override { close(); }

  void start(AcceptHandler on_accept) override { on_accept_ = std::move(on_accept); }
  std::string url() const override { return "mem://" + name_; }
  void close() override {
    if (network_) {
      network_->listeners_.erase(name_);
      network_ = nullptr;
    }
  }

  const TransportOptions& options() const { return options_; }
  void accept(std::shared_ptr<Connection> c) {
    if (on_accept_) on_accept_(std::move(c));
  }

 private:
  MemoryNetwork* network_;
  std::string name_;
  TransportOptions options_;
  AcceptHandler on_accept_;
};

MemoryNetwork::MemoryNetwork(asio::io_context& io, std::shared_ptr<spdlog::logger> logger)
    : io_(io), logger_(std::move(logger)), registry_(std::make_shared<Registry>()) {
  registry_->turns = std::make_shared<TurnScheduler>(io);
}

MemoryNetwork::~MemoryNetwork() = default;

std::unique_ptr<Listener> MemoryNetwork::listen(const Url& url, const TransportOptions& options) {
  std::string name = url.host + url.path;
  if (name.empty()) throw Error("mem: listener needs a name, as in mem://server");
  if (listeners_.count(name)) throw Error("mem: " + url.to_string() + " is already listened on");
  return std::make_unique<MemoryListenerImpl>(*this, name, options);
}

void MemoryNetwork::connect(const Url& url, const TransportOptions& options, ConnectHandler done) {
  std::string name = url.host + url.path;
  asio::post(io_, [this, name, options, done = std::move(done)] {
    auto it = listeners_.find(name);
    if (it == listeners_.end()) {
      done(nullptr, "mem: nothing listens on mem://" + name);
      return;
    }
    MemoryListenerImpl* listener = it->second;
    std::uint64_t number = next_connection_++;
    std::uint64_t seed = faults_.seed * 0x9e3779b97f4a7c15ULL + number * 2;
    auto client = std::make_shared<MemoryConnection>(
        io_, options, faults_, seed, "mem client#" + std::to_string(number) + " -> " + name);
    auto server =
        std::make_shared<MemoryConnection>(io_, listener->options(), faults_, seed + 1,
                                           "mem server#" + std::to_string(number) + " <- client");
    client->link(server);
    server->link(client);
    std::weak_ptr<Registry> weak = registry_;
    for (auto [conn, id] : {std::pair{client, number * 2}, std::pair{server, number * 2 + 1}}) {
      registry_->open[id] = conn;
      conn->use_turns(registry_->turns, id);
      conn->on_finished = [weak, id = id] {
        if (auto r = weak.lock()) r->open.erase(id);
      };
    }
    listener->accept(server);
    done(client, "");
  });
}

void MemoryNetwork::cut_all() {
  auto open = registry_->open;
  for (auto& [id, weak] : open) {
    if (auto c = weak.lock()) c->cut("connection cut (network partition)");
  }
}

}  // namespace dagsync
