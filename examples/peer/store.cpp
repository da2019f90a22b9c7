#include "store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>

#include "exit_codes.h"
#ifdef DAGSYNC_HAVE_POSTGRESQL
#include "dagsync/postgres_storage.h"
#endif

namespace dagsync::peer {

namespace {

std::shared_ptr<SqliteStorage> open_with(const CommonOptions& common, SqliteOptions options) {
  try {
    return std::make_shared<SqliteStorage>(common.store, options);
  } catch (const Error& e) {
    std::string what = e.what();
    // SqliteStorage's messages start with "sqlite: " for its own failures.
    if (what.rfind("sqlite: ", 0) == 0) what = what.substr(8);
    throw Failure(kExitStore, "cannot use store: " + what);
  }
}

}  // namespace

bool is_postgres_url(const std::string& store) {
  return store.rfind("postgresql://", 0) == 0 || store.rfind("postgres://", 0) == 0;
}

std::string store_label(const CommonOptions& common) {
  if (!is_postgres_url(common.store)) return common.store;
  // Everything up to the host: the user's password stays out of logs.
  std::string s = common.store;
  auto scheme = s.find("://") + 3;
  auto at = s.find('@', scheme);
  if (at != std::string::npos && s.find('/', scheme) > at) s.erase(scheme, at + 1 - scheme);
  return s;
}

std::shared_ptr<Storage> open_store(const CommonOptions& common) {
  if (is_postgres_url(common.store)) {
#ifdef DAGSYNC_HAVE_POSTGRESQL
    try {
      return std::make_shared<PostgresStorage>(common.store);
    } catch (const Error& e) {
      std::string what = e.what();
      if (what.rfind("postgresql: ", 0) == 0) what = what.substr(12);
      throw Failure(kExitStore, "cannot use store: " + what);
    }
#else
    throw Failure(kExitStore, "cannot use store " + store_label(common) +
                                  ": this build has no PostgreSQL support (libpq)");
#endif
  }
  SqliteOptions options;
  options.exclusive_lock = true;
  return open_with(common, options);
}

std::shared_ptr<SqliteStorage> open_store_read_only(const CommonOptions& common) {
  if (is_postgres_url(common.store)) {
    throw Failure(kExitStore, "inspect reads SQLite stores; for " + store_label(common) +
                                  " query its dagsync_* tables with psql");
  }
  SqliteOptions options;
  options.read_only = true;
  return open_with(common, options);
}

std::string default_peer_id(const std::string& store) {
  // A database URL names the same store from every directory (servers sharing it share it).
  std::string absolute = is_postgres_url(store) ? store : std::filesystem::absolute(store).string();
  return "peer-" + sha256(as_bytes(absolute)).short_hex();
}

RepoOptions repo_options(const CommonOptions& common, std::shared_ptr<Storage> storage,
                         std::shared_ptr<spdlog::logger> logger) {
  RepoOptions o;
  o.peer_id = common.peer_id.empty() ? default_peer_id(common.store) : common.peer_id;
  o.storage = std::move(storage);
  o.logger = std::move(logger);
  // The default share policy: a client offers its documents to the server it dials; the
  // server pushes nothing unasked and relays what clients bring or ask for.
  return o;
}

bool has_document(const Repo& repo, const std::string& doc_id) {
  auto docs = repo.documents();
  return std::find(docs.begin(), docs.end(), doc_id) != docs.end();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Bytes change_payload(const std::string& text) {
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) {
    throw Failure(kExitUsage, "refusing an empty change: give the text to add");
  }
  return Bytes(text.begin(), text.end());
}

}  // namespace dagsync::peer
