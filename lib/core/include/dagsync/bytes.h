// Byte buffers: Bytes owns, ByteView borrows. Hex helpers for logs and tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dagsync {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string to_hex(ByteView bytes);

// Throws DecodeError on odd length or a non-hex character.
Bytes from_hex(std::string_view hex);

}  // namespace dagsync
