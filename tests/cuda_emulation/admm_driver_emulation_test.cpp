// The CUDA expert's host driver (src/expert/admm_cuda_driver.cpp) on a machine without a GPU:
// its launchers are emulated on the host (emulated_cuda.cpp), everything else is the real code:
// uploads and transposes, checks, rho levels per group, frozen envs, warm starts, and the
// expert's bounds computed on the device (src/expert/expert_cuda.cpp). The same
// parity check as the GPU test, which the H200 runs with the real kernels.
#include "expert/admm_parity.hpp"
#include "support/errors.hpp"

namespace p2pgrid::cuda {
extern std::size_t emulated_free_memory_bytes;  // emulated_cuda.cpp: what cudaMemGetInfo says
}

namespace p2pgrid {
namespace {

TEST(ExpertAdmmCudaEmulated, TakesTheCpuDecisionsAndReturnsItsPlans) {
  ASSERT_TRUE(built_with_cuda());  // this binary's driver, not the CPU fallback
  test::expect_cuda_plans_equal_cpu_plans(20000, true);
}

TEST(ExpertAdmmCudaEmulated, TakesTheCpuDecisionsOnSharedBoundsAndRhoLevelEdgeCases) {
  test::expect_cuda_solves_equal_cpu_solves_on_bound_cases(true);
}

TEST(ExpertAdmmCudaEmulated, ComputesTheBoundsOnTheDeviceBitForBitLikeTheHost) {
  test::expect_device_bounds_equal_host_bounds();
}

TEST(ExpertAdmmCudaEmulated, ReLinearizesAndReSolvesLikeTheCpu) {
  test::expect_cuda_dso_round_equal_cpu(true);
}

TEST(ExpertAdmmCudaEmulated, AWarmStartFromAnotherQpIsAnError) {
  test::expect_warm_start_from_another_qp_is_an_error(Backend::kCuda);
}

TEST(ExpertAdmmCudaEmulated, StopsAtTheIterationLimitLikeTheCpu) {
  // 310 is not a multiple of check_every: every env ends between two regular checks. At 30
  // every env is still running at the limit, 10 iterations after an Anderson step: the limit's
  // iterate is a plain one on both backends (no Anderson point at the limit).
  test::expect_cuda_plans_equal_cpu_plans(310, true);
  test::expect_cuda_plans_equal_cpu_plans(30, true);
}

TEST(ExpertAdmmCudaEmulated, SplitsABatchThatDoesNotFitTheDeviceIntoWholeGroups) {
  // 11 envs: in one device solve, then with free memory for 10 of them and with
  // expert.cuda_max_batch = 12 (both rounded down to whole groups: parts of 8 and 3): the same
  // plans bit for bit, and warm starts from split plans (device copies from two parts) give
  // the same re-plans as from one part.
  ExpertSettings settings = resolve_expert_config(Config::defaults());
  settings.admm.backend = Backend::kCuda;
  settings.admm.chunk_envs = kAdmmGroup;
  const Expert whole(test::default_env_spec(), settings, test::default_cpu_powerflow());
  settings.cuda_max_batch = 12;
  const Expert twelve(test::default_env_spec(), settings, test::default_cpu_powerflow());
  const std::vector<ExpertEnvData> envs = test::expert_envs_from(whole, 72, 11);
  const std::size_t per_env = whole.admm().cuda_bytes_per_env(kStepsPerDay - 72);
  const std::vector<ExpertPlan> one = whole.plan(envs);
  struct Restore {
    ~Restore() { cuda::emulated_free_memory_bytes = std::size_t(1) << 50; }
  } restore;
  cuda::emulated_free_memory_bytes = per_env * 10 / 9 * 10 + 16;  // 90 % of it holds 10 envs
  const std::vector<ExpertPlan> split = whole.plan(envs);
  const std::vector<ExpertPlan> warm_split = whole.plan(envs, &split);
  cuda::emulated_free_memory_bytes = std::size_t(1) << 50;
  const std::vector<ExpertPlan> by_twelve = twelve.plan(envs);
  const std::vector<ExpertPlan> warm_one = whole.plan(envs, &one);
  for (std::size_t e = 0; e < envs.size(); ++e) {
    SCOPED_TRACE("env " + std::to_string(e));
    for (const std::vector<ExpertPlan>* p : {&split, &by_twelve}) {
      EXPECT_EQ((*p)[e].info.iterations, one[e].info.iterations);
      EXPECT_EQ((*p)[e].iterate.x, one[e].iterate.x);
      EXPECT_EQ((*p)[e].objective_cny, one[e].objective_cny);
    }
    EXPECT_EQ(warm_split[e].info.iterations, warm_one[e].info.iterations);
    EXPECT_EQ(warm_split[e].iterate.x, warm_one[e].iterate.x);
  }
  // Split plans keep their z and y in the device copies of their parts.
  for (const std::vector<ExpertPlan>* p : {&split, &by_twelve}) {
    EXPECT_EQ((*p)[0].iterate.device, (*p)[7].iterate.device);
    EXPECT_NE((*p)[7].iterate.device, (*p)[8].iterate.device);
  }
  EXPECT_EQ(one[0].iterate.device, one[10].iterate.device);
  // Not even one env fits: an error that says what is needed.
  cuda::emulated_free_memory_bytes = per_env / 2;
  const std::string msg = test::error_of([&] { whole.plan(envs); });
  EXPECT_NE(msg.find("one env's solve needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--backend cpu"), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2pgrid
