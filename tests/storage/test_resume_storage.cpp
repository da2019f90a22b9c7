// What resuming asks of storage (storage.h, docs/storage.md): a store identity stable across
// opens, a change sequence, stale states, documents changed since, peer records, forgetting
// a peer; for SQLite and memory alike, and SQLite's migration to schema 4.
#include <sqlite3.h>

#include "dagsync/memory_storage.h"
#include "dagsync/sqlite_storage.h"
#include "net_helpers.h"
#include "temp_dir.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

bool is_store_id(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::vector<Change> changes_of(int n, int actor_byte) {
  ChangeGraph g(actor(static_cast<std::uint8_t>(actor_byte)));
  commit_n(g, n, "x");
  return g.changes();
}

// The tracking contract, on any backend.
void check_tracking(Storage& s) {
  REQUIRE(s.tracks_changes());
  CHECK(is_store_id(s.store_id()));
  CHECK(s.change_sequence() == 0);
  auto a = changes_of(3, 1), b = changes_of(2, 2);
  s.append_changes("a", std::span<const Change>(a).first(2));
  s.append_changes("b", b);
  std::uint64_t after_b = s.change_sequence();
  CHECK(after_b == 2);
  s.append_changes("a", std::span<const Change>(a).first(2));  // nothing new: no bump
  CHECK(s.change_sequence() == after_b);

  // A state saved with the peer holding ours is fresh; others are stale.
  SyncStateRecord fresh{"a", Bytes{1}, true}, stale{"b", Bytes{2}, false};
  std::vector<SyncStateRecord> records{fresh, stale};
  s.save_sync_states("p", records);
  CHECK(s.stale_documents("p") == std::vector<std::string>{"b"});
  CHECK(s.peers_with_state("a") == std::vector<std::string>{"p"});
  CHECK(s.peers_with_state("c").empty());
  // A new change to "a" makes its state stale again; the sequence moves on.
  s.append_changes("a", std::span<const Change>(a).subspan(2));
  CHECK(s.stale_documents("p") == std::vector<std::string>{"a", "b"});
  CHECK(s.change_sequence() == after_b + 1);
  // Changed since: documents without a state for the peer only.
  auto c = changes_of(1, 3);
  s.append_changes("c", c);
  CHECK(s.documents_changed_since(0, "p") == std::vector<std::string>{"c"});
  CHECK(s.documents_changed_since(0, "q") == std::vector<std::string>{"a", "b", "c"});
  CHECK(s.documents_changed_since(after_b, "q") == std::vector<std::string>{"a", "c"});
  CHECK(s.documents_changed_since(s.change_sequence(), "q").empty());

  CHECK_FALSE(s.load_peer("p").has_value());
  s.save_peer("p", {std::string(32, 'e'), 7});
  REQUIRE(s.load_peer("p").has_value());
  CHECK(s.load_peer("p")->store_id == std::string(32, 'e'));
  CHECK(s.load_peer("p")->offered_seq == 7);
  s.save_sync_state("a", "other", Bytes{3});
  CHECK(s.forget_peer("p") == 2);
  CHECK_FALSE(s.load_peer("p").has_value());
  CHECK_FALSE(s.load_sync_state("a", "p").has_value());
  CHECK(s.load_sync_state("a", "other") == Bytes{3});  // other peers keep theirs
  CHECK(s.stale_documents("p").empty());
  CHECK(s.peers_with_state("a") == std::vector<std::string>{"other"});
}

}  // namespace

TEST_CASE("storage: resume tracking on memory storage; a store id per instance") {
  MemoryStorage s;
  check_tracking(s);
  MemoryStorage other;
  CHECK(other.store_id() != s.store_id());
}

TEST_CASE("storage: resume tracking on sqlite; the store id survives reopening") {
  TempDir dir;
  std::string id;
  {
    SqliteStorage s(dir.file("store.db"));
    check_tracking(s);
    id = s.store_id();
  }
  SqliteStorage again(dir.file("store.db"));
  CHECK(again.store_id() == id);
  CHECK(again.stale_documents("other") == std::vector<std::string>{"a"});  // save_sync_state: stale
  SqliteStorage another(dir.file("another.db"));
  CHECK(another.store_id() != id);
}

TEST_CASE("storage: a schema 4 store migrates to 5: its changes read back as dagsync's") {
  TempDir dir;
  std::string path = dir.file("v4.db");
  auto a = changes_of(3, 1);
  {
    SqliteStorage s(path);
    s.append_changes("notes", a);
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  const char* downgrade = "ALTER TABLE changes DROP COLUMN format; PRAGMA user_version = 4;";
  REQUIRE(sqlite3_exec(db, downgrade, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  SqliteStorage s(path);
  CHECK(s.schema_version() == 5);
  auto loaded = s.load_changes("notes");
  REQUIRE(loaded.size() == 3);
  CHECK(loaded[0].format() == ChangeFormat::kDagsync);
  CHECK(loaded[2].hash() == a[2].hash());
}

TEST_CASE("storage: a schema 3 store migrates to 4 with a store id and its states stale") {
  TempDir dir;
  std::string path = dir.file("v3.db");
  auto a = changes_of(2, 1);
  {
    SqliteStorage s(path);
    s.append_changes("notes", a);
    s.save_sync_state("notes", "peer", Bytes{9});
  }
  // Back to schema 3 as that version left it.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  const char* downgrade =
      "DROP TABLE meta; DROP TABLE peers; DROP INDEX documents_by_seq; "
      "DROP INDEX sync_states_by_peer; ALTER TABLE documents DROP COLUMN seq; "
      "ALTER TABLE sync_states DROP COLUMN stale; ALTER TABLE changes DROP COLUMN format; "
      "PRAGMA user_version = 3;";
  REQUIRE(sqlite3_exec(db, downgrade, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  SqliteStorage s(path);
  CHECK(s.schema_version() == SqliteStorage::kSchemaVersion);  // 4, then 5
  CHECK(is_store_id(s.store_id()));
  CHECK(s.load_sync_state("notes", "peer") == Bytes{9});
  // Saved before tracking: stale, so the first resumed session syncs it as before.
  CHECK(s.stale_documents("peer") == std::vector<std::string>{"notes"});
  CHECK(s.load_changes("notes").size() == 2);
}
