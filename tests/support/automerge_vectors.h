// Golden vectors recorded from the real @automerge/automerge package
// (tests/automerge/record_vectors.js writes tests/automerge/vectors/vectors.txt). Each line
// is a kind and space-separated fields; comma-separated hash lists, "-" for empty. Also
// synthetic change chunks: the fields dagsync validates, with no operations (which the core
// does not interpret), sealed with a correct checksum unless a test breaks it on purpose.
#pragma once

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/change.h"
#include "dagsync/ids.h"

namespace dagsync::test {

struct AutomergeVector {
  std::string kind;
  std::vector<std::string> fields;
};

inline std::vector<AutomergeVector> automerge_vectors(const std::string& kind) {
  std::ifstream in(std::string(DAGSYNC_SOURCE_DIR) + "/tests/automerge/vectors/vectors.txt");
  if (!in) throw std::runtime_error("tests/automerge/vectors/vectors.txt not found");
  std::vector<AutomergeVector> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    AutomergeVector v;
    words >> v.kind;
    if (v.kind != kind) continue;
    for (std::string w; words >> w;) v.fields.push_back(w);
    out.push_back(std::move(v));
  }
  return out;
}

inline Bytes vector_bytes(const std::string& field) {
  return field == "-" ? Bytes{} : from_hex(field);
}

inline std::vector<ChangeHash> vector_hashes(const std::string& field) {
  std::vector<ChangeHash> out;
  if (field == "-") return out;
  std::istringstream parts(field);
  for (std::string h; std::getline(parts, h, ',');) out.push_back(ChangeHash::from_hex(h));
  return out;
}

inline void put_uleb(Bytes& out, std::uint64_t v) {
  do {
    std::uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(b);
  } while (v);
}

// magic | checksum | type | uLEB length | body, checksummed over type, length and body.
inline Bytes seal_chunk(std::uint8_t type, ByteView body) {
  Bytes hashed{type};
  put_uleb(hashed, body.size());
  hashed.insert(hashed.end(), body.begin(), body.end());
  ChangeHash h = sha256(hashed);
  Bytes out(8 + hashed.size());
  const std::uint8_t magic[4] = {0x85, 0x6f, 0x4a, 0x83};
  std::copy(magic, magic + 4, out.begin());
  std::copy(h.bytes.begin(), h.bytes.begin() + 4, out.begin() + 4);
  std::copy(hashed.begin(), hashed.end(), out.begin() + 8);
  return out;
}

struct ChunkFields {
  Bytes actor = Bytes(16, 0xa1);
  std::uint64_t seq = 1;
  std::vector<ChangeHash> deps;  // written as given (tests may unsort them)
  std::uint64_t start_op = 1;
  std::string message;
  Bytes after_message = {0x00, 0x00};  // no other actors, no columns
};

inline Bytes chunk_body(const ChunkFields& f) {
  Bytes b;
  put_uleb(b, f.deps.size());
  for (const auto& d : f.deps) b.insert(b.end(), d.bytes.begin(), d.bytes.end());
  put_uleb(b, f.actor.size());
  b.insert(b.end(), f.actor.begin(), f.actor.end());
  put_uleb(b, f.seq);
  put_uleb(b, f.start_op);
  b.push_back(0x00);  // time 0
  put_uleb(b, f.message.size());
  b.insert(b.end(), f.message.begin(), f.message.end());
  b.insert(b.end(), f.after_message.begin(), f.after_message.end());
  return b;
}

inline Bytes chunk(const ChunkFields& f) {
  return seal_chunk(0x01, chunk_body(f));
}

inline Change am_change(const ChunkFields& f) {
  return Change::from_automerge(chunk(f));
}

// Actor `n`'s change `seq` on `deps`, 16-byte actor ids (n repeated).
inline Change am_change(std::uint8_t n, std::uint64_t seq, std::vector<ChangeHash> deps = {}) {
  ChunkFields f;
  f.actor = Bytes(16, n);
  f.seq = seq;
  f.deps = std::move(deps);
  std::sort(f.deps.begin(), f.deps.end());
  return am_change(f);
}

}  // namespace dagsync::test
