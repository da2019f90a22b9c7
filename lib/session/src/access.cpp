#include "dagsync/access.h"

namespace dagsync {

const char* to_string(Access access) {
  switch (access) {
    case Access::kNone:
      return "none";
    case Access::kRead:
      return "read";
    case Access::kWrite:
      return "write";
  }
  return "unknown";
}

}  // namespace dagsync
