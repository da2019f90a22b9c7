#include "dagsync/transports.h"

#include <spdlog/spdlog.h>
#include <asio.hpp>

#include "dagsync/error.h"
#include "dagsync/logging.h"
#include "dagsync/memory_transport.h"
#include "tcp_transport.h"
#include "ws_adapter.h"

namespace dagsync {

const char* to_string(CloseReason::Code code) {
  switch (code) {
    case CloseReason::Code::kNormal:
      return "normal";
    case CloseReason::Code::kRemoteClosed:
      return "remote closed";
    case CloseReason::Code::kFrameTooLarge:
      return "frame too large";
    case CloseReason::Code::kBadFrame:
      return "bad frame";
    case CloseReason::Code::kProtocol:
      return "protocol error";
    case CloseReason::Code::kTimeout:
      return "timeout";
    case CloseReason::Code::kNetwork:
      return "network error";
    case CloseReason::Code::kBackpressure:
      return "backpressure";
    case CloseReason::Code::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

std::string CloseReason::to_string() const {
  std::string out = dagsync::to_string(code);
  if (!message.empty()) out += ": " + message;
  return out;
}

Transports::Transports(asio::io_context& io, TransportOptions options,
                       std::shared_ptr<spdlog::logger> logger)
    : io_(io),
      options_(options),
      logger_(logger ? std::move(logger) : make_default_logger()),
      memory_(std::make_shared<MemoryNetwork>(io, logger_)) {
  adapters_["tcp"] = make_tcp_adapter(io, logger_);
  adapters_["tls"] = make_tls_adapter(io, logger_);
  adapters_["ws"] = make_ws_adapter(io, logger_);
  adapters_["wss"] = make_wss_adapter(io, logger_);
}

Transports::~Transports() = default;

void Transports::add(std::unique_ptr<TransportAdapter> adapter) {
  std::string scheme = adapter->scheme();
  adapters_[scheme] = std::move(adapter);
}

TransportAdapter& Transports::adapter_for(const Url& url) {
  if (url.scheme == "mem") return *memory_;
  auto it = adapters_.find(url.scheme);
  if (it == adapters_.end())
    throw Error("no transport for scheme '" + url.scheme + "' in " + url.to_string());
  return *it->second;
}

std::unique_ptr<Listener> Transports::listen(const std::string& url) {
  Url parsed = Url::parse(url);
  return adapter_for(parsed).listen(parsed, options_);
}

void Transports::connect(const std::string& url, ConnectHandler done) {
  Url parsed;
  try {
    parsed = Url::parse(url);
    adapter_for(parsed);
  } catch (const Error& e) {
    asio::post(io_, [done = std::move(done), what = std::string(e.what())] {
      done(nullptr, ConnectError(what, /*is_permanent=*/true));
    });
    return;
  }
  adapter_for(parsed).connect(parsed, options_, std::move(done));
}

}  // namespace dagsync
