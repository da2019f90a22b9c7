// The session protocol without any I/O: two SessionMachines wired frame to frame over plain
// ChangeGraphs, with the clock given by the test (lib/session/src/session_machine.h).
#include <map>
#include <memory>
#include <variant>

#include "helpers.h"
#include "session_machine.h"

namespace dagsync::test {
namespace {

using namespace std::chrono_literals;
namespace out = session_output;

// Documents and saved states in plain maps.
struct MapHost : SessionHost {
  std::map<std::string, ChangeGraph> docs;
  std::map<std::pair<std::string, std::string>, Bytes> saved;
  int loads = 0;

  ChangeGraph* find_document(const std::string& id) override {
    auto it = docs.find(id);
    return it == docs.end() ? nullptr : &it->second;
  }
  ChangeGraph& create_document(const std::string& id) override { return docs[id]; }
  void discard_document(const std::string& id) override { docs.erase(id); }
  std::vector<std::string> document_ids() const override {
    std::vector<std::string> ids;
    for (const auto& [id, g] : docs) ids.push_back(id);
    return ids;
  }
  std::optional<Bytes> load_sync_state(const std::string& doc, const std::string& peer) override {
    ++loads;
    auto it = saved.find({doc, peer});
    if (it == saved.end()) return std::nullopt;
    return it->second;
  }
};

SessionPolicy policy(const std::string& self, bool announce = true, bool create = true) {
  SessionPolicy p;
  p.local_peer_id = self;
  if (announce) p.share = [](const std::string&, const std::string&) { return true; };
  p.accept_unknown_documents = create;
  return p;
}

std::unique_ptr<SessionMachine> machine(MapHost& host, SessionPolicy p, SessionConfig config = {}) {
  return std::make_unique<SessionMachine>(host, std::move(p), config,
                                          std::make_unique<EnvelopeDialect>(1u << 20));
}

// Everything one side produced, by kind.
struct Drained {
  std::vector<Bytes> frames;
  std::vector<CloseReason> closes;
  std::vector<std::string> applied_docs, unavailable, created;
  std::vector<SyncStateRecord> saved;
  int ready = 0;
};

void collect(SessionMachine& m, Drained& d) {
  for (auto& o : m.take_outputs()) {
    if (auto* s = std::get_if<out::Send>(&o)) d.frames.push_back(std::move(s->frame));
    if (auto* c = std::get_if<out::Close>(&o)) d.closes.push_back(c->reason);
    if (std::holds_alternative<out::Ready>(o)) ++d.ready;
    if (auto* a = std::get_if<out::Applied>(&o)) d.applied_docs.push_back(a->doc_id);
    if (auto* u = std::get_if<out::Unavailable>(&o)) d.unavailable.push_back(u->doc_id);
    if (auto* c = std::get_if<out::Created>(&o)) d.created.push_back(c->doc_id);
    if (auto* s = std::get_if<out::SaveStates>(&o)) {
      d.saved.insert(d.saved.end(), s->states.begin(), s->states.end());
    }
  }
}

// Carries frames between the two machines until neither sends; returns frames carried.
int pump(SessionMachine& a, SessionMachine& b, Drained& da, Drained& db,
         SessionClock::time_point now) {
  int carried = 0;
  std::size_t sent_a = 0, sent_b = 0;
  for (int round = 0; round < 1000; ++round) {
    collect(a, da);
    collect(b, db);
    if (sent_a == da.frames.size() && sent_b == db.frames.size()) return carried;
    while (sent_a < da.frames.size()) b.receive_frame(da.frames[sent_a++], now), ++carried;
    while (sent_b < db.frames.size()) a.receive_frame(db.frames[sent_b++], now), ++carried;
  }
  FAIL("the machines never went quiet");
  return carried;
}

Envelope decode(const Bytes& frame) {
  return Envelope::decode(frame, 1u << 20);
}

TEST_CASE("session machine: hello, offer and sync converge; outputs are deterministic") {
  auto run = [] {
    MapHost server_host, client_host;
    ChangeGraph& doc = client_host.create_document("notes");
    doc = ChangeGraph(actor(1));
    commit_n(doc, 5, "client");
    auto server = machine(server_host, policy("server", false));
    auto client = machine(client_host, policy("client"));
    auto t0 = SessionClock::time_point{};
    server->start(t0);
    client->start(t0);
    Drained ds, dc;
    pump(*server, *client, ds, dc, t0);
    CHECK(ds.ready == 1);
    CHECK(dc.ready == 1);
    CHECK(server->peer_id() == "client");
    REQUIRE(server_host.find_document("notes"));
    CHECK(server_host.docs.at("notes").heads() == doc.heads());
    CHECK(ds.created == std::vector<std::string>{"notes"});
    CHECK(ds.applied_docs == std::vector<std::string>{"notes"});
    CHECK(server->in_sync("notes"));
    CHECK(client->in_sync("notes"));
    std::vector<Bytes> all = ds.frames;
    all.insert(all.end(), dc.frames.begin(), dc.frames.end());
    return all;
  };
  auto first = run();
  CHECK(first.size() >= 4);
  CHECK(run() == first);
}

TEST_CASE("session machine: the hello deadline and heartbeats follow the given clock") {
  MapHost host;
  SessionConfig config;
  config.hello_timeout = 1000ms;
  config.heartbeat_interval = 300ms;
  auto m = machine(host, policy("me"), config);
  auto t0 = SessionClock::time_point{} + 1h;
  m->start(t0);
  Drained d;
  collect(*m, d);
  REQUIRE(d.frames.size() == 1);
  CHECK(decode(d.frames[0]).type == Envelope::Type::kHello);
  REQUIRE(m->next_deadline());
  CHECK(*m->next_deadline() == t0 + 300ms);
  m->tick(t0 + 300ms);
  collect(*m, d);
  REQUIRE(d.frames.size() == 2);
  CHECK(decode(d.frames[1]).type == Envelope::Type::kHeartbeat);
  CHECK(*m->next_deadline() == t0 + 600ms);
  m->tick(t0 + 999ms);  // a late tick: one heartbeat, still no timeout
  collect(*m, d);
  CHECK(d.frames.size() == 3);
  CHECK(d.closes.empty());
  CHECK(*m->next_deadline() == t0 + 1000ms);
  m->tick(t0 + 1000ms);
  collect(*m, d);
  REQUIRE(d.closes.size() == 1);
  CHECK(d.closes[0].code == CloseReason::Code::kTimeout);
  CHECK(d.closes[0].message == "no hello within 1000 ms");
  CHECK(!m->next_deadline());
  CHECK(d.saved.empty());  // no hello, nothing to save
}

TEST_CASE("session machine: anything before the hello is a protocol error, and nothing after it") {
  MapHost host;
  auto m = machine(host, policy("me"));
  m->start({});
  Envelope request;
  request.type = Envelope::Type::kRequest;
  request.doc_id = "notes";
  EnvelopeDialect peer(1u << 20);
  m->receive_frame(peer.encode(request), {});
  Drained d;
  collect(*m, d);
  REQUIRE(d.frames.size() == 2);
  Envelope error = decode(d.frames[1]);
  CHECK(error.type == Envelope::Type::kError);
  CHECK(error.error == "expected hello, got request");
  REQUIRE(d.closes.size() == 1);
  CHECK(d.closes[0].code == CloseReason::Code::kProtocol);
  CHECK(m->closed());
  m->receive_frame(peer.encode(request), {});
  m->offer("notes");
  collect(*m, d);
  CHECK(d.frames.size() == 2);
  CHECK(d.closes.size() == 1);
}

TEST_CASE("session machine: hellos the policy refuses") {
  MapHost host;
  EnvelopeDialect peer(1u << 20);
  auto hello_from = [&](const std::string& id) {
    Envelope h;
    h.type = Envelope::Type::kHello;
    h.protocol_version = Repo::kProtocolVersion;
    h.peer_id = id;
    return peer.encode(h);
  };
  SUBCASE("itself") {
    auto m = machine(host, policy("me"));
    m->start({});
    m->receive_frame(hello_from("me"), {});
    Drained d;
    collect(*m, d);
    REQUIRE(d.closes.size() == 1);
    CHECK(d.closes[0].message == "connected to itself");
    CHECK(d.ready == 0);
  }
  SUBCASE("not the expected peer") {
    SessionPolicy p = policy("me");
    p.expected_peer_id = "server";
    auto m = machine(host, p);
    m->start({});
    m->receive_frame(hello_from("mallory"), {});
    Drained d;
    collect(*m, d);
    REQUIRE(d.closes.size() == 1);
    CHECK(d.closes[0].message == "expected peer server, got a hello from mallory");
  }
}

TEST_CASE(
    "session machine: an unknown document is refused as unavailable when the policy does not "
    "create") {
  MapHost server_host, client_host;
  client_host.create_document("secret").commit(text("x"), std::nullopt, 0);
  auto server = machine(server_host, policy("server", false, /*create=*/false));
  auto client = machine(client_host, policy("client"));
  server->start({});
  client->start({});
  Drained ds, dc;
  pump(*server, *client, ds, dc, {});
  CHECK(server_host.docs.empty());
  CHECK(dc.unavailable == std::vector<std::string>{"secret"});
  CHECK(ds.applied_docs.empty());
}

TEST_CASE("session machine: only sync states whose shared heads moved are saved, in one batch") {
  MapHost server_host, client_host;
  for (const char* id : {"a", "b", "c"}) {
    client_host.create_document(id).commit(text(id), std::nullopt, 0);
    server_host.create_document(id);
  }
  // "c" is already in sync from an earlier session: its state is loaded, and stays as it was.
  server_host.docs["c"] = client_host.docs["c"];
  auto sync_c = [&] {
    SyncState s;
    s.shared_heads = client_host.docs["c"].heads();
    return s.encode();
  };
  client_host.saved[{"c", "server"}] = sync_c();
  server_host.saved[{"c", "client"}] = sync_c();

  auto server = machine(server_host, policy("server"));
  auto client = machine(client_host, policy("client"));
  server->start({});
  client->start({});
  Drained ds, dc;
  pump(*server, *client, ds, dc, {});
  for (const char* id : {"a", "b", "c"})
    CHECK(server_host.docs[id].heads() == client_host.docs[id].heads());
  server->connection_closed({CloseReason::Code::kRemoteClosed, "bye"});
  collect(*server, ds);
  std::vector<std::string> saved_docs;
  for (const auto& r : ds.saved) saved_docs.push_back(r.doc_id);
  CHECK(saved_docs == std::vector<std::string>{"a", "b"});
  CHECK(ds.closes.empty());  // the transport closed it: no Close output back
  for (const auto& r : ds.saved) {
    CHECK(SyncState::decode(r.state).shared_heads == server_host.docs[r.doc_id].heads());
  }
}

// Resuming hosts: a store id, and a first session with the peer.
struct ResumingHost : MapHost {
  std::string store_id() override { return std::string(32, 'a'); }
};

// The defect found by the simulation's seed 542: a server's last sync message was lost just
// before it closed the connection on purpose, and both sides saved their states as fresh;
// resumed sessions then never offered the document again. A state whose last word was ours
// is fresh only when the peer's answer to our goodbye confirmed every frame we sent.
TEST_CASE(
    "session machine: a state whose last word was ours is fresh only after a confirmed goodbye") {
  enum class Ending { kConfirmed, kLastFrameLost, kNoAnswer, kNoGoodbye };
  for (Ending ending :
       {Ending::kConfirmed, Ending::kLastFrameLost, Ending::kNoAnswer, Ending::kNoGoodbye}) {
    CAPTURE(static_cast<int>(ending));
    ResumingHost server_host, client_host;
    ChangeGraph& doc = client_host.create_document("d");
    doc = ChangeGraph(actor(1));
    commit_n(doc, 1, "first");
    SessionConfig config;
    config.goodbye_timeout = 500ms;
    auto server = machine(server_host, policy("server", false), config);
    auto client = machine(client_host, policy("client"), config);
    auto t0 = SessionClock::time_point{} + 1h;
    server->start(t0);
    client->start(t0);
    Drained ds, dc;
    pump(*server, *client, ds, dc, t0);
    REQUIRE(server->resumed());
    REQUIRE(server_host.docs.at("d").heads() == doc.heads());

    // The client's last word: one more change, sent and counted as delivered once sent.
    commit_n(doc, 1, "last");
    client->sync_document("d");
    collect(*client, dc);
    collect(*server, ds);
    std::size_t before_goodbye = dc.frames.size();
    CHECK(client->has_our_changes("d"));
    const bool lost = ending == Ending::kLastFrameLost;
    if (!lost) {
      for (std::size_t i = 0; i < dc.frames.size(); ++i) server->receive_frame(dc.frames[i], t0);
      collect(*server, ds);
      dc.frames.clear();
      before_goodbye = 0;
      REQUIRE(server_host.docs.at("d").heads() == doc.heads());
    }
    client->close({CloseReason::Code::kNormal, "leaving"}, t0, ending != Ending::kNoGoodbye);
    collect(*client, dc);
    switch (ending) {
      case Ending::kConfirmed:
      case Ending::kLastFrameLost:
        // The goodbye (and only it) reaches the server; its answer, or its error, comes back.
        REQUIRE(dc.frames.size() == before_goodbye + 1);
        CHECK(decode(dc.frames.back()).type == Envelope::Type::kGoodbye);
        CHECK(dc.closes.empty());  // waiting for the answer
        server->receive_frame(dc.frames.back(), t0);
        collect(*server, ds);
        REQUIRE(!ds.frames.empty());
        client->receive_frame(ds.frames.back(), t0);
        break;
      case Ending::kNoAnswer:
        REQUIRE(client->next_deadline() == t0 + 500ms);
        client->tick(t0 + 499ms);
        collect(*client, dc);
        CHECK(dc.closes.empty());
        client->tick(t0 + 500ms);
        break;
      case Ending::kNoGoodbye:
        break;
    }
    collect(*client, dc);
    REQUIRE(client->closed());
    REQUIRE(dc.closes.size() == 1);
    CHECK(dc.closes[0].code == (lost ? CloseReason::Code::kProtocol : CloseReason::Code::kNormal));
    REQUIRE(dc.saved.size() == 1);
    CHECK(dc.saved[0].doc_id == "d");
    // Fresh only when confirmed; otherwise the client offers "d" again when it resumes.
    CHECK(dc.saved[0].peer_has_ours == (ending == Ending::kConfirmed));
    if (ending == Ending::kConfirmed) {
      REQUIRE(server->closed());
      CHECK(decode(ds.frames.back()).type == Envelope::Type::kGoodbye);
      REQUIRE(!ds.saved.empty());
      CHECK(ds.saved.back().peer_has_ours);
    }
  }
}

TEST_CASE("session machine: a goodbye from a peer that does not resume is a protocol error") {
  MapHost server_host, client_host;  // no store ids: neither resumes
  auto server = machine(server_host, policy("server", false));
  auto client = machine(client_host, policy("client"));
  server->start({});
  client->start({});
  Drained ds, dc;
  pump(*server, *client, ds, dc, {});
  REQUIRE(!server->resumed());
  // close(..., goodbye) without resuming closes at once, with no goodbye.
  client->close({CloseReason::Code::kNormal, "leaving"}, {}, true);
  collect(*client, dc);
  CHECK(client->closed());
  CHECK(decode(dc.frames.back()).type != Envelope::Type::kGoodbye);
  Envelope bye;
  bye.type = Envelope::Type::kGoodbye;
  bye.seq = decode(dc.frames.back()).seq + 1;
  bye.count = 3;
  server->receive_frame(bye.encode(), {});
  collect(*server, ds);
  CHECK(server->closed());
  REQUIRE(ds.closes.size() == 1);
  CHECK(ds.closes[0].code == CloseReason::Code::kProtocol);
  CHECK(ds.closes[0].message.find("goodbye") != std::string::npos);
}

TEST_CASE("session machine: a refused first message leaves no document behind") {
  MapHost server_host;
  auto server = machine(server_host, policy("server", false));
  server->start({});
  EnvelopeDialect peer(1u << 20);
  Envelope hello;
  hello.type = Envelope::Type::kHello;
  hello.protocol_version = Repo::kProtocolVersion;
  hello.peer_id = "mallory";
  server->receive_frame(peer.encode(hello), {});
  // Equivocation: two different changes at the same (actor, seq) are refused by the graph.
  ChangeGraph g(actor(7));
  Change c = g.commit(text("forged"), std::nullopt, 0);
  ChangeGraph g2(actor(7));
  Change other = g2.commit(text("other"), std::nullopt, 0);
  SyncMessage both;
  both.heads = {c.hash(), other.hash()};
  both.changes = {c, other};
  Envelope sync;
  sync.type = Envelope::Type::kSync;
  sync.doc_id = "invented";
  sync.payload = both.encode();
  server->receive_frame(peer.encode(sync), {});
  Drained d;
  collect(*server, d);
  CHECK(server_host.docs.empty());
  REQUIRE(d.closes.size() == 1);
  CHECK(d.closes[0].code == CloseReason::Code::kProtocol);
  CHECK(d.closes[0].message.find("document invented: refused changes") == 0);
  CHECK(d.created.empty());
  CHECK(d.saved.empty());
}

}  // namespace
}  // namespace dagsync::test
