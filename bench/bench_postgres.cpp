// Scenario (h) two servers on one PostgreSQL: client A commits through server A; the time
// until client B, connected to server B, has the change (PostgreSQL's NOTIFY from A's
// commit to B's listener, B reads the change and pushes it). TCP loopback, one process.
// Without --store, a PostgreSQL server of its own is started in a temporary directory
// (tests/support/postgres_server.h, as the tests do).
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio.hpp>
#include <iostream>
#include <memory>

#include "dagsync/error.h"
#include "dagsync/postgres_storage.h"
#include "dagsync/repo.h"
#include "dagsync/transports.h"
#include "postgres_server.h"
#include "report.h"

namespace dagsync::bench {
namespace {

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int run_postgres(int argc, char** argv) {
  Args args(argc, argv, {{"rounds", "300"}, {"store", ""}});
  const std::size_t rounds = args.num("rounds");
  std::unique_ptr<test::PostgresServer> own;
  std::string store = args.str("store");
  if (store.empty()) {
    std::cerr << "postgres: starting a PostgreSQL server in a temporary directory\n";
    own = std::make_unique<test::PostgresServer>();
    store = own->new_database();
  }
  asio::io_context io;
  auto quiet =
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  Transports transports(io, {}, quiet);
  auto make = [&](const std::string& id, std::shared_ptr<Storage> storage) {
    RepoOptions o;
    o.peer_id = id;
    o.logger = quiet;
    o.storage = std::move(storage);
    o.share_policy = share_everything();
    return std::make_unique<Repo>(io, transports, o);
  };
  auto server_a = make("server-a", std::make_shared<PostgresStorage>(store));
  auto server_b = make("server-b", std::make_shared<PostgresStorage>(store));
  std::string url_a = server_a->listen("tcp://127.0.0.1:0");
  std::string url_b = server_b->listen("tcp://127.0.0.1:0");
  auto client_a = make("client-a", nullptr);
  auto client_b = make("client-b", nullptr);
  const std::string doc = "doc";
  client_a->commit(doc, Bytes(64, 1));
  client_a->connect(url_a);
  while (!server_a->find(doc) || server_a->find(doc)->size() < 1) io.run_one();
  client_b->open(doc);
  client_b->connect(url_b);
  while (client_b->find(doc)->size() < 1) io.run_one();

  std::vector<double> latencies_ms;
  for (std::size_t i = 0; i < rounds; ++i) {
    std::size_t want = client_b->find(doc)->size() + 1;
    double start = now_ms();
    client_a->commit(doc, Bytes(64, static_cast<std::uint8_t>(i)));
    while (client_b->find(doc)->size() < want) io.run_one();
    latencies_ms.push_back(now_ms() - start);
  }
  double p50 = pct(latencies_ms, 0.50), p99 = pct(latencies_ms, 0.99);
  std::string label = "(h) two servers on one PostgreSQL, client of A to client of B";
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": p50")
      .add("value", p50)
      .add("unit", "ms")
      .add("rounds", static_cast<std::int64_t>(rounds))
      .add("target", "<= 20 ms")
      .add("target_ok", p50 <= 20.0)
      .print();
  JsonLine()
      .add("kind", "figure")
      .add("name", label + ": p99")
      .add("value", p99)
      .add("unit", "ms")
      .add("rounds", static_cast<std::int64_t>(rounds))
      .print();
  std::cerr << label << ": " << rounds << " rounds, p50 " << p50 << " ms, p99 " << p99 << " ms\n";
  return 0;
}

}  // namespace dagsync::bench
