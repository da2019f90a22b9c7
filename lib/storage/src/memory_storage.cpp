#include "dagsync/memory_storage.h"

#include <algorithm>
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

MemoryStorage::MemoryStorage() : store_id_(random_actor_id().hex()) {}

void MemoryStorage::put_state(const std::string& doc_id, const std::string& peer_id, Bytes state,
                              bool fresh) {
  states_[{doc_id, peer_id}] = std::move(state);
  state_peers_[doc_id].insert(peer_id);
  if (fresh) {
    auto it = stale_.find(peer_id);
    if (it != stale_.end() && it->second.erase(doc_id) && it->second.empty()) stale_.erase(it);
  } else {
    stale_[peer_id].insert(doc_id);
  }
}

void MemoryStorage::erase_state(std::map<std::pair<std::string, std::string>, Bytes>::iterator it) {
  const auto& [doc_id, peer_id] = it->first;
  if (auto s = stale_.find(peer_id); s != stale_.end()) {
    s->second.erase(doc_id);
    if (s->second.empty()) stale_.erase(s);
  }
  if (auto p = state_peers_.find(doc_id); p != state_peers_.end()) {
    p->second.erase(peer_id);
    if (p->second.empty()) state_peers_.erase(p);
  }
  states_.erase(it);
}

std::vector<std::string> MemoryStorage::stale_documents(const std::string& peer_id) {
  auto it = stale_.find(peer_id);
  if (it == stale_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<std::string> MemoryStorage::documents_changed_since(std::uint64_t seq,
                                                                const std::string& peer_id) {
  std::vector<std::string> out;
  for (auto it = by_seq_.upper_bound(seq); it != by_seq_.end(); ++it) {
    if (!states_.count({it->second, peer_id})) out.push_back(it->second);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> MemoryStorage::peers_with_state(const std::string& doc_id) {
  auto it = state_peers_.find(doc_id);
  if (it == state_peers_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::optional<PeerRecord> MemoryStorage::load_peer(const std::string& peer_id) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

void MemoryStorage::save_peer(const std::string& peer_id, const PeerRecord& record) {
  peers_[peer_id] = record;
}

std::size_t MemoryStorage::forget_peer(const std::string& peer_id) {
  std::size_t removed = 0;
  for (auto it = states_.begin(); it != states_.end();) {
    auto next = std::next(it);
    if (it->first.second == peer_id) {
      erase_state(it);
      ++removed;
    }
    it = next;
  }
  peers_.erase(peer_id);
  peer_saved_ms_.erase(peer_id);
  return removed;
}

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
  bool stored = false;
  for (const Change& c : changes) {
    if (doc.hashes.insert(c.hash()).second) {
      doc.changes.push_back(c);
      stored = true;
    }
  }
  if (!stored) return;
  // A new change: every peer's state for the document is stale until saved fresh again.
  by_seq_.erase(doc.seq);
  doc.seq = ++sequence_;
  by_seq_[doc.seq] = doc_id;
  if (auto p = state_peers_.find(doc_id); p != state_peers_.end()) {
    for (const auto& peer : p->second) stale_[peer].insert(doc_id);
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
  put_state(doc_id, peer_id, Bytes(state.begin(), state.end()), false);
  peer_saved_ms_[peer_id] = unix_now_ms();
}

void MemoryStorage::save_sync_states(const std::string& peer_id,
                                     std::span<const SyncStateRecord> states) {
  for (const auto& record : states) {
    put_state(record.doc_id, peer_id, record.state, record.peer_has_ours);
  }
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
      auto next = std::next(it);
      erase_state(it);
      it = next;
      ++removed;
    } else {
      ++it;
    }
  }
  for (auto it = peer_saved_ms_.begin(); it != peer_saved_ms_.end();) {
    if (it->second < unix_ms) peers_.erase(it->first);
    it = it->second < unix_ms ? peer_saved_ms_.erase(it) : std::next(it);
  }
  return removed;
}

}  // namespace dagsync
