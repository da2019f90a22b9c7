// Internal: the hello capability that says a peer resumes sessions (docs/sessions.md#resuming)
// and names its store: "resume/2=<Storage::store_id()>". Version 2 adds the goodbye that
// ends a resumed session closed on purpose (Envelope::Type::kGoodbye): a peer that resumes
// also answers one. A peer without it (an older one, or
// one whose storage does not track changes) is offered documents as before. Capabilities are
// the one hello field older peers carry without looking inside, so the feature costs them
// nothing.
//
// Contract: find_resume_capability() returns nothing when no capability starts with
// "resume/2=", the store id when exactly one does and 32 lowercase hex characters follow,
// and an error naming the problem otherwise (a malformed id, two of them): the hello is
// then refused before anything is loaded or admitted.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace dagsync {

inline constexpr const char* kResumeCapability = "resume/2=";
inline constexpr std::size_t kStoreIdChars = 32;

inline bool is_store_id(const std::string& id) {
  if (id.size() != kStoreIdChars) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

struct ResumeError {
  std::string problem;
};

// The peer's store id, nothing (it does not resume), or why its capability is refused.
// Other versions ("resume/1=...", "resume/3=...") are ignored, as an older peer ignores ours, so a
// newer peer may offer several.
inline std::variant<std::monostate, std::string, ResumeError> find_resume_capability(
    const std::vector<std::string>& capabilities) {
  std::variant<std::monostate, std::string, ResumeError> found;
  const std::string prefix = kResumeCapability;
  for (const auto& c : capabilities) {
    if (c.rfind(prefix, 0) != 0) continue;
    if (std::holds_alternative<std::string>(found)) {
      return ResumeError{"hello: more than one " + prefix + " capability"};
    }
    std::string id = c.substr(prefix.size());
    if (!is_store_id(id)) {
      return ResumeError{"hello: " + prefix + " capability: the store id must be " +
                         std::to_string(kStoreIdChars) + " lowercase hex characters"};
    }
    found = std::move(id);
  }
  return found;
}

}  // namespace dagsync
