// Scenarios (g) fan-out and (c) realtime with one process per client:
//
//   fanout --k clients --N history --rounds n --warmup n --workers w --clients raw|repo
//
// The server Repo is this process and nothing else: the k clients live in w fork()ed worker
// processes, so the CPU time and RSS read here are the server's own. The server's document
// holds N changes before the clients connect; each round commits one change at the server
// and waits until every client has it; a client's delivery time is its arrival time minus
// the commit's (one monotonic clock for all processes on the machine).
//
// `--clients repo`: every client is a full Repo that fetched the document over the
// protocol (what an application runs; memory grows with k x N, so for small N or k).
// `--clients raw`: every client speaks the envelopes by hand and claims the server's heads
// at the start without holding the history, then acknowledges each change it receives
// with its new heads. The server cannot tell the two apart (it does the same work per
// client), and 1,000 clients of a 10^5-change document fit in a few megabytes.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <iostream>
#include <memory>
#include <sstream>

#include "dagsync/repo.h"
#include "dagsync/transports.h"
#include "envelope.h"
#include "report.h"
#include "shape.h"

namespace dagsync::bench {

namespace {

std::shared_ptr<spdlog::logger> silent() {
  return std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
}

RepoOptions fanout_options(const std::string& id) {
  RepoOptions o;
  o.peer_id = id;
  o.logger = silent();
  o.heartbeat_interval = std::chrono::milliseconds(0);
  o.idle_timeout = std::chrono::milliseconds(0);
  // 1,000 clients from one address: above the default quotas for strangers.
  o.quotas.max_connections_per_address = 0;
  o.quotas.max_connections = 0;
  o.quotas.max_connections_per_principal = 0;
  return o;
}

void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) _exit(3);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool read_all(int fd, void* data, std::size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

std::string read_line(int fd) {
  std::string s;
  for (char ch; read(fd, &ch, 1) == 1 && ch != '\n';) s += ch;
  return s;
}

// What a worker is told by the server process, one line: url, mode, clients, first client
// index, rounds in all, and the server's heads as hex.
struct WorkerPlan {
  std::string url;
  std::string mode;
  std::size_t clients = 0, first = 0, rounds = 0;
  std::vector<ChangeHash> heads;
};

// One client that speaks envelopes by hand (see the file comment).
class RawClient {
 public:
  RawClient(std::string id, std::vector<ChangeHash> heads, std::function<void()> arrived)
      : id_(std::move(id)), heads_(std::move(heads)), arrived_(std::move(arrived)) {}

  void start(std::shared_ptr<Connection> c) {
    connection_ = std::move(c);
    connection_->start([this](Bytes f) { on_frame(f); }, [](const CloseReason&) {});
    Envelope hello;
    hello.type = Envelope::Type::kHello;
    hello.protocol_version = Repo::kProtocolVersion;
    hello.peer_id = id_;
    send(std::move(hello));
    send_heads();
  }

 private:
  void send(Envelope e) {
    e.seq = seq_++;
    connection_->send(e.encode());
  }
  void send_heads() {
    SyncMessage m;
    m.heads = heads_;
    m.have.push_back(Have{heads_, BloomFilter{}});
    Envelope e;
    e.type = Envelope::Type::kSync;
    e.doc_id = "doc";
    e.payload = m.encode();
    send(std::move(e));
  }
  void on_frame(const Bytes& frame) {
    Envelope e = Envelope::decode(frame, 1u << 30);
    if (e.type != Envelope::Type::kSync) return;
    SyncMessage m = SyncMessage::decode(e.payload);
    if (m.changes.empty()) return;
    // The server's history is one actor's chain: its newest change is the only head.
    heads_ = {m.changes.back().hash()};
    send_heads();
    for (std::size_t i = 0; i < m.changes.size(); ++i) arrived_();
  }

  std::string id_;
  std::vector<ChangeHash> heads_;
  std::function<void()> arrived_;
  std::shared_ptr<Connection> connection_;
  std::uint64_t seq_ = 0;
};

// A worker process: runs its clients until told to stop, reporting each round all of them
// completed with one byte on `events`, then every arrival time (clients x rounds doubles).
[[noreturn]] void run_worker(int plan_in, int events_out) {
  raise_fd_limit();
  WorkerPlan plan;
  {
    std::istringstream in(read_line(plan_in));
    std::string heads_hex;
    in >> plan.url >> plan.mode >> plan.clients >> plan.first >> plan.rounds;
    while (in >> heads_hex) plan.heads.push_back(ChangeHash::from_hex(heads_hex));
  }
  asio::io_context io;
  TransportOptions topts;
  topts.connect_timeout = std::chrono::seconds(120);
  Transports transports(io, topts, silent());
  std::vector<std::vector<double>> arrivals(plan.clients);
  std::size_t reported = 0;
  auto arrived = [&](std::size_t i) {
    arrivals[i].push_back(now_ms());
    std::size_t done = arrivals[0].size();
    for (const auto& a : arrivals) done = std::min(done, a.size());
    for (; reported < done; ++reported) write_all(events_out, "r", 1);
  };
  std::vector<std::unique_ptr<RawClient>> raw;
  std::vector<std::unique_ptr<Repo>> repos;
  std::vector<Subscription> subs;
  for (std::size_t i = 0; i < plan.clients; ++i) {
    std::string id = "client" + std::to_string(plan.first + i);
    if (plan.mode == "raw") {
      raw.push_back(std::make_unique<RawClient>(id, plan.heads, [&arrived, i] { arrived(i); }));
      transports.connect(plan.url, [&raw, i](std::shared_ptr<Connection> c, ConnectError e) {
        if (!c) {
          std::cerr << "fanout: connect failed: " << e.message << "\n";
          _exit(4);
        }
        raw[i]->start(std::move(c));
      });
    } else {
      auto o = fanout_options(id);
      o.hello_timeout = std::chrono::seconds(120);
      repos.push_back(std::make_unique<Repo>(io, transports, o));
      subs.push_back(repos.back()->on_remote_changes([&arrived, i](const RemoteChanges& r) {
        for (std::size_t n = 0; n < r.applied.size(); ++n) arrived(i);
      }));
      repos.back()->open("doc");
      repos.back()->connect(plan.url);
    }
  }
  // The stop byte arrives once the server has seen every round delivered.
  asio::posix::stream_descriptor stop(io, dup(plan_in));
  char byte = 0;
  asio::async_read(stop, asio::buffer(&byte, 1), [&](std::error_code, std::size_t) { io.stop(); });
  io.run();
  // Repo clients count the initial fetch of the history as arrivals: keep the last rounds.
  for (auto& a : arrivals) {
    if (a.size() > plan.rounds) a.erase(a.begin(), a.end() - static_cast<long>(plan.rounds));
    a.resize(plan.rounds, -1);
    write_all(events_out, a.data(), a.size() * sizeof(double));
  }
  _exit(0);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int run_fanout(int argc, char** argv) {
  Args args(argc, argv,
            {{"k", "100"},
             {"N", "100000"},
             {"rounds", "200"},
             {"warmup", "20"},
             {"workers", "2"},
             {"clients", "raw"},
             {"P", "64"}});
  const std::size_t k = args.num("k"), n = args.num("N"), rounds = args.num("rounds"),
                    warmup = args.num("warmup"), p = args.num("P");
  const std::size_t workers =
      std::min<std::size_t>(std::max<std::uint64_t>(args.num("workers"), 1), k);
  const std::string mode = args.str("clients");
  if (mode != "raw" && mode != "repo") throw std::invalid_argument("--clients: raw or repo");
  if (k == 0 || rounds == 0) throw std::invalid_argument("--k and --rounds must be at least 1");
  raise_fd_limit();

  // The workers are forked first, before this process holds any sockets or history.
  struct Worker {
    pid_t pid;
    int plan_out, events_in;
    std::size_t first, clients;
  };
  std::vector<Worker> ws;
  for (std::size_t w = 0; w < workers; ++w) {
    int plan_pipe[2], events_pipe[2];
    if (pipe(plan_pipe) || pipe(events_pipe)) throw std::runtime_error("pipe");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
      close(plan_pipe[1]), close(events_pipe[0]);
      for (const auto& other : ws) close(other.plan_out), close(other.events_in);
      run_worker(plan_pipe[0], events_pipe[1]);
    }
    close(plan_pipe[0]), close(events_pipe[1]);
    std::size_t first = k * w / workers, last = k * (w + 1) / workers;
    ws.push_back({pid, plan_pipe[1], events_pipe[0], first, last - first});
  }

  asio::io_context io;
  Transports transports(io, {}, silent());
  Repo server(io, transports, fanout_options("server"));
  std::cerr << "fanout: building the server's document of " << n << " changes\n";
  for (std::size_t i = 0; i < n; ++i) server.commit("doc", payload(i, p));
  if (n == 0) server.open("doc");
  std::string url = server.listen("tcp://127.0.0.1:0");
  std::string heads_hex;
  for (const auto& h : server.find("doc")->heads()) heads_hex += " " + h.hex();
  const std::size_t total = warmup + rounds;
  for (const auto& w : ws) {
    std::string line = url + " " + mode + " " + std::to_string(w.clients) + " " +
                       std::to_string(w.first) + " " + std::to_string(total) + heads_hex + "\n";
    write_all(w.plan_out, line.data(), line.size());
  }
  std::cerr << "fanout: " << k << " " << mode << " clients in " << workers << " processes\n";
  double connect_start = now_ms();
  // Checking all k clients after every handler would be quadratic: each once, in order.
  for (std::size_t next = 0; next < k;) {
    io.run_one();
    while (next < k && server.in_sync_with("client" + std::to_string(next), "doc")) ++next;
  }
  std::cerr << "fanout: all in sync after " << now_ms() - connect_start << " ms\n";

  // Each worker reports a round once all its clients have it.
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> events;
  std::vector<char> event_bytes(workers);
  std::size_t reports = 0;
  std::function<void(std::size_t)> listen_worker = [&](std::size_t w) {
    asio::async_read(*events[w], asio::buffer(&event_bytes[w], 1),
                     [&, w](std::error_code ec, std::size_t) {
                       if (ec) throw std::runtime_error("fanout: a worker process ended early");
                       ++reports;
                       listen_worker(w);
                     });
  };
  for (std::size_t w = 0; w < workers; ++w) {
    events.push_back(std::make_unique<asio::posix::stream_descriptor>(io, ws[w].events_in));
    listen_worker(w);
  }
  std::vector<double> committed(total);
  double cpu_start = 0, wall_start = 0;
  for (std::size_t r = 0; r < total; ++r) {
    if (r == warmup) cpu_start = cpu_seconds(), wall_start = now_ms();
    committed[r] = now_ms();
    server.commit("doc", payload(n + r, p));
    while (reports < workers * (r + 1)) io.run_one();
  }
  double cpu = cpu_seconds() - cpu_start, wall = now_ms() - wall_start;
  std::int64_t rss_kb = peak_rss_kb();
  // The descriptors are read directly below, blocking: asio made them non-blocking.
  for (auto& e : events) {
    int fd = e->release();
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }

  std::vector<double> latencies_ms;
  latencies_ms.reserve(rounds * k);
  bool complete = true;
  for (auto& w : ws) {
    write_all(w.plan_out, "q", 1);
    std::vector<double> a(w.clients * total);
    complete &= read_all(w.events_in, a.data(), a.size() * sizeof(double));
    for (std::size_t c = 0; c < w.clients; ++c) {
      for (std::size_t r = warmup; r < total; ++r) {
        double t = a[c * total + r];
        if (t < 0) complete = false;
        latencies_ms.push_back(t - committed[r]);
      }
    }
    int status = 0;
    waitpid(w.pid, &status, 0);
    complete &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  if (!complete) throw std::runtime_error("fanout: a worker did not report every round");

  double per_change_us = cpu * 1e6 / static_cast<double>(rounds * k);
  double p50 = percentile(latencies_ms, 0.5), p99 = percentile(latencies_ms, 0.99);
  std::string label = "k=" + std::to_string(k) + ", N=" + std::to_string(n) + ", " + mode +
                      " clients in " + std::to_string(workers) + " processes";
  // (g) is the fan-out of a long document; (c) the realtime round, one process per client.
  bool realtime = n == 0 || mode == "repo";
  std::string scenario = realtime ? "(c) realtime, server alone in its process, " : "(g) fan-out, ";
  auto figure = [&](const std::string& what, double value, const char* unit, const char* target,
                    bool ok) {
    JsonLine line;
    line.add("kind", "figure").add("name", scenario + what + ", " + label);
    line.add("value", value).add("unit", unit);
    if (target) line.add("target", target).add("target_ok", ok);
    line.print();
  };
  if (realtime) {
    figure("delivery p50", p50 * 1000, "us", "<= 100", p50 * 1000 <= 100);
    figure("delivery p99", p99 * 1000, "us", "<= 1000", p99 * 1000 <= 1000);
  } else {
    figure("server CPU per delivered change", per_change_us, "us", "<= 20", per_change_us <= 20);
    figure("delivery p50", p50, "ms", nullptr, true);
    figure("delivery p99", p99, "ms", "<= 50", p99 <= 50);
    figure("server peak RSS", static_cast<double>(rss_kb) / 1024, "MiB", nullptr, true);
  }
  std::cerr << "fanout " << label << ": " << rounds << " rounds in " << wall << " ms, server CPU "
            << cpu * 1000 << " ms (" << per_change_us << " us per delivered change), p50 " << p50
            << " ms, p99 " << p99 << " ms\n";
  return 0;
}

}  // namespace dagsync::bench
