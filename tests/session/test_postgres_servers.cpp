// Several servers on one PostgreSQL store: a change committed through one reaches the
// clients of another (LISTEN/NOTIFY), a server killed mid-sync and restarted converges, and
// equivocating changes brought to two servers at once: exactly one is stored.
#include "dagsync/postgres_storage.h"
#include "net_helpers.h"
#include "postgres_server.h"

namespace dagsync::test {
namespace {

struct Server {
  std::shared_ptr<PostgresStorage> storage;
  std::unique_ptr<Repo> repo;
  std::string url;
  Server(asio::io_context& io, Transports& transports, const std::string& store,
         const std::string& id) {
    storage = std::make_shared<PostgresStorage>(store);
    RepoOptions o = repo_options(id);
    o.storage = storage;
    repo = std::make_unique<Repo>(io, transports, o);
    url = repo->listen("tcp://127.0.0.1:0");
  }
};

bool has_all(Repo& repo, const std::string& doc, std::size_t n) {
  auto* g = repo.find(doc);
  return g && g->size() == n;
}

TEST_CASE("postgresql servers: a change through one server reaches a client of the other") {
  std::string store = PostgresServer::shared().new_database();
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Server a(io, transports, store, "server-a");
  Server b(io, transports, store, "server-b");
  Repo client_a(io, transports, repo_options("client-a"));
  Repo client_b(io, transports, repo_options("client-b"));
  client_a.commit("doc", text("first, from a"));
  client_a.connect(a.url);
  REQUIRE(run_until(io, [&] { return has_all(*a.repo, "doc", 1); }));
  // client-b asks server-b for the document: b loads it from the shared store.
  client_b.open("doc");
  client_b.connect(b.url);
  REQUIRE(run_until(io, [&] { return has_all(client_b, "doc", 1); }));
  // Now live: each commit crosses from one server to the other's client.
  for (int i = 0; i < 5; ++i) {
    client_a.commit("doc", text("a " + std::to_string(i)));
    REQUIRE(run_until(io, [&] { return has_all(client_b, "doc", 2 + 2 * i); }));
    client_b.commit("doc", text("b " + std::to_string(i)));
    REQUIRE(run_until(io, [&] { return has_all(client_a, "doc", 3 + 2 * i); }));
  }
  CHECK(client_a.find("doc")->heads() == client_b.find("doc")->heads());
  CHECK(a.storage->load_changes("doc").size() == 11);
}

TEST_CASE("postgresql servers: one killed mid-sync and restarted: the clients converge") {
  std::string store = PostgresServer::shared().new_database();
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto a = std::make_unique<Server>(io, transports, store, "server-a");
  Server b(io, transports, store, "server-b");
  Repo client_a(io, transports, repo_options("client-a"));
  Repo client_b(io, transports, repo_options("client-b"));
  client_b.open("doc");
  client_b.connect(b.url);
  for (int i = 0; i < 200; ++i) client_a.commit("doc", text("a " + std::to_string(i)));
  client_a.connect(a->url);
  // Killed as soon as part of the history is stored: no goodbye, sessions cut.
  REQUIRE(run_until(io, [&] { return a->repo->find("doc") != nullptr; }));
  a.reset();
  settle(io);
  CHECK(b.storage->load_changes("doc").size() <= 200);
  a = std::make_unique<Server>(io, transports, store, "server-a");
  client_a.connect(a->url);
  client_b.commit("doc", text("b after the restart"));
  REQUIRE(run_until(
      io, [&] { return has_all(client_a, "doc", 201) && has_all(client_b, "doc", 201); }));
  CHECK(client_a.find("doc")->heads() == client_b.find("doc")->heads());
  CHECK(b.storage->load_changes("doc").size() == 201);
}

TEST_CASE("postgresql servers: equivocating changes through two servers: exactly one wins") {
  std::string store = PostgresServer::shared().new_database();
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Server a(io, transports, store, "server-a");
  Server b(io, transports, store, "server-b");
  // One actor (a forged or cloned replica) makes two different changes at seq 2.
  ChangeGraph base(actor(42));
  commit_n(base, 1, "base");
  ChangeGraph fork1 = base, fork2 = base;
  Change c1 = fork1.commit(text("fork one"));
  Change c2 = fork2.commit(text("fork two"));
  REQUIRE(c1.seq() == c2.seq());
  Repo client_a(io, transports, repo_options("client-a"));
  Repo client_b(io, transports, repo_options("client-b"));
  client_a.open("doc").add(fork1.changes());
  client_b.open("doc").add(fork2.changes());
  std::vector<std::string> closes;
  auto watch = [&](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kDisconnected) closes.push_back(e.detail);
  };
  auto sa = client_a.on_peer_event(watch);
  auto sb = client_b.on_peer_event(watch);
  // A bystander on server b: its session must not be disturbed by the refusal.
  Repo bystander(io, transports, repo_options("bystander"));
  bystander.commit("other", text("unrelated"));
  bystander.connect(b.url);
  REQUIRE(run_until(io, [&] { return has_all(*b.repo, "other", 1); }));
  client_a.connect(a.url);
  client_b.connect(b.url);
  REQUIRE(run_until(io, [&] {
    return std::any_of(closes.begin(), closes.end(),
                       [](const std::string& d) { return contains(d, "equivocation"); });
  }));
  auto stored = a.storage->load_changes("doc");
  REQUIRE(stored.size() == 2);  // the base and exactly one fork
  bool one_won = stored[1].hash() == c1.hash();
  CHECK((one_won || stored[1].hash() == c2.hash()));
  // The loser's graph holds the winner (from the store) or nothing of seq 2, never its own.
  Repo& loser = one_won ? *b.repo : *a.repo;
  const Change& refused = one_won ? c2 : c1;
  REQUIRE(run_until(io, [&] { return loser.find("doc") != nullptr; }));
  CHECK_FALSE(loser.find("doc")->has(refused.hash()));
  // The bystander still syncs through server b.
  bystander.commit("other", text("still flowing"));
  REQUIRE(run_until(io, [&] { return has_all(*b.repo, "other", 2); }));
  CHECK(b.storage->load_changes("other").size() == 2);
}

}  // namespace
}  // namespace dagsync::test
