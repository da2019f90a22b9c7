#include "static_files.h"

#include <fstream>
#include <optional>
#include <string_view>
#include <system_error>

#include "exit_codes.h"

namespace dagsync::peer {

namespace fs = std::filesystem;

namespace {

HttpResponse text(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body) + "\n"};
}

std::string_view content_type(const fs::path& file) {
  std::string ext = file.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".wasm") return "application/wasm";
  if (ext == ".map" || ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The path part of the target, percent-decoded; nothing when an escape is malformed or
// decodes to NUL.
std::optional<std::string> decoded_path(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  std::string out;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] != '%') {
      out += target[i];
      continue;
    }
    if (i + 2 >= target.size()) return std::nullopt;
    int hi = hex_digit(target[i + 1]), lo = hex_digit(target[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// True when `path` (canonical) is `root` or lies under it.
bool within(const fs::path& root, const fs::path& path) {
  auto rel = path.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

StaticFiles::StaticFiles(const std::string& dir, std::size_t max_file_bytes)
    : max_file_bytes_(max_file_bytes) {
  std::error_code ec;
  root_ = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(root_, ec)) {
    throw Failure(kExitUsage,
                  "--web " + dir + ": not a folder" + (ec ? " (" + ec.message() + ")" : ""));
  }
}

HttpResponse StaticFiles::answer(const HttpRequest& request) const {
  if (request.method != "GET") {
    return text(405, "method not allowed: only GET is served");
  }
  auto path = decoded_path(request.target);
  if (!path || path->empty() || path->front() != '/' || path->find('\\') != std::string::npos) {
    return text(400, "bad request: not a path this server serves");
  }
  // Segment by segment: a segment starting with "." ("..", ".", dotfiles) is refused, so the
  // joined path cannot climb out of the root before symlinks are considered.
  fs::path relative;
  std::size_t start = 1;
  while (start <= path->size()) {
    std::size_t end = path->find('/', start);
    if (end == std::string::npos) end = path->size();
    std::string segment = path->substr(start, end - start);
    if (!segment.empty() && segment.front() == '.') {
      return text(403, "forbidden: path segments may not start with '.'");
    }
    if (!segment.empty()) relative /= segment;
    start = end + 1;
  }
  if (path->back() == '/') relative /= "index.html";

  std::error_code ec;
  fs::path file = fs::canonical(root_ / relative, ec);  // follows every symlink
  if (ec) return text(404, "not found");
  if (!within(root_, file)) return text(403, "forbidden: outside the served folder");
  if (fs::is_directory(file, ec))
    return text(404, "not found (a folder: ask for it with a trailing /)");
  if (!fs::is_regular_file(file, ec)) return text(404, "not found");
  auto size = fs::file_size(file, ec);
  if (ec) return text(404, "not found");
  if (size > max_file_bytes_) {
    return text(403, "forbidden: the file is over the server's size cap of " +
                         std::to_string(max_file_bytes_) + " bytes");
  }
  std::ifstream in(file, std::ios::binary);
  std::string body(static_cast<std::size_t>(size), '\0');
  if (!in.read(body.data(), static_cast<std::streamsize>(body.size()))) {
    return text(500, "the file could not be read");
  }
  return HttpResponse{200, std::string(content_type(file)), std::move(body)};
}

}  // namespace dagsync::peer
