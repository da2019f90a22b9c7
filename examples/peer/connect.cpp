// connect: sync one document with a server, then act (sync, add, list, status) or, without
// an action, take commands from stdin. Outcomes are told as they are: a change is "saved
// locally" when stored, "delivered" once the server holds it; a permanent refusal ends at
// once (kExitUnreachable), a transient one retries until --timeout and ends with its last
// reason (kExitFailed). A document missing here is asked of the server (request()) rather
// than made, unless --create.
#include <unistd.h>

#include <asio.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>

#include "addresses.h"
#include "exit_codes.h"
#include "format.h"
#include "log.h"
#include "options.h"
#include "progress.h"
#include "store.h"

namespace dagsync::peer {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPollInterval{20};
// The goodbye ends by itself after RepoOptions::goodbye_timeout; this only bounds the wait.
constexpr std::chrono::seconds kGoodbyeWait{5};
constexpr std::chrono::milliseconds kDeliveryCheckInterval{100};

// The client's TLS settings: the CA that must have signed the server's certificate.
TransportOptions transport_options(const ConnectCliOptions& options) {
  TransportOptions to;
  to.tls.ca_file = options.ca;
  return to;
}

class ConnectCommand {
 public:
  ConnectCommand(const CommonOptions& common, const ConnectCliOptions& options)
      : common_(common),
        options_(options),
        logger_(make_logger(common)),
        transports_(io_, transport_options(options), logger_),
        repo_(io_, transports_, repo_options(common, open_store(common), logger_)) {}

  int run() {
    std::optional<Bytes> payload;
    if (options_.action == "add") payload = change_payload(options_.text);
    if (has_document(repo_, options_.doc) || options_.create) {
      repo_.open(options_.doc);
      doc_ready_ = true;
    }
    if (payload && doc_ready_) {
      commit(std::move(*payload));  // saved before dialling: kept whatever the network does
      payload.reset();
    }
    auto sub = repo_.on_peer_event([this](const PeerEvent& e) { on_event(e); });
    repo_.connect(options_.url, ConnectOptions{"", options_.token});
    if (options_.action.empty()) return interactive();

    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options_.timeout_s));
    Progress progress(io_, repo_, options_.doc);
    progress.start();
    int outcome = wait_in_sync(deadline);
    if (outcome == kExitOk && payload) {
      // The document came from the server: the change goes on top of what it holds.
      commit(std::move(*payload));
      outcome = wait_in_sync(deadline);
    }
    progress.finish();
    if (outcome != kExitOk) throw Failure(outcome, failure_text(outcome));
    if (!undelivered_.empty()) {
      std::printf("delivered to %s\n", peer_.c_str());
      undelivered_.clear();
    }
    if (options_.action == "sync") std::printf("%s\n", progress.summary(peer_).c_str());
    if (options_.action == "list") print_document(options_.doc, *repo_.find(options_.doc));
    if (options_.action == "status") print_status(repo_);
    std::fflush(stdout);
    leave();
    return kExitOk;
  }

 private:
  // Leaves on purpose: the server's answer to our goodbye confirms that what we sent last
  // arrived, so the next connection resumes without offering it again. Bounded by the
  // goodbye timeout; a server that does not answer only costs that next connection a few
  // messages.
  void leave() {
    repo_.disconnect(options_.url);
    auto deadline = Clock::now() + kGoodbyeWait;
    while (!repo_.peers().empty() && Clock::now() < deadline) io_.run_one_for(kPollInterval);
  }

  void commit(Bytes payload) {
    Change c = repo_.commit(options_.doc, std::move(payload), std::nullopt, now_ms());
    undelivered_.push_back(c.hash());
    std::printf("saved locally: change %s in %s (%s)%s\n", c.hash().short_hex().c_str(),
                options_.doc.c_str(), common_.store.c_str(),
                options_.action.empty() && peer_.empty()
                    ? "; not connected: it is sent when the connection is back"
                    : "");
    std::fflush(stdout);
  }

  void on_event(const PeerEvent& e) {
    switch (e.kind) {
      case PeerEvent::Kind::kConnected:
        peer_ = e.peer_id;
        last_printed_failure_.clear();
        if (!doc_ready_) {
          // Asked of the server rather than created here: a mistyped name then fails.
          asio::post(io_, [this] { repo_.request(options_.doc); });
        }
        tell("connected to " + peer_ + " (" + e.address + ")");
        break;
      case PeerEvent::Kind::kDisconnected:
        tell("disconnected from " + e.peer_id + " (" + e.detail + ")" +
             (e.final ? "" : "; reconnecting"));
        peer_.clear();
        failed(e);
        break;
      case PeerEvent::Kind::kConnectFailed:
        if (!e.final && e.detail != last_printed_failure_) {
          tell("cannot reach " + options_.url + ": " + e.detail + "; retrying");
          last_printed_failure_ = e.detail;
        }
        failed(e);
        break;
      case PeerEvent::Kind::kUnavailable:
        if (e.detail == options_.doc) unavailable_ = true;
        break;
      case PeerEvent::Kind::kStorageFailed:
        tell("storage failed: " + e.detail);
        break;
      case PeerEvent::Kind::kReadOnly:
        if (e.detail == options_.doc) {
          read_only_ = true;
          tell(e.peer_id + " lets this peer only read " + e.detail +
               ": local changes stay in the store and are not delivered");
        }
        break;
    }
    if (options_.action.empty() && (!final_error_.empty() || unavailable_)) io_.stop();
  }

  void failed(const PeerEvent& e) {
    last_error_ = e.detail;
    if (e.final) final_error_ = e.detail;
  }

  // Interactive mode only: what happens to the link is news to the person at the prompt.
  void tell(const std::string& text) {
    if (!options_.action.empty()) return;
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }

  // Runs the loop until in sync with the server (kExitOk) or another outcome.
  int wait_in_sync(Clock::time_point deadline) {
    while (true) {
      if (!final_error_.empty()) return kExitUnreachable;
      if (unavailable_) return kExitNoDocument;
      if (read_only_) return kExitReadOnly;
      if (!peer_.empty() && admitted() && repo_.in_sync_with(peer_, options_.doc)) {
        doc_ready_ = true;
        return kExitOk;
      }
      if (Clock::now() > deadline) return kExitFailed;
      io_.run_one_for(kPollInterval);
    }
  }

  // The server sent something after its hello: it read ours and did not refuse us (the
  // hellos cross before either is checked, and a resumed session may find an unchanged
  // document in sync from its saved state before a refusal arrives). A resumed session
  // with nothing to sync shows it by its first heartbeat.
  bool admitted() const {
    for (const auto& p : repo_.peers()) {
      if (p.peer_id == peer_ && p.connected && p.frames_received >= 2) return true;
    }
    return false;
  }

  std::string failure_text(int outcome) const {
    std::string text;
    if (outcome == kExitNoDocument) {
      return "no document '" + options_.doc + "' in " + common_.store + " or on " + peer_ + " (" +
             options_.url + "); --create makes it";
    }
    if (outcome == kExitReadOnly) {
      return peer_ + " (" + options_.url + ") lets this peer only read '" + options_.doc +
             "': its local changes stay in " + common_.store + " and were not delivered";
    }
    if (outcome == kExitUnreachable) {
      text = "cannot sync with " + options_.url + ": " + final_error_ + " (retrying cannot help)";
    } else {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g s", options_.timeout_s);
      text = "not in sync with " + options_.url + " after " + seconds;
      if (!last_error_.empty()) {
        text += ": " + last_error_;
      } else if (!peer_.empty()) {
        text += ": connected to " + peer_ + ", still syncing";
      }
    }
    if (!undelivered_.empty()) {
      text += "\n" + plural(undelivered_.size(), "change") + " saved locally in " + common_.store +
              " but not delivered: sent with the next sync";
    } else if (!doc_ready_) {
      text += "\ndocument '" + options_.doc + "' is not in " + common_.store +
              " and could not be fetched";
    }
    return text;
  }

  int interactive() {
    tell("connecting to " + options_.url + " for " + options_.doc +
         "; commands: add TEXT | list | heads | status | quit");
    asio::posix::stream_descriptor input(io_, ::dup(STDIN_FILENO));
    asio::streambuf buffer;
    std::function<void()> read_line = [&] {
      asio::async_read_until(input, buffer, '\n', [&](const std::error_code& ec, std::size_t) {
        if (ec) return io_.stop();  // end of input: like quit
        std::string line;
        std::getline(std::istream(&buffer) >> std::ws, line);
        if (line == "quit") return io_.stop();
        command(line);
        read_line();
      });
    };
    read_line();
    asio::steady_timer delivery(io_);
    std::function<void()> check = [&] {
      delivery.expires_after(kDeliveryCheckInterval);
      delivery.async_wait([&](const std::error_code& ec) {
        if (ec) return;
        check_delivery();
        check();
      });
    };
    check();
    io_.run();
    delivery.cancel();
    io_.restart();
    input.close();
    leave();
    if (!final_error_.empty()) throw Failure(kExitUnreachable, failure_text(kExitUnreachable));
    if (unavailable_) throw Failure(kExitNoDocument, failure_text(kExitNoDocument));
    check_delivery();
    if (undelivered_.empty()) return kExitOk;
    // Before leaving, give the last edits the chance to reach the server.
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options_.timeout_s));
    int outcome = wait_in_sync(deadline);
    if (outcome != kExitOk) throw Failure(outcome, failure_text(outcome));
    io_.poll();
    check_delivery();
    return kExitOk;
  }

  void check_delivery() {
    if (peer_.empty()) return;
    if (!doc_ready_ && repo_.in_sync_with(peer_, options_.doc)) {
      doc_ready_ = true;
      tell("fetched " + options_.doc + " from " + peer_ + ": " +
           plural(repo_.find(options_.doc)->size(), "change"));
    }
    if (!undelivered_.empty() && repo_.peer_has_our_changes(peer_, options_.doc)) {
      tell("delivered " + plural(undelivered_.size(), "change") + " to " + peer_);
      undelivered_.clear();
    }
  }

  void command(const std::string& line) {
    bool needs_doc =
        line == "add" || line.rfind("add ", 0) == 0 || line == "list" || line == "heads";
    if (needs_doc && !doc_ready_) {
      tell("document " + options_.doc + " is not here yet: it is asked of the server");
    } else if (line == "add" || line.rfind("add ", 0) == 0) {
      try {
        commit(change_payload(line.size() > 4 ? line.substr(4) : ""));
      } catch (const Failure& e) {
        tell(std::string("refused: ") + e.what());
      }
    } else if (line == "list") {
      print_document(options_.doc, *repo_.find(options_.doc));
    } else if (line == "heads") {
      std::printf("%s\n", heads_text(*repo_.find(options_.doc)).c_str());
    } else if (line == "status") {
      print_status(repo_);
    } else if (!line.empty()) {
      std::printf("unknown command: %s\n", line.c_str());
    }
    std::fflush(stdout);
  }

  const CommonOptions& common_;
  const ConnectCliOptions& options_;
  asio::io_context io_;
  std::shared_ptr<spdlog::logger> logger_;
  Transports transports_;
  Repo repo_;
  bool doc_ready_ = false;  // the document exists here (stored, --create, or fetched)
  std::vector<ChangeHash> undelivered_;
  std::string peer_;  // the connected server's id; empty while not connected
  std::string last_error_;
  std::string final_error_;  // the Repo stopped dialling: retrying cannot help
  bool read_only_ = false;   // the server ignores our changes to the document
  std::string last_printed_failure_;
  bool unavailable_ = false;  // the server does not have the requested document
};

}  // namespace

int connect(const CommonOptions& common, const ConnectCliOptions& options) {
  check_dial_url(options.url);
  ConnectCommand command(common, options);
  return command.run();
}

}  // namespace dagsync::peer
