// `p2pgrid config show`: the resolved config (defaults, --config, --set) as JSON.
#include <iostream>

#include "cli.hpp"

namespace p2pgrid::cli {

void register_config_commands() {
  Command show;
  show.name = "config show";
  show.summary =
      "print the resolved config (defaults + --config + --set) as JSON, after checking its values";
  show.usage = "[--config FILE.json] [--set key.path=value]...";
  show.run = [](Invocation& inv) {
    // Values as the commands read them (ranges, names, the env spec and its network and
    // profiles), so that a sweep's configs can be checked before they are submitted.
    check_rollout_config(inv.config);
    std::cout << inv.config.values().dump(2) << "\n";
    return 0;
  };
  registry().push_back(show);
}

}  // namespace p2pgrid::cli
