// CUDA backend of the batched power flow. Sweep: one thread per env running the shared P2P_HD
// sweep_power_flow with bus-major scratch (element k of env e at k * B + e, so a warp's loads
// coalesce). Z-bus: V = V_s - Z I(V) for the whole batch per iteration, the product as one complex
// GEMM (cuBLAS) W^T[B, n-1] = I^T[B, n-1] Z[n-1, n-1] with Z shared by all envs.
#include <cublas_v2.h>
#include <cuComplex.h>

#include <memory>
#include <vector>

#include "p2pgrid/core/device.hpp"
#include "p2pgrid/core/nvtx.hpp"
#include "p2pgrid/cuda/check.cuh"
#include "p2pgrid/cuda/launch.cuh"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid::detail {
namespace {

using cuda::blocks_for;
constexpr int kThreads = cuda::kThreadsPerBlock;

template <class Real>
struct ComplexOf;
template <>
struct ComplexOf<float> {
  using type = cuComplex;
};
template <>
struct ComplexOf<double> {
  using type = cuDoubleComplex;
};

/// Per-env view of the batched buffers with bus-major strided scratch.
template <class Real>
__device__ SweepEnv<Real> env_view(const PowerFlowIO<Real>& io, Real* scratch, int env, int batch,
                                   int nb, int nl) {
  const long long plane = static_cast<long long>(nb) * batch;
  return SweepEnv<Real>{io.p_inj_pu + static_cast<long long>(env) * nb,
                        io.q_inj_pu + static_cast<long long>(env) * nb,
                        {scratch + env, batch},
                        {scratch + plane + env, batch},
                        {scratch + 2 * plane + env, batch},
                        {scratch + 3 * plane + env, batch},
                        {scratch + 4 * plane + env, batch},
                        {scratch + 5 * plane + env, batch},
                        io.vm_pu + static_cast<long long>(env) * nb,
                        io.va_rad + static_cast<long long>(env) * nb,
                        io.p_branch_pu + static_cast<long long>(env) * nl,
                        io.q_branch_pu + static_cast<long long>(env) * nl,
                        io.p_loss_pu + env,
                        io.q_loss_pu + env,
                        io.p_slack_pu + env,
                        io.q_slack_pu + env,
                        io.iterations + env,
                        io.converged + env};
}

template <class Real>
__global__ void __launch_bounds__(kThreads)
    sweep_kernel(FeederView<Real> f, SweepSettings<Real> s, PowerFlowIO<Real> io, Real* scratch,
                 int batch) {
  const int env = blockIdx.x * blockDim.x + threadIdx.x;
  if (env >= batch) return;
  sweep_power_flow(f, s, env_view(io, scratch, env, batch, f.num_buses, f.num_branches));
}

template <class Real>
__global__ void zbus_start_kernel(FeederView<Real> f, PowerFlowIO<Real> io, Real* scratch,
                                  std::uint8_t* active, int batch) {
  const int env = blockIdx.x * blockDim.x + threadIdx.x;
  if (env >= batch) return;
  sweep_start(f, env_view(io, scratch, env, batch, f.num_buses, f.num_branches));
  // A feeder of one bus is solved by its start, after the one iteration the CPU counts.
  const bool alone = f.num_buses == 1;
  active[env] = !alone;
  io.iterations[env] = alone ? 1 : 0;
  io.converged[env] = alone ? 1 : 0;
}

// I^T[env, k-1] = current drawn at sweep position k, one thread per (k, env), env fastest.
template <class Real>
__global__ void zbus_current_kernel(FeederView<Real> f, PowerFlowIO<Real> io, Real* scratch,
                                    typename ComplexOf<Real>::type* current, int batch) {
  const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int nz = f.num_buses - 1;
  if (idx >= static_cast<long long>(nz) * batch) return;
  const int env = static_cast<int>(idx % batch);
  const int k = static_cast<int>(idx / batch) + 1;
  const SweepEnv<Real> e = env_view(io, scratch, env, batch, f.num_buses, f.num_branches);
  Real ir, ii;
  bus_current(f, e, k, ir, ii);
  current[idx].x = ir;
  current[idx].y = ii;
}

// V_k = V_s - W_k for active envs; per-env convergence; counts envs still iterating.
template <class Real>
__global__ void zbus_update_kernel(FeederView<Real> f, SweepSettings<Real> s, PowerFlowIO<Real> io,
                                   Real* scratch, const typename ComplexOf<Real>::type* w,
                                   std::uint8_t* active, int* still_active, int batch) {
  const int env = blockIdx.x * blockDim.x + threadIdx.x;
  if (env >= batch || !active[env]) return;
  const SweepEnv<Real> e = env_view(io, scratch, env, batch, f.num_buses, f.num_branches);
  VoltageUpdate<Real> update;
  for (int k = 1; k < f.num_buses; ++k) {
    const long long idx = static_cast<long long>(k - 1) * batch + env;
    update.store(e, s, k, e.v_re[0] - w[idx].x, e.v_im[0] - w[idx].y);
  }
  const int it = ++io.iterations[env];
  if (update.converged(s)) {
    io.converged[env] = 1;
    active[env] = 0;
  } else if (update.diverged || it >= s.max_iterations) {
    active[env] = 0;
  } else {
    atomicAdd(still_active, 1);
  }
}

template <class Real>
__global__ void zbus_finish_kernel(FeederView<Real> f, PowerFlowIO<Real> io, Real* scratch,
                                   int batch) {
  const int env = blockIdx.x * blockDim.x + threadIdx.x;
  if (env >= batch) return;
  sweep_finish(f, env_view(io, scratch, env, batch, f.num_buses, f.num_branches),
               io.iterations[env], io.converged[env] != 0);
}

inline cublasStatus_t gemm(cublasHandle_t h, int m, int n, int k, const cuComplex* a, int lda,
                           const cuComplex* b, int ldb, cuComplex* c, int ldc) {
  const cuComplex one = make_cuComplex(1.f, 0.f), zero = make_cuComplex(0.f, 0.f);
  return cublasCgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc);
}
inline cublasStatus_t gemm(cublasHandle_t h, int m, int n, int k, const cuDoubleComplex* a,
                           int lda, const cuDoubleComplex* b, int ldb, cuDoubleComplex* c,
                           int ldc) {
  const cuDoubleComplex one = make_cuDoubleComplex(1, 0), zero = make_cuDoubleComplex(0, 0);
  return cublasZgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc);
}

/// The feeder's arrays on the device in precision Real.
template <class Real>
struct DeviceFeeder {
  using Complex = typename ComplexOf<Real>::type;
  DeviceBuffer<int> bus_at, parent_pos, branch_pos;
  DeviceBuffer<std::int8_t> from_is_parent;
  DeviceBuffer<Real> reals;  // r, x, g, b [num_buses each], half_b [num_branches]
  DeviceBuffer<Complex> z;   // [(n-1), (n-1)], only for the Z-bus method
  FeederView<Real> view;

  DeviceFeeder(const FeederModel& m, bool with_z) {
    bus_at = to_device(Backend::kCuda, m.bus_at);
    parent_pos = to_device(Backend::kCuda, m.parent_pos);
    branch_pos = to_device(Backend::kCuda, m.branch_pos);
    from_is_parent = to_device(Backend::kCuda, m.branch_from_is_parent);
    std::vector<Real> host;
    const FeederView<Real> hv = m.host_view(host);
    reals = to_device(Backend::kCuda, host);
    const int nb = m.num_buses;
    view = hv;
    view.bus_at = bus_at.data();
    view.parent_pos = parent_pos.data();
    view.branch_pos = branch_pos.data();
    view.branch_from_is_parent = from_is_parent.data();
    view.r_pu = reals.data();
    view.x_pu = reals.data() + nb;
    view.g_shunt_pu = reals.data() + 2 * nb;
    view.b_shunt_pu = reals.data() + 3 * nb;
    view.branch_half_b_pu = reals.data() + 4 * nb;
    if (with_z) {
      std::vector<Complex> zc(m.z_re_pu.size());
      for (size_t i = 0; i < zc.size(); ++i) {
        zc[i].x = static_cast<Real>(m.z_re_pu[i]);
        zc[i].y = static_cast<Real>(m.z_im_pu[i]);
      }
      z = to_device(Backend::kCuda, zc);
    }
  }
};

class CudaPowerFlowSolver final : public PowerFlowSolver {
 public:
  CudaPowerFlowSolver(const FeederModel& feeder, const PowerFlowSettings& settings)
      : settings_(settings),
        zbus_(settings.method == PowerFlowMethod::kZbus),
        f32_(feeder, zbus_),
        f64_(feeder, zbus_) {
    if (zbus_) P2P_CUBLAS_CHECK(cublasCreate(&cublas_));
  }
  ~CudaPowerFlowSolver() override {
    if (cublas_) cublasDestroy(cublas_);
  }
  Backend backend() const override { return Backend::kCuda; }
  PowerFlowMethod method() const override { return settings_.method; }
  void solve(int batch, const PowerFlowIO<float>& io) override { run(f32_, batch, io); }
  void solve(int batch, const PowerFlowIO<double>& io) override { run(f64_, batch, io); }

 private:
  template <class Real>
  void run(const DeviceFeeder<Real>& feeder, int batch, const PowerFlowIO<Real>& io) {
    if (batch <= 0) return;
    const FeederView<Real>& f = feeder.view;
    SweepSettings<Real> s;
    s.tolerance_pu = static_cast<Real>(settings_.tolerance_pu);
    s.max_iterations = settings_.max_iterations;
    s.min_voltage_pu = static_cast<Real>(settings_.min_voltage_pu);
    const size_t scratch_bytes = 6ull * f.num_buses * batch * sizeof(Real);
    if (scratch_.size() < scratch_bytes) scratch_ = DeviceBuffer<char>(Backend::kCuda, scratch_bytes);
    Real* scratch = reinterpret_cast<Real*>(scratch_.data());
    if (!zbus_) {
      NvtxRange range("powerflow.sweep");
      // Asynchronous on the default stream: the env's next kernel follows without a host
      // round trip (and the whole step can be captured in a CUDA graph).
      sweep_kernel<Real><<<blocks_for(batch), kThreads>>>(f, s, io, scratch, batch);
      P2P_CUDA_LAUNCHED("sweep_kernel");
      return;
    }
    using Complex = typename ComplexOf<Real>::type;
    const int nz = f.num_buses - 1;
    const size_t cbytes = 2ull * nz * batch * sizeof(Complex);
    if (complex_.size() < cbytes) complex_ = DeviceBuffer<char>(Backend::kCuda, cbytes);
    if (active_.size() < size_t(batch)) active_ = DeviceBuffer<std::uint8_t>(Backend::kCuda, batch);
    if (!counter_.size()) counter_ = DeviceBuffer<int>(Backend::kCuda, 1);
    Complex* current = reinterpret_cast<Complex*>(complex_.data());
    Complex* w = current + static_cast<size_t>(nz) * batch;
    NvtxRange range("powerflow.zbus");
    zbus_start_kernel<Real><<<blocks_for(batch), kThreads>>>(f, io, scratch, active_.data(), batch);
    P2P_CUDA_LAUNCHED("zbus_start_kernel");
    // A feeder of one bus has nothing to iterate (and no GEMM of size 0 to call).
    for (int it = 0; nz > 0 && it < settings_.max_iterations; ++it) {
      zbus_current_kernel<Real><<<blocks_for(static_cast<long long>(nz) * batch), kThreads>>>(
          f, io, scratch, current, batch);
      P2P_CUDA_LAUNCHED("zbus_current_kernel");
      P2P_CUBLAS_CHECK(gemm(cublas_, batch, nz, nz, current, batch, feeder.z.data(), nz, w, batch));
      P2P_CUDA_CHECK(cudaMemsetAsync(counter_.data(), 0, sizeof(int)));
      zbus_update_kernel<Real><<<blocks_for(batch), kThreads>>>(f, s, io, scratch, w,
                                                               active_.data(), counter_.data(),
                                                               batch);
      P2P_CUDA_LAUNCHED("zbus_update_kernel");
      int still_active = 0;
      P2P_CUDA_CHECK(cudaMemcpy(&still_active, counter_.data(), sizeof(int),
                                cudaMemcpyDeviceToHost));
      if (still_active == 0) break;
    }
    zbus_finish_kernel<Real><<<blocks_for(batch), kThreads>>>(f, io, scratch, batch);
    P2P_CUDA_LAUNCHED("zbus_finish_kernel");
    P2P_CUDA_CHECK(cudaDeviceSynchronize());
  }

  PowerFlowSettings settings_;
  bool zbus_;
  cublasHandle_t cublas_ = nullptr;
  DeviceFeeder<float> f32_;
  DeviceFeeder<double> f64_;
  DeviceBuffer<char> scratch_, complex_;
  DeviceBuffer<std::uint8_t> active_;
  DeviceBuffer<int> counter_;
};

}  // namespace

std::unique_ptr<PowerFlowSolver> make_cuda_powerflow_solver(const FeederModel& feeder,
                                                            const PowerFlowSettings& settings) {
  return std::make_unique<CudaPowerFlowSolver>(feeder, settings);
}

}  // namespace p2pgrid::detail
