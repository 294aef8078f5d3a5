// The CUDA kernel of the expert's bounds (expert_bounds.hpp): one thread per env runs the same
// expert_env_bounds as the host and writes its bounds lane-major, where the ADMM's split and
// lanes read them (admm_cuda.hpp). The tables' loads are the same for every thread.
#include <cuda_runtime.h>

#include "p2pgrid/cuda/check.cuh"
#include "p2pgrid/expert/admm_cuda.hpp"

namespace p2pgrid::detail {
namespace {

__global__ void expert_bounds_kernel(ExpertBoundsView tables, int batch, int blocks, const int* day,
                                     const double* p_prev, const double* soc, const double* offsets,
                                     const long long* offset_at, double* l, double* u) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch) return;
  const long long units = tables.units;
  expert_env_bounds(tables, blocks, day[e], offset_at[e] >= 0 ? offsets + offset_at[e] : nullptr,
                    p_prev + e * units, soc + e * units, lane_of(l, e, batch),
                    lane_of(u, e, batch));
}

}  // namespace

void cuda_expert_bounds(const ExpertBoundsView& tables, int batch, int blocks, const int* day,
                        const double* p_prev, const double* soc, const double* offsets,
                        const long long* offset_at, double* l, double* u) {
  if (batch == 0) return;
  constexpr int kThreads = 64;
  expert_bounds_kernel<<<(batch + kThreads - 1) / kThreads, kThreads>>>(
      tables, batch, blocks, day, p_prev, soc, offsets, offset_at, l, u);
  P2P_CUDA_LAUNCHED("expert_bounds_kernel");
}

}  // namespace p2pgrid::detail
