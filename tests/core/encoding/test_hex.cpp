// The hex helpers: to_hex, from_hex and the id types' hex forms.
#include <string>

#include "codec_bytes.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

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
