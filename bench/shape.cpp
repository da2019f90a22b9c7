#include "shape.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

namespace dagsync::bench {

Bytes payload(std::uint64_t i, std::size_t size) {
  std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull;
  Bytes out(size);
  for (std::size_t k = 0; k < size; k += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (std::size_t b = 0; b < 8 && k + b < size; ++b) {
      out[k + b] = static_cast<std::uint8_t>(x >> (8 * b));
    }
  }
  return out;
}

ActorId named_actor(const std::string& name) {
  auto digest = sha256(ByteView(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
  ActorId id;
  std::copy_n(digest.bytes.begin(), ActorId::kSize, id.bytes.begin());
  return id;
}

namespace {

// Tracks heads and per-actor seq while a history is authored.
struct Author {
  std::vector<ChangeHash> heads;
  std::unordered_map<ActorId, std::uint64_t, IdHasher> seq;
  std::uint64_t counter = 0;  // changes made so far (payload index)

  Change make(const ActorId& actor, std::vector<ChangeHash> deps, std::size_t p) {
    ChangeFields f;
    f.actor = actor;
    f.seq = ++seq[actor];
    f.deps = std::move(deps);
    f.payload = payload(counter++, p);
    Change c = Change::build(std::move(f));
    for (const auto& d : c.deps()) {
      auto it = std::find(heads.begin(), heads.end(), d);
      if (it != heads.end()) heads.erase(it);
    }
    heads.push_back(c.hash());
    return c;
  }
};

}  // namespace

ShapeChanges make_shape(const ShapeParams& params) {
  if (params.shape != "linear" && params.shape != "branchy") {
    throw std::invalid_argument("unknown shape '" + params.shape + "' (linear or branchy)");
  }
  if (params.a == 0) throw std::invalid_argument("A must be at least 1");
  ShapeChanges out;
  out.shared.reserve(params.n);
  Author author;
  std::vector<ActorId> actors;
  for (std::uint64_t k = 0; k < params.a; ++k)
    actors.push_back(named_actor("actor " + std::to_string(k)));
  std::unordered_map<ActorId, ChangeHash, IdHasher> last_of;
  for (std::uint64_t i = 0; i < params.n; ++i) {
    const ActorId& actor = actors[i % params.a];
    std::vector<ChangeHash> deps;
    if (params.shape == "linear") {
      if (i > 0) deps.push_back(out.shared.back().hash());
    } else {
      if (auto it = last_of.find(actor); it != last_of.end()) deps.push_back(it->second);
      if (i % 64 == 0 && i > 0) deps.insert(deps.end(), author.heads.begin(), author.heads.end());
    }
    out.shared.push_back(author.make(actor, std::move(deps), params.p));
    last_of[actor] = out.shared.back().hash();
  }
  // Both sides start from the shared heads; side B's payloads follow side A's.
  Author side_b = author;
  ActorId a_actor = named_actor("sideA");
  ActorId b_actor = named_actor("sideB");
  for (std::uint64_t i = 0; i < params.d; ++i) {
    out.side_a.push_back(author.make(a_actor, author.heads, params.p));
  }
  side_b.counter = author.counter;
  for (std::uint64_t i = 0; i < params.d; ++i) {
    out.side_b.push_back(side_b.make(b_actor, side_b.heads, params.p));
  }
  return out;
}

}  // namespace dagsync::bench
