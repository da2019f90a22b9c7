// Hostile peers against a Repo server over real TCP and WebSocket connections (loopback,
// ports chosen by the OS). Every case runs for both schemes against a server that also serves
// a well-behaved client Repo, and shows four things:
//   1. a clear error: the error envelope the attacker receives and/or the server's log;
//   2. the attacker's session is closed (its server-side connection reports why);
//   3. other sessions are unaffected: the well-behaved client is never disconnected and
//      keeps syncing in both directions after the attack;
//   4. memory stays within the configured limits (asserted: pending changes, send queue,
//      the largest single allocation while hostile counts are parsed, documents created).
//
// The server accepts through Repo::accept behind a Spy connection, so the test sees each
// server-side connection's queued bytes and close reason without touching the library.
//
// What is enforced, as exercised here:
// - Hashes are never taken on trust: a change is known by the SHA-256 of the bytes that
//   arrived. Altered bytes are another change (refused as equivocation if it collides with
//   a held actor/seq); hashes named in heads or deps that nobody can produce stay missing,
//   are asked for with `need`, and what waits on them is pending, bounded by GraphLimits.
// - Counts are checked against the limit and the bytes left before anything is allocated.
// - The TCP idle timeout counts whole frames (the timer re-arms only when a frame is
//   complete); the WebSocket one counts whole messages, pings and pongs. A peer dribbling a
//   frame slower than that is cut however many bytes it keeps sending. A dribbled WebSocket
//   upgrade is cut by the handshake timeout.
#include <array>
#include <asio.hpp>
#include <atomic>
#include <cstdlib>
#include <new>

#include "dagsync/url.h"
#include "envelope.h"
#include "encoding/msgpack_io.h"
#include "net_helpers.h"
#include "wire.h"

// ---- allocation tracking ------------------------------------------------------------------
// Replaces the global allocation functions of this test binary with malloc/free: while
// tracking is on, operator new records the largest single request, so a test can assert that
// a hostile count did not make the server allocate in proportion to the claim. Off by default,
// and then it is plain malloc. Every non-aligned form is replaced, so that new and delete
// always pair up (also under AddressSanitizer, which checks that they do).
namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<std::size_t> g_largest_allocation{0};

void* tracked_malloc(std::size_t size) noexcept {
  if (g_track_allocations.load(std::memory_order_relaxed)) {
    std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
    while (size > seen &&
           !g_largest_allocation.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
    }
  }
  return std::malloc(size == 0 ? 1 : size);
}
void* tracked_new(std::size_t size) {
  if (void* p = tracked_malloc(size)) return p;
  throw std::bad_alloc();
}
}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC sees free() inlined where it cannot tell that operator new is malloc here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  return tracked_new(size);
}
void* operator new[](std::size_t size) {
  return tracked_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return tracked_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return tracked_malloc(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kSchemes = {"tcp", "ws"};

// Records the largest allocation made while it exists.
struct LargestAllocation {
  LargestAllocation() {
    g_largest_allocation = 0;
    g_track_allocations = true;
  }
  ~LargestAllocation() { g_track_allocations = false; }
  std::size_t bytes() const { return g_largest_allocation.load(); }
};

RepoOptions options_for(const std::string& id) {
  RepoOptions o;
  o.peer_id = id;
  o.logger = quiet_logger();
  o.heartbeat_interval = 0ms;
  o.reconnect.initial = 5ms;
  o.reconnect.max = 100ms;
  return o;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

Bytes concat(Bytes a, ByteView b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Change make_change(std::uint8_t actor_n, std::uint64_t seq, std::vector<ChangeHash> deps,
                   const std::string& payload) {
  ChangeFields f;
  f.actor = actor(actor_n);
  f.seq = seq;
  f.deps = std::move(deps);
  f.payload = text(payload);
  return Change::build(std::move(f));
}

// A hash nobody can produce the bytes for.
ChangeHash nonexistent(const std::string& label) {
  return sha256(as_bytes("no change hashes to this: " + label));
}

// A server-side connection as the Repo sees it, recording what the test needs to know.
struct Spy : Connection {
  std::shared_ptr<Connection> inner;
  std::size_t max_queued = 0;
  std::optional<CloseReason> closed;

  explicit Spy(std::shared_ptr<Connection> c) : inner(std::move(c)) {}
  void note() { max_queued = std::max(max_queued, inner->queued_bytes()); }
  void start(FrameHandler on_frame, CloseHandler on_close) override {
    inner->start(std::move(on_frame), [this, on_close](const CloseReason& r) {
      closed = r;
      on_close(r);
    });
  }
  bool send(Bytes frame) override {
    bool ok = inner->send(std::move(frame));
    note();
    return ok;
  }
  void close(CloseReason reason) override { inner->close(std::move(reason)); }
  void pause_reading(bool paused) override { inner->pause_reading(paused); }
  bool is_open() const override { return inner->is_open(); }
  std::size_t queued_bytes() const override { return inner->queued_bytes(); }
  std::string description() const override { return inner->description(); }
};

// A client speaking envelopes by hand through our transport adapters (as in
// test_sessions.cpp), to play a misbehaving peer.
struct RawPeer {
  std::shared_ptr<Connection> connection;
  std::shared_ptr<Spy> spy;  // the server's side of this connection
  std::vector<Envelope> got;
  std::optional<CloseReason> closed;
  std::uint64_t seq = 0;

  RawPeer(Transports& transports, asio::io_context& io, const std::string& url) {
    std::string error;
    transports.connect(url, [&](std::shared_ptr<Connection> c, std::string e) {
      connection = c;
      error = e;
    });
    REQUIRE(run_until(
        io, [&] { return connection || !error.empty(); }, 10s));
    REQUIRE_MESSAGE(connection, error);
    connection->start([this](Bytes f) { got.push_back(Envelope::decode(f, 1u << 30)); },
                      [this](const CloseReason& r) { closed = r; });
  }
  ~RawPeer() {
    if (connection && !closed) connection->close({CloseReason::Code::kNormal, "test over"});
  }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  void send(Envelope e) {
    e.seq = seq++;
    connection->send(e.encode());
  }
  // A frame built by hand: the caller puts `next_seq()` where the envelope's seq goes.
  void send_raw(Bytes frame) { connection->send(std::move(frame)); }
  std::uint64_t next_seq() { return seq++; }
  void hello(const std::string& id, std::uint64_t version = Repo::kProtocolVersion) {
    Envelope e;
    e.type = Envelope::Type::kHello;
    e.protocol_version = version;
    e.peer_id = id;
    send(e);
  }
  void sync(const std::string& doc, Bytes message) {
    Envelope e;
    e.type = Envelope::Type::kSync;
    e.doc_id = doc;
    e.payload = std::move(message);
    send(e);
  }
  void sync(const std::string& doc, const SyncMessage& m) { sync(doc, m.encode()); }
  std::string error_text() const {
    for (const auto& e : got) {
      if (e.type == Envelope::Type::kError) return e.error;
    }
    return "";
  }
  std::vector<SyncMessage> sync_messages(const std::string& doc) const {
    std::vector<SyncMessage> out;
    for (const auto& e : got) {
      if (e.type == Envelope::Type::kSync && e.doc_id == doc)
        out.push_back(SyncMessage::decode(e.payload));
    }
    return out;
  }
};

// A plain asio TCP socket, under none of our adapters: for byte-level attacks (frame
// headers, dribbling, a hand-made WebSocket upgrade). Its handlers hold it alive; close()
// lets them go.
struct RawSocket : std::enable_shared_from_this<RawSocket> {
  asio::io_context& io;
  asio::ip::tcp::socket socket;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::array<char, 4096> buffer{};
  std::string received;
  bool ended = false;  // the server closed (or reset) the connection
  std::size_t dribbled = 0;
  bool write_failed = false;

  RawSocket(asio::io_context& context, const std::string& url) : io(context), socket(context) {
    Url u = Url::parse(url);
    socket.connect({asio::ip::make_address(u.host), u.port});
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void read_more() {
    socket.async_read_some(asio::buffer(buffer),
                           [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
                             if (ec) {
                               if (ec != asio::error::operation_aborted) self->ended = true;
                               return;
                             }
                             self->received.append(self->buffer.data(), n);
                             self->read_more();
                           });
  }
  void close() {
    for (auto& t : timers) t->cancel();
    std::error_code ignored;
    socket.close(ignored);
  }
  void write(ByteView bytes) {
    std::error_code ec;
    asio::write(socket, asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) write_failed = true;
  }
  void write(const std::string& s) { write(as_bytes(s)); }

  // Sends `bytes` one at a time, the k-th (from 1) at now + k * interval. Every byte's timer
  // is armed up front with its absolute expiry, so the bytes keep their place among the
  // server's timers however busy the loop is.
  void dribble(const Bytes& bytes, std::chrono::milliseconds interval) {
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      timers.push_back(std::make_unique<asio::steady_timer>(io));
      timers.back()->expires_at(start + interval * static_cast<int>(i + 1));
      timers.back()->async_wait(
          [self = shared_from_this(), byte = bytes[i]](const std::error_code& ec) {
            if (ec || self->ended || self->write_failed) return;
            self->write(Bytes{byte});
            if (!self->write_failed) ++self->dribbled;
          });
    }
  }

  // The WebSocket opening handshake, by hand. Returns the server's status line.
  std::string upgrade(const std::string& url) {
    write(upgrade_request(url));
    REQUIRE(run_until(
        io, [&] { return contains(received, "\r\n\r\n") || ended; }, 10s));
    std::string status = received.substr(0, received.find("\r\n"));
    received.erase(0, received.find("\r\n\r\n") + 4);
    return status;
  }
  static std::string upgrade_request(const std::string& url) {
    Url u = Url::parse(url);
    return "GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + std::to_string(u.port) +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }
};

// Closes a RawSocket when the test is done with it.
struct SocketCloser {
  std::shared_ptr<RawSocket> socket;
  ~SocketCloser() {
    if (socket) socket->close();
  }
};

// A masked client-to-server WebSocket frame (RFC 6455) carrying `payload`.
Bytes ws_frame(ByteView payload, std::uint8_t opcode = 0x2) {
  Bytes f{static_cast<std::uint8_t>(0x80 | opcode)};
  std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | n));
  } else if (n < 65536) {
    f.insert(f.end(), {0x80 | 126, std::uint8_t(n >> 8), std::uint8_t(n)});
  } else {
    f.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f.push_back(std::uint8_t(n >> shift));
  }
  const std::uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.insert(f.end(), mask, mask + 4);
  for (std::size_t i = 0; i < n; ++i) f.push_back(payload[i] ^ mask[i % 4]);
  return f;
}

// A TCP frame of our adapter: 4-byte big-endian length, then the bytes.
Bytes tcp_frame(ByteView payload) {
  auto n = static_cast<std::uint32_t>(payload.size());
  Bytes f{std::uint8_t(n >> 24), std::uint8_t(n >> 16), std::uint8_t(n >> 8), std::uint8_t(n)};
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

Bytes hello_bytes(const std::string& id, std::uint64_t seq = 0) {
  Envelope e;
  e.type = Envelope::Type::kHello;
  e.protocol_version = Repo::kProtocolVersion;
  e.peer_id = id;
  e.seq = seq;
  return e.encode();
}

// A server Repo (accepting through Spy connections) and a well-behaved client Repo that
// syncs document "doc" with it, on one io_context.
struct Arena {
  asio::io_context& io;
  std::string scheme;
  CapturedLog log;            // the server Repo's log
  CapturedLog transport_log;  // the server's transports
  Transports client_transports;
  Transports server_transports;
  std::vector<std::shared_ptr<Spy>> spies;
  std::unique_ptr<Listener> listener;
  std::string url;
  std::unique_ptr<Repo> server;
  std::vector<PeerEvent> server_events;
  Subscription server_sub;
  std::unique_ptr<Repo> good;
  std::vector<PeerEvent> good_events;
  Subscription good_sub;

  Arena(asio::io_context& context, std::string s,
        const std::function<void(RepoOptions&)>& tweak_server = {},
        TransportOptions server_transport_options = {},
        const std::function<void(RepoOptions&)>& tweak_good = {})
      : io(context),
        scheme(std::move(s)),
        client_transports(context, {}, quiet_logger()),
        server_transports(context, server_transport_options, transport_log.logger) {
    RepoOptions so = options_for("server");
    so.logger = log.logger;
    if (tweak_server) tweak_server(so);
    server = std::make_unique<Repo>(io, server_transports, so);
    server_sub = server->on_peer_event([this](const PeerEvent& e) { server_events.push_back(e); });
    listener = server_transports.listen(listen_url(scheme, ""));
    url = listener->url();
    listener->start([this](std::shared_ptr<Connection> c) {
      auto spy = std::make_shared<Spy>(std::move(c));
      spies.push_back(spy);
      server->accept(spy);
    });

    RepoOptions go = options_for("good");
    if (tweak_good) tweak_good(go);
    good = std::make_unique<Repo>(io, client_transports, go);
    good_sub = good->on_peer_event([this](const PeerEvent& e) { good_events.push_back(e); });
    for (int i = 0; i < 3; ++i) good->commit("doc", text("good " + std::to_string(i)));
    good->connect(url, "server");
    REQUIRE(run_until(
        io, [&] { return converged("doc") && spies.size() == 1; }, 10s));
  }

  ChangeGraph& doc(const std::string& id = "doc") {
    ChangeGraph* g = server->find(id);
    REQUIRE(g != nullptr);
    return *g;
  }

  // Server and client hold the same applied history of `id` (the server may also hold
  // pending changes an attacker left behind).
  bool converged(const std::string& id) {
    ChangeGraph* s = server->find(id);
    ChangeGraph* g = good->find(id);
    return s && g && s->heads() == g->heads() && s->size() == g->size() && g->pending_count() == 0;
  }

  std::unique_ptr<RawPeer> attacker(const std::string& hello_as = "") {
    std::size_t before = spies.size();
    auto raw = std::make_unique<RawPeer>(client_transports, io, url);
    REQUIRE(run_until(
        io, [&] { return spies.size() > before; }, 10s));
    raw->spy = spies.back();
    if (!hello_as.empty()) {
      raw->hello(hello_as);
      REQUIRE(run_until(
          io, [&] { return connected(hello_as); }, 10s));
    }
    return raw;
  }

  // A raw socket; for ws, `upgrade` performs the opening handshake and waits for the
  // server's side of the connection.
  std::shared_ptr<RawSocket> raw_socket(bool upgrade = true) {
    std::size_t before = spies.size();
    auto raw = std::make_shared<RawSocket>(io, url);
    raw->read_more();
    if (scheme == "ws") {
      if (!upgrade) return raw;
      CHECK(contains(raw->upgrade(url), "101"));
    }
    REQUIRE(run_until(
        io, [&] { return spies.size() > before; }, 10s));
    return raw;
  }

  bool connected(const std::string& peer) const {
    for (const auto& p : server->peers()) {
      if (p.peer_id == peer && p.connected) return true;
    }
    return false;
  }

  // Waits until the attacker's session is gone from the server.
  void wait_closed(const Spy& spy) {
    REQUIRE(run_until(
        io, [&] { return spy.closed.has_value(); }, 10s));
    REQUIRE(run_until(
        io, [&] { return server->peers().size() == 1; }, 10s));
    CHECK(server->peers()[0].peer_id == "good");
  }
  // ... and until the attacker has seen the end (after the error envelope, if any).
  void wait_closed(const RawPeer& raw) {
    wait_closed(*raw.spy);
    REQUIRE(run_until(
        io, [&] { return raw.closed.has_value(); }, 10s));
  }

  // The well-behaved client was never dropped and still syncs both ways.
  void good_keeps_syncing(const std::string& label) {
    Change c = good->commit("doc", text("good after " + label));
    Change s = server->commit("doc", text("server after " + label));
    REQUIRE(run_until(
        io,
        [&] {
          return server->find("doc")->has(c.hash()) && good->find("doc")->has(s.hash()) &&
                 converged("doc");
        },
        10s));
    CHECK(std::none_of(good_events.begin(), good_events.end(), [&](const PeerEvent& e) {
      return e.address == url && (e.kind == PeerEvent::Kind::kDisconnected ||
                                  e.kind == PeerEvent::Kind::kConnectFailed);
    }));
    CHECK(spies.front()->is_open());
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("hostile peers: forged hashes and deps naming nonexistent changes") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    GraphLimits limits;
    limits.max_pending_changes = 50;
    Arena arena(io, scheme, [&](RepoOptions& o) { o.graph_limits = limits; });
    const Change genuine = arena.good->find("doc")->changes().front();
    const auto heads_before = arena.doc().heads();
    const auto size_before = arena.doc().size();

    // (a) A change's bytes altered so that they no longer decode.
    {
      auto raw = arena.attacker("forger-a");
      SyncMessage m;
      m.heads = {genuine.hash()};
      m.changes = {genuine};
      Bytes wire = m.encode();
      auto at =
          std::search(wire.begin(), wire.end(), genuine.bytes().begin(), genuine.bytes().end());
      REQUIRE(at != wire.end());
      at[1] = 0x02;  // the change's version field
      raw->sync("doc", wire);
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), "document doc: bad sync message: sync message: change 0"));
      CHECK(contains(raw->error_text(), "unsupported version 2"));
      CHECK(contains(arena.log.text(), "bad sync message"));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
    }

    // (b) A held change's payload altered: it decodes, but to another hash than the one the
    // message claims in its heads. The server hashes what arrived: same actor and seq as the
    // genuine change, different content, so it is refused as equivocation naming both.
    {
      auto raw = arena.attacker("forger-b");
      Bytes altered(genuine.bytes().begin(), genuine.bytes().end());
      altered.back() ^= 0xff;  // the payload is the tail of the encoding
      Change forged = Change::decode(altered);
      REQUIRE(forged.hash() != genuine.hash());
      SyncMessage m;
      m.heads = {genuine.hash()};  // the claim
      m.changes = {forged};
      raw->sync("doc", m);
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document doc: refused changes: equivocation"));
      CHECK(contains(error, genuine.hash().hex()));
      CHECK(contains(error, forged.hash().hex()));
      CHECK(contains(arena.log.text(), forged.hash().hex()));
      CHECK_FALSE(arena.doc().has(forged.hash()));
      CHECK_FALSE(arena.doc().is_pending(forged.hash()));
    }
    CHECK(arena.doc().heads() == heads_before);
    CHECK(arena.doc().size() == size_before);

    // (c) A change whose deps name hashes nobody holds. Not an error (deps may arrive
    // later): it waits as pending, within GraphLimits, and the server asks for the missing
    // hashes with `need`. Nothing claimed is believed: the named hashes stay missing.
    // (d) A chain whose first change was altered in transit: the second names the original
    // hash as its dep. The server holds the altered change under the hash of its bytes and
    // never the claimed one; the second waits for a hash that can no longer be applied.
    {
      auto raw = arena.attacker("dangler");
      const ChangeHash ghost1 = nonexistent("1"), ghost2 = nonexistent("2");
      Change dangling = make_change(0xc1, 1, {ghost1, ghost2}, "dangling");
      SyncMessage m;
      m.heads = {dangling.hash()};
      m.changes = {dangling};
      raw->sync("doc", m);

      Change c1 = make_change(0xc2, 1, {}, "chain 1");
      Change c2 = make_change(0xc2, 2, {c1.hash()}, "chain 2");
      Bytes altered(c1.bytes().begin(), c1.bytes().end());
      altered.back() ^= 0x01;
      Change c1_forged = Change::decode(altered);
      SyncMessage chain;
      chain.heads = {c2.hash()};
      chain.changes = {c1_forged, c2};
      raw->sync("chain", chain);

      auto asked_for = [&](const std::string& doc, const ChangeHash& h) {
        for (const auto& msg : raw->sync_messages(doc)) {
          if (std::find(msg.need.begin(), msg.need.end(), h) != msg.need.end()) return true;
        }
        return false;
      };
      REQUIRE(run_until(io, [&] {
        return asked_for("doc", ghost1) && asked_for("doc", ghost2) &&
               asked_for("chain", c1.hash());
      }));
      ChangeGraph& doc = arena.doc();
      CHECK(doc.is_pending(dangling.hash()));
      CHECK_FALSE(doc.has(ghost1));
      CHECK_FALSE(doc.has(ghost2));
      CHECK(doc.heads() == heads_before);
      CHECK(doc.size() == size_before);
      CHECK(doc.pending_count() <= limits.max_pending_changes);
      ChangeGraph& forged_chain = arena.doc("chain");
      CHECK(forged_chain.has(c1_forged.hash()));  // known by the hash of its bytes
      CHECK_FALSE(forged_chain.has(c1.hash()));   // never by the claimed one
      CHECK(forged_chain.is_pending(c2.hash()));
      CHECK(forged_chain.heads() == std::vector<ChangeHash>{c1_forged.hash()});
      for (const Change& c : forged_chain.changes()) CHECK(sha256(c.bytes()) == c.hash());
      CHECK(raw->error_text().empty());
      CHECK(raw->spy->is_open());
      // The attacker leaves; what it left waiting stays bounded.
      raw->connection->close({CloseReason::Code::kNormal, "bye"});
      arena.wait_closed(*raw);
      CHECK(doc.pending_count() <= limits.max_pending_changes);
    }

    arena.good_keeps_syncing("forgeries");
    CHECK(arena.doc().pending_count() == 1);  // the dangling change, still waiting
    // The server relays the attacker's document like any other, but only what it accepted:
    // changes known by the hash of their bytes, never the dangling one it still holds back.
    REQUIRE(run_until(io, [&] { return arena.good->find("chain") != nullptr; }));
    ChangeGraph& relayed = *arena.good->find("chain");
    REQUIRE(run_until(io, [&] { return relayed.heads() == arena.doc("chain").heads(); }));
    for (const Change& c : relayed.changes()) CHECK(sha256(c.bytes()) == c.hash());
    CHECK(relayed.size() == arena.doc("chain").size());
    CHECK(relayed.pending_count() == 0);
    CHECK(arena.doc("chain").pending_count() == 1);
  }
}

TEST_CASE("hostile peers: equivocating changes are refused naming both hashes") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Arena arena(io, scheme);
    const auto heads_before = arena.doc().heads();
    const auto size_before = arena.doc().size();

    // (a) Two different changes for one actor and seq, in one message, for a new document.
    {
      auto raw = arena.attacker("liar-a");
      Change x = make_change(0xa1, 1, {}, "x");
      Change y = make_change(0xa1, 1, {}, "y");
      SyncMessage m;
      m.heads = {x.hash(), y.hash()};
      m.changes = {x, y};
      raw->sync("fresh", m);
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document fresh: refused changes: equivocation: actor " +
                                actor(0xa1).hex() + " seq 1 is both"));
      CHECK(contains(error, x.hash().hex()));
      CHECK(contains(error, y.hash().hex()));
      CHECK(contains(arena.log.text(), y.hash().hex()));
      ChangeGraph* fresh = arena.server->find("fresh");
      CHECK((fresh == nullptr || fresh->size() + fresh->pending_count() == 0));
      // A refused message creates no document, so none can spread to later peers.
      CHECK(arena.server->find("fresh") == nullptr);
      {
        Repo late(io, arena.client_transports, options_for("late"));
        late.connect(arena.url, "server");
        // The server offers all its documents at once on hello: wait for as many messages.
        const std::size_t offered = arena.server->documents().size();
        REQUIRE(run_until(io, [&] {
          auto peers = late.peers();
          return !peers.empty() && peers[0].sync_messages_received >= offered &&
                 arena.converged("doc") && late.find("doc") &&
                 late.find("doc")->heads() == arena.doc().heads();
        }));
        CHECK(late.find("fresh") == nullptr);
      }
      REQUIRE(run_until(io, [&] { return arena.server->peers().size() == 1; }));
    }

    // (b) A change under the good client's actor and seq 1 with other content: it collides
    // with applied history.
    {
      auto raw = arena.attacker("liar-b");
      const Change genuine = arena.good->find("doc")->changes().front();
      ChangeFields f;
      f.actor = genuine.actor();
      f.seq = genuine.seq();
      f.payload = text("not what good wrote");
      Change forged = Change::build(f);
      SyncMessage m;
      m.heads = {forged.hash()};
      m.changes = {forged};
      raw->sync("doc", m);
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document doc: refused changes: equivocation: actor " +
                                genuine.actor().hex() + " seq 1 is both " + genuine.hash().hex() +
                                " and " + forged.hash().hex()));
      CHECK(contains(arena.log.text(), "refused changes: equivocation"));
      CHECK(arena.doc().heads() == heads_before);
      CHECK(arena.doc().size() == size_before);
    }

    // (c) The same actor and seq in two messages: the first is accepted, the second refused.
    {
      auto raw = arena.attacker("liar-c");
      Change x = make_change(0xa3, 1, {}, "first story");
      Change y = make_change(0xa3, 1, {}, "second story");
      SyncMessage m1;
      m1.heads = {x.hash()};
      m1.changes = {x};
      raw->sync("eq", m1);
      REQUIRE(run_until(
          io, [&] { return arena.server->find("eq") && arena.server->find("eq")->has(x.hash()); }));
      const auto eq_heads = arena.doc("eq").heads();
      SyncMessage m2;
      m2.heads = {y.hash()};
      m2.changes = {y};
      raw->sync("eq", m2);
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), "is both " + x.hash().hex() + " and " + y.hash().hex()));
      CHECK(arena.doc("eq").heads() == eq_heads);
      CHECK_FALSE(arena.doc("eq").has(y.hash()));
      CHECK(arena.doc("eq").pending_count() == 0);
    }

    arena.good_keeps_syncing("equivocation");
  }
}

TEST_CASE("hostile peers: counts promising more than the bytes hold") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    SyncLimits sl;
    sl.max_message_bytes = 256u << 10;
    sl.max_hashes = 1024;
    sl.max_changes = 256;
    sl.change.max_change_bytes = 32u << 10;
    TransportOptions to;
    to.max_frame_bytes = 64u << 10;
    Arena arena(
        io, scheme, [&](RepoOptions& o) { o.sync_limits = sl; }, to);
    // Every claim below is 2^32-1 elements or bytes (or more than the frame holds); none may
    // cost the server more than a frame's worth of memory.
    const std::size_t bound = to.max_frame_bytes;

    struct Attack {
      std::string name;
      bool after_hello;
      std::function<Bytes(std::uint64_t seq)> frame;
      std::string expect;  // in the error envelope
    };
    auto sync_frame = [](Bytes payload_head) {
      // [1, sync, seq, "victim", bin(payload)] with the payload given verbatim.
      return [payload_head](std::uint64_t seq) {
        Envelope e;
        e.type = Envelope::Type::kSync;
        e.seq = seq;
        e.doc_id = "victim";
        e.payload = payload_head;
        return e.encode();
      };
    };
    const Bytes kArray32Max = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const Bytes kBin32Max = {0xc6, 0xff, 0xff, 0xff, 0xff};
    std::vector<Attack> attacks = {
        {"envelope: array32 of 2^32-1 fields", false,
         [&](std::uint64_t) {
           return concat(kArray32Max, Bytes{0x01, 0x01, 0x00});
         },
         "malformed frame: envelope: fields: array of 4294967295 exceeds limit 6"},
        {"envelope: capabilities array32 of 2^32-1", false,
         [&](std::uint64_t seq) {
           Bytes head = pack([&](MsgpackWriter& w) {
             w.array(6);
             w.uint(1);
             w.uint(1);
             w.uint(seq);
             w.uint(1);
             w.str("capable");
           });
           return concat(concat(head, kArray32Max), Bytes{0xa1, 'x'});
         },
         "capabilities: array of 4294967295 exceeds limit 32"},
        {"envelope: bin32 message of 4 GiB", true,
         [&](std::uint64_t seq) {
           Bytes head = pack([&](MsgpackWriter& w) {
             w.array(5);
             w.uint(1);
             w.uint(2);
             w.uint(seq);
             w.str("victim");
           });
           return concat(concat(head, kBin32Max), Bytes{0x95, 0x01});
         },
         "malformed frame: envelope: message: binary of 4294967295 bytes exceeds limit 262144"},
        {"envelope: bin32 message of 192 KiB in a few bytes", true,
         [&](std::uint64_t seq) {
           Bytes head = pack([&](MsgpackWriter& w) {
             w.array(5);
             w.uint(1);
             w.uint(2);
             w.uint(seq);
             w.str("victim");
           });
           return concat(concat(head, Bytes{0xc6, 0x00, 0x03, 0x00, 0x00}), Bytes{0x95, 0x01});
         },
         "message: truncated: needs 196608 bytes, 2 left"},
        {"sync message: heads bin32 of 4 GiB", true,
         sync_frame(concat(concat(Bytes{0x97, 0x02}, kBin32Max), Bytes{0x90, 0x90, 0x90})),
         "bad sync message: sync message: heads: binary of 4294967295 bytes exceeds limit 32768"},
        {"sync message: heads bin16 of 32000 bytes in 3", true,
         sync_frame(Bytes{0x97, 0x02, 0xc5, 0x7d, 0x00, 0x90, 0x90, 0x90}),
         "bad sync message: sync message: heads: truncated: needs 32000 bytes, 3 left"},
        {"sync message: changes bin32 of 4 GiB", true,
         sync_frame(concat(Bytes{0x97, 0x02, 0xc4, 0x00, 0xc4, 0x00, 0x90}, kBin32Max)),
         "bad sync message: sync message: changes: binary of 4294967295 bytes exceeds limit"},
        {"sync message: changes bin8 of 200 bytes in 1", true,
         sync_frame(Bytes{0x97, 0x02, 0xc4, 0x00, 0xc4, 0x00, 0x90, 0xc4, 0xc8, 0xc4}),
         "bad sync message: sync message: changes: truncated: needs 200 bytes, 1 left"},
        {"sync message: a change whose payload claims 4 GiB", true, sync_frame([&] {
           Bytes change = pack([&](MsgpackWriter& w) {
             w.array(7);
             w.uint(1);
             w.id(actor(0xd1));
             w.uint(1);
             w.array(0);
             w.nil();
             w.nil();
           });
           change = concat(change, kBin32Max);
           return pack([&](MsgpackWriter& w) {
             w.array(7);
             w.uint(2);
             w.bin({});
             w.bin({});
             w.array(0);
             w.bin(change);
             w.nil();
             w.uint(0);
           });
         }()),
         "change 0: change: payload: binary of 4294967295 bytes exceeds limit 32768"},
        {"sync message: a change's deps array32 of 2^32-1", true, sync_frame([&] {
           // A change whose content claims 2^32-1 deps.
           Bytes change = pack([&](MsgpackWriter& w) {
             w.array(7);
             w.uint(1);
             w.id(actor(0xd1));
             w.uint(1);
           });
           change = concat(concat(change, kArray32Max), Bytes{0xc0, 0xc0, 0xc4, 0x00});
           return pack([&](MsgpackWriter& w) {
             w.array(7);
             w.uint(2);
             w.bin({});
             w.bin({});
             w.array(0);
             w.bin(change);
             w.nil();
             w.uint(0);
           });
         }()),
         "change 0: change: deps: array of 4294967295 exceeds limit 1024"},
    };

    for (const auto& attack : attacks) {
      CAPTURE(attack.name);
      auto raw = arena.attacker(attack.after_hello ? "counter" : "");
      std::size_t largest = 0;
      {
        LargestAllocation track;
        raw->send_raw(attack.frame(raw->next_seq()));
        REQUIRE(run_until(
            io, [&] { return raw->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), attack.expect));
      CHECK(contains(arena.log.text(), attack.expect));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
      CHECK(largest <= bound);
      CHECK(arena.server->find("victim") == nullptr);
    }

    // Below the envelope: a transport frame header announcing 4 GiB.
    {
      auto raw = arena.raw_socket();
      SocketCloser closer{raw};
      auto spy = arena.spies.back();
      std::size_t largest = 0;
      {
        LargestAllocation track;
        if (scheme == "tcp") {
          raw->write(Bytes{0xff, 0xff, 0xff, 0xff});
        } else {
          // FIN + binary, masked, 64-bit length 2^32-1, then the mask key.
          raw->write(Bytes{0x82, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4});
        }
        REQUIRE(run_until(
            io, [&] { return spy->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      CHECK(spy->closed->code == CloseReason::Code::kFrameTooLarge);
      CHECK(contains(spy->closed->message, scheme == "tcp" ? "4294967295" : "65536"));
      CHECK(largest <= bound);
      REQUIRE(run_until(
          io, [&] { return raw->ended; }, 10s));
      REQUIRE(run_until(
          io, [&] { return arena.server->peers().size() == 1; }, 10s));
    }

    // A header announcing a frame at the limit, then nothing: what the server sets aside
    // for the announced frame is bounded by max_frame_bytes (4 bytes can pin that much).
    {
      auto raw = arena.raw_socket();
      SocketCloser closer{raw};
      auto spy = arena.spies.back();
      std::size_t largest = 0;
      {
        LargestAllocation track;
        if (scheme == "tcp") {
          raw->write(Bytes{0x00, 0x01, 0x00, 0x00});  // 65536 bytes follow
        } else {
          raw->write(Bytes{0x82, 0xfe, 0xff, 0xff, 1, 2, 3, 4});  // 65535 bytes follow
        }
        raw->socket.shutdown(asio::ip::tcp::socket::shutdown_send);  // then the end
        REQUIRE(run_until(
            io, [&] { return spy->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      CHECK(spy->closed->code == CloseReason::Code::kNetwork);
      if (scheme == "tcp")
        CHECK(spy->closed->message == "connection lost mid-frame: body 0 of 65536 bytes");
      CHECK(largest <= bound);
      MESSAGE("frame at the limit, never sent: largest allocation " << largest << " bytes");
      REQUIRE(run_until(
          io, [&] { return arena.server->peers().size() == 1; }, 10s));
    }

    CHECK(arena.server->documents() == std::vector<std::string>{"doc"});
    arena.good_keeps_syncing("counts");
  }
}

TEST_CASE("hostile peers: Bloom filters with absurd parameters") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    SyncLimits sl;
    sl.max_bloom_entries = 1000;
    sl.max_bloom_bits_per_entry = 16;
    sl.max_bloom_probes = 8;
    TransportOptions to;
    to.max_frame_bytes = 64u << 10;
    Arena arena(
        io, scheme, [&](RepoOptions& o) { o.sync_limits = sl; }, to);
    const std::size_t bound = to.max_frame_bytes;

    auto with_bloom = message_with_bloom_field;
    auto bin = [](std::size_t n) { return pack([&](MsgpackWriter& w) { w.bin(Bytes(n, 0xff)); }); };
    struct Attack {
      std::string name;
      Bytes message;
      std::string expect;
    };
    std::vector<Attack> attacks = {
        {"zero bits per entry", with_bloom(8, 0, 7, bin(1)), "bits per entry 0 outside 1..16"},
        {"a billion probes", with_bloom(8, 10, 1'000'000'000, bin(10)),
         "probe count 1000000000 outside 1..8"},
        {"entries not matching the bit array", with_bloom(100, 10, 7, bin(3)),
         "3 bytes of bits, parameters imply 125"},
        {"no entries but bits", with_bloom(0, 10, 7, bin(5)), "no entries but 5 bytes of bits"},
        {"2^32-1 entries", with_bloom(0xffffffff, 10, 7, bin(4)),
         "4294967295 entries exceed limit 1000"},
        {"entries beyond 32 bits", with_bloom(1ull << 40, 10, 7, bin(4)),
         "bloom.entries: integer out of range"},
        {"bit array bin32 of 4 GiB", with_bloom(1000, 16, 8, Bytes{0xc6, 0xff, 0xff, 0xff, 0xff}),
         "bloom.bits: binary of 4294967295 bytes exceeds limit 2000"},
    };
    for (const auto& attack : attacks) {
      CAPTURE(attack.name);
      auto raw = arena.attacker("bloomer");
      std::size_t largest = 0;
      {
        LargestAllocation track;
        raw->sync("victim", attack.message);
        REQUIRE(run_until(
            io, [&] { return raw->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document victim: bad sync message: sync message: "));
      CHECK(contains(error, attack.expect));
      CHECK(contains(arena.log.text(), attack.expect));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
      CHECK(largest <= bound);
      CHECK(arena.server->find("victim") == nullptr);
    }
    arena.good_keeps_syncing("bloom");
  }
}

TEST_CASE("hostile peers: a flood of changes with missing deps hits the pending bound") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    GraphLimits limits;
    limits.max_pending_changes = 50;
    limits.max_pending_bytes = 16u << 10;
    Arena arena(io, scheme, [&](RepoOptions& o) { o.graph_limits = limits; });
    const auto size_before = arena.doc().size();

    // By count: 8 dangling changes per message, on the document the good client syncs.
    {
      auto raw = arena.attacker("flooder");
      int actor_n = 0;
      for (int msg = 0; msg < 20; ++msg) {
        SyncMessage m;
        for (int i = 0; i < 8; ++i, ++actor_n) {
          m.changes.push_back(make_change(static_cast<std::uint8_t>(actor_n), 1,
                                          {nonexistent(std::to_string(actor_n))}, "flood"));
          m.heads.push_back(m.changes.back().hash());
        }
        raw->sync("doc", m);
      }
      std::size_t max_pending = 0;
      REQUIRE(run_until(io, [&] {
        max_pending = std::max(max_pending, arena.doc().pending_count());
        return raw->closed.has_value();
      }));
      arena.wait_closed(*raw);
      max_pending = std::max(max_pending, arena.doc().pending_count());
      CHECK(contains(raw->error_text(),
                     "document doc: refused changes: pending limit: 56 changes waiting for deps "
                     "exceed 50"));
      CHECK(contains(arena.log.text(), "pending limit: 56 changes"));
      CHECK(max_pending <= limits.max_pending_changes);
      CHECK(arena.doc().pending_count() == 48);  // six messages fitted, the seventh did not
      CHECK(arena.doc().size() == size_before);
    }

    // By bytes: 4 KiB dangling changes on another document.
    {
      auto raw = arena.attacker("heavy");
      for (int i = 0; i < 10; ++i) {
        SyncMessage m;
        m.changes = {make_change(static_cast<std::uint8_t>(0x80 + i), 1,
                                 {nonexistent("heavy" + std::to_string(i))},
                                 std::string(4096, 'h'))};
        m.heads = {m.changes[0].hash()};
        raw->sync("heavy", m);
      }
      std::size_t max_bytes = 0;
      REQUIRE(run_until(io, [&] {
        if (auto* g = arena.server->find("heavy"))
          max_bytes = std::max(max_bytes, g->pending_bytes());
        return raw->closed.has_value();
      }));
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), "document heavy: refused changes: pending limit: "));
      CHECK(contains(raw->error_text(), "bytes waiting for deps exceed 16384"));
      CHECK(max_bytes <= limits.max_pending_bytes);
      CHECK(arena.doc("heavy").pending_bytes() <= limits.max_pending_bytes);
      CHECK(arena.doc("heavy").pending_count() == 3);
    }

    // Spread over documents the attacker creates, no single graph exceeds the bound and
    // nothing is refused: GraphLimits bound each document, not a peer or the Repo. (With
    // accept_unknown_documents, the default, one peer can therefore park up to
    // max_pending_changes / max_pending_bytes in as many documents as it names.)
    {
      auto raw = arena.attacker("spreader");
      for (int d = 0; d < 4; ++d) {
        SyncMessage m;
        for (int i = 0; i < 40; ++i) {
          m.changes.push_back(make_change(static_cast<std::uint8_t>(i), 1,
                                          {nonexistent("spread" + std::to_string(d * 100 + i))},
                                          "spread"));
          m.heads.push_back(m.changes.back().hash());
        }
        raw->sync("spread" + std::to_string(d), m);
      }
      REQUIRE(run_until(io, [&] {
        auto* last = arena.server->find("spread3");
        return last && last->pending_count() == 40;
      }));
      std::size_t total = 0;
      for (int d = 0; d < 4; ++d) {
        std::size_t n = arena.doc("spread" + std::to_string(d)).pending_count();
        CHECK(n <= limits.max_pending_changes);
        total += n;
      }
      CHECK(raw->error_text().empty());
      CHECK(raw->spy->is_open());
      MESSAGE(scheme << ": one peer parked " << total << " pending changes over 4 documents (bound "
                     << limits.max_pending_changes << " per document)");
      raw->connection->close({CloseReason::Code::kNormal, "bye"});
      arena.wait_closed(*raw);
    }

    arena.good_keeps_syncing("flood");
    CHECK(arena.doc().pending_count() <= limits.max_pending_changes);
  }
}

TEST_CASE("hostile peers: a peer that never reads is closed on a bounded send queue") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    TransportOptions to;
    to.max_send_queue_bytes = 1u << 20;
    Arena arena(io, scheme, {}, to);
    // A document whose whole history (16 x 16 KiB) the attacker can ask for again and again.
    for (int i = 0; i < 16; ++i)
      arena.server->commit("big", Bytes(16u << 10, static_cast<std::uint8_t>(i)));
    REQUIRE(run_until(io, [&] { return arena.converged("big"); }));
    const Spy& good_spy = *arena.spies.front();

    auto raw = arena.attacker("sloth");
    raw->connection->pause_reading(true);
    // Requests alternate between claiming the server's heads (so the server forgets what it
    // sent) and claiming an empty history (a peer that lost everything): the server answers
    // every second request with the whole history (~256 KiB).
    SyncMessage holds_all, lost_all;
    holds_all.heads = arena.doc("big").heads();
    holds_all.have.push_back(Have{});
    lost_all.have.push_back(Have{});
    int requests = 0;
    std::size_t max_queued = 0;
    REQUIRE(run_until(
        io,
        [&] {
          raw->spy->note();
          max_queued = std::max(max_queued, raw->spy->max_queued);
          if (raw->spy->closed) return true;
          if (requests < 4000) {
            raw->sync("big", requests % 2 ? holds_all : lost_all);
            ++requests;
          }
          return false;
        },
        20s));
    arena.wait_closed(*raw->spy);  // it does not read: it sees nothing yet
    CHECK(raw->spy->closed->code == CloseReason::Code::kBackpressure);
    CHECK(contains(raw->spy->closed->message, "send queue full"));
    CHECK(contains(arena.log.text(), "disconnected (backpressure: send queue full"));
    CHECK(max_queued <= to.max_send_queue_bytes);
    CHECK(raw->spy->max_queued <= to.max_send_queue_bytes);
    MESSAGE(scheme << ": closed after " << requests << " requests, at most " << max_queued
                   << " bytes queued");
    // When the attacker finally reads, it finds the connection gone.
    raw->connection->pause_reading(false);
    REQUIRE(run_until(io, [&] { return raw->closed.has_value(); }));
    CHECK(raw->error_text().empty());  // nothing more could be queued for it

    arena.good_keeps_syncing("slow consumer");
    CHECK(good_spy.max_queued <= to.max_send_queue_bytes);
  }
}

TEST_CASE("hostile peers: a peer that dribbles bytes is cut by the idle or handshake timeout") {
  const auto idle = 250ms;
  const auto interval = 100ms;
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    TransportOptions to;
    to.idle_timeout = idle;
    to.handshake_timeout = idle;
    // The good client beats often enough to stay within the server's idle timeout.
    Arena arena(io, scheme, {}, to, [](RepoOptions& o) { o.heartbeat_interval = 50ms; });

    // A whole hello, then the next frame one byte every 100 ms. Bytes keep arriving, but no
    // frame completes: the idle timeout counts whole frames (TCP) or whole messages, pings
    // and pongs (WebSocket), so the connection is cut 250 ms after the hello.
    Envelope request;
    request.type = Envelope::Type::kRequest;
    request.seq = 1;
    request.doc_id = std::string(40, 'd');
    const Bytes payload = request.encode();
    const Bytes frame = scheme == "tcp" ? tcp_frame(payload) : ws_frame(payload);
    {
      auto raw = arena.raw_socket();
      SocketCloser closer{raw};
      auto spy = arena.spies.back();
      Bytes hello = hello_bytes("dribbler");
      // The dribble starts before the server can have read the hello, so its first two bytes
      // are due before the server's idle timer (re-armed by the hello) expires.
      auto start = std::chrono::steady_clock::now();
      raw->write(scheme == "tcp" ? tcp_frame(hello) : ws_frame(hello));
      raw->dribble(frame, interval);
      REQUIRE(run_until(io, [&] { return arena.connected("dribbler"); }));
      REQUIRE(run_until(
          io, [&] { return spy->closed.has_value(); }, 10s));
      auto elapsed = std::chrono::steady_clock::now() - start;
      CHECK(spy->closed->code == CloseReason::Code::kTimeout);
      CHECK(contains(spy->closed->message, "250 ms"));
      CHECK(raw->dribbled >= 2);            // bytes were still coming...
      CHECK(raw->dribbled < frame.size());  // ...but the frame never completed
      CHECK(elapsed >= idle);
      MESSAGE(scheme << ": cut after " << raw->dribbled << " of " << frame.size() << " bytes, "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                     << " ms");
      REQUIRE(run_until(io, [&] { return arena.server->peers().size() == 1; }));
      CHECK(std::any_of(arena.server_events.begin(), arena.server_events.end(),
                        [](const PeerEvent& e) {
                          return e.kind == PeerEvent::Kind::kDisconnected &&
                                 e.peer_id == "dribbler" && contains(e.detail, "timeout");
                        }));
      CHECK(contains(arena.log.text(), "peer dribbler"));
      CHECK(contains(arena.log.text(), "disconnected (timeout"));
      CHECK(arena.server->find(request.doc_id) == nullptr);
    }

    // Before any frame: the first frame dribbled (TCP), or the HTTP upgrade dribbled
    // (WebSocket: cut by the handshake timeout before the Repo ever sees a connection).
    {
      std::size_t spies_before = arena.spies.size();
      auto start = std::chrono::steady_clock::now();
      auto raw = arena.raw_socket(/*upgrade=*/false);
      SocketCloser closer{raw};
      if (scheme == "tcp") {
        raw->dribble(tcp_frame(hello_bytes("dribbler2")), interval);
      } else {
        std::string upgrade = RawSocket::upgrade_request(arena.url);
        raw->dribble(Bytes(upgrade.begin(), upgrade.end()), interval);
      }
      REQUIRE(run_until(
          io, [&] { return raw->ended; }, 10s));
      auto elapsed = std::chrono::steady_clock::now() - start;
      CHECK(raw->dribbled >= 2);
      CHECK(elapsed >= idle);
      CHECK_FALSE(contains(raw->received, "101"));
      if (scheme == "tcp") {
        auto spy = arena.spies.back();
        REQUIRE(spy->closed.has_value());
        CHECK(spy->closed->code == CloseReason::Code::kTimeout);
        CHECK(contains(arena.log.text(), "disconnected (timeout: no frame received for 250 ms)"));
      } else {
        CHECK(arena.spies.size() == spies_before);  // the Repo never saw it
        CHECK(contains(arena.transport_log.text(), "handshake with"));
      }
      CHECK(arena.server->peers().size() == 1);
    }

    arena.good_keeps_syncing("dribble");
  }
}

TEST_CASE("hostile peers: unknown protocol version, envelope version and envelope type") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Arena arena(io, scheme);

    struct Attack {
      std::string name;
      bool after_hello;
      std::function<Bytes(std::uint64_t seq)> frame;
      std::string expect;
    };
    std::vector<Attack> attacks = {
        {"hello with protocol version 2", false,
         [](std::uint64_t seq) {
           Envelope e;
           e.type = Envelope::Type::kHello;
           e.protocol_version = 2;
           e.peer_id = "future";
           e.seq = seq;
           return e.encode();
         },
         "unsupported protocol version 2 (this peer speaks 1)"},
        {"hello with protocol version 2^64-1", false,
         [](std::uint64_t seq) {
           Envelope e;
           e.type = Envelope::Type::kHello;
           e.protocol_version = ~std::uint64_t{0};
           e.peer_id = "far-future";
           e.seq = seq;
           return e.encode();
         },
         "unsupported protocol version 18446744073709551615 (this peer speaks 1)"},
        {"envelope version 2", false,
         [](std::uint64_t seq) {
           Bytes b = hello_bytes("v2", seq);
           b[1] = 0x02;  // [version, ...]: the first element
           return b;
         },
         "malformed frame: envelope: version: unsupported envelope version 2 (at byte 2)"},
        {"envelope version 0", true,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(3);
             w.uint(0);
             w.uint(6);
             w.uint(seq);
           });
         },
         "malformed frame: envelope: version: unsupported envelope version 0"},
        {"envelope type 7 after hello", true,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(3);
             w.uint(1);
             w.uint(7);
             w.uint(seq);
           });
         },
         "malformed frame: envelope: type: unknown envelope type 7"},
        {"envelope type 0 before hello", false,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(4);
             w.uint(1);
             w.uint(0);
             w.uint(seq);
             w.str("doc");
           });
         },
         "malformed frame: envelope: type: unknown envelope type 0"},
        {"envelope type 2^64-1 after hello", true,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(3);
             w.uint(1);
             w.uint(~std::uint64_t{0});
             w.uint(seq);
           });
         },
         "unknown envelope type 18446744073709551615"},
    };
    for (const auto& attack : attacks) {
      CAPTURE(attack.name);
      auto raw = arena.attacker(attack.after_hello ? "stranger" : "");
      raw->send_raw(attack.frame(raw->next_seq()));
      arena.wait_closed(*raw);
      REQUIRE(run_until(
          io, [&] { return raw->closed.has_value(); }, 10s));
      CHECK(contains(raw->error_text(), attack.expect));
      CHECK(contains(arena.log.text(), attack.expect));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
      CHECK(raw->closed->code == CloseReason::Code::kRemoteClosed);
      CHECK(raw->spy->max_queued < 4096);
    }
    CHECK(arena.server->documents() == std::vector<std::string>{"doc"});
    arena.good_keeps_syncing("versions");
  }
}

TEST_CASE("hostile peers: a hello from an unexpected peer is refused (tcp and ws)") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    CapturedLog good_log;
    Arena arena(io, scheme, {}, {}, [&](RepoOptions& o) { o.logger = good_log.logger; });
    // The impostor holds a document of its own and would gladly take the client's.
    CapturedLog impostor_log;
    RepoOptions io_options = options_for("impostor");
    io_options.logger = impostor_log.logger;
    Repo impostor(io, arena.server_transports, io_options);
    impostor.commit("bait", text("impostor's"));
    std::string impostor_url = impostor.listen(listen_url(scheme, ""));
    std::size_t failures_before = arena.good_events.size();
    arena.good->connect(impostor_url, "server");  // expects the real server there too
    REQUIRE(run_until(io, [&] {
      return std::count_if(arena.good_events.begin() + static_cast<std::ptrdiff_t>(failures_before),
                           arena.good_events.end(), [&](const PeerEvent& e) {
                             return e.kind == PeerEvent::Kind::kConnectFailed &&
                                    e.address == impostor_url;
                           }) >= 2;  // refused, then refused again on the retry
    }));
    CHECK(contains(good_log.text(), "expected peer server, got a hello from impostor"));
    CHECK(contains(impostor_log.text(),
                   "reported an error: expected peer server, got a hello from impostor"));
    // The client told nothing to the impostor and took nothing from it.
    CHECK(impostor.find("doc") == nullptr);
    CHECK(arena.good->find("bait") == nullptr);
    for (const auto& p : arena.good->peers()) {
      if (p.connected) CHECK(p.peer_id == "server");
    }
    // Retries are bounded by the backoff: stop them, and the session with the real server
    // is untouched.
    arena.good->disconnect(impostor_url);
    REQUIRE(run_until(io, [&] { return arena.good->peers().size() == 1; }));
    CHECK(arena.good->peers()[0].peer_id == "server");
    arena.good_keeps_syncing("impostor");
  }
}
