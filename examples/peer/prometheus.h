// The server's metrics in Prometheus text format (version 0.0.4): Repo::metrics() counters,
// documents loaded, and the delivery latency histogram. Names start with dagsync_; each
// has HELP and TYPE lines. Labels come from small fixed sets (directions, close reasons),
// never from peer-chosen text.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "dagsync/repo.h"

namespace dagsync::peer {

// Delivery latency: from a change's author timestamp to its arrival here, for changes that
// carry one (dagsync-peer stamps its own). It includes the time a change waited on an
// offline client and any clock difference between the hosts, so the top buckets are wide.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   10,   60,  600};
  void observe(double seconds);
  std::string render(const std::string& name, const std::string& help) const;

 private:
  std::array<std::uint64_t, kBounds.size()> counts_{};  // per bucket, not cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

std::string render_metrics(const RepoMetrics& metrics, std::size_t documents_loaded,
                           const LatencyHistogram& latency);

}  // namespace dagsync::peer
