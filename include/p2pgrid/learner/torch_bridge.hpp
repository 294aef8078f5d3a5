// The bridge between simulator memory and LibTorch: an EnvBatch's buffers as tensors on the
// env's device, without copies (torch::from_blob). The only header of the simulator side that
// includes <torch/torch.h>; built when P2P_TORCH=ON (LibTorch 1.13 CPU or 2.x CUDA alike).
#pragma once

#include <torch/torch.h>

#include "p2pgrid/env/env_batch.hpp"

namespace p2pgrid::learner {

/// Views of one EnvBatch (valid while it lives; they alias its buffers, so a step() is visible
/// through them). Shapes are batch-first, B = num_envs, A = num_agents.
struct EnvTensors {
  torch::Tensor obs;          // [B, A, kObsDim] float32
  torch::Tensor state;        // [B, state_dim] float32
  torch::Tensor reward;       // [B, A] float32
  torch::Tensor terminated;   // [B] uint8
  torch::Tensor truncated;    // [B] uint8
  torch::Tensor violation;    // [B] uint8, voltage outside limits or power flow not converged
  torch::Tensor final_obs;    // [B, A, kObsDim] float32, valid where truncated
  torch::Tensor final_state;  // [B, state_dim] float32, valid where truncated
  torch::Tensor action_mask;  // [A, kActionDim] float32
};

/// The torch device of a backend (CUDA: device 0).
torch::Device torch_device(Backend backend);

/// Zero-copy tensor views of the env's buffers.
EnvTensors env_tensors(const EnvBatch& env);

}  // namespace p2pgrid::learner
