#include "dagsync/sqlite_storage.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dagsync/error.h"

namespace dagsync {

namespace {

// Schema migrations: entry i takes user_version i to i + 1. Append, never edit.
constexpr const char* kMigrations[] = {
    R"sql(
      CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
      );
      CREATE TABLE changes (
        doc INTEGER NOT NULL REFERENCES documents(id),
        hash BLOB NOT NULL,
        actor BLOB NOT NULL,
        seq INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        UNIQUE (doc, hash)
      );
      CREATE TABLE sync_states (
        doc INTEGER NOT NULL REFERENCES documents(id),
        peer TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (doc, peer)
      );
    )sql",
    // 2: when each sync state was saved (for inspection tools), and the file marked as ours.
    R"sql(
      ALTER TABLE sync_states ADD COLUMN updated_ms INTEGER;
      PRAGMA application_id = 1145525041;
    )sql",
    // 3: owners of actor and peer ids (Storage::claim).
    R"sql(
      CREATE TABLE claims (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        principal TEXT NOT NULL,
        PRIMARY KEY (kind, key)
      );
    )sql",
    // 4: resuming (docs/sessions.md#resuming): the store's identity, a change sequence per
    // document, which states went stale since they were saved, and a record per peer. States
    // saved before are stale: the first reconnect after the upgrade syncs them as before.
    R"sql(
      CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
      ALTER TABLE documents ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX documents_by_seq ON documents (seq);
      ALTER TABLE sync_states ADD COLUMN stale INTEGER NOT NULL DEFAULT 1;
      CREATE INDEX sync_states_by_peer ON sync_states (peer, stale);
      CREATE TABLE peers (
        peer TEXT PRIMARY KEY,
        store_id TEXT NOT NULL,
        offered_seq INTEGER NOT NULL
      );
    )sql",
    // 5: each change's format (ChangeFormat: 0 dagsync, 1 an Automerge change chunk), so
    // Automerge documents load as what they are. Rows before it are dagsync's.
    R"sql(
      ALTER TABLE changes ADD COLUMN format INTEGER NOT NULL DEFAULT 0;
    )sql",
};
static_assert(SqliteStorage::kApplicationId == 1145525041);
static_assert(std::size(kMigrations) == SqliteStorage::kSchemaVersion);

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// This process's command line, for the lock file: what an operator needs to find it.
std::string own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw) {
    if (c == '\0' || c == '\n') c = ' ';
  }
  return raw;
}

}  // namespace

// A prepared statement, finalized on scope exit.
class SqliteStorage::Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw Error(std::string("sqlite: preparing statement: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, const std::string& v) {
    return check(
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Statement& bind(int i, ByteView v) {
    return check(
        sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  // True while rows come; false when done.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(std::string("sqlite: ") + sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t integer(int col) { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  ByteView blob(int col) {
    auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw Error(std::string("sqlite: binding: ") + sqlite3_errmsg(db_));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

SqliteStorage::SqliteStorage(const std::string& path, SqliteOptions options) : path_(path) {
  namespace fs = std::filesystem;
  // SQLite would open "" as a private temporary database: never what a caller meant.
  if (path.empty()) throw Error("sqlite: the store path is empty");
  std::error_code ec;
  fs::path dir = fs::path(path).parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec)) {
    throw Error("sqlite: cannot open " + path + ": directory " + dir.string() + " does not exist");
  }
  if (options.read_only && !fs::exists(path, ec)) {
    throw Error("sqlite: cannot open " + path + ": no such file");
  }
  if (options.exclusive_lock && !options.read_only) lock(options);
  int flags =
      (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw Error("sqlite: cannot open " + path + ": " + why);
  }
  try {
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    check_is_store();
    if (!options.read_only) {
      exec("PRAGMA journal_mode = WAL");
      exec(options.durability == SqliteOptions::Durability::kFull ? "PRAGMA synchronous = FULL"
                                                                  : "PRAGMA synchronous = NORMAL");
      exec("PRAGMA foreign_keys = ON");
      migrate();
    }
    if (schema_version() >= 4) {
      Statement q(db_, "SELECT value FROM meta WHERE key = 'store_id'");
      if (q.step()) store_id_ = q.text(0);
    }
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw;
  }
}

SqliteStorage::~SqliteStorage() {
  if (db_) sqlite3_close(db_);
  // Closing the descriptor releases the flock. The file stays: removing it would let a
  // process that opened it a moment ago lock an inode nobody else can find.
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void SqliteStorage::lock(const SqliteOptions& options) {
  std::string lock_path = path_ + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error("sqlite: cannot open lock file " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string content;
    char buffer[4096];
    ssize_t n = ::pread(fd, buffer, sizeof buffer, 0);
    if (n > 0) content.assign(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    if (err != EWOULDBLOCK) {
      throw Error("sqlite: cannot lock " + lock_path + ": " + std::strerror(err));
    }
    // The holder writes "pid\ncommand\n" right after locking; it may not have yet.
    std::istringstream in(content);
    long pid = 0;
    std::string holder;
    in >> pid;
    std::getline(in >> std::ws, holder);
    std::string who = pid > 0 ? "process " + std::to_string(pid) : std::string("another process");
    if (!holder.empty()) who += " (" + holder + ")";
    throw StoreLockedError("store " + path_ + " is in use by " + who +
                               "; only one process may write a store at a time",
                           pid, holder);
  }
  std::string holder = options.lock_holder.empty() ? own_command_line() : options.lock_holder;
  std::string content = std::to_string(::getpid()) + "\n" + holder + "\n";
  // Best effort: the lock itself is what excludes; the text only names the holder.
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] ssize_t ignored = ::pwrite(fd, content.data(), content.size(), 0);
  }
  lock_fd_ = fd;
}

int SqliteStorage::pragma_int(const char* name) const {
  Statement q(db_, (std::string("PRAGMA ") + name).c_str());
  q.step();
  return static_cast<int>(q.integer(0));
}

// Refuses a file some other program made before a single table is created in it.
void SqliteStorage::check_is_store() {
  int application_id = 0;
  try {
    application_id = pragma_int("application_id");
  } catch (const Error&) {
    if (sqlite3_errcode(db_) == SQLITE_NOTADB) {
      throw NotAStoreError(path_ + " is not a dagsync store (not an SQLite database)");
    }
    throw;
  }
  if (application_id == kApplicationId) return;
  if (application_id != 0) {
    char id[16];
    std::snprintf(id, sizeof id, "0x%08x", static_cast<unsigned>(application_id));
    throw NotAStoreError(path_ + " is not a dagsync store (an SQLite database of application " +
                         id + ")");
  }
  int version = schema_version();
  if (version > kSchemaVersion) return;  // migrate() names both versions
  std::vector<std::string> tables;
  Statement q(db_,
              "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
              "ORDER BY name");
  while (q.step()) tables.push_back(q.text(0));
  auto has = [&](const char* name) {
    return std::find(tables.begin(), tables.end(), name) != tables.end();
  };
  bool ours =
      version == 0 ? tables.empty() : has("documents") && has("changes") && has("sync_states");
  if (!ours) {
    std::string listed;
    for (std::size_t i = 0; i < tables.size() && i < 3; ++i) {
      listed += (i ? ", " : "") + tables[i];
    }
    if (tables.size() > 3) listed += ", ...";
    throw NotAStoreError(path_ + " is not a dagsync store (an SQLite database with tables " +
                         (listed.empty() ? std::string("none") : listed) + ")");
  }
}

void SqliteStorage::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw Error("sqlite: " + path_ + ": " + why);
  }
}

int SqliteStorage::schema_version() const {
  Statement q(db_, "PRAGMA user_version");
  q.step();
  return static_cast<int>(q.integer(0));
}

// Runs `body` in one IMMEDIATE transaction: committed when it returns, rolled back when it
// throws (the exception goes on), so every write method is all or nothing.
template <typename Body>
void SqliteStorage::in_transaction(Body&& body) {
  exec("BEGIN IMMEDIATE");
  try {
    body();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteStorage::migrate() {
  int version = schema_version();
  if (version > kSchemaVersion) {
    throw Error("sqlite: " + path_ + " has schema version " + std::to_string(version) +
                ", newer than this library's " + std::to_string(kSchemaVersion));
  }
  for (; version < kSchemaVersion; ++version) {
    in_transaction([&] {
      exec(kMigrations[version]);
      exec(("PRAGMA user_version = " + std::to_string(version + 1)).c_str());
    });
  }
}

std::int64_t SqliteStorage::document_key(const std::string& doc_id, bool create) {
  Statement find(db_, "SELECT id FROM documents WHERE name = ?");
  find.bind(1, doc_id);
  if (find.step()) return find.integer(0);
  if (!create) return -1;
  Statement insert(db_, "INSERT INTO documents (name) VALUES (?)");
  insert.bind(1, doc_id);
  insert.step();
  return sqlite3_last_insert_rowid(db_);
}

std::vector<std::string> SqliteStorage::list_documents() {
  Statement q(db_, "SELECT name FROM documents ORDER BY name");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

std::vector<Change> SqliteStorage::load_changes(const std::string& doc_id) {
  std::int64_t doc = document_key(doc_id, false);
  std::vector<Change> out;
  if (doc < 0) return out;
  Statement q(db_, "SELECT rowid, hash, bytes, format FROM changes WHERE doc = ? ORDER BY rowid");
  q.bind(1, doc);
  while (q.step()) {
    std::int64_t row = q.integer(0);
    try {
      ChangeHash hash = ChangeHash::from_bytes(q.blob(1));
      std::int64_t format = q.integer(3);
      if (format == static_cast<std::int64_t>(ChangeFormat::kAutomerge)) {
        out.push_back(Change::from_automerge_verified(q.blob(2), hash));
      } else if (format == static_cast<std::int64_t>(ChangeFormat::kDagsync)) {
        out.push_back(Change::decode_verified(q.blob(2), hash));
      } else {
        throw Error("unknown change format " + std::to_string(format));
      }
    } catch (const Error& e) {
      throw Error("sqlite: " + path_ + ": document " + doc_id + ": corrupt change in row " +
                  std::to_string(row) + ": " + e.what());
    }
  }
  return out;
}

void SqliteStorage::append_changes(const std::string& doc_id, std::span<const Change> changes) {
  if (changes.empty()) return;
  in_transaction([&] {
    std::int64_t doc = document_key(doc_id, true);
    Statement insert(db_,
                     "INSERT OR IGNORE INTO changes (doc, hash, actor, seq, bytes, format) "
                     "VALUES (?, ?, ?, ?, ?, ?)");
    int stored = 0;
    for (const Change& c : changes) {
      insert.bind(1, doc).bind(2, c.hash().view()).bind(3, c.actor().view());
      insert.bind(4, static_cast<std::int64_t>(c.seq())).bind(5, c.bytes());
      insert.bind(6, static_cast<std::int64_t>(c.format()));
      insert.step();
      stored += sqlite3_changes(db_);
      insert.reset();
    }
    if (stored == 0) return;
    // A new change: the document takes the next sequence number, and every peer's state
    // for it is stale until saved fresh again.
    Statement bump(db_,
                   "UPDATE documents SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM documents) "
                   "WHERE id = ?");
    bump.bind(1, doc);
    bump.step();
    Statement stale(db_, "UPDATE sync_states SET stale = 1 WHERE doc = ? AND stale = 0");
    stale.bind(1, doc);
    stale.step();
  });
}

std::uint64_t SqliteStorage::change_sequence() {
  Statement q(db_, "SELECT COALESCE(MAX(seq), 0) FROM documents");
  q.step();
  return static_cast<std::uint64_t>(q.integer(0));
}

std::vector<std::string> SqliteStorage::stale_documents(const std::string& peer_id) {
  Statement q(db_,
              "SELECT d.name FROM sync_states s JOIN documents d ON d.id = s.doc "
              "WHERE s.peer = ? AND s.stale = 1");
  q.bind(1, peer_id);
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  // Sorted here: an ORDER BY on the name could make SQLite walk every document by name.
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> SqliteStorage::documents_changed_since(std::uint64_t seq,
                                                                const std::string& peer_id) {
  Statement q(db_,
              "SELECT d.name FROM documents d WHERE d.seq > ? AND NOT EXISTS "
              "(SELECT 1 FROM sync_states s WHERE s.doc = d.id AND s.peer = ?)");
  q.bind(1, static_cast<std::int64_t>(seq)).bind(2, peer_id);
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  std::sort(out.begin(), out.end());  // as above: the seq index drives the query
  return out;
}

std::vector<std::string> SqliteStorage::peers_with_state(const std::string& doc_id) {
  std::int64_t doc = document_key(doc_id, false);
  std::vector<std::string> out;
  if (doc < 0) return out;
  Statement q(db_, "SELECT peer FROM sync_states WHERE doc = ? ORDER BY peer");
  q.bind(1, doc);
  while (q.step()) out.push_back(q.text(0));
  return out;
}

std::optional<PeerRecord> SqliteStorage::load_peer(const std::string& peer_id) {
  Statement q(db_, "SELECT store_id, offered_seq FROM peers WHERE peer = ?");
  q.bind(1, peer_id);
  if (!q.step()) return std::nullopt;
  return PeerRecord{q.text(0), static_cast<std::uint64_t>(q.integer(1))};
}

void SqliteStorage::save_peer(const std::string& peer_id, const PeerRecord& record) {
  in_transaction([&] {
    Statement q(db_,
                "INSERT INTO peers (peer, store_id, offered_seq) VALUES (?, ?, ?) "
                "ON CONFLICT (peer) DO UPDATE SET store_id = excluded.store_id, "
                "offered_seq = excluded.offered_seq");
    q.bind(1, peer_id).bind(2, record.store_id);
    q.bind(3, static_cast<std::int64_t>(record.offered_seq));
    q.step();
  });
}

std::size_t SqliteStorage::forget_peer(const std::string& peer_id) {
  std::size_t removed = 0;
  in_transaction([&] {
    Statement states(db_, "DELETE FROM sync_states WHERE peer = ?");
    states.bind(1, peer_id);
    states.step();
    removed = static_cast<std::size_t>(sqlite3_changes(db_));
    Statement record(db_, "DELETE FROM peers WHERE peer = ?");
    record.bind(1, peer_id);
    record.step();
  });
  return removed;
}

std::optional<Bytes> SqliteStorage::load_sync_state(const std::string& doc_id,
                                                    const std::string& peer_id) {
  std::int64_t doc = document_key(doc_id, false);
  if (doc < 0) return std::nullopt;
  Statement q(db_, "SELECT state FROM sync_states WHERE doc = ? AND peer = ?");
  q.bind(1, doc).bind(2, peer_id);
  if (!q.step()) return std::nullopt;
  ByteView b = q.blob(0);
  return Bytes(b.begin(), b.end());
}

void SqliteStorage::save_sync_state(const std::string& doc_id, const std::string& peer_id,
                                    ByteView state) {
  in_transaction([&] { write_sync_state(document_key(doc_id, true), peer_id, state, false); });
}

void SqliteStorage::save_sync_states(const std::string& peer_id,
                                     std::span<const SyncStateRecord> states) {
  if (states.empty()) return;
  in_transaction([&] {
    for (const auto& record : states) {
      write_sync_state(document_key(record.doc_id, true), peer_id, record.state,
                       record.peer_has_ours);
    }
  });
}

void SqliteStorage::write_sync_state(std::int64_t doc, const std::string& peer_id, ByteView state,
                                     bool fresh) {
  Statement q(
      db_,
      "INSERT INTO sync_states (doc, peer, state, updated_ms, stale) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (doc, peer) DO UPDATE SET state = excluded.state, "
      "updated_ms = excluded.updated_ms, stale = excluded.stale");
  q.bind(1, doc).bind(2, peer_id).bind(3, state).bind(4, now_ms());
  q.bind(5, static_cast<std::int64_t>(fresh ? 0 : 1));
  q.step();
}

std::string SqliteStorage::claim(const std::string& kind, const std::string& key,
                                 const std::string& principal) {
  {
    Statement q(db_, "SELECT principal FROM claims WHERE kind = ? AND key = ?");
    q.bind(1, kind).bind(2, key);
    if (q.step()) return q.text(0);
  }
  std::string owner = principal;
  in_transaction([&] {
    Statement insert(db_,
                     "INSERT INTO claims (kind, key, principal) VALUES (?, ?, ?) "
                     "ON CONFLICT (kind, key) DO NOTHING");
    insert.bind(1, kind).bind(2, key).bind(3, principal);
    insert.step();
    Statement q(db_, "SELECT principal FROM claims WHERE kind = ? AND key = ?");
    q.bind(1, kind).bind(2, key);
    if (q.step()) owner = q.text(0);
  });
  return owner;
}

bool SqliteStorage::has_document(const std::string& doc_id) {
  return document_key(doc_id, false) >= 0;
}

std::vector<SyncStateInfo> SqliteStorage::list_sync_states() {
  // A read-only store may predate schema 2, which added updated_ms.
  bool timed = schema_version() >= 2;
  std::string sql = std::string("SELECT d.name, s.peer, length(s.state), ") +
                    (timed ? "s.updated_ms" : "NULL") +
                    " FROM sync_states s JOIN documents d ON d.id = s.doc ORDER BY d.name, s.peer";
  Statement q(db_, sql.c_str());
  std::vector<SyncStateInfo> out;
  while (q.step()) {
    SyncStateInfo info;
    info.doc_id = q.text(0);
    info.peer_id = q.text(1);
    info.bytes = static_cast<std::size_t>(q.integer(2));
    if (!q.is_null(3)) info.updated_ms = q.integer(3);
    out.push_back(std::move(info));
  }
  return out;
}

std::size_t SqliteStorage::forget_peers_before(std::int64_t unix_ms) {
  std::size_t removed = 0;
  in_transaction([&] {
    Statement q(db_,
                "DELETE FROM sync_states WHERE peer IN (SELECT peer FROM sync_states "
                "GROUP BY peer HAVING MAX(updated_ms) < ?)");
    q.bind(1, unix_ms);
    q.step();
    removed = static_cast<std::size_t>(sqlite3_changes(db_));
    // A record without states would claim the peer was offered documents it no longer has.
    if (removed)
      exec("DELETE FROM peers WHERE peer NOT IN (SELECT DISTINCT peer FROM sync_states)");
  });
  return removed;
}

}  // namespace dagsync
