// Errors. One convention for the whole library: failures are exceptions derived from
// dagsync::Error, each carrying a message that names what was wrong. Every operation that
// throws leaves the objects it was given unchanged (strong guarantee) unless its header says
// otherwise.
#pragma once

#include <stdexcept>
#include <string>

namespace dagsync {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bytes that do not decode: truncated, wrongly typed, out of range, over a limit, trailing
// bytes, unknown version.
class DecodeError : public Error {
 public:
  using Error::Error;
};

// A change the graph refuses: hash mismatch, equivocation, a seq gap, a full pending pool.
class GraphError : public Error {
 public:
  using Error::Error;
};

}  // namespace dagsync
