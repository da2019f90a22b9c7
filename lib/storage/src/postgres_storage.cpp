#include "dagsync/postgres_storage.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "dagsync/error.h"

namespace dagsync {

namespace {

// Schema migrations: entry i takes version i to i + 1. Append, never edit. Every table is
// prefixed, so a database may hold other schemas' tables beside ours.
constexpr const char* kMigrations[] = {
    R"sql(
      CREATE TABLE dagsync_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      INSERT INTO dagsync_meta VALUES ('application', 'dagsync');
      INSERT INTO dagsync_meta VALUES ('store_id', replace(gen_random_uuid()::text, '-', ''));
      INSERT INTO dagsync_meta VALUES ('schema_version', '0');
      CREATE TABLE dagsync_documents (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
      );
      -- pos: append order; appends to one document hold its row's lock, so within a
      -- document pos order is commit order and a reader's "after pos" misses nothing.
      CREATE TABLE dagsync_changes (
        pos BIGSERIAL PRIMARY KEY,
        doc BIGINT NOT NULL REFERENCES dagsync_documents(id),
        hash BYTEA NOT NULL,
        actor BYTEA NOT NULL,
        seq BIGINT NOT NULL,
        bytes BYTEA NOT NULL,
        CONSTRAINT dagsync_changes_hash UNIQUE (doc, hash),
        CONSTRAINT dagsync_changes_actor_seq UNIQUE (doc, actor, seq)
      );
      CREATE TABLE dagsync_sync_states (
        doc BIGINT NOT NULL REFERENCES dagsync_documents(id),
        peer TEXT NOT NULL,
        state BYTEA NOT NULL,
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (doc, peer)
      );
      CREATE INDEX dagsync_sync_states_peer ON dagsync_sync_states (peer, updated_ms);
      CREATE TABLE dagsync_claims (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        principal TEXT NOT NULL,
        PRIMARY KEY (kind, key)
      );
    )sql",
    // 2: each change's format (ChangeFormat: 0 dagsync, 1 an Automerge change chunk), so
    // Automerge documents load as what they are. Rows before it are dagsync's.
    R"sql(
      ALTER TABLE dagsync_changes ADD COLUMN format BIGINT NOT NULL DEFAULT 0;
    )sql",
};
static_assert(std::size(kMigrations) == PostgresStorage::kSchemaVersion);

// Serialises schema creation between servers starting at once ("DGS1").
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(1145525041)";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_hex() {
  std::random_device device;
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out += digits[device() % 16];
  return out;
}

std::int64_t read_int8(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<std::int64_t>(v);
}

// A conninfo for messages: the password of a URI or key=value string replaced.
std::string redact(const std::string& conninfo) {
  std::string out = conninfo;
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    auto at = out.find('@', scheme);
    auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  if (auto pw = out.find("password="); pw != std::string::npos) {
    auto end = out.find_first_of(" &", pw);
    out.replace(pw + 9, (end == std::string::npos ? out.size() : end) - pw - 9, "***");
  }
  return out;
}

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

// One result, cleared on scope exit.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  int rows() const { return PQntuples(r_); }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col); }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col),
                       static_cast<std::size_t>(PQgetlength(r_, row, col)));
  }
  ByteView bytes(int row, int col) const {
    return {reinterpret_cast<const std::uint8_t*>(PQgetvalue(r_, row, col)),
            static_cast<std::size_t>(PQgetlength(r_, row, col))};
  }
  std::int64_t int8(int row, int col) const {
    if (PQgetlength(r_, row, col) != 8) throw Error("postgresql: unexpected integer width");
    return read_int8(PQgetvalue(r_, row, col));
  }
  std::size_t affected() const {
    const char* n = PQcmdTuples(r_);
    return n && *n ? static_cast<std::size_t>(std::stoull(n)) : 0;
  }
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

// Parameters of one statement: text (format 0) or binary bytes (format 1).
struct Params {
  std::vector<std::string> owned;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  Params& text(std::string v) {
    owned.push_back(std::move(v));
    values.push_back(nullptr);
    lengths.push_back(0);
    formats.push_back(0);
    return *this;
  }
  Params& integer(std::int64_t v) { return text(std::to_string(v)); }
  Params& bytes(ByteView v) {
    owned.emplace_back(reinterpret_cast<const char*>(v.data()), v.size());
    values.push_back(nullptr);
    lengths.push_back(static_cast<int>(v.size()));
    formats.push_back(1);
    return *this;
  }
  // Pointers are taken last: `owned` may have moved while it grew.
  void finish() {
    for (std::size_t i = 0; i < owned.size(); ++i) values[i] = owned[i].c_str();
  }
};

// The server's SQLSTATE of a failed result, or "".
std::string sqlstate(PGresult* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

std::string constraint_of(PGresult* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : nullptr;
  return s ? s : "";
}

// A unique violation on (doc, actor, seq), raised inside append_changes' transaction.
struct ActorSeqConflict {};

}  // namespace

struct PostgresStorage::Impl {
  std::string conninfo;
  std::string described;
  PostgresOptions options;
  PGconn* conn = nullptr;
  std::string writer = random_hex();  // names our own notices, which we do not report
  bool in_transaction = false;
  std::string channel;  // kChannelPrefix + the store id: stores sharing a database are apart

  // The listener: its own connection, on its own thread.
  std::mutex handler_mutex;
  std::function<void(AppendNotice)> handler;
  std::thread listener;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};

  ~Impl() {
    stop_listener();
    if (conn) PQfinish(conn);
  }

  PGconn* connect_new() {
    auto seconds = std::max<long long>(1, (options.connect_timeout.count() + 999) / 1000);
    std::string timeout = std::to_string(seconds);
    // Ours first: the caller's string (a URI or key=value, expanded from dbname) comes
    // after them, and what it sets wins.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), "dagsync", conninfo.c_str(), nullptr};
    PGconn* c = PQconnectdbParams(keys, values, 1);
    if (!c) throw StorageUnavailableError("postgresql: " + described + ": out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
      std::string why = trimmed(PQerrorMessage(c));
      PQfinish(c);
      throw StorageUnavailableError("postgresql: cannot connect to " + described + ": " + why);
    }
    // The server's notices (a shutdown's warning) are not ours to print on stderr.
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    return c;
  }

  void setup(PGconn* c) {
    std::string sql =
        "SET statement_timeout = " + std::to_string(options.statement_timeout.count()) +
        "; SET client_min_messages = warning";
    Result r(PQexec(c, sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      throw StorageUnavailableError("postgresql: " + described +
                                    ": setting up the session: " + trimmed(PQerrorMessage(c)));
    }
  }

  // A connection that works: reconnects once when the last one was lost (between
  // transactions only: a lost transaction is the caller's error, never replayed).
  PGconn* ready() {
    if (conn && PQstatus(conn) == CONNECTION_OK) return conn;
    if (in_transaction)
      throw StorageUnavailableError("postgresql: " + described + ": connection lost");
    if (conn) {
      PQfinish(conn);
      conn = nullptr;
    }
    conn = connect_new();
    try {
      setup(conn);
    } catch (...) {
      PQfinish(conn);
      conn = nullptr;
      throw;
    }
    return conn;
  }

  [[noreturn]] void fail(PGresult* r, const std::string& what) {
    std::string why = r ? trimmed(PQresultErrorMessage(r)) : "";
    if (why.empty()) why = trimmed(PQerrorMessage(conn));
    std::string message = "postgresql: " + described + ": " + what + ": " + why;
    if (PQstatus(conn) != CONNECTION_OK) throw StorageUnavailableError(message);
    std::string state = sqlstate(r);
    // No SQLSTATE: libpq's own failure (the socket closed); class 08: connection
    // exceptions; 57P: the server is shutting down.
    if (state.empty() || state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
      throw StorageUnavailableError(message);
    }
    throw Error(message);
  }

  Result exec(const std::string& sql, Params params = {}, const char* what = "query") {
    PGconn* c = ready();
    params.finish();
    PGresult* raw = PQexecParams(c, sql.c_str(), static_cast<int>(params.values.size()), nullptr,
                                 params.values.data(), params.lengths.data(), params.formats.data(),
                                 /*resultFormat=*/1);
    Result r(raw);
    auto status = PQresultStatus(raw);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    if (sqlstate(raw) == "23505" && constraint_of(raw) == "dagsync_changes_actor_seq") {
      throw ActorSeqConflict{};
    }
    fail(raw, what);
  }

  void exec_script(const std::string& sql, const char* what) {
    PGconn* c = ready();
    Result r(PQexec(c, sql.c_str()));
    auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r.get(), what);
  }

  // Runs `body` in one transaction: committed when it returns, rolled back when it throws.
  template <typename Body>
  void transaction(Body&& body) {
    exec_script("BEGIN", "beginning a transaction");
    in_transaction = true;
    try {
      body();
      exec_script("COMMIT", "committing");
      in_transaction = false;
    } catch (...) {
      in_transaction = false;
      if (conn && PQstatus(conn) == CONNECTION_OK) PQclear(PQexec(conn, "ROLLBACK"));
      throw;
    }
  }

  std::int64_t document_key(const std::string& doc_id) {
    Result r = exec("SELECT id FROM dagsync_documents WHERE name = $1", Params{}.text(doc_id));
    return r.rows() ? r.int8(0, 0) : -1;
  }

  // Inside a transaction: the document's key, created when missing, its row locked so
  // that appends to one document commit one after the other.
  std::int64_t lock_document(const std::string& doc_id) {
    // The id travels in the NOTIFY payload, which the server caps at 8000 bytes.
    if (doc_id.empty() || doc_id.size() > kMaxDocIdBytes) {
      throw Error("postgresql: " + described + ": document id of " + std::to_string(doc_id.size()) +
                  " bytes (1 to " + std::to_string(kMaxDocIdBytes) + ")");
    }
    exec("INSERT INTO dagsync_documents (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
         Params{}.text(doc_id));
    Result r =
        exec("SELECT id FROM dagsync_documents WHERE name = $1 FOR UPDATE", Params{}.text(doc_id));
    if (!r.rows()) throw Error("postgresql: " + described + ": document " + doc_id + " vanished");
    return r.int8(0, 0);
  }

  void write_sync_state(std::int64_t doc, const std::string& peer, ByteView state) {
    exec(
        "INSERT INTO dagsync_sync_states (doc, peer, state, updated_ms) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (doc, peer) DO UPDATE SET state = excluded.state, "
        "updated_ms = excluded.updated_ms",
        Params{}.integer(doc).text(peer).bytes(state).integer(now_ms()), "saving a sync state");
  }

  // Refuses a schema some other program made before a single table is created in it.
  void check_is_store() {
    Result tables = exec(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = "
        "current_schema() ORDER BY table_name",
        {}, "listing tables");
    bool has_meta = false;
    std::vector<std::string> others;
    for (int i = 0; i < tables.rows(); ++i) {
      std::string name = tables.text(i, 0);
      if (name == "dagsync_meta")
        has_meta = true;
      else
        others.push_back(name);
    }
    if (!has_meta) {
      if (others.empty()) return;
      std::string listed;
      for (std::size_t i = 0; i < others.size() && i < 3; ++i)
        listed += (i ? ", " : "") + others[i];
      if (others.size() > 3) listed += ", ...";
      throw NotAStoreError(described + " is not a dagsync store (a database with tables " + listed +
                           " and no dagsync_meta)");
    }
    Result app = exec("SELECT value FROM dagsync_meta WHERE key = 'application'", {},
                      "reading dagsync_meta");
    if (!app.rows() || app.text(0, 0) != "dagsync") {
      throw NotAStoreError(described + " is not a dagsync store (its dagsync_meta names " +
                           (app.rows() ? "application " + app.text(0, 0) : "no application") + ")");
    }
  }

  int version_in_meta() {
    Result tables =
        exec("SELECT to_regclass('dagsync_meta') IS NOT NULL", {}, "reading the schema");
    if (tables.bytes(0, 0).empty() || tables.bytes(0, 0)[0] == 0) return 0;
    Result r = exec("SELECT value FROM dagsync_meta WHERE key = 'schema_version'", {},
                    "reading the schema version");
    if (!r.rows()) return 0;
    try {
      return std::stoi(r.text(0, 0));
    } catch (const std::exception&) {
      throw NotAStoreError(described + " is not a dagsync store (schema version '" + r.text(0, 0) +
                           "')");
    }
  }

  void migrate() {
    transaction([&] {
      exec(kMigrationLock, {}, "locking the schema");
      check_is_store();  // again under the lock: another server may have just created it
      int version = version_in_meta();
      if (version > kSchemaVersion) {
        throw Error("postgresql: " + described + " has schema version " + std::to_string(version) +
                    ", newer than this library's " + std::to_string(kSchemaVersion));
      }
      for (; version < kSchemaVersion; ++version) {
        exec_script(kMigrations[version], "migrating the schema");
        exec("UPDATE dagsync_meta SET value = $1 WHERE key = 'schema_version'",
             Params{}.text(std::to_string(version + 1)), "migrating the schema");
      }
    });
  }

  // ---- the listener thread ----

  void stop_listener() {
    if (!listener.joinable()) return;
    stopping = true;
    std::uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(wake_fd, &one, sizeof one);
    listener.join();
    ::close(wake_fd);
    wake_fd = -1;
    stopping = false;
  }

  void deliver(AppendNotice notice) {
    std::lock_guard lock(handler_mutex);
    if (handler) handler(std::move(notice));
  }

  // Waits up to `ms` for the wake descriptor; true when asked to stop.
  bool sleep_or_stop(std::chrono::milliseconds ms) {
    pollfd fd{wake_fd, POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(ms.count()));
    return stopping;
  }

  PGconn* listen_connection() {
    PGconn* c = connect_new();
    std::string sql = "LISTEN " + channel;
    PGresult* r = PQexec(c, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetnonblocking(c, 1) != 0) {
      PQfinish(c);
      throw StorageUnavailableError("postgresql: " + described + ": LISTEN failed");
    }
    return c;
  }

  // A notice names at most this many documents: a flood is handed over in parts (all of
  // them now: what libpq has buffered would not wake poll() again).
  static constexpr std::size_t kMaxDocumentsPerNotice = 10000;

  void listen_loop(PGconn* c) {
    bool missed = false;
    while (!stopping) {
      if (!c) {
        if (sleep_or_stop(options.listen_retry)) break;
        try {
          c = listen_connection();
          missed = true;  // what was appended while we were away was not announced
        } catch (const Error&) {
          continue;
        }
      }
      if (missed) {
        missed = false;
        deliver({{}, true});
      }
      pollfd fds[2] = {{PQsocket(c), POLLIN, 0}, {wake_fd, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (stopping) break;
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = nullptr;
        continue;
      }
      AppendNotice notice;
      std::set<std::string> seen;
      while (PGnotify* n = PQnotifies(c)) {
        std::string payload = n->extra ? n->extra : "";
        PQfreemem(n);
        // "<writer> <document>": anything else is not ours to act on.
        auto space = payload.find(' ');
        if (space == std::string::npos || space + 1 >= payload.size()) continue;
        if (payload.compare(0, space, writer) == 0) continue;
        std::string doc = payload.substr(space + 1);
        if (seen.insert(doc).second) notice.doc_ids.push_back(std::move(doc));
        if (notice.doc_ids.size() >= kMaxDocumentsPerNotice) {
          deliver(std::exchange(notice, {}));
          seen.clear();
        }
      }
      if (!notice.doc_ids.empty()) deliver(std::move(notice));
    }
    if (c) PQfinish(c);
  }
};

PostgresStorage::PostgresStorage(const std::string& conninfo, PostgresOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (conninfo.empty()) throw Error("postgresql: the connection string is empty");
  impl_->conninfo = conninfo;
  impl_->described = redact(conninfo);
  impl_->options = options;
  impl_->ready();
  impl_->migrate();
  impl_->channel = kChannelPrefix + store_id();
}

PostgresStorage::~PostgresStorage() = default;

bool PostgresStorage::is_url(const std::string& text) {
  return text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0;
}

const std::string& PostgresStorage::description() const {
  return impl_->described;
}

int PostgresStorage::schema_version() {
  return impl_->version_in_meta();
}

std::string PostgresStorage::store_id() {
  Result r = impl_->exec("SELECT value FROM dagsync_meta WHERE key = 'store_id'", {},
                         "reading the store id");
  if (!r.rows()) throw Error("postgresql: " + impl_->described + ": no store id in dagsync_meta");
  return r.text(0, 0);
}

std::vector<std::string> PostgresStorage::list_documents() {
  Result r = impl_->exec("SELECT name FROM dagsync_documents ORDER BY name COLLATE \"C\"", {},
                         "listing documents");
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
  return out;
}

bool PostgresStorage::has_document(const std::string& doc_id) {
  return impl_->document_key(doc_id) >= 0;
}

std::vector<Change> PostgresStorage::load_changes(const std::string& doc_id) {
  return load_changes_after(doc_id, 0).changes;
}

StoredChanges PostgresStorage::load_changes_after(const std::string& doc_id,
                                                  std::int64_t position) {
  StoredChanges out;
  out.position = position;
  Result r = impl_->exec(
      "SELECT c.pos, c.hash, c.bytes, c.format FROM dagsync_changes c JOIN dagsync_documents d ON "
      "d.id = "
      "c.doc WHERE d.name = $1 AND c.pos > $2 ORDER BY c.pos",
      Params{}.text(doc_id).integer(position), "loading changes");
  out.changes.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    std::int64_t row = r.int8(i, 0);
    try {
      if (r.bytes(i, 2).size() > impl_->options.max_change_bytes) {
        throw Error("row of " + std::to_string(r.bytes(i, 2).size()) +
                    " bytes, over the limit of " + std::to_string(impl_->options.max_change_bytes));
      }
      ChangeHash hash = ChangeHash::from_bytes(r.bytes(i, 1));
      std::int64_t format = r.int8(i, 3);
      if (format == static_cast<std::int64_t>(ChangeFormat::kAutomerge)) {
        out.changes.push_back(Change::from_automerge_verified(r.bytes(i, 2), hash));
      } else if (format == static_cast<std::int64_t>(ChangeFormat::kDagsync)) {
        out.changes.push_back(Change::decode_verified(r.bytes(i, 2), hash));
      } else {
        throw Error("unknown change format " + std::to_string(format));
      }
    } catch (const Error& e) {
      throw Error("postgresql: " + impl_->described + ": document " + doc_id +
                  ": corrupt change in row " + std::to_string(row) + ": " + e.what());
    }
    out.position = row;
  }
  return out;
}

void PostgresStorage::append_changes(const std::string& doc_id, std::span<const Change> changes) {
  if (changes.empty()) return;
  try {
    impl_->transaction([&] {
      std::int64_t doc = impl_->lock_document(doc_id);
      std::size_t added = 0;
      for (const Change& c : changes) {
        Result r = impl_->exec(
            "INSERT INTO dagsync_changes (doc, hash, actor, seq, bytes, format) VALUES ($1, $2, "
            "$3, $4, $5, $6) ON CONFLICT (doc, hash) DO NOTHING",
            Params{}
                .integer(doc)
                .bytes(c.hash().view())
                .bytes(c.actor().view())
                .integer(static_cast<std::int64_t>(c.seq()))
                .bytes(c.bytes())
                .integer(static_cast<std::int64_t>(c.format())),
            "storing a change");
        added += r.affected();
      }
      // Delivered at commit to every server LISTENing, this one's listener included.
      if (added) {
        impl_->exec("SELECT pg_notify($1, $2)",
                    Params{}.text(impl_->channel).text(impl_->writer + " " + doc_id), "notifying");
      }
    });
  } catch (const ActorSeqConflict&) {
    // Rolled back: find which change another writer got in first, for the usual message.
    for (const Change& c : changes) {
      Result r = impl_->exec(
          "SELECT c.hash FROM dagsync_changes c JOIN dagsync_documents d ON d.id = c.doc "
          "WHERE d.name = $1 AND c.actor = $2 AND c.seq = $3",
          Params{}.text(doc_id).bytes(c.actor().view()).integer(static_cast<std::int64_t>(c.seq())),
          "finding an equivocation");
      if (!r.rows()) continue;
      ByteView other = r.bytes(0, 0);
      if (std::equal(other.begin(), other.end(), c.hash().view().begin(), c.hash().view().end())) {
        continue;
      }
      std::string other_hex = ChangeHash::from_bytes(other).hex();
      throw StoredEquivocationError("equivocation: actor " + c.actor().hex() + " seq " +
                                    std::to_string(c.seq()) + " is both " + other_hex + " and " +
                                    c.hash().hex() + " (document " + doc_id +
                                    ", the first stored by another server)");
    }
    throw StoredEquivocationError("equivocation: document " + doc_id +
                                  ": another server stored a change with the same actor and seq");
  }
}

std::optional<Bytes> PostgresStorage::load_sync_state(const std::string& doc_id,
                                                      const std::string& peer_id) {
  Result r = impl_->exec(
      "SELECT s.state FROM dagsync_sync_states s JOIN dagsync_documents d ON d.id = s.doc "
      "WHERE d.name = $1 AND s.peer = $2",
      Params{}.text(doc_id).text(peer_id), "loading a sync state");
  if (!r.rows()) return std::nullopt;
  ByteView b = r.bytes(0, 0);
  return Bytes(b.begin(), b.end());
}

void PostgresStorage::save_sync_state(const std::string& doc_id, const std::string& peer_id,
                                      ByteView state) {
  impl_->transaction(
      [&] { impl_->write_sync_state(impl_->lock_document(doc_id), peer_id, state); });
}

void PostgresStorage::save_sync_states(const std::string& peer_id,
                                       std::span<const SyncStateRecord> states) {
  if (states.empty()) return;
  impl_->transaction([&] {
    for (const auto& record : states) {
      impl_->write_sync_state(impl_->lock_document(record.doc_id), peer_id, record.state);
    }
  });
}

std::string PostgresStorage::claim(const std::string& kind, const std::string& key,
                                   const std::string& principal) {
  std::string owner = principal;
  impl_->transaction([&] {
    impl_->exec(
        "INSERT INTO dagsync_claims (kind, key, principal) VALUES ($1, $2, $3) "
        "ON CONFLICT (kind, key) DO NOTHING",
        Params{}.text(kind).text(key).text(principal), "claiming");
    Result r = impl_->exec("SELECT principal FROM dagsync_claims WHERE kind = $1 AND key = $2",
                           Params{}.text(kind).text(key), "claiming");
    if (r.rows()) owner = r.text(0, 0);
  });
  return owner;
}

std::size_t PostgresStorage::forget_peers_before(std::int64_t unix_ms) {
  std::size_t removed = 0;
  impl_->transaction([&] {
    Result r = impl_->exec(
        "DELETE FROM dagsync_sync_states WHERE peer IN (SELECT peer FROM dagsync_sync_states "
        "GROUP BY peer HAVING MAX(updated_ms) < $1)",
        Params{}.integer(unix_ms), "forgetting peers");
    removed = r.affected();
  });
  return removed;
}

void PostgresStorage::watch_appends(std::function<void(AppendNotice)> handler) {
  {
    std::lock_guard lock(impl_->handler_mutex);
    impl_->handler = std::move(handler);
  }
  bool wanted = static_cast<bool>(impl_->handler);
  if (!wanted) {
    impl_->stop_listener();
    return;
  }
  if (impl_->listener.joinable()) return;
  // Connected here, so that a store nobody can LISTEN on fails now, on the caller's thread,
  // and notices of appends made after this returns are not lost.
  PGconn* c = impl_->listen_connection();
  impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl_->wake_fd < 0) {
    PQfinish(c);
    throw Error(std::string("postgresql: eventfd: ") + std::strerror(errno));
  }
  impl_->listener = std::thread([impl = impl_.get(), c] { impl->listen_loop(c); });
}

}  // namespace dagsync
