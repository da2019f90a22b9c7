// Internal: automerge-repo's identifiers (docs/automerge.md). A document id is the
// base58check text (Bitcoin alphabet) of the document's binary id, a 16-byte UUID by
// default: base58(payload || first 4 bytes of SHA-256(SHA-256(payload))). automerge-repo
// accepts any payload length whose checksum holds, and so do we, within kMaxDocumentIdChars.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dagsync/bytes.h"

namespace dagsync {

// Longer ids than any automerge-repo makes (~28 characters for 16 bytes) are refused before
// any arithmetic: the decode is quadratic in the length.
constexpr std::size_t kMaxDocumentIdChars = 128;

// The payload of a base58check text, or nothing: a character outside the alphabet, a wrong
// checksum, too short for a checksum, or longer than kMaxDocumentIdChars.
std::optional<Bytes> base58check_decode(std::string_view text);
std::string base58check_encode(ByteView payload);

// Why `text` is not an automerge-repo document id, or nothing when it is one.
std::optional<std::string> refuse_document_id(std::string_view text);

}  // namespace dagsync
