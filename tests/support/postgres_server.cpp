#include "postgres_server.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace dagsync::test {

namespace {

namespace fs = std::filesystem;

// Bounds every wait for the server: a server that does not come up fails the test.
constexpr int kStartTimeoutMs = 60000;

std::string find_bin() {
  if (const char* env = std::getenv("DAGSYNC_PG_BIN"); env && *env) {
    if (!fs::exists(fs::path(env) / "initdb")) {
      throw std::runtime_error(std::string("DAGSYNC_PG_BIN=") + env + " holds no initdb");
    }
    return env;
  }
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(entry.path() / "bin" / "initdb")) found.push_back(entry.path().string());
  }
  if (found.empty()) {
    throw std::runtime_error(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin/initdb): "
        "install Debian's postgresql package (scripts/bootstrap.sh --tests does) or set "
        "DAGSYNC_PG_BIN");
  }
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return std::atoi(fs::path(a).filename().c_str()) < std::atoi(fs::path(b).filename().c_str());
  });
  return found.back() + "/bin";
}

[[noreturn]] void child_fail(const char* what) {
  std::string line =
      std::string("postgres_server child: ") + what + ": " + std::strerror(errno) + "\n";
  [[maybe_unused]] auto ignored = ::write(2, line.data(), line.size());
  ::_exit(127);
}

}  // namespace

PostgresServer::PostgresServer() {
  bin_ = find_bin();
  char pattern[] = "/tmp/dagsync-pg-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  if (::geteuid() == 0) {
    // initdb refuses root: the server runs as an unprivileged system user.
    passwd* user = ::getpwnam("dagsync-pg");
    if (!user) user = ::getpwnam("nobody");
    if (!user) throw std::runtime_error("running as root and neither dagsync-pg nor nobody exists");
    uid_ = user->pw_uid;
    gid_ = user->pw_gid;
    drop_privileges_ = true;
    if (::chown(dir_.c_str(), uid_, gid_) != 0)
      throw std::runtime_error("chown of " + dir_ + " failed");
  }
  run_as_owner_and_wait(bin_ + "/initdb", {"-D", dir_ + "/data", "-U", "dagsync", "-A", "trust",
                                           "-E", "UTF8", "--no-sync", "--no-instructions"});
  start();
}

PostgresServer::~PostgresServer() {
  stop();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void PostgresServer::run_as_owner_and_wait(const std::string& program,
                                           const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (::chdir(dir_.c_str()) != 0) child_fail("chdir");
    if (drop_privileges_ && (::setgid(gid_) != 0 || ::setuid(uid_) != 0)) child_fail("setuid");
    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    child_fail("exec");
  }
  ::close(fds[1]);
  std::string output;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(program + " failed: " + output);
  }
}

void PostgresServer::start() {
  if (pid_ > 0) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t parent = ::getpid();
  std::string program = bin_ + "/postgres";
  std::vector<std::string> args = {program,
                                   "-D",
                                   dir_ + "/data",
                                   "-k",
                                   dir_,
                                   "-c",
                                   "listen_addresses=",
                                   "-c",
                                   "fsync=off",
                                   "-c",
                                   "full_page_writes=off",
                                   "-c",
                                   "max_connections=100",
                                   "-c",
                                   "logging_collector=off",
                                   "-c",
                                   "log_min_messages=warning",
                                   "-c",
                                   "log_connections=off"};
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (::chdir(dir_.c_str()) != 0) child_fail("chdir");
    if (drop_privileges_ && (::setgid(gid_) != 0 || ::setuid(uid_) != 0)) child_fail("setuid");
    // Set after changing user (which clears it): the server dies with the test process.
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (::getppid() != parent) ::_exit(1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    child_fail("exec");
  }
  ::close(fds[1]);
  pid_ = pid;
  log_fd_ = fds[0];
  // The log says when the server is ready; read until it does (or the server exits).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  std::string seen;
  bool ready = false;
  while (!ready) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    pollfd p{log_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buffer[4096];
    ssize_t n = ::read(log_fd_, buffer, sizeof buffer);
    if (n <= 0) break;
    seen.append(buffer, static_cast<std::size_t>(n));
    ready = seen.find("ready to accept connections") != std::string::npos;
  }
  {
    std::lock_guard lock(log_mutex_);
    log_ += seen;
  }
  if (!ready) {
    stop();
    throw std::runtime_error("postgres did not start in " + dir_ + ": " + seen);
  }
  // Keep draining the log, or the server would block on a full pipe.
  log_reader_ = std::thread([this, fd = log_fd_] {
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
      std::lock_guard lock(log_mutex_);
      log_.append(buffer, static_cast<std::size_t>(n));
      if (log_.size() > (1 << 20)) log_.erase(0, log_.size() - (1 << 19));
    }
  });
}

void PostgresServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGQUIT);  // immediate shutdown: what a crash leaves behind
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  // The server's children may hold the pipe a moment longer: the reader ends with them.
  if (log_reader_.joinable()) log_reader_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
  log_fd_ = -1;
}

std::string PostgresServer::log() const {
  std::lock_guard lock(log_mutex_);
  return log_;
}

std::string PostgresServer::conninfo(const std::string& db) const {
  return "host=" + dir_ + " dbname=" + db + " user=dagsync";
}

std::string PostgresServer::uri(const std::string& db) const {
  return "postgresql:///" + db + "?host=" + dir_ + "&user=dagsync";
}

std::string PostgresServer::new_database() {
  // A schema of its own in one database: much cheaper than CREATE DATABASE, and a store
  // lives in its connection's current schema all the same.
  std::string name = "store_" + std::to_string(++databases_);
  PGconn* c = PQconnectdb(conninfo().c_str());
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, ("CREATE SCHEMA " + name).c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  if (!error.empty()) throw std::runtime_error("creating schema " + name + ": " + error);
  return conninfo() + " options='-c search_path=" + name + "'";
}

std::string PostgresServer::uri_of(const std::string& store) const {
  auto at = store.find("search_path=");
  std::string schema = store.substr(at + 12, store.find('\'', at) - at - 12);
  return uri() + "&options=-c%20search_path%3D" + schema;
}

PostgresServer& PostgresServer::shared() {
  static PostgresServer server;
  return server;
}

}  // namespace dagsync::test
