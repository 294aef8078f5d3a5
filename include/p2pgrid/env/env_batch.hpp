// EnvBatch: B copies of the P2P trading env advancing in lockstep on one backend (CPU or CUDA),
// shaped like PettingZoo's parallel API: reset(seed, days) -> observations; step(actions) ->
// observations, rewards, terminations, truncations, infos. Every buffer is batch-first and lives
// on the backend, so a learner can wrap it as a tensor without copies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "p2pgrid/core/device.hpp"
#include "p2pgrid/env/env_spec.hpp"
#include "p2pgrid/env/physics.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid {

class EnvBatch {
 public:
  EnvBatch(const EnvSpec& spec, Backend backend, int num_envs, const PowerFlowChoice& powerflow);
  ~EnvBatch();
  EnvBatch(const EnvBatch&) = delete;
  EnvBatch& operator=(const EnvBatch&) = delete;

  /// Seeds env e's RNG stream (seed, e) and starts it at day_ids[e] (day of year, 0-based), or
  /// at a day drawn from the spec's split when day_ids is empty. Writes the first observations.
  void reset(std::uint64_t seed, const std::vector<int>& day_ids = {});
  /// Advances every env one 15-minute step (after reset() or load_state()). `actions` is [B, A, kActionDim] float32 in [-1, 1]
  /// on this backend (values outside are clipped, NaN counts as 0). Envs whose day ends are
  /// auto-reset (truncated = 1; final_obs, final_state and last_episode hold the finished
  /// day). On CUDA the call returns with the last kernel queued on the default stream: read the
  /// buffers after a synchronization (to_host does one) or on the same stream.
  void step(const float* actions);

  Backend backend() const { return backend_; }
  int num_envs() const { return num_envs_; }
  int num_agents() const { return spec_.num_agents(); }
  int num_units() const { return spec_.num_units(); }
  int num_buses() const { return spec_.network.num_buses(); }
  int state_dim() const { return spec_.state_dim(); }
  const EnvSpec& spec() const { return spec_; }

  /// Raw views of every buffer (pointers on backend()); shapes in physics.hpp (EnvBatchView).
  const EnvBatchView& view() const { return view_; }
  /// [A, kActionDim] action mask on backend(): 1 where the agent owns the device.
  const float* action_mask() const { return action_mask_.data(); }
  /// The last power flow: [B, num_buses] voltage magnitudes (float32 or float64 by the
  /// power-flow precision; host copies through vm_pu_host) and [B] converged flags.
  std::vector<double> vm_pu_host() const;
  std::vector<std::uint8_t> pf_converged_host() const;

  /// Copies a device buffer of this batch to the host.
  template <class T>
  std::vector<T> to_host(const T* device_ptr, std::size_t count) const {
    std::vector<T> h(count);
    backend_copy(h.data(), Backend::kCpu, device_ptr, backend_, count * sizeof(T));
    return h;
  }

  /// Everything that evolves (steps, days, RNG states, device states, episode sums) as bytes,
  /// and back: a run restored from save_state() continues bit-exactly on the same backend.
  std::string save_state() const;
  void load_state(const std::string& bytes);

 private:
  struct Impl;
  void validate_state_blob(const std::string& bytes) const;
  EnvSpec spec_;
  Backend backend_;
  int num_envs_;
  PowerFlowChoice powerflow_;
  std::unique_ptr<Impl> impl_;
  EnvParamsView params_;
  EnvBatchView view_;
  DeviceBuffer<float> action_mask_;
  int threads_ = 1;       // CPU worker threads of every per-env loop (powerflow.threads)
  bool started_ = false;  // reset() or load_state() happened: step() may run
};

}  // namespace p2pgrid
