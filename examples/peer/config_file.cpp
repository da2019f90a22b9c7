#include "config_file.h"

#include <CLI/CLI.hpp>
#include <filesystem>

#include "exit_codes.h"

namespace dagsync::peer {

void apply_config_file(CLI::App& command, const std::string& path) {
  auto fail = [&](const std::string& why) {
    throw Failure(kExitUsage, "config file " + path + ": " + why);
  };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("no such file");
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(path);
  } catch (const CLI::Error& e) {
    fail(e.what());
  }
  for (const auto& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // section markers
    if (!item.parents.empty() && item.parents != std::vector<std::string>{command.get_name()}) {
      fail("unknown section [" + item.parents.front() + "] (options go at the top or in [" +
           command.get_name() + "])");
    }
    CLI::Option* option = command.get_option_no_throw("--" + item.name);
    if (!option || item.name == "config" || item.name == "help") {
      fail("unknown option '" + item.name + "'");
    }
    if (option->count() > 0) continue;  // given on the command line: that wins
    try {
      option->add_result(item.inputs);
      option->run_callback();
    } catch (const CLI::Error& e) {
      fail(item.name + ": " + e.what());
    }
  }
}

}  // namespace dagsync::peer
