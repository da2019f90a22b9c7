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
#include "temp_dir.h"

using namespace dagsync;
using namespace dagsync::test;
namespace fs = std::filesystem;

namespace {

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

TEST_CASE("storage: another application's database, a missing directory, an empty path") {
  TempDir dir;
  SUBCASE("tables of another application: refused, and left as they were") {
    std::string other = dir.file("other.db");
    raw_sql(other, "CREATE TABLE documents (title TEXT)");
    CHECK_THROWS_WITH_AS(SqliteStorage{other}, doctest::Contains("is not a dagsync store"),
                         NotAStoreError);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(other.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, nullptr) ==
            SQLITE_OK);
    REQUIRE(sqlite3_step(q) == SQLITE_ROW);
    CHECK(sqlite3_column_int(q, 0) == 1);  // no dagsync table was added
    sqlite3_finalize(q);
    sqlite3_close(db);
  }
  SUBCASE("another application id") {
    std::string other = dir.file("app.db");
    raw_sql(other, "PRAGMA application_id = 1234");
    CHECK_THROWS_WITH_AS(SqliteStorage{other}, doctest::Contains("application 0x000004d2"),
                         NotAStoreError);
  }
  SUBCASE("not SQLite at all") {
    std::string junk = dir.file("junk.db");
    { std::ofstream(junk) << std::string(4096, 'x'); }
    CHECK_THROWS_WITH_AS(SqliteStorage{junk}, doctest::Contains("not an SQLite database"),
                         NotAStoreError);
  }
  SUBCASE("a missing directory is named") {
    CHECK_THROWS_WITH_AS(SqliteStorage{dir.file("missing-dir/x.db")},
                         doctest::Contains("missing-dir does not exist"), Error);
  }
  SUBCASE("an empty path") {
    CHECK_THROWS_WITH_AS(SqliteStorage{""}, doctest::Contains("path is empty"), Error);
  }
}

TEST_CASE("storage: a version 1 store migrates and is then marked as a dagsync store") {
  TempDir dir;
  std::string path = dir.file("v1.db");
  raw_sql(path,
          "CREATE TABLE documents (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
          "CREATE TABLE changes (doc INTEGER NOT NULL REFERENCES documents(id), hash BLOB NOT "
          "NULL, actor BLOB NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL, UNIQUE (doc, "
          "hash));"
          "CREATE TABLE sync_states (doc INTEGER NOT NULL REFERENCES documents(id), peer TEXT NOT "
          "NULL, state BLOB NOT NULL, PRIMARY KEY (doc, peer));"
          "INSERT INTO documents (name) VALUES ('notes');"
          "INSERT INTO sync_states VALUES (1, 'old-peer', X'0102');"
          "PRAGMA user_version = 1;");
  SqliteStorage s(path);
  CHECK(s.schema_version() == SqliteStorage::kSchemaVersion);
  auto states = s.list_sync_states();
  REQUIRE(states.size() == 1);
  CHECK_FALSE(states[0].updated_ms.has_value());  // saved before timestamps were kept
  s.save_sync_state("notes", "new-peer", Bytes{7});
  states = s.list_sync_states();
  REQUIRE(states.size() == 2);
  CHECK(states[1].peer_id == "old-peer");
  CHECK(states[0].peer_id == "new-peer");
  CHECK(states[0].bytes == 1);
  REQUIRE(states[0].updated_ms.has_value());
  CHECK(*states[0].updated_ms > 1'600'000'000'000);
}

TEST_CASE("storage: with exclusive_lock, a second writer is refused and told who holds it") {
  TempDir dir;
  std::string path = dir.file("locked.db");
  SqliteOptions locked;
  locked.exclusive_lock = true;
  locked.lock_holder = "first-writer serve";
  {
    SqliteStorage first(path, locked);
    SqliteOptions second_options;
    second_options.exclusive_lock = true;
    // flock conflicts between open files, within one process too: this stands for a second
    // process (the peer tests in tests/peer/ run two real ones).
    try {
      SqliteStorage second(path, second_options);
      FAIL("second writer admitted");
    } catch (const StoreLockedError& e) {
      CHECK(e.holder_pid == ::getpid());
      CHECK(e.holder == "first-writer serve");
      CHECK(std::string(e.what()).find("in use by process " + std::to_string(::getpid())) !=
            std::string::npos);
    }
    // Readers are not writers: a read-only open goes ahead.
    SqliteOptions reader;
    reader.read_only = true;
    reader.exclusive_lock = true;
    SqliteStorage inspect(path, reader);
    CHECK(inspect.list_documents().empty());
    // The lock is advisory: it binds only those who ask for it.
    SqliteStorage unlocked(path);
  }
  // Released with the holder.
  SqliteStorage again(path, locked);
  CHECK(again.schema_version() == SqliteStorage::kSchemaVersion);
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

TEST_CASE("storage: sync states of peers not seen for a while are forgotten, per peer") {
  TempDir dir;
  std::string path = dir.file("forget.db");
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  Bytes state{1, 2, 3};
  {
    SqliteStorage s(path);
    s.save_sync_state("a", "gone", state);
    s.save_sync_state("b", "gone", state);
    s.save_sync_state("a", "active", state);
    s.save_sync_state("b", "active", state);
  }
  // "gone" saved its states 100 days ago; "active" one of its two then, one just now: a
  // peer counts as seen by its newest state.
  raw_sql(path, "UPDATE sync_states SET updated_ms = 1000 WHERE peer = 'gone'");
  raw_sql(path,
          "UPDATE sync_states SET updated_ms = 1000 WHERE peer = 'active' AND doc = "
          "(SELECT id FROM documents WHERE name = 'a')");
  SqliteStorage s(path);
  CHECK(s.forget_peers_before(now - 3'600'000) == 2);
  CHECK_FALSE(s.load_sync_state("a", "gone"));
  CHECK_FALSE(s.load_sync_state("b", "gone"));
  CHECK(s.load_sync_state("a", "active"));
  CHECK(s.load_sync_state("b", "active"));
  CHECK(s.forget_peers_before(now - 3'600'000) == 0);

  MemoryStorage m;
  m.save_sync_state("a", "p", state);
  CHECK(m.forget_peers_before(now - 3'600'000) == 0);
  CHECK(m.forget_peers_before(now + 3'600'000) == 1);
  CHECK_FALSE(m.load_sync_state("a", "p"));
}

TEST_CASE("storage: a repo forgets peers not seen for forget_peers_after when it starts") {
  TempDir dir;
  std::string path = dir.file("repo-forget.db");
  {
    SqliteStorage s(path);
    s.save_sync_state("notes", "old-friend", Bytes{1});
  }
  raw_sql(path, "UPDATE sync_states SET updated_ms = 1000");
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions o = repo_options("me");
  auto storage = std::make_shared<SqliteStorage>(path);
  o.storage = storage;
  o.forget_peers_after = std::chrono::hours(24);
  Repo repo(io, transports, o);
  CHECK(storage->load_sync_state("notes", "old-friend"));  // not during construction
  REQUIRE(run_until(io, [&] { return !storage->load_sync_state("notes", "old-friend"); }));
}
