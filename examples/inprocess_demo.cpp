// Two in-process peers with diverged histories reconcile through the sync protocol. Every
// message goes through its wire encoding; the program prints each one and the converged heads.
#include <cstdio>
#include <string>

#include "dagsync/dagsync.h"

using namespace dagsync;

namespace {

ActorId named_actor(char c) {
  ActorId a;
  a.bytes.fill(static_cast<std::uint8_t>(c));
  return a;
}

std::string heads_text(const std::vector<ChangeHash>& heads) {
  if (heads.empty()) return "-";
  std::string out;
  for (const auto& h : heads) out += (out.empty() ? "" : ",") + h.short_hex();
  return out;
}

// What the message says about its sender's history: a Bloom filter, an exact summary, or
// nothing (the peer already holds the sender's heads).
std::string history_text(const SyncMessage& m) {
  if (m.summary) {
    return "summary " + std::to_string(m.summary->levels.size()) + " level(s)/" +
           std::to_string(m.summary->encoded_size()) + " B";
  }
  if (m.have.empty()) return "no description";
  std::size_t filter_bytes = 0;
  for (const auto& h : m.have) filter_bytes += h.bloom.bits().size();
  return "filter " + std::to_string(m.have[0].bloom.entries()) + " entries/" +
         std::to_string(filter_bytes) + " B";
}

void print_message(const char* from, const char* to, const SyncMessage& m, std::size_t bytes) {
  std::printf("  %s -> %s  heads [%s]  need [%s]  %s  changes %zu  %zu B\n", from, to,
              heads_text(m.heads).c_str(), heads_text(m.need).c_str(), history_text(m).c_str(),
              m.changes.size(), bytes);
}

Bytes text(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

}  // namespace

int main() {
  ChangeGraph alice(named_actor('a')), bob(named_actor('b'));

  // A shared beginning, then both edit offline.
  for (int i = 0; i < 10; ++i) alice.commit(text("shared line " + std::to_string(i)), "setup", 0);
  bob.import_updates(alice.export_updates());
  for (int i = 0; i < 5; ++i) alice.commit(text("alice edit " + std::to_string(i)), "offline", 0);
  for (int i = 0; i < 3; ++i) bob.commit(text("bob edit " + std::to_string(i)), "offline", 0);
  std::printf("before: alice %zu changes, heads [%s]; bob %zu changes, heads [%s]\n", alice.size(),
              heads_text(alice.heads()).c_str(), bob.size(), heads_text(bob.heads()).c_str());

  SyncState alice_state, bob_state;
  std::size_t total_bytes = 0;
  for (int round = 1; round <= 10; ++round) {
    auto to_bob = generate_sync_message(alice, alice_state);
    auto to_alice = generate_sync_message(bob, bob_state);
    if (!to_bob && !to_alice) break;
    std::printf("round %d\n", round);
    if (to_bob) {
      Bytes wire = to_bob->encode();
      total_bytes += wire.size();
      print_message("alice", "bob", *to_bob, wire.size());
      receive_sync_message(bob, bob_state, SyncMessage::decode(wire));
    }
    if (to_alice) {
      Bytes wire = to_alice->encode();
      total_bytes += wire.size();
      print_message("bob", "alice", *to_alice, wire.size());
      receive_sync_message(alice, alice_state, SyncMessage::decode(wire));
    }
  }

  bool converged = alice.heads() == bob.heads() && alice.size() == bob.size();
  std::printf("after: alice %zu changes, bob %zu changes, %zu bytes on the wire\n", alice.size(),
              bob.size(), total_bytes);
  std::printf("converged heads: [%s]%s\n", heads_text(alice.heads()).c_str(),
              converged ? "" : "  (NOT CONVERGED)");
  for (const auto& h : alice.heads()) std::printf("  %s\n", h.hex().c_str());
  return converged ? 0 : 1;
}
