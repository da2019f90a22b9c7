// A real PostgreSQL server for tests, started in a temporary directory and stopped again.
//
// Contract:
// - Binaries from $DAGSYNC_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin (Debian's
//   `postgresql` package; scripts/bootstrap.sh --tests installs it). Absent binaries are an
//   exception naming what is missing: the tests fail, they never skip.
// - initdb into a fresh directory, then `postgres` listening only on a Unix socket in that
//   directory (listen_addresses = ''): no TCP port. Run as the calling user, or when that is
//   root (initdb refuses root) as the system user `dagsync-pg` if it exists, else `nobody`,
//   owning the directory.
// - Readiness is read from the server's log on a pipe ("ready to accept connections"), not
//   polled. The server is a child with a parent-death signal: it stops with the destructor,
//   and with the test process however that ends. stop() / start() restart it on the same
//   data (a server gone mid-operation).
// - fsync is off: the tests check transactions and errors, not the disk.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dagsync::test {

class PostgresServer {
 public:
  PostgresServer();  // initdb and start; throws std::runtime_error saying why not
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A key=value connection string for database `db` (default: the maintenance database).
  std::string conninfo(const std::string& db = "postgres") const;
  // The same as a postgresql:// URI.
  std::string uri(const std::string& db = "postgres") const;
  // A new, empty store (a schema of its own); returns its key=value connection string.
  std::string new_database();
  // The postgresql:// URI of a store new_database() made.
  std::string uri_of(const std::string& store) const;

  void stop();   // immediate shutdown (as a crash would), waits for the server to exit
  void start();  // on the same data directory
  bool running() const { return pid_ > 0; }
  const std::string& socket_dir() const { return dir_; }
  std::string log() const;

  // One server shared by a test binary's cases (each takes a new_database()).
  static PostgresServer& shared();

 private:
  void run_as_owner_and_wait(const std::string& program, const std::vector<std::string>& args);
  std::string bin_;
  std::string dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool drop_privileges_ = false;
  pid_t pid_ = -1;
  int log_fd_ = -1;
  std::thread log_reader_;
  mutable std::mutex log_mutex_;
  std::string log_;
  int databases_ = 0;
};

}  // namespace dagsync::test
