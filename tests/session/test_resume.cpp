// Resuming (docs/sessions.md#resuming): a reconnect costs what changed, over TCP and
// WebSocket; a peer whose store was replaced is resynced fully; a peer without the feature
// syncs by the old path; a malformed resume capability is refused.
#include <algorithm>

#include "dagsync/memory_storage.h"
#include "net_helpers.h"
#include "raw_peer.h"

namespace dagsync::test {
namespace {

constexpr int kDocuments = 200;

std::string doc_name(int i) {
  return "doc" + std::to_string(i);
}

// A peer whose storage keeps nothing for resuming: it speaks the protocol as before.
struct LegacyStorage : MemoryStorage {
  bool tracks_changes() override { return false; }
};

// Server and client options as a deployment would have them: the default share policy (the
// client offers what it holds to the server it dials; the server offers nothing unasked).
RepoOptions options(const std::string& id, std::shared_ptr<Storage> storage) {
  RepoOptions o;
  o.peer_id = id;
  o.storage = std::move(storage);
  o.logger = quiet_logger();
  o.heartbeat_interval = std::chrono::milliseconds(0);
  o.reconnect.initial = std::chrono::milliseconds(5);
  o.reconnect.max = std::chrono::milliseconds(100);
  return o;
}

const PeerStats& only_peer(const Repo& repo) {
  REQUIRE(repo.peers().size() == 1);
  static PeerStats copy;
  copy = repo.peers().front();
  return copy;
}

// Runs one request round trip to the server: every frame either side sent before it has
// arrived once the answer is back (frames keep their order).
void round_trip(asio::io_context& io, Repo& client) {
  bool answered = false;
  auto sub = client.on_peer_event([&](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kUnavailable && e.detail == "probe") answered = true;
  });
  client.request("probe");
  REQUIRE(run_until(io, [&] { return answered; }));
}

struct Fixture {
  asio::io_context io;
  Transports transports{io, {}, quiet_logger()};
  std::shared_ptr<Storage> server_storage = std::make_shared<MemoryStorage>();
  std::shared_ptr<Storage> client_storage;
  std::unique_ptr<Repo> server;
  std::unique_ptr<Repo> client;
  std::string url;

  Fixture(const std::string& scheme, std::shared_ptr<Storage> client_store)
      : client_storage(std::move(client_store)) {
    server = std::make_unique<Repo>(io, transports, options("server", server_storage));
    url = server->listen(listen_url(scheme, "resume-" + scheme));
  }
  void start_client() {
    client = std::make_unique<Repo>(io, transports, options("client", client_storage));
    client->connect(url);
  }
  // A client that leaves on purpose says goodbye: the server's answer confirms that what
  // the client sent last arrived, so both save their states as fresh.
  void stop_client() {
    client->disconnect(url);
    REQUIRE(run_until(io, [&] { return client->peers().empty(); }));
    client.reset();  // states saved
    settle(io);
    REQUIRE(run_until(io, [&] { return server->peers().empty(); }));
  }
  bool client_in_sync(int from, int to) {
    for (int i = from; i < to; ++i) {
      if (!client->in_sync_with("server", doc_name(i))) return false;
    }
    return true;
  }
  // The client brings kDocuments documents, syncs them all and leaves.
  void first_sync() {
    start_client();
    for (int i = 0; i < kDocuments; ++i) client->commit(doc_name(i), text("first " + doc_name(i)));
    REQUIRE(run_until(io, [&] { return client_in_sync(0, kDocuments); }));
    stop_client();
  }
};

TEST_CASE("resume: a reconnect of 200 documents costs what changed (tcp, ws; 0% and 1%)") {
  for (std::string scheme : {"tcp", "ws"}) {
    CAPTURE(scheme);
    Fixture f(scheme, std::make_shared<MemoryStorage>());
    f.first_sync();

    // Nothing changed: hellos and nothing else.
    f.start_client();
    REQUIRE(run_until(f.io, [&] {
      return f.client->peers().size() == 1 && only_peer(*f.client).resumed &&
             f.server->peers().size() == 1 && only_peer(*f.server).resumed;
    }));
    round_trip(f.io, *f.client);
    {
      const PeerStats c = only_peer(*f.client), s = only_peer(*f.server);
      CHECK(c.sync_messages_sent == 0);
      CHECK(s.sync_messages_sent == 0);
      CHECK(c.frames_sent - 1 <= 3);  // less the probe request
      CHECK(s.frames_sent - 1 <= 3);  // less its unavailable answer
      CHECK(c.bytes_sent <= 1024);
      CHECK(s.bytes_sent <= 1024);
      CHECK(c.documents_resumed == 0);
      CHECK(s.documents_resumed == 0);
    }
    // An untouched document still hears of a change in real time.
    f.server->commit(doc_name(7), text("live"));
    REQUIRE(run_until(f.io, [&] {
      return f.client->find(doc_name(7))->size() == 2 &&
             f.client->in_sync_with("server", doc_name(7));
    }));
    f.stop_client();

    // 1% changed on each side while apart: only those documents sync.
    f.server->commit(doc_name(10), text("server edit"));
    f.server->commit(doc_name(20), text("server edit"));
    {
      Repo offline(f.io, f.transports, options("client", f.client_storage));
      offline.commit(doc_name(30), text("client edit"));
      offline.commit(doc_name(40), text("client edit"));
    }
    f.start_client();
    REQUIRE(run_until(f.io, [&] {
      return f.client->peers().size() == 1 && f.client->find(doc_name(10))->size() == 2 &&
             f.client->find(doc_name(20))->size() == 2 &&
             f.client->peer_has_our_changes("server", doc_name(30)) &&
             f.client->peer_has_our_changes("server", doc_name(40)) &&
             f.client->in_sync_with("server", doc_name(10)) &&
             f.client->in_sync_with("server", doc_name(20));
    }));
    round_trip(f.io, *f.client);
    {
      const PeerStats c = only_peer(*f.client), s = only_peer(*f.server);
      CHECK(c.documents_resumed == 2);
      CHECK(s.documents_resumed == 2);
      // Four documents, a few messages each way for each; 200 before resuming.
      CHECK(c.sync_messages_sent <= 4 * 3);
      CHECK(s.sync_messages_sent <= 4 * 3);
      CHECK(c.changes_sent == 2);
      CHECK(s.changes_sent == 2);
    }
    CHECK(f.server->find(doc_name(30))->size() == 2);
    CHECK(f.server->find(doc_name(40))->size() == 2);
    f.stop_client();

    // And the next reconnect is quiet again: what was synced was saved as synced.
    f.start_client();
    REQUIRE(run_until(f.io, [&] {
      return f.client->peers().size() == 1 && only_peer(*f.client).resumed &&
             f.server->peers().size() == 1 && only_peer(*f.server).resumed;
    }));
    round_trip(f.io, *f.client);
    CHECK(only_peer(*f.client).sync_messages_sent == 0);
    CHECK(only_peer(*f.server).sync_messages_sent == 0);
  }
}

TEST_CASE("resume: a server whose store was replaced gets every document again") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto client_storage = std::make_shared<MemoryStorage>();
  auto old_store = std::make_shared<MemoryStorage>();
  std::string old_id = old_store->store_id();
  {
    Repo server(io, transports, options("server", old_store));
    std::string url = server.listen("tcp://127.0.0.1:0");
    Repo client(io, transports, options("client", client_storage));
    for (int i = 0; i < 20; ++i) client.commit(doc_name(i), text("x"));
    client.connect(url);
    REQUIRE(run_until(io, [&] {
      for (int i = 0; i < 20; ++i)
        if (!client.in_sync_with("server", doc_name(i))) return false;
      return true;
    }));
    // Leaving on purpose: the goodbye confirms what the client sent last.
    client.disconnect(url);
    REQUIRE(run_until(io, [&] { return client.peers().empty(); }));
  }
  settle(io);
  REQUIRE(client_storage->load_peer("server").has_value());
  CHECK(client_storage->load_peer("server")->store_id == old_id);
  CHECK(client_storage->stale_documents("server").empty());

  // The same peer id on an empty store: the client must not trust what it saved.
  auto new_store = std::make_shared<MemoryStorage>();
  Repo server(io, transports, options("server", new_store));
  std::string url = server.listen("tcp://127.0.0.1:0");
  Repo client(io, transports, options("client", client_storage));
  client.connect(url);
  REQUIRE(run_until(io, [&] {
    for (int i = 0; i < 20; ++i) {
      auto* doc = server.find(doc_name(i));
      if (!doc || doc->size() != 1) return false;
    }
    return true;
  }));
  CHECK(only_peer(client).resumed);
  CHECK(only_peer(client).documents_resumed == 20);
  client.disconnect(url);
  REQUIRE(run_until(io, [&] { return server.peers().empty() && client.peers().empty(); }));
  REQUIRE(client_storage->load_peer("server").has_value());
  CHECK(client_storage->load_peer("server")->store_id == new_store->store_id());
}

TEST_CASE("resume: a client whose store was replaced has its old states discarded") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto server_storage = std::make_shared<MemoryStorage>();
  Repo server(io, transports, options("server", server_storage));
  std::string url = server.listen("tcp://127.0.0.1:0");
  {
    Repo client(io, transports, options("client", std::make_shared<MemoryStorage>()));
    for (int i = 0; i < 5; ++i) client.commit(doc_name(i), text("x"));
    client.connect(url);
    REQUIRE(run_until(io, [&] {
      for (int i = 0; i < 5; ++i)
        if (!client.in_sync_with("server", doc_name(i))) return false;
      return true;
    }));
  }
  REQUIRE(run_until(io, [&] { return server.peers().empty(); }));
  REQUIRE(server_storage->load_sync_state(doc_name(3), "client").has_value());

  // A fresh store under the same peer id holds none of it: the server forgets its states,
  // and a document the client asks for comes whole.
  auto fresh = std::make_shared<MemoryStorage>();
  Repo client(io, transports, options("client", fresh));
  client.request(doc_name(3));
  client.connect(url);
  REQUIRE(run_until(io, [&] { return client.find(doc_name(3))->size() == 1; }));
  CHECK(!server_storage->load_sync_state(doc_name(4), "client").has_value());
  client.disconnect(url);
  REQUIRE(run_until(io, [&] { return server.peers().empty(); }));  // the record is saved at the end
  REQUIRE(server_storage->load_peer("client").has_value());
  CHECK(server_storage->load_peer("client")->store_id == fresh->store_id());
}

TEST_CASE("resume: a peer without the feature syncs by the old path") {
  for (bool legacy_server : {false, true}) {
    CAPTURE(legacy_server);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    std::shared_ptr<Storage> server_storage =
        legacy_server ? std::shared_ptr<Storage>(std::make_shared<LegacyStorage>())
                      : std::make_shared<MemoryStorage>();
    std::shared_ptr<Storage> client_storage =
        legacy_server ? std::shared_ptr<Storage>(std::make_shared<MemoryStorage>())
                      : std::make_shared<LegacyStorage>();
    Repo server(io, transports, options("server", server_storage));
    std::string url = server.listen("tcp://127.0.0.1:0");
    auto all_in_sync = [&](Repo& client) {
      for (int i = 0; i < 20; ++i)
        if (!client.in_sync_with("server", doc_name(i))) return false;
      return true;
    };
    {
      Repo client(io, transports, options("client", client_storage));
      for (int i = 0; i < 20; ++i) client.commit(doc_name(i), text("x"));
      client.connect(url);
      REQUIRE(run_until(io, [&] { return all_in_sync(client); }));
    }
    REQUIRE(run_until(io, [&] { return server.peers().empty(); }));
    server.commit(doc_name(5), text("server edit"));
    Repo client(io, transports, options("client", client_storage));
    client.connect(url);
    REQUIRE(run_until(
        io, [&] { return all_in_sync(client) && client.find(doc_name(5))->size() == 2; }));
    CHECK(!only_peer(client).resumed);
    CHECK(!only_peer(server).resumed);
    CHECK(only_peer(client).sync_messages_sent >= 20);  // every document offered, as before
  }
}

TEST_CASE("resume: a malformed resume capability is refused before anything is loaded") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<MemoryStorage>();
  Repo server(io, transports, options("server", storage));
  server.commit("doc", text("x"));
  std::string url = server.listen("tcp://127.0.0.1:0");
  const std::string good(32, 'a');
  struct Case {
    std::vector<std::string> capabilities;
    std::string error;  // empty: accepted
  };
  const std::vector<Case> cases = {
      {{"resume/2=" + std::string(31, 'a')}, "32 lowercase hex"},
      {{"resume/2=" + std::string(33, 'a')}, "32 lowercase hex"},
      {{"resume/2=" + std::string(32, 'A')}, "32 lowercase hex"},
      {{"resume/2=" + std::string(31, 'a') + "g"}, "32 lowercase hex"},
      {{"resume/2="}, "32 lowercase hex"},
      {{"resume/2=" + good, "resume/2=" + good}, "more than one"},
      {{"resume/3=anything at all"}, ""},  // a later version: ignored, the old path
      {{"resume/2=" + good}, ""},
  };
  int n = 0;
  for (const auto& c : cases) {
    CAPTURE(c.capabilities.front());
    RawPeer raw(transports, io, url);
    Envelope hello;
    hello.type = Envelope::Type::kHello;
    hello.protocol_version = Repo::kProtocolVersion;
    hello.peer_id = "raw" + std::to_string(n++);
    hello.capabilities = c.capabilities;
    raw.send(hello);
    if (c.error.empty()) {
      REQUIRE(
          run_until(io, [&] { return !server.peers().empty() && server.peers()[0].connected; }));
      CHECK(!raw.closed);
      CHECK(server.peers()[0].resumed == (c.capabilities.front().rfind("resume/2=", 0) == 0));
      raw.connection->close({CloseReason::Code::kNormal, "done"});
      REQUIRE(run_until(io, [&] { return server.peers().empty(); }));
      continue;
    }
    REQUIRE(run_until(io, [&] { return raw.closed.has_value(); }));
    CHECK(contains(raw.error_text(), c.error));
    REQUIRE(run_until(io, [&] { return server.peers().empty(); }));
    // Refused before the peer was looked up: no record, no state made for it.
    CHECK(!storage->load_peer(hello.peer_id).has_value());
    CHECK(storage->stale_documents(hello.peer_id).empty());
  }
}

}  // namespace
}  // namespace dagsync::test
