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
  // repair; always possible, as buying and selling at once costs the spread).
  std::mt19937 rng(7);
  int repaired = 0;
  for (int draw = 0; draw < 600; ++draw) {
    const double scale = std::pow(10.0, -7.0 + 8.0 * (draw % 100) / 99.0);  // 1e-7 .. 10
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
}

TEST(ExpertCertificate, GivesNoBoundWhereTheLagrangianHasNoFiniteMinimum) {
  ExpertQp qp = toy_qp();
  std::vector<double> l, u;
  toy_bounds(l, u);
  const std::vector<double> x(kBlocks * 4, 1.0), y(kBlocks * 5, 0.0);
  // A non-convex cost.
  qp.p_diag[0] = -0.1;
  EXPECT_FALSE(certify_expert_plan(qp, kBlocks, l, u, x, y).bounded);
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
                        {"4 blocks need 16 values of x"});
}

}  // namespace
}  // namespace p2pgrid
