// The CUDA expert's host driver (src/expert/admm_cuda_driver.cpp) on a machine without a GPU:
// its launchers are emulated on the host (emulated_cuda.cpp), everything else is the real code:
// uploads and transposes, checks, rho levels per group, frozen envs, warm starts, and the
// expert's bounds computed on the device (src/expert/expert_cuda.cpp). The same
// parity check as the GPU test, which the H200 runs with the real kernels.
#include <set>

#include "expert/admm_parity.hpp"
#include "support/errors.hpp"

namespace p2pgrid::cuda {  // emulated_cuda.cpp: the emulated device's memory
extern std::size_t emulated_capacity_bytes;
std::size_t emulated_bytes_in_use();
}  // namespace p2pgrid::cuda

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

TEST(ExpertAdmmCudaEmulated, CertifiesAndExportsPlansWhoseMultipliersAreOnTheDevice) {
  test::expect_cuda_certificates_equal_cpu(true);
}

TEST(ExpertAdmmCudaEmulated, StopsAtTheIterationLimitLikeTheCpu) {
  // 310 is not a multiple of check_every: every env ends between two regular checks. At 30
  // every env is still running at the limit, 10 iterations after an Anderson step: the limit's
  // iterate is a plain one on both backends (no Anderson point at the limit).
  test::expect_cuda_plans_equal_cpu_plans(310, true);
  test::expect_cuda_plans_equal_cpu_plans(30, true);
}

TEST(ExpertAdmmCudaEmulated, SplitsABatchThatDoesNotFitTheDeviceIntoWholeGroups) {
  // 19 envs: in one device solve, then on a device with room for 10 (the emulated device counts
  // its memory and refuses an allocation past its size) and with expert.cuda_max_batch = 12:
  // parts of 8 (rounded down to whole groups), each sized from the memory left when it starts
  // (the parts before keep their results on the device), then the rest. The same plans bit
  // for bit, and warm starts from split plans (device copies from several parts) give the
  // same re-plans as from one part.
  ExpertSettings settings = resolve_expert_config(Config::defaults());
  settings.admm.backend = Backend::kCuda;
  settings.admm.chunk_envs = kAdmmGroup;
  const Expert whole(test::default_env_spec(), settings, test::default_cpu_powerflow());
  settings.cuda_max_batch = 12;
  const Expert twelve(test::default_env_spec(), settings, test::default_cpu_powerflow());
  const std::vector<ExpertEnvData> envs = test::expert_envs_from(whole, 72, 19);
  const std::size_t per_env = whole.admm().cuda_bytes_per_env(kStepsPerDay - 72);
  const std::size_t reserved = whole.admm().cuda_reserved_bytes();
  // A device whose usable memory (90 % of the free, less the reserve) holds k envs' solves.
  auto room_for = [&](double k) {
    return cuda::emulated_bytes_in_use() +
           static_cast<std::size_t>((reserved + k * double(per_env)) / 0.9) + 16;
  };
  struct Restore {
    ~Restore() { cuda::emulated_capacity_bytes = std::size_t(1) << 50; }
  } restore;
  const std::vector<ExpertPlan> one = whole.plan(envs);
  const std::vector<ExpertPlan> warm_one = whole.plan(envs, &one);
  const std::vector<ExpertPlan> by_twelve = twelve.plan(envs);
  // Room for 10 envs' solves beside what is in use now (the plans above, the cached factors).
  cuda::emulated_capacity_bytes = room_for(10);
  const std::vector<ExpertPlan> split = whole.plan(envs);
  const std::vector<ExpertPlan> warm_split = whole.plan(envs, &split);
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
  // Parts of 8, 8 and 3: each part's plans share their device copy.
  EXPECT_EQ(one[0].iterate.device, one[18].iterate.device);
  for (const std::vector<ExpertPlan>* p : {&split, &by_twelve}) {
    EXPECT_EQ((*p)[0].iterate.device, (*p)[7].iterate.device);
    EXPECT_NE((*p)[7].iterate.device, (*p)[8].iterate.device);
    EXPECT_EQ((*p)[8].iterate.device, (*p)[15].iterate.device);
    EXPECT_NE((*p)[15].iterate.device, (*p)[16].iterate.device);
    EXPECT_EQ((*p)[16].iterate.device, (*p)[18].iterate.device);
  }
  // Room for 9 envs, 17 envs: each part sized from the memory left when it starts (8, then
  // fewer as the parts' results pile up; with a fixed 8 the reserve would be spent on them).
  // Parts under a whole group may take other rho decisions, so the plans are compared to the
  // solver's tolerance.
  const std::vector<ExpertEnvData> more = test::expert_envs_from(whole, 72, 17);
  cuda::emulated_capacity_bytes = std::size_t(1) << 50;
  const std::vector<ExpertPlan> more_one = whole.plan(more);
  cuda::emulated_capacity_bytes = room_for(9);
  const std::vector<ExpertPlan> more_split = whole.plan(more);
  std::set<const AdmmDeviceIterates*> parts;
  for (std::size_t e = 0; e < more.size(); ++e) {
    EXPECT_EQ(more_split[e].info.status, SolveStatus::kSolved);
    EXPECT_NEAR(more_split[e].objective_cny, more_one[e].objective_cny,
                1e-4 * std::abs(more_one[e].objective_cny));
    parts.insert(more_split[e].iterate.device.get());
  }
  EXPECT_GE(parts.size(), 3u);
  // Not even one env fits: an error that says what is needed.
  cuda::emulated_capacity_bytes = room_for(0.5);
  const std::string msg = test::error_of([&] { whole.plan(envs); });
  EXPECT_NE(msg.find("one env's solve needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--backend cpu"), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2pgrid
