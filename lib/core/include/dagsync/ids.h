// Fixed-size identifiers: ChangeHash (SHA-256 of a change's canonical bytes) and ActorId
// (16 bytes naming the author of a sequence of changes). Both are plain values, ordered
// bytewise (so sorted hashes compare like Automerge's sorted hex strings) and hashable.
// A default-constructed id is all zeros; from_bytes() and from_hex() accept exactly N bytes
// and throw DecodeError on anything else. OpenSSL failures in sha256() and
// random_actor_id() throw Error.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "dagsync/bytes.h"

namespace dagsync {

template <std::size_t N, typename Tag>
struct FixedId {
  static constexpr std::size_t kSize = N;
  std::array<std::uint8_t, N> bytes{};

  auto operator<=>(const FixedId&) const = default;
  bool operator==(const FixedId&) const = default;

  ByteView view() const { return {bytes.data(), bytes.size()}; }
  std::string hex() const { return to_hex(view()); }
  // First bytes as a short label for logs.
  std::string short_hex() const { return to_hex(view().first(4)); }

  // Throws DecodeError unless `v` holds exactly N bytes.
  static FixedId from_bytes(ByteView v);
  // Throws DecodeError unless `hex` is 2N hex digits.
  static FixedId from_hex(std::string_view hex) { return from_bytes(dagsync::from_hex(hex)); }
};

struct ChangeHashTag {};
struct ActorIdTag {};
using ChangeHash = FixedId<32, ChangeHashTag>;
using ActorId = FixedId<16, ActorIdTag>;

// A fresh random actor (OpenSSL's CSPRNG). Tests set actors explicitly instead.
ActorId random_actor_id();

// SHA-256 of `bytes`, through OpenSSL EVP (which uses the CPU's SHA instructions). Thread-safe;
// each calling thread keeps one digest context until it exits.
ChangeHash sha256(ByteView bytes);

// Hash functor for unordered containers. Mixes every word: hashes are uniform already, but
// actor ids chosen by hand (tests, fixed peers) often share long prefixes.
struct IdHasher {
  template <std::size_t N, typename Tag>
  std::size_t operator()(const FixedId<N, Tag>& id) const noexcept {
    static_assert(N % 8 == 0);
    std::uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t v;
      std::memcpy(&v, id.bytes.data() + i, sizeof v);
      h = (h ^ v) * 0xff51afd7ed558ccdULL;
      h ^= h >> 32;
    }
    return static_cast<std::size_t>(h);
  }
};

}  // namespace dagsync
