// CPU backend of the batched power flow: envs split across OpenMP threads, each running the
// shared P2P_HD sweep (or the Z-bus fixed point) with thread-private scratch.
#include <algorithm>
#include <cmath>
#include <vector>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"
#include "p2pgrid/core/threads.hpp"

namespace p2pgrid::detail {
namespace {


template <class Real>
struct CpuFeeder {
  std::vector<Real> store;
  FeederView<Real> view;
  std::vector<Real> z_re, z_im;  // [(n-1), (n-1)]
};

class CpuPowerFlowSolver final : public PowerFlowSolver {
 public:
  CpuPowerFlowSolver(const FeederModel& feeder, const PowerFlowSettings& settings)
      : feeder_(feeder), settings_(settings) {
    f32_.view = feeder_.host_view(f32_.store);
    f64_.view = feeder_.host_view(f64_.store);
    if (settings_.method == PowerFlowMethod::kZbus) {
      f32_.z_re.assign(feeder_.z_re_pu.begin(), feeder_.z_re_pu.end());
      f32_.z_im.assign(feeder_.z_im_pu.begin(), feeder_.z_im_pu.end());
      f64_.z_re = feeder_.z_re_pu;
      f64_.z_im = feeder_.z_im_pu;
    }
  }
  Backend backend() const override { return Backend::kCpu; }
  PowerFlowMethod method() const override { return settings_.method; }
  void solve(int batch, const PowerFlowIO<float>& io) override { run(f32_, batch, io); }
  void solve(int batch, const PowerFlowIO<double>& io) override { run(f64_, batch, io); }

 private:
  template <class Real>
  void run(const CpuFeeder<Real>& feeder, int batch, const PowerFlowIO<Real>& io) {
    const int nb = feeder_.num_buses, nl = feeder_.num_branches;
    SweepSettings<Real> s;
    s.tolerance_pu = static_cast<Real>(settings_.tolerance_pu);
    s.max_iterations = settings_.max_iterations;
    s.min_voltage_pu = static_cast<Real>(settings_.min_voltage_pu);
    const int threads = cpu_threads(settings_.threads);
    const bool zbus = settings_.method == PowerFlowMethod::kZbus;
#pragma omp parallel num_threads(threads)
    {
      // Scratch: 6 sweep arrays + (Z-bus) 2 current and 2 product arrays, stride 1.
      std::vector<Real> scratch(10 * size_t(nb));
      Real* sc = scratch.data();
#pragma omp for schedule(static)
      for (int env = 0; env < batch; ++env) {
        SweepEnv<Real> e{io.p_inj_pu + size_t(env) * nb,
                         io.q_inj_pu + size_t(env) * nb,
                         {sc, 1}, {sc + nb, 1}, {sc + 2 * nb, 1},
                         {sc + 3 * nb, 1}, {sc + 4 * nb, 1}, {sc + 5 * nb, 1},
                         io.vm_pu + size_t(env) * nb,
                         io.va_rad + size_t(env) * nb,
                         io.p_branch_pu + size_t(env) * nl,
                         io.q_branch_pu + size_t(env) * nl,
                         io.p_loss_pu + env, io.q_loss_pu + env,
                         io.p_slack_pu + env, io.q_slack_pu + env,
                         io.iterations + env, io.converged + env};
        if (zbus) {
          zbus_power_flow(feeder, s, e, sc + 6 * nb);
        } else {
          sweep_power_flow(feeder.view, s, e);
        }
      }
    }
  }

  // Implicit Z-bus fixed point V = V_s - Z I(V), the same iteration as the sweep written as a
  // dense matrix-vector product (the CUDA backend batches it into one GEMM).
  template <class Real>
  static void zbus_power_flow(const CpuFeeder<Real>& feeder, const SweepSettings<Real>& s,
                              const SweepEnv<Real>& e, Real* work) {
    const FeederView<Real>& f = feeder.view;
    const int n = f.num_buses, nz = n - 1;
    Real* i_re = work;
    Real* i_im = work + n;
    Real* w_re = work + 2 * n;
    Real* w_im = work + 3 * n;
    sweep_start(f, e);
    bool converged = false;
    int it = 0;
    while (it < s.max_iterations) {
      ++it;
      for (int k = 1; k < n; ++k) bus_current(f, e, k, i_re[k - 1], i_im[k - 1]);
      std::fill(w_re, w_re + nz, Real(0));
      std::fill(w_im, w_im + nz, Real(0));
      for (int l = 0; l < nz; ++l) {  // column sweep: Z is symmetric, rows are contiguous
        const Real* zr = feeder.z_re.data() + size_t(l) * nz;
        const Real* zi = feeder.z_im.data() + size_t(l) * nz;
        const Real ir = i_re[l], ii = i_im[l];
        for (int k = 0; k < nz; ++k) {
          w_re[k] += zr[k] * ir - zi[k] * ii;
          w_im[k] += zr[k] * ii + zi[k] * ir;
        }
      }
      VoltageUpdate<Real> update;
      for (int k = 1; k < n; ++k)
        update.store(e, s, k, e.v_re[0] - w_re[k - 1], e.v_im[0] - w_im[k - 1]);
      if (update.diverged) break;
      if (update.converged(s)) {
        converged = true;
        break;
      }
    }
    sweep_finish(f, e, it, converged);
  }

  FeederModel feeder_;
  PowerFlowSettings settings_;
  CpuFeeder<float> f32_;
  CpuFeeder<double> f64_;
};

}  // namespace

std::unique_ptr<PowerFlowSolver> make_cpu_powerflow_solver(const FeederModel& feeder,
                                                           const PowerFlowSettings& settings) {
  return std::make_unique<CpuPowerFlowSolver>(feeder, settings);
}

}  // namespace p2pgrid::detail
