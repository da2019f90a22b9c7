// dagsync-bench: the benchmark harness. `dagsync-bench <scenario> [--name value ...]`; each
// run prints JSON lines on stdout (bench/run.sh collects them into the side-by-side table).
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

namespace dagsync::bench {
int run_sync(int argc, char** argv);
int run_realtime(int argc, char** argv);
int run_backlog(int argc, char** argv);
int run_ingest(int argc, char** argv);
int run_history(int argc, char** argv);
int run_clients(int argc, char** argv);
int run_disconnect(int argc, char** argv);
int run_startup(int argc, char** argv);
int run_fanout(int argc, char** argv);
int run_postgres(int argc, char** argv);
int run_reconnect(int argc, char** argv);
int run_idle(int argc, char** argv);
}  // namespace dagsync::bench

namespace {
constexpr const char* kUsage =
    "usage: dagsync-bench sync --scenario a|b --shape linear|branchy --N n --D d --A a --P p\n"
    "       dagsync-bench realtime --scheme tcp|ws --k peers --rounds n --P p\n"
    "       dagsync-bench backlog --MB megabytes --P p --max_message bytes\n"
    "       dagsync-bench ingest --shape linear|branchy --N n --A a --P p --batch b --R reps\n"
    "       dagsync-bench history --N n1,n2,... --rounds n --warmup n --R reps --P p\n"
    "       dagsync-bench clients --C clients --share default|everything --changes n\n"
    "       dagsync-bench disconnect --M documents\n"
    "       dagsync-bench startup --M documents\n"
    "       dagsync-bench fanout --k clients --N history --rounds n --workers w --clients "
    "raw|repo\n"
    "       dagsync-bench postgres [--rounds r] [--store postgresql://...]\n"
    "       dagsync-bench reconnect --M documents --changed percent\n"
    "       dagsync-bench idle --C connections\n";
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string what = argv[1];
  try {
    if (what == "sync") return dagsync::bench::run_sync(argc - 2, argv + 2);
    if (what == "realtime") return dagsync::bench::run_realtime(argc - 2, argv + 2);
    if (what == "backlog") return dagsync::bench::run_backlog(argc - 2, argv + 2);
    if (what == "ingest") return dagsync::bench::run_ingest(argc - 2, argv + 2);
    if (what == "history") return dagsync::bench::run_history(argc - 2, argv + 2);
    if (what == "clients") return dagsync::bench::run_clients(argc - 2, argv + 2);
    if (what == "disconnect") return dagsync::bench::run_disconnect(argc - 2, argv + 2);
    if (what == "startup") return dagsync::bench::run_startup(argc - 2, argv + 2);
    if (what == "fanout") return dagsync::bench::run_fanout(argc - 2, argv + 2);
#ifdef DAGSYNC_HAVE_POSTGRESQL
    if (what == "postgres") return dagsync::bench::run_postgres(argc - 2, argv + 2);
#endif
    if (what == "reconnect") return dagsync::bench::run_reconnect(argc - 2, argv + 2);
    if (what == "idle") return dagsync::bench::run_idle(argc - 2, argv + 2);
  } catch (const std::exception& e) {
    std::cerr << "dagsync-bench " << what << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << kUsage;
  return 2;
}
