// libFuzzer targets for the decoders of untrusted bytes, one binary per decoder: meson builds
// this file once per DAGSYNC_FUZZ_TARGET value (see meson.build). The checks live in
// decoder_checks.h, shared with the replay test of the normal suite.
#include "decoder_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dagsync::fuzz::check_decoder(DAGSYNC_FUZZ_TARGET, dagsync::ByteView(data, size));
  return 0;
}
