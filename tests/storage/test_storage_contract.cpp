// The Storage contract (storage.h), checked against every backend: MemoryStorage,
// SqliteStorage and, when built, PostgresStorage on a real server (postgres_server.h).
#include <filesystem>
#include <functional>

#include "automerge_vectors.h"
#include "dagsync/memory_storage.h"
#include "dagsync/sqlite_storage.h"
#include "helpers.h"
#include "temp_dir.h"
#ifdef DAGSYNC_HAVE_POSTGRESQL
#include "dagsync/postgres_storage.h"
#include "postgres_server.h"
#endif

using namespace dagsync;
using namespace dagsync::test;

namespace {

// One store, opened again by open() as a restarted process would (MemoryStorage: the same
// object, it has nothing to reopen from).
struct Backend {
  std::string name;
  std::function<std::shared_ptr<Storage>()> open;
};

std::vector<Backend> backends(const TempDir& dir) {
  auto memory = std::make_shared<MemoryStorage>();
  std::vector<Backend> out;
  out.push_back({"memory", [memory] { return memory; }});
  std::string path = dir.file("contract.db");
  out.push_back({"sqlite", [path] { return std::make_shared<SqliteStorage>(path); }});
#ifdef DAGSYNC_HAVE_POSTGRESQL
  // The database is made when the subcase first opens it, not for the other backends' runs.
  auto conninfo = std::make_shared<std::string>();
  out.push_back({"postgresql", [conninfo] {
                   if (conninfo->empty()) *conninfo = PostgresServer::shared().new_database();
                   return std::make_shared<PostgresStorage>(*conninfo);
                 }});
#endif
  return out;
}

// Runs `body` once per backend, each in a subcase named after it.
void for_each_backend(const std::function<void(const Backend&)>& body) {
  TempDir dir;
  for (const auto& backend : backends(dir)) {
    SUBCASE(backend.name.c_str()) {
      body(backend);
    }
  }
}

}  // namespace

TEST_CASE("storage contract: changes and sync states survive reopening; duplicates skipped") {
  for_each_backend([](const Backend& b) {
    ChangeGraph g(actor(1));
    commit_n(g, 20, "x");
    {
      auto s = b.open();
      s->append_changes("alpha", std::span<const Change>(g.changes()).first(10));
      s->append_changes("alpha", std::span<const Change>(g.changes()).subspan(10));
      s->append_changes("alpha", std::span<const Change>(g.changes()).first(3));  // skipped
      s->append_changes("beta", std::span<const Change>(g.changes()).first(1));
      s->save_sync_state("alpha", "peer-1", Bytes{1, 2, 3});
      s->save_sync_state("alpha", "peer-1", Bytes{4, 5});
    }
    auto s = b.open();
    CHECK(s->list_documents() == std::vector<std::string>{"alpha", "beta"});
    CHECK(hashes_of(s->load_changes("alpha")) == hashes_of(g.changes()));
    CHECK(s->load_changes("beta").size() == 1);
    CHECK(s->load_changes("nothing").empty());
    CHECK(s->load_sync_state("alpha", "peer-1") == Bytes{4, 5});
    CHECK_FALSE(s->load_sync_state("alpha", "peer-2").has_value());
  });
}

TEST_CASE("storage contract: has_document, sorted listing, states alone make a document") {
  for_each_backend([](const Backend& b) {
    auto s = b.open();
    CHECK_FALSE(s->has_document("zeta"));
    ChangeGraph g(actor(2));
    commit_n(g, 1, "z");
    s->append_changes("zeta", g.changes());
    s->save_sync_state("Alpha", "p", Bytes{9});
    s->save_sync_states("p", std::vector<SyncStateRecord>{{"mid", Bytes{1}}, {"zeta", Bytes{2}}});
    CHECK(s->has_document("zeta"));
    CHECK(s->has_document("Alpha"));
    CHECK_FALSE(s->has_document("alpha"));
    CHECK(s->list_documents() == std::vector<std::string>{"Alpha", "mid", "zeta"});
    CHECK(s->load_sync_state("mid", "p") == Bytes{1});
    CHECK(s->load_sync_state("zeta", "p") == Bytes{2});
  });
}

TEST_CASE("storage contract: claims keep their first owner") {
  for_each_backend([](const Backend& b) {
    auto s = b.open();
    CHECK(s->claim("actor", "aa", "alice") == "alice");
    CHECK(s->claim("actor", "aa", "bob") == "alice");
    CHECK(s->claim("peer", "aa", "bob") == "bob");  // kinds are apart
    CHECK(b.open()->claim("actor", "aa", "carol") == "alice");
    CHECK_FALSE(s->has_document("aa"));  // claims are not documents
  });
}

TEST_CASE("storage contract: load_changes_after reads only what came after a position") {
  for_each_backend([](const Backend& b) {
    auto s = b.open();
    ChangeGraph g(actor(3));
    commit_n(g, 6, "p");
    s->append_changes("doc", std::span<const Change>(g.changes()).first(4));
    StoredChanges all = s->load_changes_after("doc", 0);
    CHECK(hashes_of(all.changes) == hashes_of(s->load_changes("doc")));
    s->append_changes("doc", std::span<const Change>(g.changes()).subspan(4));
    StoredChanges next = s->load_changes_after("doc", all.position);
    if (all.position == 0) {
      // A store nobody else writes has no positions: it gives everything, still in order.
      CHECK(hashes_of(next.changes) == hashes_of(g.changes()));
    } else {
      CHECK(hashes_of(next.changes) ==
            hashes_of(std::vector<Change>(g.changes().begin() + 4, g.changes().end())));
      CHECK(next.position > all.position);
      CHECK(s->load_changes_after("doc", next.position).changes.empty());
    }
  });
}

TEST_CASE("storage contract: forget_peers_before keeps peers seen since") {
  for_each_backend([](const Backend& b) {
    auto s = b.open();
    s->save_sync_state("a", "p", Bytes{1});
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    CHECK(s->forget_peers_before(now - 3'600'000) == 0);
    CHECK(s->load_sync_state("a", "p"));
    CHECK(s->forget_peers_before(now + 3'600'000) == 1);
    CHECK_FALSE(s->load_sync_state("a", "p"));
  });
}

TEST_CASE("storage contract: Automerge changes load back as Automerge changes, verified") {
  for_each_backend([](const Backend& b) {
    // An actor id of 21 bytes: Automerge's ids are of any length.
    ChunkFields first;
    first.actor = Bytes(21, 0x5a);
    first.message = "first";
    Change c1 = am_change(first);
    ChunkFields second = first;
    second.seq = 2;
    second.start_op = 2;
    second.deps = {c1.hash()};
    second.message = "second";
    Change c2 = am_change(second);
    ChangeGraph dagsync_doc(actor(1));
    commit_n(dagsync_doc, 2, "x");
    {
      auto s = b.open();
      std::vector<Change> both{c1, c2};
      s->append_changes("automerge", both);
      s->append_changes("dagsync", dagsync_doc.changes());
    }
    auto s = b.open();
    auto loaded = s->load_changes("automerge");
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0].format() == ChangeFormat::kAutomerge);
    CHECK(loaded[1].hash() == c2.hash());
    CHECK(loaded[1].automerge_actor().size() == 21);
    CHECK(loaded[1].message() == std::optional<std::string>("second"));
    ChangeGraph graph(ChangeFormat::kAutomerge);
    CHECK(graph.add(loaded).applied.size() == 2);
    auto plain = s->load_changes("dagsync");
    REQUIRE(plain.size() == 2);
    CHECK(plain[0].format() == ChangeFormat::kDagsync);
  });
}

TEST_CASE("Change::from_automerge_verified refuses a chunk that hashes to another hash") {
  Change c = am_change(3, 1);
  CHECK(Change::from_automerge_verified(c.bytes(), c.hash()).hash() == c.hash());
  CHECK_THROWS_WITH_AS(Change::from_automerge_verified(c.bytes(), am_change(3, 2).hash()),
                       doctest::Contains("hash mismatch"), GraphError);
}
