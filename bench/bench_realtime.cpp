// Scenario (c): realtime. One server Repo and k client Repos over real loopback sockets (TCP
// or WebSocket), all on one io_context in this process. Each round commits one change at
// the server and records, for every client, the time until its on_remote_changes fires.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio.hpp>
#include <iostream>
#include <memory>

#include "dagsync/repo.h"
#include "dagsync/transports.h"
#include "report.h"
#include "shape.h"

namespace dagsync::bench {

namespace {

RepoOptions quiet(const std::string& id) {
  RepoOptions o;
  o.peer_id = id;
  o.logger =
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  o.heartbeat_interval = std::chrono::milliseconds(0);
  return o;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int run_realtime(int argc, char** argv) {
  Args args(argc, argv,
            {{"scheme", "tcp"}, {"k", "1"}, {"rounds", "2000"}, {"P", "64"}, {"warmup", "200"}});
  std::string scheme = args.str("scheme");
  if (scheme != "tcp" && scheme != "ws") throw std::invalid_argument("--scheme: tcp or ws");
  auto k = static_cast<std::size_t>(args.num("k"));
  std::uint64_t rounds = args.num("rounds"), warmup = args.num("warmup");
  std::size_t p = args.num("P");

  asio::io_context io;
  Transports transports(
      io, {},
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>()));
  Repo server(io, transports, quiet("server"));
  server.open("doc");
  std::string url = server.listen(scheme == "tcp" ? "tcp://127.0.0.1:0" : "ws://127.0.0.1:0/sync");
  std::vector<std::unique_ptr<Repo>> clients;
  std::vector<Subscription> subs;
  std::vector<double> arrived(k, -1);
  for (std::size_t i = 0; i < k; ++i) {
    clients.push_back(std::make_unique<Repo>(io, transports, quiet("client" + std::to_string(i))));
    subs.push_back(clients.back()->on_remote_changes(
        [&arrived, i](const RemoteChanges&) { arrived[i] = now_ms(); }));
    // Opened (empty) before dialling: the default share policy offers it to the server,
    // which answers with the document, as an application's client would do.
    clients.back()->open("doc");
    clients.back()->connect(url);
  }
  auto all_synced = [&] {
    for (auto& c : clients) {
      if (!c->in_sync_with("server", "doc")) return false;
    }
    return true;
  };
  while (!all_synced()) io.run_one();

  std::vector<double> latencies_us;
  latencies_us.reserve(rounds * k);
  for (std::uint64_t r = 0; r < warmup + rounds; ++r) {
    std::fill(arrived.begin(), arrived.end(), -1.0);
    double start = now_ms();
    server.commit("doc", payload(r, p));
    while (std::any_of(arrived.begin(), arrived.end(), [](double t) { return t < 0; })) {
      io.run_one();
    }
    if (r < warmup) continue;
    for (double t : arrived) latencies_us.push_back((t - start) * 1000.0);
  }
  // Let acknowledgements settle so every peer ends in sync (checked, not timed).
  while (!all_synced()) io.run_one();

  double p50 = percentile(latencies_us, 0.50), p99 = percentile(latencies_us, 0.99);
  std::string label = scheme + " k=" + std::to_string(k);
  bool tcp = scheme == "tcp";
  // The targets are for TCP; WebSocket rows are for comparison.
  auto figure = [&](const std::string& what, double value, const char* target, bool ok) {
    JsonLine line;
    line.add("kind", "figure").add("name", "(c) realtime " + what + ", " + label);
    line.add("value", value).add("unit", "us");
    if (tcp) line.add("target", target).add("target_ok", ok);
    line.print();
  };
  figure("p50", p50, "<= 100", p50 <= 100);
  figure("p99", p99, "<= 1000", p99 <= 1000);
  std::cerr << label << ": " << latencies_us.size() << " samples, p50 " << p50 << " us, p99 " << p99
            << " us\n";
  return 0;
}

}  // namespace dagsync::bench
