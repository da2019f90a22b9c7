// websocketpp 0.8.2 uses Asio's pre-1.13 names, which ASIO_NO_DEPRECATED hides; see
// transports/src/ws_core.cpp.
#undef ASIO_NO_DEPRECATED

#include "metrics_http.h"

#include <asio.hpp>
#include <stdexcept>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

namespace dagsync::peer {

using HttpServer = websocketpp::server<websocketpp::config::asio>;

// Shared by the server object and the accept loop: websocketpp connections refer to their
// endpoint, so it lives as long as any of them (the pattern of ws_core.cpp).
struct MetricsHttpServer::State {
  explicit State(asio::io_context& context) : io(context), acceptor(context) {}
  asio::io_context& io;
  HttpServer endpoint;
  asio::ip::tcp::acceptor acceptor;
  Render render;
  std::uint16_t port = 0;
  bool closed = false;
};

namespace {

void accept_next(const std::shared_ptr<MetricsHttpServer::State>& state) {
  if (state->closed) return;
  HttpServer::connection_ptr con = state->endpoint.get_connection();
  if (!con) return;
  std::weak_ptr<HttpServer::connection_type> weak_con = con;
  std::weak_ptr<MetricsHttpServer::State> weak_state = state;
  con->set_http_handler([weak_con, weak_state](websocketpp::connection_hdl) {
    auto c = weak_con.lock();
    auto s = weak_state.lock();
    if (!c) return;
    std::string resource = c->get_resource();
    if (s && resource.substr(0, resource.find('?')) == "/metrics" &&
        c->get_request().get_method() == "GET") {
      c->set_status(websocketpp::http::status_code::ok);
      c->append_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      c->set_body(s->render());
    } else {
      c->set_status(websocketpp::http::status_code::not_found);
      c->append_header("Content-Type", "text/plain; charset=utf-8");
      c->set_body("not found: metrics are at /metrics\n");
    }
  });
  // Not a WebSocket endpoint: refuse upgrades.
  con->set_validate_handler([](websocketpp::connection_hdl) { return false; });
  state->acceptor.async_accept(con->get_raw_socket(), [state, con](const std::error_code& ec) {
    if (state->closed || ec == asio::error::operation_aborted) return;
    if (!ec) con->start();
    accept_next(state);
  });
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(asio::io_context& io, const std::string& host,
                                     std::uint16_t port, Render render)
    : state_(std::make_shared<State>(io)) {
  state_->render = std::move(render);
  state_->endpoint.clear_access_channels(websocketpp::log::alevel::all);
  state_->endpoint.clear_error_channels(websocketpp::log::elevel::all);
  websocketpp::lib::error_code wec;
  state_->endpoint.init_asio(&io, wec);
  if (wec) throw std::runtime_error("metrics: cannot set up HTTP: " + wec.message());
  state_->endpoint.set_max_http_body_size(0);  // we take GETs only

  std::string what = "metrics on " + host + ":" + std::to_string(port);
  std::error_code ec;
  auto address = asio::ip::make_address(host.empty()          ? "::"
                                        : host == "localhost" ? "127.0.0.1"
                                                              : host,
                                        ec);
  if (ec) throw std::runtime_error("cannot listen for " + what + ": not an IP address");
  asio::ip::tcp::endpoint endpoint(address, port);
  state_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state_->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) state_->acceptor.bind(endpoint, ec);
  if (!ec) state_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) state_->port = state_->acceptor.local_endpoint(ec).port();
  if (ec) throw std::runtime_error("cannot listen for " + what + ": " + ec.message());
  accept_next(state_);
}

MetricsHttpServer::~MetricsHttpServer() {
  close();
}

std::uint16_t MetricsHttpServer::port() const {
  return state_->port;
}

void MetricsHttpServer::close() {
  if (state_->closed) return;
  state_->closed = true;
  std::error_code ignored;
  state_->acceptor.close(ignored);
}

}  // namespace dagsync::peer
