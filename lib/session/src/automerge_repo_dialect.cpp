#include "dagsync/error.h"
#include "dagsync/repo.h"
#include "wire_dialect.h"

namespace dagsync {

namespace {
using AmType = AutomergeRepoMessage::Type;

DecodedFrame error(std::string text) {
  DecodedFrame out;
  out.kind = DecodedFrame::Kind::kError;
  out.error = std::move(text);
  return out;
}

DecodedFrame message(Envelope e) {
  DecodedFrame out;
  out.kind = DecodedFrame::Kind::kMessage;
  out.message = std::move(e);
  return out;
}
}  // namespace

Bytes AutomergeRepoDialect::encode(Envelope e) {
  AutomergeRepoMessage m;
  m.sender_id = local_peer_id_;
  m.target_id = remote_peer_id_;
  m.document_id = e.doc_id;
  switch (e.type) {
    case Envelope::Type::kHello:
      m.type = AmType::kPeer;
      m.sender_id = e.peer_id;
      m.has_peer_metadata = true;
      m.storage_id = storage_id_;
      m.is_ephemeral = false;
      m.selected_protocol_version = std::string(AutomergeRepoMessage::kProtocolV1);
      break;
    case Envelope::Type::kSync:
      m.type = AmType::kSync;
      m.data = std::move(e.payload);
      break;
    case Envelope::Type::kRequest:
      m.type = AmType::kRequest;
      m.data = std::move(e.payload);
      break;
    case Envelope::Type::kUnavailable:
      m.type = AmType::kDocUnavailable;
      break;
    case Envelope::Type::kEphemeral:
      // Relayed unchanged but for the target: the original sender, its session and count.
      m.type = AmType::kEphemeral;
      m.sender_id = e.peer_id;
      m.session_id = e.session_id;
      m.count = e.count;
      m.data = std::move(e.payload);
      break;
    case Envelope::Type::kError:
      m.type = AmType::kError;
      m.error = e.error;
      break;
    case Envelope::Type::kHeartbeat:
    case Envelope::Type::kReadOnly:
    case Envelope::Type::kGoodbye:  // automerge-repo peers never resume
      return {};
  }
  return m.encode();
}

DecodedFrame AutomergeRepoDialect::decode(ByteView frame) {
  AutomergeRepoMessage m;
  try {
    m = AutomergeRepoMessage::decode(frame, limits_);
  } catch (const DecodeError& e) {
    return error(std::string("malformed automerge-repo message: ") + e.what());
  }
  Envelope e;
  if (m.type == AmType::kJoin) {
    if (!remote_peer_id_.empty()) {
      if (m.sender_id == remote_peer_id_) return {};  // a repeated join: nothing new
      return error("a second join, as " + m.sender_id + " after " + remote_peer_id_);
    }
    remote_peer_id_ = m.sender_id;
    e.type = Envelope::Type::kHello;
    e.peer_id = m.sender_id;
    bool v1 = !m.supported_protocol_versions;
    if (m.supported_protocol_versions) {
      for (const auto& v : *m.supported_protocol_versions)
        v1 = v1 || v == AutomergeRepoMessage::kProtocolV1;
    }
    // Anything but "1" is a version this server does not speak: the machine refuses it.
    e.protocol_version = v1 ? Repo::kProtocolVersion : 0;
    return message(std::move(e));
  }
  if (remote_peer_id_.empty()) {
    return error(std::string("expected join, got ") + to_string(m.type));
  }
  if (m.sender_id != remote_peer_id_) return {};  // not from the peer of this socket
  e.doc_id = m.document_id;
  switch (m.type) {
    case AmType::kSync:
      e.type = Envelope::Type::kSync;
      e.payload = std::move(m.data);
      return message(std::move(e));
    case AmType::kRequest:
      e.type = Envelope::Type::kRequest;
      e.payload = std::move(m.data);
      return message(std::move(e));
    case AmType::kDocUnavailable:
      e.type = Envelope::Type::kUnavailable;
      return message(std::move(e));
    case AmType::kEphemeral:
      e.type = Envelope::Type::kEphemeral;
      e.peer_id = m.sender_id;
      e.session_id = m.session_id;
      e.count = m.count;
      e.payload = std::move(m.data);
      return message(std::move(e));
    case AmType::kError:
      e.type = Envelope::Type::kError;
      e.error = m.error;
      return message(std::move(e));
    case AmType::kPeer:
      return error("a peer message from a client (this side is the server)");
    case AmType::kJoin:  // handled above
    case AmType::kLeave:
    case AmType::kRemoteSubscriptionChange:
    case AmType::kRemoteHeadsChanged:
      return {};
  }
  return {};
}

}  // namespace dagsync
