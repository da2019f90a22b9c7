// PostgresStorage: a Storage in a PostgreSQL database (libpq) that several dagsync servers
// share; what one appends reaches the others through LISTEN/NOTIFY.
//
// Contract:
// - Follows every contract of storage.h. Each write is one transaction; when it returns it
//   is committed (as durable as the server's synchronous_commit makes it: on by default).
// - A document's (actor, seq) is unique in the database: of two writers appending different
//   changes with the same (actor, seq) at once, exactly one commits; the other's
//   append_changes() throws StoredEquivocationError and stores nothing of its call.
// - Schema version in the dagsync_meta table; opening an older schema migrates it in a
//   transaction (under an advisory lock: servers starting together migrate once); a newer
//   one is refused. A database whose schema holds other tables and no dagsync_meta, or a
//   dagsync_meta of another application, is refused with NotAStoreError, untouched.
// - Connection problems (refused, authentication, lost mid-operation) throw
//   StorageUnavailableError naming the server's message; the next call reconnects once.
//   Every statement is bounded by PostgresOptions::statement_timeout.
// - load_changes() re-verifies every row's hash against its bytes and bounds each row's
//   size; a corrupt row is an Error naming the document and the row.
// - watch_appends(): a second connection LISTENs on a thread of its own, blocked in poll()
//   (so notices arrive within the server's delivery time, no polling interval); notices of
//   this object's own appends are not reported. After the listener reconnects, the notice
//   says `missed`.
// - One object per thread, like SqliteStorage (the listener thread has its own connection).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dagsync/storage.h"

namespace dagsync {

struct PostgresOptions {
  // Bounds the wait for a connection (libpq connect_timeout, whole seconds, at least 1).
  std::chrono::milliseconds connect_timeout{5000};
  // Bounds every statement on the server (statement_timeout); 0: no bound.
  std::chrono::milliseconds statement_timeout{30000};
  // The longest change row load_changes() accepts (larger rows are corruption).
  std::size_t max_change_bytes = 64 << 20;
  // Between attempts of the listener connection to reconnect after losing the server.
  std::chrono::milliseconds listen_retry{500};
};

class PostgresStorage : public Storage {
 public:
  static constexpr int kSchemaVersion = 2;
  // Writes refuse longer (or empty) document ids, before anything is written.
  static constexpr std::size_t kMaxDocIdBytes = 4096;
  // The NOTIFY channel of appends is this followed by the store id (stores in several
  // schemas of one database are apart); payloads are "<writer id> <document id>".
  static constexpr const char* kChannelPrefix = "dagsync_changes_";

  // Connects with `conninfo`, any libpq connection string or URI (postgresql://...,
  // postgres://...), and creates or migrates the schema. Throws StorageUnavailableError,
  // NotAStoreError or Error.
  explicit PostgresStorage(const std::string& conninfo, PostgresOptions options = {});
  ~PostgresStorage() override;
  PostgresStorage(const PostgresStorage&) = delete;
  PostgresStorage& operator=(const PostgresStorage&) = delete;

  std::vector<std::string> list_documents() override;
  bool has_document(const std::string& doc_id) override;
  std::vector<Change> load_changes(const std::string& doc_id) override;
  StoredChanges load_changes_after(const std::string& doc_id, std::int64_t position) override;
  void append_changes(const std::string& doc_id, std::span<const Change> changes) override;
  std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                       const std::string& peer_id) override;
  void save_sync_state(const std::string& doc_id, const std::string& peer_id,
                       ByteView state) override;
  void save_sync_states(const std::string& peer_id,
                        std::span<const SyncStateRecord> states) override;
  std::string claim(const std::string& kind, const std::string& key,
                    const std::string& principal) override;
  std::size_t forget_peers_before(std::int64_t unix_ms) override;
  void watch_appends(std::function<void(AppendNotice)> handler) override;

  // 32 lowercase hex characters, random, made when the schema was created; the same for
  // every server sharing the database.
  std::string store_id() override;
  int schema_version();
  // The connection string without its password, for messages.
  const std::string& description() const;

  // Whether `text` names a PostgreSQL store (postgresql:// or postgres://).
  static bool is_url(const std::string& text);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dagsync
