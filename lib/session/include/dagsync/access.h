// Access control for a Repo that accepts connections: who a peer is (authentication), what
// it may do with each document (authorization), under which actors it may author changes
// (authorship), and how much of the process one peer may use (quotas). docs/security.md.
//
// Contract:
// - The Authenticator runs once per connection, on the peer's hello, with every credential
//   the connection carries. It returns the principal the peer acts as, or nothing to refuse
//   it: the peer is told "unauthorized" (naming no document), the connection closes, and a
//   dialling dagsync peer stops retrying. Without an Authenticator every peer is the
//   principal kAnonymous.
// - A peer id belongs to the first principal that used it on this repo (recorded in
//   storage): a hello claiming it under another principal is refused, so one principal can
//   never read or overwrite another's sync states.
// - The AccessPolicy answers (principal, document) → none, read or write, and is asked on
//   every path: a document the principal cannot read is never offered or relayed to it, and
//   a request or sync for it is answered exactly as for a document that does not exist. A
//   reader's changes are neither applied nor stored; it is told once per document that it
//   may only read, and a dagsync peer then stops sending changes for it.
// - Authorship (on whenever an Authenticator is set): the principal that first brings
//   changes of an actor owns that actor (recorded in storage); a new change under an actor
//   owned by another principal is refused. Changes already held pass as before.
// - Every callback runs on the io_context thread and must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "dagsync/transport.h"

namespace dagsync {

inline constexpr const char* kAnonymous = "anonymous";

enum class Access : std::uint8_t { kNone, kRead, kWrite };

const char* to_string(Access access);

// Everything a connection offers to prove who it is.
struct Credentials {
  std::string peer_id;        // as the hello claims it
  std::string token;          // from the hello (dagsync clients: ConnectOptions::token)
  std::string address;        // the transport's description of the remote end
  PeerCredentials transport;  // bearer or query token of a WebSocket upgrade, TLS client cert
};

// The principal the peer acts as, or nothing to refuse the connection.
using Authenticator = std::function<std::optional<std::string>(const Credentials& credentials)>;
// What `principal` may do with `doc_id`.
using AccessPolicy = std::function<Access(const std::string& principal, const std::string& doc_id)>;
// Whether `principal` may bring a document this repo does not hold (asked only when its
// access to the document is kWrite).
using CreatePolicy = std::function<bool(const std::string& principal, const std::string& doc_id)>;

// Bounds on what peers may make this process hold. Zero means no bound. Without an
// Authenticator there are no principals: the per-principal bounds count per peer id.
struct Quotas {
  std::size_t max_connections = 10'000;                      // in total, before the hello
  std::size_t max_connections_per_address = 1'000;           // per remote IP address
  std::size_t max_connections_per_principal = 100;           // after authentication
  std::size_t max_documents_created_per_principal = 10'000;  // while this Repo runs
  std::size_t max_pending_changes_per_peer = 100'000;  // parked for missing deps, all documents
  std::size_t max_pending_bytes_per_peer = 64u << 20;  // their encoded bytes
};

}  // namespace dagsync
