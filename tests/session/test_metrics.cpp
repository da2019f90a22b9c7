// Repo::metrics(): totals over open and ended sessions, sessions by direction, closes by
// reason, connect failures and unavailable answers.
#include "net_helpers.h"

using namespace dagsync;
using namespace dagsync::test;

TEST_CASE("metrics: totals cover open and ended sessions, closes are counted by reason") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Repo server(io, transports, repo_options("server"));
  Repo client(io, transports, repo_options("client"));
  for (int i = 0; i < 4; ++i) client.commit("notes", text("line " + std::to_string(i)));
  std::string url = server.listen("mem://metrics");
  client.connect(url);
  // The client counts its last (complete) message as delivered once sent (docs/protocol.md,
  // section 8.14): wait until the server has applied it too.
  REQUIRE(run_until(io, [&] {
    return client.in_sync_with("server", "notes") && server.in_sync_with("client", "notes");
  }));

  RepoMetrics open = server.metrics();
  CHECK(open.sessions_accepted == 1);
  CHECK(open.sessions_dialled == 0);
  CHECK(open.sessions_open == 1);
  CHECK(open.peers_connected == 1);
  CHECK(open.changes_received == 4);
  CHECK(open.sync_messages_received >= 1);
  CHECK(open.bytes_received > 0);
  CHECK(open.sessions_closed.empty());
  CHECK(client.metrics().sessions_dialled == 1);
  CHECK(client.metrics().changes_sent == 4);

  client.request("missing");
  REQUIRE(run_until(io, [&] { return client.metrics().unavailable == 1; }));
  CHECK(server.metrics().unavailable_sent == 1);

  client.disconnect(url);
  REQUIRE(run_until(io, [&] { return server.metrics().sessions_open == 0; }));
  RepoMetrics ended = server.metrics();
  CHECK(ended.peers_connected == 0);
  CHECK(ended.changes_received == 4);  // kept after the session ended
  CHECK(ended.bytes_received >= open.bytes_received);
  CHECK(ended.sessions_closed.at("remote closed") == 1);

  client.connect("mem://nobody-listens");
  REQUIRE(run_until(io, [&] { return client.metrics().connect_failures >= 1; }));
}
