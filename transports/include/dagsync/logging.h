// The logger dagsync uses when the application gives none: named "dagsync", writing
// warnings and errors to stderr, and not registered in spdlog's global registry (each
// Transports or Repo owns its own). Transports and Repo both default to it, so nothing
// the library warns about is silent by default; pass a logger with a null sink to silence.
#pragma once

#include <memory>

namespace spdlog {
class logger;
}

namespace dagsync {

std::shared_ptr<spdlog::logger> make_default_logger();

}  // namespace dagsync
