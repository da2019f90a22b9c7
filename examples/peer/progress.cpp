#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include "format.h"

namespace dagsync::peer {

namespace {

constexpr std::chrono::milliseconds kRedrawInterval{100};

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

Progress::Progress(asio::io_context& io, const Repo& repo, std::string doc_id)
    : timer_(io), repo_(repo), doc_id_(std::move(doc_id)), terminal_(::isatty(STDERR_FILENO)) {}

Progress::~Progress() {
  finish();
}

void Progress::start() {
  started_ = finished_ = std::chrono::steady_clock::now();
  if (!terminal_) return;
  drawing_ = true;
  draw();
  schedule();
}

void Progress::schedule() {
  timer_.expires_after(kRedrawInterval);
  timer_.async_wait([this](const std::error_code& ec) {
    if (ec || !drawing_) return;
    draw();
    schedule();
  });
}

void Progress::draw() {
  RepoMetrics m = repo_.metrics();
  double elapsed = seconds_between(started_, std::chrono::steady_clock::now());
  double rate = elapsed > 0 ? static_cast<double>(m.bytes_received) / elapsed : 0;
  std::fprintf(stderr, "\r\033[Ksyncing %s: received %s, %s (%s/s)", doc_id_.c_str(),
               plural(m.changes_received, "change").c_str(), human_bytes(m.bytes_received).c_str(),
               human_bytes(static_cast<std::uint64_t>(rate)).c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_ == started_) finished_ = std::chrono::steady_clock::now();
  if (!drawing_) return;
  draw();  // the final figures, so even a fast sync showed them once
  drawing_ = false;
  timer_.cancel();
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

std::string Progress::summary(const std::string& peer_id) const {
  RepoMetrics m = repo_.metrics();
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.2f s", seconds_between(started_, finished_));
  return "synced " + doc_id_ + " with " + peer_id + " in " + elapsed + ": received " +
         plural(m.changes_received, "change") + " (" + human_bytes(m.bytes_received) + "), sent " +
         plural(m.changes_sent, "change") + " (" + human_bytes(m.bytes_sent) + ")";
}

}  // namespace dagsync::peer
