// TCP adapters: tcp://host:port (frames are a 4-byte big-endian length, then the bytes) and
// tls://host:port (the same framing inside TLS, TransportOptions::tls).
#pragma once

#include <memory>

#include "dagsync/transports.h"

namespace dagsync {
std::unique_ptr<TransportAdapter> make_tcp_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger);
std::unique_ptr<TransportAdapter> make_tls_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger);
}  // namespace dagsync
