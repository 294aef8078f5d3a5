// Dense Mehrotra predictor-corrector interior-point method for convex QPs (see
// qp_interior_point.hpp). Rows of l <= Ax <= u are scaled to unit infinity norm, then split into
// equalities E x = b (l == u) and one-sided inequalities G x + s = h, s >= 0 (a finite u gives
// a'x <= u, a finite l gives -a'x <= -l). Each iteration solves the reduced KKT system
//   [P + G'WG  E'] [dx]   [rhs]
//   [E         0 ] [dy] = [-r_e]      W = diag(z / s),
// by dense LU with partial pivoting, with iterative refinement against the full Newton system.
#include "support/qp_interior_point.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace p2pgrid::test {
namespace {

constexpr double kInf = 1e30;

struct SparseRow {
  std::vector<int> cols;
  std::vector<double> vals;
  double dot(const std::vector<double>& x) const {
    double s = 0;
    for (std::size_t k = 0; k < cols.size(); ++k) s += vals[k] * x[cols[k]];
    return s;
  }
};

/// In-place LU with partial pivoting of an N x N row-major matrix.
void lu_factor(std::vector<double>& a, int N, std::vector<int>& piv) {
  piv.resize(N);
  for (int c = 0; c < N; ++c) {
    int p = c;
    double best = std::abs(a[std::size_t(c) * N + c]);
    for (int r = c + 1; r < N; ++r) {
      const double v = std::abs(a[std::size_t(r) * N + c]);
      if (v > best) best = v, p = r;
    }
    if (!(best > 0)) throw std::runtime_error("interior point: singular KKT system");
    piv[c] = p;
    if (p != c)
      std::swap_ranges(a.begin() + std::size_t(c) * N, a.begin() + std::size_t(c + 1) * N,
                       a.begin() + std::size_t(p) * N);
    const double* ac = a.data() + std::size_t(c) * N;
    const double inv = 1.0 / ac[c];
    for (int r = c + 1; r < N; ++r) {
      double* ar = a.data() + std::size_t(r) * N;
      if (ar[c] == 0.0) continue;
      const double f = ar[c] * inv;
      ar[c] = f;
      for (int k = c + 1; k < N; ++k) ar[k] -= f * ac[k];
    }
  }
}

void lu_solve(const std::vector<double>& lu, const std::vector<int>& piv, int N,
              std::vector<double>& b) {
  for (int c = 0; c < N; ++c) std::swap(b[c], b[piv[c]]);
  for (int r = 0; r < N; ++r) {
    const double* ar = lu.data() + std::size_t(r) * N;
    double s = b[r];
    for (int k = 0; k < r; ++k) s -= ar[k] * b[k];
    b[r] = s;
  }
  for (int r = N - 1; r >= 0; --r) {
    const double* ar = lu.data() + std::size_t(r) * N;
    double s = b[r];
    for (int k = r + 1; k < N; ++k) s -= ar[k] * b[k];
    b[r] = s / ar[r];
  }
}

double inf_norm(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

}  // namespace

std::vector<double> dense_mul_a(const DenseQp& qp, const std::vector<double>& x) {
  std::vector<double> ax(qp.m, 0.0);
  for (int i = 0; i < qp.m; ++i) {
    const double* ai = qp.A.data() + std::size_t(i) * qp.n;
    double s = 0;
    for (int j = 0; j < qp.n; ++j) s += ai[j] * x[j];
    ax[i] = s;
  }
  return ax;
}

double dense_objective(const DenseQp& qp, const std::vector<double>& x) {
  double obj = qp.constant;
  for (int i = 0; i < qp.n; ++i) {
    const double* pi = qp.P.data() + std::size_t(i) * qp.n;
    double s = 0;
    for (int j = 0; j < qp.n; ++j) s += pi[j] * x[j];
    obj += 0.5 * x[i] * s + qp.q[i] * x[i];
  }
  return obj;
}

InteriorPointResult solve_qp_interior_point(const DenseQp& qp, const InteriorPointSettings& st) {
  const int n = qp.n, m = qp.m;
  if (qp.P.size() != std::size_t(n) * n || qp.q.size() != std::size_t(n) ||
      qp.A.size() != std::size_t(m) * n || qp.l.size() != std::size_t(m) ||
      qp.u.size() != std::size_t(m))
    throw std::runtime_error("interior point: inconsistent sizes");
  // Row scaling and the split into equalities and one-sided inequalities.
  std::vector<double> row_scale(m, 1.0);
  std::vector<SparseRow> eq, ineq;
  std::vector<double> b, h;
  std::vector<int> eq_row, ineq_row;
  std::vector<double> ineq_sign;
  for (int i = 0; i < m; ++i) {
    const double* ai = qp.A.data() + std::size_t(i) * n;
    double r = 0;
    for (int j = 0; j < n; ++j) r = std::max(r, std::abs(ai[j]));
    const bool lo_inf = qp.l[i] <= -kInf, up_inf = qp.u[i] >= kInf;
    if (!lo_inf && !up_inf && qp.l[i] > qp.u[i])
      throw std::runtime_error("interior point: l > u in row " + std::to_string(i));
    if (r == 0) {
      if ((!lo_inf && qp.l[i] > 0) || (!up_inf && qp.u[i] < 0))
        throw std::runtime_error("interior point: empty row " + std::to_string(i) +
                                 " excludes 0");
      continue;
    }
    row_scale[i] = r;
    SparseRow row;
    for (int j = 0; j < n; ++j)
      if (ai[j] != 0.0) row.cols.push_back(j), row.vals.push_back(ai[j] / r);
    if (!lo_inf && !up_inf && qp.l[i] == qp.u[i]) {
      eq.push_back(row);
      b.push_back(qp.l[i] / r);
      eq_row.push_back(i);
      continue;
    }
    if (!up_inf) {
      ineq.push_back(row);
      h.push_back(qp.u[i] / r);
      ineq_row.push_back(i);
      ineq_sign.push_back(1.0);
    }
    if (!lo_inf) {
      SparseRow neg = row;
      for (double& v : neg.vals) v = -v;
      ineq.push_back(neg);
      h.push_back(-qp.l[i] / r);
      ineq_row.push_back(i);
      ineq_sign.push_back(-1.0);
    }
  }
  const int me = static_cast<int>(eq.size()), mi = static_cast<int>(ineq.size());
  const int N = n + me;

  auto mul_p = [&](const std::vector<double>& x) {
    std::vector<double> out(n, 0.0);
    for (int i = 0; i < n; ++i) {
      const double* pi = qp.P.data() + std::size_t(i) * n;
      double s = 0;
      for (int j = 0; j < n; ++j) s += pi[j] * x[j];
      out[i] = s;
    }
    return out;
  };
  // KKT matrix for weights w [mi]: the unfactored copy (for refinement) and its LU.
  std::vector<double> kkt, lu;
  std::vector<int> piv;
  auto factor = [&](const std::vector<double>& w) {
    kkt.assign(std::size_t(N) * N, 0.0);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) kkt[std::size_t(i) * N + j] = qp.P[std::size_t(i) * n + j];
    for (int k = 0; k < mi; ++k) {
      const SparseRow& g = ineq[k];
      for (std::size_t a = 0; a < g.cols.size(); ++a)
        for (std::size_t c = 0; c < g.cols.size(); ++c)
          kkt[std::size_t(g.cols[a]) * N + g.cols[c]] += w[k] * g.vals[a] * g.vals[c];
    }
    for (int k = 0; k < me; ++k) {
      const SparseRow& e = eq[k];
      for (std::size_t a = 0; a < e.cols.size(); ++a) {
        kkt[std::size_t(n + k) * N + e.cols[a]] = e.vals[a];
        kkt[std::size_t(e.cols[a]) * N + n + k] = e.vals[a];
      }
    }
    lu = kkt;
    lu_factor(lu, N, piv);
  };
  auto kkt_solve = [&](std::vector<double> rhs) {
    std::vector<double> sol = rhs;
    lu_solve(lu, piv, N, sol);
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<double> res = rhs;
      for (int i = 0; i < N; ++i) {
        const double* ki = kkt.data() + std::size_t(i) * N;
        double s = 0;
        for (int j = 0; j < N; ++j) s += ki[j] * sol[j];
        res[i] -= s;
      }
      lu_solve(lu, piv, N, res);
      for (int i = 0; i < N; ++i) sol[i] += res[i];
    }
    return sol;
  };

  // Starting point: the equality-constrained minimizer of the objective plus 1/2 |Gx - h|^2,
  // slacks pushed to at least 1, multipliers 1.
  std::vector<double> x(n, 0.0), y(me, 0.0), z(mi, 1.0), s(mi, 1.0);
  {
    factor(std::vector<double>(mi, 1.0));
    std::vector<double> rhs(N, 0.0);
    for (int j = 0; j < n; ++j) rhs[j] = -qp.q[j];
    for (int k = 0; k < mi; ++k)
      for (std::size_t a = 0; a < ineq[k].cols.size(); ++a)
        rhs[ineq[k].cols[a]] += ineq[k].vals[a] * h[k];
    for (int k = 0; k < me; ++k) rhs[n + k] = b[k];
    const std::vector<double> sol = kkt_solve(rhs);
    std::copy(sol.begin(), sol.begin() + n, x.begin());
    for (int k = 0; k < mi; ++k) s[k] = std::max(h[k] - ineq[k].dot(x), 1.0);
  }
  const double q_norm = inf_norm(qp.q), b_norm = inf_norm(b), h_norm = inf_norm(h);
  InteriorPointResult res;
  std::vector<double> rd(n), re(me), ri(mi);
  for (int it = 0;; ++it) {
    // Residuals of the scaled problem.
    const std::vector<double> px = mul_p(x);
    double obj = qp.constant;
    for (int j = 0; j < n; ++j) {
      rd[j] = px[j] + qp.q[j];
      obj += 0.5 * x[j] * px[j] + qp.q[j] * x[j];
    }
    for (int k = 0; k < me; ++k) {
      re[k] = eq[k].dot(x) - b[k];
      for (std::size_t a = 0; a < eq[k].cols.size(); ++a) rd[eq[k].cols[a]] += eq[k].vals[a] * y[k];
    }
    double gap = 0;
    for (int k = 0; k < mi; ++k) {
      ri[k] = ineq[k].dot(x) + s[k] - h[k];
      for (std::size_t a = 0; a < ineq[k].cols.size(); ++a)
        rd[ineq[k].cols[a]] += ineq[k].vals[a] * z[k];
      gap += s[k] * z[k];
    }
    res.iterations = it;
    res.gap = gap;
    const bool done = inf_norm(rd) <= st.tolerance * (1 + q_norm) &&
                      inf_norm(re) <= st.tolerance * (1 + b_norm) &&
                      inf_norm(ri) <= st.tolerance * (1 + h_norm) &&
                      gap <= st.tolerance * (1 + std::abs(obj));
    if (done || it >= st.max_iterations) {
      res.converged = done;
      res.message = done ? "converged" : "iteration limit";
      break;
    }
    const double mu = mi > 0 ? gap / mi : 0.0;
    std::vector<double> w(mi);
    for (int k = 0; k < mi; ++k) w[k] = z[k] / s[k];
    factor(w);
    // Direction for complementarity target rc (s o z + rc = 0 linearized).
    // Solves the Newton system
    //   P dx + E'dy + G'dz = r1,  E dx = r2,  G dx + ds = r3,  S dz + Z ds = r4
    // through the reduced KKT system (ds = r3 - G dx, dz = S^-1 (r4 - Z r3) + W G dx), then
    // refines against the full system: with W spanning many orders of magnitude near the
    // optimum, the reduction alone loses the dual residual's accuracy.
    auto newton = [&](const std::vector<double>& r1, const std::vector<double>& r2,
                      const std::vector<double>& r3, const std::vector<double>& r4,
                      std::vector<double>& dx, std::vector<double>& dy, std::vector<double>& dz,
                      std::vector<double>& ds) {
      std::vector<double> t(mi), rhs(N, 0.0);
      for (int k = 0; k < mi; ++k) t[k] = (r4[k] - z[k] * r3[k]) / s[k];
      for (int j = 0; j < n; ++j) rhs[j] = r1[j];
      for (int k = 0; k < mi; ++k)
        for (std::size_t a = 0; a < ineq[k].cols.size(); ++a)
          rhs[ineq[k].cols[a]] -= ineq[k].vals[a] * t[k];
      for (int k = 0; k < me; ++k) rhs[n + k] = r2[k];
      const std::vector<double> sol = kkt_solve(rhs);
      dx.assign(sol.begin(), sol.begin() + n);
      dy.assign(sol.begin() + n, sol.end());
      dz.resize(mi);
      ds.resize(mi);
      for (int k = 0; k < mi; ++k) {
        const double gdx = ineq[k].dot(dx);
        dz[k] = w[k] * gdx + t[k];
        ds[k] = r3[k] - gdx;
      }
    };
    auto direction = [&](const std::vector<double>& rc, std::vector<double>& dx,
                         std::vector<double>& dy, std::vector<double>& dz,
                         std::vector<double>& ds) {
      std::vector<double> r1(n), r2(me), r3(mi), r4(mi);
      for (int j = 0; j < n; ++j) r1[j] = -rd[j];
      for (int k = 0; k < me; ++k) r2[k] = -re[k];
      for (int k = 0; k < mi; ++k) r3[k] = -ri[k], r4[k] = -rc[k];
      newton(r1, r2, r3, r4, dx, dy, dz, ds);
      for (int pass = 0; pass < 2; ++pass) {
        std::vector<double> e1 = mul_p(dx), e2(me), e3(mi), e4(mi);
        for (int j = 0; j < n; ++j) e1[j] = r1[j] - e1[j];
        for (int k = 0; k < me; ++k) {
          e2[k] = r2[k] - eq[k].dot(dx);
          for (std::size_t a = 0; a < eq[k].cols.size(); ++a)
            e1[eq[k].cols[a]] -= eq[k].vals[a] * dy[k];
        }
        for (int k = 0; k < mi; ++k) {
          e3[k] = r3[k] - ineq[k].dot(dx) - ds[k];
          e4[k] = r4[k] - s[k] * dz[k] - z[k] * ds[k];
          for (std::size_t a = 0; a < ineq[k].cols.size(); ++a)
            e1[ineq[k].cols[a]] -= ineq[k].vals[a] * dz[k];
        }
        std::vector<double> cx, cy, cz, cs;
        newton(e1, e2, e3, e4, cx, cy, cz, cs);
        for (int j = 0; j < n; ++j) dx[j] += cx[j];
        for (int k = 0; k < me; ++k) dy[k] += cy[k];
        for (int k = 0; k < mi; ++k) dz[k] += cz[k], ds[k] += cs[k];
      }
    };
    auto max_step = [&](const std::vector<double>& v, const std::vector<double>& dv) {
      double a = 1.0;
      for (int k = 0; k < mi; ++k)
        if (dv[k] < 0) a = std::min(a, -v[k] / dv[k]);
      return a;
    };
    std::vector<double> dx, dy, dz, ds, rc(mi);
    for (int k = 0; k < mi; ++k) rc[k] = s[k] * z[k];
    direction(rc, dx, dy, dz, ds);
    const double a_aff = std::min(max_step(s, ds), max_step(z, dz));
    double mu_aff = 0;
    for (int k = 0; k < mi; ++k) mu_aff += (s[k] + a_aff * ds[k]) * (z[k] + a_aff * dz[k]);
    mu_aff = mi > 0 ? mu_aff / mi : 0.0;
    const double sigma = mu > 0 ? std::pow(mu_aff / mu, 3) : 0.0;
    for (int k = 0; k < mi; ++k) rc[k] = s[k] * z[k] + ds[k] * dz[k] - sigma * mu;
    direction(rc, dx, dy, dz, ds);
    const double a = std::min(1.0, st.step_fraction * std::min(max_step(s, ds), max_step(z, dz)));
    for (int j = 0; j < n; ++j) x[j] += a * dx[j];
    for (int k = 0; k < me; ++k) y[k] += a * dy[k];
    for (int k = 0; k < mi; ++k) {
      z[k] += a * dz[k];
      s[k] += a * ds[k];
    }
  }
  // Unscaled outputs in OSQP's convention.
  res.x = x;
  res.y.assign(m, 0.0);
  for (int k = 0; k < me; ++k) res.y[eq_row[k]] += y[k] / row_scale[eq_row[k]];
  for (int k = 0; k < mi; ++k) res.y[ineq_row[k]] += ineq_sign[k] * z[k] / row_scale[ineq_row[k]];
  res.objective = dense_objective(qp, x);
  const std::vector<double> ax = dense_mul_a(qp, x);
  res.primal_residual = 0;
  for (int i = 0; i < m; ++i) {
    if (qp.l[i] > -kInf) res.primal_residual = std::max(res.primal_residual, qp.l[i] - ax[i]);
    if (qp.u[i] < kInf) res.primal_residual = std::max(res.primal_residual, ax[i] - qp.u[i]);
  }
  std::vector<double> grad = mul_p(x);
  for (int j = 0; j < n; ++j) grad[j] += qp.q[j];
  for (int i = 0; i < m; ++i) {
    if (res.y[i] == 0.0) continue;
    const double* ai = qp.A.data() + std::size_t(i) * n;
    for (int j = 0; j < n; ++j) grad[j] += ai[j] * res.y[i];
  }
  res.dual_residual = inf_norm(grad);
  return res;
}

DenseQp dense_qp_from_osqp_json(const nlohmann::json& j) {
  DenseQp qp;
  qp.n = j.at("n").get<int>();
  qp.m = j.at("m").get<int>();
  const int n = qp.n, m = qp.m;
  qp.P.assign(std::size_t(n) * n, 0.0);
  qp.A.assign(std::size_t(m) * n, 0.0);
  auto csc = [&](const nlohmann::json& mat, int rows, auto&& put) {
    const auto indptr = mat.at("indptr").get<std::vector<long long>>();
    const auto indices = mat.at("indices").get<std::vector<long long>>();
    const auto data = mat.at("data").get<std::vector<double>>();
    if (indptr.size() != std::size_t(n) + 1 || indices.size() != data.size())
      throw std::runtime_error("osqp json: malformed CSC");
    for (int c = 0; c < n; ++c)
      for (long long p = indptr[c]; p < indptr[c + 1]; ++p) {
        if (indices[p] < 0 || indices[p] >= rows) throw std::runtime_error("osqp json: bad index");
        put(static_cast<int>(indices[p]), c, data[p]);
      }
  };
  csc(j.at("P"), n, [&](int r, int c, double v) {
    if (r > c) throw std::runtime_error("osqp json: P entry below the diagonal");
    qp.P[std::size_t(r) * n + c] += v;
    if (r != c) qp.P[std::size_t(c) * n + r] += v;
  });
  csc(j.at("A"), m, [&](int r, int c, double v) { qp.A[std::size_t(r) * n + c] += v; });
  qp.q = j.at("q").get<std::vector<double>>();
  qp.l = j.at("l").get<std::vector<double>>();
  qp.u = j.at("u").get<std::vector<double>>();
  qp.constant = j.value("constant", 0.0);
  if (qp.q.size() != std::size_t(n) || qp.l.size() != std::size_t(m) ||
      qp.u.size() != std::size_t(m))
    throw std::runtime_error("osqp json: q, l or u has the wrong size");
  return qp;
}

}  // namespace p2pgrid::test
