// inspect: what a store holds, read without locking or writing, so it also works while a
// server holds the store: each document's change count, authors and heads, the size on
// disk, and every peer the store has synced with and when it last did.
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "exit_codes.h"
#include "format.h"
#include "log.h"
#include "options.h"
#include "store.h"

namespace dagsync::peer {

namespace {

std::string ago(std::int64_t then_ms) {
  std::int64_t s = std::max<std::int64_t>(0, (now_ms() - then_ms) / 1000);
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  if (s < 172800) return std::to_string(s / 3600) + " h ago";
  return std::to_string(s / 86400) + " days ago";
}

std::uint64_t size_on_disk(const std::string& store) {
  std::uint64_t total = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    auto n = std::filesystem::file_size(store + suffix, ec);
    if (!ec) total += n;
  }
  return total;
}

}  // namespace

int inspect(const CommonOptions& common, const InspectOptions& options) {
  auto storage = open_store_read_only(common);
  std::vector<std::string> docs = storage->list_documents();
  if (!options.doc.empty()) {
    if (std::find(docs.begin(), docs.end(), options.doc) == docs.end()) {
      throw Failure(kExitNoDocument, "no document '" + options.doc + "' in " + common.store);
    }
    docs = {options.doc};
  }
  std::printf("store %s: %s, %s on disk, schema %d\n", common.store.c_str(),
              plural(storage->list_documents().size(), "document").c_str(),
              human_bytes(size_on_disk(common.store)).c_str(), storage->schema_version());
  for (const auto& doc : docs) {
    ChangeGraph g;
    g.add(storage->load_changes(doc));
    std::set<ActorId> actors;
    std::uint64_t bytes = 0;
    for (const Change& c : g.changes()) {
      actors.insert(c.actor());
      bytes += c.bytes().size();
    }
    std::printf("document %s: %s by %s, %s, heads %s\n", doc.c_str(),
                plural(g.size(), "change").c_str(), plural(actors.size(), "author").c_str(),
                human_bytes(bytes).c_str(), heads_text(g).c_str());
  }
  // Per peer: the documents synced with it and the latest save of any of their states.
  struct PeerSeen {
    std::vector<std::string> docs;
    std::optional<std::int64_t> last_ms;
  };
  std::map<std::string, PeerSeen> peers;
  std::set<std::string> wanted(docs.begin(), docs.end());
  for (const auto& s : storage->list_sync_states()) {
    if (!wanted.count(s.doc_id)) continue;
    auto& p = peers[s.peer_id];
    p.docs.push_back(s.doc_id);
    if (s.updated_ms && (!p.last_ms || *s.updated_ms > *p.last_ms)) p.last_ms = s.updated_ms;
  }
  if (peers.empty()) std::printf("no known peers\n");
  for (const auto& [peer, seen] : peers) {
    std::string docs_text;
    for (const auto& d : seen.docs) docs_text += (docs_text.empty() ? "" : ", ") + d;
    std::string when = seen.last_ms ? utc_time_text(*seen.last_ms) + " (" + ago(*seen.last_ms) + ")"
                                    : "before save times were kept";
    std::printf("peer %s: last synced %s; documents %s\n", peer.c_str(), when.c_str(),
                docs_text.c_str());
  }
  return kExitOk;
}

}  // namespace dagsync::peer
