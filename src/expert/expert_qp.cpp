// Builds the expert's QP structure (rows, costs, voltage sensitivities) and each env's bounds.
// Equation numbers: Lou et al. 2025, section II.
#include "p2pgrid/expert/expert_qp.hpp"

#include <cmath>
#include <string>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/expert/expert_bounds.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid {
namespace {

const char* var_prefix(QpVar v) {
  switch (v) {
    case QpVar::kPCdg:
      return "p_cdg";
    case QpVar::kPRdg:
      return "p_rdg";
    case QpVar::kQRdg:
      return "q_rdg";
    case QpVar::kPCharge:
      return "p_charge";
    case QpVar::kPDischarge:
      return "p_discharge";
    case QpVar::kSoc:
      return "soc";
    case QpVar::kPCl:
      return "p_cl";
    case QpVar::kPBuy:
      return "p_buy";
    case QpVar::kPSell:
      return "p_sell";
    case QpVar::kPP2pBuy:
      return "p_p2p_buy";
    case QpVar::kPP2pSell:
      return "p_p2p_sell";
    case QpVar::kPEx:
      return "p_ex";
    case QpVar::kQEx:
      return "q_ex";
  }
  return "?";
}

/// Minimum-degree elimination order of the variables of one block, for the KKT matrix
/// P + sigma I + A' rho A (the pattern of A' A: variables sharing a row are adjacent; rows that
/// link consecutive steps join the blocks). The elimination game runs over a few consecutive
/// blocks, one block at a time as the block Cholesky eliminates them, and the order found for an
/// inner block (which carries the fill its predecessor passes on) is used for every block. Ties
/// go to the lower index, so the order is deterministic.
std::vector<int> minimum_degree_block_order(const ExpertQp& qp) {
  const int n = qp.block_vars, T = 4, N = T * n;
  std::vector<std::vector<char>> adj(N, std::vector<char>(N, 0));
  for (int k = 0; k < T; ++k)
    for (const QpRowInfo& r : qp.rows) {
      std::vector<int> vs;
      for (int c : r.cols) vs.push_back(k * n + c);
      if (k + 1 < T)
        for (int c : r.prev_cols) vs.push_back((k + 1) * n + c);
      for (int a : vs)
        for (int b : vs)
          if (a != b) adj[a][b] = 1;
    }
  std::vector<char> eliminated(N, 0);
  std::vector<int> degree(N, 0);  // neighbours not yet eliminated
  for (int v = 0; v < N; ++v)
    for (int u = 0; u < N; ++u) degree[v] += adj[v][u];
  std::vector<int> order_of_inner_block;
  for (int k = 0; k < T - 1; ++k) {
    std::vector<int> block_order;
    for (int step = 0; step < n; ++step) {
      int best = -1;
      for (int v = k * n; v < (k + 1) * n; ++v)
        if (!eliminated[v] && (best < 0 || degree[v] < degree[best])) best = v;
      std::vector<int> nb;
      for (int u = 0; u < N; ++u)
        if (adj[best][u] && !eliminated[u]) nb.push_back(u);
      eliminated[best] = 1;
      for (int a : nb) {
        --degree[a];
        for (int b : nb)
          if (a != b && !adj[a][b]) adj[a][b] = 1, ++degree[a];  // fill: the neighbours' clique
      }
      block_order.push_back(best - k * n);
    }
    order_of_inner_block = block_order;
  }
  return order_of_inner_block;
}

/// Relabels the block's variables in the minimum-degree order: the factor of the block
/// tridiagonal KKT matrix then holds about 40 % fewer nonzeros than in the construction order
/// (each prosumer's variables, then the coupling ones), and every solve touches only those.
void order_for_sparse_factor(ExpertQp& qp) {
  const int n = qp.block_vars;
  const std::vector<int> order = minimum_degree_block_order(qp);  // new position -> old column
  std::vector<int> new_of(n);
  for (int i = 0; i < n; ++i) new_of[order[i]] = i;
  std::vector<QpVarInfo> vars;
  std::vector<double> p_diag(n), q(qp.q.size());
  for (int i = 0; i < n; ++i) {
    vars.push_back(qp.vars[order[i]]);
    p_diag[i] = qp.p_diag[order[i]];
    for (int k = 0; k < qp.steps; ++k)
      q[std::size_t(k) * n + i] = qp.q[std::size_t(k) * n + order[i]];
  }
  qp.vars = std::move(vars);
  qp.p_diag = std::move(p_diag);
  qp.q = std::move(q);
  for (QpRowInfo& r : qp.rows) {
    for (int& c : r.cols) c = new_of[c];
    for (int& c : r.prev_cols) c = new_of[c];
  }
  for (int& c : qp.unit_p_col)
    if (c >= 0) c = new_of[c];
  for (int& c : qp.unit_soc_col)
    if (c >= 0) c = new_of[c];
}

}  // namespace

std::string ExpertQp::var_name(int local, int step) const {
  const QpVarInfo& v = vars[local];
  std::string s = std::string(var_prefix(v.kind)) + "[a" + std::to_string(v.agent);
  if (v.unit >= 0) s += ",u" + std::to_string(v.unit);
  return s + ",t" + std::to_string(step) + "]";
}

ExpertQp build_expert_qp(const EnvSpec& spec, int inverter_facets) {
  if (inverter_facets < 4)
    throw Error("expert.inverter_facets must be >= 4, got " + std::to_string(inverter_facets));
  ExpertQp qp;
  qp.inverter_facets = inverter_facets;
  const int A = spec.num_agents();
  const double dt = kStepHours;
  auto add_var = [&](QpVar kind, int agent, int unit) {
    qp.vars.push_back({kind, agent, unit});
    return static_cast<int>(qp.vars.size()) - 1;
  };
  qp.unit_p_col.assign(spec.num_units(), -1);
  qp.unit_soc_col.assign(spec.num_units(), -1);
  // Per agent: variable indices, needed to write the rows.
  struct AgentCols {
    std::vector<int> cdg, rdg_p, rdg_q, charge, discharge, soc;
    std::vector<int> cdg_unit, rdg_unit, bess_unit;
    int cl, buy, sell, p2p_buy, p2p_sell, p_ex, q_ex;
  };
  std::vector<AgentCols> ac(A);
  // Construction order: each prosumer's purely local variables (grouped by prosumer), then the
  // variables that couple prosumers or steps (SOC, CDG output, P2P, P_EX, Q_EX). The final
  // order is a minimum-degree one (order_for_sparse_factor); this one only breaks its ties.
  for (int a = 0; a < A; ++a) {
    for (int u = spec.agent_unit_begin[a]; u < spec.agent_unit_begin[a + 1]; ++u) {
      const DeviceUnit& d = spec.units[u];
      if (d.type == DeviceType::kBess) {
        ac[a].charge.push_back(add_var(QpVar::kPCharge, a, u));
        ac[a].discharge.push_back(add_var(QpVar::kPDischarge, a, u));
        ac[a].bess_unit.push_back(u);
      } else if (d.type != DeviceType::kCdg) {
        ac[a].rdg_p.push_back(add_var(QpVar::kPRdg, a, u));
        ac[a].rdg_q.push_back(add_var(QpVar::kQRdg, a, u));
        ac[a].rdg_unit.push_back(u);
      }
    }
    ac[a].cl = add_var(QpVar::kPCl, a, -1);
    ac[a].buy = add_var(QpVar::kPBuy, a, -1);
    ac[a].sell = add_var(QpVar::kPSell, a, -1);
  }
  for (int a = 0; a < A; ++a) {
    for (int u = spec.agent_unit_begin[a]; u < spec.agent_unit_begin[a + 1]; ++u) {
      const DeviceUnit& d = spec.units[u];
      if (d.type == DeviceType::kCdg) {
        ac[a].cdg.push_back(qp.unit_p_col[u] = add_var(QpVar::kPCdg, a, u));
        ac[a].cdg_unit.push_back(u);
      } else if (d.type == DeviceType::kBess) {
        ac[a].soc.push_back(qp.unit_soc_col[u] = add_var(QpVar::kSoc, a, u));
      }
    }
  }
  for (int a = 0; a < A; ++a) {
    ac[a].p2p_buy = add_var(QpVar::kPP2pBuy, a, -1);
    ac[a].p2p_sell = add_var(QpVar::kPP2pSell, a, -1);
    ac[a].p_ex = add_var(QpVar::kPEx, a, -1);
    ac[a].q_ex = add_var(QpVar::kQEx, a, -1);
  }
  const int nb = static_cast<int>(qp.vars.size());
  qp.block_vars = nb;

  // Costs, eqs. (14)-(19), per step. The P2P price term lambda_P2P (buy - sell) sums to zero
  // over prosumers (eq. 21), so it drops out of the social cost; the DSO fee remains.
  qp.p_diag.assign(nb, 0.0);
  qp.q.assign(std::size_t(qp.steps) * nb, 0.0);
  for (int a = 0; a < A; ++a) {
    const Prosumer& pr = spec.prosumers[a];
    for (std::size_t k = 0; k < ac[a].cdg.size(); ++k) {
      const DeviceUnit& d = spec.units[ac[a].cdg_unit[k]];
      qp.p_diag[ac[a].cdg[k]] = 2.0 * d.cost_a_cny_per_kw2h * dt;  // 1/2 x'Px = a P^2 dt
      qp.constant_per_step_cny += d.cost_c_cny_per_h * dt;
    }
    for (int t = 0; t < qp.steps; ++t) {
      double* qt = qp.q.data() + std::size_t(qp.block_of_step(t)) * nb;
      const double buy = spec.buy_cny_per_kwh[t / 4], sell = spec.sell_cny_per_kwh[t / 4];
      for (std::size_t k = 0; k < ac[a].cdg.size(); ++k)
        qt[ac[a].cdg[k]] = spec.units[ac[a].cdg_unit[k]].cost_b_cny_per_kwh * dt;
      for (std::size_t k = 0; k < ac[a].charge.size(); ++k) {
        const double g = spec.units[ac[a].bess_unit[k]].gamma_cny_per_kwh * dt;
        qt[ac[a].charge[k]] = g;
        qt[ac[a].discharge[k]] = g;
      }
      qt[ac[a].cl] = pr.cl_rho_cny_per_kwh * dt;
      qt[ac[a].buy] = buy * dt;
      qt[ac[a].sell] = -sell * dt;
      qt[ac[a].p2p_buy] = spec.dso_fee_cny_per_kwh * dt;
      qt[ac[a].p2p_sell] = spec.dso_fee_cny_per_kwh * dt;
    }
  }

  auto row = [&](QpRow kind, int agent, int unit) -> QpRowInfo& {
    qp.rows.push_back(QpRowInfo{kind, agent, unit, {}, {}, {}, {}, {}, 0.0});
    return qp.rows.back();
  };
  // Bounds of every bounded variable (P_EX and Q_EX are free).
  for (int j = 0; j < nb; ++j) {
    const QpVarInfo& v = qp.vars[j];
    if (v.kind == QpVar::kPEx || v.kind == QpVar::kQEx) continue;
    QpRowInfo& r = row(QpRow::kBound, v.agent, v.unit);
    r.cols = {j};
    r.vals = {1.0};
  }
  for (int a = 0; a < A; ++a) {
    const AgentCols& c = ac[a];
    {  // eq. (9), the device side of P_EX
      QpRowInfo& r = row(QpRow::kBalanceP, a, -1);
      for (int j : c.cdg) r.cols.push_back(j), r.vals.push_back(1.0);
      for (int j : c.rdg_p) r.cols.push_back(j), r.vals.push_back(1.0);
      r.cols.push_back(c.cl), r.vals.push_back(1.0);
      for (int j : c.charge) r.cols.push_back(j), r.vals.push_back(-1.0);
      for (int j : c.discharge) r.cols.push_back(j), r.vals.push_back(1.0);
      r.cols.push_back(c.p_ex), r.vals.push_back(-1.0);
    }
    {  // eq. (9), the market side: P_EX = -P_grid - P_P2P
      QpRowInfo& r = row(QpRow::kExchange, a, -1);
      r.cols = {c.p_ex, c.buy, c.sell, c.p2p_buy, c.p2p_sell};
      r.vals = {1.0, 1.0, -1.0, 1.0, -1.0};
    }
    {  // reactive balance
      QpRowInfo& r = row(QpRow::kBalanceQ, a, -1);
      for (int j : c.rdg_q) r.cols.push_back(j), r.vals.push_back(1.0);
      r.cols.push_back(c.q_ex), r.vals.push_back(-1.0);
    }
    for (std::size_t k = 0; k < c.soc.size(); ++k) {  // eq. (7)
      const DeviceUnit& d = spec.units[c.bess_unit[k]];
      QpRowInfo& r = row(QpRow::kSocDynamics, a, c.bess_unit[k]);
      r.cols = {c.soc[k], c.charge[k], c.discharge[k]};
      r.vals = {1.0, -dt * d.eta_charge, dt / d.eta_discharge};
      r.prev_cols = {c.soc[k]};
      r.prev_vals = {-1.0};
    }
    for (std::size_t k = 0; k < c.cdg.size(); ++k) {  // eq. (2)
      QpRowInfo& r = row(QpRow::kRamp, a, c.cdg_unit[k]);
      r.cols = {c.cdg[k]};
      r.vals = {1.0};
      r.prev_cols = {c.cdg[k]};
      r.prev_vals = {-1.0};
    }
    // Eq. (4): facets of the inscribed K-gon whose normals point into P >= 0.
    for (std::size_t k = 0; k < c.rdg_p.size(); ++k) {
      for (int f = 0; f < inverter_facets; ++f) {
        const double th = 2.0 * M_PI * f / inverter_facets;
        if (std::cos(th) < -1e-12) continue;
        // Exact zeros (facets at 0 and +-90 degrees) are left out of the row.
        const double cp = std::abs(std::cos(th)) < 1e-12 ? 0.0 : std::cos(th);
        const double sq = std::abs(std::sin(th)) < 1e-12 ? 0.0 : std::sin(th);
        QpRowInfo& r = row(QpRow::kInverter, a, c.rdg_unit[k]);
        if (cp != 0.0) r.cols.push_back(c.rdg_p[k]), r.vals.push_back(cp);
        if (sq != 0.0) r.cols.push_back(c.rdg_q[k]), r.vals.push_back(sq);
      }
    }
  }
  // Ties: one action column drives every unit of a kind (eq. 22), so the plan must be
  // representable: unit u at the same fraction of its range as the agent's first unit. (RDG
  // active power is a fraction of the step's availability, a data-dependent coefficient; only
  // the agent's total matters there and the env reproduces it.)
  for (int a = 0; a < A; ++a) {
    const AgentCols& c = ac[a];
    for (std::size_t k = 1; k < c.cdg.size(); ++k) {
      const DeviceUnit& d0 = spec.units[c.cdg_unit[0]];
      const DeviceUnit& dk = spec.units[c.cdg_unit[k]];
      const double r0 = std::max(d0.p_max_kw - d0.p_min_kw, 1e-9);
      const double rk = std::max(dk.p_max_kw - dk.p_min_kw, 1e-9);
      QpRowInfo& r = row(QpRow::kTie, a, c.cdg_unit[k]);
      r.cols = {c.cdg[k], c.cdg[0]};
      r.vals = {1.0 / rk, -1.0 / r0};
      r.tie_constant = dk.p_min_kw / rk - d0.p_min_kw / r0;
    }
    for (std::size_t k = 1; k < c.rdg_q.size(); ++k) {
      QpRowInfo& r = row(QpRow::kTie, a, c.rdg_unit[k]);
      r.cols = {c.rdg_q[k], c.rdg_q[0]};
      r.vals = {1.0 / spec.units[c.rdg_unit[k]].s_max_kva,
                -1.0 / spec.units[c.rdg_unit[0]].s_max_kva};
    }
    for (std::size_t k = 1; k < c.charge.size(); ++k) {
      const double p0 = spec.units[c.bess_unit[0]].p_bess_max_kw;
      const double pk = spec.units[c.bess_unit[k]].p_bess_max_kw;
      QpRowInfo& r = row(QpRow::kTie, a, c.bess_unit[k]);
      r.cols = {c.charge[k], c.discharge[k], c.charge[0], c.discharge[0]};
      r.vals = {1.0 / pk, -1.0 / pk, -1.0 / p0, 1.0 / p0};
    }
  }
  {  // eq. (21)
    QpRowInfo& r = row(QpRow::kP2pBalance, -1, -1);
    for (int a = 0; a < A; ++a) {
      r.cols.push_back(ac[a].p2p_buy), r.vals.push_back(1.0);
      r.cols.push_back(ac[a].p2p_sell), r.vals.push_back(-1.0);
    }
  }
  // LinDistFlow voltage sensitivities from the path-impedance matrix of the radial feeder.
  const Network& net = spec.network;
  const FeederModel fm = FeederModel::build(net, net.name);
  const int nbus = net.num_buses(), nz = nbus - 1;
  std::vector<int> pos_of(nbus);
  for (int k = 0; k < nbus; ++k) pos_of[fm.bus_at[k]] = k;
  const double kw_per_pu = net.base_mva * 1e3;
  qp.dv_dp.assign(std::size_t(nbus) * A, 0.0);
  qp.dv_dq.assign(std::size_t(nbus) * A, 0.0);
  for (int j = 0; j < nbus; ++j) {
    const int pj = pos_of[j];
    for (int a = 0; a < A; ++a) {
      const int pa = pos_of[spec.prosumers[a].bus];
      if (pj == 0 || pa == 0) continue;
      const std::size_t z = std::size_t(pj - 1) * nz + (pa - 1);
      qp.dv_dp[std::size_t(j) * A + a] = fm.z_re_pu[z] / kw_per_pu;
      qp.dv_dq[std::size_t(j) * A + a] = fm.z_im_pu[z] / kw_per_pu;
    }
  }
  // The other loads all follow load_pu(t), so c_j,t = V_s - load_pu(t) w_j with
  // w_j = sum_k (R_jk P_k + X_jk Q_k) x feeder_load_scale, in p.u.
  qp.load_voltage_drop_pu.assign(nbus, 0.0);
  for (int j = 0; j < nbus; ++j) {
    const int pj = pos_of[j];
    if (pj == 0) continue;
    for (int k = 0; k < nbus; ++k) {
      const int pk = pos_of[k];
      if (pk == 0) continue;
      const std::size_t z = std::size_t(pj - 1) * nz + (pk - 1);
      qp.load_voltage_drop_pu[j] +=
          (fm.z_re_pu[z] * net.p_load_kw[k] + fm.z_im_pu[z] * net.q_load_kvar[k]) *
          spec.feeder_load_scale / kw_per_pu;
    }
  }
  // One row per distinct sensitivity vector: buses whose paths from the slack share the same
  // part with every prosumer's path (e.g. the buses of a lateral without prosumers and the bus
  // where it branches off) move together, so one row bounds them all with the intersection of
  // their limits (expert_bounds): an exact presolve that drops about a quarter of the rows of
  // the 141-bus case with the default prosumers.
  auto same_row = [&](int i, int j) {
    for (int a = 0; a < A; ++a)
      for (const auto* dv : {&qp.dv_dp, &qp.dv_dq}) {
        const double x = (*dv)[std::size_t(i) * A + a], y = (*dv)[std::size_t(j) * A + a];
        if (std::abs(x - y) > 1e-12 * std::max(std::abs(x), std::abs(y))) return false;
      }
    return true;
  };
  std::vector<int> voltage_rows;  // row index of each distinct sensitivity vector
  for (int j = 0; j < nbus; ++j) {
    if (j == net.slack_bus) continue;
    qp.voltage_buses.push_back(j);
    bool merged = false;
    for (int r : voltage_rows)
      if (same_row(qp.rows[r].buses[0], j)) {
        qp.rows[r].buses.push_back(j);
        merged = true;
        break;
      }
    if (merged) continue;
    voltage_rows.push_back(static_cast<int>(qp.rows.size()));
    QpRowInfo& r = row(QpRow::kVoltage, -1, -1);
    r.buses = {j};
    for (int a = 0; a < A; ++a) {
      r.cols.push_back(ac[a].p_ex), r.vals.push_back(qp.dv_dp[std::size_t(j) * A + a]);
      r.cols.push_back(ac[a].q_ex), r.vals.push_back(qp.dv_dq[std::size_t(j) * A + a]);
    }
  }
  qp.block_rows = static_cast<int>(qp.rows.size());
  order_for_sparse_factor(qp);
  // The same rows as a tree (QpVoltageTree): the buses on the paths slack -> prosumer, in sweep
  // order (breadth first, so parents come first). ExpertAdmm checks it against the rows.
  QpVoltageTree& tree = qp.voltage_tree;
  std::vector<int> node_of_pos(nbus, -1);
  std::vector<char> on_path(nbus, 0);
  for (int a = 0; a < A; ++a)
    for (int k = pos_of[spec.prosumers[a].bus]; k > 0; k = fm.parent_pos[k]) on_path[k] = 1;
  std::vector<int> row_of_bus(nbus, -1);
  for (int r = 0; r < qp.block_rows; ++r)
    for (int j : qp.rows[r].buses) row_of_bus[j] = r;
  std::vector<char> row_taken(qp.block_rows, 0);
  for (int k = 1; k < nbus; ++k) {
    if (!on_path[k]) continue;
    node_of_pos[k] = tree.nodes();
    tree.parent.push_back(node_of_pos[fm.parent_pos[k]]);  // -1 at the slack (position 0)
    tree.r.push_back(fm.r_pu[k] / kw_per_pu);
    tree.x.push_back(fm.x_pu[k] / kw_per_pu);
    const int r = row_of_bus[fm.bus_at[k]];
    tree.row.push_back(r >= 0 && !row_taken[r] ? r : -1);
    if (r >= 0) row_taken[r] = 1;
  }
  tree.agent_node.assign(A, -1);
  tree.p_ex_col.assign(A, -1);
  tree.q_ex_col.assign(A, -1);
  for (int a = 0; a < A; ++a) tree.agent_node[a] = node_of_pos[pos_of[spec.prosumers[a].bus]];
  for (int c = 0; c < qp.block_vars; ++c) {
    const QpVarInfo& v = qp.vars[c];
    if (v.kind == QpVar::kPEx) tree.p_ex_col[v.agent] = c;
    if (v.kind == QpVar::kQEx) tree.q_ex_col[v.agent] = c;
  }
  return qp;
}

std::vector<double> linear_voltage_offsets(const EnvSpec& spec, const ExpertQp& qp, int day) {
  const Network& net = spec.network;
  const int nbus = net.num_buses();
  std::vector<double> c(std::size_t(qp.steps) * nbus);
  for (int t = 0; t < qp.steps; ++t) {
    const double lp = spec.profiles.load_pu[std::size_t(day) * kStepsPerDay + t];
    for (int j = 0; j < nbus; ++j)
      c[std::size_t(t) * nbus + j] = net.v_slack_pu - lp * qp.load_voltage_drop_pu[j];
  }
  return c;
}

ExpertBoundsTables::ExpertBoundsTables(const EnvSpec& spec, const ExpertQp& qp) {
  const int m = qp.block_rows;
  const double cos_half = std::cos(M_PI / qp.inverter_facets);
  profile_.assign(m, int(BoundProfile::kNone));
  state_.assign(m, int(BoundState::kNone));
  state_unit_.assign(m, -1);
  state_coef_.assign(m, 0.0);
  lo_const_.assign(m, 0.0);
  lo_coef_.assign(m, 0.0);
  hi_const_.assign(m, 0.0);
  hi_coef_.assign(m, 0.0);
  hi_cap_.assign(m, kInfinity);
  bus_ptr_.assign(1, 0);
  for (int r = 0; r < m; ++r) {
    const QpRowInfo& row = qp.rows[r];
    double lo = 0, hi = 0;  // constant parts
    switch (row.kind) {
      case QpRow::kBound: {
        const QpVarInfo& v = qp.vars[row.cols[0]];
        const DeviceUnit* d = v.unit >= 0 ? &spec.units[v.unit] : nullptr;
        const Prosumer& pr = spec.prosumers[v.agent];
        switch (v.kind) {
          case QpVar::kPCdg:
            lo = d->p_min_kw, hi = d->p_max_kw;
            break;
          case QpVar::kPRdg:  // 0 <= P <= min(rating cf_t, S)
            profile_[r] = int(d->type == DeviceType::kPv ? BoundProfile::kPv : BoundProfile::kWind);
            hi_coef_[r] = d->rating_kw;
            hi_cap_[r] = d->s_max_kva;
            break;
          case QpVar::kQRdg:
            lo = -d->s_max_kva, hi = d->s_max_kva;
            break;
          case QpVar::kPCharge:
          case QpVar::kPDischarge:
            lo = 0, hi = d->p_bess_max_kw;
            break;
          case QpVar::kSoc:
            lo = d->soc_min * d->energy_kwh, hi = d->soc_max * d->energy_kwh;
            break;
          case QpVar::kPCl:  // 0 <= P_CL <= alpha P_load,t
            profile_[r] = int(BoundProfile::kLoad);
            hi_coef_[r] = pr.cl_alpha * pr.load_peak_kw;
            break;
          default:
            lo = 0, hi = kInfinity;
            break;  // buy, sell, P2P
        }
        break;
      }
      case QpRow::kBalanceP:  // = P_load,t
        profile_[r] = int(BoundProfile::kLoad);
        lo_coef_[r] = hi_coef_[r] = spec.prosumers[row.agent].load_peak_kw;
        break;
      case QpRow::kBalanceQ: {  // = P_load,t tan(phi)
        const Prosumer& pr = spec.prosumers[row.agent];
        profile_[r] = int(BoundProfile::kLoad);
        lo_coef_[r] = hi_coef_[r] = pr.load_peak_kw * pr.tan_phi;
        break;
      }
      case QpRow::kTie:
        lo = hi = row.tie_constant;
        break;
      case QpRow::kExchange:
      case QpRow::kP2pBalance:
      case QpRow::kSocDynamics:
        lo = hi = 0;
        break;
      case QpRow::kRamp: {
        const double ramp = spec.units[row.unit].ramp_kw_per_step;
        lo = -ramp, hi = ramp;
        break;
      }
      case QpRow::kInverter:
        lo = -kInfinity, hi = spec.units[row.unit].s_max_kva * cos_half;
        break;
      case QpRow::kVoltage:
        bus_.insert(bus_.end(), row.buses.begin(), row.buses.end());
        break;
    }
    bus_ptr_.push_back(static_cast<int>(bus_.size()));
    lo_const_[r] = lo;
    hi_const_[r] = hi;
    if (!row.prev_cols.empty()) {  // the known previous value of the horizon's first step
      state_[r] = int(row.kind == QpRow::kSocDynamics ? BoundState::kSoc : BoundState::kPPrev);
      state_unit_[r] = row.unit;
      state_coef_[r] = row.prev_vals[0];
    }
  }
  drop_ = qp.load_voltage_drop_pu;
  base_.rows = m;
  base_.steps = qp.steps;
  base_.days = spec.profiles.num_days;
  base_.buses = spec.network.num_buses();
  base_.units = static_cast<int>(spec.units.size());
  base_.load_pu = spec.profiles.load_pu.data();
  base_.pv_cf = spec.profiles.pv_cf.data();
  base_.wind_cf = spec.profiles.wind_cf.data();
  base_.v_min_pu = spec.v_min_pu;
  base_.v_max_pu = spec.v_max_pu;
  base_.v_slack_pu = spec.network.v_slack_pu;
  base_.infinity = kInfinity;
}

ExpertBoundsView ExpertBoundsTables::view() const {
  ExpertBoundsView v = base_;
  v.profile = profile_.data();
  v.lo_const = lo_const_.data();
  v.lo_coef = lo_coef_.data();
  v.hi_const = hi_const_.data();
  v.hi_coef = hi_coef_.data();
  v.hi_cap = hi_cap_.data();
  v.state = state_.data();
  v.state_unit = state_unit_.data();
  v.state_coef = state_coef_.data();
  v.bus_ptr = bus_ptr_.data();
  v.bus = bus_.data();
  v.load_voltage_drop_pu = drop_.data();
  return v;
}

void check_expert_env_data(const EnvSpec& spec, const ExpertQp& qp, const ExpertEnvData& data,
                           int env) {
  const std::string who = env >= 0 ? "expert: env " + std::to_string(env) + ": " : "expert: ";
  const int nbus = spec.network.num_buses();
  if (data.t0 < 0 || data.t0 >= qp.steps)
    throw Error(who + "t0 out of range: " + std::to_string(data.t0) + " (expected 0 to " +
                std::to_string(qp.steps - 1) + ")");
  if (data.day < 0 || data.day >= spec.profiles.num_days)
    throw Error(who + "day " + std::to_string(data.day) + " is not in the profiles' [0, " +
                std::to_string(spec.profiles.num_days) + ")");
  const std::size_t units = spec.units.size();
  if (data.unit_p_prev_kw.size() != units || data.unit_soc_kwh.size() != units)
    throw Error(who + "env state needs unit_p_prev_kw and unit_soc_kwh for all " +
                std::to_string(units) + " units");
  if (!data.v_offset_pu.empty() && data.v_offset_pu.size() != std::size_t(qp.steps) * nbus)
    throw Error(who + "v_offset_pu needs [" + std::to_string(qp.steps) + " steps, " +
                std::to_string(nbus) + " buses] values (linear_voltage_offsets) or none (the " +
                "day's linear offsets), has " + std::to_string(data.v_offset_pu.size()));
  // A NaN or infinite state would make every bound it reaches NaN, and the solve run to its
  // iteration limit: an error that names it instead.
  auto finite = [&](const std::vector<double>& v, const char* name) {
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]))
        throw Error(who + name + "[" + std::to_string(i) + "] is " + std::to_string(v[i]) +
                    " (expected a finite value)");
  };
  finite(data.unit_p_prev_kw, "unit_p_prev_kw");
  finite(data.unit_soc_kwh, "unit_soc_kwh");
  finite(data.v_offset_pu, "v_offset_pu");
}

void expert_bounds(const ExpertBoundsView& tables, const ExpertQp& qp, const ExpertEnvData& data,
                   std::vector<double>& l, std::vector<double>& u) {
  const int H = qp.steps - data.t0;
  l.assign(std::size_t(H) * qp.block_rows, 0.0);
  u.assign(l.size(), 0.0);
  expert_env_bounds(tables, H, data.day,
                    data.v_offset_pu.empty() ? nullptr : data.v_offset_pu.data(),
                    data.unit_p_prev_kw.data(), data.unit_soc_kwh.data(),
                    Strided<double>{l.data(), 1}, Strided<double>{u.data(), 1});
}

void expert_bounds(const EnvSpec& spec, const ExpertQp& qp, const ExpertEnvData& data,
                   std::vector<double>& l, std::vector<double>& u) {
  check_expert_env_data(spec, qp, data);
  expert_bounds(ExpertBoundsTables(spec, qp).view(), qp, data, l, u);
}

}  // namespace p2pgrid
