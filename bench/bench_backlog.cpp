// Scenario (e): a backlog of --MB megabytes of changes synced over TCP loopback from a
// serving process to an empty one (fork()ed: two processes, each measuring itself). Each
// reports its wall time, peak RSS and what it holds at the end; the target is that peak RSS
// beyond the process's starting RSS stays under 4x the maximum message size plus the heap
// the document occupies at the end (its encoded changes and their index).
#include <malloc.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dagsync/repo.h"
#include "dagsync/transports.h"
#include "report.h"
#include "shape.h"

namespace dagsync::bench {

namespace {

std::int64_t current_rss_kb() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

std::int64_t heap_in_use() {
  return static_cast<std::int64_t>(mallinfo2().uordblks);
}

// Peak RSS (VmHWM) since the last reset_peak(), in KiB; 0 if unavailable.
std::int64_t high_water_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux: "5" to clear_refs); false if not permitted.
bool reset_peak() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

// RSS of the idle peer (a Repo with its transports, OpenSSL initialised by a first hash):
// what the process costs before it holds or moves any document.
std::int64_t idle_footprint_kb() {
  sha256(ByteView());
  return current_rss_kb();
}

RepoOptions quiet(const std::string& id, std::size_t max_message) {
  RepoOptions o;
  o.peer_id = id;
  o.logger =
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  o.heartbeat_interval = std::chrono::milliseconds(0);
  o.max_message_bytes = max_message;
  return o;
}

struct ProcessFigures {
  std::int64_t baseline_kb = 0, peak_kb = 0, heap_bytes = 0, stored_bytes = 0;
  double wall_ms = 0;
};

void report(const std::string& who, const ProcessFigures& f, std::size_t max_message) {
  std::int64_t growth = (f.peak_kb - f.baseline_kb) * 1024;
  std::int64_t bound = 4 * static_cast<std::int64_t>(max_message) + f.heap_bytes;
  JsonLine()
      .add("kind", "figure")
      .add("name", "(e) backlog peak RSS growth, " + who)
      .add("value", static_cast<double>(growth) / (1 << 20))
      .add("unit", "MiB")
      .add("target",
           "<= 4 x max message + document heap = " + std::to_string(bound / (1 << 20)) + " MiB")
      .add("target_ok", growth <= bound)
      .add("stored_mib", static_cast<double>(f.stored_bytes) / (1 << 20))
      .add("document_heap_mib", static_cast<double>(f.heap_bytes) / (1 << 20))
      .add("peak_rss_mib", static_cast<double>(f.peak_kb) / 1024)
      .print();
}

// The serving process: builds the document, serves it, reports when the client is done.
[[noreturn]] void serve(const ShapeParams& params, std::size_t max_message, int url_out,
                        int done_in, int figures_out) {
  ProcessFigures f;
  asio::io_context io;
  Transports transports(io, {}, quiet("x", 0).logger);
  auto repo = std::make_unique<Repo>(io, transports, quiet("server", max_message));
  ChangeGraph& doc = repo->open("doc");
  f.baseline_kb = idle_footprint_kb();
  std::int64_t heap_before = heap_in_use();
  {
    ShapeChanges shape = make_shape(params);
    doc.add(shape.shared);
    for (const Change& c : shape.shared)
      f.stored_bytes += static_cast<std::int64_t>(c.bytes().size());
  }
  f.heap_bytes = heap_in_use() - heap_before;
  // Building the document is not part of serving it: measure from here, with the document
  // held, when the kernel lets us reset the high-water mark.
  bool serving_only = reset_peak();
  if (serving_only) f.baseline_kb = current_rss_kb() - f.heap_bytes / 1024;
  std::string url = repo->listen("tcp://127.0.0.1:0") + "\n";
  if (write(url_out, url.data(), url.size()) != static_cast<ssize_t>(url.size())) _exit(3);
  asio::posix::stream_descriptor done(io, done_in);
  char byte = 0;
  asio::async_read(done, asio::buffer(&byte, 1), [&](std::error_code, std::size_t) { io.stop(); });
  io.run();
  f.peak_kb = serving_only ? high_water_kb() : peak_rss_kb();
  std::ostringstream out;
  out << f.baseline_kb << " " << f.peak_kb << " " << f.heap_bytes << " " << f.stored_bytes << "\n";
  std::string s = out.str();
  if (write(figures_out, s.data(), s.size()) != static_cast<ssize_t>(s.size())) _exit(3);
  _exit(0);
}

}  // namespace

int run_backlog(int argc, char** argv) {
  Args args(argc, argv, {{"MB", "100"}, {"P", "1024"}, {"max_message", "1048576"}});
  std::size_t p = args.num("P"), max_message = args.num("max_message");
  ShapeParams params;
  params.p = p;
  params.a = 3;
  params.d = 0;
  params.n = args.num("MB") * 1'000'000 / (p + 40);  // ~40 bytes of header per change
  int url_pipe[2], done_pipe[2], figures_pipe[2];
  if (pipe(url_pipe) || pipe(done_pipe) || pipe(figures_pipe)) throw std::runtime_error("pipe");
  std::cerr << "backlog: " << params.n << " changes of " << p << " bytes, max message "
            << max_message << " bytes\n";
  pid_t child = fork();
  if (child < 0) throw std::runtime_error("fork");
  if (child == 0) {
    close(url_pipe[0]);
    close(done_pipe[1]);
    close(figures_pipe[0]);
    serve(params, max_message, url_pipe[1], done_pipe[0], figures_pipe[1]);
  }
  close(url_pipe[1]);
  close(done_pipe[0]);
  close(figures_pipe[1]);

  ProcessFigures f;
  std::string url;
  for (char c; read(url_pipe[0], &c, 1) == 1 && c != '\n';) url += c;
  if (url.empty()) throw std::runtime_error("the serving process did not start");
  std::uint64_t messages = 0;
  {
    asio::io_context io;
    Transports transports(io, {}, quiet("x", 0).logger);
    Repo repo(io, transports, quiet("client", max_message));
    ChangeGraph& doc = repo.open("doc");
    f.baseline_kb = idle_footprint_kb();
    std::int64_t heap_before = heap_in_use();
    auto sub = repo.on_remote_changes([&](const RemoteChanges&) { ++messages; });
    double start = now_ms();
    repo.connect(url);
    while (doc.size() < params.n || !repo.in_sync_with("server", "doc")) io.run_one();
    f.wall_ms = now_ms() - start;
    f.heap_bytes = heap_in_use() - heap_before;
    for (const Change& c : doc.changes())
      f.stored_bytes += static_cast<std::int64_t>(c.bytes().size());
    f.peak_kb = peak_rss_kb();
  }
  if (write(done_pipe[1], "x", 1) != 1) throw std::runtime_error("pipe");
  ProcessFigures s;
  std::string line;
  for (char c; read(figures_pipe[0], &c, 1) == 1 && c != '\n';) line += c;
  std::istringstream(line) >> s.baseline_kb >> s.peak_kb >> s.heap_bytes >> s.stored_bytes;
  int status = 0;
  waitpid(child, &status, 0);

  double mb = static_cast<double>(f.stored_bytes) / 1e6;
  JsonLine()
      .add("kind", "figure")
      .add("name", "(e) backlog " + std::to_string(static_cast<int>(mb + 0.5)) +
                       " MB to an empty peer over TCP, wall")
      .add("value", f.wall_ms)
      .add("unit", "ms")
      .add("messages_applied", messages)
      .add("MB_per_s", mb / (f.wall_ms / 1000))
      .print();
  report("receiving process", f, max_message);
  report("serving process", s, max_message);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace dagsync::bench
