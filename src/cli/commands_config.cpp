// `p2pgrid config show`: the resolved config (defaults, --config, --set) as JSON.
#include <iostream>

#include "cli.hpp"

namespace p2pgrid::cli {

void register_config_commands() {
  Command show;
  show.name = "config show";
  show.summary = "print the resolved config (defaults + --config + --set) as JSON";
  show.usage = "[--config FILE.json] [--set key.path=value]... [--check]";
  show.flags = {{"--check",
                 "first check the values as rollout, study, expert and the benches read them "
                 "(the env spec with its network and profiles, days, policy, expert settings, "
                 "bench counts)",
                 false}};
  show.run = [](Invocation& inv) {
    // Keys and types are always checked; values only with --check, because the env's settings
    // need not fit a config meant for `powerflow` alone (another feeder, no prosumers' buses).
    if (inv.has("--check")) check_config(inv.config);
    std::cout << inv.config.values().dump(2) << "\n";
    return 0;
  };
  registry().push_back(show);
}

}  // namespace p2pgrid::cli
