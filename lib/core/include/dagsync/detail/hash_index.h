// HashIndex: ChangeGraph's map from a change hash to its node number.
//
// Implementation detail, not API: it sits in a public header (dagsync/detail/) only because
// ChangeGraph holds one by value, and it may change or disappear in any release. Use
// ChangeGraph::has() and get() instead.
//
// Open addressing with linear probing. A slot holds a node number and a 32-bit fingerprint of
// that node's hash (8 bytes; the table is kept at most 3/4 full), not the hash itself: the
// caller keeps the hashes and passes `hash_of(node)` to confirm a fingerprint match. Growing
// needs only the fingerprints, which also give each entry's home slot. Fingerprints are keyed
// by a per-index random seed, so hashes chosen by a peer cannot be steered into one probe run.
//
// Contract: insert() only hashes that are absent; node numbers below kNoNode. Copies copy the
// entries and the seed. insert() is strongly exception-safe (it grows before it writes).
// Not thread-safe for writers, like the graph that holds it.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "dagsync/ids.h"

namespace dagsync {

class HashIndex {
 public:
  static constexpr std::uint32_t kNoNode = UINT32_MAX;

  HashIndex();  // random seed
  explicit HashIndex(std::uint64_t seed) : seed_(seed) {}
  HashIndex(const HashIndex&) = default;
  HashIndex& operator=(const HashIndex&) = default;
  // A moved-from index is empty and usable.
  HashIndex(HashIndex&& other) noexcept
      : slots_(std::move(other.slots_)),
        size_(std::exchange(other.size_, 0)),
        mask_(std::exchange(other.mask_, 0)),
        seed_(other.seed_) {}
  HashIndex& operator=(HashIndex&& other) noexcept {
    slots_ = std::move(other.slots_);
    other.slots_.clear();
    size_ = std::exchange(other.size_, 0);
    mask_ = std::exchange(other.mask_, 0);
    seed_ = other.seed_;
    return *this;
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return slots_.size(); }
  // Room for `n` entries without growing.
  void reserve(std::size_t n);

  template <typename HashOf>
  std::optional<std::uint32_t> find(const ChangeHash& hash, const HashOf& hash_of) const {
    if (size_ == 0) return std::nullopt;
    std::uint32_t fp = fingerprint(hash);
    for (std::size_t i = fp & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.node == kNoNode) return std::nullopt;
      if (s.fingerprint == fp && hash_of(s.node) == hash) return s.node;
    }
  }

  void insert(const ChangeHash& hash, std::uint32_t node);

  // Removes `hash` if present; true if it was.
  template <typename HashOf>
  bool erase(const ChangeHash& hash, const HashOf& hash_of) {
    if (size_ == 0) return false;
    std::uint32_t fp = fingerprint(hash);
    for (std::size_t i = fp & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.node == kNoNode) return false;
      if (s.fingerprint == fp && hash_of(s.node) == hash) {
        erase_slot(i);
        return true;
      }
    }
  }

  std::uint32_t fingerprint(const ChangeHash& hash) const {
    std::uint64_t h = seed_;
    for (std::size_t i = 0; i < ChangeHash::kSize; i += 8) {
      std::uint64_t v;
      std::memcpy(&v, hash.bytes.data() + i, sizeof v);
      h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
      h ^= h >> 29;
    }
    return static_cast<std::uint32_t>(h);
  }

 private:
  struct Slot {
    std::uint32_t fingerprint = 0;
    std::uint32_t node = kNoNode;
  };
  static constexpr std::size_t kMinCapacity = 16;

  void place(std::uint32_t fp, std::uint32_t node);
  void rehash(std::size_t capacity);
  // Backward-shift deletion: later members of the probe run move up, so no tombstones.
  void erase_slot(std::size_t i);

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  std::uint64_t seed_;
};

}  // namespace dagsync
