// Per-env physics of the P2P trading env, P2P_HD: the CPU backend loops over envs, the CUDA
// backend runs one thread per env; both call these functions on the same flat arrays.
// Lou et al. 2025 (LLM-MARL), section II: device models eqs. (1)-(10), costs (14)-(19), P2P
// price (20), market balance (21), action (22), observation (23), reward (24)-(26).
#pragma once

#include <cmath>
#include <cstdint>

#include "p2pgrid/core/hd.hpp"
#include "p2pgrid/core/rng.hpp"
#include "p2pgrid/env/env_spec.hpp"

namespace p2pgrid {

/// Columns of the per-unit parameter table [num_units, kNumUnitParams] (units as DeviceUnit).
enum UnitParam : int {
  kUpPMin, kUpPMax, kUpRamp, kUpPInit, kUpCostA, kUpCostB, kUpCostC,  // CDG
  kUpRating, kUpSMax,                                                 // PV, wind
  kUpBessPMax, kUpEnergy, kUpSocMin, kUpSocMax, kUpSocInit, kUpEtaCh, kUpEtaDis, kUpGamma,
  kNumUnitParams
};
/// Columns of the per-agent parameter table [num_agents, kNumAgentParams].
enum AgentParam : int { kApLoadPeak, kApTanPhi, kApClAlpha, kApClRho, kApPScale, kNumAgentParams };
/// Per-agent results of a step [num_agents, kNumAgentOut] (kW, kvar, kWh, CNY; as applied).
enum AgentOut : int {
  kAoPCdg, kAoPRdg, kAoQRdg, kAoPBess, kAoPCl,  // set-points after projection (sums over units)
  kAoPLoad, kAoQLoad, kAoPEx, kAoQEx,           // load and net injection, eq. (9)
  kAoPP2p, kAoPGrid,                            // > 0: buys from peers / from the grid
  kAoSoc,                                       // stored energy after the step (sum over BESS)
  kAoCost,                                      // eqs. (14)-(19), CNY for this step
  kAoProjection,                                // || requested - applied || over units, kW
  kAoVm,                                        // voltage at the agent's bus after the step
  kNumAgentOut
};
/// Per-env metrics [kNumMetrics]: one step's values, or a whole episode's sums.
enum Metric : int {
  kMetCost,            // operational cost of all prosumers, CNY
  kMetP2p,             // P2P volume (energy bought from peers), kWh
  kMetImport,          // energy bought from the grid, kWh
  kMetExport,          // energy sold to the grid, kWh
  kMetViolBusSteps,    // bus-steps outside [v_min, v_max] (slack excluded)
  kMetBusSteps,        // bus-steps with a converged power flow (slack excluded)
  kMetViolMagnitude,   // sum of distances to the band, p.u.
  kMetNonConverged,    // steps whose power flow did not converge
  kMetSteps,           // steps
  kMetReward,          // shared reward
  kMetProjection,      // sum of projection sizes, kW
  kNumMetrics
};

/// Read-only env parameters (host or device pointers).
struct EnvParamsView {
  int num_agents = 0, num_units = 0, num_buses = 0, slack_bus = 0;
  const int* unit_type = nullptr;         // [U] DeviceType
  const int* agent_unit_begin = nullptr;  // [A + 1]
  const double* unit_params = nullptr;    // [U, kNumUnitParams]
  const int* agent_bus = nullptr;         // [A] bus index
  const double* agent_params = nullptr;   // [A, kNumAgentParams]
  const double* bus_load_p_kw = nullptr;  // [nb] case peak load x feeder_load_scale (every bus's, prosumer buses too: the prosumer's own load comes on top)
  const double* bus_load_q_kvar = nullptr;
  const double* buy_cny_per_kwh = nullptr;   // [24]
  const double* sell_cny_per_kwh = nullptr;  // [24]
  const float* pv_cf = nullptr;    // [num_days * 96]
  const float* wind_cf = nullptr;  // [num_days * 96]
  const float* load_pu = nullptr;  // [num_days * 96]
  const int* split_days = nullptr;  // [num_split_days]
  int num_split_days = 0;
  // Copied from EnvSpec by EnvBatch (no defaults of their own).
  double p2p_lambda = 0, dso_fee = 0, v_min = 0, v_max = 0, v_slack = 0;
  double cost_weight = 0, penalty_a = 0, penalty_c = 0, nonconvergence_penalty = 0;
  double price_scale = 1, kw_per_pu = 1;
};

/// One env's mutable state, rows of [B, ...] buffers.
struct EnvStateView {
  int* step;                  // [1] next step of the day, 0..95
  int* day;                   // [1] day of year being played
  Rng* rng;                   // [1] draws the next day at auto-reset
  double* unit_p_prev_kw;     // [U] CDG output of the previous step
  double* unit_soc_kwh;       // [U] BESS stored energy
  double* agent_p2p_prev_kw;  // [A]
  double* agent_v_prev_pu;    // [A]
  double* episode;            // [kNumMetrics] running sums of the current day
};

/// One env's step outputs, rows of [B, ...] buffers.
struct EnvOutView {
  double* agent;        // [A, kNumAgentOut]
  double* metrics;      // [kNumMetrics] this step
  double* last_episode; // [kNumMetrics] sums of the last finished day (valid where truncated)
  float* obs;           // [A, kObsDim]
  float* state;         // [state_dim]
  float* final_obs;     // [A, kObsDim] observation at day end, before the auto-reset
  float* final_state;   // [state_dim] global state at day end, before the auto-reset
  float* reward;        // [A] shared reward
  std::uint8_t* terminated;  // [1] always 0: a day ends by truncation
  std::uint8_t* truncated;   // [1] 1 on the step that ends the day (then auto-reset)
  std::uint8_t* violation;   // [1] a voltage outside limits, or power flow not converged
  double* price_p2p;    // [1] lambda_P2P of the step, CNY/kWh
};

P2P_HD int hour_of_step(int step) { return step / 4; }
P2P_HD int profile_index(int day, int step) { return day * kStepsPerDay + step; }

/// Starts a day: state to the configured initial values, nothing accumulated yet.
P2P_HD void env_reset(const EnvParamsView& p, const EnvStateView& s, int day) {
  *s.step = 0;
  *s.day = day;
  for (int u = 0; u < p.num_units; ++u) {
    const double* up = p.unit_params + u * kNumUnitParams;
    s.unit_p_prev_kw[u] = p.unit_type[u] == int(DeviceType::kCdg) ? up[kUpPInit] : 0.0;
    s.unit_soc_kwh[u] =
        p.unit_type[u] == int(DeviceType::kBess) ? up[kUpSocInit] * up[kUpEnergy] : 0.0;
  }
  for (int a = 0; a < p.num_agents; ++a) {
    s.agent_p2p_prev_kw[a] = 0;
    s.agent_v_prev_pu[a] = p.v_slack;
  }
  for (int m = 0; m < kNumMetrics; ++m) s.episode[m] = 0;
}

/// A day drawn uniformly from the split.
P2P_HD int env_draw_day(const EnvParamsView& p, Rng& rng) {
  const int k = static_cast<int>(rng.uniform_double() * p.num_split_days);
  return p.split_days[k < p.num_split_days ? k : p.num_split_days - 1];
}

/// Observation eq. (23) for the upcoming step and the global state (shared columns, then 7 per
/// agent). Scales: time / 96; prices / max buy price; powers / the agent's p_scale_kw;
/// SOC / total energy; voltage as (V - 1) / 0.05.
P2P_HD void env_observe(const EnvParamsView& p, const EnvStateView& s, float* obs, float* state) {
  const int t = *s.step;
  const int idx = profile_index(*s.day, t);
  const float t_norm = float(t) / kStepsPerDay;
  const float buy = float(p.buy_cny_per_kwh[hour_of_step(t)] / p.price_scale);
  const float sell = float(p.sell_cny_per_kwh[hour_of_step(t)] / p.price_scale);
  state[0] = t_norm;
  state[1] = buy;
  state[2] = sell;
  for (int a = 0; a < p.num_agents; ++a) {
    const double* ap = p.agent_params + a * kNumAgentParams;
    double rdg_avail = 0, rdg_rating = 0, cdg_prev = 0, cdg_max = 0, soc = 0, energy = 0;
    for (int u = p.agent_unit_begin[a]; u < p.agent_unit_begin[a + 1]; ++u) {
      const double* up = p.unit_params + u * kNumUnitParams;
      const int type = p.unit_type[u];
      if (type == int(DeviceType::kPv) || type == int(DeviceType::kWind)) {
        const float cf = type == int(DeviceType::kPv) ? p.pv_cf[idx] : p.wind_cf[idx];
        rdg_avail += up[kUpRating] * cf;
        rdg_rating += up[kUpRating];
      } else if (type == int(DeviceType::kCdg)) {
        cdg_prev += s.unit_p_prev_kw[u];
        cdg_max += up[kUpPMax];
      } else {
        soc += s.unit_soc_kwh[u];
        energy += up[kUpEnergy];
      }
    }
    const double p_load = ap[kApLoadPeak] * p.load_pu[idx];
    const double scale = ap[kApPScale];
    float* o = obs + a * kObsDim;
    o[0] = t_norm;
    o[1] = buy;
    o[2] = sell;
    o[3] = float(rdg_avail / scale);
    o[4] = float(p_load / scale);
    o[5] = float(p_load * ap[kApTanPhi] / scale);
    o[6] = float(cdg_prev / scale);
    o[7] = float(energy > 0 ? soc / energy : 0.0);
    o[8] = float(s.agent_p2p_prev_kw[a] / scale);
    o[9] = float((s.agent_v_prev_pu[a] - 1.0) / 0.05);
    float* g = state + kStateSharedDim + a * kStatePerAgentDim;
    for (int k = 0; k < kStatePerAgentDim; ++k) g[k] = o[3 + k];
  }
}

/// Clips an action component to [-1, 1] (NaN becomes 0: an agent cannot poison the physics).
P2P_HD double clip_action(float a) {
  const double x = static_cast<double>(a);
  return x >= -1.0 ? (x <= 1.0 ? x : 1.0) : (x < -1.0 ? -1.0 : 0.0);
}

/// Whether the DSO clears P2P trades in an hour with time-of-use prices lambda_B, lambda_S (CNY
/// per kWh) and a fee charged to both sides: only where a matched kWh costs the community less
/// than the grid, 2 fee < lambda_B - lambda_S (a buyer's kWh from a seller through the grid
/// costs the spread; through the market, the two fees). Elsewhere every kWh goes to the grid,
/// so the market never makes the community pay more (the night hours of the default tariff,
/// 0.02 CNY of spread against 0.06 of fees). The expert's QP (eqs. 14-21, P2P at the fee) reaches
/// the same volume by itself: none in these hours, min(surplus, deficit) in the others. The
/// spec checks that no side pays more than the grid where the market clears (env_spec.cpp).
P2P_HD bool p2p_market_clears(double lambda_b, double lambda_s, double dso_fee) {
  return 2.0 * dso_fee < lambda_b - lambda_s;
}

/// Applies one step's actions [A, 5]: maps them to set-points (eq. 22), projects them onto the
/// device constraints (eqs. 1-8: CDG bounds and ramp, RDG availability and inverter circle with
/// active-power priority, BESS power and SOC window, CL bound), clears the P2P market pro rata
/// (eq. 21), prices it (eq. 20), computes each prosumer's cost (eqs. 14-19), advances the device
/// state, and writes the bus injections [nb] for the power flow (p.u. on base).
template <class Real>
P2P_HD void env_apply_actions(const EnvParamsView& p, const EnvStateView& s, const float* actions,
                              const EnvOutView& out, Real* p_inj_pu, Real* q_inj_pu) {
  const int t = *s.step;
  const int idx = profile_index(*s.day, t);
  const double dt = kStepHours;
  const double lambda_b = p.buy_cny_per_kwh[hour_of_step(t)];
  const double lambda_s = p.sell_cny_per_kwh[hour_of_step(t)];
  const double load_pu = p.load_pu[idx];
  double surplus = 0, deficit = 0, projection_total = 0;
  for (int a = 0; a < p.num_agents; ++a) {
    const double* ap = p.agent_params + a * kNumAgentParams;
    const float* act = actions + a * kActionDim;
    double* ao = out.agent + a * kNumAgentOut;
    double p_cdg = 0, p_rdg = 0, q_rdg = 0, p_bess = 0, soc = 0, cost = 0, proj2 = 0;
    for (int u = p.agent_unit_begin[a]; u < p.agent_unit_begin[a + 1]; ++u) {
      const double* up = p.unit_params + u * kNumUnitParams;
      const int type = p.unit_type[u];
      if (type == int(DeviceType::kCdg)) {
        // Eqs. (1)-(2): P_min <= P <= P_max and |P - P_prev| <= ramp.
        const double req = up[kUpPMin] + 0.5 * (clip_action(act[kActCdg]) + 1.0) *
                                             (up[kUpPMax] - up[kUpPMin]);
        const double prev = s.unit_p_prev_kw[u];
        const double lo = p2p_max(up[kUpPMin], prev - up[kUpRamp]);
        const double hi = p2p_min(up[kUpPMax], prev + up[kUpRamp]);
        const double pg = p2p_clamp(req, lo, hi);
        proj2 += (req - pg) * (req - pg);
        s.unit_p_prev_kw[u] = pg;
        p_cdg += pg;
        cost += (up[kUpCostA] * pg * pg + up[kUpCostB] * pg + up[kUpCostC]) * dt;  // eq. (15)
      } else if (type == int(DeviceType::kPv) || type == int(DeviceType::kWind)) {
        // Eqs. (3)-(4): 0 <= P <= P_max,t and P^2 + Q^2 <= S^2, active power first.
        const double cf = type == int(DeviceType::kPv) ? p.pv_cf[idx] : p.wind_cf[idx];
        const double s_max = up[kUpSMax];
        const double avail = p2p_min(up[kUpRating] * cf, s_max);
        const double req_p = 0.5 * (clip_action(act[kActRdgP]) + 1.0) * up[kUpRating] * cf;
        const double req_q = clip_action(act[kActRdgQ]) * s_max;
        const double pr = p2p_clamp(req_p, 0.0, avail);
        const double q_lim = sqrt(p2p_max(s_max * s_max - pr * pr, 0.0));
        const double qr = p2p_clamp(req_q, -q_lim, q_lim);
        proj2 += (req_p - pr) * (req_p - pr) + (req_q - qr) * (req_q - qr);
        p_rdg += pr;
        q_rdg += qr;
      } else {
        // Eqs. (5)-(7): |P| <= P_max, SOC_min E <= SOC + dt (eta_c P+ - P- / eta_d) <= SOC_max E.
        const double req = clip_action(act[kActBess]) * up[kUpBessPMax];
        const double e = s.unit_soc_kwh[u];
        const double room = up[kUpSocMax] * up[kUpEnergy] - e;
        const double avail = e - up[kUpSocMin] * up[kUpEnergy];
        const double hi = p2p_min(up[kUpBessPMax], p2p_max(room, 0.0) / (up[kUpEtaCh] * dt));
        const double lo = -p2p_min(up[kUpBessPMax], p2p_max(avail, 0.0) * up[kUpEtaDis] / dt);
        const double pb = p2p_clamp(req, lo, hi);
        proj2 += (req - pb) * (req - pb);
        const double e_next = pb >= 0 ? e + up[kUpEtaCh] * pb * dt : e + pb / up[kUpEtaDis] * dt;
        // Round-off must not leave the window by an ulp.
        s.unit_soc_kwh[u] = p2p_clamp(e_next, up[kUpSocMin] * up[kUpEnergy],
                                      up[kUpSocMax] * up[kUpEnergy]);
        p_bess += pb;
        soc += s.unit_soc_kwh[u];
        cost += up[kUpGamma] * (pb >= 0 ? pb : -pb) * dt;  // eq. (16)
      }
    }
    const double p_load = ap[kApLoadPeak] * load_pu;
    const double q_load = p_load * ap[kApTanPhi];
    // Eq. (8): 0 <= P_CL <= alpha P_load; always feasible, so no projection.
    const double p_cl = 0.5 * (clip_action(act[kActCl]) + 1.0) * ap[kApClAlpha] * p_load;
    cost += ap[kApClRho] * p_cl * dt;  // eq. (17)
    // Eq. (9): P_EX = P_CDG + P_RDG + P_CL - P_load - P_BESS.
    const double p_ex = p_cdg + p_rdg + p_cl - p_load - p_bess;
    ao[kAoPCdg] = p_cdg;
    ao[kAoPRdg] = p_rdg;
    ao[kAoQRdg] = q_rdg;
    ao[kAoPBess] = p_bess;
    ao[kAoPCl] = p_cl;
    ao[kAoPLoad] = p_load;
    ao[kAoQLoad] = q_load;
    ao[kAoPEx] = p_ex;
    ao[kAoQEx] = q_rdg - q_load;
    ao[kAoSoc] = soc;
    ao[kAoCost] = cost;
    ao[kAoProjection] = sqrt(proj2);
    projection_total += ao[kAoProjection];
    if (p_ex > 0) surplus += p_ex; else deficit -= p_ex;
  }
  // Eq. (21): the DSO matches total surplus to total deficit pro rata, in the hours where that
  // costs less than the grid (p2p_market_clears); the rest trades with the grid. Sum of P_P2P
  // is exactly zero up to round-off.
  const double matched =
      p2p_market_clears(lambda_b, lambda_s, p.dso_fee) ? p2p_min(surplus, deficit) : 0.0;
  const double buy_share = deficit > 0 ? matched / deficit : 0.0;
  const double sell_share = surplus > 0 ? matched / surplus : 0.0;
  const double lambda_p2p = p.p2p_lambda * (lambda_b - lambda_s) + lambda_s;  // eq. (20)
  double total_cost = 0, p2p_kwh = 0, import_kwh = 0, export_kwh = 0;
  for (int a = 0; a < p.num_agents; ++a) {
    double* ao = out.agent + a * kNumAgentOut;
    const double p_ex = ao[kAoPEx];
    const double p_p2p = p_ex < 0 ? -p_ex * buy_share : -p_ex * sell_share;
    const double p_grid = -p_ex - p_p2p;  // eq. (9): P_EX = -P_grid - P_P2P
    ao[kAoPP2p] = p_p2p;
    ao[kAoPGrid] = p_grid;
    // Eq. (14) grid exchange at time-of-use prices, eqs. (18)-(19) P2P payment and DSO fee.
    const double abs_p2p = p_p2p >= 0 ? p_p2p : -p_p2p;
    ao[kAoCost] += (p_grid >= 0 ? lambda_b * p_grid : lambda_s * p_grid) * dt +
                   (lambda_p2p * p_p2p + p.dso_fee * abs_p2p) * dt;
    total_cost += ao[kAoCost];
    if (p_p2p > 0) p2p_kwh += p_p2p * dt;
    if (p_grid > 0) import_kwh += p_grid * dt; else export_kwh -= p_grid * dt;
    s.agent_p2p_prev_kw[a] = p_p2p;
  }
  *out.price_p2p = lambda_p2p;
  out.metrics[kMetCost] = total_cost;
  out.metrics[kMetP2p] = p2p_kwh;
  out.metrics[kMetImport] = import_kwh;
  out.metrics[kMetExport] = export_kwh;
  out.metrics[kMetProjection] = projection_total;
  // Bus injections: the feeder's other loads follow the load profile; prosumers inject P_EX.
  for (int b = 0; b < p.num_buses; ++b) {
    p_inj_pu[b] = Real(-p.bus_load_p_kw[b] * load_pu / p.kw_per_pu);
    q_inj_pu[b] = Real(-p.bus_load_q_kvar[b] * load_pu / p.kw_per_pu);
  }
  for (int a = 0; a < p.num_agents; ++a) {
    const double* ao = out.agent + a * kNumAgentOut;
    const int b = p.agent_bus[a];
    p_inj_pu[b] += Real(ao[kAoPEx] / p.kw_per_pu);
    q_inj_pu[b] += Real(ao[kAoQEx] / p.kw_per_pu);
  }
}

/// After the power flow: voltage metrics and penalty (eq. 26), shared reward (eqs. 24-25),
/// episode sums, the next observation; at the day's end the final observation, the episode's
/// metrics and an auto-reset to a day drawn from the split.
template <class Real>
P2P_HD void env_finish_step(const EnvParamsView& p, const EnvStateView& s, const Real* vm_pu,
                            bool pf_converged, const EnvOutView& out) {
  int viol = 0;
  double magnitude = 0;
  if (pf_converged) {
    for (int b = 0; b < p.num_buses; ++b) {
      if (b == p.slack_bus) continue;
      const double v = vm_pu[b];
      const double d = v > p.v_max ? v - p.v_max : (v < p.v_min ? p.v_min - v : 0.0);
      if (d > 0) {
        ++viol;
        magnitude += d;
      }
    }
  }
  // Eq. (26): a_pen x total violation (p.u.) + c_pen if any bus is outside the band.
  double penalty = p.penalty_a * magnitude + (viol > 0 ? p.penalty_c : 0.0);
  if (!pf_converged) penalty = p.nonconvergence_penalty;
  // Eqs. (24)-(25): one reward shared by all agents, -(delta x total cost + penalty).
  const double reward = -(p.cost_weight * out.metrics[kMetCost] + penalty);
  for (int a = 0; a < p.num_agents; ++a) {
    out.reward[a] = float(reward);
    const double v = pf_converged ? double(vm_pu[p.agent_bus[a]]) : s.agent_v_prev_pu[a];
    out.agent[a * kNumAgentOut + kAoVm] = v;
    s.agent_v_prev_pu[a] = v;
  }
  out.metrics[kMetViolBusSteps] = viol;
  // Bus-steps count where voltages are known: a non-converged step has its own counter.
  out.metrics[kMetBusSteps] = pf_converged ? p.num_buses - 1 : 0;
  out.metrics[kMetViolMagnitude] = magnitude;
  out.metrics[kMetNonConverged] = pf_converged ? 0 : 1;
  out.metrics[kMetSteps] = 1;
  out.metrics[kMetReward] = reward;
  for (int m = 0; m < kNumMetrics; ++m) s.episode[m] += out.metrics[m];
  *out.violation = (viol > 0 || !pf_converged) ? 1 : 0;
  *out.terminated = 0;
  *s.step += 1;
  if (*s.step < kStepsPerDay) {
    *out.truncated = 0;
    env_observe(p, s, out.obs, out.state);
    return;
  }
  // Day end: keep what the learner needs to bootstrap, then start a new day in place.
  *out.truncated = 1;
  // The final observation: the state reached after step 95, with time = 1 (exogenous inputs
  // of step 95, as there is no step 96).
  *s.step = kStepsPerDay - 1;
  env_observe(p, s, out.final_obs, out.final_state);
  for (int a = 0; a < p.num_agents; ++a) out.final_obs[a * kObsDim] = 1.0f;
  out.final_state[0] = 1.0f;
  for (int m = 0; m < kNumMetrics; ++m) out.last_episode[m] = s.episode[m];
  env_reset(p, s, env_draw_day(p, *s.rng));
  env_observe(p, s, out.obs, out.state);
}

}  // namespace p2pgrid

namespace p2pgrid {

/// Every batched buffer of an EnvBatch as raw pointers (host or device), batch-first.
struct EnvBatchView {
  int num_envs = 0, num_agents = 0, num_units = 0, state_dim = 0;
  int* step;                // [B]
  int* day;                 // [B]
  Rng* rng;                 // [B]
  double* unit_p_prev_kw;   // [B, U]
  double* unit_soc_kwh;     // [B, U]
  double* agent_p2p_prev_kw;  // [B, A]
  double* agent_v_prev_pu;    // [B, A]
  double* episode;          // [B, kNumMetrics]
  double* agent_out;        // [B, A, kNumAgentOut]
  double* metrics;          // [B, kNumMetrics]
  double* last_episode;     // [B, kNumMetrics]
  float* obs;               // [B, A, kObsDim]
  float* state;             // [B, state_dim]
  float* final_obs;         // [B, A, kObsDim]
  float* final_state;       // [B, state_dim]
  float* reward;            // [B, A]
  std::uint8_t* terminated;  // [B]
  std::uint8_t* truncated;   // [B]
  std::uint8_t* violation;   // [B]
  double* price_p2p;        // [B]
};

P2P_HD EnvStateView env_state_of(const EnvBatchView& b, int e) {
  const long long U = b.num_units, A = b.num_agents;
  return EnvStateView{b.step + e, b.day + e, b.rng + e, b.unit_p_prev_kw + e * U,
                      b.unit_soc_kwh + e * U, b.agent_p2p_prev_kw + e * A,
                      b.agent_v_prev_pu + e * A, b.episode + e * (long long)kNumMetrics};
}

P2P_HD EnvOutView env_out_of(const EnvBatchView& b, int e) {
  const long long A = b.num_agents;
  return EnvOutView{b.agent_out + e * A * kNumAgentOut,
                    b.metrics + e * (long long)kNumMetrics,
                    b.last_episode + e * (long long)kNumMetrics,
                    b.obs + e * A * kObsDim,
                    b.state + e * (long long)b.state_dim,
                    b.final_obs + e * A * kObsDim,
                    b.final_state + e * (long long)b.state_dim,
                    b.reward + e * A,
                    b.terminated + e,
                    b.truncated + e,
                    b.violation + e,
                    b.price_p2p + e};
}

/// Env e starts: its RNG stream (seed, e), its day (given, or drawn from the split when
/// day < 0), the initial device state, and its first observation.
P2P_HD void env_reset_one(const EnvParamsView& p, const EnvBatchView& b, int e,
                          std::uint64_t seed, int day) {
  const EnvStateView s = env_state_of(b, e);
  *s.rng = make_rng(seed, static_cast<std::uint64_t>(e));
  env_reset(p, s, day >= 0 ? day : env_draw_day(p, *s.rng));
  const EnvOutView o = env_out_of(b, e);
  *o.terminated = 0;
  *o.truncated = 0;
  *o.violation = 0;
  env_observe(p, s, o.obs, o.state);
}

}  // namespace p2pgrid
