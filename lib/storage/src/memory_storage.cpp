#include "dagsync/memory_storage.h"

namespace dagsync {

std::vector<std::string> MemoryStorage::list_documents() {
  std::vector<std::string> out;
  for (const auto& [id, changes] : changes_) out.push_back(id);
  return out;
}

std::vector<Change> MemoryStorage::load_changes(const std::string& doc_id) {
  auto it = changes_.find(doc_id);
  return it == changes_.end() ? std::vector<Change>{} : it->second;
}

void MemoryStorage::append_changes(const std::string& doc_id, std::span<const Change> changes) {
  auto& list = changes_[doc_id];
  list.insert(list.end(), changes.begin(), changes.end());
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
}

}  // namespace dagsync
