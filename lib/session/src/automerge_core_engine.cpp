// The AutomergeSyncEngine over the core's Automerge sync protocol: one per (peer, document),
// holding Automerge's sync state for that peer between messages.
#include "dagsync/automerge/sync.h"
#include "dagsync/automerge_sync.h"
#include "dagsync/error.h"

namespace dagsync {

namespace {

class CoreAutomergeEngine : public AutomergeSyncEngine {
 public:
  CoreAutomergeEngine(ChangeGraph& graph, const std::optional<Bytes>& saved,
                      const SyncLimits& limits)
      : graph_(graph), limits_(limits) {
    if (!saved) return;
    try {
      state_ = automerge::SyncState::decode(*saved, limits_);
    } catch (const Error&) {
      // A lost or unreadable state only costs a fuller first sync.
      state_ = {};
    }
  }

  std::vector<ChangeHash> receive(ByteView message, bool apply_changes) override {
    automerge::SyncMessage decoded = automerge::SyncMessage::decode(message, limits_);
    automerge::SyncOptions options;
    options.read_only = !apply_changes;
    // receive_sync_message leaves graph and state unchanged when it throws.
    return automerge::receive_sync_message(graph_, state_, decoded, options).status.applied;
  }

  std::optional<Bytes> generate() override {
    auto message = automerge::generate_sync_message(graph_, state_);
    if (!message) return std::nullopt;
    return message->encode();
  }

  std::optional<Bytes> saved_state() const override { return state_.encode(); }

  bool peer_has_our_changes() const override {
    if (!state_.their_heads) return false;
    return graph_.covered_by(held_of_theirs());
  }

  bool in_sync() const override {
    return peer_has_our_changes() && held_of_theirs().size() == state_.their_heads->size();
  }

 private:
  // The heads the peer last reported that we hold.
  std::vector<ChangeHash> held_of_theirs() const {
    std::vector<ChangeHash> held;
    for (const auto& h : *state_.their_heads) {
      if (graph_.has(h)) held.push_back(h);
    }
    return held;
  }

  ChangeGraph& graph_;
  SyncLimits limits_;
  automerge::SyncState state_;
};

}  // namespace

AutomergeSyncEngineFactory core_automerge_sync_engine(const SyncLimits& limits) {
  return [limits](ChangeGraph& graph,
                  const std::optional<Bytes>& saved) -> std::unique_ptr<AutomergeSyncEngine> {
    if (graph.format() != ChangeFormat::kAutomerge) return nullptr;
    return std::make_unique<CoreAutomergeEngine>(graph, saved, limits);
  };
}

}  // namespace dagsync
