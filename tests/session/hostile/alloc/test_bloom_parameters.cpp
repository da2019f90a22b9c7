// Hostile peers (allocation-tracking binary): Bloom filters with absurd parameters are refused
// with the parameter named, without allocating for what they claim. The harness:
// tests/support/hostile_peer.h.
#include "hostile_peer.h"
#include "largest_allocation.h"
#include "wire.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: Bloom filters with absurd parameters") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    SyncLimits sl;
    sl.max_bloom_entries = 1000;
    sl.max_bloom_bits_per_entry = 16;
    sl.max_bloom_probes = 8;
    TransportOptions to;
    to.max_frame_bytes = 64u << 10;
    Arena arena(
        io, scheme, [&](RepoOptions& o) { o.sync_limits = sl; }, to);
    const std::size_t bound = to.max_frame_bytes;

    auto with_bloom = message_with_bloom_field;
    auto bin = [](std::size_t n) { return pack([&](MsgpackWriter& w) { w.bin(Bytes(n, 0xff)); }); };
    struct Attack {
      std::string name;
      Bytes message;
      std::string expect;
    };
    std::vector<Attack> attacks = {
        {"zero bits per entry", with_bloom(8, 0, 7, bin(1)), "bits per entry 0 outside 1..16"},
        {"a billion probes", with_bloom(8, 10, 1'000'000'000, bin(10)),
         "probe count 1000000000 outside 1..8"},
        {"entries not matching the bit array", with_bloom(100, 10, 7, bin(3)),
         "3 bytes of bits, parameters imply 125"},
        {"no entries but bits", with_bloom(0, 10, 7, bin(5)), "no entries but 5 bytes of bits"},
        {"2^32-1 entries", with_bloom(0xffffffff, 10, 7, bin(4)),
         "4294967295 entries exceed limit 1000"},
        {"entries beyond 32 bits", with_bloom(1ull << 40, 10, 7, bin(4)),
         "bloom.entries: integer out of range"},
        {"bit array bin32 of 4 GiB", with_bloom(1000, 16, 8, Bytes{0xc6, 0xff, 0xff, 0xff, 0xff}),
         "bloom.bits: binary of 4294967295 bytes exceeds limit 2000"},
    };
    for (const auto& attack : attacks) {
      CAPTURE(attack.name);
      auto raw = arena.attacker("bloomer");
      std::size_t largest = 0;
      {
        LargestAllocation track;
        raw->sync("victim", attack.message);
        REQUIRE(run_until(
            io, [&] { return raw->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document victim: bad sync message: sync message: "));
      CHECK(contains(error, attack.expect));
      CHECK(contains(arena.log.text(), attack.expect));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
      CHECK(largest <= bound);
      CHECK(arena.server->find("victim") == nullptr);
    }
    arena.good_keeps_syncing("bloom");
  }
}
