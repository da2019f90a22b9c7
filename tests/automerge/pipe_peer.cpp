// One document of dagsync's core speaking Automerge's sync protocol over stdin/stdout, for
// tests/automerge/interop.js: one command a line, one reply a line (bytes in hex).
//   add HEX        an Automerge change chunk         -> ok | error MESSAGE
//   receive HEX    a sync message from the peer      -> ok | error MESSAGE
//   generate                                         -> msg HEX | none
//   save / load HEX   the sync state (Automerge's form) -> state HEX / ok
//   snapshot / restore   keep a copy of the graph / go back to it with a fresh sync state
//   heads / changes                                  -> heads H,H.. | changes HEX HEX..
#include <iostream>
#include <string>

#include "dagsync/core.h"

using namespace dagsync;
namespace am = dagsync::automerge;

int main() {
  ChangeGraph graph(ChangeFormat::kAutomerge);
  ChangeGraph snapshot(ChangeFormat::kAutomerge);
  am::SyncState state;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string cmd = line.substr(0, line.find(' '));
    std::string arg = line.size() > cmd.size() ? line.substr(cmd.size() + 1) : "";
    try {
      if (cmd == "add") {
        graph.add(Change::from_automerge(from_hex(arg)));
        std::cout << "ok\n";
      } else if (cmd == "receive") {
        am::receive_sync_message(graph, state, am::SyncMessage::decode(from_hex(arg)));
        std::cout << "ok\n";
      } else if (cmd == "generate") {
        auto m = am::generate_sync_message(graph, state);
        std::cout << (m ? "msg " + to_hex(m->encode()) : std::string("none")) << "\n";
      } else if (cmd == "save") {
        std::cout << "state " << to_hex(state.encode()) << "\n";
      } else if (cmd == "load") {
        state = am::SyncState::decode(from_hex(arg));
        std::cout << "ok\n";
      } else if (cmd == "snapshot") {
        snapshot = graph;
        std::cout << "ok\n";
      } else if (cmd == "restore") {
        graph = snapshot;
        state = am::SyncState{};
        std::cout << "ok\n";
      } else if (cmd == "heads") {
        std::string out;
        for (const auto& h : graph.heads()) out += (out.empty() ? "" : ",") + h.hex();
        std::cout << "heads " << (out.empty() ? "-" : out) << "\n";
      } else if (cmd == "changes") {
        std::cout << "changes";
        for (const auto& c : graph.changes()) std::cout << " " << to_hex(c.bytes());
        std::cout << "\n";
      } else {
        std::cout << "error unknown command " << cmd << "\n";
      }
    } catch (const Error& e) {
      std::cout << "error " << e.what() << "\n";
    }
    std::cout.flush();
  }
  return 0;
}
