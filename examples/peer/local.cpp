// local: edit or list a document offline. A document is made only on purpose (--create):
// a mistyped --doc says so instead of quietly starting an empty document.
#include <asio.hpp>
#include <cstdio>

#include "exit_codes.h"
#include "format.h"
#include "log.h"
#include "options.h"
#include "store.h"

namespace dagsync::peer {

int local(const CommonOptions& common, const LocalOptions& options) {
  std::vector<Bytes> payloads;
  for (const auto& text : options.add) payloads.push_back(change_payload(text));

  asio::io_context io;
  auto logger = make_logger(common);
  Transports transports(io, {}, logger);
  Repo repo(io, transports, repo_options(common, open_store(common), logger));
  bool existed = has_document(repo, options.doc);
  if (!existed && !options.create) {
    throw Failure(kExitNoDocument,
                  "no document '" + options.doc + "' in " + common.store + " (--create makes it)");
  }
  for (auto& payload : payloads) {
    repo.commit(options.doc, std::move(payload), std::nullopt, now_ms());
  }
  const ChangeGraph& g = repo.open(options.doc);
  if (!existed && payloads.empty()) {
    // Storage holds documents by their changes: nothing is written yet.
    std::printf("%s is new and empty: it is stored with its first change (--add TEXT)\n",
                options.doc.c_str());
    return kExitOk;
  }
  if (options.list || payloads.empty()) {
    print_document(options.doc, g);
  } else {
    std::printf("added %s: %s now has %zu changes, heads %s\n",
                plural(payloads.size(), "change").c_str(), options.doc.c_str(), g.size(),
                heads_text(g).c_str());
  }
  return kExitOk;
}

}  // namespace dagsync::peer
