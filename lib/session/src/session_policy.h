// Internal: every decision about who a peer may be and which documents it may see, in one
// place. The SessionMachine asks it at each point where a peer could learn of, receive or
// create a document; nothing else in the session layer makes these decisions.
//
// Today's policy is the RepoOptions settings (share_policy, accept_unknown_documents) and
// the expected peer id of a dialled connection. Authentication and per-document access
// control (docs/architecture.md, "Adding access control") replace this class's methods,
// not the machine.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace dagsync {

struct SessionPolicy {
  std::string local_peer_id;
  std::string expected_peer_id;  // empty: any peer
  std::string token;             // sent in our hello (a dialled connection's credentials)
  // Whether a document is offered to the peer unasked; empty: never.
  std::function<bool(const std::string& peer_id, const std::string& doc_id)> share;
  bool accept_unknown_documents = true;

  // Why a hello from `peer_id` is refused, or nothing when it is accepted.
  std::optional<std::string> refuse_hello(const std::string& peer_id) const {
    if (peer_id == local_peer_id) return std::string("connected to itself");
    if (!expected_peer_id.empty() && peer_id != expected_peer_id) {
      return "expected peer " + expected_peer_id + ", got a hello from " + peer_id;
    }
    return std::nullopt;
  }
  // Whether the document is offered to the peer unasked (on connect, or when it appears).
  bool offers(const std::string& peer_id, const std::string& doc_id) const {
    return share && share(peer_id, doc_id);
  }
  // False when no document is ever offered unasked: the session then skips listing the
  // documents at the hello (a server with many documents and clients pays nothing per
  // client for them).
  bool offers_anything() const { return static_cast<bool>(share); }
  // Whether a sync message for a document we do not hold creates it.
  bool creates(const std::string& /*peer_id*/, const std::string& /*doc_id*/) const {
    return accept_unknown_documents;
  }
};

}  // namespace dagsync
