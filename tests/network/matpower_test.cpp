// MATPOWER importer: totals of the three shipped feeder cases, evaluation of the statements that
// follow the matrices, and every error path (message names the file, line, bus and problem).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <initializer_list>
#include <string>

#include "support/errors.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/network/network.hpp"
#include "support/shared_data.hpp"

namespace p2pgrid {
namespace {

using test::error_of;
using test::expect_mentions;

// 1-based line of the first occurrence of `needle` in `text`.
int line_of(const std::string& text, const std::string& needle) {
  const std::size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  int line = 1;
  for (std::size_t i = 0; i < at && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

std::string at_line(const std::string& text, const std::string& needle) {
  return "tiny.m:" + std::to_string(line_of(text, needle)) + ": ";
}

// A three-bus feeder (1 -> 2 -> 3) in kW and ohm, converted by statements like MATPOWER's own.
struct TinyCase {
  std::string bus1 = "1\t3\t0\t0\t0\t0\t1\t1.02\t0\t12.66\t1\t1\t1;";
  std::string bus2 = "2\t1\t100\t60\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  std::string bus3 = "3\t1\t90\t40\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  std::string gen = "1\t0\t0\t10\t-10\t1.03\t100\t1\t10\t0;";
  std::string br1 = "1\t2\t0.0922\t0.0470\t0\t0\t0\t0\t0\t0\t1\t-360\t360;";
  std::string br2 = "2\t3\t0.4930\t0.2511\t0\t0\t0\t0\t0\t0\t1\t-360\t360;";
  std::string extra_bus;
  std::string extra_branch;
  std::string statements =
      "[PQ, PV, REF, NONE, BUS_I, BUS_TYPE, PD, QD, GS, BS, BUS_AREA, VM, ...\n"
      "    VA, BASE_KV, ZONE, VMAX, VMIN, LAM_P, LAM_Q, MU_VMAX, MU_VMIN] = idx_bus;\n"
      "[F_BUS, T_BUS, BR_R, BR_X, BR_B, RATE_A, RATE_B, RATE_C, ...\n"
      "    TAP, SHIFT, BR_STATUS, PF, QF, PT, QT, MU_SF, MU_ST, ...\n"
      "    ANGMIN, ANGMAX, MU_ANGMIN, MU_ANGMAX] = idx_brch;\n"
      "Vbase = mpc.bus(1, BASE_KV) * 1e3;      %% in Volts\n"
      "Sbase = mpc.baseMVA * 1e6;              %% in VA\n"
      "mpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / Sbase);\n"
      "mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3;\n";

  std::string text() const {
    return "function mpc = tiny\n"
           "%TINY  three buses\n"
           "mpc.version = '2';\n"
           "mpc.baseMVA = 10;\n"
           "mpc.bus = [\n\t" +
           bus1 + "\n\t" + bus2 + "\n\t" + bus3 + "\n" + extra_bus +
           "];\n"
           "mpc.gen = [\n\t" +
           gen +
           "\n];\n"
           "mpc.branch = [\n\t" +
           br1 + "\n\t" + br2 + "\n" + extra_branch +
           "];\n"
           "mpc.gencost = [\n\t2\t0\t0\t3\t0\t20\t0;\n];\n" +
           statements;
  }
};

Network parse(const std::string& text) { return parse_matpower(text, "tiny.m"); }

TEST(MatpowerImport, Case141Totals) {
  P2P_REQUIRE_SHARED(path, "networks/case141.m");
  const Network net = import_matpower(path);
  EXPECT_EQ(net.name, "case141");
  EXPECT_EQ(net.num_buses(), 141);
  EXPECT_EQ(net.num_branches(), 140);
  int in_service = 0;
  for (auto s : net.in_service) in_service += s;
  EXPECT_EQ(in_service, 140);
  // Pd is given in kVA at a 0.85 power factor: 14052.5 kVA in all.
  EXPECT_NEAR(net.total_load_kw(), 14052.5 * 0.85, 1e-9);
  EXPECT_NEAR(net.total_load_kw(), 11944.625, 1e-9);
  EXPECT_NEAR(net.total_load_kvar(), 14052.5 * std::sin(std::acos(0.85)), 1e-8);
  EXPECT_DOUBLE_EQ(net.base_mva, 10.0);
  EXPECT_EQ(net.bus_id[net.slack_bus], 1);
  EXPECT_EQ(net.v_slack_pu, 1.0);
  EXPECT_EQ(net.v_min_pu[net.slack_bus], 1.0);
  EXPECT_EQ(net.v_max_pu[net.slack_bus], 1.0);
  for (double kv : net.base_kv) EXPECT_EQ(kv, 12.47);
  // Branch 1 (1-2): 0.0577 ohm on Zbase = 12.47^2 / 10.
  EXPECT_EQ(net.bus_id[net.from_bus[0]], 1);
  EXPECT_EQ(net.bus_id[net.to_bus[0]], 2);
  EXPECT_DOUBLE_EQ(net.r_pu[0], 0.0577 / (12.47 * 12.47 / 10.0));
  EXPECT_DOUBLE_EQ(net.x_pu[0], 0.0409 / (12.47 * 12.47 / 10.0));
  EXPECT_NEAR(net.r_ohm[0], 0.0577, 1e-15);
  EXPECT_NEAR(net.x_ohm[0], 0.0409, 1e-15);
  // Bus 8: 75 kVA -> 63.75 kW.
  EXPECT_NEAR(net.p_load_kw[net.bus_index(8)], 63.75, 1e-12);
  // Branch 86-87 has r = 0 and x = 1e-5 ohm: kept, in service, and accepted by the topology.
  bool found = false;
  for (int k = 0; k < net.num_branches(); ++k) {
    if (net.bus_id[net.from_bus[k]] == 86 && net.bus_id[net.to_bus[k]] == 87) {
      found = true;
      EXPECT_EQ(net.r_pu[k], 0.0);
      EXPECT_NEAR(net.x_ohm[k], 1e-5, 1e-18);
      EXPECT_EQ(net.in_service[k], 1);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_NE(net.source.find("https://doi.org/10.1016/j.epsr.2007.10.002"), std::string::npos)
      << net.source;
}

TEST(MatpowerImport, Case33bwTotalsAndTieLines) {
  P2P_REQUIRE_SHARED(path, "networks/case33bw.m");
  const Network net = import_matpower(path);
  EXPECT_EQ(net.num_buses(), 33);
  EXPECT_EQ(net.num_branches(), 37);
  std::string open;
  int in_service = 0;
  for (int k = 0; k < net.num_branches(); ++k) {
    in_service += net.in_service[k];
    if (!net.in_service[k]) {
      open += std::to_string(net.bus_id[net.from_bus[k]]) + "-" +
              std::to_string(net.bus_id[net.to_bus[k]]) + " ";
    }
  }
  EXPECT_EQ(in_service, 32);
  EXPECT_EQ(open, "21-8 9-15 12-22 18-33 25-29 ");
  EXPECT_NEAR(net.total_load_kw(), 3715.0, 1e-9);
  EXPECT_NEAR(net.total_load_kvar(), 2300.0, 1e-9);
  EXPECT_DOUBLE_EQ(net.r_pu[0], 0.0922 / (12.66 * 12.66 / 10.0));
}

TEST(MatpowerImport, Case69Totals) {
  P2P_REQUIRE_SHARED(path, "networks/case69.m");
  const Network net = import_matpower(path);
  EXPECT_EQ(net.num_buses(), 69);
  EXPECT_EQ(net.num_branches(), 68);
  // The MATPOWER v2 file sums to 3802.1 kW / 2694.7 kvar (the 3802.19 / 2694.6 often quoted
  // for the 69-bus feeder do not match this file's Pd / Qd columns).
  EXPECT_NEAR(net.total_load_kw(), 3802.1, 1e-9);
  EXPECT_NEAR(net.total_load_kvar(), 2694.7, 1e-9);
}

TEST(MatpowerImport, EvaluatesConversionStatements) {
  const TinyCase c;
  const Network net = parse(c.text());
  EXPECT_EQ(net.name, "tiny");
  ASSERT_EQ(net.num_buses(), 3);
  ASSERT_EQ(net.num_branches(), 2);
  EXPECT_DOUBLE_EQ(net.p_load_kw[1], 100.0);
  EXPECT_DOUBLE_EQ(net.q_load_kvar[1], 60.0);
  EXPECT_DOUBLE_EQ(net.p_load_kw[2], 90.0);
  const double z_base = 12.66e3 * 12.66e3 / 10e6;
  EXPECT_DOUBLE_EQ(net.r_pu[1], 0.4930 / z_base);
  EXPECT_DOUBLE_EQ(net.x_pu[1], 0.2511 / z_base);
  EXPECT_NEAR(net.r_ohm[1], 0.4930, 1e-14);
  EXPECT_EQ(net.v_slack_pu, 1.03);  // Vg of the in-service generator, not the bus Vm (1.02)
  EXPECT_EQ(net.bus_id[net.slack_bus], 1);
}

TEST(MatpowerImport, InterpreterSubset) {
  TinyCase c;
  // No conversion of r, x: keep them in p.u. as written. Exercise precedence, functions,
  // scalar-on-the-left blocks, single-row targets, define_constants and block comments.
  c.statements =
      "define_constants;\n"
      "%{\n"
      "mpc.bus(:, PD) = this is not code;\n"
      "%}\n"
      "k = -2^2 + 2^-1 * 3;  % -4 + 1.5\n"
      "pf = 0.8; s = sqrt(abs(-16)) / 4\n"
      "mpc.bus(:, QD) = mpc.bus(:, PD) * sin(acos(pf));\n"
      "mpc.bus(:, PD) = s * mpc.bus(:, PD) * pf;\n"
      "mpc.bus(2, BS) = k;\n"
      "mpc.bus(:, [PD, QD]) = 1e-3 .* mpc.bus(:, [PD QD]);\n"
      "mpc.bus(3, GS) = (1 + 2) * (exp(0) - log(1)) / 1e3;\n"
      "mpc.bus(:, VMIN) = 0.95; mpc.bus(1, VMIN) = 1;\n";
  const Network net = parse(c.text());
  EXPECT_DOUBLE_EQ(net.p_load_kw[1], 80.0);
  EXPECT_DOUBLE_EQ(net.q_load_kvar[1], 60.0);  // 100 kW * sin(acos 0.8)
  EXPECT_DOUBLE_EQ(net.b_shunt_kvar[1], -2500.0);
  EXPECT_DOUBLE_EQ(net.g_shunt_kw[2], 3.0);
  EXPECT_EQ(net.v_min_pu[1], 0.95);
  EXPECT_EQ(net.v_min_pu[0], 1.0);
  EXPECT_EQ(net.r_pu[0], 0.0922);
}

TEST(MatpowerImport, MatrixLayouts) {
  // Rows on one line separated by ';', commas between values, a continuation inside a row,
  // a trailing comment, and a '%' inside a string.
  const std::string text =
      "mpc.version = '2 % not a comment';\n"
      "mpc.baseMVA = 100;\n"
      "mpc.bus = [1, 3, 0, 0, 0, 0, 1, 1, 0, 10, 1, 1.1, 0.9; 2 1 1 0.5 0 0 1 1 0 10 1 1.1 0.9\n"
      "  3 1 2 ... continued\n"
      "  1 0 0 1 1 0 10 1 1.1 0.9];  % trailing\n"
      "mpc.gen = [1 0 0 10 -10 1 100 1 10 0];\n"
      "mpc.branch = [1 2 0.01 0.02 0 0 0 0 1 0 1 -360 360; 2 3 0.01 0.02 0 0 0 0 0 0 1 -360 "
      "360];\n";
  const Network net = parse_matpower(text, "layout.m");
  ASSERT_EQ(net.num_buses(), 3);
  EXPECT_DOUBLE_EQ(net.p_load_kw[2], 2000.0);
  EXPECT_DOUBLE_EQ(net.q_load_kvar[2], 1000.0);
  EXPECT_DOUBLE_EQ(net.r_ohm[0], 0.01 * 10.0 * 10.0 / 100.0);
}

TEST(MatpowerImport, VSlackFromBusWithoutInServiceGen) {
  TinyCase c;
  c.gen = "1\t0\t0\t10\t-10\t1.03\t100\t0\t10\t0;";  // status 0
  EXPECT_EQ(parse(c.text()).v_slack_pu, 1.02);
}

TEST(MatpowerImport, OpenBranchIsKeptOutOfService) {
  TinyCase c;
  c.extra_branch = "\t3\t1\t0.5\t0.5\t0\t0\t0\t0\t0\t0\t0\t-360\t360;\n";
  const Network net = parse(c.text());
  ASSERT_EQ(net.num_branches(), 3);
  EXPECT_EQ(net.in_service[2], 0);
  EXPECT_EQ(net.in_service[0], 1);
}

TEST(MatpowerImport, BranchStatusOtherThanZeroOrOneIsRejected) {
  // A -1 or 2 status is no "in service": an error that names the line and the branch.
  for (const char* status : {"-1", "2"}) {
    TinyCase c;
    c.br2 = std::string("2\t3\t0.4930\t0.2511\t0\t0\t0\t0\t0\t0\t") + status + "\t-360\t360;";
    const std::string text = c.text();
    expect_mentions(error_of([&] { parse(text); }),
                    {at_line(text, c.br2), "branch 2-3", "BR_STATUS is", "expected 1"});
  }
}

TEST(MatpowerImport, NaNValuesNameTheirLineRowAndColumn) {
  TinyCase c;
  c.bus2 = "2\t1\tNaN\t60\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";  // PD
  std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, c.bus2), "mpc.bus row 2, column 3: NaN is not a value"});
  c = TinyCase();
  c.br2 = "2\t3\t0.4930\t0.2511\t0\t0\t0\t0\t0\t0\tNaN\t-360\t360;";  // BR_STATUS
  text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, c.br2), "mpc.branch row 2, column 11: NaN is not a value"});
}

TEST(MatpowerImport, SyntaxErrorInMatrixNamesLine) {
  TinyCase c;
  c.bus3 = "3\t1\t90\t4o\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  const std::string text = c.text();
  const std::string msg = error_of([&] { parse(text); });
  expect_mentions(msg, {at_line(text, "4o"), "malformed number '4o'"});

  c = TinyCase();
  c.bus2 = "2\t1\tx\t60\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  const std::string text2 = c.text();
  expect_mentions(error_of([&] { parse(text2); }),
                  {at_line(text2, "\tx\t"), "mpc.bus: expected a number, got 'x'"});
}

TEST(MatpowerImport, SyntaxErrorInStatementNamesLine) {
  TinyCase c;
  c.statements += "Vbase = mpc.bus(1, BASE_KV) * ;\n";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, "BASE_KV) * ;"), "expected an expression, got ';'"});

  c = TinyCase();
  c.statements += "x = (1 + 2;\n";
  const std::string text2 = c.text();
  expect_mentions(error_of([&] { parse(text2); }), {at_line(text2, "x = (1"), "expected ')'"});

  c = TinyCase();
  c.statements += "y = 1 2\n";
  const std::string text3 = c.text();
  expect_mentions(error_of([&] { parse(text3); }),
                  {at_line(text3, "y = 1 2"), "expected ';' or a line break", "'2'"});
}

TEST(MatpowerImport, UnclosedMatrixNamesOpeningLine) {
  const std::string text = "mpc.baseMVA = 10;\nmpc.bus = [\n1 3 0 0 0 0 1 1 0 12 1 1 1;\n";
  expect_mentions(error_of([&] { parse(text); }), {"tiny.m:2: ", "'[' is never closed"});
}

TEST(MatpowerImport, RaggedRowNamesLine) {
  TinyCase c;
  c.br2 = "2\t3\t0.4930\t0.2511\t0\t0\t0\t0\t0\t0\t1\t-360;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, "2\t3\t0.4930"), "this row has 12 values",
                   "(line " + std::to_string(line_of(text, "1\t2\t0.0922")) + ") has 13"});
}

TEST(MatpowerImport, UnsupportedStatementNamesLineAndText) {
  TinyCase c;
  c.statements += "if Vbase > 1\n  mpc.bus(:, PD) = 0;\nend\n";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, "if Vbase"), "unsupported statement 'if Vbase > 1'"});

  c = TinyCase();
  c.statements += "mpc.bus(:, PD) = mpc.bus(:, PD) * mpc.bus(:, QD);\n";
  const std::string text2 = c.text();
  expect_mentions(error_of([&] { parse(text2); }),
                  {at_line(text2, "mpc.bus(:, PD) * mpc"), "matrix product"});

  c = TinyCase();
  c.statements += "mpc.bus(:, PD) = max(mpc.bus(:, PD), 0);\n";
  const std::string text3 = c.text();
  expect_mentions(error_of([&] { parse(text3); }),
                  {at_line(text3, "max("), "unsupported function 'max'"});
}

TEST(MatpowerImport, UnknownNameAndBadSubscript) {
  TinyCase c;
  c.statements = "mpc.bus(:, PD) = mpc.bus(:, PD) / 1e3;\n";  // no idx_bus before
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, "mpc.bus(:, PD) ="), "unknown name 'PD'"});

  c = TinyCase();
  c.statements = "mpc.bus(:, 14) = 0;\n";
  const std::string text2 = c.text();
  expect_mentions(error_of([&] { parse(text2); }),
                  {at_line(text2, "mpc.bus(:, 14)"), "column 14 is out of range", "3x13"});

  c = TinyCase();
  c.statements = "[A, B] = idx_bus;\nmpc.bus(:, 0) = 1;\n";
  const std::string text3 = c.text();
  expect_mentions(error_of([&] { parse(text3); }),
                  {at_line(text3, "mpc.bus(:, 0)"), "positive integer, got 0"});
}

TEST(MatpowerImport, TwoSlackBusesNamesSecond) {
  TinyCase c;
  c.bus3 = "3\t3\t90\t40\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, c.bus3), "bus 3 is a second slack bus (type 3) after bus 1",
                   "exactly one slack"});
}

TEST(MatpowerImport, NoSlackBus) {
  TinyCase c;
  c.bus1 = "1\t1\t0\t0\t0\t0\t1\t1.02\t0\t12.66\t1\t1\t1;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }), {"tiny.m:", "no slack bus (type 3)"});
}

TEST(MatpowerImport, PvBusIsRejected) {
  TinyCase c;
  c.bus2 = "2\t2\t100\t60\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  const std::string text = c.text();
  expect_mentions(
      error_of([&] { parse(text); }),
      {at_line(text, c.bus2), "bus 2 is a PV bus (type 2)", "only PQ buses plus one slack"});
}

TEST(MatpowerImport, GeneratorAwayFromSlackIsRejected) {
  TinyCase c;
  c.gen += "\n\t3\t0.1\t0\t10\t-10\t1\t100\t1\t10\t0;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, "3\t0.1\t0\t10"), "generator at bus 3", "not the slack bus 1",
                   "only PQ buses plus one slack"});
}

TEST(MatpowerImport, IsolatedBusIsRejected) {
  TinyCase c;
  c.bus3 = "3\t4\t90\t40\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, c.bus3), "bus 3 is isolated (type 4)"});
}

TEST(MatpowerImport, UnknownBusNumbers) {
  TinyCase c;
  c.br2 = "2\t99\t0.4930\t0.2511\t0\t0\t0\t0\t0\t0\t1\t-360\t360;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, "2\t99\t"), "branch 2-99", "no bus 99"});

  c = TinyCase();
  c.gen = "7\t0\t0\t10\t-10\t1.03\t100\t1\t10\t0;";
  const std::string text2 = c.text();
  expect_mentions(error_of([&] { parse(text2); }),
                  {at_line(text2, c.gen), "generator at bus 7", "no bus 7"});
}

TEST(MatpowerImport, DuplicateBusNumber) {
  TinyCase c;
  c.bus3 = "2\t1\t90\t40\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, c.bus3), "bus 2 is defined twice",
                   "line " + std::to_string(line_of(text, c.bus2))});
}

TEST(MatpowerImport, TransformersAreRejected) {
  TinyCase c;
  c.br2 = "2\t3\t0.4930\t0.2511\t0\t0\t0\t0\t1.05\t0\t1\t-360\t360;";
  const std::string text = c.text();
  expect_mentions(error_of([&] { parse(text); }),
                  {at_line(text, c.br2), "branch 2-3", "TAP 1.05", "not supported yet"});

  c = TinyCase();
  c.br1 = "1\t2\t0.0922\t0.0470\t0\t0\t0\t0\t1\t30\t1\t-360\t360;";
  const std::string text2 = c.text();
  expect_mentions(error_of([&] { parse(text2); }),
                  {at_line(text2, c.br1), "branch 1-2", "SHIFT 30", "not supported yet"});
  c.br1 = "1\t2\t0.0922\t0.0470\t0\t0\t0\t0\t1\t0\t1\t-360\t360;";  // TAP 1 is a plain line
  EXPECT_NO_THROW(parse(c.text()));
}

TEST(MatpowerImport, LoopIslandAndImpedanceAreRejected) {
  TinyCase c;
  c.extra_branch = "\t3\t1\t0.5\t0.5\t0\t0\t0\t0\t0\t0\t1\t-360\t360;\n";
  expect_mentions(error_of([&] { parse(c.text()); }),
                  {"tiny.m: branch 3-1 closes a loop", "must form a tree (a radial feeder)"});

  c = TinyCase();
  c.extra_bus = "\t4\t1\t10\t5\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;\n";
  expect_mentions(error_of([&] { parse(c.text()); }),
                  {"tiny.m: bus 4 is not connected to the slack bus 1", "island"});

  c = TinyCase();
  c.br2 = "2\t3\t0\t0\t0\t0\t0\t0\t0\t0\t1\t-360\t360;";
  expect_mentions(error_of([&] { parse(c.text()); }),
                  {"tiny.m: branch 2-3 has a non-positive impedance"});

  c = TinyCase();
  c.br2 = "2\t3\t0\t0.00001\t0\t0\t0\t0\t0\t0\t1\t-360\t360;";  // like case141's 86-87
  EXPECT_NO_THROW(parse(c.text()));
}

TEST(MatpowerImport, MissingFieldsAndFile) {
  expect_mentions(error_of([] { parse("mpc.bus = [1 3 0 0 0 0 1 1 0 12 1 1 1];\n"); }),
                  {"tiny.m: mpc.baseMVA is not assigned"});
  expect_mentions(error_of([] { parse("mpc.baseMVA = 10;\nmpc.bus = [1 3 0 0 0 0 1 1 0 12];\n"); }),
                  {"tiny.m:2: mpc.bus has 10 columns", "VMIN"});
  expect_mentions(error_of([] { import_matpower("/nonexistent/dir/case9.m"); }),
                  {"/nonexistent/dir/case9.m", "cannot open"});
}

}  // namespace
}  // namespace p2pgrid
