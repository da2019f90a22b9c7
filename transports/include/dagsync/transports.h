// Transports: picks an adapter by URL scheme and owns the adapters. One per io_context;
// no global registry. Built-in schemes: mem (see memory_transport.h), tcp, tls, ws, wss. Custom
// adapters register with add(). Adapters log through the logger given here; without one,
// make_default_logger() (logging.h): warnings to stderr, as a Repo's default does.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "dagsync/transport.h"
#include "dagsync/url.h"

namespace asio {
class io_context;
}
namespace spdlog {
class logger;
}

namespace dagsync {

class MemoryNetwork;

class TransportAdapter {
 public:
  virtual ~TransportAdapter() = default;
  virtual std::string scheme() const = 0;
  // Throws dagsync::Error when the URL cannot be listened on (bad address, port in use).
  virtual std::unique_ptr<Listener> listen(const Url& url, const TransportOptions& options) = 0;
  // Reports the outcome through `done`, never synchronously.
  virtual void connect(const Url& url, const TransportOptions& options, ConnectHandler done) = 0;
};

class Transports {
 public:
  explicit Transports(asio::io_context& io, TransportOptions options = {},
                      std::shared_ptr<spdlog::logger> logger = nullptr);
  ~Transports();
  Transports(const Transports&) = delete;
  Transports& operator=(const Transports&) = delete;

  void add(std::unique_ptr<TransportAdapter> adapter);
  std::unique_ptr<Listener> listen(const std::string& url);
  void connect(const std::string& url, ConnectHandler done);

  MemoryNetwork& memory() { return *memory_; }
  const TransportOptions& options() const { return options_; }
  void set_options(const TransportOptions& options) { options_ = options; }
  asio::io_context& io() { return io_; }

 private:
  TransportAdapter& adapter_for(const Url& url);

  asio::io_context& io_;
  TransportOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<MemoryNetwork> memory_;
  std::map<std::string, std::unique_ptr<TransportAdapter>> adapters_;
};

}  // namespace dagsync
