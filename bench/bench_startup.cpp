// Scenario (h) start-up: a Repo on a SQLite store of M documents (20 changes of 64 bytes
// each), time to construct it and the RSS it holds until documents are used, then one
// document out of the M fetched by a client over TCP loopback. The store is built in a
// child process, so the figures are of a process that only opened it.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dagsync/error.h"
#include "dagsync/repo.h"
#include "dagsync/sqlite_storage.h"
#include "dagsync/transports.h"
#include "report.h"

namespace dagsync::bench {
namespace {

constexpr int kChangesPerDocument = 20;

// Resident set size now, in KiB (/proc/self/status VmRSS).
std::int64_t current_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

void build_store(const std::string& path, std::size_t m) {
  SqliteStorage store(path, {.durability = SqliteOptions::Durability::kNormal});
  ActorId actor = random_actor_id();
  for (std::size_t d = 0; d < m; ++d) {
    std::vector<Change> changes;
    std::vector<ChangeHash> deps;
    for (int s = 1; s <= kChangesPerDocument; ++s) {
      ChangeFields f;
      f.actor = actor;
      f.seq = static_cast<std::uint64_t>(s);
      f.deps = deps;
      f.payload = Bytes(64, static_cast<std::uint8_t>(s));
      changes.push_back(Change::build(std::move(f)));
      deps = {changes.back().hash()};
    }
    store.append_changes("doc" + std::to_string(d), changes);
    if ((d + 1) % 10000 == 0) std::cerr << "startup: stored " << d + 1 << " documents\n";
  }
}

}  // namespace

int run_startup(int argc, char** argv) {
  Args args(argc, argv, {{"M", "1000"}});
  const std::size_t m = args.num("M");
  auto dir = std::filesystem::temp_directory_path() /
             ("dagsync-bench-startup-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "server.db").string();
  std::cerr << "startup: building a store of " << m << " documents\n";
  pid_t child = fork();
  if (child == 0) {
    build_store(path, m);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Error("building the store failed");

  asio::io_context io;
  auto quiet =
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  Transports transports(io, {}, quiet);
  std::int64_t rss_before = current_rss_kb();
  double start = now_ms();
  RepoOptions so;
  so.peer_id = "server";
  so.logger = quiet;
  so.storage = std::make_shared<SqliteStorage>(path);
  Repo server(io, transports, so);
  double constructed = now_ms() - start;
  std::int64_t rss_after = current_rss_kb();
  std::string label = "(h) start-up, M = " + std::to_string(m);
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": Repo construction")
      .add("value", constructed)
      .add("unit", "ms")
      .add("target", "<= 100 ms at M = 10^5")
      .add("target_ok", constructed <= 100.0)
      .print();
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": RSS until documents are used")
      .add("value", static_cast<double>(rss_after) / 1024.0)
      .add("unit", "MiB")
      .add("rss_before_repo_mib", static_cast<double>(rss_before) / 1024.0)
      .add("target", "<= 30 MiB")
      .add("target_ok", rss_after <= 30 * 1024)
      .print();

  std::string url = server.listen("tcp://127.0.0.1:0");
  RepoOptions co;
  co.peer_id = "client";
  co.logger = quiet;
  Repo client(io, transports, co);
  std::string wanted = "doc" + std::to_string(m / 2);
  start = now_ms();
  client.request(wanted);
  client.connect(url);
  while (client.find(wanted)->size() < kChangesPerDocument) io.run_one();
  double fetched = now_ms() - start;
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": one document out of M, connect to all changes received")
      .add("value", fetched)
      .add("unit", "ms")
      .add("documents_loaded", static_cast<std::int64_t>(server.loaded_documents()))
      .add("target", "as fast as at M = 10^3")
      .print();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace dagsync::bench
