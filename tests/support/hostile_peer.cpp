#include "hostile_peer.h"

#include <algorithm>
#include <chrono>

using namespace std::chrono_literals;

namespace dagsync::test {

Bytes concat(Bytes a, ByteView b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Change make_change(std::uint8_t actor_n, std::uint64_t seq, std::vector<ChangeHash> deps,
                   const std::string& payload) {
  ChangeFields f;
  f.actor = actor(actor_n);
  f.seq = seq;
  f.deps = std::move(deps);
  f.payload = text(payload);
  return Change::build(std::move(f));
}

ChangeHash nonexistent(const std::string& label) {
  return sha256(as_bytes("no change hashes to this: " + label));
}

void Spy::start(FrameHandler on_frame, CloseHandler on_close) {
  inner->start(std::move(on_frame), [this, on_close](const CloseReason& r) {
    closed = r;
    on_close(r);
  });
}

bool Spy::send(Bytes frame) {
  bool ok = inner->send(std::move(frame));
  note();
  return ok;
}

Arena::Arena(asio::io_context& context, std::string s,
             const std::function<void(RepoOptions&)>& tweak_server,
             TransportOptions server_transport_options,
             const std::function<void(RepoOptions&)>& tweak_good)
    : io(context),
      scheme(std::move(s)),
      client_transports(context, {}, quiet_logger()),
      server_transports(context, server_transport_options, transport_log.logger) {
  RepoOptions so = repo_options("server");
  so.logger = log.logger;
  if (tweak_server) tweak_server(so);
  server = std::make_unique<Repo>(io, server_transports, so);
  server_sub = server->on_peer_event([this](const PeerEvent& e) { server_events.push_back(e); });
  listener = server_transports.listen(listen_url(scheme, ""));
  url = listener->url();
  listener->start([this](std::shared_ptr<Connection> c) {
    auto spy = std::make_shared<Spy>(std::move(c));
    spies.push_back(spy);
    server->accept(spy);
  });

  RepoOptions go = repo_options("good");
  if (tweak_good) tweak_good(go);
  good = std::make_unique<Repo>(io, client_transports, go);
  good_sub = good->on_peer_event([this](const PeerEvent& e) { good_events.push_back(e); });
  for (int i = 0; i < 3; ++i) good->commit("doc", text("good " + std::to_string(i)));
  good->connect(url, "server");
  REQUIRE(run_until(
      io, [&] { return converged("doc") && spies.size() == 1; }, 10s));
}

ChangeGraph& Arena::doc(const std::string& id) {
  ChangeGraph* g = server->find(id);
  REQUIRE(g != nullptr);
  return *g;
}

bool Arena::converged(const std::string& id) {
  ChangeGraph* s = server->find(id);
  ChangeGraph* g = good->find(id);
  return s && g && s->heads() == g->heads() && s->size() == g->size() && g->pending_count() == 0;
}

std::unique_ptr<Attacker> Arena::attacker(const std::string& hello_as) {
  std::size_t before = spies.size();
  auto raw = std::make_unique<Attacker>(client_transports, io, url);
  REQUIRE(run_until(
      io, [&] { return spies.size() > before; }, 10s));
  raw->spy = spies.back();
  if (!hello_as.empty()) {
    raw->hello(hello_as);
    REQUIRE(run_until(
        io, [&] { return connected(hello_as); }, 10s));
  }
  return raw;
}

std::unique_ptr<RawSocket> Arena::raw_socket(bool upgrade) {
  std::size_t before = spies.size();
  auto raw = std::make_unique<RawSocket>(io, url);
  if (scheme == "ws") {
    if (!upgrade) return raw;
    CHECK(contains(raw->upgrade(url), "101"));
  }
  REQUIRE(run_until(
      io, [&] { return spies.size() > before; }, 10s));
  return raw;
}

bool Arena::connected(const std::string& peer) const {
  for (const auto& p : server->peers()) {
    if (p.peer_id == peer && p.connected) return true;
  }
  return false;
}

void Arena::wait_closed(const Spy& spy) {
  REQUIRE(run_until(
      io, [&] { return spy.closed.has_value(); }, 10s));
  REQUIRE(run_until(
      io, [&] { return server->peers().size() == 1; }, 10s));
  CHECK(server->peers()[0].peer_id == "good");
}

void Arena::wait_closed(const Attacker& raw) {
  wait_closed(*raw.spy);
  REQUIRE(run_until(
      io, [&] { return raw.closed.has_value(); }, 10s));
}

void Arena::good_keeps_syncing(const std::string& label) {
  Change c = good->commit("doc", text("good after " + label));
  Change s = server->commit("doc", text("server after " + label));
  REQUIRE(run_until(
      io,
      [&] {
        return server->find("doc")->has(c.hash()) && good->find("doc")->has(s.hash()) &&
               converged("doc");
      },
      10s));
  CHECK(std::none_of(good_events.begin(), good_events.end(), [&](const PeerEvent& e) {
    return e.address == url &&
           (e.kind == PeerEvent::Kind::kDisconnected || e.kind == PeerEvent::Kind::kConnectFailed);
  }));
  CHECK(spies.front()->is_open());
}

}  // namespace dagsync::test
