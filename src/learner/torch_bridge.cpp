// Zero-copy tensor views of EnvBatch buffers (see torch_bridge.hpp).
#include "p2pgrid/learner/torch_bridge.hpp"

namespace p2pgrid::learner {
namespace {

template <class T>
torch::Tensor view_of(const T* ptr, std::vector<int64_t> shape, torch::Dtype dtype,
                      Backend backend) {
  // from_blob takes a mutable pointer; the env owns the memory and the learner reads it.
  return torch::from_blob(const_cast<T*>(ptr), shape,
                          torch::TensorOptions().dtype(dtype).device(torch_device(backend)));
}

}  // namespace

torch::Device torch_device(Backend backend) {
  return backend == Backend::kCuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

EnvTensors env_tensors(const EnvBatch& env) {
  const EnvBatchView& v = env.view();
  const int64_t B = env.num_envs(), A = env.num_agents(), S = env.state_dim();
  const Backend be = env.backend();
  EnvTensors t;
  t.obs = view_of(v.obs, {B, A, kObsDim}, torch::kFloat32, be);
  t.state = view_of(v.state, {B, S}, torch::kFloat32, be);
  t.reward = view_of(v.reward, {B, A}, torch::kFloat32, be);
  t.terminated = view_of(v.terminated, {B}, torch::kUInt8, be);
  t.truncated = view_of(v.truncated, {B}, torch::kUInt8, be);
  t.violation = view_of(v.violation, {B}, torch::kUInt8, be);
  t.final_obs = view_of(v.final_obs, {B, A, kObsDim}, torch::kFloat32, be);
  t.final_state = view_of(v.final_state, {B, S}, torch::kFloat32, be);
  t.action_mask = view_of(env.action_mask(), {A, kActionDim}, torch::kFloat32, be);
  return t;
}

}  // namespace p2pgrid::learner
