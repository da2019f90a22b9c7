// Certificates for the TLS tests, made at run time with the OpenSSL C API (no fixtures that
// expire, no external tool): a test CA, certificates it signed for this host (127.0.0.1, ::1,
// localhost), for a client, for another host name, one that has expired, and a certificate
// for this host from a CA nobody trusts. All keys are P-256. Made once per process into a
// fresh temporary directory, which is removed at exit.
#pragma once

#include <string>

namespace dagsync::test {

struct CertAndKey {
  std::string cert;  // PEM file
  std::string key;   // PEM file
};

struct TestPki {
  std::string dir;
  std::string ca;            // the trusted test CA's certificate
  CertAndKey server;         // 127.0.0.1, ::1, localhost; signed by `ca`
  CertAndKey client;         // subject kClientSubject; signed by `ca`
  CertAndKey expired;        // 127.0.0.1, localhost; signed by `ca`, expired yesterday
  CertAndKey other_host;     // other.example only; signed by `ca`
  std::string untrusted_ca;  // a CA of its own
  CertAndKey untrusted;      // 127.0.0.1, localhost; signed by `untrusted_ca`
  static constexpr const char* kClientSubject = "CN=dagsync test client,O=dagsync tests";

  static const TestPki& get();
};

// SHA-256 of the DER encoding of the certificate in a PEM file, lowercase hex.
std::string cert_sha256(const std::string& pem_file);

}  // namespace dagsync::test
