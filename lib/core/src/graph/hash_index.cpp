#include "dagsync/detail/hash_index.h"

#include <openssl/rand.h>

#include <utility>

#include "dagsync/error.h"

namespace dagsync {

namespace {
std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1) {
    throw Error("hash index: OpenSSL RAND_bytes failed");
  }
  return seed;
}
}  // namespace

HashIndex::HashIndex() : seed_(random_seed()) {}

void HashIndex::reserve(std::size_t n) {
  std::size_t capacity = slots_.empty() ? kMinCapacity : slots_.size();
  while (n > capacity / 4 * 3) capacity *= 2;
  if (capacity != slots_.size()) rehash(capacity);
}

void HashIndex::insert(const ChangeHash& hash, std::uint32_t node) {
  reserve(size_ + 1);
  place(fingerprint(hash), node);
  ++size_;
}

void HashIndex::place(std::uint32_t fp, std::uint32_t node) {
  std::size_t i = fp & mask_;
  while (slots_[i].node != kNoNode) i = (i + 1) & mask_;
  slots_[i] = Slot{fp, node};
}

void HashIndex::rehash(std::size_t capacity) {
  std::vector<Slot> old(capacity);
  std::swap(old, slots_);
  mask_ = capacity - 1;
  for (const Slot& s : old) {
    if (s.node != kNoNode) place(s.fingerprint, s.node);
  }
}

void HashIndex::erase_slot(std::size_t hole) {
  slots_[hole] = Slot{};
  --size_;
  for (std::size_t j = (hole + 1) & mask_; slots_[j].node != kNoNode; j = (j + 1) & mask_) {
    std::size_t home = slots_[j].fingerprint & mask_;
    // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
    bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    slots_[j] = Slot{};
    hole = j;
  }
}

}  // namespace dagsync
