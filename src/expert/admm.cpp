// Batched OSQP-style ADMM (see admm.hpp). Notation of Stellato et al. 2020: scaled problem
// P~ = c D P D, q~ = c D q, A~ = E A D, bounds E l, E u; iterates x~, z~, y~.
#include "p2pgrid/expert/admm.hpp"

#include <algorithm>
#include <cmath>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/nvtx.hpp"
#include "p2pgrid/core/threads.hpp"

namespace p2pgrid {

const char* to_string(SolveStatus s) {
  switch (s) {
    case SolveStatus::kSolved: return "solved";
    case SolveStatus::kMaxIterations: return "max_iterations";
    case SolveStatus::kPrimalInfeasible: return "primal_infeasible";
  }
  return "?";
}

ExpertAdmm::ExpertAdmm(const ExpertQp& qp, const AdmmSettings& settings)
    : qp_(qp), settings_(settings) {
  const int n = qp_.block_vars, m = qp_.block_rows;
  if (settings_.rho <= 0 || settings_.sigma <= 0 || settings_.alpha <= 0 || settings_.alpha >= 2)
    throw Error("expert: need rho > 0, sigma > 0 and 0 < alpha < 2");
  // Ruiz equilibration on the generic block (a column's entries: its own rows' self entries and
  // the next block's rows' prev entries; the same scaling for every block).
  d_.assign(n, 1.0);
  e_.assign(m, 1.0);
  for (int it = 0; it < settings_.scaling_iterations; ++it) {
    std::vector<double> col(n, 0.0), row(m, 0.0);
    for (int j = 0; j < n; ++j) col[j] = std::abs(qp_.p_diag[j]) * d_[j] * d_[j];
    for (int r = 0; r < m; ++r) {
      const QpRowInfo& ri = qp_.rows[r];
      for (std::size_t k = 0; k < ri.cols.size(); ++k) {
        const double a = std::abs(e_[r] * ri.vals[k] * d_[ri.cols[k]]);
        row[r] = std::max(row[r], a);
        col[ri.cols[k]] = std::max(col[ri.cols[k]], a);
      }
      for (std::size_t k = 0; k < ri.prev_cols.size(); ++k) {
        const double a = std::abs(e_[r] * ri.prev_vals[k] * d_[ri.prev_cols[k]]);
        row[r] = std::max(row[r], a);
        col[ri.prev_cols[k]] = std::max(col[ri.prev_cols[k]], a);
      }
    }
    for (int j = 0; j < n; ++j) d_[j] /= std::sqrt(col[j] > 1e-12 ? col[j] : 1.0);
    for (int r = 0; r < m; ++r) e_[r] /= std::sqrt(row[r] > 1e-12 ? row[r] : 1.0);
  }
  // Cost scaling: the largest scaled linear cost to about 1.
  double qmax = 0;
  for (int k = 0; k < qp_.steps; ++k)
    for (int j = 0; j < n; ++j) qmax = std::max(qmax, std::abs(qp_.q[std::size_t(k) * n + j] * d_[j]));
  for (int j = 0; j < n; ++j) qmax = std::max(qmax, std::abs(qp_.p_diag[j]) * d_[j] * d_[j]);
  cost_scale_ = qmax > 0 ? 1.0 / qmax : 1.0;
  p_scaled_.resize(n);
  for (int j = 0; j < n; ++j) p_scaled_[j] = cost_scale_ * qp_.p_diag[j] * d_[j] * d_[j];
  q_scaled_.resize(qp_.q.size());
  for (int k = 0; k < qp_.steps; ++k)
    for (int j = 0; j < n; ++j)
      q_scaled_[std::size_t(k) * n + j] = cost_scale_ * qp_.q[std::size_t(k) * n + j] * d_[j];
  self_vals_.resize(m);
  prev_vals_.resize(m);
  rho_.resize(m);
  for (int r = 0; r < m; ++r) {
    const QpRowInfo& ri = qp_.rows[r];
    rho_[r] = ri.equality() ? 1e3 * settings_.rho : settings_.rho;
    for (std::size_t k = 0; k < ri.cols.size(); ++k)
      self_vals_[r].push_back(e_[r] * ri.vals[k] * d_[ri.cols[k]]);
    for (std::size_t k = 0; k < ri.prev_cols.size(); ++k)
      prev_vals_[r].push_back(e_[r] * ri.prev_vals[k] * d_[ri.prev_cols[k]]);
  }
  kkt_ = factor_for(1.0);
}

std::shared_ptr<const BlockTridiagonalCholesky> ExpertAdmm::factor_for(double rho_scale) const {
  const int n = qp_.block_vars, m = qp_.block_rows;
  const int nblk = qp_.steps;
  const std::size_t nn = std::size_t(n) * n;
  std::vector<double> base(nn, 0.0), prev_part(nn, 0.0), sub(nn, 0.0);
  for (int j = 0; j < n; ++j) base[std::size_t(j) * n + j] = p_scaled_[j] + settings_.sigma;
  for (int r = 0; r < m; ++r) {
    const QpRowInfo& ri = qp_.rows[r];
    const auto& sv = self_vals_[r];
    const auto& pv = prev_vals_[r];
    const double rho = rho_[r] * rho_scale;
    for (std::size_t a = 0; a < sv.size(); ++a)
      for (std::size_t b = 0; b < sv.size(); ++b)
        base[std::size_t(ri.cols[a]) * n + ri.cols[b]] += rho * sv[a] * sv[b];
    for (std::size_t a = 0; a < pv.size(); ++a) {
      for (std::size_t b = 0; b < pv.size(); ++b)
        prev_part[std::size_t(ri.prev_cols[a]) * n + ri.prev_cols[b]] += rho * pv[a] * pv[b];
      for (std::size_t b = 0; b < sv.size(); ++b)
        sub[std::size_t(ri.prev_cols[a]) * n + ri.cols[b]] += rho * pv[a] * sv[b];
    }
  }
  std::vector<double> diag(nblk * nn), subs((nblk - 1) * nn);
  for (int k = 0; k < nblk; ++k)
    for (std::size_t i = 0; i < nn; ++i) diag[k * nn + i] = base[i] + (k > 0 ? prev_part[i] : 0.0);
  for (int k = 0; k + 1 < nblk; ++k) std::copy(sub.begin(), sub.end(), subs.begin() + k * nn);
  auto f = std::make_shared<BlockTridiagonalCholesky>();
  f->factor(nblk, n, std::move(diag), std::move(subs));
  return f;
}

std::vector<AdmmInfo> ExpertAdmm::solve(int blocks, const std::vector<std::vector<double>>& l,
                                        const std::vector<std::vector<double>>& u,
                                        std::vector<AdmmIterate>& iterates) const {
  NvtxRange range("expert.admm");
  const int count = static_cast<int>(l.size());
  if (blocks < 1 || blocks > qp_.steps) throw Error("expert: horizon out of range");
  if (u.size() != l.size()) throw Error("expert: bounds l and u differ in count");
  const std::size_t mh = std::size_t(blocks) * qp_.block_rows;
  for (int e = 0; e < count; ++e)
    if (l[e].size() != mh || u[e].size() != mh)
      throw Error("expert: bounds of env " + std::to_string(e) + " have the wrong size");
  iterates.resize(count);
  std::vector<AdmmInfo> info(count);
  constexpr int kGroup = kAdmmGroup;
  const int groups = (count + kGroup - 1) / kGroup;
  const int threads = cpu_threads(settings_.threads);
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int g = 0; g < groups; ++g) {
    const int first = g * kGroup;
    solve_group(blocks, first, std::min(kGroup, count - first), l, u, iterates, info);
  }
  return info;
}

void ExpertAdmm::solve_group(int blocks, int first, int count,
                             const std::vector<std::vector<double>>& bl,
                             const std::vector<std::vector<double>>& bu,
                             std::vector<AdmmIterate>& iterates,
                             std::vector<AdmmInfo>& info) const {
  const int n = qp_.block_vars, m = qp_.block_rows;
  const std::size_t nh = std::size_t(blocks) * n, mh = std::size_t(blocks) * m;
  const AdmmSettings& s = settings_;
  // Interleaved vectors: element i of lane g at [i * G + g]. A group always has G lanes (a
  // compile-time width the compiler vectorizes); lanes past `count` repeat the first env and are
  // ignored.
  constexpr int G = kAdmmGroup;
  std::vector<double> x(nh * G, 0.0), xt(nh * G), rhs(nh * G), z(mh * G, 0.0), zt(mh * G),
      y(mh * G, 0.0), y_prev(mh * G, 0.0), lo(mh * G), hi(mh * G), v(nh * G);
  for (int g = 0; g < G; ++g) {
    const int e = first + (g < count ? g : 0);
    for (std::size_t i = 0; i < mh; ++i) {
      const int r = static_cast<int>(i % m);
      const double L = bl[e][i], U = bu[e][i];
      lo[i * G + g] = L <= -kInfinity ? -kInfinity : e_[r] * L;
      hi[i * G + g] = U >= kInfinity ? kInfinity : e_[r] * U;
    }
    const AdmmIterate& it = iterates[e];
    if (it.x.size() == nh && it.z.size() == mh && it.y.size() == mh) {  // warm start
      for (std::size_t i = 0; i < nh; ++i) x[i * G + g] = it.x[i] / d_[i % n];
      for (std::size_t i = 0; i < mh; ++i) {
        z[i * G + g] = it.z[i] * e_[i % m];
        y[i * G + g] = it.y[i] * cost_scale_ / e_[i % m];
      }
    }
  }
  // For every row of the horizon: acc = (A~ in)_row, then sink(row, acc). Prev entries of the
  // last block fall outside the horizon.
  auto rows_of_a = [&](const std::vector<double>& in, auto&& sink) {
    for (int k = 0; k < blocks; ++k)
      for (int r = 0; r < m; ++r) {
        double acc[G] = {};
        const QpRowInfo& ri = qp_.rows[r];
        for (std::size_t a = 0; a < ri.cols.size(); ++a) {
          const double c = self_vals_[r][a];
          const double* src = in.data() + (std::size_t(k) * n + ri.cols[a]) * G;
          for (int g = 0; g < G; ++g) acc[g] += c * src[g];
        }
        if (k + 1 < blocks)
          for (std::size_t a = 0; a < ri.prev_cols.size(); ++a) {
            const double c = prev_vals_[r][a];
            const double* src = in.data() + (std::size_t(k + 1) * n + ri.prev_cols[a]) * G;
            for (int g = 0; g < G; ++g) acc[g] += c * src[g];
          }
        sink(std::size_t(k) * m + r, acc);
      }
  };
  auto mul_a = [&](const std::vector<double>& in, std::vector<double>& out) {
    rows_of_a(in, [&](std::size_t i, const double* acc) {
      for (int g = 0; g < G; ++g) out[i * G + g] = acc[g];
    });
  };
  // out = A~' w where w_i = source(i, lane): the vector is formed on the fly, never stored.
  auto mul_at_of = [&](auto&& source, std::vector<double>& out) {
    std::fill(out.begin(), out.end(), 0.0);
    for (int k = 0; k < blocks; ++k)
      for (int r = 0; r < m; ++r) {
        const std::size_t i = std::size_t(k) * m + r;
        double src[G];
        for (int g = 0; g < G; ++g) src[g] = source(i, g);
        const QpRowInfo& ri = qp_.rows[r];
        for (std::size_t a = 0; a < ri.cols.size(); ++a) {
          const double c = self_vals_[r][a];
          double* o = out.data() + (std::size_t(k) * n + ri.cols[a]) * G;
          for (int g = 0; g < G; ++g) o[g] += c * src[g];
        }
        if (k + 1 < blocks)
          for (std::size_t a = 0; a < ri.prev_cols.size(); ++a) {
            const double c = prev_vals_[r][a];
            double* o = out.data() + (std::size_t(k + 1) * n + ri.prev_cols[a]) * G;
            for (int g = 0; g < G; ++g) o[g] += c * src[g];
          }
      }
  };
  auto mul_at = [&](const std::vector<double>& in, std::vector<double>& out) {
    mul_at_of([&](std::size_t i, int g) { return in[i * G + g]; }, out);
  };
  std::vector<char> done(G, 0);
  for (int g = count; g < G; ++g) done[g] = 1;
  int active = count;
  int iter = 0;
  std::shared_ptr<const BlockTridiagonalCholesky> kkt = kkt_;
  double rho_scale = 1.0;
  int last_rho_update = 0;
  // A lane's result is taken when it terminates: the group goes on iterating for the others.
  std::vector<char> stored(G, 0);
  auto store_lane = [&](int g) {
    const int e = first + g;
    AdmmIterate& it = iterates[e];
    it.x.resize(nh);
    it.z.resize(mh);
    it.y.resize(mh);
    double obj = qp_.constant_per_step_cny * blocks;
    for (std::size_t i = 0; i < nh; ++i) {
      const double xi = x[i * G + g] * d_[i % n];
      it.x[i] = xi;
      obj += 0.5 * qp_.p_diag[i % n] * xi * xi + qp_.q[i] * xi;
    }
    for (std::size_t i = 0; i < mh; ++i) {
      it.z[i] = z[i * G + g] / e_[i % m];
      it.y[i] = y[i * G + g] * e_[i % m] / cost_scale_;
    }
    info[e].objective_cny = obj;
    if (info[e].iterations == 0) info[e].iterations = iter;
    stored[g] = 1;
  };
  const double alpha = s.alpha;
  while (active > 0 && iter < s.max_iterations) {
    ++iter;
    // rhs = sigma x - q~ + A~'(rho z - y)
    mul_at_of([&](std::size_t i, int g) {
      return rho_[i % m] * rho_scale * z[i * G + g] - y[i * G + g];
    }, rhs);
    for (std::size_t i = 0; i < nh; ++i) {
      const double q = q_scaled_[i];  // block-major, the leading blocks
      for (int g = 0; g < G; ++g) rhs[i * G + g] += s.sigma * x[i * G + g] - q;
    }
    kkt->solve(blocks, G, rhs.data());
    xt.swap(rhs);
    const bool check = iter % s.check_every == 0 || iter == s.max_iterations;
    if (check) y_prev = y;
    for (std::size_t i = 0; i < nh * G; ++i) x[i] = alpha * xt[i] + (1 - alpha) * x[i];
    // z~ = A~ x~ row by row, relaxed, projected onto [l, u], and the dual step, fused.
    rows_of_a(xt, [&](std::size_t i, const double* acc) {
      const double rho = rho_[i % m] * rho_scale;
      for (int g = 0; g < G; ++g) {
        const std::size_t k = i * G + g;
        const double zh = alpha * acc[g] + (1 - alpha) * z[k];
        const double zn = std::min(std::max(zh + y[k] / rho, lo[k]), hi[k]);
        y[k] += rho * (zh - zn);
        z[k] = zn;
      }
    });
    if (!check) continue;
    // Residuals in unscaled units (OSQP section 3.4 / 5.1).
    mul_a(x, zt);       // A~ x
    mul_at(y, v);       // A~' y
    double log_ratio_sum = 0;
    int ratio_count = 0;
    for (int g = 0; g < G; ++g) {
      if (done[g]) continue;
      double prim = 0, ax = 0, zn = 0;
      for (std::size_t i = 0; i < mh; ++i) {
        const double inv_e = 1.0 / e_[i % m];
        const std::size_t k = i * G + g;
        prim = std::max(prim, std::abs((zt[k] - z[k]) * inv_e));
        ax = std::max(ax, std::abs(zt[k] * inv_e));
        zn = std::max(zn, std::abs(z[k] * inv_e));
      }
      double dual = 0, px = 0, aty = 0, qn = 0;
      for (std::size_t i = 0; i < nh; ++i) {
        const double inv = 1.0 / (d_[i % n] * cost_scale_);
        const std::size_t k = i * G + g;
        const double pxi = p_scaled_[i % n] * x[k];
        dual = std::max(dual, std::abs((pxi + q_scaled_[i] + v[k]) * inv));
        px = std::max(px, std::abs(pxi * inv));
        aty = std::max(aty, std::abs(v[k] * inv));
        qn = std::max(qn, std::abs(q_scaled_[i] * inv));
      }
      AdmmInfo& inf = info[first + g];
      inf.iterations = iter;
      inf.primal_residual = prim;
      inf.dual_residual = dual;
      const bool prim_ok = prim <= s.eps_abs + s.eps_rel * std::max(ax, zn);
      const bool dual_ok = dual <= s.eps_abs + s.eps_rel * std::max({px, aty, qn});
      // OSQP's rho estimate: balance the relative primal and dual residuals.
      const double rel_prim = prim / std::max({ax, zn, 1e-12});
      const double rel_dual = dual / std::max({px, aty, qn, 1e-12});
      if (rel_prim > 0 && rel_dual > 0) {
        log_ratio_sum += 0.5 * std::log(rel_prim / rel_dual);
        ++ratio_count;
      }
      if (prim_ok && dual_ok) {
        inf.status = SolveStatus::kSolved;
        done[g] = 1;
        --active;
        store_lane(g);
        continue;
      }
      // Primal infeasibility certificate: dy = y - y_prev with A'dy ~ 0 and u'dy+ + l'dy- < 0.
      double dy_norm = 0, support = 0;
      bool bounded = true;
      for (std::size_t i = 0; i < mh; ++i) {
        const std::size_t k = i * G + g;
        const double dy = (y[k] - y_prev[k]) * e_[i % m];
        dy_norm = std::max(dy_norm, std::abs(dy));
        if (dy > 0) {
          if (hi[k] >= kInfinity) bounded = false; else support += hi[k] / e_[i % m] * dy;
        } else if (dy < 0) {
          if (lo[k] <= -kInfinity) bounded = false; else support += lo[k] / e_[i % m] * dy;
        }
      }
      if (bounded && dy_norm > 1e-12 && support < -s.eps_primal_infeasible * dy_norm) {
        // A'dy in unscaled units: D^-1 A~' (E^-1 dy~)... computed once for this env.
        double atdy = 0;
        std::vector<double> dyv(mh * G, 0.0), atv(nh * G, 0.0);
        for (std::size_t i = 0; i < mh; ++i) dyv[i * G + g] = y[i * G + g] - y_prev[i * G + g];
        mul_at(dyv, atv);
        for (std::size_t i = 0; i < nh; ++i)
          atdy = std::max(atdy, std::abs(atv[i * G + g] / d_[i % n]));
        if (atdy <= s.eps_primal_infeasible * dy_norm) {
          inf.status = SolveStatus::kPrimalInfeasible;
          done[g] = 1;
          --active;
          store_lane(g);
        }
      }
    }
    if (s.adaptive_rho && ratio_count > 0 && active > 0 &&
        iter - last_rho_update >= s.adaptive_rho_interval) {
      const double factor = std::exp(log_ratio_sum / ratio_count);  // geometric mean over envs
      if (factor > s.adaptive_rho_tolerance || factor < 1.0 / s.adaptive_rho_tolerance) {
        rho_scale = std::min(std::max(rho_scale * factor, 1e-6), 1e6);
        kkt = factor_for(rho_scale);
        last_rho_update = iter;
      }
    }
  }
  for (int g = 0; g < count; ++g)
    if (!stored[g]) store_lane(g);
}

}  // namespace p2pgrid
