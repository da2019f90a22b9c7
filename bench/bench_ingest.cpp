// Scenario (d) ingest: how fast a graph takes in changes that arrive as bytes (decoded, their
// SHA-256 computed, added), and how much heap the graph keeps per change beyond the encoded
// bytes themselves. Single-threaded; the inputs are built and encoded before any timing.
#include <malloc.h>
#include <time.h>

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

// CPU time of this thread in milliseconds: unlike the wall clock, it does not count the time
// other processes on a shared machine hold the core.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

struct Timing {
  double wall_ms = 0;
  double cpu_ms = 0;
};

// Best (shortest) of `reps` runs of `body`, by wall clock and by thread CPU time separately.
template <typename Body>
Timing best_of(std::uint64_t reps, Body&& body) {
  Timing best;
  for (std::uint64_t r = 0; r < reps; ++r) {
    double wall = now_ms();
    double cpu = thread_cpu_ms();
    body();
    cpu = thread_cpu_ms() - cpu;
    wall = now_ms() - wall;
    if (r == 0 || wall < best.wall_ms) best.wall_ms = wall;
    if (r == 0 || cpu < best.cpu_ms) best.cpu_ms = cpu;
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
  const std::string target = ">= " + std::to_string(static_cast<std::int64_t>(kTargetRate));
  // Wall-clock rate as the figure (with its target); the CPU-time rate next to it.
  auto report = [&](const std::string& name, const Timing& t, bool with_target) {
    double wall = rate(n, t.wall_ms);
    if (with_target) {
      figure(name, wall, "changes/s", target, wall >= kTargetRate);
    } else {
      figure(name, wall, "changes/s");
    }
    figure(name + ", CPU time", rate(n, t.cpu_ms), "changes/s");
  };

  Timing hash = best_of(reps, [&] {
    for (std::size_t i = 0; i < n; ++i) sink += sha256(in.at(i)).bytes[0];
  });
  report("sha256 only (P=" + std::to_string(params.p) + ")", hash, false);

  Timing decode = best_of(reps, [&] {
    for (std::size_t i = 0; i < n; ++i) sink += Change::decode(in.at(i)).seq();
  });
  report("decode+hash only (P=" + std::to_string(params.p) + ")", decode, false);

  // Adding alone, from changes decoded beforehand (not timed).
  Timing add;
  {
    std::vector<Change> decoded;
    decoded.reserve(n);
    for (std::size_t i = 0; i < n; ++i) decoded.push_back(Change::decode(in.at(i)));
    add = best_of(reps, [&] {
      ChangeGraph graph(named_actor("ingest"));
      for (std::size_t i = 0; i < n; i += batch) {
        std::size_t len = std::min(batch, n - i);
        graph.add(std::span<const Change>(decoded).subspan(i, len));
      }
      sink += graph.size();
    });
  }
  report("add only, pre-decoded (batch " + std::to_string(batch) + tag, add, false);

  Timing one = best_of(reps, [&] {
    ChangeGraph graph(named_actor("ingest"));
    ingest(graph, in, 1);
  });
  report("ingest changes/s (one by one" + tag, one, true);

  Timing batched = best_of(reps, [&] {
    ChangeGraph graph(named_actor("ingest"));
    ingest(graph, in, batch);
  });
  report("ingest changes/s (batch " + std::to_string(batch) + tag, batched, true);

  // Memory: a fresh graph filled the same way, the heap compared before and after. The input
  // buffer is allocated before the first reading, and every temporary (the batch vector,
  // import statuses) is released before the second, so the difference is the graph: its
  // changes' bodies and its indexes.
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
  // The graph holds a copy of every encoded byte: a smaller difference means glibc's
  // counters do not see the allocator in use (a sanitizer's, for one).
  bool measured = after - before >= static_cast<std::int64_t>(in.data.size());
  if (!measured) std::cerr << "heap not measurable with this allocator (mallinfo2)\n";
  figure("graph heap per change, total (batch " + std::to_string(batch) + tag,
         static_cast<double>(after - before) / n, "B");
  figure("encoded bytes per change" + std::string(" (P=") + std::to_string(params.p) + ")",
         static_cast<double>(in.data.size()) / n, "B");
  figure("index memory per change", per_change, "B",
         "<= " + std::to_string(static_cast<std::int64_t>(kTargetIndexBytes)),
         measured && per_change <= kTargetIndexBytes);

  JsonLine summary;
  summary.add("kind", "ingest")
      .add("impl", "dagsync")
      .add("shape", params.shape)
      .add("N", static_cast<std::uint64_t>(n))
      .add("A", params.a)
      .add("P", params.p)
      .add("batch", static_cast<std::uint64_t>(batch))
      .add("R", reps)
      .add("hash_ms", hash.wall_ms)
      .add("decode_ms", decode.wall_ms)
      .add("add_ms", add.wall_ms)
      .add("ingest_one_ms", one.wall_ms)
      .add("ingest_batch_ms", batched.wall_ms)
      .add("ingest_batch_cpu_ms", batched.cpu_ms)
      .add("encoded_bytes", static_cast<std::uint64_t>(in.data.size()))
      .add("heap_delta_bytes", after - before)
      .add("peak_rss_kb", peak_rss_kb())
      .add("checksum", static_cast<std::uint64_t>(sink & 0xffff));
  summary.print();
  return 0;
}

}  // namespace dagsync::bench
