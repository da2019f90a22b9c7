// Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF).
#pragma once

#include <string_view>

namespace dagsync {
bool is_valid_utf8(std::string_view s);
}
