// Which documents a repo offers unasked (RepoOptions::share_policy), and which sync states a
// session writes when it ends. These tests build their options by hand: repo_options()
// shares everything, and the point here is the default.
#include <set>

#include "net_helpers.h"

namespace dagsync::test {
namespace {

RepoOptions plain_options(const std::string& id) {
  RepoOptions o;
  o.peer_id = id;
  o.logger = quiet_logger();
  o.heartbeat_interval = std::chrono::milliseconds(0);
  return o;
}

// MemoryStorage that counts the sync-state writes it is asked for.
struct CountingStorage : MemoryStorage {
  int save_calls = 0;
  int saved_records = 0;
  void save_sync_state(const std::string& doc_id, const std::string& peer_id,
                       ByteView state) override {
    ++save_calls;
    ++saved_records;
    MemoryStorage::save_sync_state(doc_id, peer_id, state);
  }
  void save_sync_states(const std::string& peer_id,
                        std::span<const SyncStateRecord> states) override {
    ++save_calls;
    saved_records += static_cast<int>(states.size());
    MemoryStorage::save_sync_states(peer_id, states);
  }
};

std::uint64_t total(const std::vector<PeerStats>& peers, std::uint64_t PeerStats::*field) {
  std::uint64_t sum = 0;
  for (const auto& p : peers) sum += p.*field;
  return sum;
}

TEST_CASE(
    "share policy: with the defaults, clients of one server each keep only their own document") {
  constexpr int kClients = 8;
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Repo server(io, transports, plain_options("server"));
  std::string url = server.listen("mem://share-default");
  std::vector<std::unique_ptr<Repo>> clients;
  for (int i = 0; i < kClients; ++i) {
    std::string id = "client" + std::to_string(i);
    clients.push_back(std::make_unique<Repo>(io, transports, plain_options(id)));
    for (int k = 0; k < 3; ++k) clients.back()->commit("doc" + std::to_string(i), text(id));
    clients.back()->connect(url);
  }
  REQUIRE(run_until(io, [&] {
    for (int i = 0; i < kClients; ++i) {
      if (!clients[i]->in_sync_with("server", "doc" + std::to_string(i))) return false;
    }
    return true;
  }));
  settle(io);
  CHECK(server.documents().size() == kClients);
  for (int i = 0; i < kClients; ++i) {
    CHECK(clients[i]->documents() == std::vector<std::string>{"doc" + std::to_string(i)});
    auto peers = clients[i]->peers();
    REQUIRE(peers.size() == 1);
    CHECK(peers[0].changes_received == 0);
    CHECK(peers[0].changes_sent == 3);
    // One document's exchange: an offer, the server's answer, at most a closing pair.
    CHECK(peers[0].sync_messages_sent <= 3);
    CHECK(peers[0].sync_messages_received <= 3);
  }
  auto server_peers = server.peers();
  CHECK(total(server_peers, &PeerStats::changes_sent) == 0);
  CHECK(total(server_peers, &PeerStats::changes_received) == 3 * kClients);

  SUBCASE("a client still gets another's document by asking for it") {
    clients[0]->request("doc1");
    REQUIRE(run_until(io, [&] {
      auto* g = clients[0]->find("doc1");
      return g && g->size() == 3;
    }));
    CHECK(clients[2]->documents() == std::vector<std::string>{"doc2"});
  }
}

TEST_CASE("share policy: a policy that offers a chosen subset") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions so = plain_options("server");
  std::vector<SharePeer> asked;
  so.share_policy = [&](const SharePeer& peer, const std::string& doc_id) {
    asked.push_back(peer);
    return doc_id.rfind("public/", 0) == 0;
  };
  Repo server(io, transports, so);
  for (const char* id : {"public/a", "public/b", "private/c"}) server.commit(id, text(id));
  std::string url = server.listen("mem://share-subset");
  Repo client(io, transports, plain_options("client"));
  client.connect(url);
  REQUIRE(run_until(io, [&] {
    return client.in_sync_with("server", "public/a") && client.in_sync_with("server", "public/b");
  }));
  settle(io);
  CHECK(client.documents() == std::vector<std::string>{"public/a", "public/b"});
  REQUIRE(!asked.empty());
  CHECK(asked[0].peer_id == "client");
  CHECK(!asked[0].dialled);  // the client dialled the server, not the other way round

  // A document committed later is offered to connected peers through the same policy.
  server.commit("public/late", text("late"));
  server.commit("private/late", text("late"));
  REQUIRE(run_until(io, [&] { return client.in_sync_with("server", "public/late"); }));
  settle(io);
  CHECK(client.find("private/late") == nullptr);
}

TEST_CASE("share policy: a disconnect writes only the sync states that changed, in one write") {
  constexpr int kDocs = 20;
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto server_storage = std::make_shared<CountingStorage>();
  auto client_storage = std::make_shared<CountingStorage>();
  RepoOptions so = plain_options("server");
  so.storage = server_storage;
  Repo server(io, transports, so);
  std::string url = server.listen("mem://share-states");
  RepoOptions co = plain_options("client");
  co.storage = client_storage;
  Repo client(io, transports, co);
  for (int i = 0; i < kDocs; ++i) client.commit("doc" + std::to_string(i), text("x"));
  auto all_in_sync = [&] {
    for (int i = 0; i < kDocs; ++i) {
      if (!client.in_sync_with("server", "doc" + std::to_string(i))) return false;
    }
    return true;
  };
  auto disconnected = [&] { return server.peers().empty() && client.peers().empty(); };

  client.connect(url);
  REQUIRE(run_until(io, all_in_sync));
  client.disconnect(url);
  REQUIRE(run_until(io, disconnected));
  CHECK(server_storage->saved_records == kDocs);  // the first session learnt every state
  CHECK(server_storage->save_calls == 1);
  CHECK(client_storage->saved_records == kDocs);
  CHECK(client_storage->save_calls == 1);

  SUBCASE("one document of M changed: one row each side") {
    client.commit("doc7", text("changed"));
    client.connect(url);
    REQUIRE(run_until(io, all_in_sync));
    client.disconnect(url);
    REQUIRE(run_until(io, disconnected));
    CHECK(server_storage->saved_records == kDocs + 1);
    CHECK(server_storage->save_calls == 2);
    CHECK(client_storage->saved_records == kDocs + 1);
  }
  SUBCASE("nothing changed: nothing written") {
    client.connect(url);
    REQUIRE(run_until(io, all_in_sync));
    client.disconnect(url);
    REQUIRE(run_until(io, disconnected));
    CHECK(server_storage->saved_records == kDocs);
    CHECK(server_storage->save_calls == 1);
    CHECK(client_storage->saved_records == kDocs);
  }
}

}  // namespace
}  // namespace dagsync::test
