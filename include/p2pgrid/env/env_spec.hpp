// The static description of the P2P trading env (Lou et al. 2025, section II): prosumers, their
// devices, tariff, market and reward parameters, and the feeder. Built once from the "env" config
// section and the network; flattened into plain arrays that the per-env physics (physics.hpp)
// reads on the CPU and, copied once, on the GPU. One source of truth for the env and the expert.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "p2pgrid/env/profiles.hpp"
#include "p2pgrid/network/network.hpp"

namespace p2pgrid {

class Config;

/// Device kinds of eq. (22)'s action vector, in action order.
enum class DeviceType : int { kCdg = 0, kPv = 1, kWind = 2, kBess = 3 };

/// Action columns per agent, eq. (22): [P_CDG, P_RDG, Q_RDG, P_BESS, P_CL], each in [-1, 1].
constexpr int kActionDim = 5;
enum ActionColumn : int { kActCdg = 0, kActRdgP = 1, kActRdgQ = 2, kActBess = 3, kActCl = 4 };
/// Observation columns per agent, eq. (23) (scales in docs/env.md).
constexpr int kObsDim = 10;
/// Per-agent columns of the global state after its 3 shared columns (t, lambda_B, lambda_S).
constexpr int kStateSharedDim = 3;
constexpr int kStatePerAgentDim = 7;
constexpr int kStepsPerDay = 96;
constexpr double kStepHours = 0.25;

/// One physical device unit of one prosumer. Units: kW, kvar, kVA, kWh, CNY.
struct DeviceUnit {
  DeviceType type = DeviceType::kCdg;
  int agent = 0;
  // CDG, eqs. (1)-(2) and (15): bounds, ramp per 15-min step, fuel cost a P^2 + b P + c per hour.
  double p_min_kw = 0, p_max_kw = 0, ramp_kw_per_step = 0, p_init_kw = 0;
  double cost_a_cny_per_kw2h = 0, cost_b_cny_per_kwh = 0, cost_c_cny_per_h = 0;
  // RDG (PV, wind), eqs. (3)-(4): rating (P_max,t = rating x capacity factor) and inverter S.
  double rating_kw = 0, s_max_kva = 0;
  // BESS, eqs. (5)-(7) and (16): power, energy, SOC window (fractions), efficiencies, wear cost.
  double p_bess_max_kw = 0, energy_kwh = 0, soc_min = 0, soc_max = 0, soc_init = 0;
  double eta_charge = 1, eta_discharge = 1, gamma_cny_per_kwh = 0;
};

/// One prosumer (agent) at a bus with its load and controllable load (CL, eqs. (8) and (17)).
struct Prosumer {
  std::string name;
  std::string portfolio;
  int bus = 0;                  // bus index into the network arrays (not the case number)
  double load_peak_kw = 0;      // P_load,t = load_peak_kw x load profile
  double tan_phi = 0;           // Q_load = P_load tan(phi), from the load power factor
  double cl_alpha = 0;          // 0 <= P_CL <= alpha P_load
  double cl_rho_cny_per_kwh = 0;
  double p_scale_kw = 1;        // normalization of this agent's powers in observations
};

/// Everything static about the env. Flat arrays are what physics.hpp reads. Every value is set
/// by build_env_spec from the config (configs/default.json holds the defaults, nothing here).
struct EnvSpec {
  Network network;
  std::vector<Prosumer> prosumers;
  std::vector<DeviceUnit> units;  // grouped by agent (units of agent a at agent_unit_begin[a]..)
  std::vector<int> agent_unit_begin;  // [num_agents + 1]
  std::array<double, 24> buy_cny_per_kwh{};   // lambda_B by hour of day
  std::array<double, 24> sell_cny_per_kwh{};  // lambda_S by hour of day
  double p2p_lambda = 0;                      // eq. (20)
  double dso_fee_cny_per_kwh = 0;             // lambda_DSO
  double v_min_pu = 0, v_max_pu = 0;          // limits of the penalty, eq. (26)
  double feeder_load_scale = 0;               // non-prosumer loads = case load x profile x this
  double cost_weight = 0;                     // delta of eq. (24)
  double penalty_a = 0, penalty_c = 0;        // a_pen, c_pen of eq. (26)
  double nonconvergence_penalty = 0;
  double price_scale_cny_per_kwh = 1;         // observation scale: max buy price
  YearProfiles profiles;
  Split split = Split::kTrain;

  int num_agents() const { return static_cast<int>(prosumers.size()); }
  int num_units() const { return static_cast<int>(units.size()); }
  int state_dim() const { return kStateSharedDim + kStatePerAgentDim * num_agents(); }
  /// 1 where agent a has a device behind action column c (CL: alpha > 0). [A, kActionDim].
  std::vector<float> action_mask() const;
};

/// Builds the spec from a config's "env" section, its "network.file" and profiles. Errors name
/// the key (e.g. env.portfolios[2].devices[0].p_max_kw) and what was expected.
EnvSpec build_env_spec(const Config& config);

/// Reads / writes a year of profiles as the project's JSON ("p2pgrid-profiles/1"), the format of
/// `p2pgrid data import-elia -o FILE` and of the env.profiles.file config key.
std::string year_profiles_to_json_text(const YearProfiles& p);
YearProfiles year_profiles_from_json_text(const std::string& text, const std::string& where);

}  // namespace p2pgrid
