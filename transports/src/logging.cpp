#include "dagsync/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace dagsync {

std::shared_ptr<spdlog::logger> make_default_logger() {
  auto logger = std::make_shared<spdlog::logger>(
      "dagsync", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(spdlog::level::warn);
  return logger;
}

}  // namespace dagsync
