#include "raw_peer.h"

#include <chrono>

#include "net_helpers.h"

namespace dagsync::test {

Bytes hello_bytes(const std::string& id, std::uint64_t seq, std::uint64_t version) {
  Envelope e;
  e.type = Envelope::Type::kHello;
  e.protocol_version = version;
  e.peer_id = id;
  e.seq = seq;
  return e.encode();
}

RawPeer::RawPeer(Transports& transports, asio::io_context& io, const std::string& url) {
  std::string error;
  transports.connect(url, [&](std::shared_ptr<Connection> c, ConnectError e) {
    connection = c;
    error = e.message;
  });
  REQUIRE(run_until(
      io, [&] { return connection || !error.empty(); }, std::chrono::seconds(10)));
  REQUIRE_MESSAGE(connection, error);
  connection->start([this](Bytes f) { got.push_back(Envelope::decode(f, 1u << 30)); },
                    [this](const CloseReason& r) { closed = r; });
}

RawPeer::~RawPeer() {
  if (connection && !closed) connection->close({CloseReason::Code::kNormal, "test over"});
}

void RawPeer::send(Envelope e) {
  e.seq = next_seq();
  connection->send(e.encode());
}

void RawPeer::send_raw(Bytes frame) {
  connection->send(std::move(frame));
}

std::uint64_t RawPeer::next_seq() {
  return seq++;
}

void RawPeer::hello(const std::string& id, std::uint64_t version) {
  send_raw(hello_bytes(id, next_seq(), version));
}

void RawPeer::sync(const std::string& doc, Bytes message) {
  Envelope e;
  e.type = Envelope::Type::kSync;
  e.doc_id = doc;
  e.payload = std::move(message);
  send(e);
}

void RawPeer::sync(const std::string& doc, const SyncMessage& m) {
  sync(doc, m.encode());
}

std::string RawPeer::error_text() const {
  for (const auto& e : got) {
    if (e.type == Envelope::Type::kError) return e.error;
  }
  return "";
}

std::vector<SyncMessage> RawPeer::sync_messages(const std::string& doc) const {
  std::vector<SyncMessage> out;
  for (const auto& e : got) {
    if (e.type == Envelope::Type::kSync && e.doc_id == doc)
      out.push_back(SyncMessage::decode(e.payload));
  }
  return out;
}

}  // namespace dagsync::test
