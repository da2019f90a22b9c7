// A client that speaks envelopes by hand through our transport adapters, to play a
// misbehaving peer: it sends whatever it is told (hellos, sync messages, frames built by
// hand) and records what the other side sends back and how the connection ended.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dagsync/dagsync.h"
#include "dagsync/repo.h"
#include "dagsync/transports.h"
#include "envelope.h"

namespace dagsync::test {

// The bytes of a hello envelope.
Bytes hello_bytes(const std::string& id, std::uint64_t seq = 0,
                  std::uint64_t version = Repo::kProtocolVersion);

struct RawPeer {
  std::shared_ptr<Connection> connection;
  std::vector<Envelope> got;
  std::optional<CloseReason> closed;
  std::uint64_t seq = 0;

  // Connects to `url` and starts recording.
  RawPeer(Transports& transports, asio::io_context& io, const std::string& url);
  // Closes the connection if it is still open.
  ~RawPeer();
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  // Sends `e` under the next seq.
  void send(Envelope e);
  // A frame built by hand: the caller puts `next_seq()` where the envelope's seq goes.
  void send_raw(Bytes frame);
  std::uint64_t next_seq();
  void hello(const std::string& id, std::uint64_t version = Repo::kProtocolVersion);
  void sync(const std::string& doc, Bytes message);
  void sync(const std::string& doc, const SyncMessage& m);

  // The text of the first error envelope received, or "".
  std::string error_text() const;
  std::vector<SyncMessage> sync_messages(const std::string& doc) const;
};

}  // namespace dagsync::test
