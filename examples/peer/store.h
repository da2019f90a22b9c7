// Opening a command's store and building its Repo options. A store is held by one process
// at a time (SqliteOptions::exclusive_lock): a second writer is refused with the holder's
// pid and command, so `local` cannot slip writes under a running server. Every store
// problem (held, not a dagsync store, a missing directory) ends the command with
// kExitStore and a message naming the file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dagsync/dagsync.h"
#include "options.h"

namespace dagsync::peer {

// For writing: an SQLite file, locked, or with postgresql:// or postgres:// (any libpq URI)
// a PostgreSQL database that other servers may share. Throws Failure(kExitStore).
std::shared_ptr<Storage> open_store(const CommonOptions& common);
// The store as it may be shown: a database URL without its user and password.
std::string store_label(const CommonOptions& common);
// For reading only, while another process may hold it. Throws Failure(kExitStore).
std::shared_ptr<SqliteStorage> open_store_read_only(const CommonOptions& common);

// A stable peer id per store, so that sync states saved under it are found again.
std::string default_peer_id(const std::string& store);

RepoOptions repo_options(const CommonOptions& common, std::shared_ptr<Storage> storage,
                         std::shared_ptr<spdlog::logger> logger);

bool has_document(const Repo& repo, const std::string& doc_id);

// Wall-clock Unix milliseconds: the timestamp of the changes this tool commits, which is
// what the server's delivery latency is measured from.
std::int64_t now_ms();

// The text as a change payload; refuses empty and whitespace-only text (kExitUsage).
Bytes change_payload(const std::string& text);

}  // namespace dagsync::peer
