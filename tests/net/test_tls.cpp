// TLS (tls:// and wss://) over real loopback sockets with certificates made at run time
// (support/test_pki.h): round trips, mutual TLS and credentials(), and each way a handshake
// can go wrong (no client certificate, plaintext on either side, an untrusted CA, an expired
// certificate, the wrong host), each failing at once with a clear reason on both sides.
// Also interop with `openssl s_client`, run as its own meson test (transport-tls-openssl).
//
// Every test drives its io_context until a condition holds (run_until); none sleeps.
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <cstdlib>
#include <optional>

#include "child_process.h"
#include "frames.h"
#include "net_helpers.h"
#include "raw_socket.h"
#include "test_pki.h"

using namespace dagsync;
using namespace dagsync::test;
using Code = CloseReason::Code;

namespace {

TransportOptions server_options(const CertAndKey& identity, const std::string& client_ca = "") {
  TransportOptions o;
  o.tls.cert_chain_file = identity.cert;
  o.tls.private_key_file = identity.key;
  o.tls.client_ca_file = client_ca;
  return o;
}

TransportOptions client_options(const std::string& ca, const CertAndKey* identity = nullptr) {
  TransportOptions o;
  o.tls.ca_file = ca;
  if (identity) {
    o.tls.cert_chain_file = identity->cert;
    o.tls.private_key_file = identity->key;
  }
  return o;
}

// A server recording its connections, and one client dial's outcome.
struct Attempt {
  std::unique_ptr<Listener> listener;
  std::vector<std::shared_ptr<Connection>> accepted;
  std::vector<CloseReason> server_closes;
  std::shared_ptr<Connection> client;
  std::optional<ConnectError> error;
  std::optional<CloseReason> client_closed;
  bool done() const { return client != nullptr || error.has_value(); }
};

void serve(Attempt& a, Transports& server_side, const std::string& url) {
  a.listener = server_side.listen(url);
  a.listener->start([&a](std::shared_ptr<Connection> c) {
    a.accepted.push_back(c);
    c->start([](Bytes) {}, [&a](const CloseReason& r) { a.server_closes.push_back(r); });
  });
}

void dial(Attempt& a, Transports& client_side, const std::string& url) {
  client_side.connect(url, [&a](std::shared_ptr<Connection> c, ConnectError error) {
    if (!c) {
      a.error = std::move(error);
      return;
    }
    a.client = c;
    c->start([](Bytes) {}, [&a](const CloseReason& r) { a.client_closed = r; });
  });
}

std::string with_scheme(const std::string& url, const std::string& scheme) {
  return scheme + url.substr(url.find("://"));
}

// The listener's URL with its host replaced (the certificate check is about the name dialled).
std::string with_host(const std::string& url, const std::string& host) {
  auto start = url.find("://") + 3;
  auto colon = url.rfind(':');
  return url.substr(0, start) + host + url.substr(colon);
}

}  // namespace

TEST_CASE("tls: frames arrive whole and in order over tls://, with credentials") {
  const auto& pki = TestPki::get();
  for (std::string host : {"127.0.0.1", "localhost", "[::1]"}) {
    CAPTURE(host);
    asio::io_context io;
    Transports server_side(io, server_options(pki.server), quiet_logger());
    Transports client_side(io, client_options(pki.ca), quiet_logger());
    Endpoints e;
    auto listener = pair_up(server_side, client_side, io, "tls://" + host + ":0", e);
    CHECK(listener->url().rfind("tls://", 0) == 0);
    CHECK(e.server->description().rfind("tls ", 0) == 0);
    exchange_frames(e, io, {0, 1, 100, 70'000, 1u << 20});
    CHECK(e.server->credentials().tls);
    CHECK(e.server->credentials().client_cert_subject.empty());  // none asked for
    CHECK(e.client->credentials().tls);
    e.client->close({Code::kNormal, "done"});
    REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
    CHECK(e.server_closed->code == Code::kRemoteClosed);
  }
}

TEST_CASE("tls: mutual TLS puts the client certificate's subject and SHA-256 in credentials()") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  Transports server_side(io, server_options(pki.server, pki.ca), quiet_logger());
  Transports client_side(io, client_options(pki.ca, &pki.client), quiet_logger());
  Endpoints e;
  auto listener = pair_up(server_side, client_side, io, "tls://127.0.0.1:0", e);
  PeerCredentials c = e.server->credentials();
  CHECK(c.tls);
  CHECK(c.client_cert_subject == TestPki::kClientSubject);
  CHECK(c.client_cert_sha256 == cert_sha256(pki.client.cert));
  CHECK(c.client_cert_sha256.size() == 64);
  CHECK(c.bearer_token.empty());
  exchange_frames(e, io, {10, 100'000});
}

TEST_CASE("tls: a listener requiring client certificates refuses a client without one") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  CapturedLog log;
  Transports server_side(io, server_options(pki.server, pki.ca), log.logger);
  Transports client_side(io, client_options(pki.ca), quiet_logger());
  Attempt a;
  serve(a, server_side, "tls://127.0.0.1:0");
  dial(a, client_side, a.listener->url());
  // Under TLS 1.3 the client's handshake ends before the server has checked it, so the
  // refusal reaches the client as a connect error or as the connection's close.
  REQUIRE(run_until(io, [&] { return a.error.has_value() || a.client_closed.has_value(); }));
  std::string why = a.error ? a.error->message : a.client_closed->message;
  CHECK_MESSAGE(contains(why, "certificate"), why);
  if (a.error) CHECK(a.error->permanent);
  REQUIRE(run_until(io, [&] { return contains(log.text(), "no certificate"); }));
  CHECK(contains(log.text(), "[warning]"));
  CHECK(contains(log.text(), "TLS handshake with 127.0.0.1:"));
  CHECK(a.accepted.empty());
}

TEST_CASE("tls: a plaintext tcp:// client on a tls:// port fails at once on both sides") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  CapturedLog log;
  Transports server_side(io, server_options(pki.server), log.logger);
  Transports client_side(io, {}, quiet_logger());
  Attempt a;
  serve(a, server_side, "tls://127.0.0.1:0");
  dial(a, client_side, with_scheme(a.listener->url(), "tcp"));
  REQUIRE(run_until(io, [&] { return a.done(); }));
  REQUIRE(a.client);  // TCP connects; the first frame is what the TLS server refuses
  a.client->send(frame_of(20, 1));
  REQUIRE(run_until(io, [&] { return a.client_closed.has_value(); }));
  // The server answers with a TLS alert record, which our client names.
  CHECK(a.client_closed->code == Code::kBadFrame);
  CHECK_MESSAGE(contains(a.client_closed->message, "use tls://"), a.client_closed->message);
  REQUIRE(run_until(io, [&] { return contains(log.text(), "does not speak TLS"); }));
  CHECK(contains(log.text(), "TLS handshake with 127.0.0.1:"));
  CHECK(a.accepted.empty());
}

TEST_CASE("tls: a tls:// client on a plain tcp:// port fails at once on both sides") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  CapturedLog log;
  Transports server_side(io, {}, log.logger);
  Transports client_side(io, client_options(pki.ca), quiet_logger());
  Attempt a;
  serve(a, server_side, "tcp://127.0.0.1:0");
  dial(a, client_side, with_scheme(a.listener->url(), "tls"));
  REQUIRE(run_until(io, [&] { return a.done(); }));
  REQUIRE(a.error.has_value());
  CHECK_MESSAGE(contains(a.error->message, "does not speak TLS"), a.error->message);
  CHECK(a.error->permanent);
  REQUIRE(run_until(io, [&] { return a.server_closes.size() == 1; }));
  CHECK(a.server_closes[0].code == Code::kBadFrame);
  CHECK(contains(a.server_closes[0].message, "use tls://"));
  CHECK(contains(log.text(), "[warning]"));
  CHECK(contains(log.text(), "tcp 127.0.0.1:"));
}

TEST_CASE("tls: certificates that do not verify fail the dial permanently, naming why") {
  const auto& pki = TestPki::get();
  struct Case {
    std::string name;
    CertAndKey identity;
    std::string host;
    std::string client_says;
  };
  for (const Case& c : {Case{"untrusted CA", pki.untrusted, "127.0.0.1", "local issuer"},
                        Case{"expired", pki.expired, "127.0.0.1", "expired"},
                        Case{"wrong host", pki.other_host, "127.0.0.1", "not valid for"},
                        Case{"wrong host by name", pki.other_host, "localhost", "not valid for"}}) {
    CAPTURE(c.name);
    asio::io_context io;
    CapturedLog log;
    Transports server_side(io, server_options(c.identity), log.logger);
    Transports client_side(io, client_options(pki.ca), quiet_logger());
    Attempt a;
    serve(a, server_side, "tls://127.0.0.1:0");
    dial(a, client_side, with_host(a.listener->url(), c.host));
    REQUIRE(run_until(io, [&] { return a.done(); }));
    REQUIRE(a.error.has_value());
    CHECK_MESSAGE(contains(a.error->message, c.client_says), a.error->message);
    CHECK(contains(a.error->message, "certificate"));
    CHECK(a.error->permanent);
    REQUIRE(run_until(io, [&] { return contains(log.text(), "TLS handshake with"); }));
    CHECK(contains(log.text(), "[warning]"));
    CHECK(a.accepted.empty());
  }
}

TEST_CASE("tls: server_name picks the name the certificate must carry") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  Transports server_side(io, server_options(pki.other_host), quiet_logger());
  TransportOptions o = client_options(pki.ca);
  o.tls.server_name = "other.example";
  Transports client_side(io, o, quiet_logger());
  Endpoints e;
  auto listener = pair_up(server_side, client_side, io, "tls://127.0.0.1:0", e);
  exchange_frames(e, io, {5});
}

TEST_CASE("tls: listening without a readable certificate or key throws, naming the file") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  TransportOptions o = server_options({pki.dir + "/missing.crt", pki.server.key});
  Transports missing_cert(io, o, quiet_logger());
  CHECK_THROWS_WITH_AS(missing_cert.listen("tls://127.0.0.1:0"), doctest::Contains("missing.crt"),
                       Error);
  o = server_options({pki.server.cert, pki.dir + "/missing.key"});
  Transports missing_key(io, o, quiet_logger());
  CHECK_THROWS_WITH_AS(missing_key.listen("tls://127.0.0.1:0"), doctest::Contains("missing.key"),
                       Error);
  o = server_options({pki.server.cert, pki.client.key});
  Transports mismatched(io, o, quiet_logger());
  CHECK_THROWS_WITH_AS(mismatched.listen("tls://127.0.0.1:0"), doctest::Contains("client.key"),
                       Error);
  Transports none(io, {}, quiet_logger());
  CHECK_THROWS_WITH_AS(none.listen("tls://127.0.0.1:0"), doctest::Contains("cert_chain_file"),
                       Error);
}

// ---- wss:// ------------------------------------------------------------------------------

TEST_CASE("wss: frames round trip; mutual TLS and the query token show in credentials()") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  Transports server_side(io, server_options(pki.server, pki.ca), quiet_logger());
  Transports client_side(io, client_options(pki.ca, &pki.client), quiet_logger());
  auto listener = server_side.listen("wss://127.0.0.1:0/sync");
  CHECK(listener->url().rfind("wss://127.0.0.1:", 0) == 0);
  Endpoints e;
  listener->start([&](std::shared_ptr<Connection> c) {
    e.server = c;
    c->start([&](Bytes f) { e.server_got.push_back(std::move(f)); },
             [&](const CloseReason& r) { e.server_closed = r; });
  });
  std::optional<ConnectError> error;
  client_side.connect(listener->url() + "?room=1&token=s3cr%20t%2B%26x",
                      [&](std::shared_ptr<Connection> c, ConnectError err) {
                        error = err;
                        e.client = c;
                        if (c) {
                          c->start([&](Bytes f) { e.client_got.push_back(std::move(f)); },
                                   [&](const CloseReason& r) { e.client_closed = r; });
                        }
                      });
  REQUIRE(run_until(io, [&] { return (e.client && e.server) || (error && !error->empty()); }));
  REQUIRE_MESSAGE(e.client, error->message);
  exchange_frames(e, io, {0, 1, 70'000, 1u << 20});
  PeerCredentials c = e.server->credentials();
  CHECK(c.tls);
  CHECK(c.query_token == "s3cr t+&x");
  CHECK(c.bearer_token.empty());
  CHECK(c.client_cert_subject == TestPki::kClientSubject);
  CHECK(c.client_cert_sha256 == cert_sha256(pki.client.cert));
  CHECK(e.client->credentials().tls);
  CHECK(e.server->description().rfind("wss ", 0) == 0);
  e.client->close({Code::kNormal, "done"});
  REQUIRE(run_until(io, [&] { return e.server_closed.has_value(); }));
  CHECK(e.server_closed->code == Code::kRemoteClosed);
}

TEST_CASE("ws: a bearer header and a query token on the upgrade show in credentials()") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  auto listener = transports.listen("ws://127.0.0.1:0/sync");
  std::vector<std::shared_ptr<Connection>> accepted;
  listener->start([&](std::shared_ptr<Connection> c) {
    accepted.push_back(c);
    c->start([](Bytes) {}, [](const CloseReason&) {});
  });
  RawSocket raw(io, listener->url());
  std::string status =
      raw.upgrade(listener->url() + "?token=q%41", "Authorization: bearer  abc.DEF-123 \r\n");
  REQUIRE_MESSAGE(status.rfind("HTTP/1.1 101", 0) == 0, status);
  REQUIRE(run_until(io, [&] { return accepted.size() == 1; }));
  PeerCredentials c = accepted[0]->credentials();
  CHECK_FALSE(c.tls);
  CHECK(c.bearer_token == "abc.DEF-123");
  CHECK(c.query_token == "qA");
  CHECK(c.client_cert_subject.empty());

  RawSocket basic(io, listener->url());
  status = basic.upgrade(listener->url(), "Authorization: Basic dXNlcjpwdw==\r\n");
  REQUIRE(run_until(io, [&] { return accepted.size() == 2; }));
  CHECK(accepted[1]->credentials().bearer_token.empty());
  CHECK(accepted[1]->credentials().query_token.empty());
}

TEST_CASE("wss: handshake failures are clear on both sides, and permanent for the client") {
  const auto& pki = TestPki::get();
  asio::io_context io;
  CapturedLog log;

  SUBCASE("untrusted CA") {
    Transports server_side(io, server_options(pki.untrusted), log.logger);
    Transports client_side(io, client_options(pki.ca), quiet_logger());
    Attempt a;
    serve(a, server_side, "wss://127.0.0.1:0/sync");
    dial(a, client_side, a.listener->url());
    REQUIRE(run_until(io, [&] { return a.done(); }));
    REQUIRE(a.error.has_value());
    CHECK_MESSAGE(contains(a.error->message, "does not verify"), a.error->message);
    CHECK(a.error->permanent);
    REQUIRE(run_until(io, [&] { return contains(log.text(), "TLS handshake with 127.0.0.1:"); }));
    CHECK(contains(log.text(), "[warning]"));
  }
  SUBCASE("wrong host") {
    Transports server_side(io, server_options(pki.other_host), log.logger);
    Transports client_side(io, client_options(pki.ca), quiet_logger());
    Attempt a;
    serve(a, server_side, "wss://127.0.0.1:0/sync");
    dial(a, client_side, a.listener->url());
    REQUIRE(run_until(io, [&] { return a.done(); }));
    REQUIRE(a.error.has_value());
    CHECK_MESSAGE(contains(a.error->message, "not valid for"), a.error->message);
    CHECK(a.error->permanent);
  }
  SUBCASE("expired") {
    Transports server_side(io, server_options(pki.expired), log.logger);
    Transports client_side(io, client_options(pki.ca), quiet_logger());
    Attempt a;
    serve(a, server_side, "wss://127.0.0.1:0/sync");
    dial(a, client_side, a.listener->url());
    REQUIRE(run_until(io, [&] { return a.done(); }));
    REQUIRE(a.error.has_value());
    CHECK_MESSAGE(contains(a.error->message, "expired"), a.error->message);
    CHECK(a.error->permanent);
  }
  SUBCASE("a plain ws:// client on a wss:// port") {
    Transports server_side(io, server_options(pki.server), log.logger);
    Transports client_side(io, {}, quiet_logger());
    Attempt a;
    serve(a, server_side, "wss://127.0.0.1:0/sync");
    dial(a, client_side, with_scheme(a.listener->url(), "ws"));
    REQUIRE(run_until(io, [&] { return a.done(); }));
    REQUIRE(a.error.has_value());
    CHECK_MESSAGE(contains(a.error->message, "HTTP 400"), a.error->message);
    CHECK(a.error->permanent);
    REQUIRE(run_until(io, [&] { return contains(log.text(), "plain HTTP request"); }));
    CHECK(contains(log.text(), "TLS handshake with 127.0.0.1:"));
  }
  SUBCASE("a wss:// client on a plain ws:// port") {
    Transports server_side(io, {}, log.logger);
    Transports client_side(io, client_options(pki.ca), quiet_logger());
    Attempt a;
    serve(a, server_side, "ws://127.0.0.1:0/sync");
    dial(a, client_side, with_scheme(a.listener->url(), "wss"));
    REQUIRE(run_until(io, [&] { return a.done(); }));
    REQUIRE(a.error.has_value());
    CHECK_MESSAGE(contains(a.error->message, "does not speak TLS"), a.error->message);
    CHECK(a.error->permanent);
  }
  SUBCASE("no client certificate for a listener that requires one") {
    Transports server_side(io, server_options(pki.server, pki.ca), log.logger);
    Transports client_side(io, client_options(pki.ca), quiet_logger());
    Attempt a;
    serve(a, server_side, "wss://127.0.0.1:0/sync");
    dial(a, client_side, a.listener->url());
    REQUIRE(run_until(io, [&] { return a.done(); }));
    REQUIRE(a.error.has_value());
    CHECK_MESSAGE(contains(a.error->message, "certificate"), a.error->message);
    REQUIRE(run_until(io, [&] { return contains(log.text(), "no certificate"); }));
    CHECK(a.accepted.empty());
  }
}

TEST_CASE("ws: an upgrade refused with HTTP 4xx is a permanent connect error") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  Attempt a;
  serve(a, transports, "ws://127.0.0.1:0/sync");
  dial(a, transports, a.listener->url().substr(0, a.listener->url().rfind('/')) + "/other");
  REQUIRE(run_until(io, [&] { return a.done(); }));
  REQUIRE(a.error.has_value());
  CHECK(contains(a.error->message, "HTTP 404"));
  CHECK(a.error->permanent);
}

// ---- interop with `openssl s_client` -----------------------------------------------------
// Skipped in the transports suite; the transport-tls-openssl meson test runs it (--no-skip).

TEST_CASE("tls: openssl s_client completes the handshake and verifies (interop)" *
          doctest::skip()) {
  const auto& pki = TestPki::get();
  asio::io_context io;
  TransportOptions options = server_options(pki.server);
  Transports transports(io, options, quiet_logger());
  Attempt a;
  serve(a, transports, "tls://127.0.0.1:0");
  std::string port = a.listener->url().substr(a.listener->url().rfind(':') + 1);
  // stdin is /dev/null: s_client ends the session once the handshake is done.
  auto [pid, out_fd] =
      spawn_with_stdout({"openssl", "s_client", "-connect", "127.0.0.1:" + port, "-CAfile", pki.ca,
                         "-verify_return_error", "-verify_ip", "127.0.0.1", "-brief"},
                        /*with_stderr=*/true);
  ChildOutput output(io, out_fd);
  output.read();
  int status = 0;
  bool finished = wait_for_child(io, pid, output, status, std::chrono::seconds(30));
  MESSAGE("openssl s_client:\n" << output.text);
  REQUIRE(finished);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(contains(output.text, "CONNECTION ESTABLISHED"));
  CHECK(contains(output.text, "Verification: OK"));
  CHECK((contains(output.text, "TLSv1.3") || contains(output.text, "TLSv1.2")));
  REQUIRE(run_until(io, [&] { return a.accepted.size() == 1 && a.server_closes.size() == 1; }));
  CHECK(a.accepted[0]->credentials().tls);
  CHECK(a.server_closes[0].code == Code::kRemoteClosed);

  // TLS 1.1 is refused: the listener accepts TLS 1.2 and newer only.
  auto [old_pid, old_fd] = spawn_with_stdout(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + port, "-tls1_1", "-brief"}, true);
  ChildOutput old_output(io, old_fd);
  old_output.read();
  REQUIRE(wait_for_child(io, old_pid, old_output, status, std::chrono::seconds(30)));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(a.accepted.size() == 1);
}

// ---- interop with the npm `ws` client over wss:// ----------------------------------------
// Skipped unless run with --no-skip: tests/node/run.sh installs `ws`, sets
// DAGSYNC_WS_NODE_SCRIPT and runs this case with the ws:// one.

TEST_CASE("wss: interop with the npm ws client (tests/node)" * doctest::skip()) {
  const char* script = std::getenv("DAGSYNC_WS_NODE_SCRIPT");
  REQUIRE_MESSAGE(script != nullptr, "run through tests/node/run.sh");
  const auto& pki = TestPki::get();
  const std::size_t limit = 64 * 1024;
  asio::io_context io;
  TransportOptions options = server_options(pki.server);
  options.max_frame_bytes = limit;
  CapturedLog log;
  Transports transports(io, options, log.logger);
  auto listener = transports.listen("wss://127.0.0.1:0/sync");
  std::vector<std::shared_ptr<Connection>> connections;
  std::vector<CloseReason> closes;
  listener->start([&](std::shared_ptr<Connection> c) {
    connections.push_back(c);
    std::weak_ptr<Connection> weak = c;
    c->start(
        [weak](Bytes frame) {
          if (auto self = weak.lock()) self->send(std::move(frame));
        },
        [&](const CloseReason& r) { closes.push_back(r); });
  });

  auto [pid, out_fd] =
      spawn_with_stdout({"node", script, listener->url(), std::to_string(limit), pki.ca});
  ChildOutput output(io, out_fd);
  output.read();
  int status = 0;
  bool finished = wait_for_child(io, pid, output, status, std::chrono::seconds(60));
  MESSAGE("node output:\n" << output.text);
  REQUIRE(finished);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(contains(output.text, "tls-echo ok 4"));
  CHECK(contains(output.text, "tls-text close 1003"));
  CHECK(contains(output.text, "untrusted refused"));
  CHECK(contains(output.text, "tls-done 1000"));
  REQUIRE(run_until(io, [&] { return closes.size() == connections.size(); }));
  CHECK(connections.size() == 2);
  for (const auto& c : connections) CHECK(c->credentials().tls);
  // The client that did not trust our certificate failed its handshake; we logged it.
  REQUIRE(run_until(io, [&] { return contains(log.text(), "TLS handshake with 127.0.0.1:"); }));
}
