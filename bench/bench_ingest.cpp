// Scenario (d) ingest: how fast a graph takes in changes that arrive as bytes (decoded, their
// SHA-256 computed, added), and how much heap the graph keeps per change beyond the encoded
// bytes themselves. Single-threaded; the inputs are built and encoded before any timing.
#include <malloc.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "dagsync/change_graph.h"
#include "report.h"
#include "shape.h"

namespace dagsync::bench {

namespace {

constexpr double kTargetRate = 1'000'000;  // changes per second per core
constexpr double kTargetIndexBytes = 128;  // per change, beyond its encoded bytes

// The encoded changes, back to back in one buffer, so that the inputs cost a few large
// allocations made before the heap is measured.
struct Encoded {
  Bytes data;
  std::vector<std::size_t> ends;
  ByteView at(std::size_t i) const {
    std::size_t begin = i == 0 ? 0 : ends[i - 1];
    return ByteView(data).subspan(begin, ends[i] - begin);
  }
  std::size_t size() const { return ends.size(); }
};

Encoded encode_shape(const ShapeParams& params) {
  Encoded out;
  ShapeChanges shape = make_shape(params);
  std::size_t total = 0;
  for (const Change& c : shape.shared) total += c.bytes().size();
  out.data.reserve(total);
  out.ends.reserve(shape.shared.size());
  for (const Change& c : shape.shared) {
    out.data.insert(out.data.end(), c.bytes().begin(), c.bytes().end());
    out.ends.push_back(out.data.size());
  }
  return out;
}

// Heap in use: small chunks (uordblks) plus those glibc serves with mmap (hblkhd), where
// large vectors and hash tables live.
std::int64_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return static_cast<std::int64_t>(m.uordblks + m.hblkhd);
}

void figure(const std::string& name, double value, const std::string& unit,
            const std::string& target = "", bool ok = true) {
  JsonLine line;
  line.add("kind", "figure").add("name", name).add("value", static_cast<std::int64_t>(value));
  line.add("unit", unit);
  if (!target.empty()) line.add("target", target).add("target_ok", ok);
  line.print();
}

// Best (shortest) of `reps` runs of `body`, in milliseconds.
template <typename Body>
double best_ms(std::uint64_t reps, Body&& body) {
  double best = 0;
  for (std::uint64_t r = 0; r < reps; ++r) {
    double start = now_ms();
    body();
    double ms = now_ms() - start;
    if (r == 0 || ms < best) best = ms;
  }
  return best;
}

double rate(std::size_t n, double ms) {
  return ms > 0 ? static_cast<double>(n) * 1000.0 / ms : 0;
}

// Adds every change, decoding each from its bytes, `batch` at a time (1: one add() per
// change). The graph must end up holding all of them.
void ingest(ChangeGraph& graph, const Encoded& in, std::size_t batch) {
  std::vector<Change> pending;
  pending.reserve(batch);
  for (std::size_t i = 0; i < in.size(); ++i) {
    pending.push_back(Change::decode(in.at(i)));
    if (pending.size() == batch || i + 1 == in.size()) {
      graph.add(pending);
      pending.clear();
    }
  }
  if (graph.size() != in.size() || graph.pending_count() != 0) {
    throw std::runtime_error("ingest: graph holds " + std::to_string(graph.size()) + " of " +
                             std::to_string(in.size()) + " changes");
  }
}

}  // namespace

int run_ingest(int argc, char** argv) {
  Args args(argc, argv,
            {{"shape", "linear"},
             {"N", "1000000"},
             {"A", "3"},
             {"P", "64"},
             {"batch", "1000"},
             {"R", "3"}});
  ShapeParams params{args.str("shape"), args.num("N"), 0, args.num("A"), args.num("P")};
  std::size_t batch = std::max<std::uint64_t>(1, args.num("batch"));
  std::uint64_t reps = std::max<std::uint64_t>(1, args.num("R"));
  std::cerr << "building shape " << params.shape << " N=" << params.n << " A=" << params.a
            << " P=" << params.p << "\n";
  const Encoded in = encode_shape(params);
  const std::size_t n = in.size();
  const std::string tag = ", P=" + std::to_string(params.p) + ")";
  std::cerr << "encoded " << n << " changes, " << in.data.size() << " bytes\n";

  std::uint64_t sink = 0;  // keeps the timed work observable
  double hash_ms = best_ms(reps, [&] {
    for (std::size_t i = 0; i < n; ++i) sink += sha256(in.at(i)).bytes[0];
  });
  figure("sha256 only (" + std::string("P=") + std::to_string(params.p) + ")", rate(n, hash_ms),
         "changes/s");

  double decode_ms = best_ms(reps, [&] {
    for (std::size_t i = 0; i < n; ++i) sink += Change::decode(in.at(i)).seq();
  });
  figure("decode+hash only (" + std::string("P=") + std::to_string(params.p) + ")",
         rate(n, decode_ms), "changes/s");

  // Adding alone, from changes decoded beforehand (not timed).
  double add_ms = 0;
  {
    std::vector<Change> decoded;
    decoded.reserve(n);
    for (std::size_t i = 0; i < n; ++i) decoded.push_back(Change::decode(in.at(i)));
    add_ms = best_ms(reps, [&] {
      ChangeGraph graph(named_actor("ingest"));
      for (std::size_t i = 0; i < n; i += batch) {
        std::size_t len = std::min(batch, n - i);
        graph.add(std::span<const Change>(decoded).subspan(i, len));
      }
      sink += graph.size();
    });
  }
  figure("add only, pre-decoded (batch " + std::to_string(batch) + tag, rate(n, add_ms),
         "changes/s");

  double one_ms = best_ms(reps, [&] {
    ChangeGraph graph(named_actor("ingest"));
    ingest(graph, in, 1);
  });
  double one_rate = rate(n, one_ms);
  figure("ingest changes/s (one by one" + tag, one_rate, "changes/s",
         ">= " + std::to_string(static_cast<std::int64_t>(kTargetRate)), one_rate >= kTargetRate);

  double batch_ms = best_ms(reps, [&] {
    ChangeGraph graph(named_actor("ingest"));
    ingest(graph, in, batch);
  });
  double batch_rate = rate(n, batch_ms);
  figure("ingest changes/s (batch " + std::to_string(batch) + tag, batch_rate, "changes/s",
         ">= " + std::to_string(static_cast<std::int64_t>(kTargetRate)), batch_rate >= kTargetRate);

  // Memory: a fresh graph filled the same way, the heap compared before and after. The input
  // buffer and every temporary (the batch vector, import statuses) are gone by then, so what
  // remains is the graph: its changes' bodies and its indexes.
  malloc_trim(0);
  std::int64_t before = heap_in_use();
  std::int64_t after = 0;
  {
    ChangeGraph graph(named_actor("ingest"));
    ingest(graph, in, batch);
    after = heap_in_use();
    sink += graph.size();
  }
  double per_change =
      (static_cast<double>(after - before) - static_cast<double>(in.data.size())) / n;
  figure("graph heap per change, total (batch " + std::to_string(batch) + tag,
         static_cast<double>(after - before) / n, "B");
  figure("encoded bytes per change" + std::string(" (P=") + std::to_string(params.p) + ")",
         static_cast<double>(in.data.size()) / n, "B");
  figure("index memory per change", per_change, "B",
         "<= " + std::to_string(static_cast<std::int64_t>(kTargetIndexBytes)),
         per_change <= kTargetIndexBytes);

  JsonLine summary;
  summary.add("kind", "ingest")
      .add("impl", "dagsync")
      .add("shape", params.shape)
      .add("N", static_cast<std::uint64_t>(n))
      .add("A", params.a)
      .add("P", params.p)
      .add("batch", static_cast<std::uint64_t>(batch))
      .add("R", reps)
      .add("hash_ms", hash_ms)
      .add("decode_ms", decode_ms)
      .add("add_ms", add_ms)
      .add("ingest_one_ms", one_ms)
      .add("ingest_batch_ms", batch_ms)
      .add("encoded_bytes", static_cast<std::uint64_t>(in.data.size()))
      .add("heap_delta_bytes", after - before)
      .add("peak_rss_kb", peak_rss_kb())
      .add("checksum", static_cast<std::uint64_t>(sink & 0xffff));
  summary.print();
  return 0;
}

}  // namespace dagsync::bench
