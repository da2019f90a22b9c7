// Static files for `serve --web DIR`: answers HTTP GETs on the automerge-repo listener's port
// with the files under DIR, so a page and the WebSocket it syncs over share one origin.
//
// Contract: GET only (others 405); "/" and a path ending in "/" mean that folder's
// index.html; the query is ignored. Refused before the disk is touched (400/403): a target
// not starting with "/", a bad or NUL percent-escape, a backslash, any segment that starts
// with "." (so "..", ".", dotfiles). After resolving symlinks the file must still lie under
// DIR (403 otherwise: no symlink leads out), be a regular file (404 otherwise) and be at
// most `max_file_bytes` (403). Content-Type by extension (.html, .js/.mjs, .css, .wasm,
// .map/.json, .svg, .png, .ico, .txt; others application/octet-stream). Files are read on
// each request: editing DIR needs no restart.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "dagsync/transport.h"

namespace dagsync::peer {

class StaticFiles {
 public:
  static constexpr std::size_t kDefaultMaxFileBytes = 32u << 20;  // the page's bundle is ~5 MB

  // Throws Failure(kExitUsage) when `dir` is not a readable folder.
  explicit StaticFiles(const std::string& dir, std::size_t max_file_bytes = kDefaultMaxFileBytes);

  HttpResponse answer(const HttpRequest& request) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;  // canonical
  std::size_t max_file_bytes_;
};

}  // namespace dagsync::peer
