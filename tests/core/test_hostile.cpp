// Conformance scenario 31 of docs/conformance.md: every decoder meets hostile bytes
// (truncated, oversized, wrongly typed, wrong version, random, mutated) with a DecodeError
// that names what was wrong, and leaves the graph and the sync state as they were. All three
// test cases are named "conformance 31: ...".
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "encoding/msgpack_io.h"
#include "helpers.h"
#include "wire.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

Bytes splice(ByteView bytes, std::size_t offset, std::size_t size, ByteView replacement) {
  Bytes out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
  out.insert(out.end(), replacement.begin(), replacement.end());
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset + size), bytes.end());
  return out;
}

std::string head_hex(ByteView b) {
  return to_hex(b.first(std::min<std::size_t>(b.size(), 48)));
}

// ---------------------------------------------------------------------------------------------
// A msgpack walker written for the tests, independent of the library's reader: it lists
// every value of a valid encoding with its position, so a test can replace any one of them.

enum class Kind { kNil, kBool, kInt, kFloat, kStr, kBin, kArray, kMap, kExt };

struct Node {
  std::size_t offset = 0;
  std::size_t size = 0;
  Kind kind = Kind::kNil;
  int depth = 0;
};

std::uint64_t read_be(ByteView b, std::size_t at, std::size_t n) {
  REQUIRE(at + n <= b.size());
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | b[at + i];
  return v;
}

std::size_t walk(ByteView b, std::size_t pos, int depth, std::vector<Node>& out) {
  REQUIRE(pos < b.size());
  const std::uint8_t t = b[pos];
  const std::size_t index = out.size();
  out.push_back({pos, 0, Kind::kNil, depth});
  auto container = [&](Kind kind, std::uint64_t count, std::size_t header) {
    out[index].kind = kind;
    std::size_t p = pos + header;
    for (std::uint64_t i = 0; i < count * (kind == Kind::kMap ? 2 : 1); ++i) {
      p = walk(b, p, depth + 1, out);
    }
    return p;
  };
  auto leaf = [&](Kind kind, std::size_t size) {
    out[index].kind = kind;
    return pos + size;
  };
  std::size_t end;
  if (t <= 0x7f || t >= 0xe0) {
    end = leaf(Kind::kInt, 1);
  } else if (t <= 0x8f) {
    end = container(Kind::kMap, t & 0x0f, 1);
  } else if (t <= 0x9f) {
    end = container(Kind::kArray, t & 0x0f, 1);
  } else if (t <= 0xbf) {
    end = leaf(Kind::kStr, 1 + (t & 0x1f));
  } else {
    switch (t) {
      case 0xc0:
        end = leaf(Kind::kNil, 1);
        break;
      case 0xc2:
      case 0xc3:
        end = leaf(Kind::kBool, 1);
        break;
      case 0xc4:
        end = leaf(Kind::kBin, 2 + read_be(b, pos + 1, 1));
        break;
      case 0xc5:
        end = leaf(Kind::kBin, 3 + read_be(b, pos + 1, 2));
        break;
      case 0xc6:
        end = leaf(Kind::kBin, 5 + read_be(b, pos + 1, 4));
        break;
      case 0xca:
        end = leaf(Kind::kFloat, 5);
        break;
      case 0xcb:
        end = leaf(Kind::kFloat, 9);
        break;
      case 0xcc:
      case 0xd0:
        end = leaf(Kind::kInt, 2);
        break;
      case 0xcd:
      case 0xd1:
        end = leaf(Kind::kInt, 3);
        break;
      case 0xce:
      case 0xd2:
        end = leaf(Kind::kInt, 5);
        break;
      case 0xcf:
      case 0xd3:
        end = leaf(Kind::kInt, 9);
        break;
      case 0xd9:
        end = leaf(Kind::kStr, 2 + read_be(b, pos + 1, 1));
        break;
      case 0xda:
        end = leaf(Kind::kStr, 3 + read_be(b, pos + 1, 2));
        break;
      case 0xdb:
        end = leaf(Kind::kStr, 5 + read_be(b, pos + 1, 4));
        break;
      case 0xdc:
        end = container(Kind::kArray, read_be(b, pos + 1, 2), 3);
        break;
      case 0xdd:
        end = container(Kind::kArray, read_be(b, pos + 1, 4), 5);
        break;
      case 0xde:
        end = container(Kind::kMap, read_be(b, pos + 1, 2), 3);
        break;
      case 0xdf:
        end = container(Kind::kMap, read_be(b, pos + 1, 4), 5);
        break;
      default:
        end = leaf(Kind::kExt, 1);
        FAIL("walker: unexpected tag in a valid encoding");
    }
  }
  out[index].size = end - pos;
  return end;
}

std::vector<Node> nodes_of(ByteView b) {
  std::vector<Node> out;
  REQUIRE(walk(b, 0, 0, out) == b.size());
  return out;
}

// One value of each kind, to put where another kind belongs.
const std::vector<std::pair<Kind, Bytes>>& replacements() {
  static const std::vector<std::pair<Kind, Bytes>> kAll = {
      {Kind::kNil, {0xc0}},
      {Kind::kBool, {0xc3}},
      {Kind::kInt, {0x01}},
      {Kind::kFloat, {0xca, 0x00, 0x00, 0x00, 0x00}},
      {Kind::kStr, {0xa1, 'x'}},
      {Kind::kBin, {0xc4, 0x01, 0x00}},
      {Kind::kArray, {0x90}},
      {Kind::kMap, {0x80}},
      {Kind::kExt, {0xd4, 0x01, 0x00}},
  };
  return kAll;
}

// ---------------------------------------------------------------------------------------------
// The decoders under test, each with a valid sample and the state it must leave alone.

struct Decoder {
  std::string name;
  Bytes valid;
  std::vector<std::string> prefixes;  // what() starts with one of these
  std::function<void(ByteView)> decode;
  // After an accepted input: true when the decoded value re-encodes to exactly the input.
  std::function<bool(ByteView)> canonical;
  std::function<bool()> unchanged;  // the state the decoder writes to is as it was
  std::function<void()> restore;    // undo an accepted input
};

struct GraphView {
  std::vector<ChangeHash> heads;
  std::size_t size = 0;
  std::size_t pending_count = 0;
  std::size_t pending_bytes = 0;
  bool operator==(const GraphView&) const = default;
};
GraphView view_of(const ChangeGraph& g) {
  return {g.heads(), g.size(), g.pending_count(), g.pending_bytes()};
}

struct Fixture {
  ChangeGraph source{actor(1)};
  ChangeGraph target{actor(7)};
  ChangeGraph pristine_target{actor(7)};
  GraphView target_view;
  std::vector<Decoder> decoders;

  Fixture() {
    commit_n(source, 3, "source");
    source.add(std::vector<Change>{
        Change::build({actor(2), 1, source.heads(), 77, "second actor \xE2\x9C\x93",
                       text("payload of the second actor")})});
    source.commit(text("merge"), "merge", -1);

    commit_n(target, 2, "target");
    target.add(Change::build({actor(5), 2, {sha256(as_bytes("absent"))}, {}, {}, text("pend")}));
    REQUIRE(target.pending_count() == 1);
    pristine_target = target;
    target_view = view_of(target);

    ChangeFields cf;
    cf.actor = actor(3);
    cf.seq = 5;
    cf.deps = {sha256(as_bytes("dep 1")), sha256(as_bytes("dep 2"))};
    cf.timestamp_ms = -1'234'567;
    cf.message = "hostile \xE2\x9C\x93";
    cf.payload = text("forty bytes of payload, more or less....");
    Change change = Change::build(cf);

    SyncMessage message;
    message.heads = sorted({source.changes()[2].hash(), source.changes()[3].hash()});
    message.need = {sha256(as_bytes("needed"))};
    message.have.push_back(Have{{source.changes()[0].hash()},
                                BloomFilter(std::vector<ChangeHash>(hashes_of(source.changes())))});
    message.have.push_back(Have{});
    message.changes = {source.changes()[0], source.changes()[1], source.changes()[2]};
    message.summary = Summary{};
    message.summary->levels.push_back(SummaryLevel{{source.changes()[1].hash()}, {}});
    message.summary->levels.back().actors.set(actor(9), 300);
    message.summary->levels.push_back(SummaryLevel{{}, source.version_vector()});

    SyncState state;
    state.shared_heads =
        sorted({sha256(as_bytes("s1")), sha256(as_bytes("s2")), sha256(as_bytes("s3"))});

    VersionVector vv = source.version_vector();
    vv.set(actor(9), 300);

    auto no_state = [] { return true; };
    auto nothing = [] {};
    decoders.push_back({"Change::decode",
                        Bytes(change.bytes().begin(), change.bytes().end()),
                        {"change: "},
                        [](ByteView b) { Change::decode(b); },
                        [](ByteView b) {
                          // Rebuilt from its fields, the change must encode to the input.
                          Change c = Change::decode(b);
                          ChangeFields f{c.actor(),        c.seq(),     c.deps().to_vector(),
                                         c.timestamp_ms(), c.message(), {}};
                          f.payload.assign(c.payload().begin(), c.payload().end());
                          Change rebuilt = Change::build(f);
                          return Bytes(rebuilt.bytes().begin(), rebuilt.bytes().end()) ==
                                 Bytes(b.begin(), b.end());
                        },
                        no_state,
                        nothing});
    decoders.push_back(
        {"SyncMessage::decode",
         message.encode(),
         {"sync message: ", "bloom filter: "},
         [](ByteView b) { SyncMessage::decode(b); },
         [](ByteView b) { return SyncMessage::decode(b).encode() == Bytes(b.begin(), b.end()); },
         no_state,
         nothing});
    decoders.push_back(
        {"SyncState::decode",
         state.encode(),
         {"sync state: "},
         [](ByteView b) { SyncState::decode(b); },
         [](ByteView b) { return SyncState::decode(b).encode() == Bytes(b.begin(), b.end()); },
         no_state,
         nothing});
    decoders.push_back(
        {"VersionVector::decode",
         vv.encode(),
         {"version vector: "},
         [](ByteView b) { VersionVector::decode(b); },
         [](ByteView b) { return VersionVector::decode(b).encode() == Bytes(b.begin(), b.end()); },
         no_state,
         nothing});
    decoders.push_back({"ChangeGraph::import_updates",
                        source.export_updates(),
                        {"updates: "},
                        [this](ByteView b) { target.import_updates(b); },
                        [](ByteView) { return true; },
                        [this] { return view_of(target) == target_view; },
                        [this] { target = pristine_target; }});

    // Every sample is valid to begin with.
    for (auto& d : decoders) {
      INFO(d.name);
      REQUIRE_NOTHROW(d.decode(d.valid));
      d.restore();
      REQUIRE(d.unchanged());
    }
  }

  Decoder& by_name(const std::string& name) {
    for (auto& d : decoders) {
      if (d.name == name) return d;
    }
    FAIL("no decoder " << name);
    return decoders.front();
  }
};

// What a batch of hostile inputs did, with the first few problems for the failure message.
struct Tally {
  std::size_t inputs = 0;
  std::size_t rejected = 0;
  std::size_t accepted = 0;
  std::size_t graph_errors = 0;
  std::vector<std::string> problems;

  void problem(const std::string& p) {
    if (problems.size() < 8) problems.push_back(p);
    ++problem_count;
  }
  std::size_t problem_count = 0;
};

struct Allow {
  bool accept = false;       // a valid input may come out of a mutation
  bool graph_error = false;  // a well-formed batch the graph refuses
};

void run(Decoder& d, ByteView input, Tally& t, Allow allow = {}) {
  ++t.inputs;
  try {
    d.decode(input);
    if (!allow.accept) {
      t.problem("accepted: " + head_hex(input));
    } else if (!d.canonical(input)) {
      t.problem("accepted a non-canonical encoding: " + head_hex(input));
    }
    ++t.accepted;
    d.restore();
    return;
  } catch (const DecodeError& e) {
    ++t.rejected;
    std::string what = e.what();
    bool prefixed = false;
    for (const auto& p : d.prefixes) {
      prefixed |= what.rfind(p, 0) == 0 && what.size() > p.size() + 4;
    }
    if (!prefixed) t.problem("unclear error \"" + what + "\" for " + head_hex(input));
  } catch (const GraphError& e) {
    ++t.graph_errors;
    if (!allow.graph_error) t.problem(std::string("GraphError: ") + e.what());
  } catch (const std::exception& e) {
    t.problem(std::string("wrong exception type: ") + e.what() + " for " + head_hex(input));
  } catch (...) {
    t.problem("non-standard exception for " + head_hex(input));
  }
  if (!d.unchanged()) {
    t.problem("state changed by a rejected input: " + head_hex(input));
    d.restore();
  }
}

void check_tally(const Decoder& d, const Tally& t) {
  INFO(d.name << ": " << t.inputs << " inputs, " << t.rejected << " rejected, " << t.accepted
              << " accepted, " << t.graph_errors << " refused by the graph");
  std::string problems;
  for (const auto& p : t.problems) problems += "\n  " + p;
  INFO("first problems:" << problems);
  CHECK(t.problem_count == 0);
}

// Decodes `bytes` and expects a DecodeError mentioning every needle, with state unchanged.
void expect_rejected(Decoder& d, const Bytes& bytes, std::vector<std::string> needles) {
  INFO(d.name << " on " << head_hex(bytes));
  try {
    d.decode(bytes);
    d.restore();
    FAIL("accepted");
  } catch (const DecodeError& e) {
    std::string what = e.what();
    INFO("what(): " << what);
    for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
  } catch (const std::exception& e) {
    FAIL("wrong exception type: " << e.what());
  }
  CHECK(d.unchanged());
}

// A sync message with one `have` whose filter has the given wire fields.
Bytes message_with_bloom(std::uint64_t entries, std::uint64_t bits_per_entry, std::uint64_t probes,
                         const Bytes& bits) {
  return message_with_bloom_field(entries, bits_per_entry, probes,
                                  pack([&](MsgpackWriter& w) { w.bin(bits); }));
}

// Every part of a SyncState, for "unchanged" checks.
struct StateView {
  Bytes encoded;
  std::vector<ChangeHash> shared_heads;
  std::vector<ChangeHash> last_sent_heads;
  std::vector<ChangeHash> last_sent_need;
  std::optional<std::vector<ChangeHash>> their_heads;
  std::optional<std::vector<ChangeHash>> their_need;
  std::optional<std::vector<Have>> their_have;
  std::set<ChangeHash> sent_hashes;
  bool in_flight = false;
  bool have_responded = false;
  bool reset_sent = false;
  bool operator==(const StateView&) const = default;
};
StateView view_of(const SyncState& s) {
  return {s.encode(),    s.shared_heads,   s.last_sent_heads, s.last_sent_need,
          s.their_heads, s.their_need,     s.their_have,      s.sent_hashes,
          s.in_flight,   s.have_responded, s.reset_sent};
}

struct FullGraphView {
  std::vector<ChangeHash> heads;
  std::vector<ChangeHash> applied;
  std::vector<ChangeHash> pending;
  std::size_t pending_bytes = 0;
  bool operator==(const FullGraphView&) const = default;
};
FullGraphView full_view_of(const ChangeGraph& g) {
  return {g.heads(), hashes_of(g.changes()), hashes_of(g.pending_changes()), g.pending_bytes()};
}

}  // namespace

TEST_CASE(
    "conformance 31: every decoder rejects bad bytes with a clear error and state unchanged") {
  Fixture fx;

  SUBCASE("truncated at every prefix length") {
    for (auto& d : fx.decoders) {
      Tally t;
      // Views into the full buffer: a decoder that read past its input would find valid bytes
      // there and succeed.
      ByteView full = d.valid;
      for (std::size_t len = 0; len < full.size(); ++len) run(d, full.first(len), t);
      CHECK(t.rejected == d.valid.size());
      check_tally(d, t);
    }
  }

  SUBCASE("oversized: over each limit") {
    // Change: over max_change_bytes (checked before parsing), a payload claiming 4 GiB, and
    // the message and deps limits.
    Decoder& change = fx.by_name("Change::decode");
    expect_rejected(change, Bytes((16u << 20) + 1, 0x97), {"change: ", "exceed limit"});
    ChangeLimits tiny;
    tiny.max_change_bytes = change.valid.size() - 1;
    CHECK_THROWS_WITH_AS(Change::decode(change.valid, tiny), doctest::Contains("exceed limit"),
                         DecodeError);
    tiny = {};
    tiny.max_deps = 1;
    CHECK_THROWS_WITH_AS(Change::decode(change.valid, tiny), doctest::Contains("deps"),
                         DecodeError);
    tiny = {};
    tiny.max_message_chars = 3;
    CHECK_THROWS_WITH_AS(Change::decode(change.valid, tiny), doctest::Contains("message"),
                         DecodeError);
    {
      auto nodes = nodes_of(change.valid);
      const Node& payload = nodes.back();
      Bytes claim = splice(change.valid, payload.offset, payload.size,
                           Bytes{0xc6, 0xff, 0xff, 0xff, 0xff, 0x00});
      expect_rejected(change, claim, {"payload"});
    }

    Decoder& message = fx.by_name("SyncMessage::decode");
    auto message_rejects = [&](const SyncLimits& limits, const char* needle) {
      CHECK_THROWS_WITH_AS(SyncMessage::decode(message.valid, limits), doctest::Contains(needle),
                           DecodeError);
    };
    SyncLimits sl;
    sl.max_message_bytes = message.valid.size() - 1;
    message_rejects(sl, "exceed limit");
    sl = {};
    sl.max_hashes = 1;
    message_rejects(sl, "heads: binary of 64 bytes exceeds limit 32");
    sl = {};
    sl.max_haves = 1;
    message_rejects(sl, "have: array of 2 exceeds limit 1");
    sl = {};
    sl.max_changes = 2;
    message_rejects(sl, "changes: more than 2 changes");
    sl = {};
    sl.change.max_change_bytes = 40;
    message_rejects(sl, "bytes exceed limit 40");
    sl = {};
    sl.max_bloom_entries = 4;
    message_rejects(sl, "entries exceed limit 4");

    expect_rejected(fx.by_name("SyncState::decode"), pack([](MsgpackWriter& w) {
                      w.array(2);
                      w.uint(1);
                      w.array(70'000);
                      for (int i = 0; i < 70'000; ++i) w.id(sha256(as_bytes(std::to_string(i))));
                    }),
                    {"shared_heads", "exceeds limit 65536"});
    CHECK_THROWS_WITH_AS(SyncState::decode(fx.by_name("SyncState::decode").valid, 2),
                         doctest::Contains("exceeds limit 2"), DecodeError);
    CHECK_THROWS_WITH_AS(VersionVector::decode(fx.by_name("VersionVector::decode").valid, 2),
                         doctest::Contains("exceeds limit 2"), DecodeError);

    Decoder& updates = fx.by_name("ChangeGraph::import_updates");
    for (auto [limits, needle] : std::vector<std::pair<SyncLimits, const char*>>{
             {[] {
                SyncLimits l;
                l.max_changes = 2;
                return l;
              }(),
              "exceeds limit 2"},
             {[] {
                SyncLimits l;
                l.max_message_bytes = 100;
                return l;
              }(),
              "exceed limit 100"},
             {[] {
                SyncLimits l;
                l.change.max_change_bytes = 40;
                return l;
              }(),
              "exceeds limit 40"},
         }) {
      CHECK_THROWS_WITH_AS(fx.target.import_updates(updates.valid, limits),
                           doctest::Contains(needle), DecodeError);
      CHECK(updates.unchanged());
    }
  }

  SUBCASE("wrongly typed: every value replaced by one of another kind") {
    for (auto& d : fx.decoders) {
      auto nodes = nodes_of(d.valid);
      Tally t;
      std::vector<std::pair<std::size_t, Kind>> accepted;  // (top-level field, replacement)
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const Node& n = nodes[i];
        for (const auto& [kind, bytes] : replacements()) {
          if (kind == n.kind) continue;
          Bytes input = splice(d.valid, n.offset, n.size, bytes);
          std::size_t before = t.accepted;
          run(d, input, t, Allow{.accept = true});
          if (t.accepted != before) accepted.push_back({i, kind});
        }
      }
      check_tally(d, t);
      if (d.name == "Change::decode") {
        // Exactly the two optional fields may be nil: timestamp (node 7: the array, version,
        // actor, seq, deps and its two hashes come first) and message (node 8).
        REQUIRE(nodes[7].depth == 1);
        CHECK(nodes[7].kind == Kind::kInt);
        CHECK(nodes[8].kind == Kind::kStr);
        CHECK(accepted ==
              std::vector<std::pair<std::size_t, Kind>>{{7, Kind::kNil}, {8, Kind::kNil}});
      } else if (d.name == "SyncMessage::decode") {
        // Only the optional summary (the sixth field) may be nil.
        std::size_t field = 0, summary = 0;
        for (std::size_t k = 1; k < nodes.size(); ++k) {
          if (nodes[k].depth == 1 && field++ == 5) summary = k;
        }
        REQUIRE(summary != 0);
        CHECK(accepted == std::vector<std::pair<std::size_t, Kind>>{{summary, Kind::kNil}});
      } else {
        INFO(d.name);
        CHECK(accepted.empty());
      }
    }

    // A few by hand, with the field named.
    Decoder& message = fx.by_name("SyncMessage::decode");
    expect_rejected(message,
                    Bytes{0x87, 0x01, 0x90, 0x02, 0x90, 0x03, 0x90, 0x04, 0x90, 0x05, 0x90},
                    {"fields", "expected array"});
    expect_rejected(message,
                    Bytes{0x98, 0x03, 0xc0, 0xc4, 0x00, 0x90, 0xc4, 0x00, 0xc0, 0x00, 0x00},
                    {"heads"});
    expect_rejected(message,
                    Bytes{0x98, 0x03, 0xc4, 0x00, 0xa1, 'x', 0x90, 0xc4, 0x00, 0xc0, 0x00, 0x00},
                    {"need"});
    expect_rejected(message,
                    Bytes{0x98, 0x03, 0xc4, 0x00, 0xc4, 0x00, 0x80, 0xc4, 0x00, 0xc0, 0x00, 0x00},
                    {"have"});
    expect_rejected(message,
                    Bytes{0x98, 0x03, 0xc4, 0x00, 0xc4, 0x00, 0x90, 0x91, 0xc0, 0x00, 0x00},
                    {"changes"});
    expect_rejected(
        message,
        Bytes{0x98, 0x03, 0xc4, 0x00, 0xc4, 0x00, 0x90, 0xc4, 0x00, 0x91, 0x90, 0x00, 0x00},
        {"summary level"});
    expect_rejected(fx.by_name("SyncState::decode"), Bytes{0x92, 0xa1, '1', 0x90}, {"version"});
    expect_rejected(fx.by_name("VersionVector::decode"), Bytes{0x92, 0x01, 0x91, 0x91, 0x01},
                    {"entry"});
    expect_rejected(fx.by_name("ChangeGraph::import_updates"), Bytes{0x92, 0x01, 0x91, 0x90},
                    {"changes", "expected binary"});
    expect_rejected(fx.by_name("Change::decode"), Bytes{0xc0}, {"fields", "expected array"});
  }

  SUBCASE("wrong version, at the top and inside") {
    for (auto& d : fx.decoders) {
      auto nodes = nodes_of(d.valid);
      const Node& version = nodes[1];  // first field of the outer array
      REQUIRE(version.depth == 1);
      REQUIRE(version.kind == Kind::kInt);
      for (Bytes v : {Bytes{0x00}, Bytes{0x02}, Bytes{0x04}, Bytes{0x7f}, Bytes{0xcc, 0xff},
                      Bytes{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}) {
        expect_rejected(d, splice(d.valid, version.offset, version.size, v),
                        {"version", "unsupported version"});
      }
      expect_rejected(d, splice(d.valid, version.offset, version.size, Bytes{0xff}),
                      {"version", "expected an unsigned integer"});
    }
    // Changes carried by a message or an update batch: their own version is checked too.
    for (const char* name : {"SyncMessage::decode", "ChangeGraph::import_updates"}) {
      Decoder& d = fx.by_name(name);
      ByteView first = fx.source.changes()[0].bytes();
      auto at = std::search(d.valid.begin(), d.valid.end(), first.begin(), first.end());
      REQUIRE(at != d.valid.end());
      auto offset = static_cast<std::size_t>(at - d.valid.begin());
      Bytes bad = d.valid;
      REQUIRE(bad[offset] == 0x97);
      REQUIRE(bad[offset + 1] == 0x01);
      bad[offset + 1] = 0x02;
      expect_rejected(d, bad, {"change 0", "unsupported version 2"});
    }
  }

  SUBCASE("random bytes") {
    std::mt19937 rng(31);
    for (auto& d : fx.decoders) {
      Tally pure, headed;
      for (int i = 0; i < 3000; ++i) {
        Bytes input(rng() % 300);
        for (auto& b : input) b = static_cast<std::uint8_t>(rng());
        run(d, input, pure);
      }
      // Random tails behind a valid start reach deeper into each decoder.
      for (int i = 0; i < 3000; ++i) {
        std::size_t keep = rng() % d.valid.size();
        Bytes input(d.valid.begin(), d.valid.begin() + static_cast<std::ptrdiff_t>(keep));
        std::size_t tail = rng() % 64;
        for (std::size_t k = 0; k < tail; ++k) input.push_back(static_cast<std::uint8_t>(rng()));
        run(d, input, headed, Allow{.accept = true, .graph_error = true});
      }
      check_tally(d, pure);
      check_tally(d, headed);
      CHECK(pure.rejected == pure.inputs);
      CHECK(headed.rejected > headed.inputs * 9 / 10);
    }
  }

  SUBCASE("a change whose bytes do not match its hash") {
    Decoder& d = fx.by_name("Change::decode");
    ChangeHash claimed = sha256(d.valid);
    Bytes tampered = d.valid;
    tampered.back() ^= 0x01;  // a payload byte: still decodes
    REQUIRE_NOTHROW(Change::decode(tampered));
    try {
      Change::decode_verified(tampered, claimed);
      FAIL("accepted a change that does not hash to its claimed hash");
    } catch (const GraphError& e) {
      std::string what = e.what();
      CHECK(what.find("hash mismatch") != std::string::npos);
      CHECK(what.find(claimed.hex()) != std::string::npos);
      CHECK(what.find(sha256(tampered).hex()) != std::string::npos);
    }
    CHECK(Change::decode_verified(d.valid, claimed).hash() == claimed);
  }

  SUBCASE("Bloom filters with absurd parameters") {
    Decoder& d = fx.by_name("SyncMessage::decode");
    REQUIRE_NOTHROW(SyncMessage::decode(message_with_bloom(10, 10, 7, Bytes(13, 0xff))));
    expect_rejected(d, message_with_bloom(10, 0, 7, Bytes(13, 0xff)), {"bits per entry 0"});
    expect_rejected(d, message_with_bloom(10, 0, 7, {}), {"bits per entry 0"});
    expect_rejected(d, message_with_bloom(10, 10, 1'000'000'000, Bytes(13, 0xff)),
                    {"probe count 1000000000"});
    expect_rejected(d, message_with_bloom(10, 10, 0, Bytes(13, 0xff)), {"probe count 0"});
    expect_rejected(d, message_with_bloom(10, 65, 7, Bytes(82, 0xff)), {"bits per entry 65"});
    expect_rejected(d, message_with_bloom(100, 10, 7, Bytes(124, 0xff)), {"parameters imply 125"});
    expect_rejected(d, message_with_bloom(100, 10, 7, Bytes(126, 0xff)), {"parameters imply 125"});
    expect_rejected(d, message_with_bloom(1'000'000, 10, 7, Bytes(13, 0xff)),
                    {"parameters imply 1250000"});
    expect_rejected(d, message_with_bloom(0, 10, 7, Bytes(1, 0xff)), {"no entries"});
    expect_rejected(d, message_with_bloom(UINT32_MAX, 10, 7, {}), {"entries exceed limit"});
    expect_rejected(d, message_with_bloom(std::uint64_t(1) << 32, 10, 7, {}),
                    {"bloom.entries", "out of range"});
    expect_rejected(d, message_with_bloom(10, std::uint64_t(1) << 40, 7, {}),
                    {"bloom.bits_per_entry", "out of range"});
    // A bit array claiming 4 GiB in a message of a few dozen bytes.
    Bytes huge = message_with_bloom(10, 10, 7, Bytes(13, 0xff));
    auto nodes = nodes_of(huge);
    auto bits = std::find_if(nodes.begin(), nodes.end(), [](const Node& n) {
      return n.kind == Kind::kBin && n.depth == 4;  // message > have > entry > bloom > bits
    });
    REQUIRE(bits != nodes.end());
    expect_rejected(d, splice(huge, bits->offset, bits->size, Bytes{0xc6, 0xff, 0xff, 0xff, 0xff}),
                    {"bloom.bits"});
  }

  SUBCASE("counts that promise more elements than the bytes hold") {
    const Bytes claim32{0xdd, 0xff, 0xff, 0xff, 0xff};
    // Under the default limits the count is over a limit; with limits as wide as the count
    // field, the reader still refuses before allocating anything for the elements.
    SyncLimits wide;
    wide.max_hashes = UINT32_MAX;
    wide.max_changes = UINT32_MAX;
    wide.max_haves = UINT32_MAX;
    const Bytes e{0xc4, 0x00}, tail{0xc0, 0x00, 0x00};
    auto msg = [&](std::initializer_list<Bytes> parts) {
      Bytes out{0x98, 0x03};
      for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
      return out;
    };
    const Bytes bin32{0xc6, 0xff, 0xff, 0xff, 0xff};
    // Counted fields: the count is over a limit, or (wide limits) more than the bytes hold.
    std::vector<std::pair<std::string, Bytes>> messages = {
        {"have", msg({e, e, claim32, e, tail})},
        {"summary", msg({e, e, {0x90}, e, claim32, {0x00, 0x00}})},
        {"summary.seqs", msg({e,
                              e,
                              {0x90},
                              e,
                              {0x91, 0x93},
                              e,
                              {0xc4, 0x10},
                              Bytes(16, 1),
                              claim32,
                              {0x00, 0x00}})},
    };
    SyncLimits wide_summary = wide;
    wide_summary.max_summary_levels = UINT32_MAX;
    for (const auto& [field, bytes] : messages) {
      CAPTURE(field);
      CHECK_THROWS_WITH_AS(SyncMessage::decode(bytes), doctest::Contains(field.c_str()),
                           DecodeError);
      CHECK_THROWS_WITH_AS(SyncMessage::decode(bytes, wide_summary),
                           doctest::Contains("4294967295"), DecodeError);
    }
    // Packed fields (hash lists, changes): a length over the limit, or over the bytes left.
    std::vector<std::pair<std::string, Bytes>> packed = {
        {"heads", msg({bin32, e, {0x90}, e, tail})},
        {"need", msg({e, bin32, {0x90}, e, tail})},
        {"have.last_sync", msg({e, e, {0x91, 0x92}, bin32, {0x90}})},
        {"changes", msg({e, e, {0x90}, bin32})},
    };
    for (const auto& [field, bytes] : packed) {
      CAPTURE(field);
      CHECK_THROWS_WITH_AS(SyncMessage::decode(bytes), doctest::Contains(field.c_str()),
                           DecodeError);
      CHECK_THROWS_WITH_AS(SyncMessage::decode(bytes, wide), doctest::Contains(field.c_str()),
                           DecodeError);
    }
    Bytes state{0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc4};
    CHECK_THROWS_WITH_AS(SyncState::decode(state), doctest::Contains("shared_heads"), DecodeError);
    CHECK_THROWS_WITH_AS(SyncState::decode(state, SIZE_MAX),
                         doctest::Contains("claims 4294967295 elements"), DecodeError);
    Bytes vv{0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x92};
    CHECK_THROWS_WITH_AS(VersionVector::decode(vv), doctest::Contains("entries"), DecodeError);
    CHECK_THROWS_WITH_AS(VersionVector::decode(vv, SIZE_MAX),
                         doctest::Contains("claims 4294967295 elements"), DecodeError);
    Bytes updates{0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc4};
    Decoder& u = fx.by_name("ChangeGraph::import_updates");
    expect_rejected(u, updates, {"changes"});
    CHECK_THROWS_WITH_AS(fx.target.import_updates(updates, wide),
                         doctest::Contains("claims 4294967295 elements"), DecodeError);
    CHECK(u.unchanged());
    // Inside a change: deps claiming 2^32-1 hashes, and a 4 GiB message string.
    ChangeLimits wide_change;
    wide_change.max_deps = UINT32_MAX;
    wide_change.max_message_chars = SIZE_MAX;
    Bytes deps = {0x97, 0x01, 0xc4, 0x10};
    deps.insert(deps.end(), 16, 0x01);
    deps.push_back(0x01);
    Bytes message = deps;
    deps.insert(deps.end(), claim32.begin(), claim32.end());
    CHECK_THROWS_WITH_AS(Change::decode(deps, wide_change),
                         doctest::Contains("claims 4294967295 elements"), DecodeError);
    message.insert(message.end(), {0x90, 0xc0, 0xdb, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x00});
    CHECK_THROWS_WITH_AS(Change::decode(message, wide_change),
                         doctest::Contains("message: truncated"), DecodeError);
  }

  SUBCASE("receive_sync_message with an equivocating change") {
    ChangeGraph a(actor(1));
    ChangeGraph b(actor(2), GraphLimits{.max_pending_changes = 1});
    commit_n(a, 4, "common");
    SyncState sa, sb;
    sync_peers(a, b, sa, sb);
    commit_n(a, 2, "a new");
    commit_n(b, 3, "b new");
    b.add(Change::build({actor(6), 2, {sha256(as_bytes("never"))}, {}, {}, text("waits")}));
    REQUIRE(b.pending_count() == 1);

    // One round in flight: B has A's message and has answered it with changes.
    auto from_a = generate_sync_message(a, sa);
    REQUIRE(from_a);
    receive_sync_message(b, sb, wire(*from_a));
    auto from_b = generate_sync_message(b, sb);
    REQUIRE(from_b);
    REQUIRE_FALSE(from_b->changes.empty());
    REQUIRE_FALSE(sb.sent_hashes.empty());
    REQUIRE(sb.their_have.has_value());

    // A change of A's actor at a seq B already holds, with other content.
    const Change& honest = a.changes()[1];
    Change lie = Change::build({honest.actor(),
                                honest.seq(),
                                honest.deps().to_vector(),
                                {},
                                {},
                                text("not what actor 1 wrote")});
    REQUIRE(b.has(honest.hash()));

    SyncMessage hostile = *from_a;
    hostile.heads = a.heads();
    hostile.changes = {a.changes()[4], lie, a.changes()[5]};
    const char* reason = "equivocation";
    SUBCASE("equivocation") {}
    SUBCASE("seq gap") {
      reason = "seq gap";
      hostile.changes = {Change::build({actor(8), 3, {}, {}, {}, text("gap")})};
    }
    SUBCASE("pending limit") {
      reason = "pending limit";
      hostile.changes = {a.changes()[5],
                         Change::build({actor(8), 2, {sha256(as_bytes("absent"))}, {}, {}, {}})};
    }
    SyncMessage received = wire(hostile);

    FullGraphView graph_before = full_view_of(b);
    StateView state_before = view_of(sb);
    CHECK_THROWS_WITH_AS(receive_sync_message(b, sb, received), doctest::Contains(reason),
                         GraphError);
    CHECK(full_view_of(b) == graph_before);
    CHECK(view_of(sb) == state_before);
    CHECK(sb.encode() == state_before.encoded);
    CHECK(sb.their_heads == state_before.their_heads);
    CHECK(sb.sent_hashes == state_before.sent_hashes);
    CHECK(sb.last_sent_heads == state_before.last_sent_heads);

    // The honest session carries on from where it was and converges.
    receive_sync_message(a, sa, wire(*from_b));
    sync_peers(a, b, sa, sb);
    CHECK(a.heads() == b.heads());
    CHECK_FALSE(b.has(lie.hash()));
  }
}

TEST_CASE("conformance 31: mutated valid encodings decode canonically or fail cleanly") {
  Fixture fx;
  std::mt19937 rng(3131);
  const std::uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0x90, 0x9f, 0xc0, 0xc4,
                                      0xcc, 0xcf, 0xd0, 0xdc, 0xdd, 0xe0, 0xff};
  for (auto& d : fx.decoders) {
    Tally t;
    for (int i = 0; i < 3000; ++i) {
      Bytes input = d.valid;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !input.empty(); ++e) {
        std::size_t pos = rng() % input.size();
        switch (rng() % 4) {
          case 0:
            input[pos] = static_cast<std::uint8_t>(rng());
            break;
          case 1:
            input[pos] = interesting[rng() % sizeof interesting];
            break;
          case 2:
            input.insert(input.begin() + static_cast<std::ptrdiff_t>(pos),
                         static_cast<std::uint8_t>(rng()));
            break;
          default:
            input.erase(input.begin() + static_cast<std::ptrdiff_t>(pos));
            break;
        }
      }
      run(d, input, t, Allow{.accept = true, .graph_error = true});
    }
    check_tally(d, t);
    MESSAGE(d.name << ": " << t.rejected << " rejected, " << t.accepted << " accepted, "
                   << t.graph_errors << " refused by the graph, of " << t.inputs);
    CHECK(t.rejected > t.inputs / 2);
  }
}

TEST_CASE("conformance 31: a message's changes are validated like standalone changes") {
  // Every hostile change from the encoding tests, wrapped in a sync message and in an update
  // batch, is refused with the index of the change.
  Change good = Change::build({actor(1), 1, {}, 0, "ok", text("ok")});
  Bytes good_bytes(good.bytes().begin(), good.bytes().end());
  std::vector<Bytes> bad_changes;
  bad_changes.push_back(Bytes(good_bytes.begin(), good_bytes.end() - 1));  // truncated
  Bytes trailing = good_bytes;
  trailing.push_back(0);
  bad_changes.push_back(trailing);
  Bytes seq0 = good_bytes;
  seq0[20] = 0x00;
  bad_changes.push_back(seq0);
  Bytes utf8 = good_bytes;
  utf8[24] = 0xff;  // inside "ok"
  bad_changes.push_back(utf8);
  for (const Bytes& bad : bad_changes) {
    CAPTURE(to_hex(bad));
    REQUIRE_THROWS_AS(Change::decode(bad), DecodeError);
    Bytes packed = good_bytes;
    packed.insert(packed.end(), bad.begin(), bad.end());
    Bytes message = pack([&](MsgpackWriter& w) {
      w.array(8);
      w.uint(3);
      w.bin({});
      w.bin({});
      w.array(0);
      w.bin(packed);
      w.nil();
      w.uint(0);
      w.uint(0);
    });
    // Changes travel back to back, so a trailing byte reads as the start of a third change.
    CHECK_THROWS_WITH_AS(SyncMessage::decode(message),
                         doctest::Contains(bad.size() > good_bytes.size() ? "change 2: change: "
                                                                          : "change 1: change: "),
                         DecodeError);
    Bytes updates = pack([&](MsgpackWriter& w) {
      w.array(2);
      w.uint(1);
      w.array(2);
      w.bin(good_bytes);
      w.bin(bad);
    });
    ChangeGraph g(actor(9));
    CHECK_THROWS_WITH_AS(g.import_updates(updates), doctest::Contains("change 1: change: "),
                         DecodeError);
    CHECK(g.size() == 0);
  }
}
