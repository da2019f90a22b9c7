// PostgresStorage on a real server: the errors it promises (no server, unknown role, not a
// dagsync database, a newer schema, corrupt rows, the server gone mid-operation), its store
// id, (actor, seq) uniqueness across writers, and notices of other writers' appends.
#include <libpq-fe.h>

#include <condition_variable>
#include <mutex>

#include "dagsync/postgres_storage.h"
#include "helpers.h"
#include "postgres_server.h"
#include "temp_dir.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

void raw_sql(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  REQUIRE_MESSAGE(PQstatus(c) == CONNECTION_OK, PQerrorMessage(c));
  PGresult* r = PQexec(c, sql.c_str());
  std::string error = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
                          ? ""
                          : PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  REQUIRE_MESSAGE(error.empty(), error);
}

std::string count_rows(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  std::string out = PQntuples(r) ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  PQfinish(c);
  return out;
}

// Notices handed over by the listener thread, waited for with a bound.
struct Notices {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<AppendNotice> got;
  std::function<void(AppendNotice)> handler() {
    return [this](AppendNotice n) {
      std::lock_guard lock(mutex);
      got.push_back(std::move(n));
      changed.notify_all();
    };
  }
  bool wait_for(const std::function<bool(const std::vector<AppendNotice>&)>& done) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return done(got); });
  }
};

bool names(const std::vector<AppendNotice>& notices, const std::string& doc) {
  for (const auto& n : notices) {
    for (const auto& d : n.doc_ids) {
      if (d == doc) return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("postgresql: schema and store id: made once, shared by every server, stable") {
  auto db = PostgresServer::shared().new_database();
  PostgresStorage a(db);
  CHECK(a.schema_version() == PostgresStorage::kSchemaVersion);
  std::string id = a.store_id();
  CHECK(id.size() == 32);
  CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
  PostgresStorage b(db);
  CHECK(b.store_id() == id);
  CHECK(PostgresStorage(PostgresServer::shared().new_database()).store_id() != id);
  // The URI form reaches the same database.
  CHECK(PostgresStorage(PostgresServer::shared().uri_of(db)).store_id() == id);
  CHECK(PostgresStorage::is_url("postgresql://x/y"));
  CHECK(PostgresStorage::is_url("postgres://x/y"));
  CHECK_FALSE(PostgresStorage::is_url("store.db"));
}

TEST_CASE("postgresql: two servers creating the schema at once: one schema, one store id") {
  auto db = PostgresServer::shared().new_database();
  std::string ids[4];
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { ids[i] = PostgresStorage(db).store_id(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& id : ids) CHECK(id == ids[0]);
}

TEST_CASE("postgresql: connection errors are StorageUnavailableError naming the cause") {
  TempDir empty;
  SUBCASE("no server on the socket") {
    CHECK_THROWS_WITH_AS(PostgresStorage("host=" + empty.path.string() + " dbname=x user=dagsync"),
                         doctest::Contains("cannot connect"), StorageUnavailableError);
  }
  SUBCASE("a role the server does not know (authentication fails)") {
    CHECK_THROWS_WITH_AS(PostgresStorage(PostgresServer::shared().conninfo() + " user=intruder"),
                         doctest::Contains("intruder"), StorageUnavailableError);
  }
  SUBCASE("a database that does not exist") {
    CHECK_THROWS_WITH_AS(PostgresStorage(PostgresServer::shared().conninfo("missing_db")),
                         doctest::Contains("missing_db"), StorageUnavailableError);
  }
  SUBCASE("the password is not repeated in messages") {
    try {
      PostgresStorage s("postgresql://dagsync:secret@/x?host=" + empty.path.string());
      FAIL("connected to nothing");
    } catch (const StorageUnavailableError& e) {
      CHECK(std::string(e.what()).find("secret") == std::string::npos);
    }
  }
  SUBCASE("an empty connection string") {
    CHECK_THROWS_AS(PostgresStorage(""), Error);
  }
}

TEST_CASE("postgresql: a database that is not a dagsync store is refused and left alone") {
  auto db = PostgresServer::shared().new_database();
  SUBCASE("another application's tables") {
    raw_sql(db, "CREATE TABLE invoices (id INT)");
    CHECK_THROWS_WITH_AS(PostgresStorage{db}, doctest::Contains("invoices"), NotAStoreError);
    CHECK(count_rows(db,
                     "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                     "current_schema()") == "1");
  }
  SUBCASE("a dagsync_meta of another application") {
    raw_sql(db,
            "CREATE TABLE dagsync_meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO "
            "dagsync_meta VALUES ('application', 'other')");
    CHECK_THROWS_WITH_AS(PostgresStorage{db}, doctest::Contains("application other"),
                         NotAStoreError);
  }
  SUBCASE("a newer schema") {
    { PostgresStorage s(db); }
    raw_sql(db, "UPDATE dagsync_meta SET value = '99' WHERE key = 'schema_version'");
    CHECK_THROWS_WITH_AS(PostgresStorage{db}, doctest::Contains("schema version 99"), Error);
  }
}

TEST_CASE("postgresql: a corrupt row is an error naming the document and the row") {
  auto db = PostgresServer::shared().new_database();
  PostgresStorage s(db);
  ChangeGraph g(actor(1));
  commit_n(g, 3, "x");
  s.append_changes("notes", g.changes());
  std::string row = count_rows(db, "SELECT min(pos) + 1 FROM dagsync_changes");
  SUBCASE("bytes changed") {
    raw_sql(db, "UPDATE dagsync_changes SET bytes = '\\x00'::bytea || bytes WHERE pos = " + row);
  }
  SUBCASE("hash truncated") {
    raw_sql(db, "UPDATE dagsync_changes SET hash = '\\x0102' WHERE pos = " + row);
  }
  CHECK_THROWS_WITH_AS(s.load_changes("notes"), doctest::Contains("document notes"), Error);
  CHECK_THROWS_WITH_AS(s.load_changes("notes"), doctest::Contains(("row " + row).c_str()), Error);
}

TEST_CASE("postgresql: (actor, seq) is unique per document: the second writer is refused") {
  auto db = PostgresServer::shared().new_database();
  PostgresStorage a(db), b(db);
  ChangeGraph base(actor(7));
  commit_n(base, 2, "base");
  a.append_changes("doc", base.changes());
  // Two forks of actor 7 make different third changes: an equivocation.
  ChangeGraph one = base, two = base;
  Change c1 = one.commit(text("one"));
  Change c2 = two.commit(text("two"));
  REQUIRE(c1.seq() == c2.seq());
  ChangeGraph other(actor(8));
  Change unrelated = other.commit(text("unrelated"));
  a.append_changes("doc", std::span<const Change>(&c1, 1));
  std::vector<Change> batch{unrelated, c2};
  CHECK_THROWS_WITH_AS(b.append_changes("doc", batch),
                       doctest::Contains(("equivocation: actor " + c2.actor().hex()).c_str()),
                       StoredEquivocationError);
  // Nothing of the refused call was stored, not even its innocent change.
  auto stored = a.load_changes("doc");
  CHECK(stored.size() == 3);
  CHECK(hashes_of(stored).back() == c1.hash());
  // The same change again is no conflict, and another document is apart.
  a.append_changes("doc", std::span<const Change>(&c1, 1));
  b.append_changes("elsewhere", std::span<const Change>(&c2, 1));
  CHECK(b.load_changes("elsewhere").size() == 1);
}

TEST_CASE("postgresql: concurrent equivocating appends from many writers: exactly one wins") {
  auto db = PostgresServer::shared().new_database();
  ChangeGraph base(actor(9));
  commit_n(base, 1, "base");
  { PostgresStorage(db).append_changes("doc", base.changes()); }
  constexpr int kWriters = 6;
  std::vector<Change> forks;
  for (int i = 0; i < kWriters; ++i) {
    ChangeGraph fork = base;
    forks.push_back(fork.commit(text("fork " + std::to_string(i))));
  }
  std::vector<std::unique_ptr<PostgresStorage>> stores;
  for (int i = 0; i < kWriters; ++i) stores.push_back(std::make_unique<PostgresStorage>(db));
  std::atomic<int> wins{0}, refusals{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      try {
        stores[i]->append_changes("doc", std::span<const Change>(&forks[i], 1));
        ++wins;
      } catch (const StoredEquivocationError&) {
        ++refusals;
      } catch (...) {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wins == 1);
  CHECK(refusals == kWriters - 1);
  CHECK(other == 0);
  CHECK(stores[0]->load_changes("doc").size() == 2);
}

TEST_CASE("postgresql: other writers' appends are announced, our own are not") {
  auto db = PostgresServer::shared().new_database();
  PostgresStorage watcher(db), writer(db);
  Notices notices;
  watcher.watch_appends(notices.handler());
  ChangeGraph g(actor(4));
  commit_n(g, 2, "n");
  watcher.append_changes("own", std::span<const Change>(g.changes()).first(1));
  writer.append_changes("theirs", std::span<const Change>(g.changes()).first(1));
  REQUIRE(notices.wait_for([](const auto& got) { return names(got, "theirs"); }));
  {
    std::lock_guard lock(notices.mutex);
    CHECK_FALSE(names(notices.got, "own"));
  }
  // A re-append that stores nothing announces nothing; stopping is immediate.
  watcher.watch_appends(nullptr);
  writer.append_changes("after", std::span<const Change>(g.changes()).first(1));
  CHECK_FALSE(names(notices.got, "after"));
}

TEST_CASE(
    "postgresql: the server gone mid-operation: a typed error, nothing half-written, "
    "then back") {
  // The shared server, stopped and started again by this case (even when a check fails).
  PostgresServer& server = PostgresServer::shared();
  struct Restart {
    PostgresServer& server;
    ~Restart() { server.start(); }
  } restart{server};
  auto db = server.new_database();
  PostgresStorage s(db, PostgresOptions{.listen_retry = std::chrono::milliseconds(20)});
  Notices notices;
  s.watch_appends(notices.handler());
  ChangeGraph g(actor(5));
  commit_n(g, 4, "g");
  s.append_changes("doc", std::span<const Change>(g.changes()).first(2));
  server.stop();
  CHECK_THROWS_AS(s.append_changes("doc", std::span<const Change>(g.changes()).subspan(2)),
                  StorageUnavailableError);
  CHECK_THROWS_AS(s.load_changes("doc"), StorageUnavailableError);
  CHECK_THROWS_AS(s.save_sync_state("doc", "p", Bytes{1}), StorageUnavailableError);
  server.start();
  // The next call reconnects; the failed writes left nothing.
  CHECK(s.load_changes("doc").size() == 2);
  CHECK_FALSE(s.load_sync_state("doc", "p"));
  s.append_changes("doc", std::span<const Change>(g.changes()).subspan(2));
  CHECK(s.load_changes("doc").size() == 4);
  // The listener came back too and says notices may have been missed.
  REQUIRE(notices.wait_for([](const auto& got) {
    return std::any_of(got.begin(), got.end(), [](const AppendNotice& n) { return n.missed; });
  }));
}

TEST_CASE("postgresql: bounded inputs: an oversized document id is refused before writing") {
  auto db = PostgresServer::shared().new_database();
  PostgresStorage s(db);
  ChangeGraph g(actor(6));
  commit_n(g, 1, "x");
  std::string huge(PostgresStorage::kMaxDocIdBytes + 1, 'd');
  CHECK_THROWS_WITH_AS(s.append_changes(huge, g.changes()), doctest::Contains("document id of"),
                       Error);
  CHECK_THROWS_AS(s.save_sync_state(huge, "p", Bytes{1}), Error);
  CHECK(s.list_documents().empty());
  std::string longest(PostgresStorage::kMaxDocIdBytes, 'd');
  s.append_changes(longest, g.changes());
  CHECK(s.load_changes(longest).size() == 1);
}
