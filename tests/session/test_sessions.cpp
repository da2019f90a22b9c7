// Repo and peer sessions over every transport: two peers, a star relay, a mesh, cuts and
// reconnects, fault injection, hostile frames, saved sync states, realtime push.
#include <map>
#include <random>
#include <set>

#include "envelope.h"
#include "net_helpers.h"
#include "raw_peer.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

const std::vector<std::string> kSchemes = {"mem", "tcp", "ws"};

// Records every change a repo applies from peers, to prove none is applied twice.
struct Applied {
  std::map<std::string, std::multiset<ChangeHash>> by_doc;
  Subscription sub;
  explicit Applied(Repo& repo) {
    sub = repo.on_remote_changes([this](const RemoteChanges& r) {
      for (const auto& h : r.applied) by_doc[r.doc_id].insert(h);
    });
  }
  bool none_twice() const {
    for (const auto& [doc, hashes] : by_doc) {
      for (const auto& h : hashes) {
        if (hashes.count(h) > 1) return false;
      }
    }
    return true;
  }
};

bool same_document(const std::vector<Repo*>& repos, const std::string& doc,
                   std::size_t expected_size) {
  ChangeGraph* first = repos[0]->find(doc);
  if (!first || first->size() != expected_size) return false;
  for (Repo* r : repos) {
    ChangeGraph* g = r->find(doc);
    if (!g || g->heads() != first->heads() || g->size() != expected_size || g->pending_count() != 0)
      return false;
  }
  return true;
}

void commit_text(Repo& repo, const std::string& doc, int count, const std::string& label) {
  for (int i = 0; i < count; ++i)
    repo.commit(doc, text(label + " " + std::to_string(i)), std::nullopt, i);
}

}  // namespace

TEST_CASE("sessions: two peers sync a document and push later changes in real time") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    Repo a(io, transports, repo_options("a")), b(io, transports, repo_options("b"));
    Applied applied_b(b);
    commit_text(a, "doc", 5, "a");
    commit_text(b, "doc", 3, "b");
    std::vector<PeerEvent> events;
    auto sub = b.on_peer_event([&](const PeerEvent& e) { events.push_back(e); });
    b.connect(a.listen(listen_url(scheme, "two-" + scheme)));
    REQUIRE(run_until(io, [&] { return same_document({&a, &b}, "doc", 8); }));
    REQUIRE_FALSE(events.empty());
    CHECK(events[0].kind == PeerEvent::Kind::kConnected);
    CHECK(events[0].peer_id == "a");

    // A later commit reaches the peer without anyone asking.
    Change c = a.commit("doc", text("late"));
    REQUIRE(run_until(io, [&] { return b.find("doc")->has(c.hash()); }));
    CHECK(applied_b.by_doc["doc"].count(c.hash()) == 1);
    CHECK(applied_b.none_twice());
    REQUIRE(run_until(io, [&] { return a.peer_has_our_changes("b", "doc"); }));
  }
}

TEST_CASE("sessions: five peers in a star, the server relaying between clients") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    RepoOptions server_options = repo_options("server");
    server_options.share_policy = share_nothing();  // serve what clients bring or ask for
    Repo server(io, transports, server_options);
    std::string url = server.listen(listen_url(scheme, "star-" + scheme));
    std::vector<std::unique_ptr<Repo>> clients;
    std::vector<std::unique_ptr<Applied>> applied;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(
          std::make_unique<Repo>(io, transports, repo_options("client" + std::to_string(i))));
      applied.push_back(std::make_unique<Applied>(*clients.back()));
      commit_text(*clients.back(), "shared", 3, "c" + std::to_string(i));
      commit_text(*clients.back(), "own" + std::to_string(i), 2, "private");
      clients.back()->connect(url);
    }
    std::vector<Repo*> all = {&server};
    for (auto& c : clients) all.push_back(c.get());
    REQUIRE(run_until(io, [&] { return same_document(all, "shared", 12); }));
    // Concurrent edits while connected converge too.
    for (int i = 0; i < 4; ++i) commit_text(*clients[i], "shared", 2, "live" + std::to_string(i));
    REQUIRE(run_until(io, [&] { return same_document(all, "shared", 20); }));
    // The server keeps every client's documents but offers none unasked.
    for (int i = 0; i < 4; ++i) {
      CHECK(server.find("own" + std::to_string(i)) != nullptr);
      CHECK(clients[(i + 1) % 4]->find("own" + std::to_string(i)) == nullptr);
      CHECK(applied[i]->none_twice());
    }
  }
}

TEST_CASE("sessions: five peers in a mesh with concurrent edits on several documents") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    std::vector<std::unique_ptr<Repo>> peers;
    std::vector<std::string> urls;
    std::vector<std::unique_ptr<Applied>> applied;
    for (int i = 0; i < 5; ++i) {
      peers.push_back(
          std::make_unique<Repo>(io, transports, repo_options("p" + std::to_string(i))));
      applied.push_back(std::make_unique<Applied>(*peers.back()));
      urls.push_back(
          peers.back()->listen(listen_url(scheme, "mesh-" + scheme + std::to_string(i))));
    }
    for (int i = 0; i < 5; ++i) {
      for (int j = i + 1; j < 5; ++j) peers[i]->connect(urls[j]);
    }
    for (int i = 0; i < 5; ++i) {
      for (const std::string doc : {"x", "y", "z"})
        commit_text(*peers[i], doc, 2, "p" + std::to_string(i));
    }
    std::vector<Repo*> all;
    for (auto& p : peers) all.push_back(p.get());
    REQUIRE(run_until(io, [&] {
      return same_document(all, "x", 10) && same_document(all, "y", 10) &&
             same_document(all, "z", 10);
    }));
    for (auto& a : applied) CHECK(a->none_twice());
  }
}

TEST_CASE(
    "sessions: a connection cut mid-sync, then reconnect: nothing lost, nothing applied twice") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    auto server_storage = std::make_shared<MemoryStorage>();
    RepoOptions server_options = repo_options("server");
    server_options.storage = server_storage;
    auto server = std::make_unique<Repo>(io, transports, server_options);
    std::string url = server->listen(listen_url(scheme, "cut-" + scheme));
    Repo client(io, transports, repo_options("client"));
    Applied applied(client);
    commit_text(*server, "doc", 400, "server");
    commit_text(client, "doc", 300, "client");
    client.connect(url);
    // Let the first sync messages cross, then kill the server mid-sync.
    REQUIRE(run_until(io, [&] {
      for (const auto& p : server->peers()) {
        if (p.sync_messages_received > 0) return true;
      }
      return false;
    }));
    server.reset();
    settle(io);
    // The server comes back on the same address with its storage; the client redials.
    server = std::make_unique<Repo>(io, transports, server_options);
    std::string again = scheme == "mem" ? server->listen(url) : server->listen(url);
    REQUIRE(again == url);
    REQUIRE(run_until(io, [&] { return same_document({server.get(), &client}, "doc", 700); }));
    CHECK(applied.none_twice());
    CHECK(server_storage->load_changes("doc").size() == 700);
  }
}

TEST_CASE("sessions: in-memory fault injection over many seeds converges") {
  int seeds = seed_count(40);
  for (int seed = 1; seed <= seeds; ++seed) {
    CAPTURE(seed);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    MemoryFaults faults;
    faults.seed = static_cast<std::uint64_t>(seed);
    faults.drop = 0.03;
    faults.duplicate = 0.05;
    faults.reorder = 0.05;
    faults.cut = 0.02;
    faults.max_delay = std::chrono::milliseconds(2);
    transports.memory().set_faults(faults);
    auto opts = [](const std::string& id) {
      RepoOptions o = repo_options(id);
      o.heartbeat_interval = std::chrono::milliseconds(10);
      return o;
    };
    Repo server(io, transports, opts("server"));
    std::string url = server.listen("mem://faulty");
    Repo c1(io, transports, opts("c1")), c2(io, transports, opts("c2"));
    Applied a1(c1), a2(c2);
    c1.connect(url);
    c2.connect(url);
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    int total = 0;
    for (int round = 0; round < 10; ++round) {
      Repo& who = rng() % 2 ? c1 : c2;
      int n = 1 + static_cast<int>(rng() % 4);
      commit_text(who, "doc", n, "r" + std::to_string(round));
      total += n;
      run_until(
          io, [] { return false; }, std::chrono::milliseconds(3));
    }
    REQUIRE(run_until(io, [&] {
      return same_document({&server, &c1, &c2}, "doc", static_cast<std::size_t>(total));
    }));
    CHECK(a1.none_twice());
    CHECK(a2.none_twice());
  }
}

TEST_CASE("sessions: a hello with another protocol version is refused with a clear error") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    CapturedLog log;
    RepoOptions o = repo_options("server");
    o.logger = log.logger;
    Repo server(io, transports, o);
    std::string url = server.listen(listen_url(scheme, "version-" + scheme));
    RawPeer raw(transports, io, url);
    raw.hello("stranger", 99);
    REQUIRE(run_until(io, [&] { return raw.closed.has_value(); }));
    CHECK(raw.error_text().find("unsupported protocol version 99") != std::string::npos);
    CHECK(log.text().find("unsupported protocol version 99") != std::string::npos);
    CHECK(server.peers().empty());
  }
}

TEST_CASE("sessions: garbage and frames before hello close that session only") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    Repo server(io, transports, repo_options("server"));
    std::string url = server.listen(listen_url(scheme, "garbage-" + scheme));
    Repo good(io, transports, repo_options("good"));
    commit_text(good, "doc", 2, "good");
    good.connect(url);
    REQUIRE(run_until(io, [&] { return same_document({&server, &good}, "doc", 2); }));

    RawPeer garbage(transports, io, url);
    garbage.connection->send(Bytes{0xde, 0xad, 0xbe, 0xef});
    RawPeer early(transports, io, url);
    Envelope sync;
    sync.type = Envelope::Type::kSync;
    sync.doc_id = "doc";
    early.send(sync);
    RawPeer bad_sync(transports, io, url);
    bad_sync.hello("liar");
    Envelope junk;
    junk.type = Envelope::Type::kSync;
    junk.doc_id = "doc";
    junk.payload = Bytes{1, 2, 3};
    bad_sync.send(junk);

    REQUIRE(run_until(io, [&] { return garbage.closed && early.closed && bad_sync.closed; }));
    CHECK(garbage.error_text().find("malformed frame") != std::string::npos);
    CHECK(early.error_text().find("expected hello") != std::string::npos);
    CHECK(bad_sync.error_text().find("bad sync message") != std::string::npos);

    // The good peer is still served.
    commit_text(good, "doc", 1, "after");
    REQUIRE(run_until(io, [&] { return same_document({&server, &good}, "doc", 3); }));
  }
}

TEST_CASE("sessions: a peer that never says hello is dropped after the hello timeout") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  RepoOptions o = repo_options("server");
  o.hello_timeout = std::chrono::milliseconds(50);
  Repo server(io, transports, o);
  RawPeer silent(transports, io, server.listen("tcp://127.0.0.1:0"));
  REQUIRE(run_until(io, [&] { return silent.closed.has_value(); }));
  CHECK(silent.closed->code == CloseReason::Code::kRemoteClosed);
}

TEST_CASE("sessions: asking for a document the other side lacks gets unavailable") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Repo a(io, transports, repo_options("a")), b(io, transports, repo_options("b"));
  commit_text(a, "exists", 2, "a");
  std::vector<PeerEvent> events;
  auto sub = b.on_peer_event([&](const PeerEvent& e) { events.push_back(e); });
  b.connect(a.listen("mem://ask"));
  REQUIRE(run_until(io, [&] { return !b.peers().empty() && b.peers()[0].connected; }));
  b.request("missing");
  REQUIRE(run_until(io, [&] {
    return std::any_of(events.begin(), events.end(), [](const PeerEvent& e) {
      return e.kind == PeerEvent::Kind::kUnavailable && e.detail == "missing";
    });
  }));
  // A document the other side has arrives on request.
  RepoOptions quiet = repo_options("c");
  quiet.share_policy = share_nothing();
  Repo c(io, transports, quiet);
  c.connect("mem://ask");
  REQUIRE(run_until(io, [&] { return !c.peers().empty() && c.peers()[0].connected; }));
  c.request("exists");
  REQUIRE(run_until(io, [&] { return same_document({&a, &c}, "exists", 2); }));
}

TEST_CASE(
    "sessions: sync states are saved on disconnect and reused: a resumed resync costs at most a "
    "message each way") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Transports transports(io, {}, quiet_logger());
    auto storage = std::make_shared<MemoryStorage>();
    Repo a(io, transports, repo_options("a"));
    RepoOptions bo = repo_options("b");
    bo.storage = storage;
    auto b = std::make_unique<Repo>(io, transports, bo);
    commit_text(a, "doc", 50, "a");
    std::string url = a.listen(listen_url(scheme, "resume-" + scheme));
    b->connect(url);
    REQUIRE(run_until(io, [&] { return same_document({&a, b.get()}, "doc", 50); }));
    REQUIRE(run_until(io, [&] { return b->peer_has_our_changes("a", "doc"); }));
    b.reset();  // b shuts down: its sync state with a is saved
    REQUIRE(storage->load_sync_state("doc", "a").has_value());
    settle(io);

    b = std::make_unique<Repo>(io, transports, bo);  // restarts from its storage
    REQUIRE(b->find("doc") != nullptr);
    CHECK(b->find("doc")->size() == 50);
    b->connect(url);
    REQUIRE(run_until(io, [&] { return !b->peers().empty() && b->peers()[0].resumed; }));
    REQUIRE(run_until(io, [&] { return b->peer_has_our_changes("a", "doc"); }));
    settle(io);
    // Neither side changed the document since (sessions.md#resuming): b, which closed the
    // last session itself, sends nothing. a had the last word (a `complete` message, which
    // silence acknowledges) on a connection b closed, so it cannot know the message was
    // read: it offers the document once more, and a message each way at most settles it.
    for (const auto& p : a.peers()) CHECK(p.sync_messages_sent <= 1);
    for (const auto& p : b->peers()) CHECK(p.sync_messages_sent <= 1);
  }
}

TEST_CASE("sessions: a burst of local commits goes out as one round") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Repo a(io, transports, repo_options("a")), b(io, transports, repo_options("b"));
  a.open("doc");
  b.connect(a.listen("mem://burst"));
  REQUIRE(run_until(io, [&] { return !a.peers().empty() && a.peers()[0].connected; }));
  REQUIRE(run_until(
      io, [&] { return b.find("doc") != nullptr && a.peer_has_our_changes("b", "doc"); }));
  settle(io);
  auto before = a.peers()[0].sync_messages_sent;
  commit_text(a, "doc", 100, "burst");  // one turn of the loop
  REQUIRE(run_until(io, [&] { return same_document({&a, &b}, "doc", 100); }));
  CHECK(a.peers()[0].sync_messages_sent - before == 1);
}

#include "counting_adapter.h"

TEST_CASE("sessions: a custom transport adapter (docs/transports.md) carries a sync") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  std::uint64_t counted = 0;
  transports.add(std::make_unique<counting::Adapter>(transports, counted));
  Repo a(io, transports, repo_options("a")), b(io, transports, repo_options("b"));
  commit_text(a, "doc", 10, "a");
  std::string url = a.listen("count+tcp://127.0.0.1:0");
  CHECK(url.rfind("count+tcp://127.0.0.1:", 0) == 0);
  b.connect(url);
  REQUIRE(run_until(io, [&] { return same_document({&a, &b}, "doc", 10); }));
  CHECK(counted > 0);
}

TEST_CASE("sessions: a hello from an unexpected peer is refused") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Repo impostor(io, transports, repo_options("impostor"));
  CapturedLog log;
  RepoOptions o = repo_options("client");
  o.logger = log.logger;
  Repo client(io, transports, o);
  std::vector<PeerEvent> events;
  auto sub = client.on_peer_event([&](const PeerEvent& e) { events.push_back(e); });
  client.connect(impostor.listen("tcp://127.0.0.1:0"), "server");
  REQUIRE(run_until(io, [&] {
    return std::count_if(events.begin(), events.end(), [](const PeerEvent& e) {
             return e.kind == PeerEvent::Kind::kConnectFailed;
           }) >= 2;  // refused, then refused again on the retry
  }));
  CHECK(log.text().find("expected peer server, got a hello from impostor") != std::string::npos);
  CHECK(client.peers().empty());
}

TEST_CASE(
    "sessions: a backlog over the message limit streams in bounded parts over every transport") {
  for (const auto& scheme : kSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    // Frames over 80 KiB would close the connection: every part must fit.
    TransportOptions to;
    to.max_frame_bytes = 80u << 10;
    Transports transports(io, to, quiet_logger());
    RepoOptions oa = repo_options("a"), ob = repo_options("b");
    oa.max_message_bytes = ob.max_message_bytes = 64u << 10;
    Repo a(io, transports, oa), b(io, transports, ob);
    // 2 MiB of history: at least 32 parts of at most 64 KiB.
    for (int i = 0; i < 256; ++i) a.commit("doc", Bytes(8u << 10, static_cast<std::uint8_t>(i)));
    std::vector<std::size_t> sizes;  // b's document size at each arrival
    auto sub = b.on_remote_changes(
        [&](const RemoteChanges& r) { sizes.push_back(b.find(r.doc_id)->size()); });
    b.connect(a.listen(listen_url(scheme, "stream-" + scheme)));
    REQUIRE(run_until(io, [&] { return same_document({&a, &b}, "doc", 256); }));
    CHECK(sizes.size() >= 32);
    for (std::size_t i = 1; i < sizes.size(); ++i) CHECK(sizes[i] > sizes[i - 1]);
    auto stats = a.peers();
    REQUIRE(stats.size() == 1);
    CHECK(stats[0].changes_sent == 256);
    CHECK(stats[0].connected);  // never cut for an oversized frame
  }
}
