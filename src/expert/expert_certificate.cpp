// The weak-duality certificate of a plan (expert_certificate.hpp). Step for step the algorithm
// of tools/check_qp.py's certificate(), on the QP's block structure instead of an exported file.
#include "p2pgrid/expert/expert_certificate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "p2pgrid/core/error.hpp"

namespace p2pgrid {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// The rows of A over `blocks` blocks, explicit zeros dropped (a row's only entry must not be
/// one): row i = k * m_b + r holds its block's columns and, unless k is the last block, its
/// links into block k + 1 (the step before).
struct RowMatrix {
  std::vector<std::size_t> start;  // [m + 1]
  std::vector<std::size_t> col;
  std::vector<double> val;
};

RowMatrix horizon_rows(const ExpertQp& qp, int blocks) {
  const std::size_t nb = qp.block_vars;
  RowMatrix a;
  a.start.reserve(std::size_t(blocks) * qp.block_rows + 1);
  a.start.push_back(0);
  for (int k = 0; k < blocks; ++k)
    for (const QpRowInfo& row : qp.rows) {
      for (std::size_t e = 0; e < row.cols.size(); ++e)
        if (row.vals[e] != 0.0) {
          a.col.push_back(k * nb + row.cols[e]);
          a.val.push_back(row.vals[e]);
        }
      if (k + 1 < blocks)
        for (std::size_t e = 0; e < row.prev_cols.size(); ++e)
          if (row.prev_vals[e] != 0.0) {
            a.col.push_back((k + 1) * nb + row.prev_cols[e]);
            a.val.push_back(row.prev_vals[e]);
          }
      a.start.push_back(a.col.size());
    }
  return a;
}

/// Boxes lo <= x <= hi from the single-entry rows, then `passes` rounds of bound propagation
/// through the other rows (a x_j <= u_i - min of the row's other terms, and the same from l_i),
/// each from the boxes of the round before. Every propagated bound is loosened by 1e-9 of the
/// sizes it comes from, far beyond their rounding, so that no rounding can cut the optimum.
void variable_boxes(const RowMatrix& a, const std::vector<double>& l, const std::vector<double>& u,
                    const std::vector<char>& single, std::vector<double>& lo,
                    std::vector<double>& hi, int passes = 3) {
  const std::size_t m = l.size();
  for (std::size_t i = 0; i < m; ++i) {
    if (!single[i]) continue;
    const std::size_t e = a.start[i];
    const double v = a.val[e];
    const std::size_t j = a.col[e];
    lo[j] = std::max(lo[j], v > 0 ? l[i] / v : u[i] / v);
    hi[j] = std::min(hi[j], v > 0 ? u[i] / v : l[i] / v);
  }
  for (int pass = 0; pass < passes; ++pass) {
    std::vector<double> new_lo = lo, new_hi = hi;
    for (std::size_t i = 0; i < m; ++i) {
      if (single[i]) continue;
      // Each term's least and largest value over the boxes; the finite ones' sums and sizes.
      double sum_min = 0, sum_max = 0, size_min = 0, size_max = 0;
      int inf_min = 0, inf_max = 0;
      for (std::size_t e = a.start[i]; e < a.start[i + 1]; ++e) {
        const double v = a.val[e], p = v * lo[a.col[e]], q = v * hi[a.col[e]];
        const double t_min = std::min(p, q), t_max = std::max(p, q);
        if (std::isfinite(t_min))
          sum_min += t_min, size_min += std::abs(t_min);
        else
          ++inf_min;
        if (std::isfinite(t_max))
          sum_max += t_max, size_max += std::abs(t_max);
        else
          ++inf_max;
      }
      for (std::size_t e = a.start[i]; e < a.start[i + 1]; ++e) {
        const double v = a.val[e], p = v * lo[a.col[e]], q = v * hi[a.col[e]];
        const double t_min = std::min(p, q), t_max = std::max(p, q);
        const bool fin_min = std::isfinite(t_min), fin_max = std::isfinite(t_max);
        const double rest_min =
            inf_min - (fin_min ? 0 : 1) > 0 ? -kInf : sum_min - (fin_min ? t_min : 0);
        const double rest_max =
            inf_max - (fin_max ? 0 : 1) > 0 ? kInf : sum_max - (fin_max ? t_max : 0);
        const double upper = (u[i] - rest_min) / v;  // v x_j <= u - min(rest)
        const double lower = (l[i] - rest_max) / v;  // v x_j >= l - max(rest)
        const double slack_u =
            1e-9 * (std::abs(upper) + (size_min + std::abs(u[i])) / std::abs(v) + 1.0);
        const double slack_l =
            1e-9 * (std::abs(lower) + (size_max + std::abs(l[i])) / std::abs(v) + 1.0);
        const double bound_hi = v > 0 ? upper + slack_u : lower + slack_l;  // inf - inf: NaN
        const double bound_lo = v > 0 ? lower - slack_l : upper - slack_u;
        const std::size_t j = a.col[e];
        if (!std::isnan(bound_hi)) new_hi[j] = std::min(new_hi[j], bound_hi);
        if (!std::isnan(bound_lo)) new_lo[j] = std::max(new_lo[j], bound_lo);
      }
    }
    lo.swap(new_lo);
    hi.swap(new_hi);
  }
  for (std::size_t j = 0; j < lo.size(); ++j) hi[j] = std::max(hi[j], lo[j]);
}

/// The reduced costs r = q + A_R'y as computed, with what bounds their rounding: r_abs_j, the
/// sum of the magnitudes of everything added into r_j, and ops_j, the number of additions.
struct ReducedCosts {
  std::vector<double> r, r_abs;
  std::vector<int> ops;
  /// |computed r_j - exact r_j| <= error(j): each addition and product rounds by at most half
  /// an ulp of a value no larger than r_abs_j (epsilon is a whole ulp at 1).
  double error(std::size_t j) const {
    return (ops[j] + 2) * std::numeric_limits<double>::epsilon() * r_abs[j];
  }
  void add(std::size_t j, double v) {
    r[j] += v;
    r_abs[j] += std::abs(v);
    ++ops[j];
  }
};

/// Shifts the multipliers of equality rows so that no linear variable (P_jj = 0) unbounded in a
/// direction has a reduced cost r_j pulling it that way (at an exact optimum none does: buying
/// from the grid and selling to it at once only costs the spread). Each such row takes the
/// smallest shift that settles its variables at least `past_j` past zero (beyond r_j's
/// rounding), row after row, for a few sweeps (the P2P trades sit in two rows). Rows go in the
/// order of their first such variable, as in check_qp.py. Returns the largest shift; y and the
/// costs are updated.
double repair_unbounded(const RowMatrix& a, const std::vector<double>& l,
                        const std::vector<double>& u, const std::vector<char>& dualized,
                        const std::vector<double>& lo, const std::vector<double>& hi,
                        const std::vector<char>& linear, const std::vector<double>& past,
                        std::vector<double>& y, ReducedCosts& rc, int sweeps = 400) {
  const std::size_t m = l.size();
  auto needs = [&](std::size_t j) {
    return linear[j] && (!std::isfinite(hi[j]) || !std::isfinite(lo[j]));
  };
  std::vector<std::pair<std::size_t, std::size_t>> order;  // (first such column, row)
  for (std::size_t i = 0; i < m; ++i) {
    if (!dualized[i] || l[i] != u[i]) continue;
    std::size_t first = std::numeric_limits<std::size_t>::max();
    for (std::size_t e = a.start[i]; e < a.start[i + 1]; ++e)
      if (needs(a.col[e])) first = std::min(first, a.col[e]);
    if (first != std::numeric_limits<std::size_t>::max()) order.push_back({first, i});
  }
  std::sort(order.begin(), order.end());
  double moved = 0;
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    bool changed = false;
    for (const auto& [first, i] : order) {
      double d_lo = -kInf, d_hi = kInf;
      for (std::size_t e = a.start[i]; e < a.start[i + 1]; ++e) {
        const std::size_t j = a.col[e];
        if (!needs(j)) continue;
        const double v = a.val[e];
        if (!std::isfinite(hi[j])) {  // r_j + d v >= past, else x_j -> +inf lowers L
          const double t = (past[j] - rc.r[j]) / v;
          if (v > 0)
            d_lo = std::max(d_lo, t);
          else
            d_hi = std::min(d_hi, t);
        }
        if (!std::isfinite(lo[j])) {  // r_j + d v <= -past
          const double t = (-past[j] - rc.r[j]) / v;
          if (v > 0)
            d_hi = std::min(d_hi, t);
          else
            d_lo = std::max(d_lo, t);
        }
      }
      const double d = d_lo <= d_hi ? std::min(std::max(0.0, d_lo), d_hi) : 0.5 * (d_lo + d_hi);
      if (d == 0.0 || !std::isfinite(d)) continue;
      changed = true;
      y[i] += d;
      moved = std::max(moved, std::abs(d));
      for (std::size_t e = a.start[i]; e < a.start[i + 1]; ++e) rc.add(a.col[e], d * a.val[e]);
    }
    if (!changed) break;
  }
  return moved;
}

/// min over lo <= x <= hi of 1/2 p x^2 + rho x (p >= 0, lo <= hi), and the minimizer; -inf
/// where a linear term pulls toward an open end.
double box_minimum(double p, double rho, double lo, double hi, double* x_min) {
  if (p > 0) {
    *x_min = std::clamp(-rho / p, lo, hi);
    return 0.5 * p * *x_min * *x_min + rho * *x_min;
  }
  *x_min = rho > 0 ? lo : (rho < 0 ? hi : 0.0);
  if (rho == 0) return 0.0;
  return std::isfinite(*x_min) ? rho * *x_min : -kInf;
}

}  // namespace

ExpertCertificate certify_expert_plan(const ExpertQp& qp, int blocks,
                                      const std::vector<double>& l_in,
                                      const std::vector<double>& u_in, const std::vector<double>& x,
                                      const std::vector<double>& y_in) {
  if (blocks < 1 || blocks > qp.steps)
    throw Error("expert certificate: " + std::to_string(blocks) + " blocks; the QP has 1 to " +
                std::to_string(qp.steps));
  const std::size_t nb = qp.block_vars;
  const std::size_t n = std::size_t(blocks) * nb, m = std::size_t(blocks) * qp.block_rows;
  if (x.size() != n || y_in.size() != m || l_in.size() != m || u_in.size() != m)
    throw Error("expert certificate: " + std::to_string(blocks) + " blocks need " +
                std::to_string(n) + " values of x and " + std::to_string(m) +
                " of y, l and u; got " + std::to_string(x.size()) + ", " +
                std::to_string(y_in.size()) + ", " + std::to_string(l_in.size()) + " and " +
                std::to_string(u_in.size()));
  if (qp.p_diag.size() != nb || qp.q.size() < n || qp.rows.size() != std::size_t(qp.block_rows))
    throw Error("expert certificate: the QP's P diagonal, q or rows do not match its " +
                std::to_string(nb) + " variables and " + std::to_string(qp.block_rows) +
                " rows per block");
  const RowMatrix a = horizon_rows(qp, blocks);
  std::vector<double> l(l_in), u(u_in);
  for (std::size_t i = 0; i < m; ++i) {
    if (l[i] <= -kInfinity) l[i] = -kInf;
    if (u[i] >= kInfinity) u[i] = kInf;
  }
  auto p_of = [&](std::size_t j) { return qp.p_diag[j % nb]; };
  const double constant = qp.constant_per_step_cny * blocks;

  ExpertCertificate c;
  double objective = constant;
  for (std::size_t j = 0; j < n; ++j) objective += 0.5 * p_of(j) * x[j] * x[j] + qp.q[j] * x[j];
  c.objective_cny = objective;
  // Primal: how far Ax lies outside [l, u] (a row that is not a number is infinitely far).
  for (std::size_t i = 0; i < m; ++i) {
    double ax = 0;
    for (std::size_t e = a.start[i]; e < a.start[i + 1]; ++e) ax += a.val[e] * x[a.col[e]];
    const double outside = std::isnan(ax) ? kInf : std::max({l[i] - ax, ax - u[i], 0.0});
    if (outside > c.max_violation) c.max_violation = outside, c.worst_row = int(i);
  }
  for (std::size_t j = 0; j < nb; ++j)
    if (!(qp.p_diag[j] >= 0)) {
      c.no_bound_reason = "P has a negative diagonal entry: the QP is not convex";
      return c;
    }

  for (std::size_t i = 0; i < m; ++i)
    if (!std::isfinite(y_in[i])) {
      c.no_bound_reason = "multiplier " + std::to_string(i) + " is not a finite number";
      return c;
    }
  // Dual: y's signs projected onto the bounds that exist.
  std::vector<double> y(y_in);
  for (std::size_t i = 0; i < m; ++i) {
    if (u[i] == kInf) y[i] = std::min(y[i], 0.0);
    if (l[i] == -kInf) y[i] = std::max(y[i], 0.0);
  }
  std::vector<char> single(m), dualized(m), linear(n);
  for (std::size_t i = 0; i < m; ++i) {
    single[i] = a.start[i + 1] - a.start[i] == 1;
    dualized[i] = !single[i];
  }
  for (std::size_t j = 0; j < n; ++j) linear[j] = p_of(j) == 0;
  std::vector<double> lo(n, -kInf), hi(n, kInf);
  variable_boxes(a, l, u, single, lo, hi);
  ReducedCosts rc;  // q + A_R'y
  rc.r.assign(qp.q.begin(), qp.q.begin() + n);
  rc.r_abs.resize(n);
  rc.ops.assign(n, 1);  // q
  double q_max = 0;
  for (std::size_t j = 0; j < n; ++j) {
    rc.r_abs[j] = std::abs(rc.r[j]);
    q_max = std::max(q_max, rc.r_abs[j]);
  }
  for (std::size_t i = 0; i < m; ++i)
    if (dualized[i])
      for (std::size_t e = a.start[i]; e < a.start[i + 1]; ++e) rc.add(a.col[e], a.val[e] * y[i]);
  // The repair aims past zero by four times r_j's rounding bound (fixed here, as in
  // check_qp.py: a target that grew with every shift would keep the sweeps going).
  std::vector<double> past(n);
  for (std::size_t j = 0; j < n; ++j) past[j] = 1e-12 * std::max(1.0, q_max) + 4 * rc.error(j);
  c.multipliers_moved = repair_unbounded(a, l, u, dualized, lo, hi, linear, past, y, rc);

  // The Lagrangian's minimum variable by variable over the boxes: as L_j is concave in r_j and
  // the exact r_j lies within its rounding bound of the computed one, the lesser of L_j at the
  // two ends of that interval is below the exact L_j (-inf where either end pulls a linear
  // variable toward an open end). `size` collects the magnitudes the final sum rounds.
  double lagrangian = constant, size = std::abs(constant);
  for (std::size_t j = 0; j < n; ++j) {
    const double p = p_of(j), err = rc.error(j);
    double x_lo, x_hi;
    const double at_lo = box_minimum(p, rc.r[j] - err, lo[j], hi[j], &x_lo);
    const double at_hi = box_minimum(p, rc.r[j] + err, lo[j], hi[j], &x_hi);
    const double term = std::min(at_lo, at_hi);
    if (!(term > -kInf)) {
      ++c.unbounded_variables;
      continue;
    }
    const double x_min = at_lo <= at_hi ? x_lo : x_hi;
    lagrangian += term;
    size += 0.5 * p * x_min * x_min + (std::abs(rc.r[j]) + err) * std::abs(x_min);
  }
  bool support_finite = true;
  for (std::size_t i = 0; i < m; ++i) {
    if (!dualized[i] || y[i] == 0) continue;
    const double s = y[i] > 0 ? y[i] * u[i] : y[i] * l[i];
    if (!std::isfinite(s)) support_finite = false;
    lagrangian -= s;
    size += std::abs(s);
  }
  if (c.unbounded_variables > 0) {
    c.no_bound_reason = std::to_string(c.unbounded_variables) +
                        " variables without a bound where the Lagrangian is linear";
    return c;
  }
  if (!support_finite) {
    c.no_bound_reason = "a row's term y_i u_i or y_i l_i overflowed (multipliers too large)";
    return c;
  }
  // Less the rounding of the sum of n + m + 1 terms and of each term's own few operations.
  const double margin = double(n + m + 8) * std::numeric_limits<double>::epsilon() * size;
  const double bound = lagrangian - margin;
  if (!std::isfinite(bound)) {
    c.no_bound_reason = "the bound overflowed (multipliers too large)";
    return c;
  }
  c.bounded = true;
  c.lower_bound_cny = bound;
  const double gap = (objective - bound) / std::max(1.0, std::abs(bound));
  c.gap = std::isnan(gap) ? kInf : gap;  // an x that is not a number is not near the optimum
  return c;
}

}  // namespace p2pgrid
