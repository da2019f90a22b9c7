// dagsync-peer's exit codes and the failure that carries one out of a command. Each code
// names one kind of outcome, so scripts can tell "try again later" (1) from "fix the
// command" (2), "this server will never take us" (3), "the store is unusable" (4) and
// "no such document" (5). README.md lists them for operators.
#pragma once

#include <stdexcept>
#include <string>

namespace dagsync::peer {

constexpr int kExitOk = 0;
// Not finished: not in sync by --timeout (the server down, refusing, or dropping us with
// errors that may heal), or another failure at run time.
constexpr int kExitFailed = 1;
// The command line or config file is wrong: unknown option, bad URL or address, empty text.
constexpr int kExitUsage = 2;
// Dialling can never succeed as given (ConnectError::permanent, a refused hello): the
// Repo stopped retrying at once.
constexpr int kExitUnreachable = 3;
// The store cannot be used: held by another process, not a dagsync store, a missing
// directory.
constexpr int kExitStore = 4;
// --doc names a document that exists neither in the store nor on the server.
constexpr int kExitNoDocument = 5;
// serve cannot listen: the address is in use or not local.
constexpr int kExitListen = 6;
// The server lets this peer only read the document: local changes stay local.
constexpr int kExitReadOnly = 7;

// Ends a command with `exit_code`; main() prints "error: <what>" on stderr.
class Failure : public std::runtime_error {
 public:
  Failure(int exit_code, const std::string& what) : std::runtime_error(what), code_(exit_code) {}
  int exit_code() const { return code_; }

 private:
  int code_;
};

}  // namespace dagsync::peer
