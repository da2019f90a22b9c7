// Internal: what a SessionMachine asks of the repo it serves. The Repo implements it; a test
// can implement it over plain ChangeGraphs.
//
// Contract: every call is synchronous and runs on the session's thread. Documents are named
// by id; a pointer returned by find_document() or create_document() stays valid until the
// document is discarded or the host is destroyed. load_sync_state() may throw
// dagsync::Error (an unreadable state); the machine then starts from an empty state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/change_graph.h"

namespace dagsync {

class SessionHost {
 public:
  virtual ~SessionHost() = default;

  virtual ChangeGraph* find_document(const std::string& doc_id) = 0;
  // A new, empty document that a peer brought; discard_document() undoes it when the peer's
  // first message for it is refused, so a refusal leaves nothing behind.
  virtual ChangeGraph& create_document(const std::string& doc_id) = 0;
  virtual void discard_document(const std::string& doc_id) = 0;
  // Every document held, for the offers made on connect (the policy picks among them).
  virtual std::vector<std::string> document_ids() const = 0;
  virtual std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                               const std::string& peer_id) = 0;
};

}  // namespace dagsync
