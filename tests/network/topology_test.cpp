// Radial topology (breadth-first order, parents, depths; loop / island / impedance errors) and
// validate_network's consistency checks, on hand-built feeders and on case33bw.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "support/errors.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/network/network.hpp"
#include "support/shared_data.hpp"

namespace p2pgrid {
namespace {

using test::error_of;
using test::expect_mentions;

// Buses numbered 10, 20, 30, ... (index i has case number 10 (i + 1)); branches by index.
Network make_network(int num_buses, const std::vector<std::pair<int, int>>& branches,
                     int slack = 0) {
  Network net;
  net.name = "hand";
  net.base_mva = 10.0;
  for (int i = 0; i < num_buses; ++i) {
    net.bus_id.push_back(10 * (i + 1));
    net.base_kv.push_back(12.66);
    net.p_load_kw.push_back(i == slack ? 0.0 : 50.0);
    net.q_load_kvar.push_back(i == slack ? 0.0 : 20.0);
    net.g_shunt_kw.push_back(0.0);
    net.b_shunt_kvar.push_back(0.0);
    net.v_min_pu.push_back(0.9);
    net.v_max_pu.push_back(1.1);
  }
  net.slack_bus = slack;
  for (const auto& [f, t] : branches) {
    net.from_bus.push_back(f);
    net.to_bus.push_back(t);
    net.r_pu.push_back(0.01);
    net.x_pu.push_back(0.02);
    net.b_pu.push_back(0.0);
    net.r_ohm.push_back(0.01 * net.z_base_ohm(f));
    net.x_ohm.push_back(0.02 * net.z_base_ohm(f));
    net.in_service.push_back(1);
  }
  return net;
}

TEST(Topology, BreadthFirstOrderParentsAndDepths) {
  // 10 - 20 - 30, 10 - 40 - 50
  const Network net = make_network(5, {{0, 1}, {1, 2}, {0, 3}, {3, 4}});
  const RadialTopology topo = build_radial_topology(net, "hand");
  EXPECT_EQ(topo.order, (std::vector<int>{0, 1, 3, 2, 4}));
  EXPECT_EQ(topo.parent_bus, (std::vector<int>{-1, 0, 1, 0, 3}));
  EXPECT_EQ(topo.parent_branch, (std::vector<int>{-1, 0, 1, 2, 3}));
  EXPECT_EQ(topo.depth, (std::vector<int>{0, 1, 2, 1, 2}));
}

TEST(Topology, RootsAtSlackWhateverTheBranchDirection) {
  // Same chain 10 - 20 - 30 with the slack at 30 and branches written towards it.
  const Network net = make_network(3, {{0, 1}, {1, 2}}, /*slack=*/2);
  const RadialTopology topo = build_radial_topology(net, "hand");
  EXPECT_EQ(topo.order, (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(topo.parent_bus, (std::vector<int>{1, 2, -1}));
  EXPECT_EQ(topo.parent_branch, (std::vector<int>{0, 1, -1}));
  EXPECT_EQ(topo.depth, (std::vector<int>{2, 1, 0}));
}

TEST(Topology, Case33bwIsATreeOverInServiceBranches) {
  P2P_REQUIRE_SHARED(path, "networks/case33bw.m");
  const Network net = import_matpower(path);
  const RadialTopology topo = build_radial_topology(net, path);
  ASSERT_EQ(topo.order.size(), 33u);
  EXPECT_EQ(topo.order[0], net.slack_bus);
  std::vector<int> position(33, -1);
  for (int i = 0; i < 33; ++i) position[topo.order[i]] = i;
  int max_depth = 0;
  for (int b = 0; b < 33; ++b) {
    ASSERT_GE(position[b], 0);
    max_depth = std::max(max_depth, topo.depth[b]);
    if (b == net.slack_bus) continue;
    const int p = topo.parent_bus[b];
    const int k = topo.parent_branch[b];
    EXPECT_LT(position[p], position[b]);  // parents before children
    EXPECT_EQ(topo.depth[b], topo.depth[p] + 1);
    EXPECT_EQ(net.in_service[k], 1);
    EXPECT_TRUE((net.from_bus[k] == b && net.to_bus[k] == p) ||
                (net.from_bus[k] == p && net.to_bus[k] == b));
  }
  EXPECT_EQ(max_depth, 17);  // bus 18 is 17 branches from the substation
  EXPECT_EQ(topo.depth[net.bus_index(18)], 17);
}

TEST(Topology, Case33bwWithTiesClosedHasALoop) {
  P2P_REQUIRE_SHARED(path, "networks/case33bw.m");
  Network net = import_matpower(path);
  for (auto& s : net.in_service) s = 1;
  expect_mentions(error_of([&] { build_radial_topology(net, "meshed33.json"); }),
                  {"meshed33.json: branch 21-8 closes a loop",
                   "the in-service branches must form a tree (a radial feeder)"});
}

TEST(Topology, LoopNamesBranch) {
  const Network net = make_network(4, {{0, 1}, {1, 2}, {2, 3}, {3, 1}});
  expect_mentions(error_of([&] { build_radial_topology(net, "feeder.json"); }),
                  {"feeder.json: branch 40-20 closes a loop"});
  // Two parallel branches are a loop too.
  const Network parallel = make_network(2, {{0, 1}, {1, 0}});
  expect_mentions(error_of([&] { build_radial_topology(parallel, "p.json"); }),
                  {"p.json: branch 20-10 closes a loop"});
}

TEST(Topology, OpenBranchesAreIgnored) {
  Network net = make_network(4, {{0, 1}, {1, 2}, {2, 3}, {3, 1}});
  net.in_service[3] = 0;  // open the tie: a tree again
  net.r_pu[3] = 0.0;      // an open branch's impedance is irrelevant
  net.x_pu[3] = 0.0;
  const RadialTopology topo = build_radial_topology(net, "feeder.json");
  EXPECT_EQ(topo.depth, (std::vector<int>{0, 1, 2, 3}));
}

TEST(Topology, IslandNamesBus) {
  const Network net = make_network(5, {{0, 1}, {1, 2}, {3, 4}});
  expect_mentions(error_of([&] { build_radial_topology(net, "feeder.json"); }),
                  {"feeder.json: bus 40 is not connected to the slack bus 10", "island",
                   "2 buses unreachable"});
  Network open = make_network(3, {{0, 1}, {1, 2}});
  open.in_service[1] = 0;
  expect_mentions(error_of([&] { build_radial_topology(open, "feeder.json"); }),
                  {"bus 30 is not connected"});
}

TEST(Topology, NonPositiveImpedanceNamesBranch) {
  Network net = make_network(3, {{0, 1}, {1, 2}});
  net.r_pu[1] = -0.01;
  expect_mentions(error_of([&] { build_radial_topology(net, "feeder.json"); }),
                  {"feeder.json: branch 20-30 has a non-positive impedance"});
  net.r_pu[1] = 0.0;
  net.x_pu[1] = 0.0;
  expect_mentions(error_of([&] { build_radial_topology(net, "feeder.json"); }),
                  {"feeder.json: branch 20-30 has a non-positive impedance"});
  net.x_pu[1] = -0.02;
  EXPECT_NE(error_of([&] { build_radial_topology(net, "feeder.json"); }), "(no error)");
  net.x_pu[1] = 6.4e-7;  // r = 0 with a positive reactance is a valid (switch-like) branch
  EXPECT_NO_THROW(build_radial_topology(net, "feeder.json"));
}

TEST(NetworkModel, BusIndexAndTotals) {
  const Network net = make_network(4, {{0, 1}, {1, 2}, {2, 3}});
  EXPECT_EQ(net.bus_index(30), 2);
  EXPECT_EQ(net.bus_index(31), -1);
  EXPECT_DOUBLE_EQ(net.total_load_kw(), 150.0);
  EXPECT_DOUBLE_EQ(net.total_load_kvar(), 60.0);
  EXPECT_DOUBLE_EQ(net.z_base_ohm(0), 12.66 * 12.66 / 10.0);
}

TEST(NetworkValidate, AcceptsConsistentNetworkAndPinnedSlack) {
  Network net = make_network(3, {{0, 1}, {1, 2}});
  net.v_min_pu[0] = net.v_max_pu[0] = 1.0;  // as MATPOWER's feeder cases pin the slack
  EXPECT_NO_THROW(validate_network(net, "ok.json"));
}

TEST(NetworkValidate, ReportsEachProblem) {
  const Network good = make_network(3, {{0, 1}, {1, 2}});
  auto check = [&](const std::function<void(Network&)>& edit,
                   std::initializer_list<std::string> parts) {
    Network net = good;
    edit(net);
    expect_mentions(error_of([&] { validate_network(net, "bad.json"); }), parts);
  };
  check([](Network& n) { n.base_kv.pop_back(); },
        {"bad.json: base_kv has 2 entries but bus_id has 3"});
  check([](Network& n) { n.in_service.push_back(1); },
        {"bad.json: in_service has 3 entries but from_bus has 2"});
  check([](Network& n) { n.p_load_kw[1] = std::numeric_limits<double>::quiet_NaN(); },
        {"bad.json: bus 20: p_load_kw is not a finite number"});
  check([](Network& n) { n.x_pu[0] = std::numeric_limits<double>::infinity(); },
        {"bad.json: branch 1 (10-20): x_pu is not a finite number"});
  check([](Network& n) { n.v_min_pu[2] = 1.2; },
        {"bad.json: bus 30: voltage limits", "v_min_pu 1.2, v_max_pu 1.1"});
  check([](Network& n) { n.base_kv[1] = 0.0; },
        {"bad.json: bus 20: base_kv must be a positive number"});
  check([](Network& n) { n.base_mva = -1.0; }, {"bad.json: base_mva must be a positive number"});
  check([](Network& n) { n.to_bus[1] = 3; }, {"bad.json: branch 2: bus index out of range"});
  check([](Network& n) { n.to_bus[1] = 1; },
        {"bad.json: branch 2 (20-20) connects a bus to itself"});
  check([](Network& n) { n.bus_id[2] = 10; }, {"bad.json: bus 10 appears twice"});
  check([](Network& n) { n.slack_bus = 3; }, {"bad.json: slack_bus index 3 is out of range"});
  check([](Network& n) { n.v_slack_pu = 0.0; }, {"bad.json: v_slack_pu must be a positive number"});
  check([](Network& n) { n.bus_id.clear(); }, {"bad.json: the network has no buses"});
}

}  // namespace
}  // namespace p2pgrid
