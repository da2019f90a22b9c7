// Human-readable text for documents, sizes, rates and peer statistics.
#pragma once

#include <cstdint>
#include <string>

#include "dagsync/dagsync.h"

namespace dagsync::peer {

std::string text_of(ByteView payload);
std::string human_bytes(std::uint64_t n);
std::string heads_text(const ChangeGraph& g);
std::string plural(std::uint64_t n, const std::string& one, const std::string& many = "");
void print_document(const std::string& name, const ChangeGraph& g);
void print_status(const Repo& repo);

}  // namespace dagsync::peer
