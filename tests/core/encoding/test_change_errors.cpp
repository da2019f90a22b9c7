// The Change codec's decode errors: truncation, trailing bytes, wrongly typed fields, seq 0,
// unsorted deps, bad actor lengths, unknown versions, non-canonical forms, invalid UTF-8, the
// ChangeLimits, and decode_verified's hash check. Each error names the field.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "golden_change.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

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
