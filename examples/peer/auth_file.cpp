#include "auth_file.h"

#include <fnmatch.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "dagsync/core.h"
#include "exit_codes.h"
#include "options.h"

namespace dagsync::peer {

namespace {

bool is_hex_hash(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Who each token hash belongs to, and each principal's rules: shared by the callbacks.
struct Table {
  std::map<std::string, std::string> principal_of;  // token hash -> principal
  std::map<std::string, std::vector<AuthRule>> rules_of;
  Access access(const std::string& principal, const std::string& doc_id) const {
    auto it = rules_of.find(principal);
    if (it == rules_of.end()) return Access::kNone;
    for (const auto& rule : it->second) {
      if (fnmatch(rule.pattern.c_str(), doc_id.c_str(), 0) == 0) return rule.access;
    }
    return Access::kNone;
  }
};

std::shared_ptr<Table> table_of(const std::vector<AuthEntry>& entries) {
  auto table = std::make_shared<Table>();
  for (const auto& e : entries) {
    table->principal_of[e.token_sha256] = e.principal;
    table->rules_of[e.principal] = e.rules;
  }
  return table;
}

}  // namespace

std::string hash_token(const std::string& token) {
  return sha256(as_bytes(token)).hex();
}

AuthFile AuthFile::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Failure(kExitUsage, "--auth: cannot read " + path);
  AuthFile file;
  std::map<std::string, int> seen_hash, seen_principal;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto where = path + ":" + std::to_string(number) + ": ";
    std::istringstream words(line);
    std::string hash;
    if (!(words >> hash) || hash[0] == '#') continue;
    AuthEntry entry;
    entry.token_sha256 = hash;
    if (!is_hex_hash(hash)) {
      throw Failure(kExitUsage, where +
                                    "expected the token's SHA-256 as 64 lowercase hex digits "
                                    "(dagsync-peer hash-token TOKEN prints it)");
    }
    if (!(words >> entry.principal)) throw Failure(kExitUsage, where + "expected a principal");
    if (seen_hash.count(hash)) {
      throw Failure(kExitUsage,
                    where + "this token is already on line " + std::to_string(seen_hash[hash]));
    }
    if (seen_principal.count(entry.principal)) {
      throw Failure(kExitUsage, where + "principal " + entry.principal + " is already on line " +
                                    std::to_string(seen_principal[entry.principal]));
    }
    std::string rule;
    while (words >> rule) {
      auto eq = rule.rfind('=');
      std::string pattern = eq == std::string::npos ? "" : rule.substr(0, eq);
      std::string access = eq == std::string::npos ? "" : rule.substr(eq + 1);
      if (pattern.empty() || (access != "read" && access != "write")) {
        throw Failure(kExitUsage,
                      where + "expected PATTERN=read or PATTERN=write, got '" + rule + "'");
      }
      entry.rules.push_back({pattern, access == "read" ? Access::kRead : Access::kWrite});
    }
    if (entry.rules.empty()) {
      throw Failure(kExitUsage, where + "give " + entry.principal +
                                    " at least one PATTERN=read|write (e.g. '*=write')");
    }
    seen_hash[hash] = number;
    seen_principal[entry.principal] = number;
    file.entries_.push_back(std::move(entry));
  }
  if (file.entries_.empty()) throw Failure(kExitUsage, "--auth: " + path + " names no principal");
  return file;
}

Authenticator AuthFile::authenticator() const {
  auto table = table_of(entries_);
  return [table](const Credentials& c) -> std::optional<std::string> {
    // The hello's token first, then what a browser can send on the upgrade.
    for (const std::string* token :
         {&c.token, &c.transport.bearer_token, &c.transport.query_token}) {
      if (token->empty()) continue;
      auto it = table->principal_of.find(hash_token(*token));
      if (it != table->principal_of.end()) return it->second;
    }
    return std::nullopt;
  };
}

AccessPolicy AuthFile::access_policy() const {
  auto table = table_of(entries_);
  return [table](const std::string& principal, const std::string& doc_id) {
    return table->access(principal, doc_id);
  };
}

CreatePolicy AuthFile::create_policy() const {
  auto table = table_of(entries_);
  return [table](const std::string& principal, const std::string& doc_id) {
    return table->access(principal, doc_id) == Access::kWrite;
  };
}

int hash_token_command(const std::string& token) {
  std::printf("%s\n", hash_token(token).c_str());
  return kExitOk;
}

}  // namespace dagsync::peer
