// The benchmark document shapes, identical to bench/peers/run.mjs's: N shared changes by A
// actors (linear chain, or per-actor chains merged every 64 changes), then D new changes on
// each side by a side-specific actor. Payloads are P pseudo-random bytes per change, so no
// implementation can compress them away.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dagsync/change.h"

namespace dagsync::bench {

struct ShapeParams {
  std::string shape = "linear";  // "linear" | "branchy"
  std::uint64_t n = 100'000;     // shared history
  std::uint64_t d = 10;          // new changes per side
  std::uint64_t a = 3;           // actors of the shared history
  std::uint64_t p = 64;          // payload bytes
};

struct ShapeChanges {
  std::vector<Change> shared;  // application order
  std::vector<Change> side_a;  // on top of shared
  std::vector<Change> side_b;
};

// The payload of the i-th change made (shared first, then side A's, then side B's).
Bytes payload(std::uint64_t i, std::size_t size);

// A fixed actor id per name ("actor 17", "sideA"), the same in every run.
ActorId named_actor(const std::string& name);

ShapeChanges make_shape(const ShapeParams& params);

}  // namespace dagsync::bench
