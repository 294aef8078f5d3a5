// Shared helpers of the env tests (tests/env/env_*_test.cpp): the default spec built once, the
// CPU float64 power flow of the defaults, random action batches, a small hand-checkable config,
// and a checker that counts failed invariants instead of flooding the log.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/errors.hpp"
#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/env/env_batch.hpp"
#include "p2pgrid/env/env_spec.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid::test {

/// The spec of configs/default.json, built once per process (profiles generation included).
inline const EnvSpec& default_env_spec() {
  static const EnvSpec spec = build_env_spec(Config::defaults());
  return spec;
}

/// The power flow the defaults resolve to on the CPU (sweep, float64).
inline PowerFlowChoice default_cpu_powerflow() {
  PowerFlowChoice c = resolve_powerflow_config(Config::defaults());
  c.backend = Backend::kCpu;
  c.precision = Precision::kFloat64;
  return c;
}

/// Uniform actions in [-1, 1], [B, A, kActionDim]. With `hostile`, about 5% of the entries are
/// outside [-1, 1] (up to +-4, or +-inf) and about 2% are NaN.
inline std::vector<float> random_actions(std::mt19937_64& rng, int num_envs, int num_agents,
                                         bool hostile = false) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_real_distribution<float> pick(0.0f, 1.0f);
  std::vector<float> a(std::size_t(num_envs) * num_agents * kActionDim);
  for (float& x : a) {
    x = u(rng);
    if (!hostile) continue;
    const float r = pick(rng);
    if (r < 0.02f) {
      x = std::nanf("");
    } else if (r < 0.06f) {
      x = 4.0f * x + (x < 0 ? -1.0f : 1.0f);
    } else if (r < 0.07f) {
      x = x < 0 ? -INFINITY : INFINITY;
    }
  }
  return a;
}

/// Index of the agent's units of a type in the spec, in unit order.
inline std::vector<int> units_of(const EnvSpec& spec, int agent, DeviceType type) {
  std::vector<int> out;
  for (int u = spec.agent_unit_begin[agent]; u < spec.agent_unit_begin[agent + 1]; ++u)
    if (spec.units[u].type == type) out.push_back(u);
  return out;
}

/// A config with three prosumers whose every number is chosen so that one step can be worked
/// out by hand (tests/env/env_physics_test.cpp), no feeder load, and a tariff whose hour 0 and
/// hour 1 differ from every other hour:
///   gen   @ bus 48: load 50 kW peak (pf 0.9), CL alpha 0.2 at 0.9 CNY/kWh,
///                   CDG 10..100 kW, ramp 30, p_init 20, cost 0.001 P^2 + 0.5 P + 2 per hour,
///                   wind 40 kW rated, S 44 kVA
///   solar @ bus 78: load 100 kW peak (pf 0.95), no CL,
///                   PV 100 kW, S 110 kVA; BESS 100 kWh, 40 kW, SOC 0.1..0.9 from 0.5,
///                   eta_c 0.9, eta_d 0.8, gamma 0.05 CNY/kWh
///   house @ bus 102: load 60 kW peak (pf 1), CL alpha 0.5 at 0.5 CNY/kWh, no devices
///   tariff: buy 1.0 / sell 0.2 at hour 0, 0.7 / 0.1 at hour 1, 0.8 / 0.25 otherwise
///   p2p_lambda 0.5, DSO fee 0.03 CNY/kWh, cost weight 0.01, penalty a 50, c 1.
inline Config tiny_config() {
  Config c = Config::defaults();
  c.set("env.feeder_load_scale=0");
  c.set("env.p2p_lambda=0.5");
  c.set("env.dso_fee_cny_per_kwh=0.03");
  c.set("env.reward.cost_weight=0.01");
  c.set("env.reward.penalty_a=50.0");
  c.set("env.reward.penalty_c=1.0");
  std::string buy = "[1.0, 0.7", sell = "[0.2, 0.1";
  for (int h = 2; h < 24; ++h) {
    buy += ", 0.8";
    sell += ", 0.25";
  }
  c.set("env.tariff.buy_cny_per_kwh=" + buy + "]");
  c.set("env.tariff.sell_cny_per_kwh=" + sell + "]");
  c.set(R"(env.portfolios=[
    {"name": "gen", "load_peak_kw": 50, "power_factor": 0.9, "cl_alpha": 0.2,
     "cl_rho_cny_per_kwh": 0.9,
     "devices": [{"type": "cdg", "p_min_kw": 10, "p_max_kw": 100, "ramp_kw_per_step": 30,
                  "p_init_kw": 20, "cost_a_cny_per_kw2h": 0.001, "cost_b_cny_per_kwh": 0.5,
                  "cost_c_cny_per_h": 2},
                 {"type": "wind", "rating_kw": 40, "s_max_kva": 44}]},
    {"name": "solar", "load_peak_kw": 100, "power_factor": 0.95,
     "devices": [{"type": "pv", "rating_kw": 100, "s_max_kva": 110},
                 {"type": "bess", "energy_kwh": 100, "p_max_kw": 40, "soc_min": 0.1,
                  "soc_max": 0.9, "soc_init": 0.5, "eta_charge": 0.9, "eta_discharge": 0.8,
                  "gamma_cny_per_kwh": 0.05}]},
    {"name": "house", "load_peak_kw": 60, "power_factor": 1.0, "cl_alpha": 0.5,
     "cl_rho_cny_per_kwh": 0.5, "devices": []}])");
  c.set(R"(env.prosumers=[{"bus": 48, "portfolio": "gen"}, {"bus": 78, "portfolio": "solar"},
                          {"bus": 102, "portfolio": "house"}])");
  return c;
}

/// Counts failed invariants and keeps the first few messages, so that a broken invariant over
/// millions of checks reports a readable sample.
class InvariantLog {
 public:
  /// Records a failure when !ok; `what` is only built then.
  template <class F>
  void check(bool ok, F&& what) {
    if (ok) return;
    if (failures_++ < kKeep) messages_ += "  " + what() + "\n";
  }
  long long failures() const { return failures_; }
  std::string report() const {
    std::ostringstream s;
    s << failures_ << " failed checks; first ones:\n" << messages_;
    return s.str();
  }

 private:
  static constexpr long long kKeep = 12;
  long long failures_ = 0;
  std::string messages_;
};

/// "env 3 step 17 agent 5: " prefix for invariant messages.
inline std::string where(int env, int step, int agent = -1) {
  std::ostringstream s;
  s << "env " << env << " step " << step;
  if (agent >= 0) s << " agent " << agent;
  s << ": ";
  return s.str();
}

}  // namespace p2pgrid::test
