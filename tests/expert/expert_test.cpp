// The expert on the full problem (141-bus feeder, 20 prosumers, 96 steps; Lou et al. 2025,
// section II-C): KKT conditions of its ADMM plans checked independently on the exported QP,
// replay through the env (the env's day cost reproduces the plan's objective, no projection,
// voltage violations far below a random policy's), warm starts, and errors.
#include "p2pgrid/expert/expert.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/env/env_batch.hpp"
#include "p2pgrid/env/profiles.hpp"
#include "p2pgrid/expert/expert_policy.hpp"
#include "support/env_fixtures.hpp"
#include "support/errors.hpp"
#include "support/worst.hpp"

namespace p2pgrid {
namespace {

/// The expert of the default config and its plans of the first two test days from t0 = 0,
/// computed once per process (about 5 s): shared by the KKT and warm-start tests.
struct FullDayPlans {
  std::unique_ptr<Expert> expert;
  std::vector<int> days;
  std::vector<ExpertPlan> plans;
  double seconds = 0;
};

const FullDayPlans& full_day_plans() {
  static const FullDayPlans f = [] {
    FullDayPlans r;
    const EnvSpec& spec = test::default_env_spec();
    r.expert = std::make_unique<Expert>(spec, resolve_expert_config(Config::defaults()),
                                        test::default_cpu_powerflow());
    const std::vector<int> test_days = days_in_split(spec.profiles.year, Split::kTest);
    r.days = {test_days[0], test_days[1]};
    const auto start = std::chrono::steady_clock::now();
    r.plans = r.expert->plan({r.expert->initial_data(r.days[0]), r.expert->initial_data(r.days[1])});
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }();
  return f;
}

/// A QP in CSC as exported (OSQP convention), with the products the checks need.
struct SparseQp {
  std::size_t n = 0, m = 0;
  std::vector<long long> a_ptr, a_idx, p_ptr, p_idx;
  std::vector<double> a_val, p_val, q, l, u;

  explicit SparseQp(const nlohmann::json& j) {
    n = j["n"].get<std::size_t>();
    m = j["m"].get<std::size_t>();
    a_ptr = j["A"]["indptr"].get<std::vector<long long>>();
    a_idx = j["A"]["indices"].get<std::vector<long long>>();
    a_val = j["A"]["data"].get<std::vector<double>>();
    p_ptr = j["P"]["indptr"].get<std::vector<long long>>();
    p_idx = j["P"]["indices"].get<std::vector<long long>>();
    p_val = j["P"]["data"].get<std::vector<double>>();
    q = j["q"].get<std::vector<double>>();
    l = j["l"].get<std::vector<double>>();
    u = j["u"].get<std::vector<double>>();
  }
  std::vector<double> mul_a(const std::vector<double>& x) const {
    std::vector<double> out(m, 0.0);
    for (std::size_t c = 0; c < n; ++c)
      for (long long p = a_ptr[c]; p < a_ptr[c + 1]; ++p) out[a_idx[p]] += a_val[p] * x[c];
    return out;
  }
  std::vector<double> mul_at(const std::vector<double>& y) const {
    std::vector<double> out(n, 0.0);
    for (std::size_t c = 0; c < n; ++c)
      for (long long p = a_ptr[c]; p < a_ptr[c + 1]; ++p) out[c] += a_val[p] * y[a_idx[p]];
    return out;
  }
  /// P x with P symmetric, stored as its upper triangle.
  std::vector<double> mul_p(const std::vector<double>& x) const {
    std::vector<double> out(n, 0.0);
    for (std::size_t c = 0; c < n; ++c)
      for (long long p = p_ptr[c]; p < p_ptr[c + 1]; ++p) {
        const std::size_t r = p_idx[p];
        out[r] += p_val[p] * x[c];
        if (r != c) out[c] += p_val[p] * x[r];
      }
    return out;
  }
};

double inf_norm(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// --------------------------------------------------------------------- the full problem, KKT

/// KKT figures of a plan's returned iterate, computed from the exported QP alone.
struct KktFigures {
  double prim = 0;      // |Ax - z|_inf
  double prim_scale = 0;  // max(|Ax|_inf, |z|_inf)
  double z_outside = 0;   // how far z is outside [l, u]
  double dual = 0;        // |Px + q + A'y|_inf
  double dual_scale = 0;  // max(|Px|_inf, |A'y|_inf, |q|_inf)
  double q_norm = 0;
  double worst_violation = 0;          // max over rows of max(l - Ax, Ax - u, 0), mixed units
  double worst_relative_to_bound = 0;  // the same over max(1, |l|, |u|) of its row
  std::vector<double> worst_by_kind = std::vector<double>(10, 0.0);  // by QpRow
  long long wrong_sign = 0, not_complementary = 0, at_bound = 0;
  double worst_inside_y = 0;
};

KktFigures kkt_figures(const Expert& expert, const ExpertPlan& plan) {
  KktFigures k;
  const SparseQp qp(expert.export_qp(plan.data));
  EXPECT_EQ(qp.n, std::size_t(kStepsPerDay - plan.t0) * expert.qp().block_vars);
  EXPECT_EQ(qp.m, std::size_t(kStepsPerDay - plan.t0) * expert.qp().block_rows);
  const std::vector<double>& x = plan.iterate.x;
  const std::vector<double>& y = plan.iterate.y;
  const std::vector<double>& z = plan.iterate.z;
  if (x.size() != qp.n || y.size() != qp.m || z.size() != qp.m) {
    ADD_FAILURE() << "iterate sizes differ from the export";
    return k;
  }
  const std::vector<double> ax = qp.mul_a(x), px = qp.mul_p(x), aty = qp.mul_at(y);
  for (std::size_t i = 0; i < qp.m; ++i) {
    test::keep_worst(k.prim, std::abs(ax[i] - z[i]));
    test::keep_worst(k.z_outside, std::max(qp.l[i] - z[i], z[i] - qp.u[i]));
  }
  k.prim_scale = std::max(inf_norm(ax), inf_norm(z));
  for (std::size_t j = 0; j < qp.n; ++j)
    test::keep_worst(k.dual, std::abs(px[j] + qp.q[j] + aty[j]));
  k.q_norm = inf_norm(qp.q);
  k.dual_scale = std::max({inf_norm(px), inf_norm(aty), k.q_norm});
  const int mb = expert.qp().block_rows;
  // Multipliers in OSQP's convention: y > 0 pushes against u, y < 0 against l. A row is
  // "inside" when Ax is farther from both bounds than its own |Ax - z| plus 1e-6 of its scale.
  const double y_tol = 1e-6 * k.q_norm;
  for (std::size_t i = 0; i < qp.m; ++i) {
    const bool lo = qp.l[i] > -1e30, up = qp.u[i] < 1e30;
    double viol = 0, bound = 1;
    if (lo) viol = std::max(viol, qp.l[i] - ax[i]), bound = std::max(bound, std::abs(qp.l[i]));
    if (up) viol = std::max(viol, ax[i] - qp.u[i]), bound = std::max(bound, std::abs(qp.u[i]));
    const int kind = static_cast<int>(expert.qp().rows[i % mb].kind);
    k.worst_by_kind[kind] = std::max(k.worst_by_kind[kind], viol);
    test::keep_worst(k.worst_violation, std::isnan(ax[i]) ? ax[i] : viol);
    k.worst_relative_to_bound = std::max(k.worst_relative_to_bound, viol / bound);
    if (!lo && y[i] < -y_tol) ++k.wrong_sign;
    if (!up && y[i] > y_tol) ++k.wrong_sign;
    if (lo && up && qp.l[i] == qp.u[i]) continue;  // equality: either sign
    const double margin = std::abs(ax[i] - z[i]) + 1e-6 * bound;
    const bool inside = (!lo || ax[i] - qp.l[i] > margin) && (!up || qp.u[i] - ax[i] > margin);
    if (inside) {
      k.worst_inside_y = std::max(k.worst_inside_y, std::abs(y[i]));
      if (std::abs(y[i]) > y_tol) ++k.not_complementary;
    } else {
      ++k.at_bound;
      if (y[i] > y_tol && up && qp.u[i] - ax[i] > margin) ++k.not_complementary;
      if (y[i] < -y_tol && lo && ax[i] - qp.l[i] > margin) ++k.not_complementary;
    }
  }
  return k;
}

TEST(Expert, FullDayPlanSatisfiesKktOnTheExportedQp) {
  const FullDayPlans& f = full_day_plans();
  const Expert& expert = *f.expert;
  const AdmmSettings& s = expert.settings().admm;
  std::printf("[ full day ] 2 plans (%d prosumers, %d variables) in %.2f s\n",
              expert.spec().num_agents(), kStepsPerDay * expert.qp().block_vars, f.seconds);
  for (const ExpertPlan& plan : f.plans) {
    SCOPED_TRACE("day " + std::to_string(plan.day));
    ASSERT_EQ(plan.info.status, SolveStatus::kSolved) << to_string(plan.info.status);
    EXPECT_EQ(plan.t0, 0);
    EXPECT_TRUE(plan.ac_converged);
    const KktFigures k = kkt_figures(expert, plan);
    std::printf("[ full day %d ] %d iterations, objective %.4f CNY; returned iterate: primal "
                "%.3e (scale %.1f), dual %.3e (scale %.3f, |q| %.3f); reported: primal %.3e, "
                "dual %.3e; worst violation %.2e (over max(1, |bound|) of its row %.2e), by row "
                "kind (bound, balanceP, exchange, balanceQ, p2p, soc, ramp, inverter, voltage, "
                "tie):",
                plan.day, plan.info.iterations, plan.objective_cny, k.prim, k.prim_scale, k.dual,
                k.dual_scale, k.q_norm, plan.info.primal_residual, plan.info.dual_residual,
                k.worst_violation, k.worst_relative_to_bound);
    for (double w : k.worst_by_kind) std::printf(" %.1e", w);
    std::printf("; %lld inequality rows at a bound, worst |y| inside %.2e\n", k.at_bound,
                k.worst_inside_y);
    // OSQP's termination test, recomputed on the export.
    EXPECT_LE(k.z_outside, 1e-9);
    EXPECT_LE(k.prim, s.eps_abs + s.eps_rel * k.prim_scale);
    EXPECT_LE(k.dual, s.eps_abs + s.eps_rel * k.dual_scale);
    // Stationarity against the size of the costs, feasibility against the size of the rows
    // (the default eps_abs = 1e-3 kW allows absolute errors of that order on rows whose bounds
    // are 0, so a per-row relative test would judge the tolerance, not the solver), and the
    // voltage rows in p.u.
    EXPECT_LE(k.dual, 1e-2 * k.q_norm);
    EXPECT_LE(k.worst_violation, 1e-3 * std::max(1.0, k.prim_scale));
    EXPECT_LE(k.worst_by_kind[static_cast<int>(QpRow::kVoltage)], 1e-4) << "p.u.";
    // Dual feasibility in sign and complementary slackness.
    EXPECT_EQ(k.wrong_sign, 0);
    EXPECT_EQ(k.not_complementary, 0);
    EXPECT_GT(k.at_bound, 0);
  }
}

// The residuals and iteration count in AdmmInfo must describe the iterate returned beside them.
// Regression test for a bug of src/expert/admm.cpp (ExpertAdmm::solve_group, as of commit
// 6eb8e20): an env whose residuals passed was marked done, but the x / z / y updates kept running
// over every lane of its group until the slowest env finished, and the iterate was unscaled only
// after the loop, so the env that converged first got back a later iterate than the one its info
// described. The two days here share a group and converge at different iterations.
TEST(Expert, ReportedResidualsDescribeTheReturnedIterate) {
  const FullDayPlans& f = full_day_plans();
  ASSERT_NE(f.plans[0].info.iterations, f.plans[1].info.iterations)
      << "both days stop together: the check below cannot see the bug";
  for (const ExpertPlan& plan : f.plans) {
    SCOPED_TRACE("day " + std::to_string(plan.day) + ", " +
                 std::to_string(plan.info.iterations) + " iterations reported");
    const KktFigures k = kkt_figures(*f.expert, plan);
    EXPECT_NEAR(k.prim, plan.info.primal_residual, 1e-9 + 1e-6 * k.prim);
    EXPECT_NEAR(k.dual, plan.info.dual_residual, 1e-9 + 1e-6 * k.dual);
  }
}

// ------------------------------------------------------------------- replay through the env

/// Plays whole days with `policy_fn(env)` giving actions [B, A, 5]; returns each env's
/// last_episode metrics and the largest per-agent projection.
struct Replay {
  std::vector<double> last_episode;  // [B, kNumMetrics]
  double worst_projection_kw = 0;
};

template <class F>
Replay play_day(const EnvSpec& spec, const std::vector<int>& days, F&& policy_fn) {
  const int B = static_cast<int>(days.size()), A = spec.num_agents();
  EnvBatch env(spec, Backend::kCpu, B, test::default_cpu_powerflow());
  env.reset(3, days);
  Replay r;
  for (int t = 0; t < kStepsPerDay; ++t) {
    const float* actions = policy_fn(env);
    env.step(actions);
    const std::vector<double> out =
        env.to_host(env.view().agent_out, std::size_t(B) * A * kNumAgentOut);
    for (int i = 0; i < B * A; ++i)
      r.worst_projection_kw =
          std::max(r.worst_projection_kw, out[std::size_t(i) * kNumAgentOut + kAoProjection]);
    const std::vector<std::uint8_t> trunc = env.to_host(env.view().truncated, B);
    for (int e = 0; e < B; ++e) EXPECT_EQ(trunc[e] != 0, t == kStepsPerDay - 1) << "step " << t;
  }
  r.last_episode = env.to_host(env.view().last_episode, std::size_t(B) * kNumMetrics);
  return r;
}

TEST(Expert, ReplayThroughTheEnvReproducesThePlan) {
  const EnvSpec& spec = test::default_env_spec();
  const Expert expert(spec, resolve_expert_config(Config::defaults()),
                      test::default_cpu_powerflow());
  const std::vector<int> test_days = days_in_split(spec.profiles.year, Split::kTest);
  // The days of full_day_plans(), planned again here by the policy itself, and training day
  // 280, whose night hours have both surplus and deficit: there the env's market must not
  // clear (two fees above the spread) as the plan routes them through the grid (the gap was
  // 2.7e-3 when the env cleared every hour).
  const std::vector<int> days = {test_days[0], test_days[1], 280};
  const int B = 3;
  std::unique_ptr<ExpertPolicy> policy;
  const Replay ex = play_day(spec, days, [&](const EnvBatch& env) {
    if (!policy) policy = std::make_unique<ExpertPolicy>(expert, env);
    policy->act();
    return policy->actions();
  });
  EXPECT_EQ(policy->stats().batches, 1);
  std::mt19937_64 rng(17);
  std::vector<float> random;
  const Replay rnd = play_day(spec, days, [&](const EnvBatch& env) {
    random = test::random_actions(rng, B, env.num_agents());
    return random.data();
  });
  double ex_viol = 0, rnd_viol = 0, bus_steps = 0;
  for (int e = 0; e < B; ++e) {
    const ExpertPlan& plan = policy->plans()[e];
    const double* m = ex.last_episode.data() + std::size_t(e) * kNumMetrics;
    const double* mr = rnd.last_episode.data() + std::size_t(e) * kNumMetrics;
    ASSERT_EQ(plan.info.status, SolveStatus::kSolved);
    ASSERT_EQ(plan.day, days[e]);
    EXPECT_EQ(m[kMetSteps], kStepsPerDay);
    std::printf("[ replay day %d ] plan %.4f CNY (%d iterations, %d DSO rounds, AC violation "
                "%.1e p.u.), env %.4f CNY, relative gap %.2e; voltage violations: expert %g, "
                "random %g of %g bus-steps; expert P2P %.1f kWh\n",
                plan.day, plan.objective_cny, plan.info.iterations, plan.dso_rounds,
                plan.ac_violation_pu, m[kMetCost],
                std::abs(m[kMetCost] - plan.objective_cny) / std::abs(plan.objective_cny),
                m[kMetViolBusSteps], mr[kMetViolBusSteps], m[kMetBusSteps], m[kMetP2p]);
    // The issue's target is 1e-3; these days replay within 1.6e-5 (the solver's tolerance), so
    // 1e-4 also catches a mismatch of env and QP a tenth of the target's size.
    EXPECT_NEAR(m[kMetCost], plan.objective_cny, 1e-4 * std::abs(plan.objective_cny));
    EXPECT_EQ(m[kMetNonConverged], 0);
    ex_viol += m[kMetViolBusSteps];
    rnd_viol += mr[kMetViolBusSteps];
    bus_steps += m[kMetBusSteps];
  }
  std::printf("[ replay ] worst projection: expert %.3e kW, random %.1f kW per agent-step\n",
              ex.worst_projection_kw, rnd.worst_projection_kw);
  EXPECT_LT(ex.worst_projection_kw, 1.0);
  EXPECT_GT(rnd.worst_projection_kw, 1.0) << "the projection check is vacuous";
  EXPECT_GT(rnd_viol, 0) << "the random policy violates nothing: the comparison is vacuous";
  EXPECT_LE(ex_viol, 0.25 * rnd_viol);
  EXPECT_GT(bus_steps, 0);
}

// ------------------------------------------------------------------------------ warm start

TEST(Expert, WarmStartFromAnEarlierPlanNeedsFewerIterations) {
  const FullDayPlans& f = full_day_plans();
  const Expert& expert = *f.expert;
  const ExpertQp& qp = expert.qp();
  const int t0 = 48, nb = qp.block_vars;
  // The state at step 48 that the earlier plans lead to: CDG output and SOC after step 47.
  std::vector<ExpertEnvData> data;
  for (const ExpertPlan& p : f.plans) {
    ExpertEnvData d = expert.initial_data(p.day);
    d.t0 = t0;
    const double* x = p.iterate.x.data() + std::size_t(qp.block_of_step(t0 - 1)) * nb;
    for (int u = 0; u < expert.spec().num_units(); ++u) {
      if (qp.unit_p_col[u] >= 0) d.unit_p_prev_kw[u] = x[qp.unit_p_col[u]];
      if (qp.unit_soc_col[u] >= 0) d.unit_soc_kwh[u] = x[qp.unit_soc_col[u]];
    }
    data.push_back(d);
  }
  const std::vector<ExpertPlan> cold = expert.plan(data);
  const std::vector<ExpertPlan> warm = expert.plan(data, &f.plans);
  for (std::size_t e = 0; e < data.size(); ++e) {
    std::printf("[ warm start day %d ] from t0 = 48: cold %d iterations (%.4f CNY), warm %d "
                "(%.4f CNY); the whole-day plan: %.4f CNY\n",
                cold[e].day, cold[e].info.iterations, cold[e].objective_cny,
                warm[e].info.iterations, warm[e].objective_cny, f.plans[e].objective_cny);
    ASSERT_EQ(cold[e].info.status, SolveStatus::kSolved);
    ASSERT_EQ(warm[e].info.status, SolveStatus::kSolved);
    EXPECT_LT(warm[e].info.iterations, cold[e].info.iterations);
    // The state rows' z moved into their new bounds, y kept (admm_start_lane): 40 against 180
    // and 200 cold. With w = z + y / rho from the old z the shift became dual: 100 and 80.
    EXPECT_LE(3 * warm[e].info.iterations, cold[e].info.iterations);
    // Both solve the same problem (observed within 1.6e-5: the solver's tolerance).
    EXPECT_NEAR(warm[e].objective_cny, cold[e].objective_cny,
                1e-4 * std::abs(cold[e].objective_cny));
  }
}

TEST(Expert, WarmStartFromThePreviousDayNeedsFewerIterations) {
  // ExpertPolicy starts each day's plan from the env's plan of the day before.
  const FullDayPlans& f = full_day_plans();
  const Expert& expert = *f.expert;
  std::vector<ExpertEnvData> next;
  for (const ExpertPlan& p : f.plans) next.push_back(expert.initial_data(p.day + 1));
  const std::vector<ExpertPlan> cold = expert.plan(next);
  const std::vector<ExpertPlan> warm = expert.plan(next, &f.plans);
  int cold_sum = 0, warm_sum = 0;
  for (std::size_t e = 0; e < next.size(); ++e) {
    std::printf("[ warm start ] day %d from day %d's plan: cold %d iterations (%.4f CNY), warm %d "
                "(%.4f CNY)\n", next[e].day, f.plans[e].day, cold[e].info.iterations,
                cold[e].objective_cny, warm[e].info.iterations, warm[e].objective_cny);
    ASSERT_EQ(cold[e].info.status, SolveStatus::kSolved);
    ASSERT_EQ(warm[e].info.status, SolveStatus::kSolved);
    EXPECT_NEAR(warm[e].objective_cny, cold[e].objective_cny,
                1e-4 * std::abs(cold[e].objective_cny));
    cold_sum += cold[e].info.iterations;
    warm_sum += warm[e].info.iterations;
  }
  EXPECT_LT(warm_sum, cold_sum);
}

// ---------------------------------------------------------------------------------- errors

/// Two prosumers of the default portfolios, the test split, planned from step 90.
Config small_config() {
  Config c = Config::defaults();
  c.set(R"(env.prosumers=[{"bus": 74, "portfolio": "energy_hub"},
                          {"bus": 62, "portfolio": "residential"}])");
  c.set("env.split=test");
  return c;
}

TEST(Expert, RejectsEnvsAtDifferentStepsAndWarmStartsOfTheWrongSize) {
  const Config c = small_config();
  const EnvSpec spec = build_env_spec(c);
  const Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
  const int day = days_in_split(spec.profiles.year, Split::kTest)[0];
  ExpertEnvData a = expert.initial_data(day), b = expert.initial_data(day);
  a.t0 = 90;
  b.t0 = 91;
  std::string msg = test::error_of([&] { expert.plan({a, b}); });
  EXPECT_NE(msg.find("share the current step"), std::string::npos) << msg;
  b.t0 = 90;
  const std::vector<ExpertPlan> one = expert.plan({a});
  ASSERT_EQ(one.size(), 1u);
  msg = test::error_of([&] { expert.plan({a, b}, &one); });
  EXPECT_NE(msg.find("warm start has 1 plans for 2 envs"), std::string::npos) << msg;
  // The right size is accepted.
  const std::vector<ExpertPlan> two = expert.plan({a, b});
  EXPECT_EQ(test::error_of([&] { expert.plan({a, b}, &two); }), "(no error)");
  // A start outside the day.
  for (int t0 : {-1, kStepsPerDay}) {
    a.t0 = t0;
    msg = test::error_of([&] { expert.plan({a}); });
    EXPECT_NE(msg.find("t0 out of range"), std::string::npos) << t0 << ": " << msg;
    msg = test::error_of([&] { expert.export_qp(a); });
    EXPECT_NE(msg.find("t0 out of range"), std::string::npos) << t0 << ": " << msg;
  }
}

TEST(Expert, ThePolicyFlagsThePlansItCouldNotSolve) {
  // 20 iterations solve no day: every plan stops at the limit, and the policy says so beside
  // its actions (a learner imitating the expert masks those envs out) and in its account.
  Config c = Config::defaults();
  c.set("expert.max_iterations=20");
  c.set("expert.dso_rounds=0");
  const EnvSpec& spec = test::default_env_spec();
  const Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
  const Expert solving(spec, resolve_expert_config(Config::defaults()),
                       test::default_cpu_powerflow());
  const std::vector<int> days = days_in_split(spec.profiles.year, Split::kTest);
  for (const Expert* ex : {&expert, &solving}) {
    const bool limited = ex == &expert;
    SCOPED_TRACE(limited ? "20 iterations" : "defaults");
    EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
    env.reset(3, {days[0], days[1]});
    ExpertPolicy policy(*ex, env);
    policy.act();
    const std::vector<std::uint8_t> solved = env.to_host(policy.plan_usable(), 2);
    for (int e = 0; e < 2; ++e) {
      EXPECT_EQ(policy.plans()[e].info.status,
                limited ? SolveStatus::kMaxIterations : SolveStatus::kSolved);
      EXPECT_EQ(solved[e], limited ? 0 : 1);
    }
    EXPECT_EQ(policy.stats().unsolved_plans, limited ? 2 : 0);
  }
}

TEST(Expert, ThePolicyCertifiesItsPlansWhenAsked) {
  // expert.certify: each batch's plans certified (Expert::certify, in parallel) and counted.
  const EnvSpec& spec = test::default_env_spec();
  const std::vector<int> days = days_in_split(spec.profiles.year, Split::kTest);
  for (const bool certify : {true, false}) {
    SCOPED_TRACE(certify ? "certify" : "default");
    ExpertSettings settings = resolve_expert_config(Config::defaults());
    settings.certify = certify;
    settings.resolve_every_steps = 48;
    const Expert expert(spec, settings, test::default_cpu_powerflow());
    EnvBatch env(spec, Backend::kCpu, 3, test::default_cpu_powerflow());
    env.reset(3, {days[4], days[5], days[6]});
    ExpertPolicy policy(expert, env);
    double worst = 0;
    for (int t = 0; t <= 48; ++t) {
      policy.act();
      if (t == 0 || t == 48) {  // a new batch of plans
        ASSERT_EQ(policy.certificates().size(), certify ? 3u : 0u);
        for (std::size_t e = 0; e < policy.certificates().size(); ++e) {
          const ExpertCertificate own = expert.certify(policy.plans()[e]);
          const ExpertCertificate& c = policy.certificates()[e];
          ASSERT_TRUE(c.bounded);
          EXPECT_EQ(c.lower_bound_cny, own.lower_bound_cny);
          EXPECT_EQ(c.objective_cny, policy.plans()[e].objective_cny);
          worst = std::max(worst, c.gap);
        }
      }
      env.step(policy.actions());
    }
    const ExpertPolicyStats& st = policy.stats();
    EXPECT_EQ(st.plans, 6);
    EXPECT_EQ(st.certified_plans, certify ? 6 : 0);
    EXPECT_EQ(st.plans_without_bound, 0);
    EXPECT_EQ(st.worst_certified_gap, worst);
    EXPECT_LT(worst, 1e-3);
    EXPECT_EQ(st.worst_certified_violation > 0, certify);
    EXPECT_EQ(st.certify_s > 0, certify);
  }
}

TEST(Expert, ACertificateOfBadDataIsAnErrorEvenInABatch) {
  const FullDayPlans& f = full_day_plans();
  const Expert& expert = *f.expert;
  // A state that is not a number: the data check names it (no NaN bounds, no false bound).
  ExpertPlan nan_state = f.plans[0];
  nan_state.data.unit_soc_kwh[0] = std::nan("");
  test::expect_mentions(test::error_of([&] { expert.certify(nan_state); }),
                        {"unit_soc_kwh[0]", "nan"});
  // An iterate cut short, in a batch certified in parallel: the error leaves the batch.
  ExpertPlan cut = f.plans[1];
  cut.iterate.x.pop_back();
  test::expect_mentions(test::error_of([&] {
                          expert.certify(std::vector<ExpertPlan>{f.plans[0], cut});
                        }),
                        {"expert certificate: the plan's iterate has"});
  const std::vector<ExpertCertificate> both = expert.certify(f.plans);
  ASSERT_EQ(both.size(), 2u);
  for (std::size_t e = 0; e < 2; ++e)
    EXPECT_EQ(both[e].lower_bound_cny, expert.certify(f.plans[e]).lower_bound_cny);
}

TEST(Expert, ThePolicyFlagsAPlanTheDsoDidNotPass) {
  // Day 305's linear plan breaks a voltage limit in the AC check. Without a DSO round to fix
  // it, the plan is solved but no expert's: flagged beside the actions and counted; with the
  // default rounds it is re-linearized and passes.
  const EnvSpec& spec = test::default_env_spec();
  for (int rounds : {0, 3}) {
    SCOPED_TRACE(std::to_string(rounds) + " DSO rounds");
    Config c = Config::defaults();
    c.set("expert.dso_rounds=" + std::to_string(rounds));
    const Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
    EnvBatch env(spec, Backend::kCpu, 1, test::default_cpu_powerflow());
    env.reset(3, {305});
    ExpertPolicy policy(expert, env);
    policy.act();
    const ExpertPlan& plan = policy.plans()[0];
    const bool pass = rounds > 0;
    EXPECT_EQ(plan.info.status, SolveStatus::kSolved);
    EXPECT_EQ(plan.dso_verified, pass);
    EXPECT_EQ(plan.usable(), pass);
    EXPECT_EQ(env.to_host(policy.plan_usable(), 1)[0], pass ? 1 : 0);
    EXPECT_EQ(policy.stats().unverified_plans, pass ? 0 : 1);
    EXPECT_EQ(policy.stats().unsolved_plans, 0);
    EXPECT_EQ(policy.stats().worst_ac_violation_pu, plan.ac_violation_pu);
    if (pass)
      EXPECT_LE(plan.ac_violation_pu, expert.settings().dso_tolerance_pu);
    else
      EXPECT_GT(plan.ac_violation_pu, expert.settings().dso_tolerance_pu);
  }
}

TEST(Expert, ThePolicyCountsADivergedAcFlowApartAndTakesNoVoltageFromIt) {
  // The DSO's AC check with 2 power-flow iterations: no flow converges. Test day 1's solved plan
  // then fails the check whatever its voltages (here within a tolerance of 0.5 p.u., though
  // beyond a limit), is counted as diverged, and its unconverged voltage is no worst violation.
  // An unsolved plan (20 ADMM iterations) is counted as unsolved only.
  const EnvSpec& spec = test::default_env_spec();
  const int day = days_in_split(spec.profiles.year, Split::kTest)[1];
  PowerFlowChoice diverging = test::default_cpu_powerflow();
  diverging.settings.max_iterations = 2;
  for (int max_iterations : {20000, 20}) {
    const bool solved = max_iterations > 20;
    SCOPED_TRACE(solved ? "solved" : "20 iterations");
    Config c = Config::defaults();
    c.set("expert.dso_rounds=0");
    c.set("expert.dso_tolerance_pu=0.5");
    c.set("expert.max_iterations=" + std::to_string(max_iterations));
    const Expert expert(spec, resolve_expert_config(c), diverging);
    EnvBatch env(spec, Backend::kCpu, 1, test::default_cpu_powerflow());
    env.reset(3, {day});
    ExpertPolicy policy(expert, env);
    policy.act();
    const ExpertPlan& plan = policy.plans()[0];
    EXPECT_EQ(plan.info.status, solved ? SolveStatus::kSolved : SolveStatus::kMaxIterations);
    EXPECT_FALSE(plan.ac_converged);
    EXPECT_FALSE(plan.dso_verified);
    EXPECT_FALSE(plan.usable());
    EXPECT_EQ(env.to_host(policy.plan_usable(), 1)[0], 0);
    const ExpertPolicyStats& st = policy.stats();
    EXPECT_EQ(st.unsolved_plans, solved ? 0 : 1);
    EXPECT_EQ(st.unverified_plans, solved ? 1 : 0);  // of the solved plans
    EXPECT_EQ(st.ac_diverged_plans, solved ? 1 : 0);
    EXPECT_EQ(st.worst_ac_violation_pu, 0.0);
    if (solved) {  // what the check saw: a voltage beyond a limit, within the tolerance
      EXPECT_GT(plan.ac_violation_pu, 1e-4);
      EXPECT_LE(plan.ac_violation_pu, expert.settings().dso_tolerance_pu);
    }
  }
}

TEST(Expert, ADsoToleranceOfZeroPassesAPlanWithinTheLimits) {
  // expert.dso_tolerance_pu = 0 fails any violation, not a plan without one: test day 0's plan
  // keeps every AC voltage within its limits.
  Config c = Config::defaults();
  c.set("expert.dso_rounds=0");
  c.set("expert.dso_tolerance_pu=0");
  const EnvSpec& spec = test::default_env_spec();
  const Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
  const ExpertPlan plan =
      expert.plan({expert.initial_data(days_in_split(spec.profiles.year, Split::kTest)[0])})[0];
  EXPECT_EQ(plan.info.status, SolveStatus::kSolved);
  EXPECT_TRUE(plan.ac_converged);
  EXPECT_EQ(plan.ac_violation_pu, 0.0);
  EXPECT_TRUE(plan.dso_verified);
  EXPECT_TRUE(plan.usable());
}

TEST(Expert, ActionsOutsideAPlanAreErrors) {
  const FullDayPlans& f = full_day_plans();
  const Expert& expert = *f.expert;
  std::vector<float> out(std::size_t(expert.spec().num_agents()) * kActionDim);
  test::expect_mentions(test::error_of([&] { expert.actions(f.plans[0], 96, out.data()); }),
                        {"step 96 is outside the plan's horizon (steps 0..95)"});
  test::expect_mentions(test::error_of([&] { expert.actions(f.plans[0], -1, out.data()); }),
                        {"step -1 is outside"});
  test::expect_mentions(test::error_of([&] { expert.actions(ExpertPlan{}, 0, out.data()); }),
                        {"holds 0 values, not its 96 steps'"});
  EXPECT_EQ(test::error_of([&] { expert.actions(f.plans[0], 95, out.data()); }), "(no error)");
}

TEST(Expert, OnlyPlansThatBreakAVoltageLimitAreRelinearized) {
  // Day 305's linear plan breaks a voltage limit in the AC power flow by 2e-3 p.u. (beyond the
  // tolerance); day 307's stays within it. The DSO re-linearizes and re-solves the first
  // only, and each plan counts its own re-linearizations. (Which optimal point of a day's
  // degenerate optimum the ADMM reaches decides its AC voltages: day 306's linear plan breaks
  // the limit with Anderson acceleration and not without, at the same objective.)
  Config c = Config::defaults();
  c.set("expert.dso_rounds=0");
  const Expert linear_only(test::default_env_spec(), resolve_expert_config(c),
                           test::default_cpu_powerflow());
  const Expert expert(test::default_env_spec(), resolve_expert_config(Config::defaults()),
                      test::default_cpu_powerflow());
  const double tolerance = expert.settings().dso_tolerance_pu;
  const std::vector<int> days = {305, 307};
  const std::vector<ExpertPlan> linear =
      linear_only.plan({linear_only.initial_data(days[0]), linear_only.initial_data(days[1])});
  // Without DSO rounds day 305's violation stays (what the rounds are for).
  ASSERT_GT(linear[0].ac_violation_pu, tolerance);
  ASSERT_LE(linear[1].ac_violation_pu, tolerance);
  const std::vector<ExpertPlan> plans =
      expert.plan({expert.initial_data(days[0]), expert.initial_data(days[1])});
  EXPECT_GE(plans[0].dso_rounds, 1);
  EXPECT_LE(plans[0].ac_violation_pu, tolerance);
  EXPECT_EQ(plans[1].dso_rounds, 0);
  EXPECT_LE(plans[1].ac_violation_pu, tolerance);
  EXPECT_EQ(plans[1].info.iterations, linear[1].info.iterations);  // not re-solved
  for (const ExpertPlan& p : plans) EXPECT_EQ(p.info.status, SolveStatus::kSolved);
  std::printf("[ dso ] day 305: %d iterations, AC violation %.2e p.u.; re-linearized %d time(s): "
              "%d iterations in all, violation %.2e p.u.; day 307: %d iterations\n",
              linear[0].info.iterations, linear[0].ac_violation_pu, plans[0].dso_rounds,
              plans[0].info.iterations, plans[0].ac_violation_pu, plans[1].info.iterations);
}

TEST(Expert, AReplanOfTheSameDayStartsFromTheDsoCorrectedOffsets) {
  // Day 305's plan from the day's start breaks a voltage limit in the AC check and is
  // re-linearized (the test above). The policy's re-plan at step 48 solves the network model
  // that plan was verified with, not the day's linear one again.
  const int every = 48;
  Config c = Config::defaults();
  c.set("expert.resolve_every_steps=" + std::to_string(every));
  const EnvSpec& spec = test::default_env_spec();
  const Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
  EnvBatch env(spec, Backend::kCpu, 1, test::default_cpu_powerflow());
  env.reset(3, {305});
  ExpertPolicy policy(expert, env);
  policy.act();
  const ExpertPlan first = policy.plans()[0];
  ASSERT_GE(first.dso_rounds, 1);
  ASSERT_EQ(first.data.v_offset_pu.size(), std::size_t(kStepsPerDay) * spec.network.num_buses());
  for (int t = 1; t <= every; ++t) {
    env.step(policy.actions());
    policy.act();
  }
  const ExpertPlan& replan = policy.plans()[0];
  const ExpertPolicyStats& st = policy.stats();
  ASSERT_EQ(st.batches, 2);
  ASSERT_EQ(replan.t0, every);
  EXPECT_EQ(st.offsets_carried, 1);
  EXPECT_EQ(replan.info.status, SolveStatus::kSolved);
  EXPECT_LE(replan.ac_violation_pu, expert.settings().dso_tolerance_pu);
  // Verified without a further round, so the offsets are the first plan's to the bit (empty if
  // the day's linear ones had been used).
  EXPECT_EQ(replan.dso_rounds, 0);
  EXPECT_EQ(replan.data.v_offset_pu, first.data.v_offset_pu);
  // The policy's account of its plans.
  EXPECT_EQ(st.plans, 2);
  EXPECT_EQ(st.iterations, first.info.iterations + replan.info.iterations);
  EXPECT_EQ(st.max_iterations, std::max(first.info.iterations, replan.info.iterations));
  EXPECT_EQ(st.dso_resolved_plans, 1);
  EXPECT_EQ(st.unsolved_plans, 0);
  EXPECT_GT(st.plan_s, 0);
  std::printf("[ dso ] day 305: plan at step 0 %d iterations (%d DSO rounds), re-plan at step %d "
              "from the corrected offsets %d iterations, AC violation %.2e p.u.\n",
              first.info.iterations, first.dso_rounds, every, replan.info.iterations,
              replan.ac_violation_pu);
  // The next day's plan (after the env's reset) starts from that day's linear offsets.
  for (int t = every + 1; t <= kStepsPerDay; ++t) {
    env.step(policy.actions());
    policy.act();
  }
  const ExpertPlan& next = policy.plans()[0];
  ASSERT_EQ(policy.stats().batches, 3);
  ASSERT_EQ(next.t0, 0);
  ASSERT_NE(next.day, 305);
  EXPECT_EQ(policy.stats().offsets_carried, 1);
  // Its own offsets: none (the linear ones) unless its own DSO round corrected them.
  EXPECT_NE(next.data.v_offset_pu, first.data.v_offset_pu);
  EXPECT_EQ(next.data.v_offset_pu.empty(), next.dso_rounds == 0);
}

TEST(Expert, TheAcCheckInChunksGivesTheOneBatchPlans) {
  // The DSO check of days 307 and 305 one plan per power-flow batch (the plan to re-linearize
  // in the second chunk) and both in one batch: the same plans, bit for bit.
  auto plans_with = [](int chunk) {
    Config c = Config::defaults();
    c.set("expert.dso_chunk_plans=" + std::to_string(chunk));
    const Expert expert(test::default_env_spec(), resolve_expert_config(c),
                        test::default_cpu_powerflow());
    return expert.plan({expert.initial_data(307), expert.initial_data(305)});
  };
  const std::vector<ExpertPlan> chunked = plans_with(1), whole = plans_with(0);
  EXPECT_EQ(chunked[0].dso_rounds, 0);
  EXPECT_GE(chunked[1].dso_rounds, 1);
  for (int e = 0; e < 2; ++e) {
    SCOPED_TRACE("plan " + std::to_string(e));
    EXPECT_EQ(chunked[e].dso_rounds, whole[e].dso_rounds);
    EXPECT_EQ(chunked[e].ac_violation_pu, whole[e].ac_violation_pu);
    EXPECT_EQ(chunked[e].iterate.x, whole[e].iterate.x);
    EXPECT_EQ(chunked[e].data.v_offset_pu, whole[e].data.v_offset_pu);
  }
}

TEST(Expert, ImpossibleVoltageLimitsAreNotReportedSolved) {
  // Every bus above 1.2 p.u. with the slack at 1.0: no injection the prosumers can make
  // reaches it. Without DSO rounds the linear model is the whole story.
  Config c = small_config();
  c.set("env.v_min_pu=1.2");
  c.set("env.v_max_pu=1.3");
  c.set("expert.dso_rounds=0");
  const EnvSpec spec = build_env_spec(c);
  const Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
  ExpertEnvData d = expert.initial_data(days_in_split(spec.profiles.year, Split::kTest)[0]);
  d.t0 = 90;
  const std::vector<ExpertPlan> plans = expert.plan({d});
  std::printf("[ infeasible ] status %s after %d iterations (primal residual %.3e)\n",
              to_string(plans[0].info.status), plans[0].info.iterations,
              plans[0].info.primal_residual);
  EXPECT_NE(plans[0].info.status, SolveStatus::kSolved);
  EXPECT_EQ(plans[0].info.status, SolveStatus::kPrimalInfeasible);
  // A whole day on the full feeder, with every default (Anderson steps, rho adaptation): the
  // certificate's dual step pushes against the market variables' infinite upper bounds too,
  // which OSQP's projection drops. Without it this ran its 20,000 iterations (15 s).
  Config full = Config::defaults();
  full.set("env.v_min_pu=1.2");
  full.set("env.v_max_pu=1.3");
  full.set("expert.dso_rounds=0");
  const EnvSpec full_spec = build_env_spec(full);
  const Expert full_expert(full_spec, resolve_expert_config(full), test::default_cpu_powerflow());
  const ExpertPlan day = full_expert.plan(
      {full_expert.initial_data(days_in_split(full_spec.profiles.year, Split::kTest)[0])})[0];
  std::printf("[ infeasible ] a whole day: status %s after %d iterations\n",
              to_string(day.info.status), day.info.iterations);
  EXPECT_EQ(day.info.status, SolveStatus::kPrimalInfeasible);
  EXPECT_LE(day.info.iterations, 200);
}

TEST(Expert, FewerThanFourInverterFacetsIsAnError) {
  Config c = small_config();
  c.set("expert.inverter_facets=3");
  const EnvSpec spec = build_env_spec(c);
  const std::string msg = test::error_of([&] {
    Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
  });
  EXPECT_NE(msg.find("expert.inverter_facets"), std::string::npos) << msg;
  // 4 is the smallest accepted.
  c.set("expert.inverter_facets=4");
  EXPECT_EQ(test::error_of([&] {
              Expert expert(spec, resolve_expert_config(c), test::default_cpu_powerflow());
            }),
            "(no error)");
}

}  // namespace
}  // namespace p2pgrid
