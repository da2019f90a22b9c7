#include "automerge_ids.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "dagsync/ids.h"

namespace dagsync {

namespace {
constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::size_t kChecksumBytes = 4;

std::array<std::uint8_t, kChecksumBytes> checksum(ByteView payload) {
  ChangeHash once = sha256(payload);
  ChangeHash twice = sha256(ByteView(once.bytes.data(), once.bytes.size()));
  std::array<std::uint8_t, kChecksumBytes> out{};
  std::copy_n(twice.bytes.begin(), kChecksumBytes, out.begin());
  return out;
}
}  // namespace

std::optional<Bytes> base58check_decode(std::string_view text) {
  if (text.empty() || text.size() > kMaxDocumentIdChars) return std::nullopt;
  // Big-endian base-256 digits of the number, built one base-58 digit at a time.
  Bytes number;
  for (char c : text) {
    auto digit = kAlphabet.find(c);
    if (digit == std::string_view::npos) return std::nullopt;
    unsigned carry = static_cast<unsigned>(digit);
    for (auto it = number.rbegin(); it != number.rend(); ++it) {
      carry += 58u * *it;
      *it = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    while (carry) {
      number.insert(number.begin(), static_cast<std::uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  // Each leading '1' is a leading zero byte.
  std::size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == '1') ++zeros;
  Bytes raw(zeros, 0);
  raw.insert(raw.end(), number.begin(), number.end());
  if (raw.size() < kChecksumBytes) return std::nullopt;
  Bytes payload(raw.begin(), raw.end() - kChecksumBytes);
  auto expected = checksum(payload);
  if (!std::equal(expected.begin(), expected.end(), raw.end() - kChecksumBytes)) {
    return std::nullopt;
  }
  return payload;
}

std::string base58check_encode(ByteView payload) {
  Bytes raw(payload.begin(), payload.end());
  auto sum = checksum(payload);
  raw.insert(raw.end(), sum.begin(), sum.end());
  // Little-endian base-58 digits of the number.
  std::string digits;
  for (std::uint8_t byte : raw) {
    unsigned carry = byte;
    for (char& d : digits) {
      carry += 256u * static_cast<unsigned char>(d);
      d = static_cast<char>(carry % 58);
      carry /= 58;
    }
    while (carry) {
      digits.push_back(static_cast<char>(carry % 58));
      carry /= 58;
    }
  }
  std::string out;
  for (std::size_t i = 0; i < raw.size() && raw[i] == 0; ++i) out.push_back('1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kAlphabet[*it]);
  return out;
}

std::optional<std::string> refuse_document_id(std::string_view text) {
  if (text.empty()) return std::string("empty document id");
  if (text.size() > kMaxDocumentIdChars) {
    return "document id of " + std::to_string(text.size()) + " characters (at most " +
           std::to_string(kMaxDocumentIdChars) + ")";
  }
  if (!base58check_decode(text)) return std::string("document id is not base58check");
  return std::nullopt;
}

}  // namespace dagsync
