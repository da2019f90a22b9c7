// A sync's progress and its summary. While a sync runs and stderr is a terminal, one
// stderr line is redrawn at most every 100 ms with the changes and bytes received so far
// and the rate; it is cleared at the end. Elsewhere (pipes, logs) nothing is drawn. The
// one-line summary (summary()) is for every run.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <string>

#include "dagsync/dagsync.h"

namespace dagsync::peer {

class Progress {
 public:
  Progress(asio::io_context& io, const Repo& repo, std::string doc_id);
  ~Progress();
  // Starts drawing (when stderr is a terminal) and the clock of the summary.
  void start();
  // Stops drawing and clears the line.
  void finish();
  // "synced DOC with PEER in 0.4 s: received ..., sent ...".
  std::string summary(const std::string& peer_id) const;

 private:
  void draw();
  void schedule();

  asio::steady_timer timer_;
  const Repo& repo_;
  std::string doc_id_;
  bool terminal_;
  bool drawing_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point finished_;
};

}  // namespace dagsync::peer
