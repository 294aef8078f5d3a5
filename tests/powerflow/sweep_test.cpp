// The batched sweep against the independent dense Newton-Raphson (tests/support), published
// case values, the Z-bus formulation, float32, and non-convergence reporting.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>

#include "p2pgrid/network/network.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"
#include "support/newton_raphson.hpp"
#include "support/shared_data.hpp"
#include "support/worst.hpp"

namespace p2pgrid {
namespace {

struct Case {
  Network net;
  FeederModel feeder;
  std::vector<double> p0, q0;
  explicit Case(Network n) : net(std::move(n)), feeder(FeederModel::build(net, net.name)) {
    base_case_injections(net, p0, q0);
  }
};

PowerFlowSettings tight(PowerFlowMethod method = PowerFlowMethod::kSweep) {
  PowerFlowSettings s;
  s.method = method;
  s.tolerance_pu = 1e-12;
  s.max_iterations = 100;
  s.threads = 2;
  return s;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b, size_t offset,
                    size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i) test::keep_worst(d, std::abs(a[offset + i] - b[i]));
  return d;
}

/// Solves the base case of `c` with `method` and compares it with Newton-Raphson's: voltages,
/// angles and slack power to 1e-8 p.u. Returns the solve.
PowerFlowResult expect_base_case_matches_newton(const Case& c, PowerFlowMethod method) {
  auto solver = make_powerflow_solver(c.feeder, Backend::kCpu, tight(method));
  const PowerFlowResult r = solve_power_flow(*solver, c.feeder, Precision::kFloat64, 1, c.p0, c.q0);
  const test::NewtonResult nr = test::newton_raphson(c.net, c.p0, c.q0);
  EXPECT_TRUE(nr.converged);
  EXPECT_EQ(r.converged[0], 1);
  if (!nr.converged) return r;
  const int n = c.net.num_buses();
  EXPECT_LT(max_abs_diff(r.vm_pu, nr.vm_pu, 0, n), 1e-8);
  EXPECT_LT(max_abs_diff(r.va_rad, nr.va_rad, 0, n), 1e-8);
  EXPECT_NEAR(r.p_slack_pu[0], nr.p_slack_pu, 1e-8);
  EXPECT_NEAR(r.q_slack_pu[0], nr.q_slack_pu, 1e-8);
  return r;
}

TEST(PowerFlowSweep, MatchesNewtonRaphsonOnIeee141BaseCase) {
  Case c(load_network("builtin:ieee141"));
  const PowerFlowResult r = expect_base_case_matches_newton(c, PowerFlowMethod::kSweep);
  // The feeder is loaded: the far end must sag noticeably.
  EXPECT_LT(*std::min_element(r.vm_pu.begin(), r.vm_pu.end()), 0.99);
}

TEST(PowerFlowSweep, MatchesNewtonRaphsonOnRandomInjectionsWithReverseFlow) {
  Case c(load_network("builtin:ieee141"));
  const int n = c.net.num_buses(), batch = 24;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> p(size_t(batch) * n), q(p.size());
  for (int e = 0; e < batch; ++e)
    for (int i = 0; i < n; ++i) {
      const double s = 0.1 + 1.5 * u(rng);
      // Half the envs carry large PV at a quarter of the buses: reverse flow, V above 1.
      const double pv = (e % 2 == 1 && u(rng) < 0.25) ? 0.08 * u(rng) : 0.0;
      p[size_t(e) * n + i] = c.p0[i] * s + (i == c.net.slack_bus ? 0.0 : pv);
      q[size_t(e) * n + i] = c.q0[i] * s + 0.01 * (u(rng) - 0.5);
    }
  auto solver = make_powerflow_solver(c.feeder, Backend::kCpu, tight());
  const PowerFlowResult r = solve_power_flow(*solver, c.feeder, Precision::kFloat64, batch, p, q);
  bool saw_reverse_flow = false;
  for (int e = 0; e < batch; ++e) {
    std::vector<double> pe(p.begin() + size_t(e) * n, p.begin() + size_t(e + 1) * n);
    std::vector<double> qe(q.begin() + size_t(e) * n, q.begin() + size_t(e + 1) * n);
    const test::NewtonResult nr = test::newton_raphson(c.net, pe, qe);
    ASSERT_TRUE(nr.converged) << "env " << e;
    ASSERT_EQ(r.converged[e], 1) << "env " << e;
    EXPECT_LT(max_abs_diff(r.vm_pu, nr.vm_pu, size_t(e) * n, n), 1e-8) << "env " << e;
    EXPECT_LT(max_abs_diff(r.va_rad, nr.va_rad, size_t(e) * n, n), 1e-8) << "env " << e;
    EXPECT_NEAR(r.p_slack_pu[e], nr.p_slack_pu, 1e-8);
    saw_reverse_flow |= r.p_slack_pu[e] < 0;
  }
  EXPECT_TRUE(saw_reverse_flow) << "the random cases should include export to the grid";
}

TEST(PowerFlowSweep, MatchesNewtonRaphsonWithShuntsLineChargingAndReversedBranches) {
  // The 141-bus feeder with what its case file lacks: line charging on every branch, shunt
  // conductance and susceptance at every tenth bus and at the slack, and every third branch
  // listed from child to parent. The sweep must still be Newton-Raphson's fixed point.
  Network net = load_network("builtin:ieee141");
  for (int b = 0; b < net.num_branches(); ++b) {
    net.b_pu[b] = 2e-4 * (1 + b % 5);
    if (b % 3 == 0) std::swap(net.from_bus[b], net.to_bus[b]);
  }
  for (int i = 0; i < net.num_buses(); i += 10) {
    net.g_shunt_kw[i] = 5.0 + i % 7;
    net.b_shunt_kvar[i] = 20.0 + i % 11;
  }
  net.g_shunt_kw[net.slack_bus] = 3.0;
  net.b_shunt_kvar[net.slack_bus] = 10.0;
  validate_network(net, "modified ieee141");
  for (const PowerFlowMethod method : {PowerFlowMethod::kSweep, PowerFlowMethod::kZbus}) {
    SCOPED_TRACE(method == PowerFlowMethod::kSweep ? "sweep" : "zbus");
    expect_base_case_matches_newton(Case(net), method);
  }
  // The additions matter: the same case without them solves to other voltages.
  Case plain(load_network("builtin:ieee141"));
  const test::NewtonResult a = test::newton_raphson(plain.net, plain.p0, plain.q0);
  std::vector<double> p0, q0;
  base_case_injections(net, p0, q0);
  const test::NewtonResult b = test::newton_raphson(net, p0, q0);
  EXPECT_GT(max_abs_diff(a.vm_pu, b.vm_pu, 0, net.num_buses()), 1e-4);
}

TEST(PowerFlowSweep, PublishedCase33bwValues) {
  P2P_REQUIRE_SHARED(path, "networks/case33bw.m");
  Case c(import_matpower(path));
  auto solver = make_powerflow_solver(c.feeder, Backend::kCpu, tight());
  const PowerFlowResult r = solve_power_flow(*solver, c.feeder, Precision::kFloat64, 1, c.p0, c.q0);
  ASSERT_EQ(r.converged[0], 1);
  const auto it = std::min_element(r.vm_pu.begin(), r.vm_pu.end());
  // Baran & Wu (1989) as reproduced by MATPOWER: Vmin 0.9131 p.u. at bus 18, losses 202.7 kW.
  EXPECT_NEAR(*it, 0.9131, 5e-5);
  EXPECT_EQ(c.net.bus_id[it - r.vm_pu.begin()], 18);
  EXPECT_NEAR(r.p_loss_pu[0] * c.net.base_mva * 1e3, 202.7, 0.1);
}

TEST(PowerFlowSweep, EnergyBalanceSlackEqualsLoadPlusLosses) {
  Case c(load_network("builtin:ieee141"));
  auto solver = make_powerflow_solver(c.feeder, Backend::kCpu, tight());
  const PowerFlowResult r = solve_power_flow(*solver, c.feeder, Precision::kFloat64, 1, c.p0, c.q0);
  double load_p = 0, load_q = 0;
  for (int i = 0; i < c.net.num_buses(); ++i) {
    load_p -= c.p0[i];
    load_q -= c.q0[i];
  }
  EXPECT_NEAR(r.p_slack_pu[0], load_p + r.p_loss_pu[0], 1e-10);
  EXPECT_NEAR(r.q_slack_pu[0], load_q + r.q_loss_pu[0], 1e-10);
  EXPECT_GT(r.p_loss_pu[0], 0.0);
}

TEST(PowerFlowSweep, BranchFlowsMatchVoltagesAndImpedances) {
  Case c(load_network("builtin:ieee141"));
  auto solver = make_powerflow_solver(c.feeder, Backend::kCpu, tight());
  const PowerFlowResult r = solve_power_flow(*solver, c.feeder, Precision::kFloat64, 1, c.p0, c.q0);
  // S_from = V_f conj((V_f - V_t) / z) for a line without charging.
  for (int b = 0; b < c.net.num_branches(); ++b) {
    const int f = c.net.from_bus[b], t = c.net.to_bus[b];
    const std::complex<double> vf = std::polar(r.vm_pu[f], r.va_rad[f]);
    const std::complex<double> vt = std::polar(r.vm_pu[t], r.va_rad[t]);
    const std::complex<double> s =
        vf * std::conj((vf - vt) / std::complex<double>(c.net.r_pu[b], c.net.x_pu[b]));
    EXPECT_NEAR(r.p_branch_pu[b], s.real(), 1e-6) << "branch " << b;
    EXPECT_NEAR(r.q_branch_pu[b], s.imag(), 1e-6) << "branch " << b;
  }
}

TEST(PowerFlowZbus, AgreesWithSweep) {
  Case c(load_network("builtin:ieee141"));
  auto sweep = make_powerflow_solver(c.feeder, Backend::kCpu, tight(PowerFlowMethod::kSweep));
  auto zbus = make_powerflow_solver(c.feeder, Backend::kCpu, tight(PowerFlowMethod::kZbus));
  std::vector<double> p = c.p0, q = c.q0;
  for (double& x : p) x *= 1.3;
  const PowerFlowResult a = solve_power_flow(*sweep, c.feeder, Precision::kFloat64, 1, p, q);
  const PowerFlowResult b = solve_power_flow(*zbus, c.feeder, Precision::kFloat64, 1, p, q);
  ASSERT_EQ(b.converged[0], 1);
  EXPECT_LT(max_abs_diff(a.vm_pu, b.vm_pu, 0, a.vm_pu.size()), 1e-10);
  EXPECT_NEAR(a.p_loss_pu[0], b.p_loss_pu[0], 1e-10);
  // The same fixed point iteration: the same number of iterations.
  EXPECT_EQ(a.iterations[0], b.iterations[0]);
}

TEST(PowerFlowSweep, Float32WithinTolerance) {
  Case c(load_network("builtin:ieee141"));
  PowerFlowSettings s = tight();
  auto d = make_powerflow_solver(c.feeder, Backend::kCpu, s);
  s.tolerance_pu = 2e-6;
  auto f = make_powerflow_solver(c.feeder, Backend::kCpu, s);
  const PowerFlowResult rd = solve_power_flow(*d, c.feeder, Precision::kFloat64, 1, c.p0, c.q0);
  const PowerFlowResult rf = solve_power_flow(*f, c.feeder, Precision::kFloat32, 1, c.p0, c.q0);
  ASSERT_EQ(rf.converged[0], 1);
  EXPECT_LT(max_abs_diff(rd.vm_pu, rf.vm_pu, 0, rd.vm_pu.size()), 1e-5);
}

TEST(PowerFlowSweep, NonConvergenceIsReportedPerEnv) {
  Case c(load_network("builtin:ieee141"));
  const int n = c.net.num_buses();
  std::vector<double> p(2 * n), q(2 * n);
  for (int i = 0; i < n; ++i) {
    p[i] = c.p0[i];  // env 0: base case
    q[i] = c.q0[i];
    p[n + i] = c.p0[i] * 40;  // env 1: far beyond the feeder's loadability
    q[n + i] = c.q0[i] * 40;
  }
  auto solver = make_powerflow_solver(c.feeder, Backend::kCpu, tight());
  const PowerFlowResult r = solve_power_flow(*solver, c.feeder, Precision::kFloat64, 2, p, q);
  EXPECT_EQ(r.converged[0], 1);
  EXPECT_EQ(r.converged[1], 0);
}

TEST(PowerFlowSweep, ResultsIndependentOfBatchPositionAndThreads) {
  Case c(load_network("builtin:ieee141"));
  const int n = c.net.num_buses(), batch = 9;
  std::vector<double> p(size_t(batch) * n), q(p.size());
  for (int e = 0; e < batch; ++e)
    for (int i = 0; i < n; ++i) {
      p[size_t(e) * n + i] = c.p0[i] * (0.5 + 0.1 * e);
      q[size_t(e) * n + i] = c.q0[i] * (0.5 + 0.1 * e);
    }
  PowerFlowSettings s1 = tight(), s2 = tight();
  s1.threads = 1;
  s2.threads = 2;
  auto a = make_powerflow_solver(c.feeder, Backend::kCpu, s1);
  auto b = make_powerflow_solver(c.feeder, Backend::kCpu, s2);
  const PowerFlowResult ra = solve_power_flow(*a, c.feeder, Precision::kFloat64, batch, p, q);
  const PowerFlowResult rb = solve_power_flow(*b, c.feeder, Precision::kFloat64, batch, p, q);
  EXPECT_EQ(ra.vm_pu, rb.vm_pu);  // bit-identical: each env is computed alone
  std::vector<double> p4(p.begin() + 4 * n, p.begin() + 5 * n), q4(q.begin() + 4 * n, q.begin() + 5 * n);
  const PowerFlowResult single = solve_power_flow(*a, c.feeder, Precision::kFloat64, 1, p4, q4);
  for (int i = 0; i < n; ++i) EXPECT_EQ(single.vm_pu[i], ra.vm_pu[4 * n + i]);
}

}  // namespace
}  // namespace p2pgrid
