// automerge-repo's protocol as a session dialect, end to end through a Repo listening on
// ws:// with ListenOptions::Dialect::kAutomergeRepo, driven by raw WebSocket clients that
// send CBOR messages by hand. The Automerge sync engine is a stand-in (FakeEngine): these
// tests check everything up to the AutomergeSyncEngine interface — the handshake, requests
// answered after storage was consulted, sync messages handed to the engine and its answers
// sent back, changes stored and relayed, ephemeral messages relayed and never stored, a
// reconnecting peer id replacing its old socket, access control, and hostile input.
#include <doctest/doctest.h>

#include "automerge_ids.h"
#include "automerge_repo_message.h"
#include "automerge_vectors.h"
#include "dagsync/automerge/sync.h"
#include "dagsync/error.h"
#include "net_helpers.h"
#include "temp_dir.h"

namespace dagsync::test {
namespace {

using Type = AutomergeRepoMessage::Type;
using Dialect = ListenOptions::Dialect;

// Stands in for the core's Automerge engine. A message "C" + an Automerge change chunk adds
// that change; "X" is undecodable (DecodeError), "G" a change the document refuses
// (GraphError); "N" says nothing. generate() answers "H" + the number of changes held each
// time that number changed since it last spoke, so a test sees what reaches each peer.
struct FakeEngine : AutomergeSyncEngine {
  FakeEngine(ChangeGraph& g, std::optional<Bytes> saved) : graph(g) {
    if (saved && saved->size() == 2 && (*saved)[0] == 'S') told = (*saved)[1];
  }
  std::vector<ChangeHash> receive(ByteView message, bool apply_changes) override {
    if (message[0] == 'X') throw DecodeError("fake: not a sync message");
    if (message[0] == 'G') throw GraphError("fake: refused change");
    if (message[0] != 'C' || !apply_changes) return {};
    return graph.add(Change::from_automerge(message.subspan(1))).applied;
  }
  std::optional<Bytes> generate() override {
    if (graph.size() == told) return std::nullopt;
    told = graph.size();
    return Bytes{'H', static_cast<std::uint8_t>(told)};
  }
  std::optional<Bytes> saved_state() const override {
    return Bytes{'S', static_cast<std::uint8_t>(told)};
  }
  bool peer_has_our_changes() const override { return told == graph.size(); }
  bool in_sync() const override { return peer_has_our_changes(); }

  ChangeGraph& graph;
  std::size_t told = 0;
};

AutomergeSyncEngineFactory fake_engines() {
  return [](ChangeGraph& g, const std::optional<Bytes>& saved) {
    return std::make_unique<FakeEngine>(g, saved);
  };
}

// Authors Automerge change chunks (no operations: the server does not read them), each on
// the previous one, under an actor of its own.
struct AmAuthor {
  AmAuthor() : actor(next_actor++) {}
  Change commit(const Bytes& text) {
    ChunkFields f;
    f.actor = Bytes(16, actor);
    f.seq = ++seq;
    f.start_op = seq;
    f.message.assign(text.begin(), text.end());
    if (last) f.deps = {*last};
    Change c = am_change(f);
    last = c.hash();
    return c;
  }
  static inline std::uint8_t next_actor = 1;
  std::uint8_t actor;
  std::uint64_t seq = 0;
  std::optional<ChangeHash> last;
};

std::string doc_id(std::uint8_t n) {
  return base58check_encode(Bytes(16, n));
}

// One raw automerge-repo client: a WebSocket connection and the messages it received.
struct Client {
  Client(Transports& transports, asio::io_context& io, const std::string& url, std::string id)
      : io(io), peer_id(std::move(id)) {
    std::string error;
    bool done = false;
    transports.connect(url, [&](std::shared_ptr<Connection> c, ConnectError e) {
      done = true;
      error = e.message;
      connection = c;
      if (!c) return;
      c->start(
          [this](Bytes frame) {
            raw.push_back(frame);
            try {
              got.push_back(AutomergeRepoMessage::decode(frame));
            } catch (const DecodeError& e) {
              FAIL("the server sent an undecodable message: " << std::string(e.what()));
            }
          },
          [this](const CloseReason& r) { closed = r; });
    });
    REQUIRE(run_until(io, [&] { return done; }));
    REQUIRE_MESSAGE(error.empty(), error);
  }

  void send(AutomergeRepoMessage m) {
    if (m.sender_id.empty()) m.sender_id = peer_id;
    m.target_id = "server";
    connection->send(m.encode());
  }
  void join(std::vector<std::string> versions = {"1"}) {
    AutomergeRepoMessage m;
    m.type = Type::kJoin;
    m.has_peer_metadata = true;
    m.is_ephemeral = true;
    m.supported_protocol_versions = versions;
    send(m);
  }
  void joined() {
    join();
    REQUIRE(wait_for(Type::kPeer));
  }
  void doc_message(Type type, const std::string& doc, Bytes data) {
    AutomergeRepoMessage m;
    m.type = type;
    m.document_id = doc;
    m.data = std::move(data);
    send(m);
  }
  void ephemeral(const std::string& doc, std::uint64_t count, Bytes data) {
    AutomergeRepoMessage m;
    m.type = Type::kEphemeral;
    m.document_id = doc;
    m.count = count;
    m.session_id = "session-" + peer_id;
    m.data = std::move(data);
    send(m);
  }
  // The first message of `type` not yet taken, waiting for it.
  const AutomergeRepoMessage* wait_for(Type type) {
    const AutomergeRepoMessage* found = nullptr;
    run_until(
        io,
        [&] {
          for (std::size_t i = taken; i < got.size(); ++i) {
            if (got[i].type == type) {
              found = &got[i];
              taken = i + 1;
              return true;
            }
          }
          return closed.has_value();
        },
        std::chrono::seconds(10));
    return found;
  }
  std::size_t count(Type type) const {
    std::size_t n = 0;
    for (const auto& m : got) n += m.type == type;
    return n;
  }
  bool wait_closed() {
    return run_until(
        io, [&] { return closed.has_value(); }, std::chrono::seconds(10));
  }

  asio::io_context& io;
  std::string peer_id;
  std::shared_ptr<Connection> connection;
  std::vector<Bytes> raw;
  std::vector<AutomergeRepoMessage> got;
  std::size_t taken = 0;
  std::optional<CloseReason> closed;
};

struct Server {
  explicit Server(RepoOptions options = {}, bool with_engine = true) {
    if (options.peer_id.empty()) options.peer_id = "server";
    if (!options.logger) options.logger = log.logger;
    if (with_engine && !options.automerge_sync_engine)
      options.automerge_sync_engine = fake_engines();
    repo = std::make_unique<Repo>(io, transports, std::move(options));
    url = repo->listen("ws://127.0.0.1:0/", ListenOptions{Dialect::kAutomergeRepo});
  }
  Client client(std::string id) { return Client(transports, io, url, std::move(id)); }

  asio::io_context io;
  Transports transports{io, {}, quiet_logger()};
  CapturedLog log;
  std::unique_ptr<Repo> repo;
  std::string url;
};

Bytes change_message(const Change& c) {
  Bytes out{'C'};
  out.insert(out.end(), c.bytes().begin(), c.bytes().end());
  return out;
}

}  // namespace

TEST_CASE("automerge-repo session: join is answered by peer, naming both sides") {
  RepoOptions options;
  options.automerge_storage_id = "4b3c1f0e-8f9a-4d2b-9c1e-2f6a7b8c9d0e";
  Server server(options);
  Client alice = server.client("peer-alice");
  alice.join();
  auto* peer = alice.wait_for(Type::kPeer);
  REQUIRE(peer);
  CHECK(peer->sender_id == "server");
  CHECK(peer->target_id == "peer-alice");
  CHECK(peer->selected_protocol_version == "1");
  CHECK(peer->storage_id == options.automerge_storage_id);
  CHECK_FALSE(peer->is_ephemeral);
  CHECK(alice.got.size() == 1);  // nothing before it, no heartbeats in this protocol
  REQUIRE(run_until(server.io, [&] { return server.repo->peers().size() == 1; }));
  CHECK(server.repo->peers()[0].peer_id == "peer-alice");
  // A repeated join from the same peer changes nothing.
  alice.join();
  settle(server.io);
  CHECK_FALSE(alice.closed);
}

TEST_CASE("automerge-repo session: an unsupported protocol version is refused with an error") {
  Server server;
  Client old = server.client("peer-old");
  old.join({"0", "2"});
  auto* error = old.wait_for(Type::kError);
  REQUIRE(error);
  CHECK(contains(error->error, "unsupported protocol version"));
  CHECK(old.wait_closed());
  CHECK(server.repo->peers().empty());
}

TEST_CASE(
    "automerge-repo session: a request for an unknown document is answered unavailable, "
    "and the requester gets the document once another peer brings it") {
  Server server;
  Client bob = server.client("peer-bob");
  bob.joined();
  std::string doc = doc_id(7);
  bob.doc_message(Type::kRequest, doc, {'N'});
  auto* unavailable = bob.wait_for(Type::kDocUnavailable);
  REQUIRE(unavailable);
  CHECK(unavailable->document_id == doc);
  CHECK(bob.count(Type::kSync) == 0);  // no premature empty sync before it
  CHECK(server.repo->documents().empty());

  Client alice = server.client("peer-alice");
  alice.joined();
  AmAuthor authored;
  alice.doc_message(Type::kSync, doc, change_message(authored.commit(text("hello"))));
  auto* answer = alice.wait_for(Type::kSync);
  REQUIRE(answer);
  CHECK(answer->data == Bytes{'H', 1});
  // Bob stayed subscribed: the change reaches it, and it is stored.
  auto* pushed = bob.wait_for(Type::kSync);
  REQUIRE(pushed);
  CHECK(pushed->document_id == doc);
  CHECK(pushed->data == Bytes{'H', 1});
  CHECK(server.repo->documents() == std::vector<std::string>{doc});
  REQUIRE(server.repo->find(doc));
  CHECK(server.repo->find(doc)->size() == 1);
}

TEST_CASE("automerge-repo session: a request for a stored document is answered with its data") {
  TempDir dir;
  std::string doc = doc_id(9);
  auto storage = std::make_shared<SqliteStorage>((dir.path / "server.db").string());
  {
    RepoOptions options;
    options.storage = storage;
    Server first(options);
    Client alice = first.client("peer-alice");
    alice.joined();
    AmAuthor authored;
    alice.doc_message(Type::kSync, doc, change_message(authored.commit(text("one"))));
    REQUIRE(alice.wait_for(Type::kSync));
  }
  RepoOptions options;
  options.storage = storage;
  Server restarted(options);
  Client carol = restarted.client("peer-carol");
  carol.joined();
  carol.doc_message(Type::kRequest, doc, {'N'});
  auto* answer = carol.wait_for(Type::kSync);
  REQUIRE(answer);
  CHECK(answer->data == Bytes{'H', 1});
  CHECK(carol.count(Type::kDocUnavailable) == 0);
}

TEST_CASE(
    "automerge-repo session: an engine that does not take the document is answered "
    "unavailable and nothing is stored") {
  // An engine that does not take the document (its format is dagsync's own).
  Server bare([] {
    RepoOptions o;
    o.automerge_sync_engine = [](ChangeGraph&, const std::optional<Bytes>&) {
      return std::unique_ptr<AutomergeSyncEngine>();  // "not an Automerge document"
    };
    return o;
  }());
  Client alice = bare.client("peer-alice");
  alice.joined();
  AmAuthor authored;
  alice.doc_message(Type::kSync, doc_id(3), change_message(authored.commit(text("x"))));
  REQUIRE(alice.wait_for(Type::kDocUnavailable));
  CHECK(bare.repo->documents().empty());
  CHECK_FALSE(alice.closed);
}

TEST_CASE(
    "automerge-repo session: ephemeral messages reach the document's other peers "
    "unchanged and are never stored") {
  Server server;
  std::string doc = doc_id(5), other_doc = doc_id(6);
  Client alice = server.client("peer-alice");
  Client bob = server.client("peer-bob");
  Client carol = server.client("peer-carol");
  alice.joined();
  bob.joined();
  carol.joined();
  alice.doc_message(Type::kRequest, doc, {'N'});
  bob.doc_message(Type::kRequest, doc, {'N'});
  carol.doc_message(Type::kRequest, other_doc, {'N'});
  REQUIRE(alice.wait_for(Type::kDocUnavailable));
  REQUIRE(bob.wait_for(Type::kDocUnavailable));
  REQUIRE(carol.wait_for(Type::kDocUnavailable));

  alice.ephemeral(doc, 5'000'000'000ull, {0xa1, 0x61, 'x', 0x01});
  auto* relayed = bob.wait_for(Type::kEphemeral);
  REQUIRE(relayed);
  CHECK(relayed->sender_id == "peer-alice");  // the original sender, count and session
  CHECK(relayed->target_id == "peer-bob");
  CHECK(relayed->count == 5'000'000'000ull);
  CHECK(relayed->session_id == "session-peer-alice");
  CHECK(relayed->document_id == doc);
  CHECK(relayed->data == Bytes{0xa1, 0x61, 'x', 0x01});
  settle(server.io);
  CHECK(alice.count(Type::kEphemeral) == 0);  // not echoed to its sender
  CHECK(carol.count(Type::kEphemeral) == 0);  // another document's peer
  CHECK(server.repo->documents().empty());
}

TEST_CASE("automerge-repo session: a reconnecting peer id replaces its old socket") {
  Server server;
  Client first = server.client("peer-alice");
  first.joined();
  Client second = server.client("peer-alice");
  second.joined();
  REQUIRE(first.wait_closed());
  CHECK_FALSE(second.closed);
  REQUIRE(run_until(server.io, [&] { return server.repo->peers().size() == 1; }));
  std::string doc = doc_id(1);
  second.doc_message(Type::kRequest, doc, {'N'});
  CHECK(second.wait_for(Type::kDocUnavailable));
}

TEST_CASE("automerge-repo session: access control answers unreadable documents unavailable") {
  std::string secret = doc_id(2), open_doc = doc_id(4);
  RepoOptions options;
  options.access = [secret](const std::string&, const std::string& doc) {
    return doc == secret ? Access::kNone : Access::kRead;
  };
  Server server(options);
  Client alice = server.client("peer-alice");
  alice.joined();
  AmAuthor authored;
  alice.doc_message(Type::kSync, secret, change_message(authored.commit(text("x"))));
  REQUIRE(alice.wait_for(Type::kDocUnavailable));
  alice.doc_message(Type::kSync, open_doc, change_message(authored.commit(text("y"))));
  REQUIRE(alice.wait_for(Type::kDocUnavailable));  // read-only: not created by this peer
  CHECK(server.repo->documents().empty());
  CHECK_FALSE(alice.closed);
}

TEST_CASE("automerge-repo session: hostile input closes that client only, nothing stored") {
  struct Case {
    std::string name;
    std::function<void(Client&)> send;
    std::string logged;
  };
  AmAuthor authored;
  Change change = authored.commit(text("x"));
  std::vector<Case> cases = {
      {"malformed CBOR",
       [](Client& c) {
         c.connection->send(Bytes{0xb9, 0x00});
       },
       "truncated"},
      {"unknown type",
       [](Client& c) {
         c.connection->send(Bytes{0xa2, 0x64, 't', 'y', 'p', 'e', 0x63, 'b', 'a',  'd', 0x68,
                                  's',  'e',  'n', 'd', 'e', 'r', 'I',  'd', 0x61, 'p'});
       },
       "unknown message type"},
      {"bad document id",
       [&](Client& c) { c.doc_message(Type::kSync, "not-base58!", change_message(change)); },
       "not base58check"},
      {"oversized message",
       [&](Client& c) { c.doc_message(Type::kSync, doc_id(8), Bytes(5000, 'C')); }, "at most 4096"},
      {"undecodable sync message", [](Client& c) { c.doc_message(Type::kSync, doc_id(8), {'X'}); },
       "bad Automerge sync message"},
      {"message before join", [](Client& c) { c.doc_message(Type::kRequest, doc_id(8), {'N'}); },
       "expected join"},
  };
  for (const auto& test : cases) {
    CAPTURE(test.name);
    RepoOptions options;
    options.sync_limits.max_message_bytes = 4096;
    Server server(options);
    Client bystander = server.client("peer-bystander");
    bystander.joined();
    Client hostile = server.client("peer-hostile");
    if (test.name != "message before join") hostile.joined();
    test.send(hostile);
    CHECK(hostile.wait_closed());
    CHECK(contains(server.log.text(), test.logged));
    CHECK(server.repo->documents().empty());
    // The other client goes on.
    bystander.doc_message(Type::kSync, doc_id(9), change_message(change));
    auto* answer = bystander.wait_for(Type::kSync);
    REQUIRE(answer);
    CHECK_FALSE(bystander.closed);
  }
}

TEST_CASE("automerge-repo session: a refused change stops that document, not the others") {
  Server server;
  Client alice = server.client("peer-alice");
  alice.joined();
  alice.doc_message(Type::kSync, doc_id(1), {'G'});
  // An accepted connection whose changes are refused is closed (as for dagsync peers).
  CHECK(alice.wait_closed());
  CHECK(server.repo->documents().empty());
  CHECK(contains(server.log.text(), "fake: refused change"));
}

TEST_CASE("automerge-repo session: the engine's state is saved per peer and given back") {
  TempDir dir;
  auto storage = std::make_shared<SqliteStorage>((dir.path / "server.db").string());
  std::string doc = doc_id(11);
  std::vector<std::optional<Bytes>> given;
  auto recording = [&given](ChangeGraph& g, const std::optional<Bytes>& saved) {
    given.push_back(saved);
    return std::make_unique<FakeEngine>(g, saved);
  };
  for (int round = 0; round < 2; ++round) {
    RepoOptions options;
    options.storage = storage;
    options.automerge_sync_engine = recording;
    Server server(options);
    Client alice = server.client("peer-alice");
    alice.joined();
    AmAuthor authored;
    alice.doc_message(Type::kSync, doc, change_message(authored.commit(text("r"))));
    REQUIRE(alice.wait_for(Type::kSync));
  }
  REQUIRE(given.size() == 2);
  CHECK_FALSE(given[0]);
  CHECK(given[1] == std::optional<Bytes>(Bytes{'S', 1}));
}

}  // namespace dagsync::test

// With no engine set, the Repo runs the core's Automerge sync protocol: what follows sends
// real Automerge sync messages (0x42) carrying change chunks.
namespace dagsync::test {
namespace {

namespace am = dagsync::automerge;

Bytes am_sync(const std::vector<Change>& changes) {
  am::SyncMessage m;
  for (const auto& c : changes) m.heads.push_back(c.hash());
  std::sort(m.heads.begin(), m.heads.end());
  m.changes = changes;
  return m.encode();
}

// A client's own Automerge replica, synced with the server until it holds `want` (bounded).
struct AmReplica {
  ChangeGraph graph{ChangeFormat::kAutomerge};
  am::SyncState state;
  bool sync_until(Client& client, const std::string& doc, Type first, const ChangeHash& want) {
    Type type = first;
    for (int round = 0; round < 8 && !graph.has(want); ++round) {
      auto m = am::generate_sync_message(graph, state);
      if (m) client.doc_message(type, doc, m->encode());
      type = Type::kSync;
      auto* reply = client.wait_for(Type::kSync);
      if (!reply) return false;
      am::receive_sync_message(graph, state, am::SyncMessage::decode(reply->data));
    }
    return graph.has(want);
  }
};

std::size_t find_bytes(ByteView haystack, ByteView needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end());
  REQUIRE(it != haystack.end());
  return static_cast<std::size_t>(it - haystack.begin());
}

}  // namespace

TEST_CASE(
    "automerge-repo session: the core's engine applies real Automerge changes, stores them, "
    "and a restarted server serves them") {
  TempDir dir;
  std::string path = (dir.path / "server.db").string();
  std::string doc = doc_id(21);
  AmAuthor authored;
  Change first = authored.commit(text("first"));
  Change second = authored.commit(text("second"));
  {
    RepoOptions options;
    options.storage = std::make_shared<SqliteStorage>(path);
    Server server(options, false);  // no engine set: the core's
    Client alice = server.client("peer-alice");
    alice.joined();
    alice.doc_message(Type::kSync, doc, am_sync({first, second}));
    auto* reply = alice.wait_for(Type::kSync);
    REQUIRE(reply);
    CHECK(am::SyncMessage::decode(reply->data).heads ==
          std::vector<ChangeHash>{second.hash()});  // it holds what alice sent
    ChangeGraph* held = server.repo->find(doc);
    REQUIRE(held);
    CHECK(held->format() == ChangeFormat::kAutomerge);
    CHECK(held->size() == 2);
  }
  // The store reads the rows back as Automerge changes, verified against their hashes.
  SqliteStorage reopened(path);
  auto stored = reopened.load_changes(doc);
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].format() == ChangeFormat::kAutomerge);
  CHECK(stored[1].hash() == second.hash());
  CHECK(stored[1].automerge_actor().size() == 16);

  RepoOptions options;
  options.storage = std::make_shared<SqliteStorage>(path);
  Server restarted(options, false);
  Client bob = restarted.client("peer-bob");
  bob.joined();
  AmReplica replica;
  REQUIRE(replica.sync_until(bob, doc, Type::kRequest, second.hash()));
  CHECK(replica.graph.size() == 2);
  CHECK(bob.count(Type::kDocUnavailable) == 0);
}

TEST_CASE(
    "automerge-repo session: a document of the other format is refused, unchanged, both ways") {
  Server server({}, false);
  // A dagsync document, made locally: an automerge-repo peer cannot sync it.
  std::string dagsync_doc = doc_id(22);
  server.repo->commit(dagsync_doc, text("dagsync's own"));
  Client alice = server.client("peer-alice");
  alice.joined();
  AmAuthor authored;
  alice.doc_message(Type::kSync, dagsync_doc, am_sync({authored.commit(text("x"))}));
  REQUIRE(alice.wait_for(Type::kDocUnavailable));
  CHECK(contains(server.log.text(), "holds dagsync changes"));
  CHECK(server.repo->find(dagsync_doc)->size() == 1);
  CHECK(server.repo->find(dagsync_doc)->format() == ChangeFormat::kDagsync);
  CHECK_FALSE(alice.closed);

  // An Automerge document: a dagsync peer asking for it is told it is unavailable.
  std::string am_doc = doc_id(23);
  AmAuthor other;
  Change chunk = other.commit(text("y"));
  alice.doc_message(Type::kSync, am_doc, am_sync({chunk}));
  REQUIRE(alice.wait_for(Type::kSync));
  REQUIRE(server.repo->find(am_doc));
  std::string url = server.repo->listen("tcp://127.0.0.1:0");
  RepoOptions client_options;
  client_options.peer_id = "dagsync-client";
  client_options.logger = quiet_logger();
  Repo client(server.io, server.transports, client_options);
  bool unavailable = false;
  auto sub = client.on_peer_event([&](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kUnavailable && e.detail == am_doc) unavailable = true;
  });
  client.connect(url);
  client.request(am_doc);
  REQUIRE(run_until(
      server.io, [&] { return unavailable; }, std::chrono::seconds(10)));
  CHECK(contains(server.log.text(), "holds Automerge changes"));
  CHECK(server.repo->find(am_doc)->size() == 1);
  ChangeGraph* asked = client.find(am_doc);  // the request's empty local document
  CHECK((!asked || asked->size() == 0));
}

TEST_CASE(
    "automerge-repo session: hostile chunks from a real-looking client are refused, "
    "nothing stored, other clients unaffected") {
  AmAuthor honest;
  Change good = honest.commit(text("hostile-message"));
  Bytes valid = am_sync({good});
  std::size_t chunk_at = find_bytes(valid, good.bytes());
  Bytes bad_checksum = valid;
  bad_checksum[chunk_at + 4] ^= 0x01;  // magic (4 bytes), then the checksum
  Bytes bad_hash = valid;              // the checksum no longer matches the bytes it covers
  bad_hash[find_bytes(valid, text("hostile-message"))] ^= 0x01;

  struct Case {
    std::string name;
    Bytes message;
  };
  for (const auto& test : {Case{"bad checksum", bad_checksum}, Case{"hash mismatch", bad_hash}}) {
    CAPTURE(test.name);
    TempDir dir;
    auto storage = std::make_shared<SqliteStorage>((dir.path / "server.db").string());
    RepoOptions options;
    options.storage = storage;
    Server server(options, false);
    Client bystander = server.client("peer-bystander");
    bystander.joined();
    Client hostile = server.client("peer-hostile");
    hostile.joined();
    hostile.doc_message(Type::kSync, doc_id(24), test.message);
    CHECK(hostile.wait_closed());
    CHECK(contains(server.log.text(), "bad Automerge sync message"));
    CHECK(contains(server.log.text(), "checksum"));
    CHECK(hostile.count(Type::kError) == 1);
    CHECK(server.repo->documents().empty());
    CHECK(storage->list_documents().empty());
    // The other client goes on, on the same document id.
    bystander.doc_message(Type::kSync, doc_id(24), valid);
    REQUIRE(bystander.wait_for(Type::kSync));
    CHECK_FALSE(bystander.closed);
    CHECK(storage->load_changes(doc_id(24)).size() == 1);
  }

  // Equivocation: a second change at an actor's seq 1. The first stays, the second is never
  // stored or relayed.
  TempDir dir;
  auto storage = std::make_shared<SqliteStorage>((dir.path / "server.db").string());
  RepoOptions options;
  options.storage = storage;
  Server server(options, false);
  Client bystander = server.client("peer-bystander");
  bystander.joined();
  Client hostile = server.client("peer-hostile");
  hostile.joined();
  std::string doc = doc_id(25);
  hostile.doc_message(Type::kSync, doc, valid);
  REQUIRE(hostile.wait_for(Type::kSync));
  ChunkFields twin;
  twin.actor = Bytes(16, honest.actor);
  twin.seq = 1;
  twin.message = "the other seq 1";
  Change forged = am_change(twin);
  REQUIRE(forged.hash() != good.hash());
  hostile.doc_message(Type::kSync, doc, am_sync({forged}));
  CHECK(hostile.wait_closed());
  CHECK(contains(server.log.text(), "equivocation"));
  auto stored = storage->load_changes(doc);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].hash() == good.hash());
  CHECK_FALSE(server.repo->find(doc)->has(forged.hash()));
  // The bystander syncs the document and receives only the honest change.
  AmReplica replica;
  REQUIRE(replica.sync_until(bystander, doc, Type::kRequest, good.hash()));
  CHECK(replica.graph.size() == 1);
  CHECK_FALSE(bystander.closed);
}

}  // namespace dagsync::test
