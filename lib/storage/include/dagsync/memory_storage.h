// MemoryStorage: a Storage that keeps everything in memory, for tests, caches and peers that
// need no durability. Follows every per-method contract of storage.h; nothing survives the
// object.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dagsync/storage.h"

namespace dagsync {

// Keeps everything in memory: for tests, caches and peers that need no durability.
class MemoryStorage : public Storage {
 public:
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

 private:
  struct Document {
    std::vector<Change> changes;
    std::set<ChangeHash> hashes;  // what `changes` holds: appends skip these
  };
  std::map<std::string, Document> documents_;
  std::map<std::pair<std::string, std::string>, Bytes> states_;
  std::map<std::string, std::int64_t> peer_saved_ms_;  // the newest save of each peer's states
  std::map<std::pair<std::string, std::string>, std::string> claims_;
};

}  // namespace dagsync
