// `p2pgrid network import` (MATPOWER .m -> project JSON) and `p2pgrid network info`.
#include <iostream>

#include "cli.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/network/network.hpp"

namespace p2pgrid::cli {
namespace {

int run_import(Invocation& inv) {
  const std::string in = inv.positional.at(0);
  std::string out = inv.flag_or("-o", "");
  if (out.empty()) throw Error("network import: give the output file with -o NAME.json");
  Network net = import_matpower(in);
  if (inv.has("--name")) net.name = inv.flags.at("--name");
  build_radial_topology(net, in);  // refuse to write a network the solvers cannot use
  write_network_json(net, out);
  std::cout << "wrote " << out << ": " << net.name << ", " << net.num_buses() << " buses, "
            << net.num_branches() << " branches, load " << net.total_load_kw() << " kW / "
            << net.total_load_kvar() << " kvar\n";
  return 0;
}

int run_info(Invocation& inv) {
  const std::string spec = inv.config.string("network.file");
  const Network net = with_config_key("network.file", spec, [&] { return load_network(spec); });
  const RadialTopology topo = build_radial_topology(net, spec);
  int in_service = 0, max_depth = 0;
  for (auto s : net.in_service) in_service += s != 0;
  for (int d : topo.depth) max_depth = std::max(max_depth, d);
  std::cout << "network      " << net.name << "\n"
            << "source       " << net.source << "\n"
            << "base         " << net.base_mva << " MVA, " << net.base_kv[net.slack_bus]
            << " kV at the slack bus " << net.bus_id[net.slack_bus] << " (V = "
            << net.v_slack_pu << " p.u.)\n"
            << "buses        " << net.num_buses() << "\n"
            << "branches     " << net.num_branches() << " (" << in_service
            << " in service), radial, depth " << max_depth << "\n"
            << "load         " << net.total_load_kw() << " kW, " << net.total_load_kvar()
            << " kvar\n";
  return 0;
}

}  // namespace

void register_network_commands() {
  Command imp;
  imp.name = "network import";
  imp.summary = "convert a MATPOWER case file (.m) into the project's network JSON";
  imp.usage = "CASE.m -o NAME.json [--name NAME]";
  imp.flags = {{"-o", "output JSON file (written atomically)"},
               {"--name", "network name stored in the JSON (default: the file's stem)"}};
  imp.min_positional = imp.max_positional = 1;
  imp.run = run_import;
  registry().push_back(imp);

  Command info;
  info.name = "network info";
  info.summary = "print a network's size, base values, topology and load";
  info.usage = "[--network FILE]";
  info.aliases = {{"--network", "network.file"}};
  info.run = run_info;
  registry().push_back(info);
}

}  // namespace p2pgrid::cli
