// Launch geometry shared by the one-thread-per-env kernels.
#pragma once

namespace p2pgrid::cuda {

// One thread per env walks its whole feeder, so spreading envs over more SMs matters more than
// big blocks: B = 4096 gives 64 blocks on the H200's 132 SMs. To be tuned on the GPU
// (docs/performance.md lists the benchmark to run).
constexpr int kThreadsPerBlock = 64;

/// Blocks of kThreadsPerBlock covering n threads.
inline int blocks_for(long long n) {
  return static_cast<int>((n + kThreadsPerBlock - 1) / kThreadsPerBlock);
}

}  // namespace p2pgrid::cuda
