// The shortest complete program that syncs one document between two peers over TCP.
#include <dagsync/dagsync.h>
#include <asio.hpp>
#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

static dagsync::Bytes bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

int main() {
  asio::io_context io;  // everything runs on this loop; no hidden threads
  dagsync::Transports transports(io);
  dagsync::Repo alice(io, transports, {.peer_id = "alice"});
  dagsync::Repo bob(io, transports, {.peer_id = "bob"});

  // Both edit the same document before they meet.
  alice.commit("notes", bytes("alice: buy milk"));
  bob.commit("notes", bytes("bob: call mum"));

  // Alice listens on a port the OS picks; Bob dials it (and would redial if it dropped).
  bob.connect(alice.listen("tcp://127.0.0.1:0"));

  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!alice.in_sync_with("bob", "notes") || !bob.in_sync_with("alice", "notes")) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "not in sync after 10 s\n");
      return 1;
    }
    io.run_one_for(100ms);
  }

  for (const auto& change : bob.find("notes")->changes()) {
    std::printf("%.*s\n", static_cast<int>(change.payload().size()),
                reinterpret_cast<const char*>(change.payload().data()));
  }
  std::printf("alice and bob agree on %zu changes\n", alice.find("notes")->size());
  return 0;
}
