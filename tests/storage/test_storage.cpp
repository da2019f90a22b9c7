// SQLite storage: round trips, schema versions, corrupt rows, and crash safety under SIGKILL.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "dagsync/sqlite_storage.h"
#include "net_helpers.h"

using namespace dagsync;
using namespace dagsync::test;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("dagsync-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

void raw_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, message);
}

}  // namespace

TEST_CASE("storage: sqlite keeps changes and sync states across reopening") {
  TempDir dir;
  std::string path = dir.file("store.db");
  ChangeGraph g(actor(1));
  commit_n(g, 20, "x");
  {
    SqliteStorage s(path);
    CHECK(s.schema_version() == SqliteStorage::kSchemaVersion);
    s.append_changes("alpha", std::span<const Change>(g.changes()).first(10));
    s.append_changes("alpha", std::span<const Change>(g.changes()).subspan(10));
    s.append_changes("alpha", std::span<const Change>(g.changes()).first(3));  // duplicates ignored
    s.append_changes("beta", std::span<const Change>(g.changes()).first(1));
    s.save_sync_state("alpha", "peer-1", Bytes{1, 2, 3});
    s.save_sync_state("alpha", "peer-1", Bytes{4, 5});
  }
  SqliteStorage s(path);
  CHECK(s.list_documents() == std::vector<std::string>{"alpha", "beta"});
  auto loaded = s.load_changes("alpha");
  CHECK(hashes_of(loaded) == hashes_of(g.changes()));
  CHECK(s.load_changes("beta").size() == 1);
  CHECK(s.load_changes("nothing").empty());
  CHECK(s.load_sync_state("alpha", "peer-1") == Bytes{4, 5});
  CHECK_FALSE(s.load_sync_state("alpha", "peer-2").has_value());
}

TEST_CASE("storage: a corrupt row is a clear error naming the document") {
  TempDir dir;
  std::string path = dir.file("corrupt.db");
  ChangeGraph g(actor(1));
  commit_n(g, 3, "x");
  {
    SqliteStorage s(path);
    s.append_changes("notes", g.changes());
  }
  SUBCASE("bytes changed") {
    raw_sql(path, "UPDATE changes SET bytes = X'00' || bytes WHERE rowid = 2");
  }
  SUBCASE("hash changed") {
    raw_sql(path, "UPDATE changes SET hash = zeroblob(32) WHERE rowid = 2");
  }
  SUBCASE("hash truncated") {
    raw_sql(path, "UPDATE changes SET hash = X'0102' WHERE rowid = 2");
  }
  SqliteStorage s(path);
  try {
    s.load_changes("notes");
    FAIL("corruption not detected");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.find("document notes") != std::string::npos);
    CHECK(what.find("row 2") != std::string::npos);
  }
}

TEST_CASE("storage: schema versions: newer databases are refused, junk files too") {
  TempDir dir;
  std::string newer = dir.file("newer.db");
  raw_sql(newer, "PRAGMA user_version = 99");
  CHECK_THROWS_WITH_AS(SqliteStorage{newer}, doctest::Contains("schema version 99"), Error);
  std::string junk = dir.file("junk.db");
  { std::ofstream(junk) << std::string(4096, 'x'); }
  CHECK_THROWS_AS(SqliteStorage{junk}, Error);
  CHECK_THROWS_AS(SqliteStorage{dir.file("missing-dir/x.db")}, Error);
}

TEST_CASE("storage: a repo restarts from sqlite with its documents and sync states") {
  TempDir dir;
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Repo server(io, transports, [] {
    RepoOptions o;
    o.peer_id = "server";
    o.logger = quiet_logger();
    return o;
  }());
  std::string url = server.listen("tcp://127.0.0.1:0");
  auto make_client = [&] {
    RepoOptions o;
    o.peer_id = "client";
    o.logger = quiet_logger();
    o.storage = std::make_shared<SqliteStorage>(dir.file("client.db"));
    return std::make_unique<Repo>(io, transports, o);
  };
  auto client = make_client();
  for (int i = 0; i < 30; ++i) client->commit("doc", text("line " + std::to_string(i)));
  client->connect(url);
  REQUIRE(run_until(io, [&] {
    return server.find("doc") && server.find("doc")->size() == 30 &&
           client->peer_has_our_changes("server", "doc");
  }));
  auto heads = client->find("doc")->heads();
  client.reset();
  settle(io);
  client = make_client();
  REQUIRE(client->find("doc") != nullptr);
  CHECK(client->find("doc")->heads() == heads);
  client->connect(url);
  REQUIRE(run_until(io, [&] { return client->peer_has_our_changes("server", "doc"); }));
  settle(io);
  for (const auto& p : client->peers()) CHECK(p.changes_sent == 0);
  for (const auto& p : server.peers()) CHECK(p.changes_sent == 0);
}

TEST_CASE(
    "storage: crash safety: a writer killed with SIGKILL loses nothing it reported committed") {
  TempDir dir;
  std::string path = dir.file("crash.db");
  std::mt19937 rng(2026);
  std::set<ChangeHash> reported;
  int kills = 0;
  for (int round = 0; round < 6; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // The writer: continue the history in the database, report each change once stored.
      ::close(fds[0]);
      try {
        SqliteStorage storage(path);
        ChangeGraph graph(actor(std::uint8_t(10 + round)));
        graph.add(storage.load_changes("doc"));
        for (int i = 0;; ++i) {
          Change c =
              graph.commit(text("round " + std::to_string(round) + " change " + std::to_string(i)));
          storage.append_changes("doc", std::span<const Change>(&c, 1));
          if (::write(fds[1], c.hash().bytes.data(), 32) != 32) ::_exit(3);
        }
      } catch (...) {
        ::_exit(2);
      }
    }
    ::close(fds[1]);
    // Kill it after a random number of reported commits (the kill lands wherever the writer is).
    int target = 5 + static_cast<int>(rng() % 200);
    int got = 0;
    ChangeHash h;
    while (got < target && ::read(fds[0], h.bytes.data(), 32) == 32) {
      reported.insert(h);
      ++got;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Hashes written before the kill were reported too.
    while (::read(fds[0], h.bytes.data(), 32) == 32) reported.insert(h);
    ::close(fds[0]);
    REQUIRE_MESSAGE(WIFSIGNALED(status), "the writer exited on its own with status " << status);
    ++kills;

    SqliteStorage storage(path);
    auto changes = storage.load_changes("doc");
    std::set<ChangeHash> stored;
    for (const auto& c : changes) stored.insert(c.hash());
    for (const auto& r : reported) CHECK(stored.count(r) == 1);
    ChangeGraph check(actor(99));
    check.add(changes);
    CHECK(check.pending_count() == 0);
    CHECK(check.size() == changes.size());
  }
  MESSAGE(kills << " kills, " << reported.size() << " reported commits, all present");
}
