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
  MemoryStorage();
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
  // Random per instance: a new MemoryStorage is a new store.
  std::string store_id() override { return store_id_; }
  bool tracks_changes() override { return true; }
  std::uint64_t change_sequence() override { return sequence_; }
  std::vector<std::string> stale_documents(const std::string& peer_id) override;
  std::vector<std::string> documents_changed_since(std::uint64_t seq,
                                                   const std::string& peer_id) override;
  std::vector<std::string> peers_with_state(const std::string& doc_id) override;
  std::optional<PeerRecord> load_peer(const std::string& peer_id) override;
  void save_peer(const std::string& peer_id, const PeerRecord& record) override;
  std::size_t forget_peer(const std::string& peer_id) override;

 private:
  struct Document {
    std::vector<Change> changes;
    std::set<ChangeHash> hashes;  // what `changes` holds: appends skip these
    std::uint64_t seq = 0;        // change_sequence() of its last append that stored something
  };
  void put_state(const std::string& doc_id, const std::string& peer_id, Bytes state, bool fresh);
  void erase_state(std::map<std::pair<std::string, std::string>, Bytes>::iterator it);

  std::string store_id_;
  std::uint64_t sequence_ = 0;
  std::map<std::string, Document> documents_;
  std::map<std::pair<std::string, std::string>, Bytes> states_;
  std::map<std::string, std::set<std::string>> stale_;        // peer -> documents
  std::map<std::string, std::set<std::string>> state_peers_;  // document -> peers with a state
  std::map<std::uint64_t, std::string> by_seq_;               // document by its last seq
  std::map<std::string, PeerRecord> peers_;
  std::map<std::string, std::int64_t> peer_saved_ms_;  // the newest save of each peer's states
  std::map<std::pair<std::string, std::string>, std::string> claims_;
};

}  // namespace dagsync
