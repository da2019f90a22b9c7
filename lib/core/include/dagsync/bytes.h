// Byte buffers: Bytes owns, ByteView borrows. Hex helpers for logs and tests.
//
// A ByteView is valid while the buffer it borrows lives and is not resized; as_bytes()
// views a string's characters without copying. to_hex() writes two lowercase digits a
// byte; from_hex() accepts either case and throws DecodeError on an odd length or a
// character that is not a hex digit.
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
