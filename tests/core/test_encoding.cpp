// Encodings: Change (round trip, canonical bytes, a pinned golden vector, every decode error),
// the strict msgpack reader underneath every codec, VersionVector, SyncState, SyncMessage and
// the hex helpers.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "helpers.h"
#include "encoding/msgpack_io.h"
#include "wire.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

ChangeHash hash_n(int n) {
  return sha256(as_bytes("encoding test hash " + std::to_string(n)));
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes repeat(std::size_t n, std::uint8_t byte = 'x') {
  return Bytes(n, byte);
}

// The golden change: actor all 0x01, seq 1, no deps, timestamp 0, message "hello", payload
// "world". Its bytes are the concatenation of ChangeParts{} below.
ChangeFields golden_fields() {
  ChangeFields f;
  f.actor = actor(1);
  f.seq = 1;
  f.timestamp_ms = 0;
  f.message = "hello";
  f.payload = text("world");
  return f;
}

constexpr const char* kGoldenHex =
    "9701c41001010101010101010101010101010101019000a568656c6c6fc405776f726c64";
// Checked independently: printf '<hex>' | xxd -r -p | sha256sum
constexpr const char* kGoldenHash =
    "b63957c8d33f13931e2e409b363de6b658bd7540c807e44f187c8288ad7597cd";

// A change encoding field by field, so that a test can replace exactly one field. The
// defaults join to the golden change.
struct ChangeParts {
  Bytes header{0x97};
  Bytes version{0x01};
  Bytes actor = pack([](MsgpackWriter& w) { w.id(dagsync::test::actor(1)); });
  Bytes seq{0x01};
  Bytes deps{0x90};
  Bytes timestamp{0x00};
  Bytes message{0xa5, 'h', 'e', 'l', 'l', 'o'};
  Bytes payload{0xc4, 0x05, 'w', 'o', 'r', 'l', 'd'};

  Bytes join() const {
    return cat({header, version, actor, seq, deps, timestamp, message, payload});
  }
};

// The golden change's encoding with one field's bytes replaced.
Bytes with(Bytes ChangeParts::*field, Bytes value) {
  ChangeParts p;
  p.*field = std::move(value);
  return p.join();
}

// A hash list as sync messages carry it: one bin of 32-byte hashes.
Bytes hash_bin(const std::vector<ChangeHash>& hashes) {
  Bytes packed;
  for (const auto& h : hashes) packed.insert(packed.end(), h.bytes.begin(), h.bytes.end());
  return pack([&](MsgpackWriter& w) { w.bin(packed); });
}

Bytes hash_array(const std::vector<ChangeHash>& hashes) {
  return pack([&](MsgpackWriter& w) {
    w.array(static_cast<std::uint32_t>(hashes.size()));
    for (const auto& h : hashes) w.id(h);
  });
}

// Decoding `bytes` as a change must fail with a DecodeError whose message contains every
// one of `needles` (the field name, and the problem).
void check_change_rejected(const Bytes& bytes, std::vector<std::string> needles,
                           const ChangeLimits& limits = {}) {
  INFO("bytes: " << to_hex(bytes));
  try {
    Change::decode(bytes, limits);
    FAIL("decoded without error");
  } catch (const DecodeError& e) {
    std::string what = e.what();
    INFO("what(): " << what);
    CHECK(what.rfind("change: ", 0) == 0);
    for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Change: round trip and canonical form

TEST_CASE("encoding: change round trip keeps every field") {
  ChangeFields f;
  f.actor = actor(7);
  f.seq = 42;
  f.deps = {hash_n(3), hash_n(1), hash_n(2)};
  f.timestamp_ms = 1'700'000'000'123;
  f.message = "commit \xE2\x9C\x93 caf\xC3\xA9";  // multi-byte UTF-8
  f.payload = text("payload bytes \x01\x02");

  Change built = Change::build(f);
  Change decoded = Change::decode(built.bytes());

  CHECK(decoded.hash() == built.hash());
  CHECK(decoded.hash() == sha256(built.bytes()));
  CHECK(decoded.actor() == actor(7));
  CHECK(decoded.seq() == 42);
  CHECK(decoded.deps() == sorted({hash_n(1), hash_n(2), hash_n(3)}));
  REQUIRE(decoded.timestamp_ms().has_value());
  CHECK(*decoded.timestamp_ms() == 1'700'000'000'123);
  REQUIRE(decoded.message().has_value());
  CHECK(*decoded.message() == *f.message);
  CHECK(Bytes(decoded.payload().begin(), decoded.payload().end()) == f.payload);
  CHECK(Bytes(decoded.bytes().begin(), decoded.bytes().end()) ==
        Bytes(built.bytes().begin(), built.bytes().end()));
  CHECK(decoded == built);
}

TEST_CASE("encoding: change without timestamp and message decodes them as absent") {
  ChangeFields f;
  f.actor = actor(2);
  f.payload = text("p");
  Change c = Change::decode(Change::build(f).bytes());
  CHECK_FALSE(c.timestamp_ms().has_value());
  CHECK_FALSE(c.message().has_value());

  // Absent and empty are different changes.
  ChangeFields with_empty = f;
  with_empty.message = "";
  with_empty.timestamp_ms = 0;
  Change e = Change::decode(Change::build(with_empty).bytes());
  REQUIRE(e.message().has_value());
  CHECK(e.message()->empty());
  REQUIRE(e.timestamp_ms().has_value());
  CHECK(*e.timestamp_ms() == 0);
  CHECK(e.hash() != c.hash());
}

TEST_CASE("encoding: change timestamps and seqs at every integer boundary round trip") {
  constexpr std::int64_t kI32 = INT32_MIN;
  constexpr std::int64_t kU32 = UINT32_MAX;
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<std::int64_t> timestamps = {
      0,    1,    127,    128,    255,  256,      65535, 65536,    -1,   -32, -33,
      -128, -129, -32768, -32769, kI32, kI32 - 1, kU32,  kU32 + 1, kMin, kMax};
  for (std::int64_t ts : timestamps) {
    CAPTURE(ts);
    ChangeFields f = golden_fields();
    f.timestamp_ms = ts;
    Change c = Change::build(f);
    Change d = Change::decode(c.bytes());
    REQUIRE(d.timestamp_ms().has_value());
    CHECK(*d.timestamp_ms() == ts);
    CHECK(d.hash() == c.hash());
  }
  const std::vector<std::uint64_t> seqs = {
      1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, std::uint64_t(UINT32_MAX) + 1, UINT64_MAX};
  for (std::uint64_t seq : seqs) {
    CAPTURE(seq);
    ChangeFields f = golden_fields();
    f.seq = seq;
    Change d = Change::decode(Change::build(f).bytes());
    CHECK(d.seq() == seq);
  }
}

TEST_CASE("encoding: change payloads of every length form round trip") {
  // Empty, bin8, bin16 and bin32 payloads; the payload is the tail of the encoding.
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(255), std::size_t(256),
                        std::size_t(65535), std::size_t(65536), std::size_t(1) << 20}) {
    CAPTURE(n);
    ChangeFields f = golden_fields();
    f.payload.resize(n);
    for (std::size_t i = 0; i < n; ++i) f.payload[i] = static_cast<std::uint8_t>(i * 31 + 7);
    Change c = Change::build(f);
    Change d = Change::decode(c.bytes());
    CHECK(d.payload().size() == n);
    CHECK(Bytes(d.payload().begin(), d.payload().end()) == f.payload);
    CHECK(d.payload().data() + d.payload().size() == d.bytes().data() + d.bytes().size());
    CHECK(d.hash() == c.hash());
  }
}

TEST_CASE("encoding: change with many deps round trips, up to the deps limit") {
  ChangeFields f = golden_fields();
  for (int i = 0; i < 1024; ++i) f.deps.push_back(hash_n(i));
  Change c = Change::build(f);
  Change d = Change::decode(c.bytes());
  CHECK(d.deps().size() == 1024);
  CHECK(d.deps() == sorted(f.deps));
  CHECK(d.hash() == c.hash());

  f.deps.push_back(hash_n(5000));
  CHECK_THROWS_WITH_AS(Change::build(f), doctest::Contains("deps exceed limit"), DecodeError);
}

TEST_CASE("encoding: fields read back from the encoding equal the built ones, in every form") {
  // A Change keeps only its bytes and reads seq, deps, timestamp, message and payload back
  // from them, each at a position that depends on the length forms before it: vary them all
  // together.
  const std::vector<std::uint64_t> seqs = {1, 128, 65536, std::uint64_t(UINT32_MAX) + 1};
  const std::vector<std::size_t> dep_counts = {0, 1, 15, 16, 70};
  const std::vector<std::optional<std::int64_t>> timestamps = {
      std::nullopt, 5, -7, 200, -200, std::numeric_limits<std::int64_t>::min()};
  const std::vector<std::optional<std::string>> messages = {
      std::nullopt, "", "short", std::string(31, 'm'), std::string(32, 'm'), std::string(300, 'm')};
  const std::vector<std::size_t> payloads = {0, 3, 300, 70'000};
  for (std::uint64_t seq : seqs) {
    for (std::size_t n : dep_counts) {
      for (const auto& ts : timestamps) {
        for (const auto& message : messages) {
          for (std::size_t p : payloads) {
            CAPTURE(seq);
            CAPTURE(n);
            CAPTURE(p);
            ChangeFields f;
            f.actor = actor(9);
            f.seq = seq;
            for (std::size_t i = 0; i < n; ++i) f.deps.push_back(hash_n(static_cast<int>(i)));
            std::sort(f.deps.begin(), f.deps.end());
            f.timestamp_ms = ts;
            f.message = message;
            f.payload = repeat(p, static_cast<std::uint8_t>(p));
            Change built = Change::build(f);
            Change decoded = Change::decode(built.bytes());
            for (const Change* c : {&built, &decoded}) {
              CHECK(c->actor() == f.actor);
              CHECK(c->seq() == seq);
              CHECK(c->deps() == f.deps);
              CHECK(c->deps().to_vector() == f.deps);
              CHECK(c->timestamp_ms() == ts);
              CHECK(c->message() == message);
              CHECK(Bytes(c->payload().begin(), c->payload().end()) == f.payload);
            }
            CHECK(decoded.hash() == built.hash());
          }
        }
      }
    }
  }
}

TEST_CASE("encoding: DepsView reads the deps in place") {
  ChangeFields f = golden_fields();
  for (int i = 0; i < 20; ++i) f.deps.push_back(hash_n(i));
  std::vector<ChangeHash> deps = sorted(f.deps);
  Change c = Change::build(f);
  DepsView view = c.deps();
  REQUIRE(view.size() == 20);
  CHECK_FALSE(view.empty());
  for (std::size_t i = 0; i < deps.size(); ++i) {
    CHECK(view[i] == deps[i]);
    CHECK(view.contains(deps[i]));
  }
  CHECK_FALSE(view.contains(hash_n(1000)));
  CHECK(std::vector<ChangeHash>(view.begin(), view.end()) == deps);
  CHECK(std::distance(view.begin(), view.end()) == 20);
  CHECK(view == deps);
  std::vector<ChangeHash> other = deps;
  other.back() = hash_n(1000);
  CHECK_FALSE(view == other);
  other.pop_back();
  CHECK_FALSE(view == other);

  // The view borrows the body that every copy shares: it outlives the Change it came from.
  DepsView kept;
  std::optional<Change> copy;
  {
    Change original = Change::decode(c.bytes());
    copy = original;
    kept = original.deps();
  }
  CHECK(kept == deps);
  CHECK(copy->bytes().data() != c.bytes().data());

  Change empty = Change::build(golden_fields());
  CHECK(empty.deps().empty());
  CHECK(empty.deps().begin() == empty.deps().end());
  CHECK_FALSE(empty.deps().contains(hash_n(0)));
}

TEST_CASE("encoding: copies share one body; assignment and moves keep it alive") {
  Change a = Change::build(golden_fields());
  ChangeFields other = golden_fields();
  other.seq = 2;
  Change b = Change::build(other);
  const std::uint8_t* a_bytes = a.bytes().data();

  Change copy = a;
  CHECK(copy.bytes().data() == a_bytes);
  copy = b;  // releases its share of a's body
  CHECK(copy.hash() == b.hash());
  const Change& same = copy;
  copy = same;  // self-assignment keeps the body
  CHECK(copy.hash() == b.hash());
  Change moved = std::move(copy);
  CHECK(moved.hash() == b.hash());
  copy = a;  // a moved-from change can be assigned to
  CHECK(copy.bytes().data() == a_bytes);
  moved = std::move(copy);
  CHECK(moved.bytes().data() == a_bytes);

  std::vector<Change> many(100, a);
  many.erase(many.begin(), many.begin() + 50);
  many.resize(10, b);
  CHECK(many.front().bytes().data() == a_bytes);
  CHECK(a.seq() == 1);
}

TEST_CASE("encoding: build sorts and deduplicates deps, and the encoding is canonical") {
  ChangeFields messy = golden_fields();
  messy.deps = {hash_n(3), hash_n(1), hash_n(2), hash_n(1), hash_n(3)};
  ChangeFields clean = golden_fields();
  clean.deps = sorted({hash_n(1), hash_n(2), hash_n(3)});

  Change a = Change::build(messy);
  Change b = Change::build(clean);
  CHECK(a.deps() == clean.deps);
  CHECK(a.hash() == b.hash());

  Bytes bytes(a.bytes().begin(), a.bytes().end());
  Change d = Change::decode(bytes);
  CHECK(Bytes(d.bytes().begin(), d.bytes().end()) == bytes);

  // Rebuilding from the decoded fields gives the same bytes again.
  ChangeFields again;
  again.actor = d.actor();
  again.seq = d.seq();
  again.deps = d.deps().to_vector();
  again.timestamp_ms = d.timestamp_ms();
  again.message = d.message();
  again.payload = Bytes(d.payload().begin(), d.payload().end());
  Change rebuilt = Change::build(again);
  CHECK(Bytes(rebuilt.bytes().begin(), rebuilt.bytes().end()) == bytes);
}

TEST_CASE("encoding: every field takes part in the hash") {
  std::vector<ChangeFields> variants(7, golden_fields());
  variants[1].actor = actor(2);
  variants[2].seq = 2;
  variants[3].deps = {hash_n(0)};
  variants[4].timestamp_ms = 1;
  variants[5].message = "hellO";
  variants[6].payload = text("worlD");
  std::vector<ChangeHash> hashes;
  for (const auto& v : variants) hashes.push_back(Change::build(v).hash());
  std::vector<ChangeHash> unique = sorted(hashes);
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  CHECK(unique.size() == variants.size());
}

TEST_CASE("encoding: golden change bytes and hash are pinned") {
  Change c = Change::build(golden_fields());
  CHECK(to_hex(c.bytes()) == kGoldenHex);
  CHECK(c.hash().hex() == kGoldenHash);
  CHECK(sha256(from_hex(kGoldenHex)).hex() == kGoldenHash);

  Change d = Change::decode(from_hex(kGoldenHex));
  CHECK(d.hash().hex() == kGoldenHash);
  CHECK(d.actor() == actor(1));
  CHECK(d.seq() == 1);
  CHECK(d.deps().empty());
  CHECK(d.timestamp_ms() == std::optional<std::int64_t>(0));
  CHECK(d.message() == std::optional<std::string>("hello"));
  CHECK(Bytes(d.payload().begin(), d.payload().end()) == text("world"));

  // The field-by-field builder used by the error tests starts from these very bytes.
  CHECK(to_hex(ChangeParts{}.join()) == kGoldenHex);
}

TEST_CASE("encoding: the example change of docs/protocol.md") {
  // Actor 01..01, seq 1, no deps, no timestamp, no message, payload 01 02. The hash was
  // checked with: printf '<hex>' | xxd -r -p | sha256sum
  ChangeFields f;
  f.actor = actor(1);
  f.payload = {0x01, 0x02};
  Change c = Change::build(f);
  CHECK(to_hex(c.bytes()) == "9701c410010101010101010101010101010101010190c0c0c4020102");
  CHECK(c.bytes().size() == 28);
  CHECK(c.hash().hex() == "a21e3cf2683f86c24f98fecf5b50e688b5f73864850e91664afef3c36f8da9d5");

  // Its seq set to 0: the error names structure, field and offset exactly as documented.
  Bytes seq0(c.bytes().begin(), c.bytes().end());
  seq0[20] = 0x00;
  CHECK_THROWS_WITH_AS(Change::decode(seq0), "change: seq: must be at least 1 (at byte 21)",
                       DecodeError);
}

// ---------------------------------------------------------------------------------------------
// Change: decode errors

TEST_CASE("encoding: change decode rejects truncation and trailing bytes") {
  Bytes golden = from_hex(kGoldenHex);
  check_change_rejected(Bytes(golden.begin(), golden.end() - 1), {"payload", "truncated"});
  check_change_rejected(Bytes(golden.begin(), golden.begin() + 10), {"actor", "truncated"});
  check_change_rejected(Bytes(golden.begin(), golden.begin() + 3), {"fields", "array claims 7"});
  check_change_rejected({}, {"fields", "truncated"});
  check_change_rejected(cat({golden, {0x00}}), {"trailing"});
  check_change_rejected(cat({golden, golden}), {"trailing"});
}

TEST_CASE("encoding: change decode rejects wrongly typed fields, naming the field") {
  const Bytes str16 = pack([](MsgpackWriter& w) { w.str(std::string(16, 'a')); });
  const Bytes nil{0xc0};
  const Bytes float32{0xca, 0x00, 0x00, 0x00, 0x00};
  const Bytes boolean{0xc3};

  // A map, not an array.
  check_change_rejected(with(&ChangeParts::header, Bytes{0x87}), {"fields", "expected array"});
  check_change_rejected(with(&ChangeParts::version, Bytes{0xa1, '1'}),
                        {"version", "expected an unsigned integer"});
  check_change_rejected(with(&ChangeParts::actor, str16), {"actor", "expected binary"});
  // -1
  check_change_rejected(with(&ChangeParts::seq, Bytes{0xff}),
                        {"seq", "expected an unsigned integer"});
  check_change_rejected(with(&ChangeParts::seq, nil), {"seq", "expected an unsigned integer"});
  check_change_rejected(with(&ChangeParts::deps, nil), {"deps", "expected array"});
  const Bytes str32 = pack([](MsgpackWriter& w) { w.str(std::string(32, 'h')); });
  const Bytes bin31 = pack([](MsgpackWriter& w) { w.bin(Bytes(31, 1)); });
  check_change_rejected(with(&ChangeParts::deps, cat({{0x91}, str32})),
                        {"deps", "expected binary"});
  check_change_rejected(with(&ChangeParts::deps, cat({{0x91}, bin31})),
                        {"deps", "expected 32 bytes"});
  check_change_rejected(with(&ChangeParts::timestamp, Bytes{0xa1, '0'}),
                        {"timestamp", "expected an integer"});
  check_change_rejected(with(&ChangeParts::timestamp, float32),
                        {"timestamp", "expected an integer"});
  check_change_rejected(with(&ChangeParts::timestamp, boolean),
                        {"timestamp", "expected an integer"});
  check_change_rejected(with(&ChangeParts::message, Bytes{0xc4, 0x01, 'h'}),
                        {"message", "expected string"});
  check_change_rejected(with(&ChangeParts::message, Bytes{0x05}), {"message", "expected string"});
  check_change_rejected(with(&ChangeParts::payload, Bytes{0xa5, 'w', 'o', 'r', 'l', 'd'}),
                        {"payload", "expected binary"});
  check_change_rejected(with(&ChangeParts::payload, nil), {"payload", "expected binary"});

  // Wrong field counts.
  ChangeParts six;
  six.header = {0x96};
  six.payload = {};
  check_change_rejected(six.join(), {"fields", "expected 7 fields"});
  check_change_rejected(cat({with(&ChangeParts::header, Bytes{0x98}), {0xc0}}),
                        {"fields", "exceeds limit 7"});
}

TEST_CASE("encoding: change decode rejects seq 0, unsorted or duplicate deps, bad actor length") {
  check_change_rejected(with(&ChangeParts::seq, Bytes{0x00}), {"seq", "must be at least 1"});

  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  CHECK_NOTHROW(Change::decode(with(&ChangeParts::deps, hash_array({lo, hi}))));
  check_change_rejected(with(&ChangeParts::deps, hash_array({hi, lo})),
                        {"deps", "not sorted and distinct"});
  check_change_rejected(with(&ChangeParts::deps, hash_array({lo, lo})),
                        {"deps", "not sorted and distinct"});

  const Bytes bin15 = pack([](MsgpackWriter& w) { w.bin(Bytes(15, 1)); });
  const Bytes bin17 = pack([](MsgpackWriter& w) { w.bin(Bytes(17, 1)); });
  check_change_rejected(with(&ChangeParts::actor, bin15), {"actor", "expected 16 bytes"});
  check_change_rejected(with(&ChangeParts::actor, bin17), {"actor", "exceeds limit 16"});
  check_change_rejected(with(&ChangeParts::actor, Bytes{0xc4, 0x00}),
                        {"actor", "expected 16 bytes"});

  CHECK_THROWS_WITH_AS(
      [] {
        ChangeFields f = golden_fields();
        f.seq = 0;
        Change::build(f);
      }(),
      doctest::Contains("seq"), DecodeError);
}

TEST_CASE("encoding: change decode rejects unknown versions") {
  for (Bytes version : {Bytes{0x00}, Bytes{0x02}, Bytes{0x7f}, Bytes{0xcc, 0xff},
                        Bytes{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}) {
    check_change_rejected(with(&ChangeParts::version, version), {"version", "unsupported version"});
  }
}

TEST_CASE("encoding: change decode rejects non-canonical integer and length encodings") {
  // 1 as uint8
  check_change_rejected(with(&ChangeParts::seq, Bytes{0xcc, 0x01}),
                        {"seq", "non-canonical integer"});
  check_change_rejected(with(&ChangeParts::seq, Bytes{0xcd, 0x00, 0x01}),
                        {"seq", "non-canonical integer"});
  check_change_rejected(with(&ChangeParts::seq, Bytes{0xcf, 0, 0, 0, 0, 0, 0, 0, 0x01}),
                        {"seq", "non-canonical integer"});
  check_change_rejected(with(&ChangeParts::version, Bytes{0xcc, 0x01}),
                        {"version", "non-canonical integer"});
  check_change_rejected(with(&ChangeParts::timestamp, Bytes{0xcc, 0x05}),
                        {"timestamp", "non-canonical integer"});
  // positive in int8
  check_change_rejected(with(&ChangeParts::timestamp, Bytes{0xd0, 0x05}),
                        {"timestamp", "non-canonical integer"});
  // -16 fits a negative fixint
  check_change_rejected(with(&ChangeParts::timestamp, Bytes{0xd0, 0xf0}),
                        {"timestamp", "non-canonical integer"});
  // -128 fits int8
  check_change_rejected(with(&ChangeParts::timestamp, Bytes{0xd1, 0xff, 0x80}),
                        {"timestamp", "non-canonical integer"});

  check_change_rejected(with(&ChangeParts::header, Bytes{0xdc, 0x00, 0x07}),
                        {"fields", "non-canonical array length"});
  check_change_rejected(with(&ChangeParts::actor, cat({{0xc5, 0x00, 0x10}, Bytes(16, 1)})),
                        {"actor", "non-canonical binary length"});
  check_change_rejected(with(&ChangeParts::deps, Bytes{0xdc, 0x00, 0x00}),
                        {"deps", "non-canonical array length"});
  check_change_rejected(with(&ChangeParts::message, Bytes{0xd9, 0x05, 'h', 'e', 'l', 'l', 'o'}),
                        {"message", "non-canonical string length"});
  check_change_rejected(
      with(&ChangeParts::payload, Bytes{0xc5, 0x00, 0x05, 'w', 'o', 'r', 'l', 'd'}),
      {"payload", "non-canonical binary length"});
  check_change_rejected(
      with(&ChangeParts::payload, Bytes{0xc6, 0x00, 0x00, 0x00, 0x05, 'w', 'o', 'r', 'l', 'd'}),
      {"payload", "non-canonical binary length"});
}

TEST_CASE("encoding: change messages must be valid UTF-8, in build and in decode") {
  const std::vector<std::string> invalid = {
      "\xc3\x28",          // bad continuation
      "\xc0\x80",          // overlong NUL
      "\xe0\x80\xaf",      // overlong '/'
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xe2\x82",          // truncated sequence
      "abc\x80",           // lone continuation byte
      "\xff",              // never valid
  };
  for (const auto& s : invalid) {
    CAPTURE(to_hex(as_bytes(s)));
    check_change_rejected(with(&ChangeParts::message, pack([&](MsgpackWriter& w) { w.str(s); })),
                          {"message", "UTF-8"});
    ChangeFields f = golden_fields();
    f.message = s;
    CHECK_THROWS_WITH_AS(Change::build(f), doctest::Contains("UTF-8"), DecodeError);
  }
  for (std::string ok :
       {"", "plain", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"}) {
    Bytes bytes = with(&ChangeParts::message, pack([&](MsgpackWriter& w) { w.str(ok); }));
    CHECK(Change::decode(bytes).message() == std::optional<std::string>(ok));
  }
}

TEST_CASE("encoding: change limits apply to decode and build") {
  Bytes golden = from_hex(kGoldenHex);

  ChangeLimits size_limit;
  size_limit.max_change_bytes = golden.size();
  CHECK_NOTHROW(Change::decode(golden, size_limit));
  size_limit.max_change_bytes = golden.size() - 1;
  check_change_rejected(golden, {"exceed limit"}, size_limit);
  CHECK_THROWS_WITH_AS(Change::build(golden_fields(), size_limit),
                       doctest::Contains("exceed limit"), DecodeError);

  ChangeFields three = golden_fields();
  three.deps = {hash_n(1), hash_n(2), hash_n(3)};
  Change c3 = Change::build(three);
  ChangeLimits deps_limit;
  deps_limit.max_deps = 3;
  CHECK_NOTHROW(Change::decode(c3.bytes(), deps_limit));
  deps_limit.max_deps = 2;
  check_change_rejected(Bytes(c3.bytes().begin(), c3.bytes().end()), {"deps", "exceeds limit 2"},
                        deps_limit);
  CHECK_THROWS_WITH_AS(Change::build(three, deps_limit), doctest::Contains("deps"), DecodeError);

  ChangeLimits message_limit;
  message_limit.max_message_chars = 5;
  CHECK_NOTHROW(Change::decode(golden, message_limit));
  message_limit.max_message_chars = 4;
  check_change_rejected(golden, {"message", "exceeds limit 4"}, message_limit);
  CHECK_THROWS_WITH_AS(Change::build(golden_fields(), message_limit), doctest::Contains("message"),
                       DecodeError);
}

TEST_CASE("encoding: decode_verified checks the hash") {
  Bytes golden = from_hex(kGoldenHex);
  ChangeHash right = ChangeHash::from_hex(kGoldenHash);
  CHECK(Change::decode_verified(golden, right).hash() == right);

  ChangeHash wrong = hash_n(99);
  try {
    Change::decode_verified(golden, wrong);
    FAIL("accepted a wrong hash");
  } catch (const GraphError& e) {
    std::string what = e.what();
    CHECK(what.find("hash mismatch") != std::string::npos);
    CHECK(what.find(wrong.hex()) != std::string::npos);
    CHECK(what.find(kGoldenHash) != std::string::npos);
  }
  // Malformed bytes are still a DecodeError, whatever the expected hash.
  CHECK_THROWS_AS(Change::decode_verified(Bytes(golden.begin(), golden.end() - 1), right),
                  DecodeError);
}

// ---------------------------------------------------------------------------------------------
// MsgpackReader strictness

TEST_CASE("encoding: msgpack unsigned integers use exactly the shortest form") {
  struct Case {
    std::uint64_t value;
    std::size_t size;
  };
  for (Case c : {Case{0, 1}, Case{1, 1}, Case{127, 1}, Case{128, 2}, Case{255, 2}, Case{256, 3},
                 Case{65535, 3}, Case{65536, 5}, Case{UINT32_MAX, 5},
                 Case{std::uint64_t(UINT32_MAX) + 1, 9}, Case{UINT64_MAX, 9}}) {
    CAPTURE(c.value);
    Bytes b = pack([&](MsgpackWriter& w) { w.uint(c.value); });
    CHECK(b.size() == c.size);
    MsgpackReader r(b, "test");
    CHECK(r.uint("n") == c.value);
    r.expect_end();
  }

  // The smallest value of each wide form is accepted; one below it is not.
  const std::vector<Bytes> minimal = {{0xcc, 0x80},
                                      {0xcd, 0x01, 0x00},
                                      {0xce, 0x00, 0x01, 0x00, 0x00},
                                      {0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}};
  const std::vector<Bytes> non_minimal = {{0xcc, 0x7f},
                                          {0xcc, 0x00},
                                          {0xcd, 0x00, 0xff},
                                          {0xce, 0x00, 0x00, 0xff, 0xff},
                                          {0xcf, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff}};
  for (const Bytes& b : minimal) {
    MsgpackReader r(b, "test");
    CHECK_NOTHROW(r.uint("n"));
  }
  for (const Bytes& b : non_minimal) {
    CAPTURE(to_hex(b));
    MsgpackReader r(b, "test");
    CHECK_THROWS_WITH_AS(r.uint("n"), doctest::Contains("non-canonical integer"), DecodeError);
  }

  // Negative, nil and truncated values are not unsigned integers.
  const Bytes neg_bytes = Bytes{0xff};
  MsgpackReader neg(neg_bytes, "test");
  CHECK_THROWS_WITH_AS(neg.uint("n"), doctest::Contains("expected an unsigned integer"),
                       DecodeError);
  const Bytes trunc_bytes = Bytes{0xcd, 0x01};
  MsgpackReader trunc(trunc_bytes, "test");
  CHECK_THROWS_WITH_AS(trunc.uint("n"), doctest::Contains("truncated"), DecodeError);
  const Bytes wide_bytes = Bytes{0xce, 0x00, 0x00, 0x00};
  MsgpackReader wide(wide_bytes, "test");
  CHECK_THROWS_WITH_AS(wide.uint("n"), doctest::Contains("truncated"), DecodeError);

  // uint32() rejects values above 2^32-1.
  Bytes big = pack([](MsgpackWriter& w) { w.uint(std::uint64_t(UINT32_MAX) + 1); });
  MsgpackReader r32(big, "test");
  CHECK_THROWS_WITH_AS(r32.uint32("n"), doctest::Contains("out of range"), DecodeError);
  Bytes max32 = pack([](MsgpackWriter& w) { w.uint(UINT32_MAX); });
  MsgpackReader ok32(max32, "test");
  CHECK(ok32.uint32("n") == UINT32_MAX);
}

TEST_CASE("encoding: msgpack signed integers use exactly the shortest form") {
  struct Case {
    std::int64_t value;
    std::size_t size;
  };
  for (Case c :
       {Case{0, 1}, Case{127, 1}, Case{128, 2}, Case{-1, 1}, Case{-32, 1}, Case{-33, 2},
        Case{-128, 2}, Case{-129, 3}, Case{-32768, 3}, Case{-32769, 5}, Case{INT32_MIN, 5},
        Case{std::int64_t(INT32_MIN) - 1, 9}, Case{std::numeric_limits<std::int64_t>::min(), 9},
        Case{std::numeric_limits<std::int64_t>::max(), 9}}) {
    CAPTURE(c.value);
    Bytes b = pack([&](MsgpackWriter& w) { w.sint(c.value); });
    CHECK(b.size() == c.size);
    MsgpackReader r(b, "test");
    CHECK(r.sint("n") == c.value);
    r.expect_end();
  }

  const std::vector<Bytes> minimal = {
      {0xd0, 0xdf},                                            // -33
      {0xd0, 0x80},                                            // -128
      {0xd1, 0xff, 0x7f},                                      // -129
      {0xd2, 0xff, 0xff, 0x7f, 0xff},                          // -32769
      {0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff},  // INT32_MIN - 1
  };
  const std::vector<Bytes> non_minimal = {
      {0xd0, 0xe0},                                            // -32: fixint
      {0xd0, 0x05},                                            // positive: uint forms
      {0xd1, 0xff, 0x80},                                      // -128: int8
      {0xd1, 0x00, 0x05},                                      // positive
      {0xd2, 0xff, 0xff, 0x80, 0x00},                          // -32768: int16
      {0xd3, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00},  // INT32_MIN: int32
      {0xd3, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},  // 2^32: uint64 form
  };
  for (const Bytes& b : minimal) {
    CAPTURE(to_hex(b));
    MsgpackReader r(b, "test");
    CHECK_NOTHROW(r.sint("n"));
  }
  for (const Bytes& b : non_minimal) {
    CAPTURE(to_hex(b));
    MsgpackReader r(b, "test");
    CHECK_THROWS_WITH_AS(r.sint("n"), doctest::Contains("non-canonical integer"), DecodeError);
  }
  // Unsigned forms that are canonical are accepted by sint(), up to INT64_MAX.
  const Bytes u8_bytes = Bytes{0xcc, 0x80};
  MsgpackReader u8(u8_bytes, "test");
  CHECK(u8.sint("n") == 128);
  const Bytes over_bytes = Bytes{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
  MsgpackReader over(over_bytes, "test");
  CHECK_THROWS_WITH_AS(over.sint("n"), doctest::Contains("out of range"), DecodeError);
  const Bytes non_canonical_u_bytes = Bytes{0xcc, 0x05};
  MsgpackReader non_canonical_u(non_canonical_u_bytes, "test");
  CHECK_THROWS_WITH_AS(non_canonical_u.sint("n"), doctest::Contains("non-canonical"), DecodeError);
  const Bytes str_bytes = Bytes{0xa0};
  MsgpackReader str(str_bytes, "test");
  CHECK_THROWS_WITH_AS(str.sint("n"), doctest::Contains("expected an integer"), DecodeError);
}

TEST_CASE("encoding: msgpack string, binary and array lengths use exactly the shortest form") {
  // Strings: fixstr up to 31, then str8, str16, str32.
  for (auto [n, header] : {std::pair<std::size_t, std::size_t>{0, 1},
                           {31, 1},
                           {32, 2},
                           {255, 2},
                           {256, 3},
                           {65535, 3},
                           {65536, 5}}) {
    CAPTURE(n);
    std::string s(n, 's');
    Bytes b = pack([&](MsgpackWriter& w) { w.str(s); });
    CHECK(b.size() == n + header);
    MsgpackReader r(b, "test");
    CHECK(r.str("s", n) == s);
    r.expect_end();
  }
  // Binary: no fix form; bin8 from 0, then bin16, bin32.
  for (auto [n, header] :
       {std::pair<std::size_t, std::size_t>{0, 2}, {255, 2}, {256, 3}, {65535, 3}, {65536, 5}}) {
    CAPTURE(n);
    Bytes payload(n, 0xab);
    Bytes b = pack([&](MsgpackWriter& w) { w.bin(payload); });
    CHECK(b.size() == n + header);
    MsgpackReader r(b, "test");
    ByteView v = r.bin("b", n);
    CHECK(Bytes(v.begin(), v.end()) == payload);
  }
  // Arrays: fixarray up to 15, then array16, array32.
  for (auto [n, header] :
       {std::pair<std::uint32_t, std::size_t>{0, 1}, {15, 1}, {16, 3}, {65535, 3}, {65536, 5}}) {
    CAPTURE(n);
    Bytes b = pack([&](MsgpackWriter& w) {
      w.array(n);
      for (std::uint32_t i = 0; i < n; ++i) w.nil();
    });
    CHECK(b.size() == n + header);
    MsgpackReader r(b, "test");
    CHECK(r.array("a", n) == n);
  }

  auto rejects = [](Bytes b, const char* needle, auto read) {
    CAPTURE(to_hex(Bytes(b.begin(), b.begin() + std::min<std::size_t>(b.size(), 8))));
    MsgpackReader r(b, "test");
    CHECK_THROWS_WITH_AS(read(r), doctest::Contains(needle), DecodeError);
  };
  auto read_str = [](MsgpackReader& r) { r.str("s", 1u << 20); };
  auto read_bin = [](MsgpackReader& r) { r.bin("b", 1u << 20); };
  auto read_array = [](MsgpackReader& r) { r.array("a", 1u << 20); };
  auto read_map = [](MsgpackReader& r) { r.map("m", 1u << 20); };
  rejects(cat({{0xd9, 0x1f}, repeat(31)}), "non-canonical string length", read_str);
  rejects(cat({{0xd9, 0x00}}), "non-canonical string length", read_str);
  rejects(cat({{0xda, 0x00, 0xff}, repeat(255)}), "non-canonical string length", read_str);
  rejects(cat({{0xdb, 0x00, 0x00, 0xff, 0xff}, repeat(65535)}), "non-canonical string length",
          read_str);
  rejects(cat({{0xc5, 0x00, 0xff}, repeat(255)}), "non-canonical binary length", read_bin);
  rejects(cat({{0xc6, 0x00, 0x00, 0xff, 0xff}, repeat(65535)}), "non-canonical binary length",
          read_bin);
  rejects(cat({{0xdc, 0x00, 0x0f}, repeat(15, 0xc0)}), "non-canonical array length", read_array);
  rejects(cat({{0xdd, 0x00, 0x00, 0xff, 0xff}, repeat(65535, 0xc0)}), "non-canonical array length",
          read_array);
  rejects(cat({{0xde, 0x00, 0x0f}, repeat(30, 0xc0)}), "non-canonical map length", read_map);

  // Wrong kinds.
  rejects({0xc4, 0x00}, "expected string", read_str);
  rejects({0xa0}, "expected binary", read_bin);
  rejects({0x80}, "expected array", read_array);
  rejects({0x90}, "expected map", read_map);

  // Lengths beyond the caller's maximum, or beyond the bytes present.
  const Bytes small_bytes = pack([](MsgpackWriter& w) { w.str("abcdef"); });
  MsgpackReader small(small_bytes, "test");
  CHECK_THROWS_WITH_AS(small.str("s", 5), doctest::Contains("exceeds limit 5"), DecodeError);
  rejects({0xa5, 'a', 'b'}, "truncated", read_str);
  rejects({0xc6, 0xff, 0xff, 0xff, 0xff, 0x00}, "truncated",
          [](MsgpackReader& r) { r.bin("b", UINT32_MAX); });
  rejects({0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, "array claims",
          [](MsgpackReader& r) { r.array("a", UINT32_MAX); });
  rejects({0x93, 0xc0, 0xc0}, "array claims", read_array);
  rejects({0x82, 0xc0, 0xc0}, "map claims", read_map);
  rejects({0x92, 0xc0, 0xc0}, "exceeds limit 1", [](MsgpackReader& r) { r.array("a", 1); });
}

TEST_CASE("encoding: msgpack reader errors name the decoder, the field and the position") {
  Bytes b{0x01, 0xc0};
  MsgpackReader r(b, "thing");
  CHECK(r.uint("first") == 1);
  CHECK(r.is_nil());
  CHECK_THROWS_WITH_AS(r.uint("count"), "thing: count: expected an unsigned integer (at byte 1)",
                       DecodeError);
  r.nil("second");
  CHECK_FALSE(r.is_nil());
  CHECK(r.remaining() == 0);
  CHECK_NOTHROW(r.expect_end());

  const Bytes trailing_bytes = Bytes{0x01, 0x02, 0x03};
  MsgpackReader trailing(trailing_bytes, "thing");
  trailing.uint("first");
  CHECK_THROWS_WITH_AS(trailing.expect_end(), "thing: end: 2 trailing bytes (at byte 1)",
                       DecodeError);

  const Bytes not_nil_bytes = Bytes{0x00};
  MsgpackReader not_nil(not_nil_bytes, "thing");
  CHECK_THROWS_WITH_AS(not_nil.nil("n"), doctest::Contains("expected nil"), DecodeError);
}

TEST_CASE("encoding: msgpack sorted id lists are sorted and distinct") {
  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  {
    Bytes b = hash_array({lo, hi});
    MsgpackReader r(b, "test");
    std::vector<ChangeHash> out;
    r.sorted_ids<ChangeHash>("ids", 10, out);
    CHECK(out == std::vector<ChangeHash>{lo, hi});
  }
  for (const auto& bad : {std::vector<ChangeHash>{hi, lo}, std::vector<ChangeHash>{lo, lo}}) {
    Bytes b = hash_array(bad);
    MsgpackReader r(b, "test");
    std::vector<ChangeHash> out;
    CHECK_THROWS_WITH_AS(r.sorted_ids<ChangeHash>("ids", 10, out),
                         doctest::Contains("not sorted and distinct"), DecodeError);
  }
}

// ---------------------------------------------------------------------------------------------
// VersionVector

TEST_CASE("encoding: version vector round trip") {
  VersionVector empty;
  CHECK(to_hex(empty.encode()) == "920190");
  CHECK(VersionVector::decode(empty.encode()) == empty);

  VersionVector one;
  one.set(actor(1), 5);
  std::string actor1_hex;
  for (int i = 0; i < 16; ++i) actor1_hex += "01";
  CHECK(to_hex(one.encode()) == "92019192c410" + actor1_hex + "05");
  CHECK(VersionVector::decode(one.encode()) == one);

  VersionVector vv;
  vv.set(actor(3), 1);
  vv.set(actor(1), 127);
  vv.set(actor(2), 128);
  vv.set(actor(9), UINT64_MAX);
  vv.set(actor(4), 7);
  vv.set(actor(4), 0);  // removes
  CHECK(vv.size() == 4);
  CHECK(vv.get(actor(4)) == 0);
  CHECK(vv.get(actor(2)) == 128);
  Bytes bytes = vv.encode();
  VersionVector back = VersionVector::decode(bytes);
  CHECK(back == vv);
  CHECK(back.encode() == bytes);
  CHECK(back.get(actor(9)) == UINT64_MAX);
}

TEST_CASE("encoding: version vector includes") {
  VersionVector a, b;
  a.set(actor(1), 3);
  a.set(actor(2), 1);
  b.set(actor(1), 2);
  CHECK(a.includes(b));
  CHECK_FALSE(b.includes(a));
  CHECK(a.includes(VersionVector{}));
  CHECK(VersionVector{}.includes(VersionVector{}));
  b.set(actor(3), 1);
  CHECK_FALSE(a.includes(b));
}

TEST_CASE("encoding: version vector decode errors") {
  auto entry = [](std::uint8_t a, std::uint64_t seq) {
    return pack([&](MsgpackWriter& w) {
      w.array(2);
      w.id(actor(a));
      w.uint(seq);
    });
  };
  auto vv_bytes = [](std::uint32_t n, std::initializer_list<Bytes> entries) {
    return cat({{0x92, 0x01}, pack([&](MsgpackWriter& w) { w.array(n); }), cat(entries)});
  };
  auto rejected = [](const Bytes& b, std::vector<std::string> needles,
                     std::size_t max = 1'000'000) {
    INFO("bytes: " << to_hex(b));
    try {
      VersionVector::decode(b, max);
      FAIL("decoded without error");
    } catch (const DecodeError& e) {
      std::string what = e.what();
      INFO("what(): " << what);
      CHECK(what.rfind("version vector: ", 0) == 0);
      for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
    }
  };

  CHECK(VersionVector::decode(vv_bytes(2, {entry(1, 1), entry(2, 1)})).size() == 2);
  rejected(vv_bytes(1, {entry(1, 0)}), {"entry.seq", "at least 1"});
  rejected(vv_bytes(2, {entry(2, 1), entry(1, 1)}), {"entry.actor", "not sorted"});
  rejected(vv_bytes(2, {entry(1, 1), entry(1, 2)}), {"entry.actor", "not sorted"});
  rejected(vv_bytes(2, {entry(1, 1), entry(2, 1)}), {"entries", "exceeds limit 1"}, 1);
  rejected(cat({{0x92, 0x02, 0x90}}), {"version", "unsupported version 2"});
  rejected(cat({{0x92, 0x01, 0x90, 0x00}}), {"trailing"});
  rejected(cat({{0x92, 0x01, 0x91}}), {"entries"});
  rejected(vv_bytes(1, {cat({{0x92, 0xc4, 0x0f}, Bytes(15, 1), {0x01}})}),
           {"entry.actor", "expected 16 bytes"});
  rejected(vv_bytes(1, {cat({{0x93}, entry(1, 1)})}), {"entry", "exceeds limit 2"});
  rejected(vv_bytes(1, {cat({{0x92, 0xc4, 0x10}, Bytes(16, 1), {0xff}})}),
           {"entry.seq", "expected an unsigned integer"});
  rejected(vv_bytes(1, {cat({{0x92, 0xc4, 0x10}, Bytes(16, 1), {0xcc, 0x01}})}),
           {"entry.seq", "non-canonical"});
  rejected({0x82, 0x01, 0x90}, {"fields", "expected array"});
  rejected({0x91, 0x01}, {"fields", "expected 2 fields"});
  rejected({}, {"truncated"});
}

// ---------------------------------------------------------------------------------------------
// SyncState

TEST_CASE("encoding: sync state round trip keeps only shared_heads") {
  SyncState s;
  s.shared_heads = sorted({hash_n(1), hash_n(2), hash_n(3)});
  s.last_sent_heads = {hash_n(4)};
  s.last_sent_need = {hash_n(5)};
  s.their_heads = std::vector<ChangeHash>{hash_n(6)};
  s.their_need = std::vector<ChangeHash>{hash_n(7)};
  s.their_have = std::vector<Have>{Have{}};
  s.sent_hashes = {hash_n(8)};
  s.in_flight = true;
  s.have_responded = true;
  s.reset_sent = true;

  Bytes bytes = s.encode();
  SyncState d = SyncState::decode(bytes);
  CHECK(d.shared_heads == s.shared_heads);
  CHECK(d.last_sent_heads.empty());
  CHECK(d.last_sent_need.empty());
  CHECK_FALSE(d.their_heads.has_value());
  CHECK_FALSE(d.their_need.has_value());
  CHECK_FALSE(d.their_have.has_value());
  CHECK(d.sent_hashes.empty());
  CHECK_FALSE(d.in_flight);
  CHECK_FALSE(d.have_responded);
  CHECK_FALSE(d.reset_sent);
  CHECK(d.encode() == bytes);

  CHECK(to_hex(SyncState{}.encode()) == "920190");
  CHECK(SyncState::decode(SyncState{}.encode()).shared_heads.empty());
}

TEST_CASE("encoding: sync state decode errors") {
  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  auto state_bytes = [](const std::vector<ChangeHash>& heads) {
    return cat({{0x92, 0x01}, hash_array(heads)});
  };
  auto rejected = [](const Bytes& b, std::vector<std::string> needles,
                     std::size_t max_heads = 65'536) {
    INFO("bytes: " << to_hex(b));
    try {
      SyncState::decode(b, max_heads);
      FAIL("decoded without error");
    } catch (const DecodeError& e) {
      std::string what = e.what();
      INFO("what(): " << what);
      CHECK(what.rfind("sync state: ", 0) == 0);
      for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
    }
  };
  CHECK(SyncState::decode(state_bytes({lo, hi})).shared_heads.size() == 2);
  rejected(state_bytes({hi, lo}), {"shared_heads", "not sorted"});
  rejected(state_bytes({lo, lo}), {"shared_heads", "not sorted"});
  rejected(state_bytes({lo, hi}), {"shared_heads", "exceeds limit 1"}, 1);
  rejected({0x92, 0x02, 0x90}, {"version", "unsupported version 2"});
  rejected({0x92, 0x00, 0x90}, {"version", "unsupported version 0"});
  rejected({0x92, 0x01, 0x90, 0x90}, {"trailing"});
  rejected({0x93, 0x01, 0x90, 0x90}, {"fields"});
  rejected({0x92, 0x01, 0xc0}, {"shared_heads", "expected array"});
  rejected(cat({{0x92, 0x01, 0x91, 0xc4, 0x1f}, Bytes(31, 0)}), {"shared_heads", "32 bytes"});
  rejected({0x92, 0x01}, {"fields", "array claims 2 elements, 1 bytes left"});
  rejected({0x92}, {"fields"});
  rejected({}, {"fields", "truncated"});
}

// ---------------------------------------------------------------------------------------------
// SyncMessage

TEST_CASE("encoding: sync message round trip with several haves and changes") {
  std::vector<Change> changes;
  for (int i = 0; i < 3; ++i) {
    ChangeFields f = golden_fields();
    f.seq = static_cast<std::uint64_t>(i + 1);
    if (i > 0) f.deps = {changes.back().hash()};
    f.payload = text("change " + std::to_string(i));
    changes.push_back(Change::build(f));
  }
  std::vector<ChangeHash> filtered = {hash_n(10), hash_n(11), hash_n(12), hash_n(13)};

  SyncMessage m;
  m.heads = sorted({hash_n(1), hash_n(2)});
  m.need = {hash_n(3)};
  m.have.push_back(Have{});  // empty last_sync and filter
  m.have.push_back(Have{sorted({hash_n(4), hash_n(5)}), BloomFilter(filtered)});
  m.have.push_back(Have{{hash_n(6)}, BloomFilter(filtered, 20, 3)});  // non-default parameters
  m.changes = changes;

  Bytes bytes = m.encode();
  SyncMessage d = SyncMessage::decode(bytes);
  CHECK(d.heads == m.heads);
  CHECK(d.need == m.need);
  REQUIRE(d.have.size() == 3);
  CHECK(d.have == m.have);
  CHECK(d.have[2].bloom.bits_per_entry() == 20);
  CHECK(d.have[2].bloom.probes() == 3);
  for (const auto& h : filtered) {
    CHECK(d.have[1].bloom.contains(h));
    CHECK(d.have[2].bloom.contains(h));
  }
  CHECK(hashes_of(d.changes) == hashes_of(changes));
  CHECK(d.change_bytes() == m.change_bytes());
  std::size_t sum = 0;
  for (const auto& c : changes) sum += c.bytes().size();
  CHECK(m.change_bytes() == sum);
  CHECK(d.encode() == bytes);

  SyncMessage empty;
  CHECK(to_hex(empty.encode()) == "9702c400c40090c400c000");
  SyncMessage e = SyncMessage::decode(empty.encode());
  CHECK(e.heads.empty());
  CHECK(e.need.empty());
  CHECK(e.have.empty());
  CHECK(e.changes.empty());
}

TEST_CASE("encoding: sync message decode errors") {
  Change golden = Change::build(golden_fields());
  auto rejected = [](const Bytes& b, std::vector<std::string> needles,
                     const SyncLimits& limits = {}) {
    INFO("bytes: " << to_hex(Bytes(b.begin(), b.begin() + std::min<std::size_t>(b.size(), 64))));
    try {
      SyncMessage::decode(b, limits);
      FAIL("decoded without error");
    } catch (const DecodeError& e) {
      std::string what = e.what();
      INFO("what(): " << what);
      CHECK(what.rfind("sync message: ", 0) == 0);
      for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
    }
  };
  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  const Bytes e{0xc4, 0x00};     // an empty hash list, or no changes
  const Bytes tail{0xc0, 0x00};  // no summary, no flags

  rejected({0x95, 0x01, 0x90, 0x90, 0x90, 0x90}, {"version", "unsupported version 1"});
  rejected(cat({{0x96, 0x02}, e, e, {0x90}, e, {0xc0}}), {"fields", "expected 7 fields"});
  rejected(cat({{0x97, 0x02}, e, e, {0x90}, e, tail, {0x00}}), {"trailing"});
  rejected(cat({{0x97, 0x02}, hash_bin({hi, lo}), e, {0x90}, e, tail}), {"heads", "not sorted"});
  rejected(cat({{0x97, 0x02}, e, hash_bin({lo, lo}), {0x90}, e, tail}), {"need", "not sorted"});
  rejected(cat({{0x97, 0x02, 0xc4, 0x21}, repeat(33), e, {0x90}, e, tail}),
           {"heads", "not a whole number of ids"});
  rejected(cat({{0x97, 0x02}, e, e, {0xc0}, e, tail}), {"have", "expected array"});
  rejected(cat({{0x97, 0x02}, e, e, {0x91, 0x91}, e, e, tail}), {"have entry"});
  rejected(cat({{0x97, 0x02}, e, e, {0x91, 0x92}, e, {0x93, 0x00, 0x0a, 0x07}, e, tail}),
           {"have.bloom"});
  rejected(cat({{0x97, 0x02}, e, e, {0x90, 0x90}, tail}), {"changes", "expected binary"});
  rejected(cat({{0x97, 0x02}, e, e, {0x90}, e, {0x91, 0x92, 0xc4, 0x00, 0xc4, 0x00, 0x00}}),
           {"summary level", "expected [hashes, actors, seqs]"});
  const ActorId one = actor(1);
  const Bytes one_bytes(one.bytes.begin(), one.bytes.end());
  rejected(cat({{0x97, 0x02},
                e,
                e,
                {0x90},
                e,
                {0x91, 0x93, 0xc4, 0x00, 0xc4, 0x10},
                one_bytes,
                {0x90, 0x00}}),
           {"summary.seqs", "one seq per actor"});
  rejected(cat({{0x97, 0x02},
                e,
                e,
                {0x90},
                e,
                {0x91, 0x93, 0xc4, 0x00, 0xc4, 0x10},
                one_bytes,
                {0x91, 0x00, 0x00}}),
           {"summary.seq", "at least 1"});
  rejected(cat({{0x97, 0x02}, e, e, {0x90}, e, {0xc0, 0x02}}), {"flags", "unknown flag bits 2"});

  // A malformed change inside names its index and the change's own field; so does one cut
  // short by the end of the changes.
  Bytes bad_change(golden.bytes().begin(), golden.bytes().end());
  bad_change[20] = 0x00;  // seq 1 -> 0
  auto changes_bin = [](const Bytes& packed) {
    return pack([&](MsgpackWriter& w) { w.bin(packed); });
  };
  Bytes good(golden.bytes().begin(), golden.bytes().end());
  rejected(cat({{0x97, 0x02}, e, e, {0x90}, changes_bin(cat({good, bad_change})), tail}),
           {"change 1", "seq", "at least 1"});
  rejected(cat({{0x97, 0x02},
                e,
                e,
                {0x90},
                changes_bin(cat({good, Bytes(good.begin(), good.end() - 1)})),
                tail}),
           {"change 1"});

  // Limits.
  SyncMessage m;
  m.heads = {lo, hi};
  m.changes = {golden, golden};
  m.have = {Have{}, Have{}};
  Bytes bytes = m.encode();
  CHECK_NOTHROW(SyncMessage::decode(bytes));
  SyncLimits l;
  l.max_message_bytes = bytes.size() - 1;
  rejected(bytes, {"exceed limit"}, l);
  l = {};
  l.max_hashes = 1;
  rejected(bytes, {"heads", "exceeds limit 32"}, l);
  l = {};
  l.max_haves = 1;
  rejected(bytes, {"have", "exceeds limit 1"}, l);
  l = {};
  l.max_changes = 1;
  rejected(bytes, {"changes", "more than 1 changes"}, l);
  l = {};
  l.change.max_change_bytes = golden.bytes().size() - 1;
  rejected(bytes, {"change 0", "exceed"}, l);
  l = {};
  l.change.max_message_chars = 1;
  rejected(bytes, {"change 0", "message"}, l);

  SyncMessage with_summary;
  with_summary.summary = Summary{};
  for (int i = 0; i < 3; ++i) {
    SummaryLevel level;
    level.hashes = {hash_n(i)};
    level.actors.set(actor(i + 1), 5);
    level.actors.set(actor(i + 10), 7);
    with_summary.summary->levels.push_back(level);
  }
  bytes = with_summary.encode();
  CHECK(SyncMessage::decode(bytes).summary == with_summary.summary);
  CHECK(with_summary.summary->encoded_size() + 10 == bytes.size());
  l = {};
  l.max_summary_levels = 2;
  rejected(bytes, {"summary", "exceeds limit 2"}, l);
  l = {};
  l.max_summary_actors = 5;
  rejected(bytes, {"summary.actors", "exceeds limit"}, l);
}

TEST_CASE("encoding: pinned wire forms from docs/protocol.md") {
  // Version vector {01..01: 3}.
  VersionVector vv;
  vv.set(actor(1), 3);
  CHECK(to_hex(vv.encode()) == "92019192c410" + to_hex(actor(1).view()) + "03");
  // The empty update batch.
  CHECK(to_hex(ChangeGraph(actor(1)).export_updates()) == "920190");
  // The first message of a peer with an empty graph: a summary with one root level holding
  // no actors (91 93 c4 00 c4 00 90), i.e. "I have nothing".
  ChangeGraph empty(actor(1));
  SyncState state;
  auto first = generate_sync_message(empty, state);
  REQUIRE(first.has_value());
  CHECK(to_hex(first->encode()) == "9702c400c40090c4009193c400c4009000");
  SyncMessage decoded = SyncMessage::decode(first->encode());
  CHECK(decoded.have.empty());
  REQUIRE(decoded.summary);
  CHECK(decoded.summary->complete());
  // With summaries off: one have, empty last_sync, empty filter with default parameters
  // (94 00 0a 07 c4 00), as Automerge sends.
  SyncState filters;
  first = generate_sync_message(empty, filters, GenerateOptions{.summaries = false});
  REQUIRE(first.has_value());
  CHECK(to_hex(first->encode()) == "9702c400c4009192c40094000a07c400c400c000");
  decoded = SyncMessage::decode(first->encode());
  REQUIRE(decoded.have.size() == 1);
  CHECK(decoded.have[0].last_sync.empty());
  CHECK(decoded.have[0].bloom.empty());
  CHECK(decoded.have[0].bloom.bits_per_entry() == 10);
  CHECK(decoded.have[0].bloom.probes() == 7);
  // An error message of the documented shape.
  CHECK_THROWS_WITH_AS(SyncMessage::decode(from_hex("950190909090")),
                       "sync message: version: unsupported version 1 (at byte 2)", DecodeError);
}

TEST_CASE("encoding: SyncMessage::encode sorts and deduplicates its hash lists") {
  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  SyncMessage m;
  m.heads = {hi, lo, hi};
  m.need = {hi, hi, lo};
  m.have.push_back(Have{{hi, lo, lo}, BloomFilter{}});
  SyncMessage d = SyncMessage::decode(m.encode());
  CHECK(d.heads == std::vector<ChangeHash>{lo, hi});
  CHECK(d.need == std::vector<ChangeHash>{lo, hi});
  REQUIRE(d.have.size() == 1);
  CHECK(d.have[0].last_sync == std::vector<ChangeHash>{lo, hi});

  SyncMessage canonical;
  canonical.heads = {lo, hi};
  canonical.need = {lo, hi};
  canonical.have.push_back(Have{{lo, hi}, BloomFilter{}});
  CHECK(m.encode() == canonical.encode());
}

TEST_CASE("encoding: count limits above 2^32-1 act as 2^32-1, not as their low 32 bits") {
  // Regression: a size_t limit was once cast to uint32, so 2^32 became 0 and 2^32+1 became 1.
  const std::size_t wrap0 = std::size_t(1) << 32;
  const std::size_t wrap1 = wrap0 + 1;
  ChangeFields f = golden_fields();
  f.deps = {hash_n(1), hash_n(2)};
  Change c = Change::build(f);
  ChangeLimits cl;
  cl.max_deps = wrap0;
  CHECK_NOTHROW(Change::decode(c.bytes(), cl));
  cl.max_deps = wrap1;
  CHECK_NOTHROW(Change::decode(c.bytes(), cl));

  SyncMessage m;
  m.heads = sorted({hash_n(1), hash_n(2)});
  m.need = sorted({hash_n(3), hash_n(4)});
  m.have = {Have{sorted({hash_n(5), hash_n(6)}), BloomFilter{}}, Have{}};
  m.changes = {c, Change::build(golden_fields())};
  Bytes bytes = m.encode();
  for (std::size_t limit : {wrap0, wrap1}) {
    CAPTURE(limit);
    SyncLimits sl;
    sl.max_hashes = limit;
    CHECK_NOTHROW(SyncMessage::decode(bytes, sl));
    sl = {};
    sl.max_haves = limit;
    CHECK_NOTHROW(SyncMessage::decode(bytes, sl));
    sl = {};
    sl.max_changes = limit;
    CHECK_NOTHROW(SyncMessage::decode(bytes, sl));
    CHECK_NOTHROW(ChangeGraph(actor(9)).import_updates(
        [&] {
          ChangeGraph src(actor(1));
          commit_n(src, 2, "x");
          return src.export_updates();
        }(),
        sl));
    SyncState st;
    st.shared_heads = sorted({hash_n(1), hash_n(2)});
    CHECK_NOTHROW(SyncState::decode(st.encode(), limit));
    VersionVector vv;
    vv.set(actor(1), 1);
    vv.set(actor(2), 1);
    CHECK_NOTHROW(VersionVector::decode(vv.encode(), limit));
  }
}

// ---------------------------------------------------------------------------------------------
// Hex

TEST_CASE("encoding: to_hex and from_hex") {
  CHECK(to_hex(Bytes{}) == "");
  CHECK(to_hex(Bytes{0x00, 0x0f, 0xab, 0xff}) == "000fabff");
  CHECK(from_hex("000fabff") == Bytes{0x00, 0x0f, 0xab, 0xff});
  CHECK(from_hex("000FABFF") == Bytes{0x00, 0x0f, 0xab, 0xff});
  CHECK(from_hex("").empty());
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  CHECK(from_hex(to_hex(all)) == all);

  CHECK_THROWS_WITH_AS(from_hex("abc"), doctest::Contains("odd"), DecodeError);
  CHECK_THROWS_WITH_AS(from_hex("zz"), doctest::Contains("invalid digit at position 0"),
                       DecodeError);
  CHECK_THROWS_WITH_AS(from_hex("00g0"), doctest::Contains("invalid digit at position 2"),
                       DecodeError);
  CHECK_THROWS_WITH_AS(from_hex("0 "), doctest::Contains("invalid digit"), DecodeError);

  ChangeHash h = hash_n(1);
  CHECK(ChangeHash::from_hex(h.hex()) == h);
  CHECK(h.hex().size() == 64);
  CHECK(h.short_hex() == h.hex().substr(0, 8));
  CHECK_THROWS_WITH_AS(ChangeHash::from_hex(h.hex().substr(2)), doctest::Contains("32 bytes"),
                       DecodeError);
  CHECK_THROWS_AS(ActorId::from_hex(h.hex()), DecodeError);
  CHECK(ActorId::from_hex(std::string(32, '0') + "") == ActorId{});
  CHECK(ActorId::from_bytes(actor(5).view()) == actor(5));
}

TEST_CASE("encoding: decode_prefix reads changes packed back to back") {
  ChangeFields f = golden_fields();
  Change first = Change::build(f);
  f.seq = 2;
  f.deps = {first.hash()};
  f.payload = text("second");
  Change second = Change::build(f);
  Bytes packed(first.bytes().begin(), first.bytes().end());
  packed.insert(packed.end(), second.bytes().begin(), second.bytes().end());

  std::size_t used = 0;
  Change a = Change::decode_prefix(packed, used);
  CHECK(a.hash() == first.hash());
  CHECK(used == first.bytes().size());
  std::size_t used2 = 0;
  Change b = Change::decode_prefix(ByteView(packed).subspan(used), used2);
  CHECK(b.hash() == second.hash());
  CHECK(used + used2 == packed.size());
  // decode() of the same bytes refuses what follows the first change.
  CHECK_THROWS_WITH_AS(Change::decode(packed), doctest::Contains("trailing bytes"), DecodeError);
  // The size limit applies to the change itself, not to what follows it.
  ChangeLimits tight;
  tight.max_change_bytes = first.bytes().size();
  CHECK_NOTHROW(Change::decode_prefix(packed, used, tight));
  tight.max_change_bytes = first.bytes().size() - 1;
  CHECK_THROWS_WITH_AS(Change::decode_prefix(packed, used, tight),
                       doctest::Contains("exceed limit"), DecodeError);
  // Cut short: a clear error.
  CHECK_THROWS_WITH_AS(Change::decode_prefix(ByteView(packed).first(10), used),
                       doctest::Contains("change: "), DecodeError);
}
