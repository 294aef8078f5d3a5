// The CUDA expert's host driver (src/expert/admm_cuda_driver.cpp) on a machine without a GPU:
// its launchers are emulated on the host (emulated_cuda.cpp), everything else is the real code:
// uploads and transposes, checks, rho levels per group, frozen envs, warm starts, and the
// expert's bounds computed on the device (src/expert/expert_cuda.cpp). The same
// parity check as the GPU test, which the H200 runs with the real kernels.
#include "expert/admm_parity.hpp"

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

}  // namespace
}  // namespace p2pgrid
