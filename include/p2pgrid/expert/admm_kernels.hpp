// The per-env work of the expert's ADMM (admm.hpp), one source for g++ and nvcc.
//
// A lane is one env. Vectors are passed as accessors whose operator[](i) is element i of a lane:
//   CUDA: Strided<double> over lane-major storage v[i * batch + env] (one env per thread, the
//         threads of a warp touch consecutive addresses);
//   CPU:  LanePack<8>* over the same layout with 8 envs (v[i] holds element i of 8 envs), so every
//         operation below runs across envs in SIMD registers.
// Notation of Stellato et al. 2020 (OSQP, Algorithm 1): scaled problem P~ = c D P D, q~ = c D q,
// A~ = E A D; the blocks of the horizon are steps in reverse time (expert_qp.hpp).
#pragma once

#include <type_traits>
#include <utility>

#include "p2pgrid/core/hd.hpp"

// The functions an iteration is made of are inlined into one on the CPU, so that ExpertAdmm's
// per-ISA clones of the iteration (admm.cpp) compile all of it for their instruction set.
#if defined(__CUDACC__) || !defined(__GNUC__)
#define P2P_ADMM_INLINE
#else
#define P2P_ADMM_INLINE __attribute__((always_inline))
#endif

namespace p2pgrid {

#if !defined(__CUDACC__)
/// G envs' values of one element in single precision (the Anderson history, anderson.hpp).
template <int G>
struct alignas(4 * G) LanePackF {
  float v[G];
};

/// G envs' values of one element, stored together (CPU lanes); loops of a fixed count G that
/// the compiler turns into SIMD instructions.
template <int G>
struct alignas(8 * G) LanePack {
  double v[G];
  LanePack& operator+=(const LanePack& o) {
    for (int g = 0; g < G; ++g) v[g] += o.v[g];
    return *this;
  }
  LanePack& operator-=(const LanePack& o) {
    for (int g = 0; g < G; ++g) v[g] -= o.v[g];
    return *this;
  }
  friend LanePack operator*(double s, const LanePack& a) {
    LanePack r;
    for (int g = 0; g < G; ++g) r.v[g] = s * a.v[g];
    return r;
  }
  friend LanePack operator*(const LanePack& a, double s) { return s * a; }
  friend LanePack operator*(const LanePack& a, const LanePack& b) {
    LanePack r;
    for (int g = 0; g < G; ++g) r.v[g] = a.v[g] * b.v[g];
    return r;
  }
  friend LanePack operator+(const LanePack& a, const LanePack& b) {
    LanePack r;
    for (int g = 0; g < G; ++g) r.v[g] = a.v[g] + b.v[g];
    return r;
  }
  friend LanePack operator-(const LanePack& a, const LanePack& b) {
    LanePack r;
    for (int g = 0; g < G; ++g) r.v[g] = a.v[g] - b.v[g];
    return r;
  }
  friend LanePack operator-(const LanePack& a, double s) {
    LanePack r;
    for (int g = 0; g < G; ++g) r.v[g] = a.v[g] - s;
    return r;
  }
  friend LanePack lane_clamp(const LanePack& a, const LanePack& lo, const LanePack& hi) {
    LanePack r;
#if defined(__GNUC__) && !defined(__clang__)
    // As whole vectors: g++ turns the element loop below into scalar max/min and reassembles
    // the vector through the stack (a store-forwarding stall, 18 % of the rows pass).
    typedef double Vec __attribute__((vector_size(8 * G)));
    Vec va, vl, vh;
    __builtin_memcpy(&va, a.v, sizeof va);
    __builtin_memcpy(&vl, lo.v, sizeof vl);
    __builtin_memcpy(&vh, hi.v, sizeof vh);
    const Vec m = va < vl ? vl : va;
    const Vec c = m > vh ? vh : m;
    __builtin_memcpy(r.v, &c, sizeof c);
#else
    for (int g = 0; g < G; ++g) {
      const double m = a.v[g] < lo.v[g] ? lo.v[g] : a.v[g];
      r.v[g] = m > hi.v[g] ? hi.v[g] : m;
    }
#endif
    return r;
  }
};
/// Single precision to double and back (round to nearest), lane by lane.
template <int G>
LanePack<G> lane_widen(const LanePackF<G>& a) {
  LanePack<G> r;
  for (int g = 0; g < G; ++g) r.v[g] = a.v[g];
  return r;
}
template <int G>
LanePackF<G> lane_narrow(const LanePack<G>& a) {
  LanePackF<G> r;
  for (int g = 0; g < G; ++g) r.v[g] = static_cast<float>(a.v[g]);
  return r;
}
#if defined(__GNUC__) && !defined(__clang__)
// The CPU's groups (8 lanes, or 4 for a few envs) as whole vectors: g++ 12's SLP vectorizer at
// -O3 folds the element loops' double(float(x)) round trip above away in the Anderson record,
// so a sum of f^2 came out different from the CUDA thread's (tests/cuda_emulation caught it).
// (__builtin_convertvector takes no vector type that depends on a template parameter.)
#define P2P_LANE_CONVERSIONS(G)                                        \
  typedef float LaneVec##G##f __attribute__((vector_size(4 * G)));     \
  typedef double LaneVec##G##d __attribute__((vector_size(8 * G)));    \
  inline LanePack<G> lane_widen(const LanePackF<G>& a) {               \
    LaneVec##G##f f;                                                   \
    __builtin_memcpy(&f, a.v, sizeof f);                               \
    const LaneVec##G##d d = __builtin_convertvector(f, LaneVec##G##d); \
    LanePack<G> r;                                                     \
    __builtin_memcpy(r.v, &d, sizeof d);                               \
    return r;                                                          \
  }                                                                    \
  inline LanePackF<G> lane_narrow(const LanePack<G>& a) {              \
    LaneVec##G##d d;                                                   \
    __builtin_memcpy(&d, a.v, sizeof d);                               \
    const LaneVec##G##f f = __builtin_convertvector(d, LaneVec##G##f); \
    LanePackF<G> r;                                                    \
    __builtin_memcpy(r.v, &f, sizeof f);                               \
    return r;                                                          \
  }
P2P_LANE_CONVERSIONS(8)
P2P_LANE_CONVERSIONS(4)
#undef P2P_LANE_CONVERSIONS
#endif
#endif
P2P_HD double lane_widen(float a) { return a; }
P2P_HD float lane_narrow(double a) { return static_cast<float>(a); }

/// a where mask is nonzero, else b, lane by lane.
P2P_HD double lane_select(double mask, double a, double b) { return mask != 0 ? a : b; }
#if !defined(__CUDACC__)
template <int G>
LanePack<G> lane_select(const LanePack<G>& mask, const LanePack<G>& a, const LanePack<G>& b) {
  LanePack<G> r;
  for (int g = 0; g < G; ++g) r.v[g] = mask.v[g] != 0 ? a.v[g] : b.v[g];
  return r;
}
#endif

/// The same expression as LanePack's: a NaN stays NaN (never hidden by a bound).
P2P_HD double lane_clamp(double a, double lo, double hi) {
  const double m = a < lo ? lo : a;
  return m > hi ? hi : m;
}

/// A dual step dy (the change of y) on a row with bounds [lo, hi], projected onto the polar
/// cone of the bounds' recession cone, as OSQP's infeasibility test does (Stellato et al. 2020,
/// section 3.4): the share that pushes against an infinite bound (dy > 0 with hi at inf, dy < 0
/// with lo at -inf) is dropped, instead of voiding the certificate.
P2P_HD double lane_polar(double dy, double lo, double hi, double inf) {
  if (hi >= inf && dy > 0) dy = 0;
  if (lo <= -inf && dy < 0) dy = 0;
  return dy;
}
#if !defined(__CUDACC__)
template <int G>
LanePack<G> lane_polar(const LanePack<G>& dy, const LanePack<G>& lo, const LanePack<G>& hi,
                       double inf) {
  LanePack<G> r;
  for (int g = 0; g < G; ++g) r.v[g] = lane_polar(dy.v[g], lo.v[g], hi.v[g], inf);
  return r;
}
#endif

/// Every lane of t to v (a bound shared by all envs).
P2P_HD void lane_fill(double& t, double v) { t = v; }
/// Lane g's value, and the number of lanes of a type.
P2P_HD double lane_value(double t, int) { return t; }
template <class T>
struct LaneWidth {
  static constexpr int value = 1;
};
#if !defined(__CUDACC__)
template <int G>
void lane_fill(LanePack<G>& t, double v) {
  for (int g = 0; g < G; ++g) t.v[g] = v;
}
template <int G>
double lane_value(const LanePack<G>& t, int g) {
  return t.v[g];
}
template <int G>
struct LaneWidth<LanePack<G>> {
  static constexpr int value = G;
};
#endif

/// The voltage rows of a block as the feeder's tree (expert_qp.hpp, QpVoltageTree), scaled:
/// row r of node t has A~_r x = e_r sum_i (R_ti d_P,i x_P,i + X_ti d_Q,i x_Q,i).
struct AdmmTreeView {
  int nodes = 0, agents = 0;
  const int* parent = nullptr;      // [nodes] -1: the slack; parents come first
  const double* r = nullptr;        // [nodes] line from the parent, p.u. per kW
  const double* x = nullptr;        // [nodes] p.u. per kvar
  const int* agent_node = nullptr;  // [agents] >= 0 (prosumers at the slack are left out)
  const int* p_col = nullptr;       // [agents] column of P_EX in the block
  const int* q_col = nullptr;       // [agents] column of Q_EX
  const double* p_scale = nullptr;  // [agents] D of that column
  const double* q_scale = nullptr;
};

/// Where a row's scaled bounds are: most rows (device limits, P2P balance, inverter facets)
/// have the same bounds in every env and every step of a solve, and are read from one table
/// instead of every lane's vectors (the rows pass is bound by memory traffic). The others (those
/// that carry profiles, the state, or the voltage offsets) are the lanes' own, compacted.
struct AdmmBoundsView {
  int lane_rows = 0;           // rows per block with bounds of their own in each lane
  const int* slot = nullptr;   // [m] the row's index among those, -1 if in the table
  const double* lo = nullptr;  // [m] the table (scaled), where slot is -1
  const double* hi = nullptr;
};

/// The scaled constraint rows of one block, shared by every block and env (pointers into host or
/// device memory). Rows linking a step to the one before have entries in the next block. The
/// rows of the voltage tree have no CSR entries: row_node names their node.
struct AdmmRowsView {
  int n = 0, m = 0;               // variables and rows per block
  const int* self_ptr = nullptr;  // [m + 1] CSR of A~ on the row's own block
  const int* self_cols = nullptr;
  const double* self_vals = nullptr;
  const int* prev_ptr = nullptr;  // [m + 1] CSR of A~ on the next block (the step before)
  const int* prev_cols = nullptr;
  const double* prev_vals = nullptr;
  const double* rho = nullptr;     // [m] step size of each row at rho_scale 1
  const double* p_diag = nullptr;  // [n] diagonal of P~
  const double* q = nullptr;       // [steps * n] q~ by block
  const double* e = nullptr;       // [m] row scaling E
  const double* d = nullptr;       // [n] column scaling D
  double cost_scale = 1;           // c
  double infinity = 1e30;          // scaled bounds at or beyond +-infinity are infinite
  const int* row_node = nullptr;   // [m] node of a voltage-tree row, -1 for a CSR row
  AdmmTreeView tree;
  AdmmBoundsView bounds;  // of the current solve
};

/// The block-tridiagonal Cholesky factor of P~ + sigma I + A~' rho A~ (block_cholesky.hpp),
/// flat: block k's strictly lower L_kk rows are diag_ptr[k (n + 1) + i] .. [.. + i + 1].
struct FactorView {
  int n = 0, num_links = 0;
  const int* link_rows = nullptr;  // [num_links] rows of a block linked to the block before
  const int* diag_ptr = nullptr;   // [blocks * (n + 1)] absolute offsets
  const int* diag_cols = nullptr;
  const double* diag_vals = nullptr;
  const double* inv_diag = nullptr;  // [blocks * n] 1 / L_kk(i, i)
  const int* sub_ptr = nullptr;      // [(blocks - 1) * (num_links + 1)] rows of L_(k+1),k
  const int* sub_cols = nullptr;
  const double* sub_vals = nullptr;
};

template <class V>
using LaneOf = std::remove_cv_t<std::remove_reference_t<decltype(std::declval<V>()[0])>>;

/// The accessor of the elements from `offset` on.
template <class T>
P2P_HD T* lane_offset(T* v, int offset) {
  return v + offset;
}
template <class T>
P2P_HD Strided<T> lane_offset(Strided<T> v, int offset) {
  return Strided<T>{v.ptr + static_cast<long long>(offset) * v.stride, v.stride};
}

/// Scaled bounds E l, E u; infinite ones (beyond +-inf) stay at +-inf.
P2P_HD double admm_scaled_lower(double l, double e, double inf) { return l <= -inf ? -inf : e * l; }
P2P_HD double admm_scaled_upper(double u, double e, double inf) { return u >= inf ? inf : e * u; }

/// Row r of block k's bounds into (lo_r, hi_r): from the shared table, or the lane's own (lo,
/// hi: [blocks * bounds.lane_rows]).
template <class V>
P2P_HD P2P_ADMM_INLINE void admm_row_bounds(const AdmmRowsView& a, int k, int r, V lo, V hi,
                                            LaneOf<V>& lo_r, LaneOf<V>& hi_r) {
  const int slot = a.bounds.slot[r];
  if (slot >= 0) {
    lo_r = lo[k * a.bounds.lane_rows + slot];
    hi_r = hi[k * a.bounds.lane_rows + slot];
  } else {
    lane_fill(lo_r, a.bounds.lo[r]);
    lane_fill(hi_r, a.bounds.hi[r]);
  }
}

/// acc - sum_p vals[p] x[cols[p]] over p in [begin, end), in four interleaved partial sums: a
/// single running sum would make every term wait for the one before (a chain of dependent
/// multiply-adds, 4 cycles each), the bound of the forward sweeps on both the CPU and the GPU.
template <class V>
P2P_HD P2P_ADMM_INLINE LaneOf<V> sparse_row_residual(const LaneOf<V>& start, const double* vals,
                                                     const int* cols, int begin, int end, V x) {
  using T = LaneOf<V>;
  T acc = start, s1{}, s2{}, s3{};
  int p = begin;
  for (; p + 4 <= end; p += 4) {
    acc -= vals[p] * x[cols[p]];
    s1 -= vals[p + 1] * x[cols[p + 1]];
    s2 -= vals[p + 2] * x[cols[p + 2]];
    s3 -= vals[p + 3] * x[cols[p + 3]];
  }
  for (; p < end; ++p) acc -= vals[p] * x[cols[p]];
  return (acc + s1) + (s2 + s3);
}

/// Solves (L L') x = b on the leading `blocks` blocks (b is read, x written; they may be the
/// same vector).
template <class V>
P2P_HD P2P_ADMM_INLINE void factor_solve(const FactorView& f, int blocks, V b, V x) {
  using T = LaneOf<V>;
  const int n = f.n, nl = f.num_links;
  for (int k = 0; k < blocks; ++k) {  // forward: L y = b
    const int o = k * n;
    const V xk = lane_offset(x, o);
    for (int i = 0; i < n; ++i) x[o + i] = b[o + i];  // in cache for the sweep below
    if (k > 0) {
      const int* sp = f.sub_ptr + (k - 1) * (nl + 1);
      const V xprev = lane_offset(x, o - n);
      for (int r = 0; r < nl; ++r)
        xk[f.link_rows[r]] = sparse_row_residual(xk[f.link_rows[r]], f.sub_vals, f.sub_cols, sp[r],
                                                 sp[r + 1], xprev);
    }
    const int* dp = f.diag_ptr + k * (n + 1);
    for (int i = 0; i < n; ++i)
      xk[i] = sparse_row_residual(xk[i], f.diag_vals, f.diag_cols, dp[i], dp[i + 1], xk) *
              f.inv_diag[o + i];
  }
  for (int k = blocks - 1; k >= 0; --k) {  // backward: L' x = y
    const int o = k * n;
    if (k + 1 < blocks) {
      const int* sp = f.sub_ptr + k * (nl + 1);
      for (int r = 0; r < nl; ++r) {
        const T src = x[o + n + f.link_rows[r]];
        for (int p = sp[r]; p < sp[r + 1]; ++p) x[o + f.sub_cols[p]] -= f.sub_vals[p] * src;
      }
    }
    const int* dp = f.diag_ptr + k * (n + 1);
    for (int i = n - 1; i >= 0; --i) {
      const T xi = x[o + i] * f.inv_diag[o + i];
      x[o + i] = xi;
      for (int p = dp[i]; p < dp[i + 1]; ++p) x[o + f.diag_cols[p]] -= f.diag_vals[p] * xi;
    }
  }
}

/// The tree's voltages of block k (Lou et al. 2025's LinDistFlow, eqs. of expert_qp.hpp) from
/// the injections in x: s[t] = V_t (unscaled, p.u.) for every node; s[nodes + t] is scratch.
/// A tree row's product is then e_r s[row_node[r]] (admm_row_product).
template <class V>
P2P_HD P2P_ADMM_INLINE void tree_voltages(const AdmmRowsView& a, int k, V x, V s) {
  using T = LaneOf<V>;
  const AdmmTreeView& t = a.tree;
  const int nt = t.nodes;
  for (int i = 0; i < 2 * nt; ++i) s[i] = T{};
  for (int j = 0; j < t.agents; ++j) {  // injections: s = F_P, s[nt + .] = F_Q
    s[t.agent_node[j]] += t.p_scale[j] * x[k * a.n + t.p_col[j]];
    s[nt + t.agent_node[j]] += t.q_scale[j] * x[k * a.n + t.q_col[j]];
  }
  for (int i = nt - 1; i >= 0; --i) {  // flows: children into parents
    const int p = t.parent[i];
    if (p < 0) continue;
    s[p] += s[i];
    s[nt + p] += s[nt + i];
  }
  for (int i = 0; i < nt; ++i) {  // voltages: the parent's plus this line's drop
    const int p = t.parent[i];
    T v = t.r[i] * s[i] + t.x[i] * s[nt + i];
    if (p >= 0) v += s[p];
    s[i] = v;
  }
}

/// out += A~' w over the tree rows of block k, given s[t] = e_r w_r at the node of each tree
/// row (0 at the others): the transpose of tree_voltages (sums up the tree, then down).
template <class V>
P2P_HD P2P_ADMM_INLINE void tree_add_transpose(const AdmmRowsView& a, int k, V s, V out) {
  using T = LaneOf<V>;
  const AdmmTreeView& t = a.tree;
  const int nt = t.nodes;
  for (int i = nt - 1; i >= 0; --i)  // weight of the nodes at or below each node
    if (t.parent[i] >= 0) s[t.parent[i]] += s[i];
  for (int i = 0; i < nt; ++i) {  // sensitivity sums down the paths: s = P part, s[nt + .] = Q
    const int p = t.parent[i];
    T cq = t.x[i] * s[i];
    T cp = t.r[i] * s[i];
    if (p >= 0) {
      cq += s[nt + p];
      cp += s[p];
    }
    s[nt + i] = cq;
    s[i] = cp;
  }
  for (int j = 0; j < t.agents; ++j) {
    out[k * a.n + t.p_col[j]] += t.p_scale[j] * s[t.agent_node[j]];
    out[k * a.n + t.q_col[j]] += t.q_scale[j] * s[nt + t.agent_node[j]];
  }
}

/// out += w A~_i' for row i = k m + r (the transpose of admm_row_product): its CSR entries
/// directly, and for a voltage-tree row its weight e_r w at its node of `tree`, which
/// tree_add_transpose spreads once the block's rows are done.
template <class V>
P2P_HD P2P_ADMM_INLINE void admm_add_row_transpose(const AdmmRowsView& a, int blocks, int k, int r,
                                                   const LaneOf<V>& w, V out, V tree) {
  if (a.row_node[r] >= 0) tree[a.row_node[r]] = a.e[r] * w;
  for (int p = a.self_ptr[r]; p < a.self_ptr[r + 1]; ++p)
    out[k * a.n + a.self_cols[p]] += a.self_vals[p] * w;
  if (k + 1 < blocks)
    for (int p = a.prev_ptr[r]; p < a.prev_ptr[r + 1]; ++p)
      out[(k + 1) * a.n + a.prev_cols[p]] += a.prev_vals[p] * w;
}

/// The duals of row r from w = z + y / rho (the one vector a lane keeps per row instead of z and
/// y): z = clamp(w, l, u) and y = rho (w - z). This is exact for OSQP's iterates: its
/// z-update is z = clamp(v) with v = z^ + y_old / rho, and its y-update then gives
/// y = rho (v - z), so w is v. (A cold start is w = clamp(0, l, u): y = 0, z = clamp(0).)
template <class T>
P2P_HD P2P_ADMM_INLINE T admm_dual(const T& w, const T& z, double rho) {
  return rho * (w - z);
}

/// Weights of a product A~' v.
enum class AtWeights { kY, kYMinusYPrev };  // y | y - y_prev

/// out += A~' v on the leading `blocks` blocks, v = y or y - y_prev from w and w_prev (at the
/// same rho); `tree` is scratch of 2 * tree.nodes.
template <AtWeights W, class V>
P2P_HD P2P_ADMM_INLINE void admm_add_at(const AdmmRowsView& a, int blocks, double rho_scale, V w,
                                        V w_prev, V lo, V hi, V out, V tree) {
  using T = LaneOf<V>;
  const int m = a.m;
  for (int k = 0; k < blocks; ++k) {
    for (int i = 0; i < a.tree.nodes; ++i) tree[i] = T{};
    for (int r = 0; r < m; ++r) {
      const int i = k * m + r;
      const double rho = rho_scale * a.rho[r];
      T lo_r, hi_r;
      admm_row_bounds(a, k, r, lo, hi, lo_r, hi_r);
      T v = admm_dual(w[i], lane_clamp(w[i], lo_r, hi_r), rho);
      if (W == AtWeights::kYMinusYPrev) {
        v -= admm_dual(w_prev[i], lane_clamp(w_prev[i], lo_r, hi_r), rho);
        v = lane_polar(v, lo_r, hi_r, a.infinity);  // as admm_stats_row's dy
      }
      admm_add_row_transpose(a, blocks, k, r, v, out, tree);
    }
    if (a.tree.nodes > 0) tree_add_transpose(a, k, tree, out);
  }
}

/// Row i = k m + r of A~ x; `tree` holds tree_voltages(a, k, x, .).
template <class V>
P2P_HD P2P_ADMM_INLINE LaneOf<V> admm_row_product(const AdmmRowsView& a, int blocks, int k, int r,
                                                  V x, V tree) {
  LaneOf<V> acc{};
  for (int p = a.self_ptr[r]; p < a.self_ptr[r + 1]; ++p)
    acc += a.self_vals[p] * x[k * a.n + a.self_cols[p]];
  if (k + 1 < blocks)
    for (int p = a.prev_ptr[r]; p < a.prev_ptr[r + 1]; ++p)
      acc += a.prev_vals[p] * x[(k + 1) * a.n + a.prev_cols[p]];
  if (a.row_node[r] >= 0) acc += a.e[r] * tree[a.row_node[r]];
  return acc;
}

/// Block k's share of a rows pass: (kUpdate) x <- alpha x~ + (1 - alpha) x, then
/// rhs = sigma x - q~ (the rows add A~'(rho z - y) after).
template <bool kUpdate, class V>
P2P_HD P2P_ADMM_INLINE void admm_start_block(const AdmmRowsView& a, int k, double sigma,
                                             double alpha, V x, V xt, V rhs) {
  for (int j = 0; j < a.n; ++j) {
    const int i = k * a.n + j;
    if (kUpdate) x[i] = alpha * xt[i] + (1 - alpha) * x[i];
    rhs[i] = sigma * x[i] - a.q[i];
  }
}

/// One pass over the rows, block by block, so that every row's data is loaded once per
/// iteration: with kUpdate, the end of an ADMM iteration (OSQP Algorithm 1, steps 4-6) in
/// terms of w = z + y / rho (admm_dual):
///   x <- alpha x~ + (1 - alpha) x
///   z = clamp(w);  z^ = alpha A~ x~ + (1 - alpha) z;  w <- z^ + (w - z)   (= z^ + y / rho)
/// and, with or without, the right-hand side of the next iteration's KKT solve
///   rhs = sigma x - q~ + A~'(rho z - y),  rho z - y = rho (2 clamp(w) - w).
/// Without kUpdate, w is first rescaled to a new rho: w <- z + (w - z) w_scale, w_scale =
/// rho_old / rho (y is kept), unless w_scale is 1.
/// `tree` is scratch of 4 * tree.nodes (voltages, then weights); lo and hi are the lane's own
/// bounds (admm_row_bounds). Without kUpdate, xt is not read.
template <bool kUpdate, class V>
P2P_HD P2P_ADMM_INLINE void admm_rows_pass(const AdmmRowsView& a, int blocks, double rho_scale,
                                           double sigma, double alpha, double w_scale, V x, V xt,
                                           V w, V lo, V hi, V rhs, V tree) {
  using T = LaneOf<V>;
  const int m = a.m, nt = a.tree.nodes;
  const V volts = tree, weights = lane_offset(tree, 2 * nt);
  admm_start_block<kUpdate>(a, 0, sigma, alpha, x, xt, rhs);
  for (int k = 0; k < blocks; ++k) {
    // Rows of block k reach into block k + 1 (the step before): start it first.
    if (k + 1 < blocks) admm_start_block<kUpdate>(a, k + 1, sigma, alpha, x, xt, rhs);
    if (kUpdate && nt > 0) tree_voltages(a, k, xt, volts);
    for (int t = 0; t < nt; ++t) weights[t] = T{};
    for (int r = 0; r < m; ++r) {
      const int i = k * m + r;
      const double rho = rho_scale * a.rho[r];
      T lo_r, hi_r;
      admm_row_bounds(a, k, r, lo, hi, lo_r, hi_r);
      T wi = w[i];
      if (kUpdate) {
        const T z = lane_clamp(wi, lo_r, hi_r);
        const T zh = alpha * admm_row_product(a, blocks, k, r, xt, volts) + (1 - alpha) * z;
        wi = zh + (wi - z);
        w[i] = wi;
      } else if (w_scale != 1.0) {
        const T z = lane_clamp(wi, lo_r, hi_r);
        wi = z + w_scale * (wi - z);
        w[i] = wi;
      }
      const T z = lane_clamp(wi, lo_r, hi_r);
      admm_add_row_transpose(a, blocks, k, r, rho * (z + z - wi), rhs, weights);
    }
    if (nt > 0) tree_add_transpose(a, k, weights, rhs);
  }
}

/// rhs = sigma x - q~ + A~'(rho z - y) from the current iterates: before the first iteration,
/// and after a lane was refilled or rho changed (w_scale = rho_old / rho_new: w is rescaled so
/// that y stays); the iterations keep it up to date otherwise, with the same arithmetic.
template <class V>
P2P_HD P2P_ADMM_INLINE void admm_rhs(const AdmmRowsView& a, int blocks, double rho_scale,
                                     double sigma, double w_scale, V x, V w, V lo, V hi, V rhs,
                                     V tree) {
  admm_rows_pass<false>(a, blocks, rho_scale, sigma, 0.0, w_scale, x, x, w, lo, hi, rhs, tree);
}

/// One ADMM iteration (OSQP Algorithm 1, steps 3-6) of the lanes behind the accessors:
///   x~ solves (P~ + sigma I + A~' rho A~) x~ = rhs   (into xt)
/// then admm_rows_pass (the updates, and the next rhs). `w_prev` receives w before its update
/// when save_w (for the infeasibility check's dy).
template <class V>
P2P_HD P2P_ADMM_INLINE void admm_iteration(const AdmmRowsView& a, const FactorView& f, int blocks,
                                           double rho_scale, double sigma, double alpha, V x, V xt,
                                           V w, V lo, V hi, V w_prev, V rhs, V tree, bool save_w) {
  factor_solve(f, blocks, rhs, xt);
  if (save_w)
    for (int i = 0; i < blocks * a.m; ++i) w_prev[i] = w[i];
  admm_rows_pass<true>(a, blocks, rho_scale, sigma, alpha, 1.0, x, xt, w, lo, hi, rhs, tree);
}

/// Unscaled residuals of one lane (OSQP sections 3.4 and 5.1), for the termination test and
/// the rho update; and the primal infeasibility certificate from dy = y - y_prev.
struct AdmmLaneStats {
  double prim = 0, ax = 0, zn = 0;            // |Ax - z|, |Ax|, |z|  (inf-norms, unscaled)
  double dual = 0, px = 0, aty = 0, qn = 0;   // |Px + q + A'y|, |Px|, |A'y|, |q|
  double dy_norm = 0, support = 0, atdy = 0;  // |dy|, u'dy+ + l'dy-, |A'dy|
};

/// The products the statistics need, for any lane width: ax = A~ x [blocks * m],
/// aty = A~' y and atdy = A~'(y - y_prev) [blocks * n] (y, y_prev from w, w_prev);
/// `tree` is scratch of 2 * tree.nodes.
template <class V>
P2P_HD P2P_ADMM_INLINE void admm_check_products(const AdmmRowsView& a, int blocks, double rho_scale,
                                                V x, V w, V w_prev, V lo, V hi, V ax, V aty, V atdy,
                                                V tree) {
  const int nh = blocks * a.n;
  for (int k = 0; k < blocks; ++k) {
    if (a.tree.nodes > 0) tree_voltages(a, k, x, tree);
    for (int r = 0; r < a.m; ++r) ax[k * a.m + r] = admm_row_product(a, blocks, k, r, x, tree);
  }
  for (int i = 0; i < nh; ++i) aty[i] = LaneOf<V>{};
  for (int i = 0; i < nh; ++i) atdy[i] = LaneOf<V>{};
  admm_add_at<AtWeights::kY>(a, blocks, rho_scale, w, w, lo, hi, aty, tree);
  admm_add_at<AtWeights::kYMinusYPrev>(a, blocks, rho_scale, w, w_prev, lo, hi, atdy, tree);
}

/// Row r's share of a lane's statistics from its scaled values: ax = (A~ x)_r, w and w_prev,
/// bounds lo, hi, step size rho, row scaling e.
P2P_HD void admm_stats_row(AdmmLaneStats& s, double e, double rho, double inf, double ax, double w,
                           double w_prev, double lo, double hi) {
  const double z = lane_clamp(w, lo, hi);
  const double y = admm_dual(w, z, rho),
               y_prev = admm_dual(w_prev, lane_clamp(w_prev, lo, hi), rho);
  const double axi = ax / e, zi = z / e;
  s.prim = p2p_max(s.prim, fabs(axi - zi));
  s.ax = p2p_max(s.ax, fabs(axi));
  s.zn = p2p_max(s.zn, fabs(zi));
  // The certificate's dy, projected (lane_polar): what is left meets finite bounds only.
  const double dy = lane_polar(y - y_prev, lo, hi, inf) * e;
  s.dy_norm = p2p_max(s.dy_norm, fabs(dy));
  if (dy > 0)
    s.support += hi / e * dy;
  else if (dy < 0)
    s.support += lo / e * dy;
}

/// Variable i's share of a lane's statistics (i over the horizon, blocks * n).
P2P_HD void admm_stats_col(AdmmLaneStats& s, const AdmmRowsView& a, int i, double x, double aty,
                           double atdy) {
  const double inv = 1.0 / (a.d[i % a.n] * a.cost_scale);
  const double px = a.p_diag[i % a.n] * x;
  s.dual = p2p_max(s.dual, fabs((px + a.q[i] + aty) * inv));
  s.px = p2p_max(s.px, fabs(px * inv));
  s.aty = p2p_max(s.aty, fabs(aty * inv));
  s.qn = p2p_max(s.qn, fabs(a.q[i] * inv));
  s.atdy = p2p_max(s.atdy, fabs(atdy / a.d[i % a.n]));
}

/// Statistics of the lanes behind the accessors (stats[g] for each of their LaneWidth lanes)
/// from the products of admm_check_products: rows then variables in order, every lane's values
/// in one pass over the vectors.
template <class V>
P2P_HD P2P_ADMM_INLINE void admm_lane_stats(const AdmmRowsView& a, int blocks, double rho_scale,
                                            double inf, V x, V w, V w_prev, V lo, V hi, V ax, V aty,
                                            V atdy, AdmmLaneStats* stats) {
  using T = LaneOf<V>;
  constexpr int G = LaneWidth<T>::value;
  for (int g = 0; g < G; ++g) stats[g] = AdmmLaneStats{};
  for (int k = 0; k < blocks; ++k)
    for (int r = 0; r < a.m; ++r) {
      const int i = k * a.m + r;
      T lo_r, hi_r;
      admm_row_bounds(a, k, r, lo, hi, lo_r, hi_r);
      const double rho = rho_scale * a.rho[r];
      for (int g = 0; g < G; ++g)
        admm_stats_row(stats[g], a.e[r], rho, inf, lane_value(ax[i], g), lane_value(w[i], g),
                       lane_value(w_prev[i], g), lane_value(lo_r, g), lane_value(hi_r, g));
    }
  for (int i = 0; i < blocks * a.n; ++i)
    for (int g = 0; g < G; ++g)
      admm_stats_col(stats[g], a, i, lane_value(x[i], g), lane_value(aty[i], g),
                     lane_value(atdy[i], g));
}

/// A lane's start (ExpertAdmm::load_lane): from an unscaled warm start (xu, zu, yu: AdmmIterate's
/// x, z, y), x~ = x / D and w = z~ + y~ / rho at rho_scale (admm_dual); cold, x~ = 0 and
/// w = clamp(0, l~, u~), i.e. y = 0 and OSQP's z = 0 projected, so that the start does not
/// depend on rho (w = 0 would mean y = -rho clamp(0)). lo and hi are the lane's own bounds
/// (admm_row_bounds). The host's CPU lanes and the CUDA start kernel run this one source.
template <class U, class V>
P2P_HD void admm_start_lane(const AdmmRowsView& a, int blocks, double rho_scale, bool warm, U xu,
                            U zu, U yu, V lo, V hi, V x, V w) {
  for (int i = 0; i < blocks * a.n; ++i) x[i] = warm ? xu[i] / a.d[i % a.n] : 0.0;
  for (int i = 0; i < blocks * a.m; ++i) {
    const int r = i % a.m, k = i / a.m;
    double lo_r, hi_r;
    admm_row_bounds(a, k, r, lo, hi, lo_r, hi_r);
    if (warm) {
      // The first step's rows that link it to the step before (SOC dynamics, CDG ramp) hold the
      // known previous value in their bounds, which move with the state a re-plan starts from:
      // their z is moved into the new bounds so that their y is kept (w - clamp(w) alone would
      // turn the whole shift into dual, rho x hundreds of kWh).
      double z = zu[i] * a.e[r];
      if (k == blocks - 1 && a.prev_ptr[r + 1] > a.prev_ptr[r]) z = lane_clamp(z, lo_r, hi_r);
      w[i] = z + yu[i] * a.cost_scale / a.e[r] / (rho_scale * a.rho[r]);
    } else {
      w[i] = lane_clamp(0.0, lo_r, hi_r);
    }
  }
}

/// A lane's iterate in unscaled units (ExpertAdmm::store_lane): x = D x~, z = clamp(w) / E and
/// y = rho (w - clamp(w)) E / c, with w at rho_scale; the inverse of admm_start_lane.
template <class V, class U>
P2P_HD void admm_unscale_lane(const AdmmRowsView& a, int blocks, double rho_scale, V x, V w, V lo,
                              V hi, U xu, U zu, U yu) {
  for (int i = 0; i < blocks * a.n; ++i) xu[i] = x[i] * a.d[i % a.n];
  for (int i = 0; i < blocks * a.m; ++i) {
    const int r = i % a.m;
    double lo_r, hi_r;
    admm_row_bounds(a, i / a.m, r, lo, hi, lo_r, hi_r);
    const double z = lane_clamp(w[i], lo_r, hi_r);
    zu[i] = z / a.e[r];
    yu[i] = admm_dual(w[i], z, rho_scale * a.rho[r]) * a.e[r] / a.cost_scale;
  }
}

/// Device vectors of a batch, lane-major (element i of env e at [i * batch + e]): x, xt, rhs,
/// atdy [blocks * n, batch]; w, w_prev, ax [blocks * m, batch]; lo, hi
/// [blocks * bounds.lane_rows, batch] (AdmmBoundsView); tree [4 * tree.nodes, batch]
/// (scratch). xt doubles as the A~'y of the statistics (every iteration rewrites it).
struct AdmmLaneVectors {
  double *x, *xt, *rhs, *w, *w_prev, *lo, *hi, *ax, *atdy, *tree;
};

P2P_HD Strided<double> lane_of(double* v, int env, int batch) {
  return Strided<double>{v + env, batch};
}

/// The work of env e's CUDA thread between two checks: `iterations` ADMM iterations with the
/// factor of its group's rho level; the last one saves w into w_prev.
P2P_HD void admm_env_iterations(const AdmmRowsView& rows, const FactorView& f, double rho_scale,
                                int batch, int e, int blocks, double sigma, double alpha,
                                int iterations, const AdmmLaneVectors& v) {
  for (int it = 0; it < iterations; ++it)
    admm_iteration(rows, f, blocks, rho_scale, sigma, alpha, lane_of(v.x, e, batch),
                   lane_of(v.xt, e, batch), lane_of(v.w, e, batch), lane_of(v.lo, e, batch),
                   lane_of(v.hi, e, batch), lane_of(v.w_prev, e, batch), lane_of(v.rhs, e, batch),
                   lane_of(v.tree, e, batch), it + 1 == iterations);
}

/// The work of env e's CUDA thread when its start or its rho level changed (w_scale = rho_old /
/// rho_new): the rhs of its next iteration (admm_rhs).
P2P_HD void admm_env_rhs(const AdmmRowsView& rows, double rho_scale, double w_scale, int batch,
                         int e, int blocks, double sigma, const AdmmLaneVectors& v) {
  admm_rhs(rows, blocks, rho_scale, sigma, w_scale, lane_of(v.x, e, batch), lane_of(v.w, e, batch),
           lane_of(v.lo, e, batch), lane_of(v.hi, e, batch), lane_of(v.rhs, e, batch),
           lane_of(v.tree, e, batch));
}

/// The work of env e's CUDA thread when a solve's bounds were computed on the device: the
/// scaled bounds of its lane rows (those with bounds.slot >= 0) from its unscaled l and u
/// [blocks * m, batch] into lo and hi [blocks * lane_rows, batch].
P2P_HD void admm_env_lane_bounds(const AdmmRowsView& a, int batch, int e, int blocks, double inf,
                                 const double* l, const double* u, double* lo_all, double* hi_all) {
  const int lr = a.bounds.lane_rows;
  const Strided<const double> le{l + e, batch}, ue{u + e, batch};
  const Strided<double> lo = lane_of(lo_all, e, batch), hi = lane_of(hi_all, e, batch);
  for (int k = 0; k < blocks; ++k)
    for (int r = 0; r < a.m; ++r) {
      const int slot = a.bounds.slot[r];
      if (slot < 0) continue;
      lo[k * lr + slot] = admm_scaled_lower(le[k * a.m + r], a.e[r], inf);
      hi[k * lr + slot] = admm_scaled_upper(ue[k * a.m + r], a.e[r], inf);
    }
}

/// Whether element i of env e's bounds l, u ([len, batch], row r = i % m) differs from row
/// r of env 0's first block (a NaN always does): such a row cannot be in the shared table.
P2P_HD bool admm_bound_differs(const double* l, const double* u, int batch, int m, long long i,
                               int e) {
  const long long r = i % m;
  const long long at = i * batch + e, ref = r * batch;
  return !(l[at] == l[ref]) || !(u[at] == u[ref]);
}

/// Where env e's warm start is on the device: element i of its unscaled x, z and y at
/// [i * stride] (a lane of a previous solve's AdmmDeviceIterates, or of a staged copy of host
/// iterates); x null for a cold start.
struct AdmmWarmSource {
  const double* x = nullptr;
  const double* z = nullptr;
  const double* y = nullptr;
  int stride = 0;
};

/// The work of env e's CUDA thread at the start of a solve (admm_start_lane): x~ and w, from its
/// warm start or cold, at its group's rho scale; the lane's own bounds must be loaded.
P2P_HD void admm_env_start(const AdmmRowsView& rows, double rho_scale, int batch, int e, int blocks,
                           const AdmmWarmSource& src, const AdmmLaneVectors& v) {
  const Strided<const double> xu{src.x, src.stride}, zu{src.z, src.stride}, yu{src.y, src.stride};
  admm_start_lane(rows, blocks, rho_scale, src.x != nullptr, xu, zu, yu, lane_of(v.lo, e, batch),
                  lane_of(v.hi, e, batch), lane_of(v.x, e, batch), lane_of(v.w, e, batch));
}

/// The work of env e's CUDA thread at the end of a solve (admm_unscale_lane, w at the rho scale
/// its env ended at): its unscaled x, z, y into lane-major [len, batch] vectors.
P2P_HD void admm_env_unscale(const AdmmRowsView& rows, double rho_scale, int batch, int e,
                             int blocks, const AdmmLaneVectors& v, double* xu, double* zu,
                             double* yu) {
  admm_unscale_lane(rows, blocks, rho_scale, lane_of(v.x, e, batch), lane_of(v.w, e, batch),
                    lane_of(v.lo, e, batch), lane_of(v.hi, e, batch), lane_of(xu, e, batch),
                    lane_of(zu, e, batch), lane_of(yu, e, batch));
}

/// The work of env e's CUDA thread at a check: its residual statistics.
P2P_HD AdmmLaneStats admm_env_stats(const AdmmRowsView& rows, double rho_scale, int batch, int e,
                                    int blocks, double inf, const AdmmLaneVectors& v) {
  admm_check_products(rows, blocks, rho_scale, lane_of(v.x, e, batch), lane_of(v.w, e, batch),
                      lane_of(v.w_prev, e, batch), lane_of(v.lo, e, batch), lane_of(v.hi, e, batch),
                      lane_of(v.ax, e, batch), lane_of(v.xt, e, batch), lane_of(v.atdy, e, batch),
                      lane_of(v.tree, e, batch));
  AdmmLaneStats s;
  admm_lane_stats(rows, blocks, rho_scale, inf, lane_of(v.x, e, batch), lane_of(v.w, e, batch),
                  lane_of(v.w_prev, e, batch), lane_of(v.lo, e, batch), lane_of(v.hi, e, batch),
                  lane_of(v.ax, e, batch), lane_of(v.xt, e, batch), lane_of(v.atdy, e, batch), &s);
  return s;
}

}  // namespace p2pgrid
