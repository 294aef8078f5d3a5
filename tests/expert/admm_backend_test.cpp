// The expert's ADMM as one algorithm on two backends (admm_kernels.hpp): lanes are independent
// of the envs beside them, rho levels follow OSQP's rule and share cached factorizations, and the
// CUDA solve takes the CPU's decisions and returns its plans (skipped without a GPU; fails
// instead with P2P_REQUIRE_GPU=1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "expert/admm_parity.hpp"
#include "support/errors.hpp"
#include "support/gpu.hpp"
#include "support/worst.hpp"

namespace p2pgrid {
namespace {

ExpertSettings settings_on(Backend backend, bool adaptive_rho) {
  ExpertSettings s = resolve_expert_config(Config::defaults());
  s.admm.backend = backend;
  s.admm.adaptive_rho = adaptive_rho;
  return s;
}

TEST(ExpertAdmm, AnEnvsPlanDoesNotDependOnTheEnvsSolvedBesideIt) {
  // With a fixed rho the lanes of a group share nothing: solving an env alone or in a chunk of
  // 11 envs (8 lanes at first, 3 envs taking over lanes whose envs have terminated) must give
  // the same iterate, bit for bit.
  // Also with an iteration limit that is not a multiple of check_every (lanes refilled at odd
  // iterations are still judged at their own check points).
  for (int max_iterations : {20000, 1010}) {
    ExpertSettings s = settings_on(Backend::kCpu, false);
    s.admm.max_iterations = max_iterations;
    const Expert expert(test::default_env_spec(), s, test::default_cpu_powerflow());
    const std::vector<ExpertEnvData> chunk = test::expert_envs_from(expert, 90, 11);
    const std::vector<ExpertPlan> together = expert.plan(chunk);
    for (std::size_t e = 0; e < chunk.size(); ++e) {
      SCOPED_TRACE("max_iterations " + std::to_string(max_iterations) + ", env " +
                   std::to_string(e));
      const std::vector<ExpertPlan> alone = expert.plan({chunk[e]});
      EXPECT_EQ(alone[0].info.status, together[e].info.status);
      EXPECT_EQ(alone[0].info.iterations, together[e].info.iterations);
      EXPECT_EQ(alone[0].iterate.x, together[e].iterate.x);
      EXPECT_EQ(alone[0].iterate.y, together[e].iterate.y);
    }
    EXPECT_NE(together[4].iterate.x, together[5].iterate.x);  // the days differ
  }
}

TEST(ExpertAdmm, TheVoltageTreeGivesTheProductsOfTheVoltageRows) {
  // The solver computes the LinDistFlow rows through the feeder's tree (O(nodes)); the QP keeps
  // them as explicit rows (the factorization and the export use those). Products with random
  // vectors must agree: A~ x, A~' y and A~'(y - y_prev) over 3 blocks, rows linking blocks
  // included.
  const Expert expert(test::default_env_spec(), settings_on(Backend::kCpu, true),
                      test::default_cpu_powerflow());
  const ExpertAdmm admm(expert.qp(), expert.settings().admm);
  const ExpertQp& qp = expert.qp();
  AdmmRowsView rows = admm.rows_view();
  const int n = qp.block_vars, m = qp.block_rows, blocks = 3;
  int voltage_rows = 0, tree_rows = 0;
  for (int r = 0; r < m; ++r) {
    voltage_rows += qp.rows[r].kind == QpRow::kVoltage;
    tree_rows += rows.row_node[r] >= 0;
    if (rows.row_node[r] >= 0) EXPECT_EQ(rows.self_ptr[r], rows.self_ptr[r + 1]) << r;
  }
  EXPECT_EQ(tree_rows, voltage_rows);
  EXPECT_GT(tree_rows, 50);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> uni(-1, 1);
  auto random = [&](int size) {
    std::vector<double> v(size);
    for (double& x : v) x = uni(rng);
    return v;
  };
  std::vector<double> x = random(blocks * n), y = random(blocks * m), y_prev = random(blocks * m);
  // The kernels keep w = z + y / rho; with every bound 0 (one shared table), z = 0 and w = y / rho.
  const std::vector<int> slot(m, -1);
  const std::vector<double> zeros(m, 0.0);
  rows.bounds = AdmmBoundsView{0, slot.data(), zeros.data(), zeros.data()};
  std::vector<double> w(blocks * m), w_prev(blocks * m);
  for (int i = 0; i < blocks * m; ++i) {
    w[i] = y[i] / rows.rho[i % m];
    w_prev[i] = y_prev[i] / rows.rho[i % m];
  }
  std::vector<double> ax(blocks * m), aty(blocks * n), atdy(blocks * n), tree(2 * rows.tree.nodes),
      no_lane_bounds(1);
  auto acc = [](std::vector<double>& v) { return Strided<double>{v.data(), 1}; };
  admm_check_products(rows, blocks, 1.0, acc(x), acc(w), acc(w_prev), acc(no_lane_bounds),
                      acc(no_lane_bounds), acc(ax), acc(aty), acc(atdy), acc(tree));
  std::vector<double> ax_ref(blocks * m, 0.0), aty_ref(blocks * n, 0.0), atdy_ref(blocks * n, 0.0);
  for (int k = 0; k < blocks; ++k)
    for (int r = 0; r < m; ++r) {
      const QpRowInfo& ri = qp.rows[r];
      const int i = k * m + r;
      auto entry = [&](int block, int col, double val) {
        const double a = rows.e[r] * val * rows.d[col];
        ax_ref[i] += a * x[block * n + col];
        aty_ref[block * n + col] += a * y[i];
        atdy_ref[block * n + col] += a * (y[i] - y_prev[i]);
      };
      for (std::size_t j = 0; j < ri.cols.size(); ++j) entry(k, ri.cols[j], ri.vals[j]);
      if (k + 1 < blocks)
        for (std::size_t j = 0; j < ri.prev_cols.size(); ++j)
          entry(k + 1, ri.prev_cols[j], ri.prev_vals[j]);
    }
  auto expect_close = [](const std::vector<double>& a, const std::vector<double>& b,
                         const char* what) {
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      test::keep_worst(worst, std::abs(a[i] - b[i]));
      scale = std::max(scale, std::abs(b[i]));
    }
    EXPECT_LT(worst, 1e-12 * scale) << what;
  };
  expect_close(ax, ax_ref, "A x");
  expect_close(aty, aty_ref, "A'y");
  expect_close(atdy, atdy_ref, "A'(y - y_prev)");
}

TEST(ExpertAdmm, BoundsOfIncompleteEnvDataAreErrorsThatNameWhatIsMissing) {
  // expert_bounds indexes the profiles by day, the units' state and the voltage offsets: data
  // of the wrong size is an error, not a read past the end.
  const Expert expert(test::default_env_spec(), settings_on(Backend::kCpu, true),
                      test::default_cpu_powerflow());
  const ExpertEnvData good = [&] {
    ExpertEnvData d = test::expert_envs_from(expert, 72, 1)[0];
    d.v_offset_pu = linear_voltage_offsets(expert.spec(), expert.qp(), d.day);
    return d;
  }();
  auto error_for = [&](const ExpertEnvData& d) {
    return test::error_of([&] {
      std::vector<double> l, u;
      expert_bounds(expert.spec(), expert.qp(), d, l, u);
    });
  };
  EXPECT_EQ(error_for(good), "(no error)");
  ExpertEnvData bad = good;
  bad.v_offset_pu.pop_back();
  EXPECT_NE(error_for(bad).find("v_offset_pu needs"), std::string::npos);
  // No offsets of its own: the day's linear ones, the same bounds.
  ExpertEnvData linear = good;
  linear.v_offset_pu.clear();
  std::vector<double> l, u, l_linear, u_linear;
  expert_bounds(expert.spec(), expert.qp(), good, l, u);
  expert_bounds(expert.spec(), expert.qp(), linear, l_linear, u_linear);
  EXPECT_EQ(l, l_linear);
  EXPECT_EQ(u, u_linear);
  bad = good;
  bad.unit_soc_kwh.pop_back();
  EXPECT_NE(error_for(bad).find("unit_p_prev_kw and unit_soc_kwh"), std::string::npos);
  bad = good;
  bad.day = expert.spec().profiles.num_days;
  EXPECT_NE(error_for(bad).find("is not in the profiles"), std::string::npos);
  // A NaN state or offset is named, with the env, by the plan (not solved to the limit).
  bad = good;
  bad.unit_soc_kwh[2] = std::nan("");
  std::vector<ExpertEnvData> envs = {good, bad};
  test::expect_mentions(test::error_of([&] { (void)expert.plan(envs); }),
                        {"env 1", "unit_soc_kwh[2]", "expected a finite value"});
  envs[1] = good;
  envs[1].v_offset_pu[7] = std::numeric_limits<double>::infinity();
  test::expect_mentions(test::error_of([&] { (void)expert.plan(envs); }),
                        {"env 1", "v_offset_pu[7]", "inf"});
}

TEST(ExpertAdmm, BoundsEqualInEveryEnvAndStepAreReadFromOneTable) {
  const Expert expert(test::default_env_spec(), settings_on(Backend::kCpu, true),
                      test::default_cpu_powerflow());
  const ExpertQp& qp = expert.qp();
  const ExpertAdmm admm(qp, expert.settings().admm);
  const AdmmRowsView rows = admm.rows_view();
  const int m = qp.block_rows, blocks = 24;
  std::vector<std::vector<double>> l, u;
  test::expert_bounds_of(expert, blocks, 4, l, u);
  const AdmmSharedBounds shared = admm.share_bounds(blocks, l, u);
  int table_rows = 0, lane_slots = 0;
  for (int r = 0; r < m; ++r) {
    bool same = true;
    for (std::size_t e = 0; e < l.size(); ++e)
      for (int k = 0; k < blocks; ++k)
        same = same && l[e][k * m + r] == l[0][r] && u[e][k * m + r] == u[0][r];
    EXPECT_EQ(shared.slot[r] < 0, same) << "row " << r;
    if (shared.slot[r] >= 0) {
      EXPECT_EQ(shared.slot[r], lane_slots++) << "slots in row order";
      continue;
    }
    ++table_rows;
    auto scaled = [&](double b) { return std::abs(b) >= kInfinity ? b : rows.e[r] * b; };
    EXPECT_EQ(shared.lo[r], scaled(l[0][r])) << r;
    EXPECT_EQ(shared.hi[r], scaled(u[0][r])) << r;
  }
  EXPECT_EQ(shared.lane_rows, lane_slots);
  // The default case: device limits, balances and inverter facets are the same everywhere;
  // profiles, states and voltage offsets are not.
  EXPECT_GT(table_rows, m / 2);
  EXPECT_GT(shared.lane_rows, 0);

  // A NaN bound never equals itself: its row stays with the lanes, never in the table.
  std::vector<std::vector<double>> l1 = {l[0]}, u1 = {u[0]};
  int table_row = 0;
  while (shared.slot[table_row] >= 0) ++table_row;
  EXPECT_LT(admm.share_bounds(blocks, l1, u1).slot[table_row], 0);
  l1[0][table_row] = std::nan("");
  EXPECT_GE(admm.share_bounds(blocks, l1, u1).slot[table_row], 0);
}

TEST(ExpertAdmm, AVoltageTreeThatDoesNotMatchItsRowsIsAnError) {
  const ExpertQp good = build_expert_qp(test::default_env_spec(), 16);
  const AdmmSettings s;
  ExpertQp qp = good;  // a line's resistance off by 1 %: the rows below it are not reproduced
  qp.voltage_tree.r[3] *= 1.01;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("does not reproduce voltage row"),
            std::string::npos);
  qp = good;  // a node listed before its parent: the kernels' single passes would be wrong
  qp.voltage_tree.parent[1] = 2;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("parent listed before it"),
            std::string::npos);
  qp = good;
  qp.voltage_tree.p_ex_col[0] = good.block_vars;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("out of range"), std::string::npos);
  qp = good;
  qp.voltage_tree.r.pop_back();
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("arrays of different lengths"),
            std::string::npos);
  qp = good;  // a node naming a row that is not a voltage row
  int other = 0;
  while (good.rows[other].kind == QpRow::kVoltage) ++other;
  qp.voltage_tree.row[0] = other;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("which is not a voltage row"),
            std::string::npos);
  AdmmSettings bad = s;
  bad.rho_factor_bounds = -1;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(good, bad); }).find("rho_factor_bounds"),
            std::string::npos);
  EXPECT_EQ(test::error_of([&] { ExpertAdmm a(good, s); }), "(no error)");
}

TEST(ExpertAdmm, PlansDoNotDependOnTheThreadCount) {
  // Adaptive rho couples the envs of a chunk; chunks, not threads, decide who is coupled.
  ExpertSettings s = settings_on(Backend::kCpu, true);
  s.admm.chunk_envs = 8;
  const std::vector<ExpertEnvData> envs = test::expert_envs_from(
      Expert(test::default_env_spec(), s, test::default_cpu_powerflow()), 90, 20);
  std::vector<std::vector<ExpertPlan>> runs;
  for (int threads : {1, 2, 3}) {
    s.admm.threads = threads;
    runs.push_back(Expert(test::default_env_spec(), s, test::default_cpu_powerflow()).plan(envs));
  }
  for (std::size_t r = 1; r < runs.size(); ++r)
    for (std::size_t e = 0; e < envs.size(); ++e) {
      EXPECT_EQ(runs[0][e].info.iterations, runs[r][e].info.iterations) << r << " " << e;
      EXPECT_EQ(runs[0][e].iterate.x, runs[r][e].iterate.x) << r << " " << e;
    }
}

TEST(ExpertAdmm, AWarmStartIsTakenOnlyFromASolvedPlan) {
  // One env per group (chunk_envs = 1), so that nothing but its own start decides an env's plan.
  ExpertSettings s = settings_on(Backend::kCpu, true);
  s.admm.chunk_envs = 1;
  const Expert expert(test::default_env_spec(), s, test::default_cpu_powerflow());
  const std::vector<ExpertEnvData> envs = test::expert_envs_from(expert, 90, 2);
  const std::vector<ExpertPlan> cold = expert.plan(envs);
  std::vector<ExpertPlan> earlier = cold;
  earlier[0].info.status = SolveStatus::kMaxIterations;  // e.g. a plan that ran out of iterations
  const std::vector<ExpertPlan> next = expert.plan(envs, &earlier);
  EXPECT_EQ(next[0].info.iterations, cold[0].info.iterations);  // started cold
  EXPECT_EQ(next[0].iterate.x, cold[0].iterate.x);
  EXPECT_LT(next[1].info.iterations, cold[1].info.iterations);  // started from its solution
}

TEST(ExpertAdmm, TheLeadingBlocksOfAnIterateStartAShorterHorizon) {
  const ExpertSettings s = settings_on(Backend::kCpu, true);
  const Expert expert(test::default_env_spec(), s, test::default_cpu_powerflow());
  const ExpertAdmm admm(expert.qp(), s.admm);
  const int n = expert.qp().block_vars, m = expert.qp().block_rows;
  AdmmIterate it;  // 3 blocks, every value its own index
  for (int i = 0; i < 3 * n; ++i) it.x.push_back(i);
  for (int i = 0; i < 3 * m; ++i) it.z.push_back(-i), it.y.push_back(0.5 * i);
  it.rho_level = -3;
  const AdmmIterate lead = admm.leading_blocks(it, 2);
  EXPECT_EQ(lead.x, std::vector<double>(it.x.begin(), it.x.begin() + 2 * n));
  EXPECT_EQ(lead.z, std::vector<double>(it.z.begin(), it.z.begin() + 2 * m));
  EXPECT_EQ(lead.y, std::vector<double>(it.y.begin(), it.y.begin() + 2 * m));
  EXPECT_EQ(lead.rho_level, -3);
  EXPECT_TRUE(admm.warm_start_fits(2, lead));
  EXPECT_FALSE(admm.warm_start_fits(3, lead));
  test::expect_mentions(test::error_of([&] { (void)admm.leading_blocks(it, 4); }),
                        {"warm start of 3 blocks cannot start a horizon of 4"});
  AdmmIterate other = it;  // rows of another QP
  other.z.pop_back();
  other.y.pop_back();
  test::expect_mentions(test::error_of([&] { (void)admm.leading_blocks(other, 2); }),
                        {"is not an iterate of this QP"});
}

TEST(ExpertAdmm, DeviceBoundsAndDeviceIteratesThatDoNotFitAreErrors) {
  const ExpertSettings s = settings_on(Backend::kCpu, true);
  const Expert expert(test::default_env_spec(), s, test::default_cpu_powerflow());
  const ExpertAdmm admm(expert.qp(), s.admm);
  const std::size_t m = expert.qp().block_rows;
  std::vector<AdmmIterate> iterates;
  AdmmDeviceBounds wrong_size;  // 2 envs of 3 blocks need 6 m values each
  wrong_size.batch = 2;
  wrong_size.l = DeviceBuffer<double>(Backend::kCpu, 5 * m);
  wrong_size.u = DeviceBuffer<double>(Backend::kCpu, 6 * m);
  test::expect_mentions(
      test::error_of([&] { (void)admm.solve(3, std::move(wrong_size), iterates); }),
      {"device bounds of 2 envs have the wrong size"});
  AdmmDeviceBounds on_host;
  on_host.batch = 2;
  on_host.l = DeviceBuffer<double>(Backend::kCpu, 6 * m);
  on_host.u = DeviceBuffer<double>(Backend::kCpu, 6 * m);
  test::expect_mentions(test::error_of([&] { (void)admm.solve(3, std::move(on_host), iterates); }),
                        {"bounds on the device need the CUDA backend"});
  // An iterate whose x (3 blocks) does not match the device copy it refers to (2 blocks).
  auto copy = std::make_shared<AdmmDeviceIterates>();
  copy->blocks = 2;
  copy->batch = 1;
  copy->n = expert.qp().block_vars;
  copy->m = expert.qp().block_rows;
  AdmmIterate it;
  it.x.assign(3 * copy->n, 0.0);
  it.device = copy;
  it.device_lane = 0;
  test::expect_mentions(
      test::error_of([&] { fetch_iterate_duals(it); }),
      {"does not match its device copy", "2 blocks of " + std::to_string(copy->n)});
  if (!built_with_cuda()) {  // a device copy where there can be none
    it.x.assign(2 * copy->n, 0.0);
    test::expect_mentions(test::error_of([&] { fetch_iterate_duals(it); }),
                          {"on the device in a build without the CUDA backend"});
  }
}

TEST(ExpertAdmm, AWarmStartFromAnotherQpIsAnError) {
  test::expect_warm_start_from_another_qp_is_an_error(Backend::kCpu);
}

TEST(ExpertAdmm, RhoLevelsFollowOsqpsRuleAndShareTheirFactorization) {
  AdmmSettings s;
  s.adaptive_rho_tolerance = 5;
  // Within the tolerance rho stays; beyond it, it moves by the ratio rounded to a power of two.
  EXPECT_EQ(detail::admm_next_rho_level(s, 0, std::log(4.9)), 0);
  EXPECT_EQ(detail::admm_next_rho_level(s, 0, std::log(1 / 4.9)), 0);
  EXPECT_EQ(detail::admm_next_rho_level(s, 0, std::log(37.0)), 5);  // log2 37 = 5.2
  EXPECT_EQ(detail::admm_next_rho_level(s, 2, std::log(1 / 6.0)), -1);
  EXPECT_EQ(detail::admm_next_rho_level(s, 0, std::log(1e30)), kRhoLevelMax);
  EXPECT_EQ(detail::admm_next_rho_level(s, 0, std::log(1e-30)), kRhoLevelMin);

  const ExpertAdmm admm(build_expert_qp(test::default_env_spec(), 16), s);
  EXPECT_EQ(admm.factor_at(3).get(), admm.factor_at(3).get());
  EXPECT_NE(admm.factor_at(3).get(), admm.factor_at(0).get());
  EXPECT_NE(test::error_of([&] { admm.factor_at(kRhoLevelMax + 1); }).find("rho level"),
            std::string::npos);
}

TEST(ExpertAdmm, LaneStatusNamesSolvedInfeasibleOrGoOn) {
  AdmmSettings s;
  AdmmLaneStats st;
  st.prim = 1e-4, st.ax = 10, st.zn = 10, st.dual = 1e-4, st.px = 1, st.aty = 1, st.qn = 1;
  EXPECT_EQ(detail::admm_lane_status(s, st), SolveStatus::kSolved);
  st.prim = 1;  // primal residual above eps_abs + eps_rel * 10
  EXPECT_EQ(detail::admm_lane_status(s, st), SolveStatus::kMaxIterations);
  // A certificate: dy with u'dy+ + l'dy- < 0 and A'dy ~ 0 proves infeasibility ...
  st.dy_norm = 1, st.support = -1, st.atdy = 0;
  EXPECT_EQ(detail::admm_lane_status(s, st), SolveStatus::kPrimalInfeasible);
  st.atdy = 1;  // ... unless A'dy is far from 0
  EXPECT_EQ(detail::admm_lane_status(s, st), SolveStatus::kMaxIterations);
  // The share of dy that pushes against an infinite bound is dropped (OSQP's projection).
  EXPECT_EQ(lane_polar(2.0, -1.0, 1e30, 1e30), 0.0);
  EXPECT_EQ(lane_polar(-2.0, -1.0, 1e30, 1e30), -2.0);
  EXPECT_EQ(lane_polar(-2.0, -1e30, 1.0, 1e30), 0.0);
  EXPECT_EQ(lane_polar(2.0, -1e30, 1.0, 1e30), 2.0);
  EXPECT_EQ(lane_polar(2.0, -1e30, 1e30, 1e30), 0.0);
  double r = 0;
  st.prim = 0;
  EXPECT_FALSE(detail::admm_log_ratio(st, &r));
}

/// Hand-made rows of one block without a voltage tree, every bound in the shared table (lo, hi
/// scaled; +-kInfinity for none) or, where `slot` says so, in the lanes' own vectors: what the
/// kernels read of an AdmmRowsView. Row scaling e, column scaling d and step sizes rho are
/// given; P and q are zero.
struct HandRows {
  int n = 0;
  std::vector<int> self_ptr, self_cols, prev_ptr, prev_cols, row_node, slot;
  std::vector<double> self_vals, prev_vals, rho, e, d, p_diag, q, lo, hi;
  AdmmRowsView view(int blocks, int lane_rows) {
    const int m = static_cast<int>(rho.size());
    row_node.assign(m, -1);
    p_diag.assign(n, 0.0);
    q.assign(std::size_t(blocks) * n, 0.0);
    AdmmRowsView v;
    v.n = n;
    v.m = m;
    v.self_ptr = self_ptr.data();
    v.self_cols = self_cols.data();
    v.self_vals = self_vals.data();
    v.prev_ptr = prev_ptr.data();
    v.prev_cols = prev_cols.data();
    v.prev_vals = prev_vals.data();
    v.rho = rho.data();
    v.p_diag = p_diag.data();
    v.q = q.data();
    v.e = e.data();
    v.d = d.data();
    v.infinity = kInfinity;
    v.row_node = row_node.data();
    v.bounds = AdmmBoundsView{lane_rows, slot.data(), lo.data(), hi.data()};
    return v;
  }
};

TEST(ExpertAdmm, TheInfeasibilityCertificateDropsTheShareAgainstAnInfiniteBound) {
  // x0 >= 2 (row A) and x0 <= 1 (row B) cannot both hold; row C, x0 + x1 >= 0, has no upper
  // bound. dy = (-1, +1, dy_C) certifies it when dy_C pushes against C's infinite upper bound
  // (OSQP projects that share away, in |dy|, u'dy+ + l'dy- and A'dy alike): A'dy = 0 and
  // l_A dy_A + u_B dy_B = -1. A dy_C of -1 meets C's finite lower bound and stays: then A'dy
  // = (-1, -1), no certificate.
  HandRows h;
  h.n = 2;
  h.self_ptr = {0, 1, 2, 4};
  h.self_cols = {0, 0, 0, 1};
  h.self_vals = {1, 1, 1, 1};
  h.prev_ptr = {0, 0, 0, 0};
  h.rho = {1, 1, 1};
  h.e = {1, 1, 1};
  h.d = {1, 1};
  h.slot = {-1, -1, -1};
  h.lo = {2, -kInfinity, 0};
  h.hi = {kInfinity, 1, kInfinity};
  const AdmmRowsView rows = h.view(1, 0);
  // w = z + y / rho: y = w - clamp(w) at rho 1. y_prev = (-1, 1, -2); y = (-2, 2, y_C).
  const std::vector<double> w_prev = {1, 2, -2};
  auto w_with = [](double dy_c) { return std::vector<double>{0, 3, -2 + dy_c}; };
  const AdmmSettings s;

  // One lane (the CUDA threads' accessors).
  for (double dy_c : {1.0, -1.0}) {
    SCOPED_TRACE("one lane, dy_C " + std::to_string(dy_c));
    std::vector<double> x(2, 0.0), w = w_with(dy_c), wp = w_prev, ax(3), aty(2), atdy(2), tree(1),
                                   no_lane_bounds(1);
    auto acc = [](std::vector<double>& v) { return Strided<double>{v.data(), 1}; };
    admm_check_products(rows, 1, 1.0, acc(x), acc(w), acc(wp), acc(no_lane_bounds),
                        acc(no_lane_bounds), acc(ax), acc(aty), acc(atdy), acc(tree));
    AdmmLaneStats st;
    admm_lane_stats(rows, 1, 1.0, kInfinity, acc(x), acc(w), acc(wp), acc(no_lane_bounds),
                    acc(no_lane_bounds), acc(ax), acc(aty), acc(atdy), &st);
    const bool dropped = dy_c > 0;
    EXPECT_EQ(atdy[0], dropped ? 0.0 : -1.0);
    EXPECT_EQ(atdy[1], dropped ? 0.0 : -1.0);
    EXPECT_EQ(st.dy_norm, 1.0);
    EXPECT_EQ(st.support, -1.0);  // 2 x (-1) + 1 x 1 (+ 0 x dy_C where it stays)
    EXPECT_EQ(st.atdy, dropped ? 0.0 : 1.0);
    EXPECT_EQ(detail::admm_lane_status(s, st),
              dropped ? SolveStatus::kPrimalInfeasible : SolveStatus::kMaxIterations);
  }

  // Four lanes of the CPU's groups: dy_C = +1, -1, +1, -1.
  using Pack = LanePack<4>;
  auto pack = [](const std::vector<double>& per_lane_row, int rows_or_cols) {
    std::vector<Pack> v(rows_or_cols);
    for (int i = 0; i < rows_or_cols; ++i)
      for (int g = 0; g < 4; ++g) v[i].v[g] = per_lane_row[std::size_t(g) * rows_or_cols + i];
    return v;
  };
  std::vector<double> w_lanes;
  for (int g = 0; g < 4; ++g) {
    const std::vector<double> wg = w_with(g % 2 == 0 ? 1.0 : -1.0);
    w_lanes.insert(w_lanes.end(), wg.begin(), wg.end());
  }
  std::vector<double> wp_lanes;
  for (int g = 0; g < 4; ++g) wp_lanes.insert(wp_lanes.end(), w_prev.begin(), w_prev.end());
  std::vector<Pack> x(2, Pack{}), w = pack(w_lanes, 3), wp = pack(wp_lanes, 3), ax(3), aty(2),
                                  atdy(2), tree(1), no_lane_bounds(1);
  admm_check_products(rows, 1, 1.0, x.data(), w.data(), wp.data(), no_lane_bounds.data(),
                      no_lane_bounds.data(), ax.data(), aty.data(), atdy.data(), tree.data());
  AdmmLaneStats st[4];
  admm_lane_stats(rows, 1, 1.0, kInfinity, x.data(), w.data(), wp.data(), no_lane_bounds.data(),
                  no_lane_bounds.data(), ax.data(), aty.data(), atdy.data(), st);
  for (int g = 0; g < 4; ++g) {
    SCOPED_TRACE("lane " + std::to_string(g) + " of 4");
    const bool dropped = g % 2 == 0;
    EXPECT_EQ(atdy[0].v[g], dropped ? 0.0 : -1.0);
    EXPECT_EQ(atdy[1].v[g], dropped ? 0.0 : -1.0);
    EXPECT_EQ(st[g].support, -1.0);
    EXPECT_EQ(detail::admm_lane_status(s, st[g]),
              dropped ? SolveStatus::kPrimalInfeasible : SolveStatus::kMaxIterations);
  }
}

TEST(ExpertAdmm, AWarmStartMovesTheFirstStepsStateRowsIntoTheirNewBoundsAndKeepsTheirDuals) {
  // Two blocks (block 1 is the first step: the step before is the next block). Rows 0 and 1
  // link a step to the one before (entries in the next block, like SOC dynamics and the CDG
  // ramp), with bounds of the lanes' own that the new state moved in the first step; row 2
  // has none and table bounds. Unscaled warm z outside those bounds: the first step's state
  // rows get theirs clamped into the new bounds (z~ = E z, then w = z~ + y~ / rho with y kept);
  // every other row keeps its z, and the shift becomes dual as for any warm start.
  HandRows h;
  h.n = 1;
  h.self_ptr = {0, 1, 2, 3};
  h.self_cols = {0, 0, 0};
  h.self_vals = {1, 1, 1};
  h.prev_ptr = {0, 1, 2, 2};
  h.prev_cols = {0, 0};
  h.prev_vals = {-1, -1};
  h.rho = {1, 2, 0.5};
  h.e = {2, 0.5, 4};
  h.d = {2};
  h.slot = {0, 1, -1};
  h.lo = {0, 0, -1};  // table bounds (scaled); rows 0 and 1 read the lanes' own below
  h.hi = {0, 0, 1};
  AdmmRowsView rows = h.view(2, 2);
  rows.cost_scale = 3;
  const double rho_scale = 2;
  // Scaled lane bounds [block * 2 + slot]: block 0 (the later step) row 0 [0, 0], row 1
  // [-3, 3]; block 1 (the first step) row 0 [10, 14], row 1 [2, 8].
  std::vector<double> lo = {0, -3, 10, 2}, hi = {0, 3, 14, 8};
  const std::vector<double> xu = {4, 6};
  // z~ = E z: block 0 (0, 0.5, 12), block 1 (18, -1, 12).
  const std::vector<double> zu = {0, 1, 3, 9, -2, 3};
  const std::vector<double> yu = {0.5, -0.25, 0.75, 1.5, -1, 0.25};
  std::vector<double> x(2), w(6);
  admm_start_lane(rows, 2, rho_scale, true, xu.data(), zu.data(), yu.data(), lo.data(), hi.data(),
                  x.data(), w.data());
  EXPECT_EQ(x, (std::vector<double>{2, 3}));
  const double z_want[6] = {0, 0.5, 12, 14, 2, 12};  // the first step's rows 0, 1 clamped
  for (int i = 0; i < 6; ++i) {
    const int r = i % 3;
    const double y_over_rho = yu[i] * rows.cost_scale / h.e[r] / (rho_scale * h.rho[r]);
    EXPECT_DOUBLE_EQ(w[i], z_want[i] + y_over_rho) << "block " << i / 3 << ", row " << r;
  }
  // Cold: x~ = 0 and w = clamp(0, l~, u~) (y = 0).
  admm_start_lane(rows, 2, rho_scale, false, xu.data(), zu.data(), yu.data(), lo.data(), hi.data(),
                  x.data(), w.data());
  EXPECT_EQ(x, (std::vector<double>{0, 0}));
  EXPECT_EQ(w, (std::vector<double>{0, 0, 0, 10, 2, 0}));
}

TEST(ExpertAdmm, SettingsOutOfRangeAreErrorsThatNameThem) {
  const ExpertQp qp = build_expert_qp(test::default_env_spec(), 16);
  AdmmSettings s;
  s.chunk_envs = 0;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("chunk_envs must be >= 1"),
            std::string::npos);
  s = AdmmSettings{};
  s.check_every = 0;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("check_every and max_iterations"),
            std::string::npos);
  s = AdmmSettings{};
  s.alpha = 2;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("0 < alpha < 2"), std::string::npos);
  s = AdmmSettings{};
  s.rho_factor_voltage = 0;
  EXPECT_NE(test::error_of([&] { ExpertAdmm a(qp, s); }).find("rho_factor_voltage must be > 0"),
            std::string::npos);
  Config c = Config::defaults();
  c.set("expert.chunk_envs=0");
  EXPECT_NE(test::error_of([&] { resolve_expert_config(c); }).find("expert.chunk_envs"),
            std::string::npos);
  // The config's keys are named with their values.
  for (const char* bad :
       {"expert.rho=0", "expert.sigma=-1", "expert.alpha=2", "expert.eps_abs=-1",
        "expert.eps_rel=-0.0001", "expert.rho_factor_bounds=0", "expert.rho_factor_voltage=-1",
        "expert.adaptive_rho_tolerance=1", "expert.dso_tolerance_pu=-1",
        // Too large for the factorization or the scaled problem to stay in range.
        "expert.rho=2000000", "expert.rho=1e-12", "expert.sigma=2", "expert.eps_rel=2",
        "expert.rho_factor_bounds=2000000", "expert.adaptive_rho_tolerance=2000000"}) {
    Config d = Config::defaults();
    d.set(bad);
    const std::string assignment(bad);
    const std::string key = assignment.substr(0, assignment.find('='));
    const std::string value = assignment.substr(assignment.find('=') + 1);
    test::expect_mentions(test::error_of([&] { resolve_expert_config(d); }),
                          {"config key '" + key + "' = " + value, "expected"});
  }
}

TEST(ExpertAdmm, TheCudaBackendIsAnErrorWhereThereIsNone) {
  if (cuda_device_available()) GTEST_SKIP() << "a CUDA device is present";
  const Expert expert(test::default_env_spec(), settings_on(Backend::kCuda, true),
                      test::default_cpu_powerflow());
  const std::string msg =
      test::error_of([&] { expert.plan(test::expert_envs_from(expert, 90, 1)); });
  EXPECT_NE(msg, "(no error)");
  if (!built_with_cuda()) EXPECT_NE(msg.find("without the CUDA backend"), std::string::npos) << msg;
  if (built_with_cuda()) EXPECT_NE(msg.find("backend 'cuda': "), std::string::npos) << msg;
}

TEST(ExpertAdmmCuda, TakesTheCpuDecisionsAndReturnsItsPlans) {
  P2P_REQUIRE_CUDA_DEVICE();
  test::expect_cuda_plans_equal_cpu_plans(20000, false);
  test::expect_cuda_plans_equal_cpu_plans(310, false);  // every env ends between two checks
  test::expect_cuda_plans_equal_cpu_plans(30, false);   // every env still runs at the limit
  test::expect_cuda_solves_equal_cpu_solves_on_bound_cases(false);
  test::expect_cuda_dso_round_equal_cpu(false);
  test::expect_warm_start_from_another_qp_is_an_error(Backend::kCuda);
  test::expect_cuda_certificates_equal_cpu(false);
#if defined(P2P_HAVE_CUDA)
  test::expect_device_bounds_equal_host_bounds();
#endif
}

}  // namespace
}  // namespace p2pgrid
