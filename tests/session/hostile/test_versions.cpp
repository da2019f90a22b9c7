// Hostile peers: unknown protocol versions in a hello, unknown envelope versions and unknown
// envelope types close the session with an error naming the value. The harness:
// tests/support/hostile_peer.h.
#include <functional>

#include "hostile_peer.h"
#include "wire.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: unknown protocol version, envelope version and envelope type") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Arena arena(io, scheme);

    struct Attack {
      std::string name;
      bool after_hello;
      std::function<Bytes(std::uint64_t seq)> frame;
      std::string expect;
    };
    std::vector<Attack> attacks = {
        {"hello with protocol version 2", false,
         [](std::uint64_t seq) { return hello_bytes("future", seq, 2); },
         "unsupported protocol version 2 (this peer speaks 1)"},
        {"hello with protocol version 2^64-1", false,
         [](std::uint64_t seq) { return hello_bytes("far-future", seq, ~std::uint64_t{0}); },
         "unsupported protocol version 18446744073709551615 (this peer speaks 1)"},
        {"envelope version 2", false,
         [](std::uint64_t seq) {
           Bytes b = hello_bytes("v2", seq);
           b[1] = 0x02;  // [version, ...]: the first element
           return b;
         },
         "malformed frame: envelope: version: unsupported envelope version 2 (at byte 2)"},
        {"envelope version 0", true,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(3);
             w.uint(0);
             w.uint(6);
             w.uint(seq);
           });
         },
         "malformed frame: envelope: version: unsupported envelope version 0"},
        {"envelope type 8 after hello", true,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(3);
             w.uint(1);
             w.uint(8);
             w.uint(seq);
           });
         },
         "malformed frame: envelope: type: unknown envelope type 8"},
        {"envelope type 0 before hello", false,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(4);
             w.uint(1);
             w.uint(0);
             w.uint(seq);
             w.str("doc");
           });
         },
         "malformed frame: envelope: type: unknown envelope type 0"},
        {"envelope type 2^64-1 after hello", true,
         [](std::uint64_t seq) {
           return pack([&](MsgpackWriter& w) {
             w.array(3);
             w.uint(1);
             w.uint(~std::uint64_t{0});
             w.uint(seq);
           });
         },
         "unknown envelope type 18446744073709551615"},
    };
    for (const auto& attack : attacks) {
      CAPTURE(attack.name);
      auto raw = arena.attacker(attack.after_hello ? "stranger" : "");
      raw->send_raw(attack.frame(raw->next_seq()));
      arena.wait_closed(*raw);
      REQUIRE(run_until(
          io, [&] { return raw->closed.has_value(); }, 10s));
      CHECK(contains(raw->error_text(), attack.expect));
      CHECK(contains(arena.log.text(), attack.expect));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
      CHECK(raw->closed->code == CloseReason::Code::kRemoteClosed);
      CHECK(raw->spy->max_queued < 4096);
    }
    CHECK(arena.server->documents() == std::vector<std::string>{"doc"});
    arena.good_keeps_syncing("versions");
  }
}
