// Internal: TransportOptions::tls in the C++17 engine's terms (ws_core.h cannot include
// transport.h); the fields mean what TlsOptions documents.
#pragma once

#include <string>

namespace dagsync::net {

struct TlsSettings {
  std::string cert_chain_file;
  std::string private_key_file;
  std::string ca_file;
  std::string client_ca_file;
  std::string server_name;
};

}  // namespace dagsync::net
