// CUDA launchers of the env (env_cuda.hpp): one thread per env running the shared P2P_HD
// functions of physics.hpp, so the GPU and CPU envs are the same code.
#include <cuda_runtime.h>

#include "p2pgrid/cuda/check.cuh"
#include "p2pgrid/cuda/launch.cuh"
#include "p2pgrid/env/env_cuda.hpp"

namespace p2pgrid::detail {
namespace {

using cuda::blocks_for;
constexpr int kThreads = cuda::kThreadsPerBlock;

__global__ void env_reset_kernel(EnvParamsView p, EnvBatchView b, std::uint64_t seed,
                                 const int* day_ids) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= b.num_envs) return;
  env_reset_one(p, b, e, seed, day_ids ? day_ids[e] : -1);
}

template <class Real>
__global__ void env_apply_kernel(EnvParamsView p, EnvBatchView b, const float* actions,
                                 Real* p_inj_pu, Real* q_inj_pu) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= b.num_envs) return;
  const long long a_stride = static_cast<long long>(p.num_agents) * kActionDim;
  env_apply_actions<Real>(p, env_state_of(b, e), actions + e * a_stride, env_out_of(b, e),
                          p_inj_pu + static_cast<long long>(e) * p.num_buses,
                          q_inj_pu + static_cast<long long>(e) * p.num_buses);
}

template <class Real>
__global__ void env_finish_kernel(EnvParamsView p, EnvBatchView b, const Real* vm_pu,
                                  const std::uint8_t* pf_converged) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= b.num_envs) return;
  env_finish_step<Real>(p, env_state_of(b, e), vm_pu + static_cast<long long>(e) * p.num_buses,
                        pf_converged[e] != 0, env_out_of(b, e));
}

}  // namespace

void cuda_env_reset(const EnvParamsView& p, const EnvBatchView& b, std::uint64_t seed,
                    const int* day_ids) {
  env_reset_kernel<<<blocks_for(b.num_envs), kThreads>>>(p, b, seed, day_ids);
  P2P_CUDA_LAUNCHED("env_reset_kernel");
  P2P_CUDA_CHECK(cudaDeviceSynchronize());
}

template <class Real>
void cuda_env_apply(const EnvParamsView& p, const EnvBatchView& b, const float* actions,
                    Real* p_inj_pu, Real* q_inj_pu) {
  env_apply_kernel<Real><<<blocks_for(b.num_envs), kThreads>>>(p, b, actions, p_inj_pu, q_inj_pu);
  P2P_CUDA_LAUNCHED("env_apply_kernel");
}

template <class Real>
void cuda_env_finish(const EnvParamsView& p, const EnvBatchView& b, const Real* vm_pu,
                     const std::uint8_t* pf_converged) {
  env_finish_kernel<Real><<<blocks_for(b.num_envs), kThreads>>>(p, b, vm_pu, pf_converged);
  P2P_CUDA_LAUNCHED("env_finish_kernel");
}

template void cuda_env_apply<float>(const EnvParamsView&, const EnvBatchView&, const float*,
                                    float*, float*);
template void cuda_env_apply<double>(const EnvParamsView&, const EnvBatchView&, const float*,
                                     double*, double*);
template void cuda_env_finish<float>(const EnvParamsView&, const EnvBatchView&, const float*,
                                     const std::uint8_t*);
template void cuda_env_finish<double>(const EnvParamsView&, const EnvBatchView&, const double*,
                                      const std::uint8_t*);

}  // namespace p2pgrid::detail
