// The weak-duality certificate of a plan (expert_certificate.hpp) on a small QP of the expert's
// block form, whose optimum the test suite's own interior point gives: the bound lies below that
// optimum whatever the multipliers (the property that makes it a certificate), is tight with
// exact ones, and is refused where the Lagrangian has no finite minimum. Its agreement with
// tools/check_qp.py and with the interior point on the full expert's QPs is tested in
// tests/cli and tests/expert/expert_qp_test.cpp.
#include "p2pgrid/expert/expert_certificate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "support/errors.hpp"
#include "support/qp_interior_point.hpp"

namespace p2pgrid {
namespace {

// Per block (a step): a generator g (quadratic cost, 0..5 kW), a grid purchase b and a sale e
// (>= 0, no upper bound, as b - e is free: the case ADMM's dual noise makes hard) and a store s
// (0..4 kWh) linked to the step before: g + b - e + s_prev - s = demand. Blocks in the expert's
// reverse time: the last block is the first step, whose s_prev (0) is not a variable.
constexpr int kBlocks = 3;
constexpr double kDemand[kBlocks] = {3.0, 6.5, 4.0};

ExpertQp toy_qp() {
  ExpertQp qp;
  qp.steps = kBlocks;
  qp.block_vars = 4;
  qp.block_rows = 5;
  auto bound_row = [](int col) {
    QpRowInfo r;
    r.kind = QpRow::kBound;
    r.cols = {col};
    r.vals = {1.0};
    return r;
  };
  QpRowInfo balance;
  balance.kind = QpRow::kBalanceP;
  balance.cols = {0, 1, 2, 3};
  balance.vals = {1.0, 1.0, -1.0, -1.0};
  balance.prev_cols = {3};
  balance.prev_vals = {1.0};
  qp.rows = {bound_row(0), bound_row(1), bound_row(2), bound_row(3), balance};
  qp.p_diag = {0.8, 0.0, 0.0, 0.0};
  for (int k = 0; k < kBlocks; ++k) {
    const double buy = 2.0 + 0.7 * (kBlocks - 1 - k);      // dearer later in the day
    qp.q.insert(qp.q.end(), {0.5, buy, 0.4 - buy, 0.05});  // sold 0.4 below the price
  }
  qp.constant_per_step_cny = 1.25;
  return qp;
}

void toy_bounds(std::vector<double>& l, std::vector<double>& u) {
  l.clear();
  u.clear();
  for (int k = 0; k < kBlocks; ++k) {
    l.insert(l.end(), {0.0, 0.0, 0.0, 0.0, kDemand[k]});
    u.insert(u.end(), {5.0, kInfinity, kInfinity, 4.0, kDemand[k]});
  }
}

/// The toy QP written out densely for the interior point (its own reading of the block form).
test::DenseQp dense_toy(const ExpertQp& qp, const std::vector<double>& l,
                        const std::vector<double>& u) {
  test::DenseQp d;
  const int nb = qp.block_vars, mb = qp.block_rows;
  d.n = kBlocks * nb;
  d.m = kBlocks * mb;
  d.P.assign(std::size_t(d.n) * d.n, 0.0);
  for (int j = 0; j < d.n; ++j) d.P[std::size_t(j) * d.n + j] = qp.p_diag[j % nb];
  d.q = qp.q;
  d.A.assign(std::size_t(d.m) * d.n, 0.0);
  for (int k = 0; k < kBlocks; ++k)
    for (int r = 0; r < mb; ++r) {
      const QpRowInfo& row = qp.rows[r];
      double* a = &d.A[std::size_t(k * mb + r) * d.n];
      for (std::size_t e = 0; e < row.cols.size(); ++e) a[k * nb + row.cols[e]] = row.vals[e];
      if (k + 1 < kBlocks)
        for (std::size_t e = 0; e < row.prev_cols.size(); ++e)
          a[(k + 1) * nb + row.prev_cols[e]] = row.prev_vals[e];
    }
  d.l = l;
  d.u = u;
  d.constant = qp.constant_per_step_cny * kBlocks;
  return d;
}

TEST(ExpertCertificate, BoundsTheOptimumFromBelowWhateverTheMultipliers) {
  const ExpertQp qp = toy_qp();
  std::vector<double> l, u;
  toy_bounds(l, u);
  const test::InteriorPointResult opt = test::solve_qp_interior_point(dense_toy(qp, l, u));
  ASSERT_TRUE(opt.converged) << opt.message;
  // With the interior point's own solution and multipliers: the bound closes on the optimum.
  const ExpertCertificate exact = certify_expert_plan(qp, kBlocks, l, u, opt.x, opt.y);
  ASSERT_TRUE(exact.bounded);
  EXPECT_NEAR(exact.objective_cny, opt.objective, 1e-12 * std::abs(opt.objective));
  EXPECT_LE(exact.lower_bound_cny, opt.objective);
  EXPECT_LT(exact.gap, 1e-8);
  EXPECT_LT(exact.max_violation, 1e-8);
  // Any other multipliers: never above the optimum. Small noise (ADMM's) keeps it close; the
  // purchase or the sale, unbounded above, then needs the balance's multiplier shifted (the
  // repair; always possible, as buying and selling at once costs the spread, and it must land
  // past the reduced costs' rounding, which grows with the noise).
  std::mt19937 rng(7);
  int repaired = 0;
  for (int draw = 0; draw < 600; ++draw) {
    const double scale = std::pow(10.0, -7.0 + 12.0 * (draw % 100) / 99.0);  // 1e-7 .. 1e5
    std::normal_distribution<double> noise(0.0, scale);
    std::vector<double> y = opt.y;
    for (double& v : y) v += noise(rng);
    const ExpertCertificate c = certify_expert_plan(qp, kBlocks, l, u, opt.x, y);
    SCOPED_TRACE("draw " + std::to_string(draw) + ", noise " + std::to_string(scale));
    ASSERT_TRUE(c.bounded) << c.unbounded_variables;
    EXPECT_LE(c.lower_bound_cny, opt.objective + 1e-9 * std::abs(opt.objective));
    if (scale < 1e-6) EXPECT_LT(c.gap, 1e-5);
    repaired += c.multipliers_moved > 0;
  }
  EXPECT_GT(repaired, 100) << "the noise should have pulled a trade below zero cost";
}

TEST(ExpertCertificate, ProjectsTheMultipliersSignsAndRepairsOnlyLinearVariables) {
  const ExpertQp qp = toy_qp();
  std::vector<double> l, u;
  toy_bounds(l, u);
  // The balances one-sided (>= demand) and the trades capped at 100 kW: a multiplier of the
  // wrong sign on a row without an upper bound must be projected to 0, not multiplied by +inf.
  for (int k = 0; k < kBlocks; ++k) {
    u[k * 5 + 4] = kInfinity;
    u[k * 5 + 1] = u[k * 5 + 2] = 100.0;
  }
  test::InteriorPointResult opt = test::solve_qp_interior_point(dense_toy(qp, l, u));
  ASSERT_TRUE(opt.converged) << opt.message;
  std::vector<double> y = opt.y;
  y[4] = 1e-3;  // pushing against the missing upper bound
  const ExpertCertificate projected = certify_expert_plan(qp, kBlocks, l, u, opt.x, y);
  ASSERT_TRUE(projected.bounded) << projected.no_bound_reason;
  EXPECT_LE(projected.lower_bound_cny, opt.objective);
  // The generator free (its quadratic cost bounds it): no shift is needed for it, and the
  // exact multipliers certify the optimum without moving.
  toy_bounds(l, u);
  for (int k = 0; k < kBlocks; ++k) l[k * 5] = -kInfinity, u[k * 5] = kInfinity;
  opt = test::solve_qp_interior_point(dense_toy(qp, l, u));
  ASSERT_TRUE(opt.converged) << opt.message;
  const ExpertCertificate free_g = certify_expert_plan(qp, kBlocks, l, u, opt.x, opt.y);
  ASSERT_TRUE(free_g.bounded) << free_g.no_bound_reason;
  EXPECT_LT(free_g.gap, 1e-8);
  EXPECT_LT(free_g.multipliers_moved, 1e-6);
}

TEST(ExpertCertificate, ReportsHowFarThePointLiesOutsideItsRows) {
  const ExpertQp qp = toy_qp();
  std::vector<double> l, u;
  toy_bounds(l, u);
  const test::InteriorPointResult opt = test::solve_qp_interior_point(dense_toy(qp, l, u));
  std::vector<double> x = opt.x;
  x[1 * 4 + 3] = 4.5;  // the store of block 1 past its 4 kWh
  const ExpertCertificate c = certify_expert_plan(qp, kBlocks, l, u, x, opt.y);
  // Its bound row by 0.5 kWh, and the balances of blocks 1 and 0 by the change of s.
  EXPECT_NEAR(c.max_violation, std::max(0.5, std::abs(4.5 - opt.x[7])), 1e-7);
  EXPECT_GE(c.worst_row, 0);
  // Below a lower bound too: the generator at -0.5 kW (its row, and its block's balance).
  x = opt.x;
  x[0] = -0.5;
  EXPECT_NEAR(certify_expert_plan(qp, kBlocks, l, u, x, opt.y).max_violation,
              std::max(0.5, 0.5 + opt.x[0]), 1e-7);
}

TEST(ExpertCertificate, GivesNoBoundWhereTheLagrangianHasNoFiniteMinimum) {
  ExpertQp qp = toy_qp();
  std::vector<double> l, u;
  toy_bounds(l, u);
  const std::vector<double> x(kBlocks * 4, 1.0), y(kBlocks * 5, 0.0);
  // A non-convex cost.
  qp.p_diag[0] = -0.1;
  const ExpertCertificate nonconvex = certify_expert_plan(qp, kBlocks, l, u, x, y);
  EXPECT_FALSE(nonconvex.bounded);
  EXPECT_NE(nonconvex.no_bound_reason.find("not convex"), std::string::npos);
  qp.p_diag[0] = 0.8;
  // The stores without bounds and the balance an inequality (no multiplier to shift): with
  // y = 0 the stores' holding cost pulls them toward -inf and the sales' price toward +inf.
  for (int k = 0; k < kBlocks; ++k) {
    l[k * 5 + 3] = -kInfinity;
    u[k * 5 + 3] = kInfinity;
    u[k * 5 + 4] = kInfinity;
  }
  const ExpertCertificate c = certify_expert_plan(qp, kBlocks, l, u, x, y);
  EXPECT_FALSE(c.bounded);
  EXPECT_EQ(c.unbounded_variables, 2 * kBlocks);
  EXPECT_EQ(c.no_bound_reason, "6 variables without a bound where the Lagrangian is linear");
}

// Rounding: the bound stays below the optimum where the reduced costs or a term cancel (cases
// a review built: with margins from the results' sizes alone, both gave bounds above it).
TEST(ExpertCertificate, RoundingCannotLiftTheBoundAboveTheOptimum) {
  auto row = [](std::vector<int> cols, std::vector<double> vals) {
    QpRowInfo r;
    r.kind = cols.size() == 1 ? QpRow::kBound : QpRow::kBalanceP;
    r.cols = std::move(cols);
    r.vals = std::move(vals);
    return r;
  };
  // x0 in [1, 2], x1 in [-10, 10], x0 + 3 x1 = 0 and 3 x0 + 9 x1 = 0: no cost, optimum 0. The
  // multipliers (t, -t/3) cancel in A'y exactly, but not in floating point.
  ExpertQp two;
  two.steps = 1;
  two.block_vars = 2;
  two.block_rows = 4;
  two.rows = {row({0}, {1.0}), row({1}, {1.0}), row({0, 1}, {1.0, 3.0}), row({0, 1}, {3.0, 9.0})};
  two.p_diag = {0.0, 0.0};
  two.q = {0.0, 0.0};
  const std::vector<double> l2 = {1, -10, 0, 0}, u2 = {2, 10, 0, 0}, x2 = {1.5, -0.5};
  int above = 0, bounded = 0;
  for (int k = 0; k < 20000; ++k) {
    const double t = (k % 2 ? 1e10 : 1e3) * (1 + k * 0.000137);
    const ExpertCertificate c = certify_expert_plan(two, 1, l2, u2, x2, {0, 0, t, -t / 3});
    bounded += c.bounded;
    above += c.bounded && c.lower_bound_cny > 0;
  }
  EXPECT_EQ(above, 0) << "of " << bounded << " bounds";
  // x >= lo with 1/2 p x^2 + q x, q ~ -p lo / 2: the optimum (at lo) cancels to about 0.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uniform(0.5, 2.0);
  ExpertQp one;
  one.steps = 1;
  one.block_vars = 1;
  one.block_rows = 1;
  one.rows = {row({0}, {1.0})};
  above = 0;
  for (int k = 0; k < 20000; ++k) {
    const double p = uniform(rng), lo = 1000 * uniform(rng);
    const double q = -0.5 * p * lo * (1 + 1e-15 * (uniform(rng) - 1.25));
    one.p_diag = {p};
    one.q = {q};
    const ExpertCertificate c = certify_expert_plan(one, 1, {lo}, {kInfinity}, {lo}, {0.0});
    const long double optimum = 0.5L * p * (long double)lo * lo + (long double)q * lo;
    ASSERT_TRUE(c.bounded);
    above += (long double)c.lower_bound_cny > optimum;
  }
  EXPECT_EQ(above, 0);
  // A constant of 1e17 CNY (its ulp is 16): the sum's rounding alone would lift the bound
  // above the optimum 1e17 + 9 without its margin.
  one.p_diag = {0.0};
  one.q = {9.0};
  one.constant_per_step_cny = 1e17;
  const ExpertCertificate big = certify_expert_plan(one, 1, {1.0}, {1.0}, {1.0}, {0.0});
  ASSERT_TRUE(big.bounded);
  EXPECT_LE((long double)big.lower_bound_cny, 1e17L + 9);
}

TEST(ExpertCertificate, NumbersThatAreNotFiniteGiveNoFalseCertificate) {
  const ExpertQp qp = toy_qp();
  std::vector<double> l, u;
  toy_bounds(l, u);
  const test::InteriorPointResult opt = test::solve_qp_interior_point(dense_toy(qp, l, u));
  std::vector<double> x = opt.x, y = opt.y;
  x[0] = std::nan("");
  const ExpertCertificate nan_x = certify_expert_plan(qp, kBlocks, l, u, x, y);
  EXPECT_TRUE(std::isinf(nan_x.max_violation));
  EXPECT_GE(nan_x.worst_row, 0);
  EXPECT_FALSE(nan_x.gap <= 1e-3);  // infinite, not NaN: sorts and compares
  y[4] = std::numeric_limits<double>::infinity();
  const ExpertCertificate inf_y = certify_expert_plan(qp, kBlocks, l, u, opt.x, y);
  EXPECT_FALSE(inf_y.bounded);
  EXPECT_EQ(inf_y.no_bound_reason, "multiplier 4 is not a finite number");
  y[4] = 1e308;  // finite, but the sums overflow: no bound rather than a NaN one
  const ExpertCertificate huge_y = certify_expert_plan(qp, kBlocks, l, u, opt.x, y);
  EXPECT_TRUE(!huge_y.bounded || huge_y.lower_bound_cny <= opt.objective);
  if (huge_y.bounded) EXPECT_TRUE(std::isfinite(huge_y.gap));
}

TEST(ExpertCertificate, SizesThatDoNotMatchAreAnError) {
  const ExpertQp qp = toy_qp();
  std::vector<double> l, u;
  toy_bounds(l, u);
  const std::vector<double> x(kBlocks * 4, 0.0), y(kBlocks * 5 - 1, 0.0);
  test::expect_mentions(
      test::error_of([&] { certify_expert_plan(qp, kBlocks, l, u, x, y); }),
      {"3 blocks need 12 values of x and 15 of y, l and u; got 12, 14, 15 and 15"});
  test::expect_mentions(test::error_of([&] { certify_expert_plan(qp, kBlocks + 1, l, u, x, y); }),
                        {"4 blocks; the QP has 1 to 3"});
  test::expect_mentions(test::error_of([&] { certify_expert_plan(qp, -1, l, u, x, y); }),
                        {"-1 blocks; the QP has 1 to 3"});
  ExpertQp short_q = qp;
  short_q.q.pop_back();
  test::expect_mentions(test::error_of([&] {
                          certify_expert_plan(short_q, kBlocks, l, u, x, {y.begin(), y.end()});
                        }),
                        {"3 blocks need"});
}

}  // namespace
}  // namespace p2pgrid
