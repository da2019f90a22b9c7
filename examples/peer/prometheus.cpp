#include "prometheus.h"

#include <cstdio>

namespace dagsync::peer {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void family(std::string& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels,
            std::uint64_t value) {
  out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
}

void both_ways(std::string& out, const std::string& name, const std::string& help,
               std::uint64_t received, std::uint64_t sent) {
  family(out, name, "counter", help);
  sample(out, name, "direction=\"received\"", received);
  sample(out, name, "direction=\"sent\"", sent);
}

// Close reasons that mean this side or the peer refused something, rather than a peer
// leaving or the server stopping.
bool is_refusal(const std::string& reason) {
  return reason == "protocol error" || reason == "bad frame" || reason == "frame too large" ||
         reason == "backpressure" || reason == "timeout";
}

}  // namespace

void LatencyHistogram::observe(double seconds) {
  ++count_;
  sum_ += seconds;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++counts_[i];
      return;
    }
  }
}

std::string LatencyHistogram::render(const std::string& name, const std::string& help) const {
  std::string out;
  family(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    sample(out, name + "_bucket", "le=\"" + number(kBounds[i]) + "\"", cumulative);
  }
  sample(out, name + "_bucket", "le=\"+Inf\"", count_);
  out += name + "_sum " + number(sum_) + "\n";
  sample(out, name + "_count", "", count_);
  return out;
}

std::string render_metrics(const RepoMetrics& m, std::size_t documents_loaded,
                           const LatencyHistogram& latency) {
  std::string out;
  family(out, "dagsync_connections_total", "counter", "Connections started, by direction.");
  sample(out, "dagsync_connections_total", "direction=\"accepted\"", m.sessions_accepted);
  sample(out, "dagsync_connections_total", "direction=\"dialled\"", m.sessions_dialled);
  family(out, "dagsync_connections_open", "gauge", "Connections open now, hello or not.");
  sample(out, "dagsync_connections_open", "", m.sessions_open);
  family(out, "dagsync_peers_connected", "gauge", "Connections past the hello now.");
  sample(out, "dagsync_peers_connected", "", m.peers_connected);
  family(out, "dagsync_documents_loaded", "gauge", "Documents held in memory.");
  sample(out, "dagsync_documents_loaded", "", documents_loaded);
  both_ways(out, "dagsync_sync_messages_total", "Sync messages, each way.",
            m.sync_messages_received, m.sync_messages_sent);
  both_ways(out, "dagsync_bytes_total", "Bytes of frames, each way.", m.bytes_received,
            m.bytes_sent);
  both_ways(out, "dagsync_changes_total", "Changes carried in sync messages, each way.",
            m.changes_received, m.changes_sent);
  family(out, "dagsync_connections_closed_total", "counter", "Connections ended, by reason.");
  for (const auto& [reason, n] : m.sessions_closed) {
    sample(out, "dagsync_connections_closed_total", "reason=\"" + reason + "\"", n);
  }
  family(out, "dagsync_refusals_total", "counter",
         "Connections ended by a refusal, unavailable documents and failed stores, by reason.");
  for (const auto& [reason, n] : m.sessions_closed) {
    if (is_refusal(reason)) sample(out, "dagsync_refusals_total", "reason=\"" + reason + "\"", n);
  }
  sample(out, "dagsync_refusals_total", "reason=\"document unavailable\"", m.unavailable_sent);
  sample(out, "dagsync_refusals_total", "reason=\"storage failed\"", m.storage_failures);
  family(out, "dagsync_connect_failures_total", "counter", "Dial attempts that failed.");
  sample(out, "dagsync_connect_failures_total", "", m.connect_failures);
  out += latency.render("dagsync_delivery_latency_seconds",
                        "From a received change's author timestamp to its arrival here.");
  return out;
}

}  // namespace dagsync::peer
