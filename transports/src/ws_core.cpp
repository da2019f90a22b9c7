// Placeholder until the websocketpp engine lands: every operation reports that WebSocket
// support is missing.
#include "ws_core.h"

#include <asio.hpp>
#include <stdexcept>

namespace dagsync::ws {

std::unique_ptr<Server> listen(asio::io_context&, const std::string&, std::uint16_t,
                               const std::string&, const Options&, std::shared_ptr<spdlog::logger>) {
  throw std::runtime_error("WebSocket support is not built yet");
}

void connect(asio::io_context& io, const std::string&, std::uint16_t, const std::string&,
             const Options&, std::shared_ptr<spdlog::logger>,
             std::function<void(std::shared_ptr<Conn>, std::string)> done) {
  asio::post(io, [done] { done(nullptr, "WebSocket support is not built yet"); });
}

}  // namespace dagsync::ws
