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
#include "dagsync/storage.h"

namespace dagsync {

class SessionHost {
 public:
  virtual ~SessionHost() = default;

  virtual ChangeGraph* find_document(const std::string& doc_id) = 0;
  // A new, empty document that a peer brought; discard_document() undoes it when the peer's
  // first message for it is refused, so a refusal leaves nothing behind.
  virtual ChangeGraph& create_document(const std::string& doc_id) = 0;
  virtual void discard_document(const std::string& doc_id) = 0;
  // create_document() for a document an automerge-repo peer brings: its graph must hold
  // Automerge changes. The default makes a plain one; the Repo's makes it in the core's
  // Automerge change format where the core has one.
  virtual ChangeGraph& create_automerge_document(const std::string& doc_id) {
    return create_document(doc_id);
  }
  // Every document held, for the offers made on connect (the policy picks among them).
  virtual std::vector<std::string> document_ids() const = 0;
  virtual std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                               const std::string& peer_id) = 0;

  // Resuming (docs/sessions.md#resuming). The host's Storage::store_id() when its storage
  // tracks changes; empty: the session offers documents as before.
  virtual std::string store_id() { return ""; }
  struct ResumePlan {
    // No record of the peer (a first session, or its store changed): offer every document
    // the policy gives it, as without resuming.
    bool first = true;
    std::size_t discarded = 0;         // states dropped: saved under another store of the peer's
    std::vector<std::string> stale;    // documents with a stale state for the peer
    std::vector<std::string> changed;  // changed since the peer was last offered everything,
                                       // with no state for it (the policy filters them)
    PeerRecord record;                 // what to save when the session ends
    bool record_changed = true;        // differs from the saved one
  };
  // What to offer a peer resuming with store `peer_store_id`. May throw dagsync::Error
  // (storage); the session then fails.
  virtual ResumePlan plan_resume(const std::string& /*peer_id*/,
                                 const std::string& /*peer_store_id*/) {
    return {};
  }

  // Access control (access.h). The defaults admit everyone and check nothing, for hosts
  // without it (tests).
  struct Refusal {
    std::string reason;
    bool permanent = false;  // retrying cannot help: the dialling peer should stop
  };
  // Admits the peer `peer_id` acting as `principal` once its hello was authenticated, or says
  // why not (its peer id belongs to another principal; a connection quota). The Repo undoes
  // an admission when the session ends.
  virtual std::optional<Refusal> admit(const std::string& /*peer_id*/,
                                       const std::string& /*principal*/) {
    return std::nullopt;
  }
  // Whether the peer may bring a document this repo does not hold (a quota), or why not.
  virtual std::optional<std::string> refuse_creation(const std::string& /*peer_id*/,
                                                     const std::string& /*principal*/) {
    return std::nullopt;
  }
  // Whether `principal` may add new changes under `actor`: true when it owns the actor or,
  // no one owning it yet, it now does.
  virtual bool may_author(const std::string& /*principal*/, const ActorId& /*actor*/) {
    return true;
  }
};

}  // namespace dagsync
