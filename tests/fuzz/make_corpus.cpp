// Writes the seed corpora for the fuzz targets: valid inputs of every kind, so the fuzzer
// starts from the real formats. Usage: make_corpus DIR [AUTOMERGE_VECTORS] (fills
// DIR/<target>/; the Automerge targets' seeds are the chunks and messages recorded from the
// real package, tests/automerge/vectors/vectors.txt).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "automerge_ids.h"
#include "automerge_repo_message.h"
#include "dagsync/dagsync.h"
#include "envelope.h"
#include "frames.h"

using namespace dagsync;

namespace {
Bytes copy(ByteView v) {
  return Bytes(v.begin(), v.end());
}

void write(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void seed(const std::string& dir, const std::string& target, const std::string& name,
          const Bytes& body) {
  std::filesystem::create_directories(dir + "/" + target);
  write(dir + "/" + target + "/" + name, body);
}

// The frames one after another, as the TCP adapter reads them.
Bytes framed(std::initializer_list<Bytes> frames) {
  Bytes out;
  for (const Bytes& f : frames) {
    Bytes frame = test::tcp_frame(f);
    out.insert(out.end(), frame.begin(), frame.end());
  }
  return out;
}
}  // namespace

// Seeds from the recorded vectors: change and compressed chunks, V1 and V2 messages.
void automerge_seeds(const std::string& dir, const std::string& vectors) {
  std::ifstream in(vectors);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind, bytes;
    words >> kind >> bytes;
    std::string name = kind + "-" + std::to_string(n++);
    if (kind == "change" || kind == "compressed") {
      seed(dir, "fuzz_automerge_chunk", name, from_hex(bytes));
    } else if (kind == "message" || kind == "message_v2") {
      seed(dir, "fuzz_automerge_sync_message", name, from_hex(bytes));
    }
  }
}

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) return 2;
  std::string dir = argv[1];
  if (argc == 3) automerge_seeds(dir, argv[2]);
  ActorId one, two;
  one.bytes.fill(1);
  two.bytes.fill(2);
  ChangeGraph a(one), b(two);
  for (int i = 0; i < 3; ++i) a.commit(Bytes{'a', std::uint8_t('0' + i)}, "note", i);
  b.commit(Bytes{'b'});

  SyncState sa, sb;
  auto first = generate_sync_message(a, sa);
  receive_sync_message(b, sb, *first);
  auto reply = generate_sync_message(b, sb);
  receive_sync_message(a, sa, *reply);
  auto with_changes = generate_sync_message(a, sa);

  seed(dir, "fuzz_change", "change", copy(a.changes()[1].bytes()));
  seed(dir, "fuzz_sync_message", "first", first->encode());
  seed(dir, "fuzz_sync_message", "with-changes", with_changes->encode());
  seed(dir, "fuzz_sync_state", "state", sa.encode());
  seed(dir, "fuzz_version_vector", "vv", a.version_vector().encode());
  Envelope hello;
  hello.type = Envelope::Type::kHello;
  hello.protocol_version = 1;
  hello.peer_id = "peer";
  hello.capabilities = {"x"};
  seed(dir, "fuzz_envelope", "hello", hello.encode());
  Envelope sync;
  sync.type = Envelope::Type::kSync;
  sync.seq = 1;
  sync.doc_id = "doc";
  sync.payload = first->encode();
  seed(dir, "fuzz_envelope", "sync", sync.encode());
  Envelope with_token = hello;
  with_token.token = "secret-token";
  seed(dir, "fuzz_envelope", "hello-token", with_token.encode());
  Envelope refusal;
  refusal.type = Envelope::Type::kError;
  refusal.seq = 2;
  refusal.error = "unauthorized";
  refusal.code = Envelope::kErrorUnauthorized;
  seed(dir, "fuzz_envelope", "error-code", refusal.encode());
  Envelope read_only;
  read_only.type = Envelope::Type::kReadOnly;
  read_only.seq = 3;
  read_only.doc_id = "doc";
  seed(dir, "fuzz_envelope", "read-only", read_only.encode());
  seed(dir, "fuzz_updates", "updates", a.export_updates());
  Bytes row = copy(a.changes()[0].hash().view());
  row.insert(row.end(), a.changes()[0].bytes().begin(), a.changes()[0].bytes().end());
  seed(dir, "fuzz_storage_row", "row", row);

  seed(dir, "fuzz_tcp_framing", "two-frames", framed({hello.encode(), sync.encode()}));
  seed(dir, "fuzz_tcp_framing", "empty-frame", framed({Bytes{}}));

  // automerge-repo's messages, one of each kind a client or this server sends.
  using AmType = AutomergeRepoMessage::Type;
  std::string doc = base58check_encode(Bytes(16, 0x5a));
  AutomergeRepoMessage am;
  am.sender_id = "peer-client";
  am.target_id = "server";
  am.type = AmType::kJoin;
  am.has_peer_metadata = true;
  am.is_ephemeral = true;
  am.supported_protocol_versions = std::vector<std::string>{"1"};
  seed(dir, "fuzz_automerge_repo", "join", am.encode());
  am.type = AmType::kPeer;
  am.storage_id = "4b3c1f0e-8f9a-4d2b-9c1e-2f6a7b8c9d0e";
  am.selected_protocol_version = "1";
  seed(dir, "fuzz_automerge_repo", "peer", am.encode());
  am.type = AmType::kSync;
  am.document_id = doc;
  am.data = Bytes{0x42, 0x00, 0x00, 0x01, 0x00, 0x00};
  seed(dir, "fuzz_automerge_repo", "sync", am.encode());
  am.type = AmType::kRequest;
  seed(dir, "fuzz_automerge_repo", "request", am.encode());
  am.type = AmType::kDocUnavailable;
  seed(dir, "fuzz_automerge_repo", "doc-unavailable", am.encode());
  am.type = AmType::kEphemeral;
  am.count = 0x100000000ull;  // float64 on the wire
  am.session_id = "k2j3h4";
  am.data = Bytes{0xa1, 0x61, 'x', 0x01};
  seed(dir, "fuzz_automerge_repo", "ephemeral", am.encode());
  am.type = AmType::kError;
  am.error = "unsupported protocol version";
  seed(dir, "fuzz_automerge_repo", "error", am.encode());
  return 0;
}
