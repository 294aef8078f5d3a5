// CPU/CUDA parity of the batched env: the same P2P_HD physics on both backends must give the
// same trajectories (skipped without a CUDA device; run it on the GPU machine).
#include <gtest/gtest.h>

#include <cmath>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/rng.hpp"
#include "p2pgrid/env/env_batch.hpp"

namespace p2pgrid {
namespace {

TEST(EnvBackendParity, CudaMatchesCpuOverADayWithAutoReset) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device: " << cuda_device_description();
  Config cfg = Config::defaults();
  cfg.set("powerflow.precision=float64");
  cfg.set("powerflow.tolerance_pu=1e-10");
  const EnvSpec spec = build_env_spec(cfg);
  PowerFlowChoice pf = resolve_powerflow_config(cfg);
  const int B = 257;  // not a multiple of the block size
  PowerFlowChoice pf_cuda = pf;
  pf_cuda.backend = Backend::kCuda;
  EnvBatch cpu(spec, Backend::kCpu, B, pf);
  EnvBatch gpu(spec, Backend::kCuda, B, pf_cuda);
  cpu.reset(5);
  gpu.reset(5);
  const int A = cpu.num_agents();
  std::vector<float> actions(std::size_t(B) * A * kActionDim);
  DeviceBuffer<float> d_cpu(Backend::kCpu, actions.size()), d_gpu(Backend::kCuda, actions.size());
  double worst_obs = 0, worst_reward = 0;
  for (int t = 0; t < kStepsPerDay + 4; ++t) {  // crosses the auto-reset
    Rng rng = make_rng(99, t);
    for (float& a : actions) a = 2.2f * rng.uniform_float() - 1.1f;
    d_cpu.copy_from_host(actions.data(), actions.size());
    d_gpu.copy_from_host(actions.data(), actions.size());
    cpu.step(d_cpu.data());
    gpu.step(d_gpu.data());
    const auto oc = cpu.to_host(cpu.view().obs, std::size_t(B) * A * kObsDim);
    const auto og = gpu.to_host(gpu.view().obs, oc.size());
    for (std::size_t i = 0; i < oc.size(); ++i)
      worst_obs = std::max(worst_obs, double(std::abs(oc[i] - og[i])));
    const auto rc = cpu.to_host(cpu.view().reward, std::size_t(B) * A);
    const auto rg = gpu.to_host(gpu.view().reward, rc.size());
    for (std::size_t i = 0; i < rc.size(); ++i)
      worst_reward = std::max(worst_reward, double(std::abs(rc[i] - rg[i])) /
                                                std::max(1.0, double(std::abs(rc[i]))));
    EXPECT_EQ(cpu.to_host(cpu.view().day, B), gpu.to_host(gpu.view().day, B)) << "step " << t;
    EXPECT_EQ(cpu.to_host(cpu.view().truncated, B), gpu.to_host(gpu.view().truncated, B));
  }
  EXPECT_LT(worst_obs, 1e-4);
  EXPECT_LT(worst_reward, 1e-5);
}

}  // namespace
}  // namespace p2pgrid
