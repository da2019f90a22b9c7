// DepsView: a change's deps, read in place from its canonical encoding.
//
// dagsync's changes encode each dep as msgpack bin8 (a 2-byte lead, then the hash);
// Automerge's change chunks as the bare 32 bytes. The view knows the lead and stride.
//
// A read-only range of ChangeHash values, sorted and distinct, that borrows the change's body:
// it stays valid while any copy of that Change exists. Elements are produced by value (each
// hash is copied out of the encoding), so iterators are forward iterators whose reference type
// is ChangeHash. to_vector() makes an owning copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <span>
#include <vector>

#include "dagsync/ids.h"

namespace dagsync {

class DepsView {
 public:
  // Each dep is encoded as msgpack bin8: 0xc4, 32, then the hash (docs/protocol.md).
  static constexpr std::size_t kLead = 2;
  static constexpr std::size_t kStride = kLead + ChangeHash::kSize;

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ChangeHash;
    using difference_type = std::ptrdiff_t;
    using reference = ChangeHash;
    using pointer = void;

    Iterator() = default;
    ChangeHash operator*() const { return DepsView::read(at_); }
    Iterator& operator++() {
      at_ += stride_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      at_ += stride_;
      return old;
    }
    bool operator==(const Iterator& other) const { return at_ == other.at_; }

   private:
    friend class DepsView;
    Iterator(const std::uint8_t* at, std::size_t stride) : at_(at), stride_(stride) {}
    const std::uint8_t* at_ = nullptr;  // the hash itself, past any lead
    std::size_t stride_ = kStride;
  };

  DepsView() = default;
  // `first` points at the first dep's encoding (its 0xc4 tag); the caller vouches that
  // `count` well-formed deps follow.
  DepsView(const std::uint8_t* first, std::size_t count) : first_(first + kLead), count_(count) {}
  // Deps stored as bare hashes, back to back (Automerge's change chunks): `first` points at
  // the first hash.
  static DepsView packed(const std::uint8_t* first, std::size_t count) {
    DepsView v;
    v.first_ = first;
    v.count_ = count;
    v.stride_ = ChangeHash::kSize;
    return v;
  }

  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  ChangeHash operator[](std::size_t i) const { return read(first_ + i * stride_); }
  Iterator begin() const { return Iterator(first_, stride_); }
  Iterator end() const { return Iterator(first_ + count_ * stride_, stride_); }

  // Binary search: deps are sorted.
  bool contains(const ChangeHash& hash) const {
    std::size_t lo = 0;
    std::size_t hi = count_;
    while (lo < hi) {
      std::size_t mid = lo + (hi - lo) / 2;
      int c = std::memcmp(first_ + mid * stride_, hash.bytes.data(), ChangeHash::kSize);
      if (c == 0) return true;
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return false;
  }
  std::vector<ChangeHash> to_vector() const { return {begin(), end()}; }

  friend bool operator==(const DepsView& a, std::span<const ChangeHash> b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (std::memcmp(a.first_ + i * a.stride_, b[i].bytes.data(), ChangeHash::kSize) != 0)
        return false;
    }
    return true;
  }

 private:
  static ChangeHash read(const std::uint8_t* at) {
    ChangeHash h;
    std::memcpy(h.bytes.data(), at, ChangeHash::kSize);
    return h;
  }

  const std::uint8_t* first_ = nullptr;  // the first hash, past its lead
  std::size_t count_ = 0;
  std::size_t stride_ = kStride;
};

}  // namespace dagsync
