// Peer-chosen text in log lines: escaped so that a peer cannot forge lines or send control
// characters to an operator's terminal (lib/session/src/log_text.h).
#include "log_text.h"
#include "net_helpers.h"

namespace dagsync::test {
namespace {

TEST_CASE("log text: control characters and backslashes are escaped, the rest kept") {
  CHECK(log_text("plain id-42") == "plain id-42");
  CHECK(log_text("a\nb") == "a\\nb");
  CHECK(log_text("\r\t\\") == "\\r\\t\\\\");
  CHECK(log_text(std::string("\x1b[2J\x7f\x00", 6)) == "\\x1b[2J\\x7f\\x00");
  CHECK(log_text("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 stays readable
}

TEST_CASE("log text: a peer id with a newline cannot forge a server log line") {
  asio::io_context io;
  Transports transports(io, {}, quiet_logger());
  CapturedLog log;
  RepoOptions so = repo_options("server");
  so.logger = log.logger;
  Repo server(io, transports, so);
  std::string url = server.listen("mem://log-forgery");
  RepoOptions co = repo_options("mallory\nserver: admin connected");
  Repo client(io, transports, co);
  client.commit("notes", text("x"));
  client.connect(url);
  REQUIRE(run_until(io, [&] { return client.in_sync_with("server", "notes"); }));
  std::string text = log.text();
  CHECK(text.find("mallory\\nserver: admin connected") != std::string::npos);
  CHECK(text.find("\nserver: admin connected") == std::string::npos);
}

}  // namespace
}  // namespace dagsync::test
