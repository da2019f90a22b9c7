// An HTTP endpoint for Prometheus: GET /metrics answers 200 with what `render` returns
// (text format 0.0.4); any other path is 404. Served by websocketpp's HTTP handling on the
// application's io_context (no threads), as the WebSocket transport is. Compiled as C++17
// with websocketpp (see meson.build), so this header stays C++17 and free of dagsync types.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace asio {
class io_context;
}

namespace dagsync::peer {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;
  // Listens on host:port (port 0: the system chooses). Throws std::runtime_error naming
  // the address and the reason.
  MetricsHttpServer(asio::io_context& io, const std::string& host, std::uint16_t port,
                    Render render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  std::uint16_t port() const;
  void close();

  struct State;  // internal; public so the accept loop in the .cpp can name it

 private:
  std::shared_ptr<State> state_;
};

}  // namespace dagsync::peer
