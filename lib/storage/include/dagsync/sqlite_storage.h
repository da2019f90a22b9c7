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
// - A file that is not a dagsync store (not SQLite, or another application's database) is
//   refused with NotAStoreError before anything is written to it; a path in a directory
//   that does not exist is an Error naming the directory.
// - With SqliteOptions::exclusive_lock, one process at a time holds the store: a second
//   one is refused with StoreLockedError naming the holder's pid and command.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dagsync/error.h"
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
  // Opens the store for reading only: nothing is created, migrated or written (a write
  // throws). For looking into a store another process holds.
  bool read_only = false;
  // Holds an advisory lock (flock on `<path>.lock`) for the object's lifetime, so that a
  // second process asking for it is refused instead of interleaving its writes with ours.
  // The lock file names the holder (pid and `lock_holder`); the kernel releases the lock
  // when the process ends, however it ends, so a stale file is harmless. Advisory only:
  // a process that does not ask is not stopped. Ignored with read_only.
  bool exclusive_lock = false;
  std::string lock_holder{};  // written beside the pid; default: this process's command line
};

// Another process holds the store's lock (SqliteOptions::exclusive_lock).
class StoreLockedError : public Error {
 public:
  StoreLockedError(const std::string& what, long holder_pid, std::string holder)
      : Error(what), holder_pid(holder_pid), holder(std::move(holder)) {}
  long holder_pid;     // 0 when the lock file did not say
  std::string holder;  // the holder's command, as it wrote it
};

// One saved sync state, for tools that show which peers a store has synced with.
struct SyncStateInfo {
  std::string doc_id;
  std::string peer_id;
  std::optional<std::int64_t> updated_ms;  // Unix ms of the last save; absent before schema 2
  std::size_t bytes = 0;
};

class SqliteStorage : public Storage {
 public:
  static constexpr int kSchemaVersion = 5;
  // PRAGMA application_id of a dagsync store ("DGS1"), set from schema version 2 on.
  static constexpr std::int32_t kApplicationId = 0x44475331;

  // Opens or creates the database at `path`. Throws dagsync::Error with SQLite's message,
  // StoreLockedError or NotAStoreError.
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
  std::size_t forget_peers_before(std::int64_t unix_ms) override;
  // Made by the migration to schema 4 (a meta row); empty for a read-only older store.
  std::string store_id() override { return store_id_; }
  bool tracks_changes() override { return true; }
  std::uint64_t change_sequence() override;
  std::vector<std::string> stale_documents(const std::string& peer_id) override;
  std::vector<std::string> documents_changed_since(std::uint64_t seq,
                                                   const std::string& peer_id) override;
  std::vector<std::string> peers_with_state(const std::string& doc_id) override;
  std::optional<PeerRecord> load_peer(const std::string& peer_id) override;
  void save_peer(const std::string& peer_id, const PeerRecord& record) override;
  std::size_t forget_peer(const std::string& peer_id) override;

  // Every saved sync state, by document then peer.
  std::vector<SyncStateInfo> list_sync_states();

  int schema_version() const;
  const std::string& path() const { return path_; }

 private:
  class Statement;
  void exec(const char* sql);
  int pragma_int(const char* name) const;
  void lock(const SqliteOptions& options);
  void check_is_store();
  void migrate();
  template <typename Body>
  void in_transaction(Body&& body);
  void write_sync_state(std::int64_t doc, const std::string& peer_id, ByteView state, bool fresh);
  std::int64_t document_key(const std::string& doc_id, bool create);

  std::string path_;
  std::string store_id_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
};

}  // namespace dagsync
