// The Repo's side of stores shared by several servers (Storage::watch_appends): changes
// another server committed reach this server's loaded documents, and from there the peers
// sharing them; a change the store refused as an equivocation leaves the graph again.
#include "dagsync/error.h"
#include "log_text.h"
#include "repo_impl.h"

namespace dagsync {

void RepoImpl::watch_storage() {
  std::weak_ptr<RepoImpl> weak = weak_from_this();
  asio::io_context& loop = io;
  // The handler runs on the backend's thread: it only hands the notice to the event loop.
  options.storage->watch_appends([weak, &loop](AppendNotice notice) {
    asio::post(loop, [weak, notice = std::move(notice)] {
      if (auto self = weak.lock()) self->stored_elsewhere(notice);
    });
  });
}

void RepoImpl::stored_elsewhere(const AppendNotice& notice) {
  if (shutting_down) return;
  std::vector<std::string> ids = notice.doc_ids;
  if (notice.missed) {
    // Notices were lost while the feed reconnected: every loaded document looks again.
    ids.clear();
    for (const auto& [id, doc] : documents) ids.push_back(id);
  }
  for (const auto& doc_id : ids) {
    // A document not loaded has nothing to catch up on: it loads what is stored when needed.
    auto it = documents.find(doc_id);
    if (it == documents.end()) continue;
    try {
      take_stored(doc_id, *it->second);
    } catch (const Error& e) {
      log->warn("document {}: could not read what another server stored: {}", log_text(doc_id),
                log_text(e.what()));
      emit({PeerEvent::Kind::kStorageFailed, "", "", e.what()});
    }
  }
}

void RepoImpl::take_stored(const std::string& doc_id, Document& doc) {
  // Only what was appended since the document was loaded or last looked: no full reload.
  StoredChanges fresh = options.storage->load_changes_after(doc_id, doc.stored_position);
  doc.stored_position = fresh.position;
  std::vector<Change> news;
  for (auto& c : fresh.changes) {
    if (!doc.graph.has(c.hash())) news.push_back(std::move(c));
  }
  if (news.empty()) return;
  ImportStatus status;
  try {
    status = doc.graph.add(news);
  } catch (const GraphError& e) {
    // The store holds what it holds: a graph that disagrees keeps its own and says so.
    log->warn("document {}: changes another server stored do not apply: {}", log_text(doc_id),
              log_text(e.what()));
    return;
  }
  if (status.applied.empty()) return;
  change_listeners.notify(RemoteChanges{doc_id, "", status.applied});
  schedule_push(doc_id);  // to the peers of this server sharing it
}

void RepoImpl::drop_refused(Document& doc, const std::vector<ChangeHash>& refused) {
  std::set<ChangeHash> gone(refused.begin(), refused.end());
  // The graph cannot remove a change: it is rebuilt without them, as it was before they
  // came (they were applied last, so nothing applied depends on them but each other).
  ChangeGraph rebuilt = doc.graph.format() == ChangeFormat::kAutomerge
                            ? ChangeGraph(ChangeFormat::kAutomerge, options.graph_limits)
                            : ChangeGraph(doc.graph.local_actor(), options.graph_limits);
  std::vector<Change> keep;
  keep.reserve(doc.graph.size());
  for (const Change& c : doc.graph.changes()) {
    if (!gone.count(c.hash())) keep.push_back(c);
  }
  rebuilt.add(keep);
  rebuilt.add(doc.graph.pending_changes());
  doc.graph = rebuilt;  // copy assignment: the document's own listeners stay
  std::erase_if(doc.unstored, [&](const Change& c) { return gone.count(c.hash()) > 0; });
}

}  // namespace dagsync
