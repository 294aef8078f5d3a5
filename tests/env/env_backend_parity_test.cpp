// CPU/CUDA parity of the batched env: the same P2P_HD physics on both backends must give the
// same trajectories (skipped without a CUDA device; run it on the GPU machine).
#include <gtest/gtest.h>

#include <cmath>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/rng.hpp"
#include "p2pgrid/env/env_batch.hpp"
#include "support/gpu.hpp"
#include "support/worst.hpp"

namespace p2pgrid {
namespace {

struct ParityCase {
  const char* precision;
  double obs_tol, rel_tol;  // float32 power flows stop at 2e-6 p.u.
};

class EnvBackendParity : public ::testing::TestWithParam<ParityCase> {};

template <class T>
double worst_diff(const std::vector<T>& a, const std::vector<T>& b, bool relative) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    test::keep_worst(worst, relative ? d / std::max(1.0, std::abs(double(a[i]))) : d);
  }
  return worst;
}

TEST_P(EnvBackendParity, CudaMatchesCpuOverADayWithAutoReset) {
  P2P_REQUIRE_CUDA_DEVICE();
  Config cfg = Config::defaults();
  cfg.set(std::string("powerflow.precision=") + GetParam().precision);
  const EnvSpec spec = build_env_spec(cfg);
  const PowerFlowChoice pf = resolve_powerflow_config(cfg);
  PowerFlowChoice pf_cuda = pf;
  pf_cuda.backend = Backend::kCuda;
  const int B = 257;  // not a multiple of the block size
  EnvBatch cpu(spec, Backend::kCpu, B, pf);
  EnvBatch gpu(spec, Backend::kCuda, B, pf_cuda);
  cpu.reset(5);
  gpu.reset(5);
  const int A = cpu.num_agents();
  std::vector<float> actions(std::size_t(B) * A * kActionDim);
  DeviceBuffer<float> d_cpu(Backend::kCpu, actions.size()), d_gpu(Backend::kCuda, actions.size());
  double obs = 0, reward = 0, agent = 0, metrics = 0;
  for (int t = 0; t < kStepsPerDay + 4; ++t) {  // crosses the auto-reset
    Rng rng = make_rng(99, t);
    for (float& a : actions) a = 2.2f * rng.uniform_float() - 1.1f;
    d_cpu.copy_from_host(actions.data(), actions.size());
    d_gpu.copy_from_host(actions.data(), actions.size());
    cpu.step(d_cpu.data());
    gpu.step(d_gpu.data());
    const auto& vc = cpu.view();
    const auto& vg = gpu.view();
    const std::size_t no = std::size_t(B) * A * kObsDim, na = std::size_t(B) * A;
    obs = std::max(obs, worst_diff(cpu.to_host(vc.obs, no), gpu.to_host(vg.obs, no), false));
    reward = std::max(reward, worst_diff(cpu.to_host(vc.reward, na), gpu.to_host(vg.reward, na), true));
    const std::size_t nout = na * kNumAgentOut, nm = std::size_t(B) * kNumMetrics;
    agent = std::max(agent, worst_diff(cpu.to_host(vc.agent_out, nout), gpu.to_host(vg.agent_out, nout), true));
    metrics = std::max(metrics, worst_diff(cpu.to_host(vc.metrics, nm), gpu.to_host(vg.metrics, nm), true));
    EXPECT_EQ(cpu.to_host(vc.day, B), gpu.to_host(vg.day, B)) << "step " << t;
    EXPECT_EQ(cpu.to_host(vc.truncated, B), gpu.to_host(vg.truncated, B)) << "step " << t;
    EXPECT_EQ(cpu.to_host(vc.violation, B), gpu.to_host(vg.violation, B)) << "step " << t;
    if (t == kStepsPerDay - 1) {
      const std::size_t ns = std::size_t(B) * cpu.state_dim();
      EXPECT_LT(worst_diff(cpu.to_host(vc.final_state, ns), gpu.to_host(vg.final_state, ns), false),
                GetParam().obs_tol);
      EXPECT_LT(worst_diff(cpu.to_host(vc.last_episode, nm), gpu.to_host(vg.last_episode, nm), true),
                GetParam().rel_tol * kStepsPerDay);
    }
  }
  EXPECT_LT(obs, GetParam().obs_tol);
  EXPECT_LT(reward, GetParam().rel_tol);
  EXPECT_LT(agent, GetParam().rel_tol);
  EXPECT_LT(metrics, GetParam().rel_tol);
}

INSTANTIATE_TEST_SUITE_P(Precisions, EnvBackendParity,
                         ::testing::Values(ParityCase{"float64", 1e-5, 1e-6},
                                           ParityCase{"float32", 1e-3, 1e-4}),
                         [](const auto& info) { return std::string(info.param.precision); });

}  // namespace
}  // namespace p2pgrid
