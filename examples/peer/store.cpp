#include "store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>

#include "exit_codes.h"

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

std::shared_ptr<SqliteStorage> open_store(const CommonOptions& common) {
  SqliteOptions options;
  options.exclusive_lock = true;
  return open_with(common, options);
}

std::shared_ptr<SqliteStorage> open_store_read_only(const CommonOptions& common) {
  SqliteOptions options;
  options.read_only = true;
  return open_with(common, options);
}

std::string default_peer_id(const std::string& store) {
  std::string absolute = std::filesystem::absolute(store).string();
  return "peer-" + sha256(as_bytes(absolute)).short_hex();
}

RepoOptions repo_options(const CommonOptions& common, std::shared_ptr<SqliteStorage> storage,
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
