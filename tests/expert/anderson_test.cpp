// Anderson acceleration of the expert's ADMM (anderson.hpp): the extrapolation on a fixed-point
// map whose answer is known, its state machine (no step before two points, the safeguard), and
// what it does to the expert's plans.
#include "p2pgrid/expert/anderson.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/expert/expert.hpp"
#include "support/env_fixtures.hpp"
#include "support/errors.hpp"

namespace p2pgrid {
namespace {

// An affine map w <- M w + c on R^6 whose slowest modes are a complex pair of modulus 0.97 (the
// oscillating decay ADMM shows), with w* = (1, ..., 6) as its fixed point.
struct AffineMap {
  static constexpr int kDim = 6;
  double m[kDim][kDim] = {};
  double c[kDim] = {};
  AffineMap() {
    auto rotation = [&](int i, double radius, double angle) {
      m[i][i] = m[i + 1][i + 1] = radius * std::cos(angle);
      m[i][i + 1] = -radius * std::sin(angle);
      m[i + 1][i] = radius * std::sin(angle);
    };
    rotation(0, 0.97, 0.3);
    rotation(2, 0.9, 1.2);
    m[4][4] = 0.95;
    m[5][5] = -0.5;
    m[4][5] = 0.2;  // not normal
    for (int i = 0; i < kDim; ++i) {
      c[i] = fixed_point(i);
      for (int j = 0; j < kDim; ++j) c[i] -= m[i][j] * fixed_point(j);
    }
  }
  static double fixed_point(int i) { return i + 1.0; }
  void apply(double* w) const {
    double out[kDim];
    for (int i = 0; i < kDim; ++i) {
      out[i] = c[i];
      for (int j = 0; j < kDim; ++j) out[i] += m[i][j] * w[j];
    }
    for (int i = 0; i < kDim; ++i) w[i] = out[i];
  }
  static double error(const double* w) {
    double e = 0;
    for (int i = 0; i < kDim; ++i) e = std::max(e, std::abs(w[i] - fixed_point(i)));
    return e;
  }
};

// Iterations of the map from w = 0 until the error is below 1e-10, with an Anderson point
// (memory `memory`, 0: none) after each `interval` of them; at most `limit`.
int iterations_to_converge(int memory, int interval, int limit) {
  const AffineMap map;
  constexpr int n = AffineMap::kDim;
  double w[n] = {};
  std::vector<double> hist(2 * n, 0.0);
  std::vector<float> histf((1 + 2 * kAndersonMaxMemory) * n, 0.0f);
  AndersonLane lane;
  if (memory > 0) {
    anderson_restart(n, memory, w, hist.data(), histf.data());
    lane.points = 1;
  }
  for (int it = 1, points = 0; it <= limit; ++it) {
    map.apply(w);
    if (memory > 0 && it % interval == 0) {
      const int slot = points++ % memory;
      AndersonSums<double> sums;
      anderson_record(n, memory, slot, w, hist.data(), histf.data(), sums);
      double gamma[kAndersonMaxMemory];
      bool use[kAndersonMaxMemory];
      const double revert =
          anderson_coefficients(lane, memory, slot, sums.ff, sums.f_df, sums.df_dfnew, gamma);
      for (int s = 0; s < memory; ++s) use[s] = gamma[s] != 0;
      anderson_step(n, memory, slot, gamma, use, revert, w, hist.data(), histf.data());
    }
    if (AffineMap::error(w) < 1e-10) return it;
  }
  return limit + 1;
}

TEST(AndersonAcceleration, CancelsTheSlowOscillatingModesOfAnAffineMap) {
  // Plain iteration needs about log(1e-10) / log(0.97) = 756 steps. With as many points as the
  // map has dimensions, Anderson acceleration on an affine map is GMRES in disguise (Walker & Ni
  // 2011): it ends in a few more steps than there are modes. With fewer points (the expert's 4
  // on its 60,000 dimensions) it still cancels the slowest modes it sees.
  const int plain = iterations_to_converge(0, 1, 5000);
  const int full_memory = iterations_to_converge(AffineMap::kDim, 1, 5000);
  const int memory4 = iterations_to_converge(4, 2, 5000);
  std::printf(
      "[ anderson ] affine map to 1e-10: plain %d, memory 6 every step %d, memory 4 every "
      "2nd step %d\n",
      plain, full_memory, memory4);
  EXPECT_GT(plain, 700);
  EXPECT_LT(plain, 800);
  EXPECT_LE(full_memory, AffineMap::kDim + 4);
  EXPECT_LT(3 * memory4, plain);
}

TEST(AndersonAcceleration, TakesNoStepBeforeItsThirdPointAndUndoesAStepThatDidNotPay) {
  const int memory = 4;
  AndersonLane lane;
  double f_df[kAndersonMaxMemory] = {1, 0, 0, 0}, df_dfnew[kAndersonMaxMemory] = {2, 0, 0, 0};
  double gamma[kAndersonMaxMemory];
  auto all_zero = [&] {
    for (int s = 0; s < memory; ++s)
      if (gamma[s] != 0) return false;
    return true;
  };
  // Point 1 only records u; point 2 has a residual but no difference of residuals yet.
  EXPECT_FALSE(anderson_coefficients(lane, memory, 0, 4.0, f_df, df_dfnew, gamma));
  EXPECT_TRUE(all_zero());
  EXPECT_FALSE(anderson_coefficients(lane, memory, 1, 4.0, f_df, df_dfnew, gamma));
  EXPECT_TRUE(all_zero());
  EXPECT_EQ(lane.f_norm2, 4.0);
  // Point 3: one valid slot (2): gamma = (df . f) / (df . df) = 1 / 2 (and a 1e-10 Tikhonov).
  f_df[2] = 1;
  df_dfnew[2] = 2;
  EXPECT_FALSE(anderson_coefficients(lane, memory, 2, 3.0, f_df, df_dfnew, gamma));
  EXPECT_NEAR(gamma[2], 0.5, 1e-9);
  EXPECT_EQ(gamma[0], 0);
  EXPECT_EQ(gamma[1], 0);
  EXPECT_EQ(lane.extrapolated, 1);
  // Point 4 after the step: a larger residual than before it. Back to the plain iterate and
  // the history restarts.
  EXPECT_TRUE(anderson_coefficients(lane, memory, 3, 3.5, f_df, df_dfnew, gamma));
  EXPECT_TRUE(all_zero());
  EXPECT_EQ(lane.points, 1);
  EXPECT_EQ(lane.extrapolated, 0);
  // A NaN residual after a step is not a smaller one either.
  lane = AndersonLane{};
  lane.points = 3;
  lane.extrapolated = 1;
  lane.f_norm2 = 1;
  EXPECT_TRUE(anderson_coefficients(lane, memory, 0, std::nan(""), f_df, df_dfnew, gamma));
  EXPECT_EQ(lane.points, 1);
}

// One lane of the affine map's iteration with its Anderson history, point by point.
struct AffineLane {
  static constexpr int n = AffineMap::kDim;
  AffineMap map;
  int memory;
  double w[n] = {};
  std::vector<double> hist = std::vector<double>(2 * n, 0.0);
  std::vector<float> histf = std::vector<float>((1 + 2 * kAndersonMaxMemory) * n, 0.0f);
  AndersonLane lane;
  int points = 0;
  double gamma[kAndersonMaxMemory] = {};
  explicit AffineLane(int m) : memory(m) {
    anderson_restart(n, memory, w, hist.data(), histf.data());
    lane.points = 1;
  }
  // `iterations` of the map, then a point; with force_revert the safeguard sees a residual
  // larger than the last one. Returns true if the point reverted.
  bool advance(int iterations, bool force_revert = false) {
    for (int it = 0; it < iterations; ++it) map.apply(w);
    const int slot = points++ % memory;
    AndersonSums<double> sums;
    anderson_record(n, memory, slot, w, hist.data(), histf.data(), sums);
    if (force_revert) lane.f_norm2 = 0;
    bool use[kAndersonMaxMemory];
    const bool revert =
        anderson_coefficients(lane, memory, slot, sums.ff, sums.f_df, sums.df_dfnew, gamma);
    for (int s = 0; s < memory; ++s) use[s] = gamma[s] != 0;
    anderson_step(n, memory, slot, gamma, use, revert ? 1.0 : 0.0, w, hist.data(), histf.data());
    return revert;
  }
};

TEST(AndersonAcceleration, ARevertReturnsToThePlainIterateBitForBit) {
  AffineLane a(4);
  for (int k = 0; k < 4; ++k) a.advance(2);
  ASSERT_EQ(a.lane.extrapolated, 1);
  // The last point's plain iterate (w before its step, kept as g until the next point) is what
  // a revert at the next point returns to.
  double plain[AffineLane::n];
  for (int i = 0; i < AffineLane::n; ++i) plain[i] = a.hist[AffineLane::n + i];
  AffineLane b = a;
  ASSERT_TRUE(b.advance(2, true));
  for (int i = 0; i < AffineLane::n; ++i) EXPECT_EQ(b.w[i], plain[i]) << i;
  EXPECT_EQ(b.lane.points, 1);
  // And the lane goes on from there: its next point has a residual, its third a step again.
  EXPECT_FALSE(b.advance(2));
  EXPECT_FALSE(b.advance(2));
  EXPECT_EQ(b.lane.extrapolated, 1);
}

TEST(AndersonAcceleration, CoefficientsSolveTheLeastSquaresProblemOfTheStoredDifferences) {
  // Memory 3 through 8 points (the slots rotate twice): at each point with a step, the
  // coefficients must minimise |f - sum_j gamma_j df_j| over the lane's valid slots, as a
  // Householder QR of the stored differences (an independent method) gives them.
  AffineLane a(3);
  const int n = AffineLane::n;
  int compared = 0;
  for (int k = 0; k < 8; ++k) {
    a.advance(3);
    if (!a.lane.extrapolated) continue;
    ++compared;
    const int slot = (a.points - 1) % a.memory, valid = std::min(a.lane.points - 2, a.memory);
    // Columns: the newest `valid` slots' df; right-hand side: the stored f.
    std::vector<std::vector<double>> cols(valid, std::vector<double>(n));
    std::vector<double> rhs(n);
    for (int i = 0; i < n; ++i) rhs[i] = a.histf[i];
    for (int j = 0; j < valid; ++j) {
      const int s = (slot - j + a.memory) % a.memory;
      for (int i = 0; i < n; ++i) cols[j][i] = a.histf[(1 + a.memory + s) * n + i];
    }
    // Householder QR, applied to the right-hand side; then R x = Q' rhs.
    for (int j = 0; j < valid; ++j) {
      double norm = 0;
      for (int i = j; i < n; ++i) norm += cols[j][i] * cols[j][i];
      norm = std::sqrt(norm);
      const double alpha = cols[j][j] > 0 ? -norm : norm;
      std::vector<double> v(n, 0.0);
      for (int i = j; i < n; ++i) v[i] = cols[j][i];
      v[j] -= alpha;
      double vv = 0;
      for (int i = j; i < n; ++i) vv += v[i] * v[i];
      auto reflect = [&](std::vector<double>& x) {
        double d = 0;
        for (int i = j; i < n; ++i) d += v[i] * x[i];
        for (int i = j; i < n; ++i) x[i] -= 2 * d / vv * v[i];
      };
      for (int c = j; c < valid; ++c) reflect(cols[c]);
      reflect(rhs);
    }
    std::vector<double> x(valid);
    for (int j = valid - 1; j >= 0; --j) {
      x[j] = rhs[j];
      for (int c = j + 1; c < valid; ++c) x[j] -= cols[c][j] * x[c];
      x[j] /= cols[j][j];
    }
    for (int j = 0; j < valid; ++j) {
      const int s = (slot - j + a.memory) % a.memory;
      EXPECT_NEAR(a.gamma[s], x[j], 1e-6 * (1 + std::abs(x[j]))) << "point " << k << ", slot " << s;
    }
  }
  EXPECT_GE(compared, 5);  // points 3 to 8, unless a safeguard restarted the history
}

TEST(AndersonAcceleration, CutsTheIterationsOfAnOscillatingDayToTheSamePlan) {
  // Day 351 of the year: plain ADMM's residuals swing for about 500 iterations (the SOC bound
  // rows of two batteries, docs/expert.md). With Anderson acceleration the plan is the same one
  // (objective within 1e-4) in well under half the iterations.
  auto plan_with = [&](int memory) {
    Config c = Config::defaults();
    c.set("expert.anderson_memory=" + std::to_string(memory));
    c.set("expert.dso_rounds=0");
    const Expert expert(test::default_env_spec(), resolve_expert_config(c),
                        test::default_cpu_powerflow());
    return expert.plan({expert.initial_data(351)})[0];
  };
  const ExpertPlan plain = plan_with(0), accelerated = plan_with(4);
  std::printf("[ anderson ] day 351: plain %d iterations, %.2f CNY; Anderson %d, %.2f CNY\n",
              plain.info.iterations, plain.objective_cny, accelerated.info.iterations,
              accelerated.objective_cny);
  ASSERT_EQ(plain.info.status, SolveStatus::kSolved);
  ASSERT_EQ(accelerated.info.status, SolveStatus::kSolved);
  EXPECT_GT(plain.info.iterations, 400);
  EXPECT_LT(2 * accelerated.info.iterations, plain.info.iterations);
  EXPECT_NEAR(accelerated.objective_cny, plain.objective_cny, 1e-4 * plain.objective_cny);
}

TEST(AndersonAcceleration, SettingsThatBreakTheSharedPointsAreErrorsThatNameThem) {
  Config c = Config::defaults();
  c.set("expert.anderson_interval=15");  // check_every is 20
  // The config's check (what `config show --check` runs) names the key ...
  const std::string from_config = test::error_of([&] { resolve_expert_config(c); });
  EXPECT_NE(from_config.find("expert.anderson_interval = 15"), std::string::npos) << from_config;
  EXPECT_NE(from_config.find("expert.check_every (20)"), std::string::npos) << from_config;
  c.set("expert.anderson_interval=10");
  c.set("expert.max_iterations=25");
  EXPECT_NE(test::error_of([&] { resolve_expert_config(c); }).find("expert.max_iterations (25)"),
            std::string::npos);
  // ... and so does the solver's own, for callers that skip the config.
  const ExpertQp qp = build_expert_qp(test::default_env_spec(), 16);
  AdmmSettings direct;
  direct.anderson_interval = 15;
  direct.check_every = 20;
  const std::string e = test::error_of([&] { ExpertAdmm a(qp, direct); });
  EXPECT_NE(e.find("expert.anderson_interval = 15"), std::string::npos) << e;
  EXPECT_NE(e.find("expert.check_every (20)"), std::string::npos) << e;
  c = Config::defaults();
  c.set("expert.anderson_memory=9");
  EXPECT_NE(test::error_of([&] { resolve_expert_config(c); }).find("expert.anderson_memory"),
            std::string::npos);
  direct = AdmmSettings{};
  direct.anderson_memory = 9;
  const std::string m = test::error_of([&] { ExpertAdmm a(qp, direct); });
  EXPECT_NE(m.find("expert.anderson_memory = 9: expected 0 (off) to 8"), std::string::npos) << m;
  // Off, the interval is not used.
  c = Config::defaults();
  c.set("expert.anderson_memory=0");
  c.set("expert.anderson_interval=15");
  EXPECT_NO_THROW(ExpertAdmm(qp, resolve_expert_config(c).admm));
}

}  // namespace
}  // namespace p2pgrid
