// The strict msgpack reader under every codec: shortest forms only for integers and lengths,
// errors that name the decoder, the field and the position, sorted id lists.
#include <cstdint>
#include <limits>
#include <vector>

#include "codec_bytes.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

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
