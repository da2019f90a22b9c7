// Logs and event lines. The library's log (spdlog) goes to stderr, warnings and up, debug
// with -v. With --log-format json, both it and the server's event lines on stdout are JSON
// lines, one object per line with "time" (UTC, ISO 8601) and the text escaped, so a log
// collector can parse them without guessing at formats.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "options.h"

namespace spdlog {
class logger;
}

namespace dagsync::peer {

std::shared_ptr<spdlog::logger> make_logger(const CommonOptions& common);

using Fields = std::vector<std::pair<std::string, std::string>>;

// One event on stdout: "<prefix>: <text>", or in JSON mode {"time", "event", fields...}.
void announce(const CommonOptions& common, const std::string& prefix, const std::string& event,
              const Fields& fields, const std::string& text);

// `text` as a JSON string literal, quotes included.
std::string json_string(const std::string& text);
std::string utc_time_text(long long unix_ms);

}  // namespace dagsync::peer
