// A sans-I/O program outside the project: only the sync core, built against the installed
// headers and dagsync-core.pc (no Asio, spdlog or SQLite flags, no libdagsync).
#include <dagsync/core.h>

#include <cstdio>

int main() {
  dagsync::ChangeGraph a, b;
  a.commit({'c', 'o', 'r', 'e'}, "from the installed core", 0);
  b.commit({'o', 'n', 'l', 'y'});
  b.commit({'!'});
  dagsync::SyncState sa, sb;
  int messages = 0;
  for (int i = 0; i < 10; ++i) {
    auto x = dagsync::generate_sync_message(a, sa);
    auto y = dagsync::generate_sync_message(b, sb);
    if (!x && !y) break;
    if (x) ++messages, dagsync::receive_sync_message(b, sb, dagsync::SyncMessage::decode(x->encode()));
    if (y) ++messages, dagsync::receive_sync_message(a, sa, dagsync::SyncMessage::decode(y->encode()));
  }
  bool ok = a.heads() == b.heads() && a.size() == 3 && b.size() == 3;
  std::printf("core consumer: %s, %zu changes, %d messages\n", ok ? "converged" : "NOT converged",
              a.size(), messages);
  return ok ? 0 : 1;
}
