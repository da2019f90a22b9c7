// Deterministic simulation of a small network of Repos (3 to 8 peers) over the in-memory
// transport. Each run is a function of its seed alone: a random topology (a spanning tree
// plus extra edges), random local commits on a few documents, connections opened and
// closed, partitions that heal, frames dropped, duplicated, reordered, delayed and
// connections cut (MemoryFaults), and peers that crash (or stop cleanly) and restart from
// their SQLite database under the same peer id. At the end every partition heals, every peer
// restarts, the faults stop, the topology is reconnected and the loop runs until nothing is left to
// do; then every peer must hold the same documents with the same heads and know it (in_sync_with),
// every committed change must be everywhere (and in every database: SqliteStorage appends before
// commit() returns, so none may be lost to a crash), and no Repo instance may have applied
// a change from a peer twice, or one it already held.
//
// Determinism: no clock is read anywhere. Heartbeats, the hello timeout and push_delay are
// off, Repo::connect (whose redials wait on timers) is not used: the simulation dials with
// Transports::connect and hands the connection to the dialling Repo (Repo::accept); the
// listening Repo gets its side through Repo::listen. Delay is MemoryFaults::max_delay_turns,
// counted in turns of the memory network's scheduler, which also releases frames in
// connection order (so the address order in which a Repo iterates its sessions cannot leak
// into the run). The io_context is driven with poll_one() only. Changes get a timestamp from
// the step counter and an actor chosen from (peer, incarnation, document) (see commit()).
// "simulation: a seed replays exactly" checks all this: it runs seeds twice, the second
// time with the heap rearranged, and compares the event traces and final heads.
//
//   DAGSYNC_SIM_SEEDS=10000 build/tests/dagsync_session_tests -tc='simulation*'
//   DAGSYNC_SIM_SEED=123 DAGSYNC_SIM_TRACE=1 build/tests/dagsync_session_tests -tc='simulation*'
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dagsync/sqlite_storage.h"
#include "net_helpers.h"

using namespace dagsync;
using namespace dagsync::test;
namespace fs = std::filesystem;

namespace {

long env_number(const char* name, long fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atol(value) : fallback;
}

// A Storage that stops reaching the disk when its process "dies": a crash destroys the
// Repo, and what its destructor would still write (the sessions' sync states) must not land.
class CrashableStorage : public Storage {
 public:
  explicit CrashableStorage(std::shared_ptr<Storage> inner) : inner_(std::move(inner)) {}
  bool dead = false;

  std::vector<std::string> list_documents() override { return inner_->list_documents(); }
  std::vector<Change> load_changes(const std::string& doc_id) override {
    return inner_->load_changes(doc_id);
  }
  void append_changes(const std::string& doc_id, std::span<const Change> changes) override {
    if (!dead) inner_->append_changes(doc_id, changes);
  }
  std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                       const std::string& peer_id) override {
    return inner_->load_sync_state(doc_id, peer_id);
  }
  void save_sync_state(const std::string& doc_id, const std::string& peer_id,
                       ByteView state) override {
    if (!dead) inner_->save_sync_state(doc_id, peer_id, state);
  }
  std::string claim(const std::string& kind, const std::string& key,
                    const std::string& principal) override {
    return dead ? principal : inner_->claim(kind, key, principal);
  }
  void save_sync_states(const std::string& peer_id,
                        std::span<const SyncStateRecord> states) override {
    if (!dead) inner_->save_sync_states(peer_id, states);
  }
  // Resuming, forwarded: the simulation checks it converges through crashes too.
  std::string store_id() override { return inner_->store_id(); }
  bool tracks_changes() override { return inner_->tracks_changes(); }
  std::uint64_t change_sequence() override { return inner_->change_sequence(); }
  std::vector<std::string> stale_documents(const std::string& peer_id) override {
    return inner_->stale_documents(peer_id);
  }
  std::vector<std::string> documents_changed_since(std::uint64_t seq,
                                                   const std::string& peer_id) override {
    return inner_->documents_changed_since(seq, peer_id);
  }
  std::vector<std::string> peers_with_state(const std::string& doc_id) override {
    return inner_->peers_with_state(doc_id);
  }
  std::optional<PeerRecord> load_peer(const std::string& peer_id) override {
    return inner_->load_peer(peer_id);
  }
  void save_peer(const std::string& peer_id, const PeerRecord& record) override {
    if (!dead) inner_->save_peer(peer_id, record);
  }
  std::size_t forget_peer(const std::string& peer_id) override {
    return dead ? 0 : inner_->forget_peer(peer_id);
  }

 private:
  std::shared_ptr<Storage> inner_;
};

// A directory under the system temp dir, removed with everything in it.
struct SimDir {
  fs::path path;
  explicit SimDir(std::uint64_t seed) {
    static int counter = 0;
    path = fs::temp_directory_path() / ("dagsync-sim-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(seed) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~SimDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  SimDir(const SimDir&) = delete;
  SimDir& operator=(const SimDir&) = delete;
};

struct Counters {
  long seeds = 0, peers = 0, steps = 0, commits = 0, crashes = 0, stops = 0, restarts = 0,
       partitions = 0, connections = 0, faulty_connections = 0, disconnects = 0,
       fault_disconnects = 0, remote_applied = 0, handlers = 0;
  void add(const Counters& o) {
    seeds += o.seeds, peers += o.peers, steps += o.steps, commits += o.commits;
    crashes += o.crashes, stops += o.stops, restarts += o.restarts, partitions += o.partitions;
    connections += o.connections, faulty_connections += o.faulty_connections;
    disconnects += o.disconnects, fault_disconnects += o.fault_disconnects;
    remote_applied += o.remote_applied, handlers += o.handlers;
  }
};

struct Outcome {
  std::string trace;         // one line per event, in the order they happened
  std::string trace_digest;  // SHA-256 of the trace
  std::string heads_digest;  // SHA-256 of every peer's final heads, per document
  std::vector<std::string> failures;
  Counters counters;
};

std::string hex8(const ChangeHash& h) {
  return h.short_hex();
}

class Simulation {
 public:
  explicit Simulation(std::uint64_t seed) : seed_(seed), rng_(seed), dir_(seed) {}

  Outcome run() {
    setup();
    for (step_ = 1; step_ <= steps_ && out_.failures.empty(); ++step_) {
      act();
      advance(below(150));
    }
    if (out_.failures.empty()) finish();
    out_.trace_digest = sha256(ByteView(reinterpret_cast<const std::uint8_t*>(out_.trace.data()),
                                        out_.trace.size()))
                            .hex();
    return std::move(out_);
  }

 private:
  struct Peer {
    std::string id, url, db;
    int incarnation = 0;  // 0: never started
    std::shared_ptr<CrashableStorage> storage;
    std::unique_ptr<Repo> repo;
    std::vector<Subscription> subscriptions;
    // This incarnation: what it loaded from storage or committed itself, what it applied
    // from peers, the documents it commits to under its own actor, how many it committed.
    std::map<std::string, std::set<ChangeHash>> own, applied;
    std::map<std::string, ActorId> actors;
    std::map<std::string, std::uint64_t> seqs;
    // What the previous incarnation held when it went down (crash or stop).
    std::map<std::string, std::set<ChangeHash>> held_at_crash;
    bool up() const { return repo != nullptr; }
  };
  struct Edge {
    int from, to;  // `from` dials `to`
  };
  struct Link {
    int from, to;
    std::shared_ptr<Connection> connection;  // the dialling side
  };

  // ---- randomness (all from the seed) ----
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(double p) { return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p; }

  // ---- bookkeeping ----
  void note(const std::string& line) {
    out_.trace += line;
    out_.trace += '\n';
  }
  void fail(const std::string& what) {
    if (out_.failures.size() < 20)
      out_.failures.push_back("step " + std::to_string(step_) + ": " + what);
  }
  std::string who(int i) const {
    return peers_[i].id + "/" + std::to_string(peers_[i].incarnation);
  }

  // ---- the event loop, driven without a clock ----
  void advance(std::uint64_t handlers) {
    for (std::uint64_t n = 0; n < handlers; ++n) {
      if (io_.stopped()) io_.restart();
      if (io_.poll_one() == 0) return;
      ++out_.counters.handlers;
    }
  }
  void quiesce() {
    for (std::uint64_t n = 0;; ++n) {
      if (io_.stopped()) io_.restart();
      if (io_.poll_one() == 0) return;
      ++out_.counters.handlers;
      if (n > 2'000'000) return fail("the loop did not go quiet after 2,000,000 handlers");
    }
  }

  // ---- set-up ----
  void setup() {
    int n = 3 + static_cast<int>(below(6));
    int docs = 1 + static_cast<int>(below(3));
    steps_ = 20 + static_cast<int>(below(41));
    for (int d = 0; d < docs; ++d) docs_.push_back("doc" + std::to_string(d));
    peers_.resize(n);
    for (int i = 0; i < n; ++i) {
      peers_[i].id = "p" + std::to_string(i);
      peers_[i].url = "mem://sim-p" + std::to_string(i);
      peers_[i].db = (dir_.path / (peers_[i].id + ".db")).string();
    }
    // A random spanning tree, then extra edges; each edge dialled from a random end.
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    for (int i = n - 1; i > 0; --i) std::swap(order[i], order[below(i + 1)]);
    std::set<std::pair<int, int>> linked;
    auto add_edge = [&](int a, int b) {
      linked.insert({std::min(a, b), std::max(a, b)});
      topology_.push_back(chance(0.5) ? Edge{a, b} : Edge{b, a});
    };
    for (int k = 1; k < n; ++k) add_edge(order[k], order[below(k)]);
    double extra = 0.1 + 0.3 * chance(0.5);
    for (int a = 0; a < n; ++a) {
      for (int b = a + 1; b < n; ++b) {
        if (!linked.count({a, b}) && chance(extra)) add_edge(a, b);
      }
    }
    std::ostringstream line;
    line << "seed " << seed_ << " peers " << n << " docs " << docs << " steps " << steps_
         << " edges";
    for (const auto& e : topology_) line << ' ' << e.from << '>' << e.to;
    note(line.str());
    out_.counters.seeds = 1;
    out_.counters.peers = n;
    change_weather();
    for (int i = 0; i < n; ++i) start(i);
    for (const auto& e : topology_) dial(e.from, e.to);
  }

  // Faults for the connections made from now on.
  void change_weather() {
    MemoryFaults f;
    f.seed = rng_();
    f.max_delay_turns = 1 + static_cast<std::uint32_t>(below(4));
    switch (below(3)) {
      case 0:  // only delay, which the transport contract allows
        break;
      case 1:
        f.drop = 0.01, f.duplicate = 0.02, f.reorder = 0.02, f.cut = 0.005;
        break;
      default:
        f.drop = 0.04, f.duplicate = 0.05, f.reorder = 0.04, f.cut = 0.02;
        break;
    }
    faults_ = f;
    transports_.memory().set_faults(f);
    note("weather drop " + std::to_string(f.drop) + " dup " + std::to_string(f.duplicate) +
         " reorder " + std::to_string(f.reorder) + " cut " + std::to_string(f.cut) + " turns " +
         std::to_string(f.max_delay_turns));
  }

  // ---- peers: start, crash ----
  void start(int i) {
    Peer& p = peers_[i];
    ++p.incarnation;
    if (p.incarnation > 1) ++out_.counters.restarts;
    auto sqlite = std::make_shared<SqliteStorage>(
        p.db, SqliteOptions{.durability = SqliteOptions::Durability::kNormal});
    p.storage = std::make_shared<CrashableStorage>(sqlite);
    RepoOptions o;
    o.peer_id = p.id;  // the same peer after a restart; its actors are new (commit())
    o.storage = p.storage;
    o.logger = logger_;
    o.hello_timeout = std::chrono::milliseconds(0);
    o.heartbeat_interval = std::chrono::milliseconds(0);
    o.push_delay = std::chrono::milliseconds(0);
    o.share_policy = share_everything();  // a mesh of equals: every peer relays everything
    p.repo = std::make_unique<Repo>(io_, transports_, o);
    p.repo->listen(p.url);
    p.own.clear(), p.applied.clear(), p.actors.clear(), p.seqs.clear();
    std::ostringstream line;
    line << "start " << who(i);
    for (const auto& doc : p.repo->documents()) {
      const ChangeGraph* g = p.repo->find(doc);
      for (const auto& c : g->changes()) p.own[doc].insert(c.hash());
      line << ' ' << doc << ':' << g->size();
    }
    note(line.str());
    // Every change the previous incarnation held was on disk.
    for (const auto& [doc, hashes] : p.held_at_crash) {
      for (const auto& h : hashes) {
        if (!p.own[doc].count(h))
          fail(who(i) + " restarted without change " + h.hex() + " of " + doc +
               " that it held before the crash");
      }
    }
    p.held_at_crash.clear();
    p.subscriptions.push_back(
        p.repo->on_remote_changes([this, i](const RemoteChanges& r) { remote_changes(i, r); }));
    p.subscriptions.push_back(
        p.repo->on_peer_event([this, i](const PeerEvent& e) { peer_event(i, e); }));
  }

  // A crash: the Repo is destroyed without ceremony and nothing it would still write lands.
  // A stop: the same, but its destructor may save the sessions' sync states.
  void crash(int i, bool clean = false) {
    Peer& p = peers_[i];
    note((clean ? "stop " : "crash ") + who(i));
    ++(clean ? out_.counters.stops : out_.counters.crashes);
    for (const auto& doc : p.repo->documents()) {
      for (const auto& c : p.repo->find(doc)->changes()) p.held_at_crash[doc].insert(c.hash());
    }
    p.storage->dead = !clean;  // from here on nothing reaches the disk
    p.subscriptions.clear();
    p.repo.reset();
    p.storage.reset();
  }

  void remote_changes(int i, const RemoteChanges& r) {
    Peer& p = peers_[i];
    std::string line = "applied " + who(i) + " " + r.doc_id + " from " + r.peer_id;
    for (const auto& h : r.applied) {
      line += " " + hex8(h);
      if (!p.applied[r.doc_id].insert(h).second)
        fail(who(i) + " applied change " + h.hex() + " of " + r.doc_id + " twice");
      if (p.own[r.doc_id].count(h))
        fail(who(i) + " applied change " + h.hex() + " of " + r.doc_id +
             " from a peer, but already held it (stored or committed here)");
    }
    out_.counters.remote_applied += static_cast<long>(r.applied.size());
    note(line);
  }

  void peer_event(int i, const PeerEvent& e) {
    static const char* kinds[] = {"connected", "disconnected", "connect-failed", "unavailable"};
    note("event " + who(i) + " " + kinds[static_cast<int>(e.kind)] + " " + e.peer_id + " " +
         e.detail);
    if (e.kind == PeerEvent::Kind::kDisconnected) {
      ++out_.counters.disconnects;
      if (e.detail.find("frames lost") != std::string::npos ||
          e.detail.find("fault injection") != std::string::npos)
        ++out_.counters.fault_disconnects;
    }
  }

  // ---- connections ----
  bool separated(int a, int b) const { return !side_.empty() && side_[a] != side_[b]; }
  bool live(int a, int b) const {
    for (const auto& l : links_) {
      if (((l.from == a && l.to == b) || (l.from == b && l.to == a)) && l.connection->is_open())
        return true;
    }
    return dialing_.count({std::min(a, b), std::max(a, b)}) > 0;
  }

  void dial(int from, int to) {
    if (!peers_[from].up() || separated(from, to)) return;
    note("dial " + who(from) + " > " + peers_[to].id);
    ++out_.counters.connections;
    if (faults_.drop + faults_.duplicate + faults_.reorder + faults_.cut > 0)
      ++out_.counters.faulty_connections;
    auto key = std::pair{std::min(from, to), std::max(from, to)};
    dialing_.insert(key);  // a multiset: the same pair may be dialled twice
    int incarnation = peers_[from].incarnation;
    transports_.connect(peers_[to].url, [this, from, to, incarnation, key](
                                            std::shared_ptr<Connection> c, ConnectError error) {
      dialing_.erase(dialing_.find(key));
      if (!c) {
        note("dial-failed " + peers_[from].id + " > " + peers_[to].id + " " + error.message);
        return;
      }
      Peer& p = peers_[from];
      if (!p.up() || p.incarnation != incarnation || separated(from, to)) {
        note("dial-dropped " + peers_[from].id + " > " + peers_[to].id);
        c->close({CloseReason::Code::kNormal, "no longer wanted"});
        return;
      }
      note("dial-ok " + who(from) + " > " + peers_[to].id);
      p.repo->accept(c, peers_[to].url);
      links_.push_back({from, to, c});
    });
  }

  void prune_links() {
    std::erase_if(links_, [](const Link& l) { return !l.connection->is_open(); });
  }

  void repair() {
    note("repair");
    for (const auto& e : topology_) {
      if (peers_[e.from].up() && peers_[e.to].up() && !live(e.from, e.to)) dial(e.from, e.to);
    }
  }

  // ---- one step ----
  int random_peer(bool up) {
    std::vector<int> candidates;
    for (int i = 0; i < static_cast<int>(peers_.size()); ++i) {
      if (peers_[i].up() == up) candidates.push_back(i);
    }
    return candidates.empty() ? -1 : candidates[below(candidates.size())];
  }

  void act() {
    prune_links();
    std::uint64_t roll = below(100);
    if (roll < 38) {
      int i = random_peer(true);
      if (i < 0) {
        i = random_peer(false);
        start(i);
      }
      const std::string& doc = docs_[below(docs_.size())];
      int count = 1 + static_cast<int>(below(3));
      for (int k = 0; k < count; ++k) commit(i, doc);
    } else if (roll < 46) {
      note("quiesce");
      quiesce();
    } else if (roll < 56) {
      int a = static_cast<int>(below(peers_.size())), b = static_cast<int>(below(peers_.size()));
      if (a != b && peers_[b].up()) dial(a, b);  // possibly a second connection
    } else if (roll < 62) {
      if (!links_.empty()) {
        const Link& l = links_[below(links_.size())];
        note("disconnect " + peers_[l.from].id + " > " + peers_[l.to].id);
        l.connection->close({CloseReason::Code::kNormal, "disconnected"});
      }
    } else if (roll < 69) {
      if (side_.empty()) {
        partition();
      } else {
        note("heal");
        side_.clear();
        repair();
      }
    } else if (roll < 75) {
      int i = random_peer(true);
      if (i >= 0) crash(i, chance(0.25));
    } else if (roll < 82) {
      int i = random_peer(false);
      if (i >= 0) {
        start(i);
        for (const auto& e : topology_) {
          if ((e.from == i || e.to == i) && peers_[e.from].up() && peers_[e.to].up())
            dial(e.from, e.to);
        }
      }
    } else if (roll < 87) {
      change_weather();
    } else if (roll < 95) {
      repair();
    } else {
      int i = random_peer(true);
      if (i >= 0) {
        const std::string& doc = docs_[below(docs_.size())];
        note("request " + who(i) + " " + doc);
        peers_[i].repo->request(doc);
      }
    }
    ++out_.counters.steps;
  }

  void partition() {
    int n = static_cast<int>(peers_.size());
    side_.assign(n, 0);
    int first = static_cast<int>(below(n)),
        second = (first + 1 + static_cast<int>(below(n - 1))) % n;
    side_[second] = 1;
    for (int i = 0; i < n; ++i) {
      if (i != first && i != second) side_[i] = chance(0.5) ? 1 : 0;
    }
    std::string line = "partition";
    for (int s : side_) line += s ? " B" : " A";
    note(line);
    ++out_.counters.partitions;
    for (const auto& l : links_) {
      if (separated(l.from, l.to))
        l.connection->close({CloseReason::Code::kNetwork, "network partition"});
    }
  }

  // A local commit. The Repo gives each document a fresh random actor when it creates the
  // document (so a restarted replica never reuses an actor); for runs to replay from the
  // seed, the simulation swaps that for an actor derived from (peer, incarnation, document)
  // before the first commit, through the public API: copy-assigning a graph keeps the
  // target's subscriptions, so the Repo keeps storing and pushing its commits.
  void commit(int i, const std::string& doc) {
    Peer& p = peers_[i];
    ChangeGraph& g = p.repo->open(doc);
    if (!p.actors.count(doc)) {
      if (!repo_actors_.insert(g.local_actor()).second)
        fail(who(i) + ": the Repo picked actor " + g.local_actor().hex() + " for " + doc +
             " again");
      ActorId actor;
      actor.bytes[0] = 0x5a;
      actor.bytes[1] = static_cast<std::uint8_t>(i);
      actor.bytes[2] = static_cast<std::uint8_t>(p.incarnation >> 8);
      actor.bytes[3] = static_cast<std::uint8_t>(p.incarnation);
      actor.bytes[4] =
          static_cast<std::uint8_t>(std::find(docs_.begin(), docs_.end(), doc) - docs_.begin());
      ChangeGraph fresh(actor, g.limits());
      fresh.add(g.changes());
      if (auto pending = g.pending_changes(); !pending.empty()) fresh.add(pending);
      g = fresh;
      p.actors[doc] = actor;
    }
    std::string payload = who(i) + " #" + std::to_string(++commit_counter_);
    Change c = p.repo->commit(doc, text(payload), std::nullopt, step_);
    if (c.actor() != p.actors[doc] || c.seq() != ++p.seqs[doc])
      fail(who(i) + ": commit on " + doc + " has actor " + c.actor().hex() + " seq " +
           std::to_string(c.seq()));
    if (!committed_[doc].insert(c.hash()).second) fail("two commits with hash " + c.hash().hex());
    p.own[doc].insert(c.hash());
    ++out_.counters.commits;
    note("commit " + who(i) + " " + doc + " " + hex8(c.hash()) + " deps " +
         std::to_string(c.deps().size()));
  }

  // ---- the end: heal everything and check ----
  void finish() {
    step_ = steps_ + 1;
    note("final");
    for (int i = 0; i < static_cast<int>(peers_.size()); ++i) {
      if (!peers_[i].up()) start(i);
    }
    side_.clear();
    quiesce();  // dials still under way land first
    for (const auto& l : links_) l.connection->close({CloseReason::Code::kNormal, "final phase"});
    links_.clear();
    quiesce();
    for (int i = 0; i < static_cast<int>(peers_.size()); ++i) {
      if (!peers_[i].repo->peers().empty())
        fail(who(i) + " still has " + std::to_string(peers_[i].repo->peers().size()) +
             " sessions after every connection was closed");
    }
    MemoryFaults calm;
    calm.seed = rng_();
    calm.max_delay_turns = 2;  // order-keeping delay only, as the transport contract allows
    faults_ = calm;
    transports_.memory().set_faults(calm);
    for (const auto& e : topology_) dial(e.from, e.to);
    quiesce();
    if (!out_.failures.empty()) return;
    check_final();
  }

  void check_final() {
    int n = static_cast<int>(peers_.size());
    // Every connection of the topology is up, with a hello both ways.
    std::vector<int> degree(n);
    for (const auto& e : topology_) ++degree[e.from], ++degree[e.to];
    for (int i = 0; i < n; ++i) {
      auto sessions = peers_[i].repo->peers();
      long ready = std::count_if(sessions.begin(), sessions.end(),
                                 [](const PeerStats& s) { return s.connected; });
      if (ready != degree[i])
        fail(who(i) + " has " + std::to_string(ready) + " ready sessions, expected " +
             std::to_string(degree[i]));
    }
    std::set<std::string> docs;
    for (const auto& p : peers_) {
      for (const auto& d : p.repo->documents()) docs.insert(d);
    }
    std::string heads_text;
    for (const auto& doc : docs) {
      const auto& expected = committed_[doc];
      heads_text += doc + ":";
      const ChangeGraph* first = nullptr;
      for (int i = 0; i < n; ++i) {
        const ChangeGraph* g = peers_[i].repo->find(doc);
        if (!g) {
          if (!expected.empty()) fail(who(i) + " lacks document " + doc);
          continue;
        }
        for (const auto& h : g->heads()) heads_text += " " + h.hex();
        heads_text += " |";
        if (g->pending_count() != 0)
          fail(who(i) + " has " + std::to_string(g->pending_count()) + " pending changes in " +
               doc);
        std::set<ChangeHash> held;
        for (const auto& c : g->changes()) held.insert(c.hash());
        for (const auto& h : expected) {
          if (!held.count(h)) fail(who(i) + " lacks committed change " + h.hex() + " of " + doc);
        }
        if (held.size() != expected.size())
          fail(who(i) + " holds " + std::to_string(held.size()) + " changes of " + doc + ", " +
               std::to_string(expected.size()) + " were committed");
        if (!first) {
          first = g;
        } else if (g->heads() != first->heads()) {
          fail(who(i) + " has other heads for " + doc + " than " +
               (first->heads().empty() ? std::string("the first peer's (none)")
                                       : first->heads().front().hex()));
        }
      }
      heads_text += "\n";
      // Both ends of every connection know they are in sync (protocol.md 8.11).
      if (!expected.empty()) {
        for (const auto& e : topology_) {
          for (auto [x, y] : {std::pair{e.from, e.to}, std::pair{e.to, e.from}}) {
            if (!peers_[x].repo->in_sync_with(peers_[y].id, doc))
              fail(who(x) + " does not know it is in sync with " + peers_[y].id + " on " + doc +
                   " (peer_has_our_changes: " +
                   (peers_[x].repo->peer_has_our_changes(peers_[y].id, doc) ? "yes" : "no") + ")");
          }
        }
      }
    }
    // And every peer's database holds every committed change.
    for (int i = 0; i < n; ++i) {
      SqliteStorage disk(peers_[i].db,
                         SqliteOptions{.durability = SqliteOptions::Durability::kNormal});
      for (const auto& [doc, expected] : committed_) {
        std::set<ChangeHash> stored;
        for (const auto& c : disk.load_changes(doc)) stored.insert(c.hash());
        if (stored != expected)
          fail(who(i) + "'s database holds " + std::to_string(stored.size()) + " changes of " +
               doc + ", " + std::to_string(expected.size()) + " were committed");
      }
    }
    note("heads\n" + heads_text);
    out_.heads_digest = sha256(ByteView(reinterpret_cast<const std::uint8_t*>(heads_text.data()),
                                        heads_text.size()))
                            .hex();
  }

  std::uint64_t seed_;
  std::mt19937_64 rng_;
  SimDir dir_;
  Outcome out_;
  int step_ = 0, steps_ = 0;
  std::uint64_t commit_counter_ = 0;
  std::vector<std::string> docs_;
  std::vector<Edge> topology_;
  std::vector<int> side_;  // empty: no partition; else each peer's side
  std::multiset<std::pair<int, int>> dialing_;
  std::map<std::string, std::set<ChangeHash>> committed_;
  std::set<ActorId> repo_actors_;
  MemoryFaults faults_;
  std::shared_ptr<spdlog::logger> logger_ = quiet_logger();
  // Destroyed in reverse: peers (Repos) first, then the connections (their timers belong to
  // the loop), then the transports, then the loop.
  asio::io_context io_;
  Transports transports_{io_, {}, logger_};
  std::vector<Link> links_;
  std::vector<Peer> peers_;
};

Outcome simulate(std::uint64_t seed) {
  return Simulation(seed).run();
}

std::string describe(const Counters& c) {
  std::ostringstream out;
  out << c.seeds << " seeds, " << c.peers << " peers, " << c.steps << " steps, " << c.commits
      << " changes committed, " << c.remote_applied << " applied from peers, " << c.crashes
      << " crashes and " << c.stops << " clean stops (" << c.restarts << " restarts), "
      << c.partitions << " partitions, " << c.connections << " connections ("
      << c.faulty_connections << " with drop/dup/reorder/cut"
      << " faults), " << c.disconnects << " disconnects (" << c.fault_disconnects
      << " caused by injected faults), " << c.handlers << " handlers run";
  return out.str();
}

// The last lines of a trace, for a failure report.
std::string tail(const std::string& trace, std::size_t lines) {
  std::size_t pos = trace.size();
  for (std::size_t n = 0; n <= lines && pos > 0; ++n) pos = trace.rfind('\n', pos - 1);
  return pos == std::string::npos ? trace : trace.substr(pos + 1);
}

}  // namespace

TEST_CASE("simulation: peers converge through faults, partitions and crashes") {
  long seeds = std::max(1L, env_number("DAGSYNC_SIM_SEEDS", 500));
  long only = env_number("DAGSYNC_SIM_SEED", 0);
  bool print_trace = env_number("DAGSYNC_SIM_TRACE", 0) != 0;
  std::uint64_t first = only > 0 ? static_cast<std::uint64_t>(only) : 1;
  std::uint64_t last = only > 0 ? first : static_cast<std::uint64_t>(seeds);
  Counters total;
  int failed = 0;
  auto started = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> failed_seeds;
  for (std::uint64_t seed = first; seed <= last; ++seed) {
    CAPTURE(seed);
    Outcome out = simulate(seed);
    total.add(out.counters);
    if (print_trace) MESSAGE("trace of seed " << seed << ":\n" << out.trace);
    if (!out.failures.empty()) failed_seeds.push_back(seed);
    if (!out.failures.empty() && ++failed <= 3) {
      std::string all;
      for (const auto& f : out.failures) all += "  " + f + "\n";
      FAIL_CHECK("seed " << seed << " failed (replay: DAGSYNC_SIM_SEED=" << seed
                         << " DAGSYNC_SIM_TRACE=1 dagsync_session_tests -tc='simulation*'):\n"
                         << all << "last events:\n"
                         << tail(out.trace, 40));
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE("simulation: " << describe(total) << "; " << seconds << " s");
  if (!failed_seeds.empty()) {
    std::ostringstream report;
    report << failed_seeds.size() << " of " << total.seeds
           << " seeds failed (details above for the first 3):";
    for (std::size_t k = 0; k < failed_seeds.size() && k < 50; ++k)
      report << ' ' << failed_seeds[k];
    if (failed_seeds.size() > 50) report << " ...";
    FAIL_CHECK(report.str());
  }
}

TEST_CASE("simulation: a seed replays exactly") {
  for (std::uint64_t seed : {1u, 2u, 3u, 17u, 4242u}) {
    CAPTURE(seed);
    Outcome a = simulate(seed);
    // Rearrange the heap, so that anything ordered by address would come out differently.
    std::mt19937 r(static_cast<std::uint32_t>(seed));
    std::vector<std::unique_ptr<char[]>> ballast;
    for (int i = 0; i < 3000; ++i) ballast.emplace_back(new char[16 + r() % 700]);
    for (std::size_t i = 0; i < ballast.size(); i += 2) ballast[i].reset();
    Outcome b = simulate(seed);
    // (Whether the run passes is the other test's business; here it must only replay.)
    CHECK(a.failures == b.failures);
    CHECK(a.counters.commits > 0);
    CHECK(a.trace_digest == b.trace_digest);
    CHECK(a.heads_digest == b.heads_digest);
    if (a.trace != b.trace) {
      std::size_t at = 0;
      while (at < a.trace.size() && at < b.trace.size() && a.trace[at] == b.trace[at]) ++at;
      std::size_t from =
          a.trace.rfind('\n', at) == std::string::npos ? 0 : a.trace.rfind('\n', at) + 1;
      FAIL_CHECK("traces differ from: " << a.trace.substr(from, 300)
                                        << "\nvs: " << b.trace.substr(from, 300));
    }
  }
  // And the digests depend on the seed.
  CHECK(simulate(5).trace_digest != simulate(6).trace_digest);
}

// The two scenarios below are failures the simulation found (since fixed), reduced to their
// core, kept as regression tests.

// A document a Repo first hears of from a peer (created on receipt, with
// accept_unknown_documents) must be offered to its other connected peers when its share
// policy offers it, as docs/sessions.md says. It once was not (the relay created it
// without offering it), so in a line a - b - c a document c starts after both connections
// are up reached b and stopped there. (Simulation: seeds 13 and 14.)
TEST_CASE("simulation: a document a relay learns from one peer reaches its other peers") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto options = [](const std::string& id) {
    RepoOptions o;
    o.peer_id = id;
    o.share_policy = share_everything();
    o.logger = quiet_logger();
    o.hello_timeout = std::chrono::milliseconds(0);
    o.heartbeat_interval = std::chrono::milliseconds(0);
    return o;
  };
  Repo a(io, transports, options("a")), b(io, transports, options("b")),
      c(io, transports, options("c"));
  std::string url = b.listen("mem://relay");
  for (Repo* r : {&a, &c}) {
    transports.connect(url, [r](std::shared_ptr<Connection> conn, ConnectError) {
      REQUIRE(conn);
      r->accept(conn, "mem://relay");
    });
  }
  settle(io);
  REQUIRE(a.peers().size() == 1);
  REQUIRE(a.peers()[0].connected);
  REQUIRE(c.peers()[0].connected);
  Change x = c.commit("x", text("new document"), std::nullopt, 0);
  settle(io);
  REQUIRE(b.find("x") != nullptr);
  CHECK(b.find("x")->has(x.hash()));
  CHECK(a.find("x") != nullptr);  // fails: b never offers "x" to a
  CHECK((a.find("x") && a.find("x")->has(x.hash())));
}

// The sync must not end with one side never learning that the other holds its changes
// (has_our_changes / Repo::in_sync_with false for good). It once could: receive treated a
// message without changes whose heads equal ours as proof the peer knows we hold them, and
// so never announced them; that is false when both sides reached those heads
// independently. Here a and b hold the same base and have sent each other their first
// message; the same change x then reaches both from elsewhere; a announces x, and b hears
// that before it next generates. (Simulation: seed 19, between p1 and p3.)
TEST_CASE("simulation: both sides know they are in sync when the sync ends") {
  ChangeGraph a(actor(1)), b(actor(2)), elsewhere(actor(3));
  a.commit(text("base"), std::nullopt, 0);
  b.add(a.changes());
  elsewhere.add(a.changes());
  SyncState sa, sb;  // a's state for b, b's for a
  std::deque<SyncMessage> to_a, to_b;
  auto a_says = [&] {
    if (auto m = generate_sync_message(a, sa)) to_b.push_back(wire(*m));
  };
  auto b_says = [&] {
    if (auto m = generate_sync_message(b, sb)) to_a.push_back(wire(*m));
  };
  auto b_hears = [&] {
    receive_sync_message(b, sb, to_b.front());
    to_b.pop_front();
  };
  a_says();  // heads: base
  b_says();  // heads: base
  b_hears();
  b_says();  // nothing new
  Change x = elsewhere.commit(text("x"), std::nullopt, 1);
  a.add(x);
  a_says();  // heads: x, no changes
  REQUIRE(to_b.size() == 1);
  CHECK(to_b.front().changes.empty());
  b.add(x);
  b_hears();
  b_says();  // with step 6: nothing
  for (int i = 0; i < 10 && (!to_a.empty() || !to_b.empty()); ++i) {
    if (!to_a.empty()) {
      receive_sync_message(a, sa, to_a.front());
      to_a.pop_front();
      a_says();
    }
    if (!to_b.empty()) {
      b_hears();
      b_says();
    }
  }
  REQUIRE(to_a.empty());
  REQUIRE(to_b.empty());
  CHECK_FALSE(generate_sync_message(a, sa));
  CHECK_FALSE(generate_sync_message(b, sb));
  CHECK(a.heads() == b.heads());
  CHECK(has_our_changes(b, sb));
  CHECK(has_our_changes(a, sa));  // fails: a last heard b report the base only
}
