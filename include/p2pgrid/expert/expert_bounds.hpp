// The bounds l, u of the expert's QP (expert_qp.hpp) as flat tables and one P2P_HD function, so
// that the host (expert_bounds) and the CUDA expert (one thread per env, writing the bounds
// where the solver reads them) compute the same doubles from the same source.
//
// A row's bounds at step t of an env's day, before the state of the horizon's first step:
//   lo = lo_const + lo_coef p_t,  hi = min(hi_const + hi_coef p_t, hi_cap)
// with p_t the row's profile at t (none, load, PV or wind capacity factor): device limits
// eqs. (1)-(8), the balances eq. (9) at the step's load, the inverter facets eq. (4), ties
// eq. (22). A voltage row bounds the LinDistFlow voltage of each of its buses j,
// V_min <= c_j,t + (R P + X Q)_j <= V_max, so lo = max_j (V_min - c_j,t), hi = min_j (V_max -
// c_j,t), with c_j,t the env's offsets if it has its own (the DSO's re-linearization) and the
// day's linear ones otherwise (linear_voltage_offsets: V_slack - load_t drop_j). Rows that link
// the first step to the one before (SOC dynamics eq. 7, CDG ramp eq. 2) move the known previous
// value to the bounds: lo, hi -= coef prev.
#pragma once

#include <vector>

#include "p2pgrid/core/hd.hpp"

namespace p2pgrid {

struct EnvSpec;
struct ExpertQp;

enum class BoundProfile : int { kNone = 0, kLoad = 1, kPv = 2, kWind = 3 };
enum class BoundState : int { kNone = 0, kSoc = 1, kPPrev = 2 };

/// The tables of expert_row_bounds (pointers into host or device memory).
struct ExpertBoundsView {
  int rows = 0, steps = 0, days = 0, buses = 0, units = 0;
  const int* profile = nullptr;  // [rows] BoundProfile
  const double* lo_const = nullptr;
  const double* lo_coef = nullptr;
  const double* hi_const = nullptr;
  const double* hi_coef = nullptr;
  const double* hi_cap = nullptr;
  const int* state = nullptr;  // [rows] BoundState of the rows linked to the step before
  const int* state_unit = nullptr;
  const double* state_coef = nullptr;
  const int* bus_ptr = nullptr;  // [rows + 1] voltage rows: their buses (empty for the others)
  const int* bus = nullptr;
  const float* load_pu = nullptr;  // [days * 96] the spec's profiles
  const float* pv_cf = nullptr;
  const float* wind_cf = nullptr;
  const double* load_voltage_drop_pu = nullptr;  // [buses] at load_pu = 1
  double v_min_pu = 0, v_max_pu = 0, v_slack_pu = 1, infinity = 1e30;
};

/// Row r's bounds at block k of a horizon of `blocks` blocks (step steps - 1 - k) of `day`.
/// v_offset: the env's own offsets [steps * buses] in step order, or null for the day's linear
/// ones; p_prev and soc [units]: the env's CDG output before and SOC at the first step.
P2P_HD void expert_row_bounds(const ExpertBoundsView& b, int r, int k, int blocks, int day,
                              const double* v_offset, const double* p_prev, const double* soc,
                              double& lo, double& hi) {
  const int t = b.steps - 1 - k;
  const long long idx = static_cast<long long>(day) * b.steps + t;
  const double load = b.load_pu[idx];
  double lo_r, hi_r;
  if (b.bus_ptr[r + 1] > b.bus_ptr[r]) {  // the intersection of the limits of the row's buses
    lo_r = -b.infinity, hi_r = b.infinity;
    for (int p = b.bus_ptr[r]; p < b.bus_ptr[r + 1]; ++p) {
      const int j = b.bus[p];
      const double c = v_offset ? v_offset[static_cast<long long>(t) * b.buses + j]
                                : b.v_slack_pu - load * b.load_voltage_drop_pu[j];
      lo_r = p2p_max(lo_r, b.v_min_pu - c);
      hi_r = p2p_min(hi_r, b.v_max_pu - c);
    }
  } else {
    const BoundProfile kind = static_cast<BoundProfile>(b.profile[r]);
    const double p = kind == BoundProfile::kLoad   ? load
                     : kind == BoundProfile::kPv   ? static_cast<double>(b.pv_cf[idx])
                     : kind == BoundProfile::kWind ? static_cast<double>(b.wind_cf[idx])
                                                   : 0.0;
    lo_r = b.lo_const[r] + b.lo_coef[r] * p;
    hi_r = p2p_min(b.hi_const[r] + b.hi_coef[r] * p, b.hi_cap[r]);
  }
  const BoundState state = static_cast<BoundState>(b.state[r]);
  if (k == blocks - 1 && state != BoundState::kNone) {
    const int unit = b.state_unit[r];
    const double shift = b.state_coef[r] * (state == BoundState::kSoc ? soc[unit] : p_prev[unit]);
    lo_r -= shift;
    hi_r -= shift;
  }
  lo = lo_r;
  hi = hi_r;
}

/// Every row's bounds of one env over a horizon of `blocks` blocks into accessors l, u
/// ([blocks * rows], element k * rows + r).
template <class V>
P2P_HD void expert_env_bounds(const ExpertBoundsView& b, int blocks, int day,
                              const double* v_offset, const double* p_prev, const double* soc, V l,
                              V u) {
  for (int k = 0; k < blocks; ++k)
    for (int r = 0; r < b.rows; ++r) {
      double lo, hi;
      expert_row_bounds(b, r, k, blocks, day, v_offset, p_prev, soc, lo, hi);
      l[k * b.rows + r] = lo;
      u[k * b.rows + r] = hi;
    }
}

/// The tables of a spec's QP in host memory (the CUDA expert mirrors them on the device).
class ExpertBoundsTables {
 public:
  ExpertBoundsTables(const EnvSpec& spec, const ExpertQp& qp);
  /// Points into this object and into the spec's profiles (which must outlive the view).
  ExpertBoundsView view() const;

 private:
  ExpertBoundsView base_;  // sizes, scalars and the profiles' pointers
  std::vector<int> profile_, state_, state_unit_, bus_ptr_, bus_;
  std::vector<double> lo_const_, lo_coef_, hi_const_, hi_coef_, hi_cap_, state_coef_, drop_;
};

}  // namespace p2pgrid
