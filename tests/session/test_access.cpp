// Access control over real TCP connections (loopback, OS-chosen ports): authentication in
// the hello, peer ids bound to principals, per-document read/write, authorship of actors,
// quotas, the idle timeout and the reconnect backoff (lib/session/include/dagsync/access.h,
// docs/security.md). Each case is an attack from the security review, with its bound.
#include <algorithm>
#include <map>

#include "net_helpers.h"
#include "raw_peer.h"
#include "temp_dir.h"

namespace dagsync::test {
namespace {

using namespace std::chrono_literals;

// Tokens of the test principals, and what each may do: alice and bob write everything but
// bob cannot see "secret"; reader only reads (and cannot see "secret" either).
const std::map<std::string, std::string> kTokens = {
    {"alice-token", "alice"}, {"bob-token", "bob"}, {"reader-token", "reader"}};

RepoOptions server_options(CapturedLog* log = nullptr) {
  RepoOptions o = repo_options("server");
  if (log) o.logger = log->logger;
  o.authenticate = [](const Credentials& c) -> std::optional<std::string> {
    auto it = kTokens.find(c.token);
    if (it == kTokens.end()) return std::nullopt;
    return it->second;
  };
  o.access = [](const std::string& principal, const std::string& doc) {
    if (doc == "secret" && principal != "alice") return Access::kNone;
    return principal == "reader" ? Access::kRead : Access::kWrite;
  };
  return o;
}

struct Events {
  std::vector<PeerEvent> all;
  Subscription sub;
  explicit Events(Repo& repo) {
    sub = repo.on_peer_event([this](const PeerEvent& e) { all.push_back(e); });
  }
  std::size_t count(PeerEvent::Kind kind) const {
    return static_cast<std::size_t>(
        std::count_if(all.begin(), all.end(), [&](const PeerEvent& e) { return e.kind == kind; }));
  }
  const PeerEvent* last(PeerEvent::Kind kind) const {
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (it->kind == kind) return &*it;
    return nullptr;
  }
};

// A raw peer that says hello with a token.
void hello_with_token(RawPeer& raw, const std::string& id, const std::string& token) {
  Envelope hello;
  hello.type = Envelope::Type::kHello;
  hello.protocol_version = Repo::kProtocolVersion;
  hello.peer_id = id;
  hello.token = token;
  raw.send(std::move(hello));
}

// Frames received of `type`, with the seq zeroed: what the peer can compare.
std::vector<Bytes> frames_of(const RawPeer& raw, Envelope::Type type) {
  std::vector<Bytes> out;
  for (Envelope e : raw.got) {
    if (e.type != type) continue;
    e.seq = 0;
    out.push_back(e.encode());
  }
  return out;
}

TEST_CASE("access: a hello without valid credentials is refused, told nothing, and not retried") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  CapturedLog server_log;
  Repo server(io, transports, server_options(&server_log));
  server.commit("notes", text("private"));
  std::string url = server.listen("tcp://127.0.0.1:0");
  Events server_events(server);

  Repo mallory(io, transports, repo_options("mallory"));
  Events events(mallory);
  mallory.connect(url, ConnectOptions{"", "guessed-token"});
  REQUIRE(run_until(io, [&] { return events.last(PeerEvent::Kind::kConnectFailed); }));
  const PeerEvent* failed = events.last(PeerEvent::Kind::kConnectFailed);
  CHECK(failed->final);
  CHECK(contains(failed->detail, "unauthorized"));
  CHECK(contains(server_log.text(), "refused peer mallory: not authenticated"));
  // Given up for good: nothing dials again however long the loop runs.
  run_until(
      io, [] { return false; }, 150ms);
  CHECK(events.count(PeerEvent::Kind::kConnectFailed) == 1);
  CHECK(server_events.count(PeerEvent::Kind::kConnected) == 0);
  CHECK(mallory.find("notes") == nullptr);

  // The same refusal for a raw peer: one error naming no document, then the close.
  RawPeer raw(transports, io, url);
  raw.hello("mallory2");
  REQUIRE(run_until(io, [&] { return raw.closed.has_value(); }));
  REQUIRE(raw.got.size() == 2);  // the server's hello, then the error
  CHECK(raw.got[1].type == Envelope::Type::kError);
  CHECK(raw.got[1].error == "unauthorized");
  CHECK(raw.got[1].code == Envelope::kErrorUnauthorized);
}

TEST_CASE("access: a WebSocket upgrade's query token reaches the authenticator") {
  // What a browser can send: no custom headers, but the URL's query.
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = server_options();
  so.authenticate = [](const Credentials& c) -> std::optional<std::string> {
    auto it = kTokens.find(c.token.empty() ? c.transport.query_token : c.token);
    if (it == kTokens.end()) return std::nullopt;
    return it->second;
  };
  Repo server(io, transports, so);
  server.commit("notes", text("for alice"));
  std::string url = server.listen("ws://127.0.0.1:0/sync");

  Repo alice(io, transports, repo_options("alice-browser"));
  alice.request("notes");
  alice.connect(url + "?token=alice%2Dtoken");  // percent-encoded on the way
  REQUIRE(run_until(io, [&] { return alice.find("notes")->size() == 1; }));

  Repo mallory(io, transports, repo_options("mallory-browser"));
  Events events(mallory);
  mallory.connect(url + "?token=wrong");
  REQUIRE(run_until(io, [&] { return events.last(PeerEvent::Kind::kConnectFailed); }));
  CHECK(events.last(PeerEvent::Kind::kConnectFailed)->final);
}

TEST_CASE("access: a peer id belongs to the principal that first used it") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<MemoryStorage>();
  RepoOptions so = server_options();
  so.storage = storage;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");

  RepoOptions ao = repo_options("laptop");
  Repo alice(io, transports, ao);
  alice.commit("notes", text("alice's"));
  alice.connect(url, ConnectOptions{"", "alice-token"});
  REQUIRE(run_until(io, [&] { return alice.in_sync_with("server", "notes"); }));
  auto saved_before = storage->load_sync_state("notes", "laptop");

  // bob claims alice's connected peer id under his own credentials.
  Repo bob(io, transports, repo_options("laptop"));
  Events events(bob);
  bob.connect(url, ConnectOptions{"", "bob-token"});
  REQUIRE(run_until(io, [&] { return events.last(PeerEvent::Kind::kConnectFailed); }));
  CHECK(events.last(PeerEvent::Kind::kConnectFailed)->final);
  CHECK(contains(events.last(PeerEvent::Kind::kConnectFailed)->detail,
                 "belongs to another principal"));
  CHECK(bob.find("notes") == nullptr);
  // alice is still connected and her saved state was not touched.
  CHECK(alice.in_sync_with("server", "notes"));
  CHECK(storage->load_sync_state("notes", "laptop") == saved_before);
  alice.commit("notes", text("still syncing"));
  REQUIRE(run_until(io, [&] { return server.find("notes")->size() == 2; }));
}

TEST_CASE("access: a document the principal cannot read is answered as one that does not exist") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = server_options();
  so.share_policy = share_everything();  // offers all it may: "secret" must still stay hidden
  so.may_create = [](const std::string&, const std::string&) { return false; };
  Repo server(io, transports, so);
  server.commit("secret", text("alice only"));
  server.commit("public", text("everyone"));
  std::string url = server.listen("tcp://127.0.0.1:0");

  RawPeer raw(transports, io, url);
  hello_with_token(raw, "bob-laptop", "bob-token");
  Envelope ask;
  ask.type = Envelope::Type::kRequest;
  ask.doc_id = "secret";
  raw.send(ask);
  ask.doc_id = "absent";
  raw.send(ask);
  SyncMessage probe;  // a sync for each: same answer
  raw.sync("secret", probe);
  raw.sync("absent", probe);
  REQUIRE(run_until(io, [&] { return frames_of(raw, Envelope::Type::kUnavailable).size() == 4; }));
  auto answers = frames_of(raw, Envelope::Type::kUnavailable);
  // Byte for byte the same, but for the document id itself.
  auto strip = [](Bytes frame, const std::string& id) {
    auto at = std::search(frame.begin(), frame.end(), id.begin(), id.end());
    frame.erase(at, at + static_cast<std::ptrdiff_t>(id.size()));
    return frame;
  };
  CHECK(strip(answers[0], "secret") == strip(answers[1], "absent"));
  CHECK(strip(answers[2], "secret") == strip(answers[3], "absent"));
  // "public" was offered, "secret" never.
  CHECK(!raw.sync_messages("public").empty());
  CHECK(raw.sync_messages("secret").empty());
  CHECK(raw.connection->is_open());
}

TEST_CASE("access: a reader's changes are not applied or stored; told once, it stops sending") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<MemoryStorage>();
  RepoOptions so = server_options();
  so.storage = storage;
  Repo server(io, transports, so);
  server.commit("notes", text("from the server"));
  std::string url = server.listen("tcp://127.0.0.1:0");

  Repo reader(io, transports, repo_options("reader-laptop"));
  reader.commit("notes", text("reader's edit"));
  reader.connect(url, ConnectOptions{"", "reader-token"});
  // The reader gets the server's change; the server keeps only its own.
  REQUIRE(run_until(io, [&] { return reader.find("notes")->size() == 2; }));
  settle(io);
  CHECK(server.find("notes")->size() == 1);
  CHECK(storage->load_changes("notes").size() == 1);
  auto sent_before = reader.peers()[0].changes_sent;
  CHECK(sent_before == 1);

  // Told it may only read, it sends no further changes, and still receives new ones.
  reader.commit("notes", text("another edit"));
  server.commit("notes", text("news"));
  REQUIRE(run_until(io, [&] { return reader.find("notes")->size() == 4; }));
  settle(io);
  CHECK(reader.peers()[0].changes_sent == sent_before);
  CHECK(server.find("notes")->size() == 2);
  CHECK(reader.peers()[0].connected);
  CHECK(reader.peers().size() == 1);  // no reconnects
}

TEST_CASE("access: relaying never sends a document to a peer that cannot read it") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = server_options();
  so.share_policy = share_everything();
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");

  Repo alice(io, transports, repo_options("alice-laptop"));
  Repo bob(io, transports, repo_options("bob-laptop"));
  bob.commit("public", text("bob's"));
  bob.connect(url, ConnectOptions{"", "bob-token"});
  alice.commit("secret", text("alice only"));
  alice.commit("public", text("alice's"));
  alice.connect(url, ConnectOptions{"", "alice-token"});
  REQUIRE(run_until(io, [&] {
    return alice.in_sync_with("server", "secret") && alice.in_sync_with("server", "public") &&
           bob.in_sync_with("server", "public") && bob.find("public")->size() == 2;
  }));
  alice.commit("secret", text("more"));
  REQUIRE(run_until(io, [&] { return server.find("secret")->size() == 2; }));
  settle(io);
  CHECK(bob.find("secret") == nullptr);
  // bob asking by name gets the answer for a document that does not exist.
  Events events(bob);
  bob.request("secret");
  REQUIRE(run_until(io, [&] { return events.last(PeerEvent::Kind::kUnavailable); }));
  CHECK(bob.find("secret")->size() == 0);
}

TEST_CASE("authorship: a new change under an actor another principal owns is refused") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  CapturedLog server_log;
  RepoOptions so = server_options(&server_log);
  so.share_policy = share_everything();
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");

  Repo alice(io, transports, repo_options("alice-laptop"));
  alice.commit("notes", text("alice 1"));
  alice.connect(url, ConnectOptions{"", "alice-token"});
  REQUIRE(run_until(io, [&] { return alice.in_sync_with("server", "notes"); }));
  ChangeGraph& alice_doc = *alice.find("notes");
  Change original = alice_doc.changes().front();

  // bob relays alice's change back (held: fine), then forges her next seq.
  RawPeer raw(transports, io, url);
  hello_with_token(raw, "bob-laptop", "bob-token");
  SyncMessage relay;
  relay.heads = {original.hash()};
  relay.changes = {original};
  raw.sync("notes", relay);
  ChangeFields forged_fields;
  forged_fields.actor = original.actor();
  forged_fields.seq = 2;
  forged_fields.deps = {original.hash()};
  forged_fields.payload = text("forged by bob");
  Change forged = Change::build(std::move(forged_fields));
  SyncMessage forge;
  forge.heads = {forged.hash()};
  forge.changes = {forged};
  raw.sync("notes", forge);
  REQUIRE(run_until(io, [&] { return raw.closed.has_value(); }));
  CHECK(contains(raw.error_text(), "belongs to another principal than bob"));
  CHECK(server.find("notes")->size() == 1);
  CHECK_FALSE(server.find("notes")->has(forged.hash()));
  // alice goes on under her own actor.
  alice.commit("notes", text("alice 2"));
  REQUIRE(run_until(io, [&] { return server.find("notes")->size() == 2; }));
  CHECK(alice.peers()[0].connected);
}

TEST_CASE(
    "authorship: a client refuses a forged change under its own actor, other documents go on") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Repo server(io, transports, repo_options("server"));  // no authentication: it relays anything
  std::string url = server.listen("tcp://127.0.0.1:0");

  CapturedLog victim_log;
  RepoOptions vo = repo_options("victim");
  vo.logger = victim_log.logger;
  Repo victim(io, transports, vo);
  victim.commit("a", text("victim a1"));
  victim.commit("b", text("victim b1"));
  victim.connect(url);
  REQUIRE(run_until(io, [&] {
    return victim.in_sync_with("server", "a") && victim.in_sync_with("server", "b");
  }));
  Change original = victim.find("a")->changes().front();

  RawPeer forger(transports, io, url);
  forger.hello("forger");
  ChangeFields f;
  f.actor = original.actor();
  f.seq = 2;
  f.deps = {original.hash()};
  f.payload = text("forged");
  Change forged = Change::build(std::move(f));
  SyncMessage m;
  m.heads = {forged.hash()};
  m.changes = {forged};
  forger.sync("a", m);
  REQUIRE(run_until(io, [&] { return contains(victim_log.text(), "claims our own actor"); }));
  CHECK_FALSE(victim.find("a")->has(forged.hash()));
  // The victim keeps its connection and keeps syncing "b" both ways.
  victim.commit("b", text("victim b2"));
  server.commit("b", text("server b"));
  REQUIRE(run_until(
      io, [&] { return server.find("b")->size() == 3 && victim.find("b")->size() == 3; }));
  CHECK(victim.peers().size() == 1);
  CHECK(victim.peers()[0].connected);
}

TEST_CASE("quotas: connections per address and per principal") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = server_options();
  so.quotas.max_connections_per_address = 3;
  so.quotas.max_connections_per_principal = 1;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");

  RawPeer first(transports, io, url);
  hello_with_token(first, "alice-1", "alice-token");
  REQUIRE(run_until(io, [&] { return server.peers().size() == 1 && server.peers()[0].connected; }));
  // A second connection as alice is refused: one per principal.
  RawPeer second(transports, io, url);
  hello_with_token(second, "alice-2", "alice-token");
  REQUIRE(run_until(io, [&] { return second.closed.has_value(); }));
  CHECK(contains(second.error_text(), "too many connections for alice (1)"));
  REQUIRE(run_until(io, [&] { return server.peers().size() == 1; }));
  // Three from this address at most, whoever they are.
  RawPeer third(transports, io, url);
  RawPeer fourth(transports, io, url);
  RawPeer fifth(transports, io, url);
  REQUIRE(run_until(io, [&] { return fifth.closed.has_value(); }));
  CHECK(contains(fifth.error_text(), "too many connections from 127.0.0.1 (3)"));

  SUBCASE("and in total") {
    RepoOptions limited = server_options();
    limited.peer_id = "limited";
    limited.quotas.max_connections = 1;
    Repo small(io, transports, limited);
    std::string small_url = small.listen("tcp://127.0.0.1:0");
    RawPeer one(transports, io, small_url);
    REQUIRE(run_until(io, [&] { return small.peers().size() == 1; }));
    RawPeer two(transports, io, small_url);
    REQUIRE(run_until(io, [&] { return two.closed.has_value(); }));
    CHECK(contains(two.error_text(), "too many connections (1)"));
    CHECK(one.connection->is_open());
  }
  CHECK(third.connection->is_open());
  CHECK(fourth.connection->is_open());
  CHECK(first.connection->is_open());
}

TEST_CASE("quotas: without an authenticator, per-principal quotas count each peer id") {
  // Every unauthenticated peer is "anonymous": counted together, a server without --auth
  // could hold only max_connections_per_principal clients.
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = repo_options("server");
  so.quotas.max_connections_per_principal = 1;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");
  std::vector<std::unique_ptr<RawPeer>> peers;
  for (int i = 0; i < 4; ++i) {
    peers.push_back(std::make_unique<RawPeer>(transports, io, url));
    peers.back()->hello("client-" + std::to_string(i));
  }
  REQUIRE(run_until(io, [&] {
    auto all = server.peers();
    return all.size() == 4 &&
           std::all_of(all.begin(), all.end(), [](const PeerStats& p) { return p.connected; });
  }));
  // The same peer id twice is over its own quota of one.
  RawPeer again(transports, io, url);
  again.hello("client-0");
  REQUIRE(run_until(io, [&] { return again.closed.has_value(); }));
  CHECK(contains(again.error_text(), "too many connections for peer client-0 (1)"));
}

TEST_CASE("quotas: documents a principal creates, and what a departed peer left pending") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = server_options();
  so.quotas.max_documents_created_per_principal = 3;
  so.quotas.max_pending_changes_per_peer = 10;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");

  SUBCASE("documents created") {
    RawPeer raw(transports, io, url);
    hello_with_token(raw, "bob-laptop", "bob-token");
    SyncMessage empty;
    for (int i = 0; i < 5; ++i) raw.sync("invented-" + std::to_string(i), empty);
    REQUIRE(
        run_until(io, [&] { return frames_of(raw, Envelope::Type::kUnavailable).size() == 2; }));
    CHECK(server.documents().size() == 3);
    CHECK(server.find("invented-3") == nullptr);
    CHECK(server.find("invented-4") == nullptr);
  }
  SUBCASE("pending changes across documents") {
    RawPeer raw(transports, io, url);
    hello_with_token(raw, "bob-laptop", "bob-token");
    // Changes whose deps never come, 4 per document in 3 documents: 12 over the limit of 10.
    ChangeHash missing = sha256(as_bytes("never sent"));
    for (int d = 0; d < 3; ++d) {
      SyncMessage m;
      for (std::uint64_t s = 0; s < 4; ++s) {
        ChangeFields f;
        f.actor = actor(static_cast<std::uint8_t>(100 + d));
        f.seq = s + 2;
        f.deps = {missing};
        f.payload = text("parked " + std::to_string(s));
        m.changes.push_back(Change::build(std::move(f)));
      }
      raw.sync("parked-" + std::to_string(d), m);
    }
    REQUIRE(run_until(io, [&] { return raw.closed.has_value(); }));
    CHECK(contains(raw.error_text(), "too many changes waiting for missing deps"));
    // Once the peer is gone, nothing it invented or parked stays in memory.
    REQUIRE(run_until(io, [&] { return server.peers().empty(); }));
    CHECK(server.documents().empty());
  }
}

TEST_CASE("quotas: documents a peer only named cost nothing once it leaves") {
  // The attack: one connection names thousands of new document ids, then closes. Before,
  // the server kept every id for good and saved one sync state per id at the close.
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  TempDir dir;
  auto storage = std::make_shared<SqliteStorage>(dir.file("server.db"));
  RepoOptions so = repo_options("server");
  so.storage = storage;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");
  {
    RawPeer raw(transports, io, url);
    raw.hello("namer");
    SyncMessage empty;
    for (int i = 0; i < 2000; ++i) raw.sync("named-" + std::to_string(i), empty);
    REQUIRE(run_until(io, [&] { return server.documents().size() == 2000; }));
  }
  REQUIRE(run_until(io, [&] { return server.peers().empty(); }));
  CHECK(server.documents().empty());
  CHECK(storage->list_documents().empty());
}

TEST_CASE("idle timeout: a silent peer is closed after the hello; heartbeats keep honest ones") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  CapturedLog server_log;
  RepoOptions so = repo_options("server");
  so.logger = server_log.logger;
  so.idle_timeout = 200ms;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");

  RawPeer silent(transports, io, url);
  silent.hello("silent");
  RepoOptions co = repo_options("honest");
  co.heartbeat_interval = 40ms;
  Repo honest(io, transports, co);
  Events events(honest);
  honest.connect(url);
  auto start = std::chrono::steady_clock::now();
  REQUIRE(run_until(io, [&] { return silent.closed.has_value(); }));
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
  CHECK(contains(server_log.text(), "nothing received for 200 ms"));
  // Three idle periods on, the honest client is still connected, never dropped.
  run_until(
      io, [] { return false; }, 600ms);
  CHECK(events.count(PeerEvent::Kind::kDisconnected) == 0);
  CHECK(events.count(PeerEvent::Kind::kConnected) == 1);
}

TEST_CASE("reconnect: the backoff keeps growing while the same error repeats after the hello") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = server_options();
  so.quotas.max_connections_per_principal = 1;
  Repo server(io, transports, so);
  std::string url = server.listen("tcp://127.0.0.1:0");
  Repo first(io, transports, repo_options("alice-1"));
  first.connect(url, ConnectOptions{"", "alice-token"});
  REQUIRE(run_until(io, [&] { return !first.peers().empty() && first.peers()[0].connected; }));

  // A second alice is refused at every hello (a transient refusal: it retries).
  RepoOptions o = repo_options("alice-2");
  o.reconnect.initial = 10ms;
  o.reconnect.max = 1000ms;
  Repo second(io, transports, o);
  std::vector<std::chrono::steady_clock::time_point> failures;
  std::string last_reason;
  auto sub = second.on_peer_event([&](const PeerEvent& e) {
    // Refused after both hellos: each attempt ends as a disconnect.
    if (e.kind != PeerEvent::Kind::kDisconnected) return;
    CHECK_FALSE(e.final);
    failures.push_back(std::chrono::steady_clock::now());
    last_reason = e.detail;
  });
  second.connect(url, ConnectOptions{"", "alice-token"});
  REQUIRE(run_until(
      io, [&] { return failures.size() == 5; }, 10s));
  CHECK(contains(last_reason, "too many connections for alice"));
  // Timers never fire early: each gap is at least the doubled delay (10, 20, 40, 80 ms).
  for (std::size_t i = 1; i < failures.size(); ++i) {
    CAPTURE(i);
    CHECK(failures[i] - failures[i - 1] >= 10ms * (1 << (i - 1)));
  }
}

}  // namespace
}  // namespace dagsync::test
