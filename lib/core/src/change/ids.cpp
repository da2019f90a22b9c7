#include "dagsync/ids.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dagsync/error.h"

namespace dagsync {

std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Bytes from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw DecodeError("hex: odd number of digits");
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      throw DecodeError("hex: invalid digit at position " + std::to_string(2 * i));
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

template <std::size_t N, typename Tag>
FixedId<N, Tag> FixedId<N, Tag>::from_bytes(ByteView v) {
  if (v.size() != N) {
    throw DecodeError("expected " + std::to_string(N) + " bytes, got " + std::to_string(v.size()));
  }
  FixedId out;
  std::copy(v.begin(), v.end(), out.bytes.begin());
  return out;
}

template struct FixedId<32, ChangeHashTag>;
template struct FixedId<16, ActorIdTag>;

ActorId random_actor_id() {
  ActorId id;
  if (RAND_bytes(id.bytes.data(), static_cast<int>(id.bytes.size())) != 1) {
    throw Error("random_actor_id: OpenSSL RAND_bytes failed");
  }
  return id;
}

namespace {

// OpenSSL 3 looks the algorithm up in its provider store (locks included) on every implicit
// EVP_sha256() digest, which costs more than hashing a small change. Each thread fetches the
// algorithm once and reuses one context; they are freed when the thread ends.
class Sha256Context {
 public:
  Sha256Context() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {}
  ~Sha256Context() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  Sha256Context(const Sha256Context&) = delete;
  Sha256Context& operator=(const Sha256Context&) = delete;

  ChangeHash digest(ByteView bytes) {
    ChangeHash out;
    unsigned int len = 0;
    if (md_ == nullptr || ctx_ == nullptr || EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, out.bytes.data(), &len) != 1 || len != out.bytes.size()) {
      throw Error("sha256: OpenSSL EVP digest failed");
    }
    return out;
  }

 private:
  EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

}  // namespace

ChangeHash sha256(ByteView bytes) {
  thread_local Sha256Context context;
  return context.digest(bytes);
}

}  // namespace dagsync
