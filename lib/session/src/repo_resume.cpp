// The Repo's side of resuming (docs/sessions.md#resuming): what a resumed session offers at
// its start, and the real-time offers to resumed peers of documents they held before.
#include "dagsync/error.h"
#include "log_text.h"
#include "peer_session.h"
#include "repo_impl.h"

namespace dagsync {

SessionHost::ResumePlan RepoImpl::plan_resume(const std::string& peer_id,
                                              const std::string& peer_store_id) {
  Storage& storage = *options.storage;
  SessionHost::ResumePlan plan;
  auto record = storage.load_peer(peer_id);
  if (record && record->store_id != peer_store_id) {
    // The peer's storage was reset or replaced: what we saved about it describes a store
    // that is gone, and trusting it would skip documents the peer no longer holds.
    plan.discarded = storage.forget_peer(peer_id);
    log->info("peer {}: its store is now {} (was {}): discarded {} sync states", log_text(peer_id),
              peer_store_id, log_text(record->store_id), plan.discarded);
    record.reset();
  }
  plan.record = {peer_store_id, storage.change_sequence()};
  plan.first = !record;
  if (record) {
    plan.changed = storage.documents_changed_since(record->offered_seq, peer_id);
    plan.record_changed = record->offered_seq != plan.record.offered_seq;
  }
  plan.stale = storage.stale_documents(peer_id);
  return plan;
}

void RepoImpl::session_resumed(PeerSession* session) {
  resumed_sessions[session->peer_id()].insert(session);
  if (session->offers_anything()) resumed_offering.insert(session);
}

void RepoImpl::offer_to_resumed(const std::set<std::string>& doc_ids) {
  if (resumed_sessions.empty()) return;
  for (const auto& doc_id : doc_ids) {
    std::vector<std::shared_ptr<PeerSession>> offered;
    for (PeerSession* session : resumed_offering) {
      if (!session->shared_documents().count(doc_id) && session->offers(doc_id))
        offered.push_back(session->shared_from_this());
    }
    for (const auto& session : offered) session->offer(doc_id);
    std::vector<std::string> peers;
    try {
      peers = options.storage->peers_with_state(doc_id);
    } catch (const Error& e) {
      log->warn("document {}: could not list the peers that hold it: {}", log_text(doc_id),
                log_text(e.what()));
      continue;
    }
    for (const auto& peer : peers) {
      auto it = resumed_sessions.find(peer);
      if (it == resumed_sessions.end()) continue;
      std::vector<std::shared_ptr<PeerSession>> targets;
      for (PeerSession* session : it->second) {
        if (!session->shared_documents().count(doc_id))
          targets.push_back(session->shared_from_this());
      }
      for (const auto& session : targets) session->offer(doc_id);
    }
  }
}

}  // namespace dagsync
