// Hostile peers: a listener that answers with another peer id than the one expected is refused
// (and retried only within the backoff), and the client tells it nothing. The harness:
// tests/support/hostile_peer.h.
#include <algorithm>

#include "hostile_peer.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: a hello from an unexpected peer is refused (tcp and ws)") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    CapturedLog good_log;
    Arena arena(io, scheme, {}, {}, [&](RepoOptions& o) { o.logger = good_log.logger; });
    // The impostor holds a document of its own and would gladly take the client's.
    CapturedLog impostor_log;
    RepoOptions io_options = repo_options("impostor");
    io_options.logger = impostor_log.logger;
    Repo impostor(io, arena.server_transports, io_options);
    impostor.commit("bait", text("impostor's"));
    std::string impostor_url = impostor.listen(listen_url(scheme, ""));
    std::size_t failures_before = arena.good_events.size();
    arena.good->connect(impostor_url, "server");  // expects the real server there too
    REQUIRE(run_until(io, [&] {
      return std::count_if(arena.good_events.begin() + static_cast<std::ptrdiff_t>(failures_before),
                           arena.good_events.end(), [&](const PeerEvent& e) {
                             return e.kind == PeerEvent::Kind::kConnectFailed &&
                                    e.address == impostor_url;
                           }) >= 2;  // refused, then refused again on the retry
    }));
    CHECK(contains(good_log.text(), "expected peer server, got a hello from impostor"));
    CHECK(contains(impostor_log.text(),
                   "reported an error: expected peer server, got a hello from impostor"));
    // The client told nothing to the impostor and took nothing from it.
    CHECK(impostor.find("doc") == nullptr);
    CHECK(arena.good->find("bait") == nullptr);
    for (const auto& p : arena.good->peers()) {
      if (p.connected) CHECK(p.peer_id == "server");
    }
    // Retries are bounded by the backoff: stop them, and the session with the real server
    // is untouched.
    arena.good->disconnect(impostor_url);
    REQUIRE(run_until(io, [&] { return arena.good->peers().size() == 1; }));
    CHECK(arena.good->peers()[0].peer_id == "server");
    arena.good_keeps_syncing("impostor");
  }
}
