// The expert's perfect-foresight dispatch as one QP per env (Lou et al. 2025, section II-C):
//   minimize 1/2 x'Px + q'x  subject to  l <= A x <= u,
// over every prosumer's devices, grid and P2P trades for the steps t0..95 of a day. The matrices
// depend only on the spec (network, devices, tariff): shared by all envs. Only l and u depend on
// each env's day (profiles), state (SOC, CDG output) and the DSO's voltage linearization.
//
// Layout: one block of n_b variables per step, blocks in REVERSE time (block k = step 95 - k), so
// the problem from t0 is the leading (96 - t0) blocks and its KKT factor is the leading part of
// the full one (see block_cholesky.hpp). Rows are grouped by block too.
#pragma once

#include <string>
#include <vector>

#include "p2pgrid/env/env_spec.hpp"

namespace p2pgrid {

constexpr double kInfinity = 1e30;  // bounds at or beyond this are infinite (OSQP convention)

/// Kinds of variables in a block (per prosumer, per unit where it applies). Units: kW, kvar, kWh.
enum class QpVar : int {
  kPCdg,
  kPRdg,
  kQRdg,
  kPCharge,
  kPDischarge,
  kSoc,
  kPCl,
  kPBuy,
  kPSell,
  kPP2pBuy,
  kPP2pSell,
  kPEx,
  kQEx
};

/// Kinds of rows; equality rows get a stiffer ADMM penalty.
enum class QpRow : int {
  kBound,        // l <= x_j <= u
  kBalanceP,     // eq. (9): P_CDG + P_RDG + P_CL - P_ch + P_dis - P_EX = P_load
  kExchange,     // P_EX + P_buy - P_sell + P_P2P,buy - P_P2P,sell = 0
  kBalanceQ,     // Q_RDG - Q_EX = Q_load
  kP2pBalance,   // eq. (21): sum_i (P_P2P,buy - P_P2P,sell) = 0
  kSocDynamics,  // eq. (7): SOC_t - SOC_{t-1} - dt eta_c P_ch + dt / eta_d P_dis = 0
  kRamp,         // eq. (2): -R <= P_t - P_{t-1} <= R
  kInverter,     // eq. (4) as an inscribed polygon: cos(th) P + sin(th) Q <= S cos(pi / K)
  kVoltage,      // LinDistFlow: V_min <= c_j,t + sum_i (R_ji P_EX,i + X_ji Q_EX,i) <= V_max
                 // for every bus j of the row (buses with equal sensitivities share one row)
  kTie,          // units of one kind of one prosumer share the env's action (eq. 22): equal
                 // fractions of their ranges (CDG, RDG reactive, BESS)
};

struct QpVarInfo {
  QpVar kind;
  int agent;
  int unit;  // index into spec.units, -1 for per-agent variables
};

/// One row: entries in its own block (cols local to the block) and, for rows that link a step to
/// the previous one, entries in the next block (the step before in time).
struct QpRowInfo {
  QpRow kind;
  int agent = -1, unit = -1;  // what the row is about
  std::vector<int> buses;     // voltage rows: the buses it bounds (equal sensitivities)
  std::vector<int> cols;      // local column indices in the row's block
  std::vector<double> vals;
  std::vector<int> prev_cols;  // local column indices in the previous step's block
  std::vector<double> prev_vals;
  double tie_constant = 0;  // right-hand side of a kTie row
  bool equality() const {
    return kind != QpRow::kBound && kind != QpRow::kRamp && kind != QpRow::kInverter &&
           kind != QpRow::kVoltage;
  }
};

/// The voltage rows as the radial feeder itself (LinDistFlow): the product of a block's
/// voltage rows with its injections costs O(nodes) instead of O(rows x prosumers):
///   F_e = sum of the P_EX (Q_EX) of the prosumers below line e          (upward pass)
///   V_j = sum over the lines e on the path slack -> j of r_e F_P,e + x_e F_Q,e   (downward)
/// which is sum_i R_ji P_EX,i + X_ji Q_EX,i, R_ji being the resistance the paths to j and i
/// share. Nodes: the buses on the paths from the slack to the prosumers, parents first.
struct QpVoltageTree {
  std::vector<int> parent;   // [T] parent node, -1 for the slack
  std::vector<double> r, x;  // [T] line from the parent, p.u. per kW (per kvar)
  std::vector<int> row;      // [T] the node's voltage row (-1: an earlier node has that row)
  std::vector<int> agent_node, p_ex_col, q_ex_col;  // [A] node and columns of each prosumer
                                                    // (node -1: at the slack, no effect)
  int nodes() const { return static_cast<int>(parent.size()); }
};

/// The structure shared by all envs and all steps.
struct ExpertQp {
  int steps = kStepsPerDay;  // blocks in the full problem
  int block_vars = 0;        // n_b
  int block_rows = 0;        // m_b
  int inverter_facets = 16;
  std::vector<QpVarInfo> vars;  // [n_b]
  std::vector<QpRowInfo> rows;  // [m_b]
  std::vector<double> p_diag;   // [n_b] diagonal of P (CNY/kW^2 per step): CDG quadratic cost
  /// Linear cost per step [steps, n_b] (block order: row k is step 95 - k), CNY per kW.
  std::vector<double> q;
  /// Constant cost per step (CDG c terms), CNY, summed over the day.
  double constant_per_step_cny = 0;
  // Column indices of the variables the env's state feeds (CDG output, SOC), per unit: -1 if none.
  std::vector<int> unit_p_col, unit_soc_col;  // [num_units]
  // Voltage sensitivity of bus j to agent i's P_EX and Q_EX, p.u. per kW: R_ji / kw_per_pu.
  std::vector<double> dv_dp, dv_dq;  // [num_buses, num_agents]
  std::vector<int> voltage_buses;    // buses whose voltage is bounded (all but the slack)
  QpVoltageTree voltage_tree;        // the kVoltage rows as a tree (the solver's products)
  // Voltage drop at each bus caused by the feeder's other loads at load_pu = 1, p.u. [num_buses].
  std::vector<double> load_voltage_drop_pu;

  int block_of_step(int t) const { return steps - 1 - t; }
  int step_of_block(int k) const { return steps - 1 - k; }
  /// Names like "p_cdg[a3,u5,t17]" for the export.
  std::string var_name(int local, int step) const;
};

/// Builds the structure for a spec. inverter_facets K >= 4 (error of the inscribed polygon: the
/// reachable apparent power is at least cos(pi / K) of S, 98.1 % for K = 16).
ExpertQp build_expert_qp(const EnvSpec& spec, int inverter_facets);

/// One env's data for a solve from step t0: the profile values of its day and its state.
struct ExpertEnvData {
  int day = 0;
  int t0 = 0;
  std::vector<double> unit_p_prev_kw;  // [num_units] CDG output at t0 - 1 (p_init at t0 = 0)
  std::vector<double> unit_soc_kwh;    // [num_units] SOC at the start of t0
  /// Voltage offset c_j,t of LinDistFlow: the voltage of bus j at step t with every prosumer's
  /// injection at zero, [steps, num_buses] in step order, as corrected by the DSO's
  /// re-linearization; empty: the day's linear offsets (linear_voltage_offsets).
  std::vector<double> v_offset_pu;
};

/// LinDistFlow offsets: c_j,t = V_slack - sum_k (R_jk P_k,t + X_jk Q_k,t) over the feeder's other
/// loads at step t of `day`.
std::vector<double> linear_voltage_offsets(const EnvSpec& spec, const ExpertQp& qp, int day);

/// Throws p2pgrid::Error naming what is missing, out of range or not finite in an env's data
/// (and the env, if env >= 0).
void check_expert_env_data(const EnvSpec& spec, const ExpertQp& qp, const ExpertEnvData& data,
                           int env = -1);

/// Bounds l, u of the problem from data.t0 (leading H = 96 - t0 blocks), [H * m_b] each
/// (expert_bounds.hpp); the data is checked first.
void expert_bounds(const EnvSpec& spec, const ExpertQp& qp, const ExpertEnvData& data,
                   std::vector<double>& l, std::vector<double>& u);
struct ExpertBoundsView;
/// The same from the spec's tables (ExpertBoundsTables), for data already checked.
void expert_bounds(const ExpertBoundsView& tables, const ExpertQp& qp, const ExpertEnvData& data,
                   std::vector<double>& l, std::vector<double>& u);

}  // namespace p2pgrid
