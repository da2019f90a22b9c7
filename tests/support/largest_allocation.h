// The largest single allocation made while a LargestAllocation exists, so a test can assert
// that a hostile count did not make the server allocate in proportion to the claim.
//
// It works only in a binary linked with largest_allocation.cpp, which replaces the global
// allocation functions (dagsync_alloc_tests, and no other test binary).
#pragma once

#include <cstddef>

namespace dagsync::test {

class LargestAllocation {
 public:
  LargestAllocation();  // starts recording from 0
  ~LargestAllocation();
  LargestAllocation(const LargestAllocation&) = delete;
  LargestAllocation& operator=(const LargestAllocation&) = delete;

  std::size_t bytes() const;
};

}  // namespace dagsync::test
