// The golden change of the codec tests, its pinned bytes and hash, a field-by-field builder
// that starts from those bytes (so a test can replace exactly one field), and the check that
// a change's decode fails naming the field.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "codec_bytes.h"
#include "helpers.h"

namespace dagsync::test {

// The golden change: actor all 0x01, seq 1, no deps, timestamp 0, message "hello", payload
// "world". Its bytes are the concatenation of ChangeParts{} below.
inline ChangeFields golden_fields() {
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

// A change encoding field by field. The defaults join to the golden change.
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
inline Bytes with(Bytes ChangeParts::*field, Bytes value) {
  ChangeParts p;
  p.*field = std::move(value);
  return p.join();
}

// Decoding `bytes` as a change must fail with a DecodeError whose message contains every
// one of `needles` (the field name, and the problem).
inline void check_change_rejected(const Bytes& bytes, std::vector<std::string> needles,
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

}  // namespace dagsync::test
