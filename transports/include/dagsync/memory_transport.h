// In-memory transport (mem://name): connections between endpoints of one MemoryNetwork,
// delivered through the io_context, with seeded fault injection for deterministic tests.
// With no faults it keeps the transport contract (whole frames, in order, once). Faults
// break it on purpose, the way a broken channel would: frames dropped, duplicated, swapped
// with the next one, delayed, or the connection cut. The same seed and the same sequence
// of calls give the same faults.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "dagsync/transports.h"

namespace dagsync {

struct MemoryFaults {
  std::uint64_t seed = 1;
  double drop = 0;       // probability a frame vanishes
  double duplicate = 0;  // probability a frame arrives twice
  double reorder = 0;    // probability a frame is held back and delivered after the next one
  double cut = 0;        // probability, per frame, that the connection is cut after it
  std::chrono::milliseconds max_delay{0};  // frames wait up to this long, order kept
  // Deterministic delay, for simulations that must not depend on the clock: when set, every
  // frame (and the close that follows them) waits 0 to max_delay_turns turns of the network's
  // scheduler, order kept, and max_delay is ignored. A turn is one pass of a handler the
  // network posts to the io_context while anything waits; it releases what is due in
  // connection order, and cuts from the `cut` fault take effect there too. So the order in
  // which one handler sends on several connections does not change what happens next.
  std::uint32_t max_delay_turns = 0;
  bool any() const {
    return drop > 0 || duplicate > 0 || reorder > 0 || cut > 0 || max_delay.count() > 0 ||
           max_delay_turns > 0;
  }
};

class MemoryListenerImpl;

class MemoryNetwork : public TransportAdapter {
 public:
  MemoryNetwork(asio::io_context& io, std::shared_ptr<spdlog::logger> logger);
  ~MemoryNetwork() override;

  std::string scheme() const override { return "mem"; }
  std::unique_ptr<Listener> listen(const Url& url, const TransportOptions& options) override;
  void connect(const Url& url, const TransportOptions& options, ConnectHandler done) override;

  // Faults for connections made from now on; each connection draws from its own generator
  // seeded from `faults.seed` and the connection's number.
  void set_faults(const MemoryFaults& faults) { faults_ = faults; }
  const MemoryFaults& faults() const { return faults_; }

  // Cuts every open connection (both ends see kNetwork), as a network partition would.
  void cut_all();

 private:
  friend class MemoryListenerImpl;
  asio::io_context& io_;
  std::shared_ptr<spdlog::logger> logger_;
  MemoryFaults faults_;
  std::uint64_t next_connection_ = 0;
  std::map<std::string, MemoryListenerImpl*> listeners_;
  struct Registry;
  std::shared_ptr<Registry> registry_;  // open connections, for cut_all()
};

}  // namespace dagsync
