// Project network JSON ("p2pgrid-network/1"): exact round trips, the embedded builtin:ieee141,
// load_network dispatch, and reader errors that name the file and the JSON path.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/network/network.hpp"
#include "support/errors.hpp"
#include "support/shared_data.hpp"
#include "support/temp_dir.hpp"

namespace p2pgrid {
namespace {

using test::error_of;
using test::expect_mentions;

using nlohmann::json;

// Every field, compared exactly (no tolerance: the JSON keeps full precision).
void expect_same_network(const Network& a, const Network& b, bool compare_names = true) {
  if (compare_names) {
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.source, b.source);
  }
  EXPECT_EQ(a.base_mva, b.base_mva);
  EXPECT_EQ(a.bus_id, b.bus_id);
  EXPECT_EQ(a.base_kv, b.base_kv);
  EXPECT_EQ(a.p_load_kw, b.p_load_kw);
  EXPECT_EQ(a.q_load_kvar, b.q_load_kvar);
  EXPECT_EQ(a.g_shunt_kw, b.g_shunt_kw);
  EXPECT_EQ(a.b_shunt_kvar, b.b_shunt_kvar);
  EXPECT_EQ(a.v_min_pu, b.v_min_pu);
  EXPECT_EQ(a.v_max_pu, b.v_max_pu);
  EXPECT_EQ(a.slack_bus, b.slack_bus);
  EXPECT_EQ(a.v_slack_pu, b.v_slack_pu);
  EXPECT_EQ(a.from_bus, b.from_bus);
  EXPECT_EQ(a.to_bus, b.to_bus);
  EXPECT_EQ(a.r_ohm, b.r_ohm);
  EXPECT_EQ(a.x_ohm, b.x_ohm);
  EXPECT_EQ(a.r_pu, b.r_pu);
  EXPECT_EQ(a.x_pu, b.x_pu);
  EXPECT_EQ(a.b_pu, b.b_pu);
  EXPECT_EQ(a.in_service, b.in_service);
}

// Four buses with awkward doubles (thirds, tiny shunts, an open tie line), slack not first.
Network awkward_network() {
  const std::string text =
      "mpc.baseMVA = 7;\n"
      "mpc.bus = [\n"
      "  10 1 0.1 0.2 0 0 1 1 0 12.66 1 1.1 0.9;\n"
      "  20 3 0 0 0 0 1 1.01 0 12.66 1 1 1;\n"
      "  30 1 0.3 0.1 1e-7 -3e-5 1 1 0 12.66 1 1.05 0.95;\n"
      "  40 1 0.7 0.3 0 0 1 1 0 12.66 1 1.1 0.9;\n"
      "];\n"
      "mpc.gen = [20 0 0 10 -10 1.025 100 1 10 0];\n"
      "mpc.branch = [\n"
      "  20 10 0.01 0.02 1e-6 0 0 0 0 0 1 -360 360;\n"
      "  10 30 0.03 0.01 0 0 0 0 0 0 1 -360 360;\n"
      "  20 40 0.02 0.07 0 0 0 0 0 0 1 -360 360;\n"
      "  30 40 0.05 0.05 0 0 0 0 0 0 0 -360 360;\n"
      "];\n"
      "[PQ, PV, REF, NONE, BUS_I, BUS_TYPE, PD, QD] = idx_bus;\n"
      "[F_BUS, T_BUS, BR_R, BR_X] = idx_brch;\n"
      "mpc.bus(:, [PD QD]) = mpc.bus(:, [PD QD]) / 3;\n"
      "mpc.branch(:, [BR_R, BR_X]) = mpc.branch(:, [BR_R, BR_X]) * (1 / 3);\n";
  return parse_matpower(text, "awkward.m");
}

std::string temp_path(const std::string& name) { return test::fresh_temp_dir() + "/" + name; }

TEST(NetworkJson, RoundTripIsExact) {
  const Network net = awkward_network();
  const std::string text = network_to_json_text(net);
  const Network back = network_from_json_text(text, "mem.json");
  expect_same_network(net, back);
  EXPECT_EQ(back.slack_bus, 1);
  EXPECT_EQ(network_to_json_text(back), text);
  // Spot-check the layout: case numbers for the slack and branch ends, the format tag.
  const json doc = json::parse(text);
  EXPECT_EQ(doc["format"], "p2pgrid-network/1");
  EXPECT_EQ(doc["slack_bus"], 20);
  EXPECT_EQ(doc["branches"]["rows"][1][0], 10);
  EXPECT_EQ(doc["branches"]["rows"][1][1], 30);
  EXPECT_EQ(doc["branches"]["rows"][3][7], 0);
}

TEST(NetworkJson, WriteAndReadFile) {
  const Network net = awkward_network();
  const std::string path = temp_path("awkward.json");
  write_network_json(net, path);
  EXPECT_EQ(read_text_file(path), network_to_json_text(net));  // atomicity: io_test.cpp
  expect_same_network(net, read_network_json(path));
  expect_same_network(net, load_network(path));
}

TEST(NetworkJson, Case141RoundTripIsExact) {
  P2P_REQUIRE_SHARED(path, "networks/case141.m");
  const Network net = import_matpower(path);
  const std::string out = temp_path("case141.json");
  write_network_json(net, out);
  expect_same_network(net, read_network_json(out));
}

TEST(NetworkJson, BuiltinIeee141) {
  const Network net = load_network("builtin:ieee141");
  EXPECT_EQ(net.name, "ieee141");
  EXPECT_EQ(net.num_buses(), 141);
  EXPECT_EQ(net.num_branches(), 140);
  EXPECT_NEAR(net.total_load_kw(), 11944.625, 1e-9);
  EXPECT_NEAR(net.total_load_kvar(), 14052.5 * std::sin(std::acos(0.85)), 1e-8);
  EXPECT_EQ(net.bus_id[net.slack_bus], 1);
  EXPECT_NE(net.source.find("case141.m"), std::string::npos) << net.source;
}

TEST(NetworkJson, BuiltinIeee141MatchesCase141Import) {
  P2P_REQUIRE_SHARED(path, "networks/case141.m");
  const Network imported = import_matpower(path);
  const Network builtin = load_network("builtin:ieee141");
  expect_same_network(imported, builtin, /*compare_names=*/false);
  EXPECT_EQ(builtin.source, imported.source);  // data/networks/README.md: regenerate by import
}

TEST(NetworkJson, CheckedInFileMatchesBuiltin) {
  const std::string path = std::string(P2P_SOURCE_DIR) + "/data/networks/ieee141.json";
  if (!path_exists(path)) GTEST_SKIP() << "no source tree at " << path;
  expect_same_network(read_network_json(path), load_network("builtin:ieee141"));
}

TEST(NetworkJson, LoadNetworkDispatchesMatpower) {
  P2P_REQUIRE_SHARED(path, "networks/case33bw.m");
  const Network net = load_network(path);
  EXPECT_EQ(net.name, "case33bw");
  EXPECT_EQ(net.num_buses(), 33);
}

TEST(NetworkJson, LoadNetworkErrors) {
  expect_mentions(error_of([] { load_network("builtin:ieee999"); }),
                  {"builtin:ieee999", "no built-in network named 'ieee999'", "ieee141"});
  expect_mentions(error_of([] { load_network("feeder.txt"); }),
                  {"'feeder.txt'", "(.m)", "(.json)", "builtin:NAME"});
  expect_mentions(error_of([] { load_network("/nonexistent/feeder.json"); }),
                  {"/nonexistent/feeder.json", "cannot open"});
}

// Reads `doc` as data/x.json and returns the error message.
std::string read_error(const json& doc) {
  return error_of([&] { network_from_json_text(doc.dump(), "data/x.json"); });
}

json awkward_doc() { return json::parse(network_to_json_text(awkward_network())); }

TEST(NetworkJson, WrongTypeNamesFileAndPath) {
  json doc = awkward_doc();
  doc["branches"]["rows"][1][4] = "abc";
  EXPECT_NE(
      read_error(doc).find("data/x.json: branches.rows[1][4]: expected a number, got \"abc\""),
      std::string::npos)
      << read_error(doc);

  doc = awkward_doc();
  doc["buses"]["rows"][2][0] = 3.5;
  expect_mentions(read_error(doc), {"data/x.json: buses.rows[2][0]: expected an integer, got 3.5"});

  doc = awkward_doc();
  doc["name"] = 7;
  expect_mentions(read_error(doc), {"data/x.json: name: expected a string, got 7"});
}

TEST(NetworkJson, UnknownKeyNamesNearestKey) {
  json doc = awkward_doc();
  doc["brances"] = doc["branches"];
  doc.erase("branches");
  expect_mentions(read_error(doc),
                  {"data/x.json: brances: unknown key \"brances\"", "did you mean \"branches\""});

  doc = awkward_doc();
  doc["buses"]["column"] = doc["buses"]["columns"];
  expect_mentions(read_error(doc),
                  {"data/x.json: buses.column: unknown key", "did you mean \"columns\""});
}

TEST(NetworkJson, MissingKey) {
  json doc = awkward_doc();
  doc.erase("slack_bus");
  expect_mentions(read_error(doc), {"data/x.json: slack_bus: missing"});
}

TEST(NetworkJson, WrongColumnsNameNearestColumn) {
  json doc = awkward_doc();
  doc["buses"]["columns"][2] = "p_kw";
  expect_mentions(read_error(doc),
                  {"data/x.json: buses.columns[2]", "expected column \"p_load_kw\"", "got \"p_kw\"",
                   "nearest valid column: \"p_load_kw\""});

  doc = awkward_doc();
  doc["branches"]["columns"].erase(7);
  expect_mentions(read_error(doc),
                  {"data/x.json: branches.columns", "column \"in_service\" is missing"});
}

TEST(NetworkJson, RowShapeAndReferences) {
  json doc = awkward_doc();
  doc["buses"]["rows"][1].erase(7);
  expect_mentions(read_error(doc), {"data/x.json: buses.rows[1]: expected 8 values", "got 7"});

  doc = awkward_doc();
  doc["branches"]["rows"][2][1] = 99;
  expect_mentions(read_error(doc),
                  {"data/x.json: branches.rows[2][1]: there is no bus 99 in buses.rows"});

  doc = awkward_doc();
  doc["slack_bus"] = 5;
  expect_mentions(read_error(doc), {"data/x.json: slack_bus: there is no bus 5"});

  doc = awkward_doc();
  doc["branches"]["rows"][0][7] = 2;
  expect_mentions(read_error(doc),
                  {"data/x.json: branches.rows[0][7]: in_service must be 0 or 1, got 2"});

  doc = awkward_doc();
  doc["buses"]["rows"][3][0] = 10;
  expect_mentions(read_error(doc), {"data/x.json: buses.rows[3][0]: bus 10 appears twice"});
}

TEST(NetworkJson, OhmColumnsMustMatchPerUnit) {
  json doc = awkward_doc();
  const double r = doc["branches"]["rows"][1][2].get<double>();
  doc["branches"]["rows"][1][2] = r * (1.0 + 1e-6);
  expect_mentions(read_error(doc),
                  {"data/x.json: branches.rows[1][2]: r_ohm", "disagrees with r_pu"});

  doc = awkward_doc();
  const double x = doc["branches"]["rows"][0][3].get<double>();
  doc["branches"]["rows"][0][3] = x * (1.0 - 1e-6);
  expect_mentions(read_error(doc), {"data/x.json: branches.rows[0][3]: x_ohm"});

  doc = awkward_doc();  // rounding far below the tolerance is accepted
  doc["branches"]["rows"][1][2] = r * (1.0 + 1e-13);
  EXPECT_NO_THROW(network_from_json_text(doc.dump(), "data/x.json"));
}

TEST(NetworkJson, FormatAndSyntax) {
  json doc = awkward_doc();
  doc["format"] = "p2pgrid-network/2";
  expect_mentions(read_error(doc), {"data/x.json: format: expected \"p2pgrid-network/1\""});

  expect_mentions(error_of([] { network_from_json_text("{\"format\": ", "data/x.json"); }),
                  {"data/x.json: invalid JSON"});
}

TEST(NetworkJson, TopologyIsCheckedOnRead) {
  json doc = awkward_doc();
  doc["branches"]["rows"][3][7] = 1;  // close the 30-40 tie line
  expect_mentions(read_error(doc), {"data/x.json: branch 30-40 closes a loop"});
}

}  // namespace
}  // namespace p2pgrid
