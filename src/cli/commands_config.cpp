// `p2pgrid config show`: the resolved config (defaults, --config, --set) as JSON.
#include <iostream>

#include "cli.hpp"

namespace p2pgrid::cli {

void register_config_commands() {
  Command show;
  show.name = "config show";
  show.summary = "print the resolved config (defaults + --config + --set) as JSON";
  show.usage = "[--config FILE.json] [--set key.path=value]...";
  show.run = [](Invocation& inv) {
    std::cout << inv.config.values().dump(2) << "\n";
    return 0;
  };
  registry().push_back(show);
}

}  // namespace p2pgrid::cli
