// Host-device portability for the per-env physics: one source compiled by g++ and by nvcc.
// P2P_HD marks functions callable from both CPU loops and CUDA kernels (CUTLASS/CCCL style).
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define P2P_HD __host__ __device__ inline
#else
#define P2P_HD inline
#endif

namespace p2pgrid {

/// A strided view of one env's column in a batched buffer: element i lives at ptr[i * stride].
/// The CPU backend uses stride 1 (env-major rows); CUDA kernels use stride = batch so that the
/// threads of a warp (consecutive envs) touch consecutive addresses (coalesced).
template <class T>
struct Strided {
  T* ptr;
  int stride;
  P2P_HD T& operator[](int i) const { return ptr[static_cast<long long>(i) * stride]; }
};

template <class T>
P2P_HD T p2p_min(T a, T b) { return a < b ? a : b; }
template <class T>
P2P_HD T p2p_max(T a, T b) { return a < b ? b : a; }
template <class T>
P2P_HD T p2p_clamp(T v, T lo, T hi) { return v < lo ? lo : (v > hi ? hi : v); }

}  // namespace p2pgrid
