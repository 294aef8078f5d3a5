// Dense polar Newton-Raphson (see newton_raphson.hpp). Ybus from the pi model of every in-service
// branch plus bus shunts; Jacobian by the textbook formulas (Grainger & Stevenson, ch. 9).
#include "support/newton_raphson.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <stdexcept>

namespace p2pgrid::test {

using cd = std::complex<double>;

NewtonResult newton_raphson(const Network& net, const std::vector<double>& p_inj_pu,
                            const std::vector<double>& q_inj_pu, double tolerance_pu,
                            int max_iterations) {
  const int n = net.num_buses();
  const double kw_per_pu = net.base_mva * 1e3;
  std::vector<cd> y(size_t(n) * n, cd(0, 0));
  for (int i = 0; i < n; ++i)
    y[i * n + i] += cd(net.g_shunt_kw[i], net.b_shunt_kvar[i]) / kw_per_pu;
  for (int b = 0; b < net.num_branches(); ++b) {
    if (!net.in_service[b]) continue;
    const int f = net.from_bus[b], t = net.to_bus[b];
    const cd ys = 1.0 / cd(net.r_pu[b], net.x_pu[b]);
    const cd ysh(0, 0.5 * net.b_pu[b]);
    y[f * n + f] += ys + ysh;
    y[t * n + t] += ys + ysh;
    y[f * n + t] -= ys;
    y[t * n + f] -= ys;
  }
  // Unknowns: angle and magnitude of every non-slack bus.
  std::vector<int> idx;
  for (int i = 0; i < n; ++i)
    if (i != net.slack_bus) idx.push_back(i);
  const int m = static_cast<int>(idx.size());
  std::vector<double> vm(n, net.v_slack_pu), va(n, 0.0);
  NewtonResult res;
  for (int it = 0; it <= max_iterations; ++it) {
    std::vector<cd> v(n);
    for (int i = 0; i < n; ++i) v[i] = std::polar(vm[i], va[i]);
    std::vector<cd> ibus(n, cd(0, 0));
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < n; ++k) ibus[i] += y[i * n + k] * v[k];
    std::vector<double> mis(2 * m);
    double worst = 0;
    for (int a = 0; a < m; ++a) {
      const int i = idx[a];
      const cd s = v[i] * std::conj(ibus[i]);
      mis[a] = p_inj_pu[i] - s.real();
      mis[m + a] = q_inj_pu[i] - s.imag();
      worst = std::max({worst, std::abs(mis[a]), std::abs(mis[m + a])});
    }
    if (worst < tolerance_pu) {
      res.converged = true;
      res.iterations = it;
      const cd ss = v[net.slack_bus] * std::conj(ibus[net.slack_bus]);
      // Slack generation = computed injection + the slack bus's own demand.
      res.p_slack_pu = ss.real() - p_inj_pu[net.slack_bus];
      res.q_slack_pu = ss.imag() - q_inj_pu[net.slack_bus];
      break;
    }
    if (it == max_iterations) break;
    // Jacobian [dP/dth dP/dV; dQ/dth dQ/dV] with S_i = V_i conj(I_i).
    std::vector<double> jac(size_t(2 * m) * 2 * m, 0.0);
    for (int a = 0; a < m; ++a) {
      const int i = idx[a];
      for (int b = 0; b < m; ++b) {
        const int k = idx[b];
        const cd yik = y[i * n + k];
        double dp_dth, dp_dv, dq_dth, dq_dv;
        if (i == k) {
          const cd s = v[i] * std::conj(ibus[i]);
          const double g = yik.real(), bb = yik.imag();
          dp_dth = -s.imag() - bb * vm[i] * vm[i];
          dq_dth = s.real() - g * vm[i] * vm[i];
          dp_dv = s.real() / vm[i] + g * vm[i];
          dq_dv = s.imag() / vm[i] - bb * vm[i];
        } else {
          const double th = va[i] - va[k];
          const double g = yik.real(), bb = yik.imag();
          dp_dth = vm[i] * vm[k] * (g * std::sin(th) - bb * std::cos(th));
          dq_dth = -vm[i] * vm[k] * (g * std::cos(th) + bb * std::sin(th));
          dp_dv = vm[i] * (g * std::cos(th) + bb * std::sin(th));
          dq_dv = vm[i] * (g * std::sin(th) - bb * std::cos(th));
        }
        jac[size_t(a) * 2 * m + b] = dp_dth;
        jac[size_t(a) * 2 * m + m + b] = dp_dv;
        jac[size_t(m + a) * 2 * m + b] = dq_dth;
        jac[size_t(m + a) * 2 * m + m + b] = dq_dv;
      }
    }
    // Gaussian elimination with partial pivoting: J dx = mismatch.
    const int N = 2 * m;
    std::vector<double> rhs = mis;
    for (int c = 0; c < N; ++c) {
      int piv = c;
      for (int r = c + 1; r < N; ++r)
        if (std::abs(jac[size_t(r) * N + c]) > std::abs(jac[size_t(piv) * N + c])) piv = r;
      if (jac[size_t(piv) * N + c] == 0.0) throw std::runtime_error("singular Jacobian");
      if (piv != c) {
        for (int k = 0; k < N; ++k) std::swap(jac[size_t(c) * N + k], jac[size_t(piv) * N + k]);
        std::swap(rhs[c], rhs[piv]);
      }
      for (int r = c + 1; r < N; ++r) {
        const double f = jac[size_t(r) * N + c] / jac[size_t(c) * N + c];
        if (f == 0.0) continue;
        for (int k = c; k < N; ++k) jac[size_t(r) * N + k] -= f * jac[size_t(c) * N + k];
        rhs[r] -= f * rhs[c];
      }
    }
    std::vector<double> dx(N);
    for (int r = N - 1; r >= 0; --r) {
      double s = rhs[r];
      for (int k = r + 1; k < N; ++k) s -= jac[size_t(r) * N + k] * dx[k];
      dx[r] = s / jac[size_t(r) * N + r];
    }
    for (int a = 0; a < m; ++a) {
      va[idx[a]] += dx[a];
      vm[idx[a]] += dx[m + a];
    }
  }
  res.vm_pu = vm;
  res.va_rad = va;
  return res;
}

}  // namespace p2pgrid::test
