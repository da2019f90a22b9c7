// Hostile peers (allocation-tracking binary): envelopes, sync messages, changes and transport
// frame headers whose counts promise more than the bytes hold. Counts are checked against the
// limit and the bytes left before anything is allocated: the largest single allocation while
// the server parses stays within a frame's worth. The harness: tests/support/hostile_peer.h.
#include <functional>

#include "frames.h"
#include "hostile_peer.h"
#include "largest_allocation.h"
#include "wire.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: counts promising more than the bytes hold") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    SyncLimits sl;
    sl.max_message_bytes = 256u << 10;
    sl.max_hashes = 1024;
    sl.max_changes = 256;
    sl.change.max_change_bytes = 32u << 10;
    TransportOptions to;
    to.max_frame_bytes = 64u << 10;
    Arena arena(
        io, scheme, [&](RepoOptions& o) { o.sync_limits = sl; }, to);
    // Every claim below is 2^32-1 elements or bytes (or more than the frame holds); none may
    // cost the server more than a frame's worth of memory.
    const std::size_t bound = to.max_frame_bytes;

    struct Attack {
      std::string name;
      bool after_hello;
      std::function<Bytes(std::uint64_t seq)> frame;
      std::string expect;  // in the error envelope
    };
    auto sync_frame = [](Bytes payload_head) {
      // [1, sync, seq, "victim", bin(payload)] with the payload given verbatim.
      return [payload_head](std::uint64_t seq) {
        Envelope e;
        e.type = Envelope::Type::kSync;
        e.seq = seq;
        e.doc_id = "victim";
        e.payload = payload_head;
        return e.encode();
      };
    };
    // [1, sync, seq, "victim"], then the message's header written by hand.
    auto sync_head = [](std::uint64_t seq) {
      return pack([&](MsgpackWriter& w) {
        w.array(5);
        w.uint(1);
        w.uint(2);
        w.uint(seq);
        w.str("victim");
      });
    };
    const Bytes kArray32Max = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const Bytes kBin32Max = {0xc6, 0xff, 0xff, 0xff, 0xff};
    std::vector<Attack> attacks = {
        {"envelope: array32 of 2^32-1 fields", false,
         [&](std::uint64_t) {
           return concat(kArray32Max, Bytes{0x01, 0x01, 0x00});
         },
         "malformed frame: envelope: fields: array of 4294967295 exceeds limit 7"},
        {"envelope: capabilities array32 of 2^32-1", false,
         [&](std::uint64_t seq) {
           Bytes head = pack([&](MsgpackWriter& w) {
             w.array(6);
             w.uint(1);
             w.uint(1);
             w.uint(seq);
             w.uint(1);
             w.str("capable");
           });
           return concat(concat(head, kArray32Max), Bytes{0xa1, 'x'});
         },
         "capabilities: array of 4294967295 exceeds limit 32"},
        {"envelope: bin32 message of 4 GiB", true,
         [&](std::uint64_t seq) {
           return concat(concat(sync_head(seq), kBin32Max), Bytes{0x95, 0x01});
         },
         "malformed frame: envelope: message: binary of 4294967295 bytes exceeds limit 262144"},
        {"envelope: bin32 message of 192 KiB in a few bytes", true,
         [&](std::uint64_t seq) {
           return concat(concat(sync_head(seq), Bytes{0xc6, 0x00, 0x03, 0x00, 0x00}),
                         Bytes{0x95, 0x01});
         },
         "message: truncated: needs 196608 bytes, 2 left"},
        {"sync message: heads bin32 of 4 GiB", true,
         sync_frame(concat(concat(Bytes{0x98, 0x03}, kBin32Max), Bytes{0x90, 0x90, 0x90})),
         "bad sync message: sync message: heads: binary of 4294967295 bytes exceeds limit 32768"},
        {"sync message: heads bin16 of 32000 bytes in 5", true,
         sync_frame(Bytes{0x98, 0x03, 0xc5, 0x7d, 0x00, 0x90, 0x90, 0x90, 0x90, 0x90}),
         "bad sync message: sync message: heads: truncated: needs 32000 bytes, 5 left"},
        {"sync message: changes bin32 of 4 GiB", true,
         sync_frame(concat(Bytes{0x98, 0x03, 0xc4, 0x00, 0xc4, 0x00, 0x90}, kBin32Max)),
         "bad sync message: sync message: changes: binary of 4294967295 bytes exceeds limit"},
        {"sync message: changes bin8 of 200 bytes in 1", true,
         sync_frame(Bytes{0x98, 0x03, 0xc4, 0x00, 0xc4, 0x00, 0x90, 0xc4, 0xc8, 0xc4}),
         "bad sync message: sync message: changes: truncated: needs 200 bytes, 1 left"},
        {"sync message: a change whose payload claims 4 GiB", true, sync_frame([&] {
           Bytes change = pack([&](MsgpackWriter& w) {
             w.array(7);
             w.uint(1);
             w.id(actor(0xd1));
             w.uint(1);
             w.array(0);
             w.nil();
             w.nil();
           });
           change = concat(change, kBin32Max);
           return pack([&](MsgpackWriter& w) {
             w.array(8);
             w.uint(3);
             w.bin({});
             w.bin({});
             w.array(0);
             w.bin(change);
             w.nil();
             w.uint(0);
             w.uint(0);
           });
         }()),
         "change 0: change: payload: binary of 4294967295 bytes exceeds limit 32768"},
        {"sync message: a change's deps array32 of 2^32-1", true, sync_frame([&] {
           // A change whose content claims 2^32-1 deps.
           Bytes change = pack([&](MsgpackWriter& w) {
             w.array(7);
             w.uint(1);
             w.id(actor(0xd1));
             w.uint(1);
           });
           change = concat(concat(change, kArray32Max), Bytes{0xc0, 0xc0, 0xc4, 0x00});
           return pack([&](MsgpackWriter& w) {
             w.array(8);
             w.uint(3);
             w.bin({});
             w.bin({});
             w.array(0);
             w.bin(change);
             w.nil();
             w.uint(0);
             w.uint(0);
           });
         }()),
         "change 0: change: deps: array of 4294967295 exceeds limit 1024"},
    };

    for (const auto& attack : attacks) {
      CAPTURE(attack.name);
      auto raw = arena.attacker(attack.after_hello ? "counter" : "");
      std::size_t largest = 0;
      {
        LargestAllocation track;
        raw->send_raw(attack.frame(raw->next_seq()));
        REQUIRE(run_until(
            io, [&] { return raw->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), attack.expect));
      CHECK(contains(arena.log.text(), attack.expect));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
      CHECK(largest <= bound);
      CHECK(arena.server->find("victim") == nullptr);
    }

    // Below the envelope: a transport frame header announcing 4 GiB.
    {
      auto raw = arena.raw_socket();
      auto spy = arena.spies.back();
      std::size_t largest = 0;
      {
        LargestAllocation track;
        // The header alone; for ws: FIN + binary, masked, 64-bit length 2^32-1, the mask key.
        raw->write(scheme == "tcp" ? tcp_frame_header(0xffffffff)
                                   : ws_frame({}, kWsBinary, {.announced_size = 0xffffffff}));
        REQUIRE(run_until(
            io, [&] { return spy->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      CHECK(spy->closed->code == CloseReason::Code::kFrameTooLarge);
      CHECK(contains(spy->closed->message, scheme == "tcp" ? "4294967295" : "65536"));
      CHECK(largest <= bound);
      REQUIRE(run_until(
          io, [&] { return raw->ended(); }, 10s));
      REQUIRE(run_until(
          io, [&] { return arena.server->peers().size() == 1; }, 10s));
    }

    // A header announcing a frame at the limit, then nothing: what the server sets aside
    // for the announced frame is bounded by max_frame_bytes (4 bytes can pin that much).
    {
      auto raw = arena.raw_socket();
      auto spy = arena.spies.back();
      std::size_t largest = 0;
      {
        LargestAllocation track;
        // The header alone: 65536 bytes follow (tcp), 65535 (ws, a 16-bit length).
        raw->write(scheme == "tcp" ? tcp_frame_header(65536)
                                   : ws_frame({}, kWsBinary, {.announced_size = 65535}));
        raw->shutdown_send();  // then the end
        REQUIRE(run_until(
            io, [&] { return spy->closed.has_value(); }, 10s));
        largest = track.bytes();
      }
      CHECK(spy->closed->code == CloseReason::Code::kNetwork);
      if (scheme == "tcp")
        CHECK(spy->closed->message == "connection lost mid-frame: body 0 of 65536 bytes");
      CHECK(largest <= bound);
      MESSAGE("frame at the limit, never sent: largest allocation " << largest << " bytes");
      REQUIRE(run_until(
          io, [&] { return arena.server->peers().size() == 1; }, 10s));
    }

    CHECK(arena.server->documents() == std::vector<std::string>{"doc"});
    arena.good_keeps_syncing("counts");
  }
}
