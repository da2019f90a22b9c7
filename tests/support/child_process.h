// Child processes for interop tests (Node's ws client, openssl s_client): start one with its
// stdout (and optionally stderr) on a pipe read on the io_context, stdin from /dev/null, and
// wait for it without blocking the loop.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <asio.hpp>
#include <csignal>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "net_helpers.h"

extern char** environ;

namespace dagsync::test {

// The output of a child process, read on the io_context.
struct ChildOutput {
  asio::posix::stream_descriptor pipe;
  std::array<char, 4096> buffer{};
  std::string text;
  bool eof = false;

  ChildOutput(asio::io_context& io, int fd) : pipe(io, fd) {}
  void read() {
    pipe.async_read_some(asio::buffer(buffer), [this](const std::error_code& ec, std::size_t n) {
      text.append(buffer.data(), n);
      if (ec) {
        eof = true;
        return;
      }
      read();
    });
  }
};

// Starts `args` (found on PATH) with stdout, and stderr too when `with_stderr`, on a pipe;
// returns the pid and the pipe's read end.
inline std::pair<pid_t, int> spawn_with_stdout(const std::vector<std::string>& args,
                                               bool with_stderr = false) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  if (with_stderr) posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  REQUIRE_MESSAGE(rc == 0, "cannot start " << args[0] << ": " << std::strerror(rc));
  return {pid, fds[0]};
}

// Runs the loop until the child has exited and its output ended, or `deadline` (then kills
// it). Returns whether it exited by itself; `status` is waitpid's.
inline bool wait_for_child(asio::io_context& io, pid_t pid, ChildOutput& output, int& status,
                           std::chrono::milliseconds deadline) {
  bool exited = false;
  bool finished = run_until(
      io,
      [&] {
        if (output.eof && !exited) exited = ::waitpid(pid, &status, WNOHANG) == pid;
        return exited;
      },
      deadline);
  if (!finished) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  return finished;
}

// The first line of a child's output that starts with `prefix` (whole, without its
// newline), or "" when none does: the interop scripts report one result per line.
inline std::string line_starting(const std::string& text, const std::string& prefix) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    if (line.rfind(prefix, 0) == 0) return line;
    at = end + 1;
  }
  return "";
}

}  // namespace dagsync::test
