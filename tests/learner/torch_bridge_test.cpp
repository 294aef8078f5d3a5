// The torch bridge aliases the env's memory: same pointers, batch-first shapes, steps visible
// through the views without copies. Built only with P2P_TORCH=ON.
#include <gtest/gtest.h>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/learner/torch_bridge.hpp"

namespace p2pgrid {
namespace {

TEST(TorchBridge, TensorsAliasTheEnvBuffers) {
  Config cfg = Config::defaults();
  const EnvSpec spec = build_env_spec(cfg);
  EnvBatch env(spec, Backend::kCpu, 3, resolve_powerflow_config(cfg));
  env.reset(1);
  const learner::EnvTensors t = learner::env_tensors(env);
  EXPECT_EQ(t.obs.data_ptr(), static_cast<void*>(env.view().obs));
  EXPECT_EQ(t.obs.sizes(), (std::vector<int64_t>{3, 20, kObsDim}));
  EXPECT_EQ(t.state.sizes(), (std::vector<int64_t>{3, env.state_dim()}));
  EXPECT_EQ(t.action_mask.sizes(), (std::vector<int64_t>{20, kActionDim}));
  // Actions from a tensor, a step, and the views see the new values.
  torch::Tensor actions = torch::zeros({3, 20, kActionDim}, torch::kFloat32);
  env.step(actions.data_ptr<float>());
  EXPECT_FLOAT_EQ(t.obs.index({0, 0, 0}).item<float>(), 1.0f / kStepsPerDay);  // time column
  EXPECT_EQ(t.reward.index({1, 0}).item<float>(), env.view().reward[1 * 20]);
  EXPECT_LT(t.reward.max().item<float>(), 0.0f);  // costs make every reward negative
}

}  // namespace
}  // namespace p2pgrid
