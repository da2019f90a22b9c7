// serve --auth FILE: who may connect and what each principal may do with which documents.
//
// One principal per line; blank lines and lines starting with '#' are ignored:
//
//   <sha256 of the token, 64 hex digits> <principal> <pattern>=<read|write> ...
//
// The token itself is never stored: `dagsync-peer hash-token TOKEN` prints the hash. A
// connection's token is the one in its hello (`connect --token`), or, for WebSocket, the
// upgrade's `Authorization: Bearer` header or `?token=` query parameter. Patterns are
// shell globs (fnmatch) on document ids; the first that matches decides, and a document no
// pattern matches is invisible to the principal. Write access lets it create documents the
// pattern matches. A malformed file is a usage error naming the line.
#pragma once

#include <string>
#include <vector>

#include "dagsync/access.h"

namespace dagsync::peer {

struct AuthRule {
  std::string pattern;
  Access access = Access::kNone;
};

struct AuthEntry {
  std::string token_sha256;  // lowercase hex
  std::string principal;
  std::vector<AuthRule> rules;
};

class AuthFile {
 public:
  // Reads and checks the file; throws Failure(kExitUsage) naming the line that is wrong.
  static AuthFile load(const std::string& path);

  Authenticator authenticator() const;
  AccessPolicy access_policy() const;
  CreatePolicy create_policy() const;
  std::size_t size() const { return entries_.size(); }

 private:
  std::vector<AuthEntry> entries_;
};

// The hash an auth file stores for `token`.
std::string hash_token(const std::string& token);

}  // namespace dagsync::peer
