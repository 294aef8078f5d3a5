// Network queries, consistency checks (validate_network) and the radial structure of a feeder
// (build_radial_topology: loop / island / impedance checks, breadth-first order from the slack).
#include "p2pgrid/core/format.hpp"
#include "p2pgrid/network/network.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "p2pgrid/core/error.hpp"

namespace p2pgrid {

int Network::bus_index(int id) const {
  for (int i = 0; i < num_buses(); ++i) {
    if (bus_id[i] == id) return i;
  }
  return -1;
}

double Network::total_load_kw() const {
  return std::accumulate(p_load_kw.begin(), p_load_kw.end(), 0.0);
}

double Network::total_load_kvar() const {
  return std::accumulate(q_load_kvar.begin(), q_load_kvar.end(), 0.0);
}

namespace {


// "from-to" in case bus numbers, falling back to indices when they are out of range.
std::string branch_label(const Network& net, int k) {
  auto id = [&](int bus) {
    return (bus >= 0 && bus < net.num_buses()) ? std::to_string(net.bus_id[bus])
                                               : "#" + std::to_string(bus);
  };
  return id(net.from_bus[k]) + "-" + id(net.to_bus[k]);
}

int find_root(std::vector<int>& parent, int i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

}  // namespace

void validate_network(const Network& net, const std::string& where) {
  auto fail = [&](const std::string& what) { throw Error(where + ": " + what); };
  const std::size_t nb = net.bus_id.size();
  const std::size_t nl = net.from_bus.size();

  if (!std::isfinite(net.base_mva) || net.base_mva <= 0.0) {
    fail("base_mva must be a positive number, got " + format_double(net.base_mva));
  }
  if (nb == 0) fail("the network has no buses");
  auto check_size = [&](const char* name, std::size_t size, std::size_t expected, const char* ref) {
    if (size != expected) {
      fail(std::string(name) + " has " + std::to_string(size) + " entries but " + ref + " has " +
           std::to_string(expected));
    }
  };
  check_size("base_kv", net.base_kv.size(), nb, "bus_id");
  check_size("p_load_kw", net.p_load_kw.size(), nb, "bus_id");
  check_size("q_load_kvar", net.q_load_kvar.size(), nb, "bus_id");
  check_size("g_shunt_kw", net.g_shunt_kw.size(), nb, "bus_id");
  check_size("b_shunt_kvar", net.b_shunt_kvar.size(), nb, "bus_id");
  check_size("v_min_pu", net.v_min_pu.size(), nb, "bus_id");
  check_size("v_max_pu", net.v_max_pu.size(), nb, "bus_id");
  check_size("to_bus", net.to_bus.size(), nl, "from_bus");
  check_size("r_ohm", net.r_ohm.size(), nl, "from_bus");
  check_size("x_ohm", net.x_ohm.size(), nl, "from_bus");
  check_size("r_pu", net.r_pu.size(), nl, "from_bus");
  check_size("x_pu", net.x_pu.size(), nl, "from_bus");
  check_size("b_pu", net.b_pu.size(), nl, "from_bus");
  check_size("in_service", net.in_service.size(), nl, "from_bus");

  if (net.slack_bus < 0 || net.slack_bus >= net.num_buses()) {
    fail("slack_bus index " + std::to_string(net.slack_bus) + " is out of range [0, " +
         std::to_string(nb) + ")");
  }
  if (!std::isfinite(net.v_slack_pu) || net.v_slack_pu <= 0.0) {
    fail("v_slack_pu must be a positive number, got " + format_double(net.v_slack_pu));
  }

  std::unordered_map<int, std::size_t> seen;
  for (std::size_t i = 0; i < nb; ++i) {
    const std::string bus = "bus " + std::to_string(net.bus_id[i]);
    auto [it, inserted] = seen.emplace(net.bus_id[i], i);
    if (!inserted) {
      fail(bus + " appears twice (entries " + std::to_string(it->second) + " and " +
           std::to_string(i) + "): bus numbers must be unique");
    }
    if (!std::isfinite(net.base_kv[i]) || net.base_kv[i] <= 0.0) {
      fail(bus + ": base_kv must be a positive number, got " + format_double(net.base_kv[i]));
    }
    const std::pair<const char*, double> values[] = {
        {"p_load_kw", net.p_load_kw[i]},   {"q_load_kvar", net.q_load_kvar[i]},
        {"g_shunt_kw", net.g_shunt_kw[i]}, {"b_shunt_kvar", net.b_shunt_kvar[i]},
        {"v_min_pu", net.v_min_pu[i]},     {"v_max_pu", net.v_max_pu[i]}};
    for (const auto& [name, v] : values) {
      if (!std::isfinite(v)) fail(bus + ": " + name + " is not a finite number (" + format_double(v) + ")");
    }
    // v_min == v_max is legitimate: MATPOWER's feeder cases pin the slack at Vmin = Vmax = 1.
    if (net.v_min_pu[i] < 0.0 || net.v_min_pu[i] > net.v_max_pu[i]) {
      fail(bus + ": voltage limits must satisfy 0 <= v_min_pu <= v_max_pu, got v_min_pu " +
           format_double(net.v_min_pu[i]) + ", v_max_pu " + format_double(net.v_max_pu[i]));
    }
  }

  for (std::size_t k = 0; k < nl; ++k) {
    const int f = net.from_bus[k];
    const int t = net.to_bus[k];
    const std::string branch = "branch " + std::to_string(k + 1);
    if (f < 0 || f >= net.num_buses() || t < 0 || t >= net.num_buses()) {
      fail(branch + ": bus index out of range (from " + std::to_string(f) + ", to " +
           std::to_string(t) + ", " + std::to_string(nb) + " buses)");
    }
    if (f == t) {
      fail(branch + " (" + branch_label(net, static_cast<int>(k)) + ") connects a bus to itself");
    }
    const std::pair<const char*, double> values[] = {{"r_ohm", net.r_ohm[k]},
                                                     {"x_ohm", net.x_ohm[k]},
                                                     {"r_pu", net.r_pu[k]},
                                                     {"x_pu", net.x_pu[k]},
                                                     {"b_pu", net.b_pu[k]}};
    for (const auto& [name, v] : values) {
      if (!std::isfinite(v)) {
        fail(branch + " (" + branch_label(net, static_cast<int>(k)) + "): " + name +
             " is not a finite number (" + format_double(v) + ")");
      }
    }
    if (net.in_service[k] > 1) {
      fail(branch + " (" + branch_label(net, static_cast<int>(k)) +
           "): in_service must be 0 or 1, got " + std::to_string(net.in_service[k]));
    }
  }
}

RadialTopology build_radial_topology(const Network& net, const std::string& where) {
  const int nb = net.num_buses();
  const int nl = net.num_branches();
  if (net.slack_bus < 0 || net.slack_bus >= nb) {
    throw Error(where + ": slack bus index " + std::to_string(net.slack_bus) + " is out of range");
  }

  // Impedances first: a zero-impedance branch would make the sweep divide by zero. A branch with
  // r = 0 and x > 0 (case141's 86-87, x = 1e-5 ohm) is fine. Open branches carry no current.
  for (int k = 0; k < nl; ++k) {
    if (!net.in_service[k]) continue;
    const int f = net.from_bus[k];
    const int t = net.to_bus[k];
    if (f < 0 || f >= nb || t < 0 || t >= nb) {
      throw Error(where + ": branch " + std::to_string(k + 1) + " refers to a bus index out of " +
                  "range (from " + std::to_string(f) + ", to " + std::to_string(t) + ")");
    }
    if (f == t) {
      throw Error(where + ": branch " + branch_label(net, k) + " connects a bus to itself");
    }
    if (net.r_pu[k] < 0.0 || (net.r_pu[k] <= 0.0 && net.x_pu[k] <= 0.0)) {
      throw Error(where + ": branch " + branch_label(net, k) + " has a non-positive impedance (r " +
                  format_double(net.r_pu[k]) + " p.u., x " + format_double(net.x_pu[k]) +
                  " p.u.): r must be >= 0 and r or x must be > 0");
    }
  }

  // Loops: the first in-service branch (in case order) that joins two already-connected buses.
  std::vector<int> root(nb);
  std::iota(root.begin(), root.end(), 0);
  for (int k = 0; k < nl; ++k) {
    if (!net.in_service[k]) continue;
    const int a = find_root(root, net.from_bus[k]);
    const int b = find_root(root, net.to_bus[k]);
    if (a == b) {
      throw Error(where + ": branch " + branch_label(net, k) +
                  " closes a loop: the in-service branches must form a tree (a radial feeder)");
    }
    root[a] = b;
  }

  // Breadth-first order from the slack over in-service branches.
  std::vector<std::vector<std::pair<int, int>>> adjacent(nb);  // (neighbour, branch)
  for (int k = 0; k < nl; ++k) {
    if (!net.in_service[k]) continue;
    adjacent[net.from_bus[k]].emplace_back(net.to_bus[k], k);
    adjacent[net.to_bus[k]].emplace_back(net.from_bus[k], k);
  }
  RadialTopology topo;
  topo.order.reserve(nb);
  topo.parent_bus.assign(nb, -1);
  topo.parent_branch.assign(nb, -1);
  topo.depth.assign(nb, -1);
  topo.order.push_back(net.slack_bus);
  topo.depth[net.slack_bus] = 0;
  for (std::size_t head = 0; head < topo.order.size(); ++head) {
    const int u = topo.order[head];
    for (const auto& [v, k] : adjacent[u]) {
      if (topo.depth[v] >= 0) continue;  // the parent (no loops remain after the check above)
      topo.depth[v] = topo.depth[u] + 1;
      topo.parent_bus[v] = u;
      topo.parent_branch[v] = k;
      topo.order.push_back(v);
    }
  }
  if (static_cast<int>(topo.order.size()) != nb) {
    int first = -1;
    for (int i = 0; i < nb && first < 0; ++i) {
      if (topo.depth[i] < 0) first = i;
    }
    const int unreachable = nb - static_cast<int>(topo.order.size());
    throw Error(where + ": bus " + std::to_string(net.bus_id[first]) +
                " is not connected to the slack bus " + std::to_string(net.bus_id[net.slack_bus]) +
                " by in-service branches (an island; " + std::to_string(unreachable) +
                (unreachable == 1 ? " bus" : " buses") + " unreachable in all)");
  }
  return topo;
}

}  // namespace p2pgrid
