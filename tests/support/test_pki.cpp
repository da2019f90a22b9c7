#include "test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace dagsync::test {

namespace {

struct Issued {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `subject` (pairs of field, value), valid from `from_days` to `to_days`
// relative to now, signed by `issuer` (itself when null, for a CA).
Issued issue(const std::vector<std::pair<const char*, const char*>>& subject, const Issued* issuer,
             bool is_ca, const char* san, const char* usage, long from_days, long to_days) {
  static long serial = 1;
  Issued out;
  out.key = EVP_EC_gen("P-256");
  check(out.key != nullptr, "key generation");
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), to_days * 86400);
  X509_NAME* name = X509_get_subject_name(out.cert);
  for (auto [field, value] : subject) {
    X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(value), -1, -1, 0);
  }
  X509* issuer_cert = issuer ? issuer->cert : out.cert;
  X509_set_issuer_name(out.cert, X509_get_subject_name(issuer_cert));
  X509_set_pubkey(out.cert, out.key);
  add_ext(out.cert, issuer_cert, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  add_ext(out.cert, issuer_cert, NID_key_usage,
          is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_ext(out.cert, issuer_cert, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(out.cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
  if (usage) add_ext(out.cert, issuer_cert, NID_ext_key_usage, usage);
  if (san) add_ext(out.cert, issuer_cert, NID_subject_alt_name, san);
  check(X509_sign(out.cert, issuer ? issuer->key : out.key, EVP_sha256()) > 0, "signing");
  return out;
}

CertAndKey write(const Issued& issued, const std::string& dir, const std::string& name) {
  CertAndKey files{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  FILE* f = std::fopen(files.cert.c_str(), "w");
  check(f && PEM_write_X509(f, issued.cert) == 1, "writing a certificate");
  std::fclose(f);
  f = std::fopen(files.key.c_str(), "w");
  check(f && PEM_write_PrivateKey(f, issued.key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "writing a key");
  std::fclose(f);
  return files;
}

void release(Issued& i) {
  X509_free(i.cert);
  EVP_PKEY_free(i.key);
}

struct Owner {
  TestPki pki;
  ~Owner() {
    std::error_code ignored;
    if (!pki.dir.empty()) std::filesystem::remove_all(pki.dir, ignored);
  }
};

constexpr const char* kThisHost = "IP:127.0.0.1,IP:::1,DNS:localhost";

TestPki make() {
  TestPki pki;
  std::string pattern = (std::filesystem::temp_directory_path() / "dagsync-pki-XXXXXX").string();
  check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  pki.dir = pattern;

  Issued ca = issue({{"CN", "dagsync test CA"}}, nullptr, true, nullptr, nullptr, -1, 3650);
  Issued server = issue({{"CN", "localhost"}}, &ca, false, kThisHost, "serverAuth", -1, 3650);
  Issued client = issue({{"O", "dagsync tests"}, {"CN", "dagsync test client"}}, &ca, false,
                        nullptr, "clientAuth", -1, 3650);
  Issued expired = issue({{"CN", "localhost"}}, &ca, false, kThisHost, "serverAuth", -30, -1);
  Issued other =
      issue({{"CN", "other.example"}}, &ca, false, "DNS:other.example", "serverAuth", -1, 3650);
  Issued rogue_ca = issue({{"CN", "untrusted CA"}}, nullptr, true, nullptr, nullptr, -1, 3650);
  Issued rogue = issue({{"CN", "localhost"}}, &rogue_ca, false, kThisHost, "serverAuth", -1, 3650);

  pki.ca = write(ca, pki.dir, "ca").cert;
  pki.server = write(server, pki.dir, "server");
  pki.client = write(client, pki.dir, "client");
  pki.expired = write(expired, pki.dir, "expired");
  pki.other_host = write(other, pki.dir, "other-host");
  pki.untrusted_ca = write(rogue_ca, pki.dir, "untrusted-ca").cert;
  pki.untrusted = write(rogue, pki.dir, "untrusted");
  for (Issued* i : {&ca, &server, &client, &expired, &other, &rogue_ca, &rogue}) release(*i);
  return pki;
}

}  // namespace

const TestPki& TestPki::get() {
  static Owner owner{make()};
  return owner.pki;
}

std::string cert_sha256(const std::string& pem_file) {
  FILE* f = std::fopen(pem_file.c_str(), "r");
  check(f != nullptr, "opening a certificate");
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  check(cert != nullptr, "reading a certificate");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), digest, &len);
  X509_free(cert);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace dagsync::test
