#include "format.h"

#include <cstdio>

namespace dagsync::peer {

std::string text_of(ByteView payload) {
  return std::string(payload.begin(), payload.end());
}

std::string human_bytes(std::uint64_t n) {
  char buf[32];
  if (n < 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else if (n < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1024 * 1024));
  }
  return buf;
}

std::string heads_text(const ChangeGraph& g) {
  std::string out;
  for (const auto& h : g.heads()) out += (out.empty() ? "" : " ") + h.short_hex();
  return "[" + out + "]";
}

std::string plural(std::uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many.empty() ? one + "s" : many);
}

void print_document(const std::string& name, const ChangeGraph& g) {
  std::printf("%s: %zu changes, heads %s\n", name.c_str(), g.size(), heads_text(g).c_str());
  for (const Change& c : g.changes()) {
    std::printf("  %s #%llu  %s\n", c.actor().short_hex().c_str(),
                static_cast<unsigned long long>(c.seq()), text_of(c.payload()).c_str());
  }
}

void print_status(const Repo& repo) {
  auto peers = repo.peers();
  if (peers.empty()) std::printf("no peers connected\n");
  for (const auto& p : peers) {
    std::printf(
        "peer %s (%s): sync messages %llu sent / %llu received, changes %llu sent / %llu received, "
        "%s sent / %s received, %llu round trips\n",
        p.peer_id.c_str(), p.address.c_str(), static_cast<unsigned long long>(p.sync_messages_sent),
        static_cast<unsigned long long>(p.sync_messages_received),
        static_cast<unsigned long long>(p.changes_sent),
        static_cast<unsigned long long>(p.changes_received), human_bytes(p.bytes_sent).c_str(),
        human_bytes(p.bytes_received).c_str(), static_cast<unsigned long long>(p.round_trips));
  }
}

}  // namespace dagsync::peer
