// Launch geometry shared by the one-thread-per-env kernels.
#pragma once

namespace p2pgrid::cuda {

constexpr int kThreadsPerBlock = 128;

/// Blocks of kThreadsPerBlock covering n threads.
inline int blocks_for(long long n) {
  return static_cast<int>((n + kThreadsPerBlock - 1) / kThreadsPerBlock);
}

}  // namespace p2pgrid::cuda
