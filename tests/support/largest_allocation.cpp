// Replaces the global allocation functions of the binary it is linked into with malloc/free:
// while a LargestAllocation exists, operator new records the largest single request. Off by
// default, and then it is plain malloc. Every non-aligned form is replaced, so that new and
// delete always pair up (also under AddressSanitizer, which checks that they do).
#include "largest_allocation.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<std::size_t> g_largest_allocation{0};

void* tracked_malloc(std::size_t size) noexcept {
  if (g_track_allocations.load(std::memory_order_relaxed)) {
    std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
    while (size > seen &&
           !g_largest_allocation.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
    }
  }
  return std::malloc(size == 0 ? 1 : size);
}
void* tracked_new(std::size_t size) {
  if (void* p = tracked_malloc(size)) return p;
  throw std::bad_alloc();
}
}  // namespace

namespace dagsync::test {

LargestAllocation::LargestAllocation() {
  g_largest_allocation = 0;
  g_track_allocations = true;
}

LargestAllocation::~LargestAllocation() {
  g_track_allocations = false;
}

std::size_t LargestAllocation::bytes() const {
  return g_largest_allocation.load();
}

}  // namespace dagsync::test

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC sees free() inlined where it cannot tell that operator new is malloc here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  return tracked_new(size);
}
void* operator new[](std::size_t size) {
  return tracked_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return tracked_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return tracked_malloc(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
