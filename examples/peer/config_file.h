// serve --config FILE: the options of a command read from a TOML or INI file by CLI11's own
// config reader (CLI::ConfigTOML, which reads both). Keys are the long option names
// without dashes (store, tcp, ws, metrics, peer-id, log-format, verbose), at the top level
// or in a [serve] section. A flag given on the command line wins over the file. An unknown
// key, a missing file or a bad value is a usage error (kExitUsage) naming the key.
//
// CLI11 2.1 reads config files only for the top-level app, never for a subcommand, so the
// file is applied here, after parsing, to the subcommand's options.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace dagsync::peer {

void apply_config_file(CLI::App& command, const std::string& path);

}  // namespace dagsync::peer
