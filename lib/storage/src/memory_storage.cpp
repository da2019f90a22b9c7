#include "dagsync/memory_storage.h"

#include <chrono>
#include <set>

namespace dagsync {

namespace {
std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::vector<std::string> MemoryStorage::list_documents() {
  std::set<std::string> ids;
  for (const auto& [id, doc] : documents_) ids.insert(id);
  for (const auto& [key, state] : states_) ids.insert(key.first);
  return {ids.begin(), ids.end()};
}

std::vector<Change> MemoryStorage::load_changes(const std::string& doc_id) {
  auto it = documents_.find(doc_id);
  return it == documents_.end() ? std::vector<Change>{} : it->second.changes;
}

void MemoryStorage::append_changes(const std::string& doc_id, std::span<const Change> changes) {
  if (changes.empty()) return;
  auto& doc = documents_[doc_id];
  for (const Change& c : changes) {
    if (doc.hashes.insert(c.hash()).second) doc.changes.push_back(c);
  }
}

std::optional<Bytes> MemoryStorage::load_sync_state(const std::string& doc_id,
                                                    const std::string& peer_id) {
  auto it = states_.find({doc_id, peer_id});
  if (it == states_.end()) return std::nullopt;
  return it->second;
}

void MemoryStorage::save_sync_state(const std::string& doc_id, const std::string& peer_id,
                                    ByteView state) {
  states_[{doc_id, peer_id}] = Bytes(state.begin(), state.end());
  peer_saved_ms_[peer_id] = unix_now_ms();
}

void MemoryStorage::save_sync_states(const std::string& peer_id,
                                     std::span<const SyncStateRecord> states) {
  for (const auto& record : states) states_[{record.doc_id, peer_id}] = record.state;
  if (!states.empty()) peer_saved_ms_[peer_id] = unix_now_ms();
}

std::string MemoryStorage::claim(const std::string& kind, const std::string& key,
                                 const std::string& principal) {
  return claims_.try_emplace({kind, key}, principal).first->second;
}

bool MemoryStorage::has_document(const std::string& doc_id) {
  if (documents_.count(doc_id)) return true;
  auto it = states_.lower_bound({doc_id, std::string()});
  return it != states_.end() && it->first.first == doc_id;
}

std::size_t MemoryStorage::forget_peers_before(std::int64_t unix_ms) {
  std::size_t removed = 0;
  for (auto it = states_.begin(); it != states_.end();) {
    auto saved = peer_saved_ms_.find(it->first.second);
    if (saved != peer_saved_ms_.end() && saved->second < unix_ms) {
      it = states_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  for (auto it = peer_saved_ms_.begin(); it != peer_saved_ms_.end();) {
    it = it->second < unix_ms ? peer_saved_ms_.erase(it) : std::next(it);
  }
  return removed;
}

}  // namespace dagsync
