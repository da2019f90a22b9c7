// Storage failures on the event loop: they close the session that needed the write, reach
// the application as PeerEvent::kStorageFailed and never escape io.run(); Repo::commit()
// stores before it applies.
#include "net_helpers.h"

namespace dagsync::test {
namespace {

// MemoryStorage whose writes fail while `broken` is set.
struct BreakableStorage : MemoryStorage {
  bool broken = false;
  int failed_appends = 0;
  void append_changes(const std::string& doc_id, std::span<const Change> changes) override {
    if (broken) {
      ++failed_appends;
      throw Error("test storage: disk full while storing " + doc_id);
    }
    MemoryStorage::append_changes(doc_id, changes);
  }
  void save_sync_states(const std::string& peer_id,
                        std::span<const SyncStateRecord> states) override {
    if (broken) throw Error("test storage: disk full while saving states");
    MemoryStorage::save_sync_states(peer_id, states);
  }
};

TEST_CASE("storage failure: a server that cannot store received changes closes that session only") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<BreakableStorage>();
  Repo server(io, transports, {.peer_id = "server", .storage = storage, .logger = quiet_logger()});
  std::vector<PeerEvent> server_events;
  auto sub = server.on_peer_event([&](const PeerEvent& e) { server_events.push_back(e); });
  std::string url = server.listen("mem://storage-failure");

  Repo good(io, transports, {.peer_id = "good", .logger = quiet_logger()});
  good.commit("shared", text("from good"));
  good.connect(url);
  REQUIRE(run_until(io, [&] { return good.in_sync_with("server", "shared"); }));

  storage->broken = true;
  Repo writer(io, transports, {.peer_id = "writer", .logger = quiet_logger()});
  std::vector<PeerEvent> writer_events;
  auto wsub = writer.on_peer_event([&](const PeerEvent& e) { writer_events.push_back(e); });
  writer.commit("other", text("will not be stored"));
  writer.connect(url);
  // io.run_one_for inside run_until would rethrow an escaping exception: none does.
  REQUIRE(run_until(io, [&] {
    return std::any_of(server_events.begin(), server_events.end(), [](const PeerEvent& e) {
      return e.kind == PeerEvent::Kind::kStorageFailed;
    });
  }));
  CHECK(storage->failed_appends >= 1);
  CHECK(storage->load_changes("other").empty());
  REQUIRE(run_until(io, [&] {
    return std::any_of(writer_events.begin(), writer_events.end(), [](const PeerEvent& e) {
      return e.kind == PeerEvent::Kind::kDisconnected &&
             e.detail.find("could not store") != std::string::npos;
    });
  }));
  // The other session is untouched: still connected and in sync.
  storage->broken = false;
  good.commit("shared", text("still flowing"));
  REQUIRE(run_until(io, [&] { return good.in_sync_with("server", "shared"); }));
  CHECK(server.find("shared")->size() == 2);
  CHECK(storage->load_changes("shared").size() == 2);
}

TEST_CASE("storage failure: Repo::commit stores before applying, so a failure changes nothing") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<BreakableStorage>();
  Repo repo(io, transports, {.peer_id = "solo", .storage = storage, .logger = quiet_logger()});
  repo.commit("notes", text("one"));
  storage->broken = true;
  CHECK_THROWS_WITH_AS(repo.commit("notes", text("two")), doctest::Contains("disk full"), Error);
  CHECK(repo.find("notes")->size() == 1);
  storage->broken = false;
  Change two = repo.commit("notes", text("two"));
  CHECK(two.seq() == 2);
  CHECK(storage->load_changes("notes").size() == 2);
}

TEST_CASE("storage failure: a graph commit that could not be stored is stored with the next one") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<BreakableStorage>();
  Repo repo(io, transports, {.peer_id = "solo", .storage = storage, .logger = quiet_logger()});
  ChangeGraph& graph = repo.open("notes");
  storage->broken = true;
  CHECK_THROWS_AS(graph.commit(text("in memory only")), Error);
  CHECK(graph.size() == 1);  // applied: the graph's own commit() cannot be undone
  CHECK(storage->load_changes("notes").empty());
  storage->broken = false;
  graph.commit(text("next"));
  auto stored = storage->load_changes("notes");
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].seq() == 1);
  CHECK(stored[1].seq() == 2);
}

// MemoryStorage refusing, as a store shared with another server does, a change whose
// (actor, seq) it already holds under another hash (the other server's).
struct ContestedStorage : MemoryStorage {
  ActorId contested_actor;
  std::uint64_t contested_seq = 0;
  void append_changes(const std::string& doc_id, std::span<const Change> changes) override {
    for (const Change& c : changes) {
      if (c.actor() == contested_actor && c.seq() == contested_seq) {
        throw StoredEquivocationError("equivocation: actor " + c.actor().hex() + " seq " +
                                      std::to_string(c.seq()) + " is both <theirs> and " +
                                      c.hash().hex());
      }
    }
    MemoryStorage::append_changes(doc_id, changes);
  }
};

TEST_CASE(
    "storage refusal: an equivocation the store refuses leaves the graph, the store and "
    "other sessions as they were") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto storage = std::make_shared<ContestedStorage>();
  Repo server(io, transports, {.peer_id = "server", .storage = storage, .logger = quiet_logger()});
  std::vector<PeerEvent> server_events;
  auto sub = server.on_peer_event([&](const PeerEvent& e) { server_events.push_back(e); });
  std::string url = server.listen("mem://contested");

  Repo good(io, transports, {.peer_id = "good", .logger = quiet_logger()});
  good.commit("shared", text("from good"));
  good.connect(url);
  REQUIRE(run_until(io, [&] { return good.in_sync_with("server", "shared"); }));

  // The writer brings a base change the store takes and one it refuses, in one message.
  ChangeGraph forged(actor(77));
  Change base = forged.commit(text("base"));
  Change contested = forged.commit(text("contested"));
  storage->contested_actor = contested.actor();
  storage->contested_seq = contested.seq();
  Repo writer(io, transports, {.peer_id = "writer", .logger = quiet_logger()});
  std::vector<PeerEvent> writer_events;
  auto wsub = writer.on_peer_event([&](const PeerEvent& e) { writer_events.push_back(e); });
  writer.open("shared").add(forged.changes());
  writer.connect(url);
  REQUIRE(run_until(io, [&] {
    return std::any_of(writer_events.begin(), writer_events.end(), [](const PeerEvent& e) {
      return e.kind == PeerEvent::Kind::kDisconnected &&
             e.detail.find("refused changes: equivocation") != std::string::npos;
    });
  }));
  // The refused change is neither in the graph nor in the store, and the two agree (the
  // base went with it when both came in one message).
  CHECK_FALSE(server.find("shared")->has(contested.hash()));
  auto stored = storage->load_changes("shared");
  CHECK(server.find("shared")->size() == stored.size());
  CHECK(server.find("shared")->has(base.hash()) ==
        std::any_of(stored.begin(), stored.end(),
                    [&](const Change& c) { return c.hash() == base.hash(); }));
  CHECK(std::none_of(server_events.begin(), server_events.end(),
                     [](const PeerEvent& e) { return e.kind == PeerEvent::Kind::kStorageFailed; }));
  // The other session goes on.
  good.commit("shared", text("still flowing"));
  std::size_t before = stored.size();
  REQUIRE(run_until(io, [&] { return server.find("shared")->size() == before + 1; }));
  CHECK(storage->load_changes("shared").size() == before + 1);
}

}  // namespace
}  // namespace dagsync::test
