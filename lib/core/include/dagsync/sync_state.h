// SyncState: what one peer knows about one other peer for one document.
//
// Only shared_heads (the heads both sides are known to hold) survives encode()/decode();
// every other field describes the current connection, so a decoded (or new) state starts a
// connection with those at their initial values. A decoded state may be stale (either side
// may have lost data since) and the protocol still converges from it. A state that was
// used on a connection that may have lost a message must not be reused as it is: the
// protocol records what it sent as received (docs/protocol.md, "Delivery and
// retransmission"); persist it with encode() and start the next connection from decode().
//
// In normal use generate_sync_message and receive_sync_message are its only writers. The
// fields are public so tests and tools can inspect (and, for protocol tests, tamper with)
// them; applications treat them as opaque.
#pragma once

#include <optional>
#include <set>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/ids.h"
#include "dagsync/sync_message.h"

namespace dagsync {

struct SyncState {
  static constexpr std::uint64_t kVersion = 1;

  // --- Persisted by encode().

  // Heads of a set of changes both sides are known to hold, sorted: our `have` describes
  // what we hold beyond them (those of them we still hold). Set by receive_sync_message: it
  // becomes the peer's heads when we hold all of them, else gains those we hold, and it
  // advances to the new heads that the peer's changes gave us. Never cleared; it may name
  // changes we have since lost, which generate_sync_message then leaves out.
  std::vector<ChangeHash> shared_heads;

  // --- Per connection: initial values after decode().

  // Our heads as last announced to the peer. Set by generate_sync_message with every
  // message it returns; cleared by receive_sync_message when the peer's heads show that it
  // lost data, so that ours are announced again. Changed heads are a reason to send.
  std::vector<ChangeHash> last_sent_heads;
  // Our `need` as last sent. Set by generate_sync_message with every message it returns
  // (emptied by a reset, which asks for nothing). A changed need is a reason to send.
  std::vector<ChangeHash> last_sent_need;
  // The heads, need and have of the peer's latest message, absent until one arrives. Set
  // together by every receive_sync_message, so "a message has been received" and "their_have
  // and their_need are present" mean the same. generate_sync_message answers them: what the
  // peer lacks is judged from them, and its heads we lack become our need.
  std::optional<std::vector<ChangeHash>> their_heads;
  std::optional<std::vector<ChangeHash>> their_need;
  std::optional<std::vector<Have>> their_have;
  // The summary of the peer's latest message; absent if that message carried none. Set with
  // the three above.
  std::optional<Summary> their_summary;
  // The peer could not use our summary and asked for filters. Set by receive_sync_message
  // and kept for the connection: from then on we describe our history completely (the
  // root-only summary or a filter), never by a partial summary.
  bool their_want_filter = false;
  // We could not use the peer's summary and asked for filters. Set by generate_sync_message
  // at most once a connection; every later message repeats the request.
  bool want_filter_sent = false;
  // Changes sent on this connection and not yet known to have arrived. generate_sync_message
  // adds each change it sends and sends none of them again, not even for a `need` (messages
  // cross, so such a need usually predates the delivery). receive_sync_message removes those
  // the peer's heads cover, and all of them when the peer's heads show that it lost data. A
  // complete message sent while the peer is silent forgets, once there are more than 1,024, those
  // behind the heads the peer is expected to hold (a silent peer never reports heads).
  std::set<ChangeHash> sent_hashes;
  // We sent a message and the peer has not answered since. Set by generate_sync_message,
  // cleared by receive_sync_message. No rule of the protocol reads it; callers may (to tell a
  // reply to our message from an unprompted one).
  bool in_flight = false;
  // We have sent at least one message on this connection. Set by generate_sync_message;
  // until then it always returns a message, so that the peer hears from us once.
  bool have_responded = false;
  // We answered the peer's current `have` with a reset: its last_sync names changes we do
  // not hold (we lost data), so its filter tells us nothing. Set by generate_sync_message,
  // cleared by every receive_sync_message: at most one reset per message received, and
  // meanwhile only the peer's explicit `need` is served.
  bool reset_sent = false;
  // A read-only receive (ReceiveOptions::apply_changes = false) ignored changes we do not
  // hold. The peer counts them as sent and will not send them again by itself. Set by
  // receive_sync_message; a later receive that applies changes clears it and sets ask_again.
  bool changes_ignored = false;
  // We apply changes again after ignoring some: the next message carries the resend flag,
  // and the peer forgets its sent_hashes (docs/protocol.md, "Read-only receiving"). Set by
  // receive_sync_message, cleared by generate_sync_message once that message has gone (or
  // when we need nothing).
  bool ask_again = false;
  // Messages generated and received on this connection. Every message carries the number
  // received, so the peer can tell a reply to its latest message from one that crossed it.
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
  // Our heads as of our latest `complete` message, until the peer replies to it: the peer
  // holds them once it has applied that message (the channel delivers every message), and
  // stays silent when it then has exactly these heads. has_our_changes counts them as the
  // peer's, and shared_heads becomes them; shared_before_complete keeps what shared_heads
  // was, and a reply to our message (which says what the peer really holds) starts from it
  // again. Both cleared by such a reply.
  std::optional<std::vector<ChangeHash>> expected_heads;
  std::vector<ChangeHash> shared_before_complete;
  // The peer's latest message was `complete` and left us with other heads than its own (we
  // ignored its changes, or hold more): we must answer, or it would count our silence as
  // holding its heads. Set by receive_sync_message, cleared by the next message generated.
  bool answer_due = false;
  // We described our history (summary or filter) on this connection; a `complete` message
  // that omits the description leaves the peer with this one. Set by generate_sync_message.
  bool described = false;

  Bytes encode() const;
  // Throws DecodeError on malformed bytes, an unknown version or more than `max_heads`.
  static SyncState decode(ByteView bytes, std::size_t max_heads = 65'536);
};

}  // namespace dagsync
