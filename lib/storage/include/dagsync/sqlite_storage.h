// SqliteStorage: the durable Storage backend, one SQLite database file for many documents.
//
// Contract:
// - Follows every contract of storage.h. Each write (append_changes, save_sync_state,
//   save_sync_states, a migration) is one transaction; when it returns, what it wrote
//   survives a crash of the process, and with Durability::kFull (the default) a power loss.
// - load_changes() re-verifies every row's hash against its bytes; a corrupt row is a
//   dagsync::Error naming the document and the row, never a crash.
// - The schema carries a version (PRAGMA user_version). Opening an older database migrates it
//   in a transaction; opening one newer than this library knows is refused with an Error.
// - Journal mode is WAL: readers never block the writer. Not for use from several threads
//   at once (like the Repo that owns it, it lives on one io_context thread).
#pragma once

#include <memory>
#include <string>

#include "dagsync/storage.h"

struct sqlite3;

namespace dagsync {

struct SqliteOptions {
  // kFull: every transaction is fsynced (synchronous=FULL): survives power loss.
  // kNormal: synchronous=NORMAL: survives process crashes; a power loss may drop the last
  // transactions (never corrupts the database).
  enum class Durability { kFull, kNormal };
  Durability durability = Durability::kFull;
  int busy_timeout_ms = 5000;
};

class SqliteStorage : public Storage {
 public:
  static constexpr int kSchemaVersion = 2;

  // Opens or creates the database at `path`. Throws dagsync::Error with SQLite's message.
  explicit SqliteStorage(const std::string& path, SqliteOptions options = {});
  ~SqliteStorage() override;
  SqliteStorage(const SqliteStorage&) = delete;
  SqliteStorage& operator=(const SqliteStorage&) = delete;

  std::vector<std::string> list_documents() override;
  bool has_document(const std::string& doc_id) override;
  std::vector<Change> load_changes(const std::string& doc_id) override;
  void append_changes(const std::string& doc_id, std::span<const Change> changes) override;
  std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                       const std::string& peer_id) override;
  void save_sync_state(const std::string& doc_id, const std::string& peer_id,
                       ByteView state) override;
  void save_sync_states(const std::string& peer_id,
                        std::span<const SyncStateRecord> states) override;
  std::string claim(const std::string& kind, const std::string& key,
                    const std::string& principal) override;

  int schema_version() const;
  const std::string& path() const { return path_; }

 private:
  class Statement;
  void exec(const char* sql);
  void migrate();
  template <typename Body>
  void in_transaction(Body&& body);
  void write_sync_state(std::int64_t doc, const std::string& peer_id, ByteView state);
  std::int64_t document_key(const std::string& doc_id, bool create);

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace dagsync
