// Internal: OpenSSL through Asio for tls:// and wss:// (C++17 and free of transport.h, as
// ws_core.cpp uses it too). Contexts, the client's checks of the server, what a verified
// client certificate says, and handshake failures in words.
//
// Contract:
// - Contexts allow TLS 1.2 and newer only. make_server_context() loads the certificate chain
//   and key (both required) and, with client_ca_file, requires and verifies client
//   certificates; make_client_context() verifies the server against ca_file or, when empty,
//   the system's default store, and presents cert_chain_file/private_key_file when set.
//   Both throw std::runtime_error naming the file that is missing, unreadable or invalid.
// - prepare_client() must run on each client SSL before its handshake: it sends SNI (for a
//   name; an IP literal is not sent, RFC 6066) and makes the handshake fail unless the
//   certificate is valid for server_name, else the URL's host (DNS or IP SANs).
// - describe_failure() turns a failed handshake into a message and whether retrying the
//   same URL can help (certificate and protocol mismatches: no), and plaintext_refusal()
//   what to tell a peer that does not speak TLS at all.
#pragma once

#include <memory>
#include <string>
#include <system_error>

#include <asio/ssl.hpp>
#include <string_view>

#include "tls_settings.h"

namespace dagsync::net {

std::shared_ptr<asio::ssl::context> make_server_context(const TlsSettings& settings);
std::shared_ptr<asio::ssl::context> make_client_context(const TlsSettings& settings);

void prepare_client(SSL* ssl, const std::string& url_host, const TlsSettings& settings);

// The last TLS alert the peer sent on a client SSL prepared above, or -1. Under TLS 1.3 a
// server refuses a client certificate after the client's handshake has completed, so this
// is how a later failure can still be told apart.
int last_alert_received(SSL* ssl);
std::string alert_text(int alert);

struct PeerCertificate {
  std::string subject;  // RFC 2253, e.g. "CN=alice,O=example"; empty without a certificate
  std::string sha256;   // of the DER encoding, lowercase hex
};
PeerCertificate peer_certificate(SSL* ssl);

struct TlsFailure {
  enum class Peer { kTls, kNotTls, kHttp };
  std::string message;
  bool permanent = false;
  Peer peer = Peer::kTls;  // what the peer spoke, as far as the handshake tells
};
// `client`: we are the client (the peer is the server). `ec` is the handshake's error.
TlsFailure describe_failure(SSL* ssl, const std::error_code& ec, bool client);

// What a TLS listener writes, in plain text, to a client whose handshake failed because it
// does not speak TLS, so that it fails with a clear reason: a TLS alert record for anything
// but HTTP (our tcp:// client names it), an HTTP 400 for an HTTP request. Empty otherwise.
std::string_view plaintext_refusal(TlsFailure::Peer peer);

}  // namespace dagsync::net
