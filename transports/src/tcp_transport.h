// TCP adapter (tcp://host:port): frames are a 4-byte big-endian length, then the bytes.
#pragma once

#include <memory>

#include "dagsync/transports.h"

namespace dagsync {
std::unique_ptr<TransportAdapter> make_tcp_adapter(asio::io_context& io,
                                                   std::shared_ptr<spdlog::logger> logger);
}
