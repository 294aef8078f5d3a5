// The per-env physics of physics.hpp through EnvBatch on the CPU: device constraints, power
// balance and P2P clearing on random actions (Lou et al. 2025, eqs. 1-10, 21), one step's costs
// worked out by hand (eqs. 14-20), and the shared reward with its voltage penalty (eqs. 24-26).
// Expected numbers are computed here from the equations, never by calling physics.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "p2pgrid/env/env_batch.hpp"
#include "support/env_fixtures.hpp"

namespace p2pgrid {
namespace {

using test::InvariantLog;
using test::where;

constexpr double kDt = 0.25;  // h per step

// ------------------------------------------------------------------ invariants, random actions

TEST(EnvPhysics, InvariantsHoldOnRandomActionsOverTwoDays) {
  const EnvSpec& spec = test::default_env_spec();
  const int B = 64, A = spec.num_agents(), U = spec.num_units();
  // The per-unit checks below read one CDG and one BESS per agent from the agent's sums.
  for (int a = 0; a < A; ++a) {
    ASSERT_LE(test::units_of(spec, a, DeviceType::kCdg).size(), 1u);
    ASSERT_LE(test::units_of(spec, a, DeviceType::kBess).size(), 1u);
  }
  EnvBatch env(spec, Backend::kCpu, B, test::default_cpu_powerflow());
  env.reset(7);
  const EnvBatchView& v = env.view();
  std::mt19937_64 rng(11);
  InvariantLog log;
  long long projected = 0, traded = 0, sold_to_grid = 0, nan_actions = 0, clipped_actions = 0;
  long long closed_with_both_sides = 0;  // steps where the market does not clear (2 fee > spread)
  for (int s = 0; s < 2 * kStepsPerDay; ++s) {
    const std::vector<int> step0 = env.to_host(v.step, B), day0 = env.to_host(v.day, B);
    const std::vector<double> p_prev = env.to_host(v.unit_p_prev_kw, std::size_t(B) * U);
    const std::vector<double> soc_prev = env.to_host(v.unit_soc_kwh, std::size_t(B) * U);
    const std::vector<float> actions = test::random_actions(rng, B, A, /*hostile=*/true);
    for (float x : actions) {
      nan_actions += std::isnan(x);
      clipped_actions += std::abs(x) > 1.0f;
    }
    env.step(actions.data());
    const std::vector<double> out = env.to_host(v.agent_out, std::size_t(B) * A * kNumAgentOut);
    const std::vector<double> met = env.to_host(v.metrics, std::size_t(B) * kNumMetrics);
    const std::vector<double> price = env.to_host(v.price_p2p, B);
    const std::vector<double> p_next = env.to_host(v.unit_p_prev_kw, std::size_t(B) * U);
    const std::vector<double> soc_next = env.to_host(v.unit_soc_kwh, std::size_t(B) * U);
    const std::vector<std::uint8_t> trunc = env.to_host(v.truncated, B);
    for (int e = 0; e < B; ++e) {
      const int t = step0[e];
      log.check(t == s % kStepsPerDay,
                [&] { return where(e, s) + "step counter " + std::to_string(t); });
      const std::size_t idx = std::size_t(day0[e]) * kStepsPerDay + t;
      const double pv_cf = spec.profiles.pv_cf[idx], wind_cf = spec.profiles.wind_cf[idx];
      const double load_pu = spec.profiles.load_pu[idx];
      const double lambda_b = spec.buy_cny_per_kwh[t / 4], lambda_s = spec.sell_cny_per_kwh[t / 4];
      double sum_p2p = 0, money = 0, surplus = 0, deficit = 0, bought = 0;
      double cost = 0, proj = 0, p2p_kwh = 0, import_kwh = 0, export_kwh = 0;
      for (int a = 0; a < A; ++a) {
        const double* ao = out.data() + (std::size_t(e) * A + a) * kNumAgentOut;
        const Prosumer& pr = spec.prosumers[a];
        auto at = [&] { return where(e, s, a); };
        for (int k = 0; k < kNumAgentOut; ++k)
          log.check(std::isfinite(ao[k]),
                    [&] { return at() + "column " + std::to_string(k) + " not finite"; });
        // Load from the profile; eq. (9) both ways.
        const double p_load = pr.load_peak_kw * load_pu;
        log.check(std::abs(ao[kAoPLoad] - p_load) <= 1e-9 * (1 + p_load), [&] {
          return at() + "P_load " + std::to_string(ao[kAoPLoad]) + " vs " + std::to_string(p_load);
        });
        log.check(std::abs(ao[kAoQLoad] - p_load * pr.tan_phi) <= 1e-9 * (1 + p_load),
                  [&] { return at() + "Q_load"; });
        const double balance = ao[kAoPCdg] + ao[kAoPRdg] + ao[kAoPCl] - ao[kAoPLoad] - ao[kAoPBess];
        log.check(std::abs(ao[kAoPEx] - balance) <= 1e-6, [&] {
          return at() + "P_EX " + std::to_string(ao[kAoPEx]) + " != devices " +
                 std::to_string(balance);
        });
        log.check(std::abs(ao[kAoPEx] + ao[kAoPGrid] + ao[kAoPP2p]) <= 1e-6,
                  [&] { return at() + "P_EX != -P_grid - P_P2P"; });
        log.check(std::abs(ao[kAoQEx] - (ao[kAoQRdg] - ao[kAoQLoad])) <= 1e-6,
                  [&] { return at() + "Q_EX != Q_RDG - Q_load"; });
        // CDG: bounds and ramp (eqs. 1-2), state carried to the next step.
        const std::vector<int> cdg = test::units_of(spec, a, DeviceType::kCdg);
        if (cdg.empty()) {
          log.check(ao[kAoPCdg] == 0, [&] { return at() + "CDG output without a CDG"; });
        } else {
          const DeviceUnit& d = spec.units[cdg[0]];
          const std::size_t u = std::size_t(e) * U + cdg[0];
          const double p = ao[kAoPCdg];
          log.check(p >= d.p_min_kw - 1e-9 && p <= d.p_max_kw + 1e-9,
                    [&] { return at() + "CDG " + std::to_string(p) + " outside its bounds"; });
          log.check(std::abs(p - p_prev[u]) <= d.ramp_kw_per_step + 1e-9, [&] {
            return at() + "CDG ramp " + std::to_string(p_prev[u]) + " -> " + std::to_string(p);
          });
          const double expect_next = trunc[e] ? d.p_init_kw : p;
          log.check(p_next[u] == expect_next, [&] { return at() + "CDG state after the step"; });
        }
        // RDG: availability and inverter circle (eqs. 3-4).
        const std::vector<int> pv = test::units_of(spec, a, DeviceType::kPv);
        const std::vector<int> wind = test::units_of(spec, a, DeviceType::kWind);
        double p_lim = 0, s_sum = 0;
        for (int u : pv) {
          p_lim += spec.units[u].rating_kw * pv_cf;
          s_sum += spec.units[u].s_max_kva;
        }
        for (int u : wind) {
          p_lim += spec.units[u].rating_kw * wind_cf;
          s_sum += spec.units[u].s_max_kva;
        }
        log.check(ao[kAoPRdg] >= -1e-12 && ao[kAoPRdg] <= p_lim + 1e-9, [&] {
          return at() + "P_RDG " + std::to_string(ao[kAoPRdg]) + " above " + std::to_string(p_lim);
        });
        if (pv.size() + wind.size() == 1) {
          log.check(ao[kAoPRdg] * ao[kAoPRdg] + ao[kAoQRdg] * ao[kAoQRdg] <= s_sum * s_sum + 1e-6,
                    [&] { return at() + "RDG outside its inverter circle"; });
        } else {
          log.check(std::abs(ao[kAoQRdg]) <= s_sum + 1e-9,
                    [&] { return at() + "Q_RDG above sum S"; });
        }
        // BESS: power, SOC dynamics and window (eqs. 5-7).
        const std::vector<int> bess = test::units_of(spec, a, DeviceType::kBess);
        if (bess.empty()) {
          log.check(ao[kAoPBess] == 0 && ao[kAoSoc] == 0,
                    [&] { return at() + "BESS without a BESS"; });
        } else {
          const DeviceUnit& d = spec.units[bess[0]];
          const std::size_t u = std::size_t(e) * U + bess[0];
          const double pb = ao[kAoPBess];
          log.check(std::abs(pb) <= d.p_bess_max_kw + 1e-9, [&] { return at() + "BESS power"; });
          const double e_expect = pb >= 0 ? soc_prev[u] + d.eta_charge * pb * kDt
                                          : soc_prev[u] + pb / d.eta_discharge * kDt;
          log.check(std::abs(ao[kAoSoc] - e_expect) <= 1e-9, [&] {
            return at() + "SOC " + std::to_string(ao[kAoSoc]) + " != " + std::to_string(e_expect);
          });
          const double lo = d.soc_min * d.energy_kwh - 1e-9, hi = d.soc_max * d.energy_kwh + 1e-9;
          log.check(ao[kAoSoc] >= lo && ao[kAoSoc] <= hi,
                    [&] { return at() + "SOC outside its window"; });
          const double expect_next = trunc[e] ? d.soc_init * d.energy_kwh : ao[kAoSoc];
          log.check(soc_next[u] == expect_next, [&] { return at() + "SOC state after the step"; });
          log.check(soc_next[u] >= lo && soc_next[u] <= hi,
                    [&] { return at() + "SOC state outside"; });
        }
        // CL (eq. 8).
        log.check(ao[kAoPCl] >= 0 && ao[kAoPCl] <= pr.cl_alpha * p_load + 1e-9,
                  [&] { return at() + "P_CL " + std::to_string(ao[kAoPCl]); });
        log.check(ao[kAoProjection] >= 0, [&] { return at() + "negative projection"; });
        // Market side of eq. (9): nobody buys from peers and sells to the grid, or the reverse.
        log.check(!(ao[kAoPP2p] > 1e-9 && ao[kAoPGrid] < -1e-9),
                  [&] { return at() + "buys from peers and sells to the grid"; });
        log.check(!(ao[kAoPP2p] < -1e-9 && ao[kAoPGrid] > 1e-9),
                  [&] { return at() + "sells to peers and buys from the grid"; });
        log.check(ao[kAoPP2p] * ao[kAoPEx] <= 1e-9,
                  [&] { return at() + "P2P against its own net position"; });
        if (ao[kAoPEx] > 0)
          surplus += ao[kAoPEx];
        else
          deficit -= ao[kAoPEx];
        if (ao[kAoPP2p] > 0) {
          bought += ao[kAoPP2p];
          p2p_kwh += ao[kAoPP2p] * kDt;
        }
        if (ao[kAoPGrid] > 0)
          import_kwh += ao[kAoPGrid] * kDt;
        else
          export_kwh -= ao[kAoPGrid] * kDt;
        sold_to_grid += ao[kAoPGrid] < -1e-9;
        sum_p2p += ao[kAoPP2p];
        money += price[e] * ao[kAoPP2p];
        cost += ao[kAoCost];
        proj += ao[kAoProjection];
        projected += ao[kAoProjection] > 1e-9;
      }
      const auto at = [&] { return where(e, s); };
      traded += bought > 1e-9;
      log.check(std::abs(sum_p2p) <= 1e-6,
                [&] { return at() + "sum P_P2P = " + std::to_string(sum_p2p); });
      log.check(std::abs(money) <= 1e-6, [&] { return at() + "P2P payments do not cancel"; });
      // Eq. (21) pro rata where a matched kWh costs less than the grid (two fees below the
      // spread), none elsewhere.
      const bool clears = 2 * spec.dso_fee_cny_per_kwh < lambda_b - lambda_s;
      const double expect_matched = clears ? std::min(surplus, deficit) : 0.0;
      closed_with_both_sides += !clears && std::min(surplus, deficit) > 1e-6;
      log.check(std::abs(bought - expect_matched) <= 1e-6, [&] {
        return at() + "matched " + std::to_string(bought) +
               " != " + std::to_string(expect_matched) + (clears ? " (open)" : " (closed)");
      });
      log.check(price[e] >= lambda_s - 1e-12 && price[e] <= lambda_b + 1e-12,
                [&] { return at() + "lambda_P2P outside [lambda_S, lambda_B]"; });
      const double* m = met.data() + std::size_t(e) * kNumMetrics;
      log.check(std::abs(m[kMetCost] - cost) <= 1e-9 * (1 + std::abs(cost)),
                [&] { return at() + "metric cost"; });
      log.check(std::abs(m[kMetProjection] - proj) <= 1e-9 * (1 + proj),
                [&] { return at() + "metric projection"; });
      log.check(std::abs(m[kMetP2p] - p2p_kwh) <= 1e-9, [&] { return at() + "metric P2P kWh"; });
      log.check(std::abs(m[kMetImport] - import_kwh) <= 1e-9,
                [&] { return at() + "metric import"; });
      log.check(std::abs(m[kMetExport] - export_kwh) <= 1e-9,
                [&] { return at() + "metric export"; });
      log.check(m[kMetSteps] == 1, [&] { return at() + "metric steps"; });
    }
  }
  EXPECT_EQ(log.failures(), 0) << log.report();
  // The run exercised what it claims to: NaN and out-of-range actions, projections, P2P trades.
  EXPECT_GT(nan_actions, 0);
  EXPECT_GT(clipped_actions, 0);
  EXPECT_GT(projected, 0);
  EXPECT_GT(traded, 0);
  EXPECT_GT(sold_to_grid, 0);
  EXPECT_GT(closed_with_both_sides, 0) << "no step tested the closed market";
}

TEST(EnvPhysics, NanActsAsZeroAndOutOfRangeIsClipped) {
  const EnvSpec& spec = test::default_env_spec();
  const int A = spec.num_agents();
  // Env 0 gets NaN / +-5 / +-inf where env 1 gets 0 / +-1: both must play the same physics.
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(3, {150, 150});
  std::mt19937_64 rng(5);
  const EnvBatchView& v = env.view();
  for (int s = 0; s < 8; ++s) {
    std::vector<float> act = test::random_actions(rng, 2, A);
    const std::size_t n = std::size_t(A) * kActionDim;
    for (std::size_t i = 0; i < n; ++i) {
      const float special[5] = {std::nanf(""), 5.0f, -5.0f, INFINITY, -INFINITY};
      const float same[5] = {0.0f, 1.0f, -1.0f, 1.0f, -1.0f};
      const int k = static_cast<int>((i + s) % 7);
      if (k < 5) {
        act[i] = special[k];
        act[n + i] = same[k];
      } else {
        act[n + i] = act[i];
      }
    }
    env.step(act.data());
    const std::vector<double> out = env.to_host(v.agent_out, 2 * std::size_t(A) * kNumAgentOut);
    const std::size_t half = std::size_t(A) * kNumAgentOut;
    for (std::size_t i = 0; i < half; ++i) {
      // Projection included: clipping happens before projecting, so it is no projection.
      ASSERT_EQ(out[i], out[half + i])
          << "step " << s << " agent " << i / kNumAgentOut << " column " << i % kNumAgentOut;
    }
    const std::vector<float> obs = env.to_host(v.obs, 2 * std::size_t(A) * kObsDim);
    for (std::size_t i = 0; i < std::size_t(A) * kObsDim; ++i)
      ASSERT_EQ(obs[i], obs[A * kObsDim + i]) << "step " << s;
    const std::vector<float> reward = env.to_host(v.reward, 2 * std::size_t(A));
    ASSERT_EQ(reward[0], reward[A]);
    ASSERT_TRUE(std::isfinite(reward[0]));
  }
}

// ------------------------------------------------------------------------------- projection

TEST(EnvPhysics, ProjectionIsZeroForFeasibleActionsAndMeasuresInfeasibleOnes) {
  const EnvSpec& spec = test::default_env_spec();
  const int A = spec.num_agents(), day = 172;  // a June day: wind and load are nonzero at 00:00
  const std::size_t idx = std::size_t(day) * kStepsPerDay;
  const double pv_cf = spec.profiles.pv_cf[idx], wind_cf = spec.profiles.wind_cf[idx];
  ASSERT_GT(wind_cf, 0.01) << "pick another day: the Q projection below needs wind";
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(1, {day, day});
  // Env 0, feasible at step 0: CDG at -1 (0 kW; p_init 0, within the ramp), RDG P anywhere
  // (never above rating x cf), |Q| <= 0.4 S (the circle leaves sqrt(1 - 1/1.1^2) = 0.417 S at
  // full rating), BESS anywhere (SOC 0.5 leaves room for a full step either way), CL anywhere.
  // Env 1: everything at +1: the CDG is cut to its ramp and Q to the circle.
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> act(2 * std::size_t(A) * kActionDim, 1.0f);
  for (int a = 0; a < A; ++a) {
    float* x = act.data() + std::size_t(a) * kActionDim;
    x[kActCdg] = -1;
    x[kActRdgP] = u(rng);
    x[kActRdgQ] = 0.4f * u(rng);
    x[kActBess] = u(rng);
    x[kActCl] = u(rng);
  }
  env.step(act.data());
  const std::vector<double> out =
      env.to_host(env.view().agent_out, 2 * std::size_t(A) * kNumAgentOut);
  const std::vector<double> met = env.to_host(env.view().metrics, 2 * std::size_t(kNumMetrics));
  for (int a = 0; a < A; ++a)
    EXPECT_EQ(out[std::size_t(a) * kNumAgentOut + kAoProjection], 0.0) << "agent " << a;
  EXPECT_EQ(met[kMetProjection], 0.0);
  double total = 0;
  for (int a = 0; a < A; ++a) {
    double expect2 = 0;
    for (int k = spec.agent_unit_begin[a]; k < spec.agent_unit_begin[a + 1]; ++k) {
      const DeviceUnit& d = spec.units[k];
      if (d.type == DeviceType::kCdg) {
        const double cut = d.p_max_kw - (d.p_init_kw + d.ramp_kw_per_step);
        expect2 += cut * cut;
      } else if (d.type == DeviceType::kPv || d.type == DeviceType::kWind) {
        const double p = d.rating_kw * (d.type == DeviceType::kPv ? pv_cf : wind_cf);
        const double cut = d.s_max_kva - std::sqrt(d.s_max_kva * d.s_max_kva - p * p);
        expect2 += cut * cut;
      }
    }
    const double got = out[(std::size_t(A) + a) * kNumAgentOut + kAoProjection];
    EXPECT_NEAR(got, std::sqrt(expect2), 1e-9)
        << "agent " << a << " (" << spec.prosumers[a].portfolio << ")";
    // Residential agents have no CDG and no PV output at 00:00: nothing to cut there.
    if (expect2 > 0) EXPECT_GT(got, 0.0) << "agent " << a;
    total += std::sqrt(expect2);
  }
  EXPECT_NEAR(met[kNumMetrics + kMetProjection], total, 1e-8);
}

TEST(EnvPhysics, BessIsStoppedAtTheTopOfItsWindowAndTheCutIsTheProjection) {
  const EnvSpec& spec = test::default_env_spec();
  const int A = spec.num_agents();
  int res = -1;
  for (int a = 0; a < A && res < 0; ++a)
    if (spec.prosumers[a].portfolio == "residential") res = a;
  ASSERT_GE(res, 0);
  const DeviceUnit& d = spec.units[test::units_of(spec, res, DeviceType::kBess).at(0)];
  EnvBatch env(spec, Backend::kCpu, 1, test::default_cpu_powerflow());
  env.reset(1, {40});
  // Every agent: CDG -1 and then held (ramp-feasible), RDG P -1 (0 kW), Q 0, CL 0, BESS +1.
  std::vector<float> act(std::size_t(A) * kActionDim, 0.0f);
  for (int a = 0; a < A; ++a) {
    act[std::size_t(a) * kActionDim + kActCdg] = -1;
    act[std::size_t(a) * kActionDim + kActRdgP] = -1;
    act[std::size_t(a) * kActionDim + kActBess] = 1;
  }
  double e = d.soc_init * d.energy_kwh;
  const double top = d.soc_max * d.energy_kwh;
  bool saw_partial = false, saw_full_cut = false;
  for (int s = 0; s < 8; ++s) {
    // Eqs. (5)-(7) by hand: charge at most what fills the window, with eta_c.
    const double room_kw = (top - e) / (d.eta_charge * kDt);
    const double pb = std::min(d.p_bess_max_kw, room_kw);
    const double cut = d.p_bess_max_kw - pb;
    env.step(act.data());
    const std::vector<double> out =
        env.to_host(env.view().agent_out, std::size_t(A) * kNumAgentOut);
    const double* ao = out.data() + std::size_t(res) * kNumAgentOut;
    EXPECT_NEAR(ao[kAoPBess], pb, 1e-9) << "step " << s;
    EXPECT_NEAR(ao[kAoProjection], cut, 1e-9) << "step " << s;
    e = std::min(top, e + d.eta_charge * pb * kDt);
    EXPECT_NEAR(ao[kAoSoc], e, 1e-9) << "step " << s;
    EXPECT_LE(ao[kAoSoc], top + 1e-9);
    saw_partial |= cut > 1e-6 && pb > 1e-6;
    saw_full_cut |= std::abs(cut - d.p_bess_max_kw) < 1e-9;
  }
  EXPECT_TRUE(saw_partial);
  EXPECT_TRUE(saw_full_cut);
}

// ------------------------------------------------------------------------ costs, by hand

// One prosumer's expected step, written out from eqs. (1)-(20) in the test below.
struct Expected {
  double p_cdg, p_rdg, q_rdg, p_bess, p_cl, p_load, q_load, soc, p_ex, p_p2p, p_grid, cost, proj;
};

TEST(EnvPhysics, CostsAndClearingMatchAHandWorkedStep) {
  EnvSpec spec = build_env_spec(test::tiny_config());
  ASSERT_EQ(spec.num_agents(), 3);
  // Chosen exogenous inputs for the first steps of day 10 (exact in float).
  const int day = 10;
  for (int t = 0; t < 8; ++t) {
    const std::size_t i = std::size_t(day) * kStepsPerDay + t;
    spec.profiles.pv_cf[i] = 0.5f;
    spec.profiles.wind_cf[i] = 0.25f;
    spec.profiles.load_pu[i] = 0.75f;
  }
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(1, {day, day});
  // [env][agent][column]: gen, solar, house.
  const std::vector<float> act = {
      // env 0
      1, 0, -1, 0, 0,  // gen: CDG to p_max (ramp-cut), wind P half, Q -S (circle-cut), CL half
      0, 1, 0.5f, -0.5f, 0,  // solar: PV full, Q 0.5 S, BESS discharges half
      0, 0, 0, 0, 1,         // house: CL full
      // env 1
      1, 0, -1, 0, 1,     // gen: CL full
      0, 1, 0.5f, -1, 0,  // solar: BESS discharges fully
      0, 0, 0, 0, 1};
  env.step(act.data());

  const double lb = 1.0, ls = 0.2, fee = 0.03;  // hour 0
  const double lp2p = 0.5 * (lb - ls) + ls;     // eq. (20): 0.6
  auto grid_cost = [&](double p) { return (p >= 0 ? lb * p : ls * p) * kDt; };
  auto p2p_cost = [&](double p) { return (lp2p * p + fee * std::abs(p)) * kDt; };
  const double tan_gen = std::tan(std::acos(0.9)), tan_solar = std::tan(std::acos(0.95));

  // gen: load 50 x 0.75 = 37.5 kW. CDG asked 100 kW, the ramp from 20 allows 50:
  // fuel (0.001 x 50^2 + 0.5 x 50 + 2) x 0.25 = 7.375. Wind 0.5 (0 + 1) x 40 x 0.25 = 5 kW;
  // Q asked -44 kvar, the circle leaves sqrt(44^2 - 5^2). CL 0.5 (a + 1) x 0.2 x 37.5 = 3.75
  // (env 0) or 7.5 kW (env 1) at 0.9 CNY/kWh. P_EX = 50 + 5 + CL - 37.5 = 21.25 or 25.
  const double q_wind = -std::sqrt(44.0 * 44 - 5 * 5);
  const double gen_proj = std::sqrt(50.0 * 50 + (44 + q_wind) * (44 + q_wind));
  const double fuel = (0.001 * 50 * 50 + 0.5 * 50 + 2) * kDt;
  // solar: load 75 kW; PV 100 x 0.5 = 50 kW, Q 55 kvar (inside sqrt(110^2 - 50^2) = 98);
  // BESS -20 kW (env 0) or -40 kW (env 1): SOC 50 - 20 / 0.8 x 0.25 = 43.75 or 37.5 kWh;
  // wear 0.05 x |P| x 0.25. No CL. P_EX = 50 - 75 + 20 = -5 or 50 - 75 + 40 = 15.
  // house: load 45 kW, CL 0.5 x 45 = 22.5 kW at 0.5 CNY/kWh: P_EX = -22.5.
  std::vector<std::vector<Expected>> expect(2);
  for (int e = 0; e < 2; ++e) {
    const double gen_cl = e == 0 ? 3.75 : 7.5;
    const double pb = e == 0 ? -20.0 : -40.0;
    Expected gen{50,
                 5,
                 q_wind,
                 0,
                 gen_cl,
                 37.5,
                 37.5 * tan_gen,
                 0,
                 e == 0 ? 21.25 : 25.0,
                 0,
                 0,
                 fuel + 0.9 * gen_cl * kDt,
                 gen_proj};
    Expected solar{0,
                   50,
                   55,
                   pb,
                   0,
                   75,
                   75 * tan_solar,
                   e == 0 ? 43.75 : 37.5,
                   e == 0 ? -5.0 : 15.0,
                   0,
                   0,
                   0.05 * std::abs(pb) * kDt,
                   0};
    Expected house{0, 0, 0, 0, 22.5, 45, 0, 0, -22.5, 0, 0, 0.5 * 22.5 * kDt, 0};
    expect[e] = {gen, solar, house};
  }
  // Eq. (21) pro rata. Env 0: surplus 21.25 (gen), deficit 5 + 22.5 = 27.5: the buyers get
  // 21.25 x 5 / 27.5 and 21.25 x 22.5 / 27.5 from peers and import the rest; the gen sells all
  // to peers. Env 1: surplus 25 + 15 = 40, deficit 22.5: the house buys all 22.5 from peers, the
  // sellers sell 22.5 x 25 / 40 and 22.5 x 15 / 40 to peers and the rest to the grid.
  expect[0][0].p_p2p = -21.25;
  expect[0][1].p_p2p = 21.25 * 5 / 27.5;
  expect[0][2].p_p2p = 21.25 * 22.5 / 27.5;
  expect[1][0].p_p2p = -22.5 * 25 / 40;
  expect[1][1].p_p2p = -22.5 * 15 / 40;
  expect[1][2].p_p2p = 22.5;
  const double matched[2] = {21.25, 22.5};
  for (auto& env_expect : expect)
    for (Expected& x : env_expect) {
      x.p_grid = -x.p_ex - x.p_p2p;
      x.cost += grid_cost(x.p_grid) + p2p_cost(x.p_p2p);
    }
  EXPECT_EQ(expect[0][0].p_grid, 0.0);  // the case is what the comments say
  EXPECT_EQ(expect[1][2].p_grid, 0.0);
  EXPECT_LT(expect[1][0].p_grid, 0.0);
  EXPECT_GT(expect[0][2].p_grid, 0.0);

  const std::vector<double> out =
      env.to_host(env.view().agent_out, 2 * 3 * std::size_t(kNumAgentOut));
  const std::vector<double> met = env.to_host(env.view().metrics, 2 * std::size_t(kNumMetrics));
  const std::vector<double> price = env.to_host(env.view().price_p2p, 2);
  const std::vector<float> reward = env.to_host(env.view().reward, 6);
  const std::vector<std::uint8_t> viol = env.to_host(env.view().violation, 2);
  const std::vector<double> vm = env.vm_pu_host();
  const char* names[3] = {"gen", "solar", "house"};
  for (int e = 0; e < 2; ++e) {
    EXPECT_NEAR(price[e], 0.6, 1e-12);
    double total = 0, import_kwh = 0, export_kwh = 0;
    for (int a = 0; a < 3; ++a) {
      const double* ao = out.data() + (std::size_t(e) * 3 + a) * kNumAgentOut;
      const Expected& x = expect[e][a];
      SCOPED_TRACE(std::string("env ") + std::to_string(e) + " " + names[a]);
      EXPECT_NEAR(ao[kAoPCdg], x.p_cdg, 1e-9);
      EXPECT_NEAR(ao[kAoPRdg], x.p_rdg, 1e-9);
      EXPECT_NEAR(ao[kAoQRdg], x.q_rdg, 1e-9);
      EXPECT_NEAR(ao[kAoPBess], x.p_bess, 1e-9);
      EXPECT_NEAR(ao[kAoPCl], x.p_cl, 1e-9);
      EXPECT_NEAR(ao[kAoPLoad], x.p_load, 1e-9);
      EXPECT_NEAR(ao[kAoQLoad], x.q_load, 1e-9);
      EXPECT_NEAR(ao[kAoPEx], x.p_ex, 1e-9);
      EXPECT_NEAR(ao[kAoQEx], x.q_rdg - x.q_load, 1e-9);
      EXPECT_NEAR(ao[kAoPP2p], x.p_p2p, 1e-9);
      EXPECT_NEAR(ao[kAoPGrid], x.p_grid, 1e-9);
      EXPECT_NEAR(ao[kAoSoc], x.soc, 1e-9);
      EXPECT_NEAR(ao[kAoCost], x.cost, 1e-9);
      EXPECT_NEAR(ao[kAoProjection], x.proj, 1e-9);
      total += x.cost;
      if (x.p_grid > 0)
        import_kwh += x.p_grid * kDt;
      else
        export_kwh -= x.p_grid * kDt;
    }
    const double* m = met.data() + std::size_t(e) * kNumMetrics;
    EXPECT_NEAR(m[kMetCost], total, 1e-9);
    EXPECT_NEAR(m[kMetP2p], matched[e] * kDt, 1e-9);
    EXPECT_NEAR(m[kMetImport], import_kwh, 1e-9);
    EXPECT_NEAR(m[kMetExport], export_kwh, 1e-9);
    EXPECT_NEAR(m[kMetProjection], expect[e][0].proj, 1e-9);
    // No feeder load and a few tens of kW: every voltage is inside the band, no penalty.
    for (int b = 0; b < env.num_buses(); ++b)
      ASSERT_TRUE(vm[std::size_t(e) * env.num_buses() + b] > 0.95 &&
                  vm[std::size_t(e) * env.num_buses() + b] < 1.05);
    EXPECT_EQ(viol[e], 0);
    EXPECT_NEAR(m[kMetReward], -0.01 * total, 1e-12);
    for (int a = 0; a < 3; ++a) EXPECT_FLOAT_EQ(reward[e * 3 + a], float(-0.01 * total));
  }
  // Eq. (20) follows the hour of the step: steps 1-3 are hour 0, step 4 is hour 1 (0.7 / 0.1).
  const std::vector<float> zero(2 * 3 * kActionDim, 0.0f);
  for (int s = 1; s <= 4; ++s) {
    env.step(zero.data());
    const double p = env.to_host(env.view().price_p2p, 2)[0];
    EXPECT_NEAR(p, s < 4 ? 0.6 : 0.5 * (0.7 - 0.1) + 0.1, 1e-12) << "step " << s;
  }
}

// ---------------------------------------------------------------------------------- reward

// Penalty of eq. (26) from the voltages, independent of physics.hpp.
struct Penalty {
  int violations = 0;
  double magnitude = 0, penalty = 0;
};
Penalty penalty_of(const EnvSpec& spec, const double* vm, bool converged) {
  Penalty p;
  if (!converged) {
    p.penalty = spec.nonconvergence_penalty;
    return p;
  }
  for (int b = 0; b < spec.network.num_buses(); ++b) {
    if (b == spec.network.slack_bus) continue;
    const double d = vm[b] > spec.v_max_pu   ? vm[b] - spec.v_max_pu
                     : vm[b] < spec.v_min_pu ? spec.v_min_pu - vm[b]
                                             : 0.0;
    if (d > 0) {
      ++p.violations;
      p.magnitude += d;
    }
  }
  p.penalty = spec.penalty_a * p.magnitude + (p.violations > 0 ? spec.penalty_c : 0.0);
  return p;
}

/// Plays `steps` random steps of 8 envs from reset(21), or from `start` (a save_state() of 8
/// envs) when given, checking each step's reward, flags and agent voltages.
void check_reward_on_random_run(const EnvSpec& spec, const PowerFlowChoice& pf, int steps,
                                int* violated, int* clean, int* nonconverged,
                                const std::string* start = nullptr) {
  const int B = 8, A = spec.num_agents(), nb = spec.network.num_buses();
  EnvBatch env(spec, Backend::kCpu, B, pf);
  if (start)
    env.load_state(*start);
  else
    env.reset(21);
  std::mt19937_64 rng(4);
  const EnvBatchView& v = env.view();
  for (int s = 0; s < steps; ++s) {
    const std::vector<double> v_prev = env.to_host(v.agent_v_prev_pu, std::size_t(B) * A);
    const std::vector<float> act = test::random_actions(rng, B, A);
    env.step(act.data());
    const std::vector<double> out = env.to_host(v.agent_out, std::size_t(B) * A * kNumAgentOut);
    const std::vector<double> met = env.to_host(v.metrics, std::size_t(B) * kNumMetrics);
    const std::vector<float> reward = env.to_host(v.reward, std::size_t(B) * A);
    const std::vector<std::uint8_t> viol = env.to_host(v.violation, B);
    const std::vector<std::uint8_t> conv = env.pf_converged_host();
    const std::vector<double> vm = env.vm_pu_host();
    for (int e = 0; e < B; ++e) {
      SCOPED_TRACE(where(e, s));
      double total = 0;
      for (int a = 0; a < A; ++a) total += out[(std::size_t(e) * A + a) * kNumAgentOut + kAoCost];
      const Penalty p = penalty_of(spec, vm.data() + std::size_t(e) * nb, conv[e] != 0);
      const double expect = -(spec.cost_weight * total + p.penalty);
      const double* m = met.data() + std::size_t(e) * kNumMetrics;
      ASSERT_NEAR(m[kMetReward], expect, 1e-9 * (1 + std::abs(expect)));
      for (int a = 0; a < A; ++a)
        ASSERT_EQ(reward[std::size_t(e) * A + a], float(m[kMetReward])) << "agent " << a;
      ASSERT_NEAR(reward[std::size_t(e) * A], expect, 1e-6 * (1 + std::abs(expect)));
      ASSERT_EQ(viol[e], (p.violations > 0 || conv[e] == 0) ? 1 : 0);
      ASSERT_EQ(m[kMetViolBusSteps], p.violations);
      ASSERT_NEAR(m[kMetViolMagnitude], p.magnitude, 1e-12);
      // Bus-steps count only where voltages are known (a converged power flow), so that a run
      // of non-converged steps cannot report a violation rate of 0.
      ASSERT_EQ(m[kMetBusSteps], conv[e] ? nb - 1 : 0);
      ASSERT_EQ(m[kMetNonConverged], conv[e] ? 0 : 1);
      // The agent's voltage: its bus after the step, or the last one when the flow failed.
      for (int a = 0; a < A; ++a) {
        const double vm_a = out[(std::size_t(e) * A + a) * kNumAgentOut + kAoVm];
        const double want = conv[e] ? vm[std::size_t(e) * nb + spec.prosumers[a].bus]
                                    : v_prev[std::size_t(e) * A + a];
        ASSERT_EQ(vm_a, want) << "agent " << a;
      }
      *violated += p.violations > 0;
      *clean += p.violations == 0 && conv[e];
      *nonconverged += conv[e] == 0;
    }
  }
}

TEST(EnvPhysics, RewardIsSharedCostPlusVoltagePenalty) {
  int violated = 0, clean = 0, nonconverged = 0;
  check_reward_on_random_run(test::default_env_spec(), test::default_cpu_powerflow(), 48, &violated,
                             &clean, &nonconverged);
  // A narrow band that excludes the slack's 1.0 p.u.: violations are certain, and counting the
  // slack bus would show.
  EnvSpec narrow = test::default_env_spec();
  narrow.v_min_pu = 0.98;
  narrow.v_max_pu = 0.995;
  check_reward_on_random_run(narrow, test::default_cpu_powerflow(), 24, &violated, &clean,
                             &nonconverged);
  EXPECT_GT(violated, 0);
  EXPECT_GT(clean, 0);
  EXPECT_EQ(nonconverged, 0);
}

TEST(EnvPhysics, NonConvergedPowerFlowCostsTheFixedPenaltyAndKeepsTheLastVoltage) {
  // Envs that have played 3 steps with converged power flows (so each agent's last voltage is
  // its bus's, not the reset's slack voltage) go on with flows that cannot converge.
  const EnvSpec& spec = test::default_env_spec();
  const int A = spec.num_agents();
  EnvBatch played(spec, Backend::kCpu, 8, test::default_cpu_powerflow());
  played.reset(21);
  std::mt19937_64 rng(5);
  for (int s = 0; s < 3; ++s) played.step(test::random_actions(rng, 8, A).data());
  const std::vector<double> v_last = played.to_host(played.view().agent_v_prev_pu, 8 * A);
  int off_slack = 0;
  for (double v : v_last) off_slack += std::abs(v - spec.network.v_slack_pu) > 1e-4;
  ASSERT_GT(off_slack, 0) << "every last voltage is the slack's: the check below is vacuous";
  const std::string state = played.save_state();
  PowerFlowChoice pf = test::default_cpu_powerflow();
  pf.settings.max_iterations = 1;  // one sweep cannot meet 1e-9 on a loaded feeder
  int violated = 0, clean = 0, nonconverged = 0;
  check_reward_on_random_run(spec, pf, 4, &violated, &clean, &nonconverged, &state);
  EXPECT_EQ(nonconverged, 4 * 8);
}

}  // namespace
}  // namespace p2pgrid
