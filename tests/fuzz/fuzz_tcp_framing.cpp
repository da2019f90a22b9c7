// libFuzzer target for TCP framing: the input is written raw to a real loopback connection
// served by the TCP adapter, with a 4 KiB frame limit. The adapter must deliver only whole
// frames within the limit and end with a close reason, never crash or over-allocate.
#include <asio.hpp>
#include <cstdlib>

#include "dagsync/transports.h"

using namespace dagsync;

namespace {
struct Fixture {
  asio::io_context io;
  std::unique_ptr<Transports> transports;
  std::unique_ptr<Listener> listener;
  asio::ip::tcp::endpoint endpoint;
  std::shared_ptr<Connection> accepted;
  Fixture() {
    TransportOptions options;
    options.max_frame_bytes = 4096;
    transports = std::make_unique<Transports>(io, options);
    listener = transports->listen("tcp://127.0.0.1:0");
    listener->start([this](std::shared_ptr<Connection> c) { accepted = std::move(c); });
    auto url = listener->url();
    endpoint = {asio::ip::make_address("127.0.0.1"),
                static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)))};
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  asio::ip::tcp::socket raw(f.io);
  raw.connect(f.endpoint);
  f.accepted.reset();
  while (!f.accepted) f.io.run_one();
  bool closed = false;
  f.accepted->start(
      [&](Bytes frame) {
        if (frame.size() > 4096) std::abort();
      },
      [&](const CloseReason&) { closed = true; });
  asio::write(raw, asio::buffer(data, size));
  raw.shutdown(asio::ip::tcp::socket::shutdown_send);
  while (!closed) f.io.run_one();
  f.accepted.reset();
  return 0;
}
