#include "tls_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <asio.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "peer_text.h"

namespace dagsync::net {

namespace {

// Asio reports a missing file as an OpenSSL "system lib" error; checking first names it.
void require_readable(const std::string& file, const std::string& what) {
  std::ifstream in(file);
  if (!in) {
    throw std::runtime_error("cannot read the " + what + " file '" + file +
                             "': " + std::strerror(errno));
  }
}

std::shared_ptr<asio::ssl::context> base_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  return ctx;
}

void load_identity(asio::ssl::context& ctx, const TlsSettings& s) {
  require_readable(s.cert_chain_file, "certificate chain");
  require_readable(s.private_key_file, "private key");
  std::error_code ec;
  ctx.use_certificate_chain_file(s.cert_chain_file, ec);
  if (ec) {
    throw std::runtime_error("cannot load the certificate chain '" + s.cert_chain_file +
                             "': " + ec.message());
  }
  ctx.use_private_key_file(s.private_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    throw std::runtime_error("cannot load the private key '" + s.private_key_file +
                             "': " + ec.message());
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    throw std::runtime_error("the private key '" + s.private_key_file +
                             "' does not match the certificate '" + s.cert_chain_file + "'");
  }
}

void load_cas(asio::ssl::context& ctx, const std::string& file, const std::string& what) {
  require_readable(file, what);
  std::error_code ec;
  ctx.load_verify_file(file, ec);
  if (ec)
    throw std::runtime_error("cannot load the " + what + " file '" + file + "': " + ec.message());
}

bool is_ip_literal(const std::string& host) {
  std::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string openssl_reason(const std::error_code& ec) {
  const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
  return r ? r : ec.message();
}

// The SSL's ex_data slot for the last alert received (+1, so that 0 means none).
int alert_slot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

void record_alert(const SSL* ssl, int where, int value) {
  if ((where & SSL_CB_READ_ALERT) == 0) return;
  SSL_set_ex_data(const_cast<SSL*>(ssl), alert_slot(),
                  reinterpret_cast<void*>(static_cast<std::intptr_t>((value & 0xff) + 1)));
}

}  // namespace

int last_alert_received(SSL* ssl) {
  auto v = reinterpret_cast<std::intptr_t>(SSL_get_ex_data(ssl, alert_slot()));
  return v == 0 ? -1 : static_cast<int>(v - 1);
}

std::string alert_text(int alert) {
  return SSL_alert_desc_string_long(alert);
}

std::shared_ptr<asio::ssl::context> make_server_context(const TlsSettings& s) {
  if (s.cert_chain_file.empty() || s.private_key_file.empty())
    throw std::runtime_error("a TLS listener needs tls.cert_chain_file and tls.private_key_file");
  auto ctx = base_context();
  load_identity(*ctx, s);
  if (!s.client_ca_file.empty()) {
    load_cas(*ctx, s.client_ca_file, "client CA");
    // The CA names go into the CertificateRequest, so a client knows which of its
    // certificates to present.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

std::shared_ptr<asio::ssl::context> make_client_context(const TlsSettings& s) {
  auto ctx = base_context();
  if (!s.cert_chain_file.empty() || !s.private_key_file.empty()) load_identity(*ctx, s);
  if (!s.ca_file.empty()) {
    load_cas(*ctx, s.ca_file, "CA");
  } else {
    std::error_code ec;
    ctx->set_default_verify_paths(ec);
    if (ec) throw std::runtime_error("cannot load the system's CA store: " + ec.message());
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

void prepare_client(SSL* ssl, const std::string& url_host, const TlsSettings& s) {
  const std::string& name = s.server_name.empty() ? url_host : s.server_name;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (is_ip_literal(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    SSL_set_tlsext_host_name(ssl, name.c_str());
  }
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  SSL_set_info_callback(ssl, record_alert);
}

PeerCertificate peer_certificate(SSL* ssl) {
  PeerCertificate out;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return out;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.subject.assign(data, static_cast<std::size_t>(n));
    BIO_free(bio);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &len) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; ++i) {
      out.sha256 += kHex[digest[i] >> 4];
      out.sha256 += kHex[digest[i] & 0xf];
    }
  }
  X509_free(cert);
  return out;
}

TlsFailure describe_failure(SSL* ssl, const std::error_code& ec, bool client) {
  const char* peer = client ? "the server" : "the client";
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK && ec != asio::error::operation_aborted) {
    std::string why = X509_verify_cert_error_string(verify);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      const char* name = ssl ? SSL_get0_peername(ssl) : nullptr;
      return {std::string(peer) + "'s certificate is not valid for the name dialled (" + why +
                  (name ? std::string(", matched ") + peer_text(name) : std::string()) +
                  "; tls.server_name overrides the name checked)",
              true};
    }
    return {std::string(peer) + "'s certificate does not verify: " + why, true};
  }
  if (ec == asio::error::operation_aborted) return {"the TLS handshake was cancelled", false};
  if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    return {std::string(peer) + " closed the connection during the TLS handshake" +
                (client ? " (a plain tcp:// or ws:// port closes on a TLS ClientHello)" : ""),
            false};
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    switch (reason) {
      case SSL_R_HTTP_REQUEST:
      case SSL_R_HTTPS_PROXY_REQUEST:
        return {
            std::string(peer) + " sent a plain HTTP request to a TLS port (use wss:// or tls://)",
            true, TlsFailure::Peer::kHttp};
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_PACKET_LENGTH_TOO_LONG:
      case SSL_R_RECORD_LENGTH_MISMATCH:
        return {std::string(peer) + " does not speak TLS (" + openssl_reason(ec) +
                    (client ? "): is it a plain tcp:// or ws:// port?"
                            : "): a plaintext client on a TLS port?"),
                true, TlsFailure::Peer::kNotTls};
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return {"the client presented no certificate; this listener requires one", true};
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return {"the server requires a client certificate (tls.cert_chain_file)", true};
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      case SSL_R_NO_PROTOCOLS_AVAILABLE:
        return {std::string(peer) +
                    " offers no TLS version we accept (TLS 1.2 or newer): " + openssl_reason(ec),
                true};
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return {std::string(peer) + " refused our certificate: " + openssl_reason(ec), true};
      default:
        return {"TLS handshake failed: " + openssl_reason(ec), false};
    }
  }
  return {"TLS handshake failed: " + ec.message(), false};
}

std::string_view plaintext_refusal(TlsFailure::Peer peer) {
  // A fatal protocol_version alert (TLS 1.2 record).
  static constexpr char kAlert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46};
  static constexpr char kHttp[] =
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
      "Content-Length: 59\r\n\r\nThis port speaks TLS: use wss:// (or tls:// for dagsync).\r\n";
  switch (peer) {
    case TlsFailure::Peer::kNotTls:
      return {kAlert, sizeof kAlert};
    case TlsFailure::Peer::kHttp:
      return {kHttp, sizeof kHttp - 1};
    case TlsFailure::Peer::kTls:
      break;
  }
  return {};
}

}  // namespace dagsync::net
