// Internal: opening a listening TCP socket, shared by the TCP adapter and the WebSocket
// server (ws_core.cpp, compiled as C++17: this header stays C++17 and free of transport.h).
//
// Contract: open_listening() resolves `host` (an address literal, "localhost" as 127.0.0.1,
// or a name: its first result), then opens, binds with SO_REUSEADDR and listens. On any
// failure it throws std::runtime_error naming the step, the host and the OS's reason; the
// acceptor is then closed.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace dagsync::net {

inline asio::ip::tcp::endpoint resolve_for_listen(asio::io_context& io, const std::string& host,
                                                  std::uint16_t port) {
  std::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (!ec) return {address, port};
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve " + host + ": " + ec.message());
  return *results.begin();
}

// Returns the port bound (the OS's choice when `port` is 0).
inline std::uint16_t open_listening(asio::ip::tcp::acceptor& acceptor, asio::io_context& io,
                                    const std::string& host, std::uint16_t port,
                                    const std::string& what) {
  auto endpoint = resolve_for_listen(io, host, port);
  std::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) {
    auto bound = acceptor.local_endpoint(ec);
    if (!ec) return bound.port();
  }
  std::error_code ignored;
  acceptor.close(ignored);
  throw std::runtime_error("cannot listen on " + what + ": " + ec.message());
}

}  // namespace dagsync::net
