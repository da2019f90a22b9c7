// A program outside the project, built against the installed headers and dagsync.pc.
#include <dagsync/dagsync.h>

#include <cstdio>

int main() {
  dagsync::ChangeGraph a, b;
  a.commit({'h', 'i'}, "from an installed dagsync", 0);
  b.commit({'y', 'o'});
  dagsync::SyncState sa, sb;
  for (int i = 0; i < 10; ++i) {
    auto x = dagsync::generate_sync_message(a, sa);
    auto y = dagsync::generate_sync_message(b, sb);
    if (!x && !y) break;
    if (x) dagsync::receive_sync_message(b, sb, dagsync::SyncMessage::decode(x->encode()));
    if (y) dagsync::receive_sync_message(a, sa, dagsync::SyncMessage::decode(y->encode()));
  }
  bool ok = a.heads() == b.heads() && a.size() == 2;
  std::printf("consumer: %s, %zu changes\n", ok ? "converged" : "NOT converged", a.size());
  return ok ? 0 : 1;
}
