// WebSocket adapters (ws://host:port/path, and wss:// with TLS): binary messages are frames.
#pragma once

#include <memory>

#include "dagsync/transports.h"

namespace dagsync {
std::unique_ptr<TransportAdapter> make_ws_adapter(asio::io_context& io,
                                                  std::shared_ptr<spdlog::logger> logger);
std::unique_ptr<TransportAdapter> make_wss_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger);
}  // namespace dagsync
