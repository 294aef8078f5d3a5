// Backward/forward sweep AC power flow for one radial feeder and one env (P2P_HD: the CPU backend
// loops over envs, the CUDA backend runs one thread per env, both call sweep_power_flow).
// Current-summation form: I_i = conj(S_dem,i / V_i) + Y_sh,i V_i; J_k = sum of I below branch k;
// V_child = V_parent - Z_k J_k. Same fixed point as the implicit Z-bus iteration V = V_s - Z I(V).
#pragma once

#include <cstdint>

#include "p2pgrid/core/hd.hpp"

namespace p2pgrid {

/// One feeder in sweep order: position 0 is the slack, a parent's position is below its
/// children's. All per-bus arrays are indexed by position; `bus_at[k]` is the case bus index.
template <class Real>
struct FeederView {
  int num_buses = 0;
  int num_branches = 0;
  const int* bus_at = nullptr;         // [num_buses] case bus index at sweep position k
  const int* parent_pos = nullptr;     // [num_buses] sweep position of the parent, -1 at k = 0
  const Real* r_pu = nullptr;          // [num_buses] series resistance of the branch to the parent
  const Real* x_pu = nullptr;          // [num_buses] series reactance of the branch to the parent
  const Real* g_shunt_pu = nullptr;    // [num_buses] shunt conductance incl. line charging halves
  const Real* b_shunt_pu = nullptr;    // [num_buses] shunt susceptance incl. line charging halves
  const int* branch_pos = nullptr;     // [num_branches] sweep position of the branch's child bus,
                                       //   -1 for an out-of-service branch
  const std::int8_t* branch_from_is_parent = nullptr;  // [num_branches] 1: from = parent end
  const Real* branch_half_b_pu = nullptr;              // [num_branches] line charging b/2, p.u.
  Real v_slack_pu = 1;
};

/// Stopping rule: max_k |V_k^(it) - V_k^(it-1)| < tolerance_pu, at most max_iterations sweeps.
/// A voltage below min_voltage_pu or a NaN is divergence: stop early, report not converged.
template <class Real>
struct SweepSettings {
  Real tolerance_pu = Real(1e-9);
  int max_iterations = 50;
  Real min_voltage_pu = Real(0.3);
};

/// One env's inputs, outputs and scratch. Inputs/outputs are rows (stride 1) of batched
/// [B, num_buses] / [B, num_branches] buffers; scratch is strided (see Strided).
template <class Real>
struct SweepEnv {
  const Real* p_inj_pu;   // [num_buses] net injection (generation - demand), case bus order
  const Real* q_inj_pu;   // [num_buses]
  Strided<Real> v_re, v_im, j_re, j_im, s_re, s_im;  // [num_buses] scratch, sweep order
  Real* vm_pu;            // [num_buses] voltage magnitude, case bus order
  Real* va_rad;           // [num_buses] voltage angle, radians
  Real* p_branch_pu;      // [num_branches] active power entering the branch at its from end
  Real* q_branch_pu;      // [num_branches] reactive power entering the branch at its from end
  Real* p_loss_pu;        // [1] series I^2 R losses
  Real* q_loss_pu;        // [1] series I^2 X
  Real* p_slack_pu;       // [1] power delivered by the slack (upstream grid) into the feeder
  Real* q_slack_pu;       // [1]
  int* iterations;        // [1] sweeps performed
  std::uint8_t* converged;  // [1] 1 if the stopping rule was met
};

/// Current drawn at sweep position k by its constant-power demand and its shunt:
/// I = conj(S_dem / V) + Y_sh V.
template <class Real>
P2P_HD void bus_current(const FeederView<Real>& f, const SweepEnv<Real>& e, int k, Real& ir,
                        Real& ii) {
  const Real vr = e.v_re[k], vi = e.v_im[k];
  const Real v2 = vr * vr + vi * vi;
  // conj(S/V) = (P - jQ)(vr + j vi) / |V|^2 for a demand S = P + jQ.
  const Real p = e.s_re[k], q = e.s_im[k];
  ir = (p * vr + q * vi) / v2 + f.g_shunt_pu[k] * vr - f.b_shunt_pu[k] * vi;
  ii = (p * vi - q * vr) / v2 + f.g_shunt_pu[k] * vi + f.b_shunt_pu[k] * vr;
}

/// Flat start (V = V_slack at every bus) and the demand S_dem = -injection gathered into sweep
/// order, once per solve.
template <class Real>
P2P_HD void sweep_start(const FeederView<Real>& f, const SweepEnv<Real>& e) {
  for (int k = 0; k < f.num_buses; ++k) {
    const int bus = f.bus_at[k];
    e.v_re[k] = f.v_slack_pu;
    e.v_im[k] = 0;
    e.s_re[k] = -e.p_inj_pu[bus];
    e.s_im[k] = -e.q_inj_pu[bus];
  }
}

/// One iteration's voltage updates: stores V at position k and tracks the largest change and
/// divergence (a voltage below min_voltage_pu, or NaN). Shared by the sweep and the Z-bus method.
template <class Real>
struct VoltageUpdate {
  Real dv2_max = 0;
  bool diverged = false;
  P2P_HD void store(const SweepEnv<Real>& e, const SweepSettings<Real>& s, int k, Real vr,
                    Real vi) {
    const Real dr = vr - e.v_re[k], di = vi - e.v_im[k];
    const Real dv2 = dr * dr + di * di;
    dv2_max = dv2 > dv2_max ? dv2 : dv2_max;
    // NaN fails every comparison, so test the good case.
    if (!(vr * vr + vi * vi >= s.min_voltage_pu * s.min_voltage_pu)) diverged = true;
    e.v_re[k] = vr;
    e.v_im[k] = vi;
  }
  P2P_HD bool converged(const SweepSettings<Real>& s) const {
    return !diverged && dv2_max < s.tolerance_pu * s.tolerance_pu;
  }
};

/// Backward sweep: branch currents J from bus currents I(V). Leaves J consistent with V.
template <class Real>
P2P_HD void sweep_backward(const FeederView<Real>& f, const SweepEnv<Real>& e) {
  for (int k = 0; k < f.num_buses; ++k) {
    e.j_re[k] = 0;
    e.j_im[k] = 0;
  }
  for (int k = f.num_buses - 1; k >= 1; --k) {
    Real ir, ii;
    bus_current(f, e, k, ir, ii);
    const Real jr = e.j_re[k] + ir, ji = e.j_im[k] + ii;
    e.j_re[k] = jr;
    e.j_im[k] = ji;
    const int p_k = f.parent_pos[k];
    e.j_re[p_k] += jr;
    e.j_im[p_k] += ji;
  }
}

/// Given converged voltages in e.v_re/e.v_im (sweep order) and the demand in e.s_re/e.s_im,
/// writes every output of SweepEnv: currents consistent with V, then voltages, flows, losses,
/// slack power. Shared by the sweep and the Z-bus method.
template <class Real>
P2P_HD void sweep_finish(const FeederView<Real>& f, const SweepEnv<Real>& e, int iterations,
                         bool converged) {
  using std::atan2;
  using std::sqrt;
  const int n = f.num_buses;
  // Currents consistent with the final voltages, then flows, losses and slack power.
  sweep_backward(f, e);
  for (int k = 0; k < n; ++k) {
    const int bus = f.bus_at[k];
    const Real vr = e.v_re[k], vi = e.v_im[k];
    e.vm_pu[bus] = sqrt(vr * vr + vi * vi);
    e.va_rad[bus] = atan2(vi, vr);
  }
  Real p_loss = 0, q_loss = 0;
  for (int k = 1; k < n; ++k) {
    const Real j2 = e.j_re[k] * e.j_re[k] + e.j_im[k] * e.j_im[k];
    p_loss += f.r_pu[k] * j2;
    q_loss += f.x_pu[k] * j2;
  }
  for (int b = 0; b < f.num_branches; ++b) {
    const int k = f.branch_pos[b];
    if (k < 0) {
      e.p_branch_pu[b] = 0;
      e.q_branch_pu[b] = 0;
      continue;
    }
    // Series current flows parent -> child as J_k; seen from the child end it is -J_k.
    const bool from_parent = f.branch_from_is_parent[b] != 0;
    const int end = from_parent ? f.parent_pos[k] : k;
    const Real sign = from_parent ? Real(1) : Real(-1);
    const Real vr = e.v_re[end], vi = e.v_im[end];
    const Real ir = sign * e.j_re[k], ii = sign * e.j_im[k];
    // S = V conj(I) plus the line-charging half at this end: -j (b/2) |V|^2.
    e.p_branch_pu[b] = vr * ir + vi * ii;
    e.q_branch_pu[b] = vi * ir - vr * ii - f.branch_half_b_pu[b] * (vr * vr + vi * vi);
  }
  // Slack: what leaves it through its branches (J accumulated at position 0) plus its own
  // demand and shunt: S = V conj(J_0) + S_dem,0 + conj(Y_sh)|V|^2.
  const Real vr = e.v_re[0], vi = e.v_im[0];
  const Real v2 = vr * vr + vi * vi;
  *e.p_slack_pu = vr * e.j_re[0] + vi * e.j_im[0] + e.s_re[0] + f.g_shunt_pu[0] * v2;
  *e.q_slack_pu = vi * e.j_re[0] - vr * e.j_im[0] + e.s_im[0] - f.b_shunt_pu[0] * v2;
  *e.p_loss_pu = p_loss;
  *e.q_loss_pu = q_loss;
  *e.iterations = iterations;
  *e.converged = converged ? 1 : 0;
}

/// Solves one env; returns the number of sweeps. Writes every output of SweepEnv.
template <class Real>
P2P_HD int sweep_power_flow(const FeederView<Real>& f, const SweepSettings<Real>& s,
                            const SweepEnv<Real>& e) {
  const int n = f.num_buses;
  sweep_start(f, e);
  bool converged = false;
  int it = 0;
  while (it < s.max_iterations) {
    ++it;
    sweep_backward(f, e);
    VoltageUpdate<Real> update;
    for (int k = 1; k < n; ++k) {
      const int p_k = f.parent_pos[k];
      const Real r = f.r_pu[k], x = f.x_pu[k];
      const Real jr = e.j_re[k], ji = e.j_im[k];
      update.store(e, s, k, e.v_re[p_k] - (r * jr - x * ji), e.v_im[p_k] - (r * ji + x * jr));
    }
    if (update.diverged) break;
    if (update.converged(s)) {
      converged = true;
      break;
    }
  }
  sweep_finish(f, e, it, converged);
  return it;
}

}  // namespace p2pgrid
