// The Change codec: round trips of every field and length form, the canonical encoding that
// every field takes part in the hash of, the pinned golden change and the example of
// docs/protocol.md, and changes read back to back (decode_prefix).
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "golden_change.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

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
