// Where an accepted Automerge change chunk keeps its fields. The chunk was validated when
// the Change was made, so these are read back without bounds checks (change_chunk.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dagsync/change.h"

namespace dagsync {

struct Change::AutomergeFields {
  std::size_t deps_at = 0;  // first dep hash
  std::size_t deps_count = 0;
  std::size_t actor_at = 0;
  std::size_t actor_len = 0;
  std::uint64_t seq = 0;
  std::int64_t time = 0;  // seconds
  std::size_t message_at = 0;
  std::size_t message_len = 0;
  std::size_t payload_at = 0;  // other actors, column metadata and data, extra bytes
};

}  // namespace dagsync
