// Replays the fuzz seed corpora and every saved fuzz regression through the fuzz targets'
// checks (tests/fuzz/decoder_checks.h), so they run in every build, with or without clang.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "decoder_checks.h"
#include "helpers.h"

namespace fs = std::filesystem;

TEST_CASE("fuzz corpora and regressions replay cleanly through every decoder") {
  fs::path root = fs::path(DAGSYNC_SOURCE_DIR) / "tests" / "fuzz";
  int replayed = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::exists(root / kind)) continue;
    for (const auto& target_dir : fs::directory_iterator(root / kind)) {
      if (!target_dir.is_directory()) continue;
      int target = dagsync::fuzz::target_index(target_dir.path().filename().string());
      if (target < 0) continue;  // fuzz_tcp_framing needs a socket: its own target only
      for (const auto& file : fs::directory_iterator(target_dir.path())) {
        CAPTURE(file.path().string());
        std::ifstream in(file.path(), std::ios::binary);
        dagsync::Bytes bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
        CHECK_NOTHROW(dagsync::fuzz::check_decoder(target, bytes));
        ++replayed;
      }
    }
  }
  CHECK(replayed >= 9);
}
