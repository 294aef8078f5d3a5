// Host-callable launchers of the env's CUDA kernels (cuda/env/env_cuda.cu): each runs the
// P2P_HD functions of physics.hpp with one thread per env. Only with P2P_HAVE_CUDA.
#pragma once

#include <cstdint>

#include "p2pgrid/env/physics.hpp"

namespace p2pgrid::detail {

void cuda_env_reset(const EnvParamsView& p, const EnvBatchView& b, std::uint64_t seed,
                    const int* day_ids);  // [B] device, or nullptr to draw from the split
template <class Real>
void cuda_env_apply(const EnvParamsView& p, const EnvBatchView& b, const float* actions,
                    Real* p_inj_pu, Real* q_inj_pu);
template <class Real>
void cuda_env_finish(const EnvParamsView& p, const EnvBatchView& b, const Real* vm_pu,
                     const std::uint8_t* pf_converged);

}  // namespace p2pgrid::detail
