// Storage: where a Repo keeps documents' changes and per-peer sync states.
//
// Contract: append_changes() stores changes durably before it returns (as durably as the
// backend can); load_changes() returns every change appended for the document, in an order
// in which they can be re-applied, each verified against its hash. Sync states are opaque
// bytes (SyncState::encode) per (document, peer). Methods throw dagsync::Error on failure,
// naming the document. Called only from the Repo's io_context thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/change.h"

namespace dagsync {

class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::vector<std::string> list_documents() = 0;
  virtual std::vector<Change> load_changes(const std::string& doc_id) = 0;
  virtual void append_changes(const std::string& doc_id, std::span<const Change> changes) = 0;
  virtual std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                               const std::string& peer_id) = 0;
  virtual void save_sync_state(const std::string& doc_id, const std::string& peer_id,
                               ByteView state) = 0;
};

}  // namespace dagsync
