// Internal: every decision about who a peer may be and which documents it may see, in one
// place. The SessionMachine asks it at each point where a peer could learn of, receive or
// create a document; nothing else in the session layer makes these decisions.
//
// It holds the RepoOptions settings (share policy, authenticator, access and create
// policies, accept_unknown_documents), the expected peer id and token of a dialled
// connection, and, once the hello is accepted, the principal the peer acts as.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "dagsync/access.h"

namespace dagsync {

struct SessionPolicy {
  std::string local_peer_id;
  std::string expected_peer_id;  // empty: any peer
  std::string token;             // sent in our hello (a dialled connection's credentials)
  std::string address;           // the remote end, for the authenticator
  PeerCredentials transport;     // what the connection carries
  // Whether a document is offered to the peer unasked; empty: never.
  std::function<bool(const std::string& peer_id, const std::string& doc_id)> share;
  Authenticator authenticate;  // empty: every peer is kAnonymous
  AccessPolicy access;         // empty: kWrite everywhere
  CreatePolicy may_create;     // empty: accept_unknown_documents decides
  bool accept_unknown_documents = true;
  // Authorship checks (access.h): on whenever peers are authenticated.
  bool enforce_authorship() const { return static_cast<bool>(authenticate); }

  std::string principal;  // set when the hello is accepted

  // Why a hello from `peer_id` is refused, or nothing when it is accepted.
  std::optional<std::string> refuse_hello(const std::string& peer_id) const {
    if (peer_id == local_peer_id) return std::string("connected to itself");
    if (!expected_peer_id.empty() && peer_id != expected_peer_id) {
      return "expected peer " + expected_peer_id + ", got a hello from " + peer_id;
    }
    return std::nullopt;
  }
  // The principal for a hello claiming `peer_id` with `token`, or nothing: refused.
  std::optional<std::string> authenticate_hello(const std::string& peer_id,
                                                const std::string& hello_token) const {
    if (!authenticate) return std::string(kAnonymous);
    return authenticate(Credentials{peer_id, hello_token, address, transport});
  }
  Access access_to(const std::string& doc_id) const {
    return access ? access(principal, doc_id) : Access::kWrite;
  }
  bool may_read(const std::string& doc_id) const { return access_to(doc_id) != Access::kNone; }
  // Whether the document is offered to the peer unasked (on connect, or when it appears).
  bool offers(const std::string& peer_id, const std::string& doc_id) const {
    return share && share(peer_id, doc_id) && may_read(doc_id);
  }
  // False when no document is ever offered unasked: the session then skips listing the
  // documents at the hello (a server with many documents and clients pays nothing per
  // client for them).
  bool offers_anything() const { return static_cast<bool>(share); }
  // Whether a sync message for a document we do not hold creates it.
  bool creates(const std::string& /*peer_id*/, const std::string& doc_id) const {
    if (access_to(doc_id) != Access::kWrite) return false;
    return may_create ? may_create(principal, doc_id) : accept_unknown_documents;
  }
};

}  // namespace dagsync
