// Anderson acceleration of the expert's ADMM, one source for g++ and nvcc (admm_kernels.hpp's
// lanes and accessors).
//
// ADMM is a fixed-point iteration w <- T(w) on w = z + y / rho (admm_kernels.hpp, admm_dual:
// x enters the next iteration only through sigma x, so w is the state). Near the solution T is
// affine and its slowest modes often come in complex pairs: the residuals then oscillate and
// decay slowly (on day 351 of the year the bound rows of two batteries' SOC swing with a period
// of about 100 iterations for 500 iterations; docs/expert.md). Anderson acceleration (type II,
// Walker & Ni 2011; for Douglas-Rachford / ADMM, Fu, Zhang & Boyd 2020, "Anderson accelerated
// Douglas-Rachford splitting", and Zhang, O'Donoghue & Boyd 2020) extrapolates from the last few
// points of the sequence, which cancels such modes:
//   at points k = N, 2N, ... of a lane's iterations (N = anderson_interval), with g_k = w (after
//   N iterations from the previous point's u_{k-1}) and f_k = g_k - u_{k-1}:
//     dg_j = g_j - g_{j-1}, df_j = f_j - f_{j-1} over the last M points (M = anderson_memory)
//     gamma = argmin |f_k - sum_j gamma_j df_j|_2   (the normal equations, a little Tikhonov)
//     u_k = g_k - sum_j gamma_j dg_j                 (the lane continues from w = u_k)
// with a safeguard: if a point after an extrapolation has a larger |f| than the point before
// (or a NaN), the lane goes back to the plain iterate g_{k-1}, exactly (the record pass keeps
// it in u, which f no longer needs), and its history restarts.
// The termination test is always made on plain ADMM iterates, N iterations or more after an
// extrapolation, so a solution's residuals are ADMM's own.
//
// Storage of a lane: `hist` [2 * len] doubles u, g; `histf` [(1 + 2 M) * len] floats f, then dg
// of slots 0..M-1, then df of slots 0..M-1. The residuals and their differences only steer the
// extrapolation, so single precision does (coefficients to about 1e-7 relative), and it
// halves the traffic of the slots, which the CPU's two cores share; u and g, whose differences
// with w are taken, stay double. Slots rotate: the k-th point of a group writes slot k mod M
// (every lane of a group has its points at the same iterations), and a lane's valid slots are
// its newest ones.
#pragma once

#include <type_traits>

#include "p2pgrid/expert/admm_kernels.hpp"

namespace p2pgrid {

constexpr int kAndersonMaxMemory = 8;

/// Per-lane sums of one point (anderson_record): |f|^2, and df_s . f and df_s . df_new for every
/// slot s (df_new: the slot written at this point).
template <class T>
struct AndersonSums {
  T ff;
  T f_df[kAndersonMaxMemory];
  T df_dfnew[kAndersonMaxMemory];
};

/// The scalar state of one lane between its points.
struct AndersonLane {
  int points = 0;        // since the history (re)started; u is valid from point 1 on
  int extrapolated = 0;  // the last point moved w
  double f_norm2 = 0;    // |f|^2 at the last point
  double gram[kAndersonMaxMemory * kAndersonMaxMemory];  // df_s . df_t of the valid slots
};

template <class V>
P2P_HD V anderson_vector(V hist, int len, int index) {
  return lane_offset(hist, index * len);
}

/// A lane's history from a new start w: u = g = w, f and every slot 0 (so that nothing of a
/// lane's previous env, NaN included, can reach the new one through a slot it does not use).
/// Its AndersonLane restarts at points = 1.
template <class V, class VF>
P2P_HD void anderson_restart(int len, int memory, V w, V hist, VF histf) {
  using TF = LaneOf<VF>;
  for (int i = 0; i < len; ++i) {
    anderson_vector(hist, len, 0)[i] = w[i];
    anderson_vector(hist, len, 1)[i] = w[i];
  }
  for (int j = 0; j < 1 + 2 * memory; ++j)
    for (int i = 0; i < len; ++i) anderson_vector(histf, len, j)[i] = TF{};
}

/// First pass of a point over a lane's w [len]: f = w - u, the new slot's dg = w - g and
/// df = f - f_prev; then u = the old g (the plain iterate of the point before, for a revert),
/// g = w and f stored; and the sums the coefficients need (from the stored, single-precision f
/// and slots). M is the memory as a constant, so that the 2 M sums stay in registers
/// (anderson_record dispatches).
template <int M, class V, class VF>
P2P_HD P2P_ADMM_INLINE void anderson_record_fixed(int len, int slot, V w, V hist, VF histf,
                                                  AndersonSums<LaneOf<V>>& sums) {
  using T = LaneOf<V>;
  const V u = anderson_vector(hist, len, 0), g = anderson_vector(hist, len, 1);
  const VF f = anderson_vector(histf, len, 0), dg_new = anderson_vector(histf, len, 1 + slot),
           df_new = anderson_vector(histf, len, 1 + M + slot);
  // Local sums: the vectors' stores could alias `sums` as far as the compiler knows.
  T ff{}, f_df[M], df_dfnew[M];
  for (int s = 0; s < M; ++s) f_df[s] = df_dfnew[s] = T{};
  for (int i = 0; i < len; ++i) {
    const T wi = w[i], gi = g[i];
    const auto fs = lane_narrow(wi - u[i]);
    const T fi = lane_widen(fs);
    const auto dfs = lane_narrow(fi - lane_widen(f[i]));
    const T dfi = lane_widen(dfs);
    dg_new[i] = lane_narrow(wi - gi);
    df_new[i] = dfs;
    u[i] = gi;
    g[i] = wi;
    f[i] = fs;
    ff += fi * fi;
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int s = 0; s < M; ++s) {
      const T d = s == slot ? dfi : lane_widen(anderson_vector(histf, len, 1 + M + s)[i]);
      f_df[s] += d * fi;
      df_dfnew[s] += d * dfi;
    }
  }
  sums.ff = ff;
  for (int s = 0; s < M; ++s) {
    sums.f_df[s] = f_df[s];
    sums.df_dfnew[s] = df_dfnew[s];
  }
}

/// Calls f(std::integral_constant<int, M>{}) with the memory M (1 to 8) as a constant.
template <class F>
P2P_HD P2P_ADMM_INLINE void anderson_with_memory(int memory, F&& f) {
  static_assert(kAndersonMaxMemory == 8, "anderson_with_memory dispatches memories 1 to 8");
  switch (memory) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 5:
      return f(std::integral_constant<int, 5>{});
    case 6:
      return f(std::integral_constant<int, 6>{});
    case 7:
      return f(std::integral_constant<int, 7>{});
    default:
      return f(std::integral_constant<int, 8>{});
  }
}

template <class V, class VF>
P2P_HD P2P_ADMM_INLINE void anderson_record(int len, int memory, int slot, V w, V hist, VF histf,
                                            AndersonSums<LaneOf<V>>& sums) {
  anderson_with_memory(memory, [&](auto m) P2P_ADMM_INLINE {
    anderson_record_fixed<decltype(m)::value>(len, slot, w, hist, histf, sums);
  });
}

/// The coefficients of a lane's step at a point from its sums (lane values): gamma[s] for every
/// slot (0 where unused), w <- w - sum_s gamma_s dg_s; or true for a revert, w <- g_prev (in u
/// after the record). Updates the lane's state.
P2P_HD bool anderson_coefficients(AndersonLane& st, int memory, int slot, double ff,
                                  const double* f_df, const double* df_dfnew, double* gamma) {
  for (int s = 0; s < memory; ++s) gamma[s] = 0;
  ++st.points;
  if (st.points == 1) return false;  // u was not this lane's: the step records it
  if (st.points == 2) {              // f is valid, the new slot is not (f_prev was not)
    st.f_norm2 = ff;
    st.extrapolated = 0;
    return false;
  }
  // The newest k slots are valid: slot, slot - 1, ... (mod memory).
  const int k = p2p_min(st.points - 2, memory);
  auto slot_of = [&](int j) { return (slot - j + memory) % memory; };
  for (int j = 0; j < k; ++j) {
    const int s = slot_of(j);
    st.gram[slot * kAndersonMaxMemory + s] = st.gram[s * kAndersonMaxMemory + slot] = df_dfnew[s];
  }
  if (st.extrapolated && !(ff <= st.f_norm2)) {
    // The extrapolation did not pay (or gave NaN): back to the plain iterate g_prev.
    st.extrapolated = 0;
    st.points = 1;
    return true;
  }
  st.f_norm2 = ff;
  // (G + lambda I) gamma = b over the valid slots, by Gaussian elimination without pivoting
  // (G is a Gram matrix, so positive semidefinite; lambda makes it definite).
  double a[kAndersonMaxMemory * kAndersonMaxMemory], b[kAndersonMaxMemory];
  double trace = 0;
  for (int i = 0; i < k; ++i) trace += st.gram[slot_of(i) * kAndersonMaxMemory + slot_of(i)];
  const double lambda = 1e-10 * trace + 1e-300;
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j)
      a[i * k + j] = st.gram[slot_of(i) * kAndersonMaxMemory + slot_of(j)] + (i == j ? lambda : 0);
    b[i] = f_df[slot_of(i)];
  }
  for (int c = 0; c < k; ++c)
    for (int r = c + 1; r < k; ++r) {
      const double factor = a[r * k + c] / a[c * k + c];
      for (int j = c; j < k; ++j) a[r * k + j] -= factor * a[c * k + j];
      b[r] -= factor * b[c];
    }
  bool finite = true;
  for (int c = k - 1; c >= 0; --c) {
    for (int j = c + 1; j < k; ++j) b[c] -= a[c * k + j] * b[j];
    b[c] /= a[c * k + c];
    finite &= b[c] - b[c] == 0;  // false for NaN and infinities
  }
  st.extrapolated = finite ? 1 : 0;
  if (finite)
    for (int i = 0; i < k; ++i) gamma[slot_of(i)] = b[i];
  return false;
}

/// Second pass of a point: w <- w - sum_s gamma_s dg_s over the slots with use[s] (gamma holds
/// each lane's coefficient; a lane whose gamma_s is 0 is unchanged by slot s), newest slot
/// first (so a lane's arithmetic does not depend on where the group's rotation stands); lanes
/// whose `revert` is nonzero take w <- u (g_prev) instead. Then u = w.
template <int M, class V, class VF>
P2P_HD P2P_ADMM_INLINE void anderson_step_fixed(int len, int slot, const LaneOf<V>* gamma,
                                                const bool* use, const LaneOf<V>& revert, V w,
                                                V hist, VF histf) {
  using T = LaneOf<V>;
  const V u = anderson_vector(hist, len, 0);
  // The slots in use, newest first, and their coefficients (unrolled: registers on the GPU).
  T coef[M];
  int order[M];
  int used = 0;
  for (int j = 0; j < M; ++j) {
    const int s = (slot - j + M) % M;
    if (use[s]) {
      order[used] = s;
      coef[used++] = gamma[s];
    }
  }
  for (int i = 0; i < len; ++i) {
    T wi = w[i];
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int j = 0; j < M; ++j)
      if (j < used) wi -= coef[j] * lane_widen(anderson_vector(histf, len, 1 + order[j])[i]);
    wi = lane_select(revert, u[i], wi);
    w[i] = wi;
    u[i] = wi;
  }
}

template <class V, class VF>
P2P_HD P2P_ADMM_INLINE void anderson_step(int len, int memory, int slot, const LaneOf<V>* gamma,
                                          const bool* use, const LaneOf<V>& revert, V w, V hist,
                                          VF histf) {
  anderson_with_memory(memory, [&](auto m) P2P_ADMM_INLINE {
    anderson_step_fixed<decltype(m)::value>(len, slot, gamma, use, revert, w, hist, histf);
  });
}

/// The work of env e's CUDA thread at a point, on lane-major w [len, batch], hist
/// [2 * len, batch] and histf [(1 + 2 memory) * len, batch]: its history restarts first if its
/// group's rho changed since its last point. The CPU's groups run the same three steps, with
/// the record and the step across their 8 lanes at once (admm.cpp).
P2P_HD void admm_env_anderson(int batch, int e, int len, int memory, int slot, bool restart,
                              AndersonLane& st, double* w, double* hist, float* histf) {
  if (restart) st.points = 0;
  const Strided<double> wl{w + e, batch}, hl{hist + e, batch};
  const Strided<float> fl{histf + e, batch};
  AndersonSums<double> sums;
  anderson_record(len, memory, slot, wl, hl, fl, sums);
  double gamma[kAndersonMaxMemory];
  bool use[kAndersonMaxMemory];
  const double revert =
      anderson_coefficients(st, memory, slot, sums.ff, sums.f_df, sums.df_dfnew, gamma) ? 1 : 0;
  for (int s = 0; s < memory; ++s) use[s] = gamma[s] != 0;
  anderson_step(len, memory, slot, gamma, use, revert, wl, hl, fl);
}

}  // namespace p2pgrid
