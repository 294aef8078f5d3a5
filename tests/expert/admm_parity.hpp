// The CPU/CUDA parity check of the expert's ADMM, shared by the GPU test
// (admm_backend_test.cpp) and the host emulation of the CUDA launchers (tests/cuda_emulation/).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/env/profiles.hpp"
#include "p2pgrid/expert/expert.hpp"
#include "support/env_fixtures.hpp"

namespace p2pgrid::test {

/// Envs of the default spec from step t0 (a short horizon keeps the tests fast), on different
/// test days.
inline std::vector<ExpertEnvData> expert_envs_from(const Expert& expert, int t0, int count) {
  const std::vector<int> days = days_in_split(expert.spec().profiles.year, Split::kTest);
  std::vector<ExpertEnvData> envs;
  for (int e = 0; e < count; ++e) {
    ExpertEnvData d = expert.initial_data(days[(3 * e) % days.size()]);
    d.t0 = t0;
    envs.push_back(d);
  }
  return envs;
}

/// 11 envs (a full group of 8 and a partial one) with adaptive rho, cold and then warm-started
/// from the plans, on both backends: the CPU with chunk_envs = 8 (the CUDA groups) must take
/// the same decisions, so statuses, iterations and rho levels are equal and the iterates agree.
/// admm_cuda.cu is compiled without fused multiply-adds and admm.cpp without contraction, so
/// the arithmetic is the same; `bitwise` (the host emulation) requires identical iterates, the
/// GPU is allowed 1e-9 relative in the objective and 1e-6 kW in the set-points.
inline void expect_cuda_plans_equal_cpu_plans(int max_iterations, bool bitwise) {
  const EnvSpec& spec = default_env_spec();
  ExpertSettings cpu_settings = resolve_expert_config(Config::defaults());
  cpu_settings.admm.backend = Backend::kCpu;
  cpu_settings.admm.adaptive_rho = true;
  cpu_settings.admm.chunk_envs = kAdmmGroup;
  cpu_settings.admm.max_iterations = max_iterations;
  ExpertSettings gpu_settings = cpu_settings;
  gpu_settings.admm.backend = Backend::kCuda;
  const Expert cpu(spec, cpu_settings, default_cpu_powerflow());
  const Expert gpu(spec, gpu_settings, default_cpu_powerflow());
  const std::vector<ExpertEnvData> envs = expert_envs_from(cpu, 72, 11);
  const std::vector<ExpertPlan> a = cpu.plan(envs), b = gpu.plan(envs);
  const std::vector<ExpertPlan> wa = cpu.plan(envs, &a), wb = gpu.plan(envs, &b);
  for (const bool warm : {false, true}) {
    const std::vector<ExpertPlan>& p = warm ? wa : a;
    const std::vector<ExpertPlan>& q = warm ? wb : b;
    for (std::size_t e = 0; e < envs.size(); ++e) {
      SCOPED_TRACE("max_iterations " + std::to_string(max_iterations) + ", env " +
                   std::to_string(e) + (warm ? " warm" : " cold"));
      EXPECT_EQ(p[e].info.status, q[e].info.status);
      EXPECT_EQ(p[e].info.iterations, q[e].info.iterations);
      EXPECT_EQ(p[e].iterate.rho_level, q[e].iterate.rho_level);
      if (bitwise) {
        EXPECT_EQ(p[e].objective_cny, q[e].objective_cny);
        EXPECT_EQ(p[e].iterate.x, q[e].iterate.x);
        EXPECT_EQ(p[e].iterate.y, q[e].iterate.y);
        continue;
      }
      EXPECT_NEAR(p[e].objective_cny, q[e].objective_cny, 1e-9 * std::abs(p[e].objective_cny));
      double dx = 0;
      for (std::size_t i = 0; i < p[e].iterate.x.size(); ++i)
        dx = std::max(dx, std::abs(p[e].iterate.x[i] - q[e].iterate.x[i]));
      EXPECT_LT(dx, 1e-6) << "kW";
    }
  }
}

}  // namespace p2pgrid::test
