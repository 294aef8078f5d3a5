// Error checks for CUDA, cuBLAS and cuSOLVER calls: a failure throws p2pgrid::Error with the
// call's text, file and line (never a silent wrong answer).
#pragma once

#include <cublas_api.h>
#include <cuda_runtime.h>

#include <string>

#include "p2pgrid/core/error.hpp"

#define P2P_CUDA_CHECK(call)                                                                 \
  do {                                                                                       \
    const cudaError_t p2p_err_ = (call);                                                     \
    if (p2p_err_ != cudaSuccess)                                                             \
      throw ::p2pgrid::Error(std::string(#call) + " failed at " + __FILE__ + ":" +           \
                             std::to_string(__LINE__) + ": " + cudaGetErrorString(p2p_err_)); \
  } while (0)

#define P2P_CUBLAS_CHECK(call)                                                          \
  do {                                                                                  \
    const cublasStatus_t p2p_status_ = (call);                                          \
    if (p2p_status_ != CUBLAS_STATUS_SUCCESS)                                           \
      throw ::p2pgrid::Error(std::string(#call) + " failed at " + __FILE__ + ":" +      \
                             std::to_string(__LINE__) + ": " +                          \
                             cublasGetStatusName(p2p_status_));                         \
  } while (0)

namespace p2pgrid::cuda {
/// P2P_CUDA_SYNC=1 in the environment: every kernel launch is synchronized and checked at once,
/// so that a fault inside a kernel is reported with the kernel's name (otherwise it surfaces at
/// the next copy or synchronization). For debugging: it serializes host and device.
bool sync_each_launch();
}  // namespace p2pgrid::cuda

/// After a kernel launch: a bad launch (configuration, resources) throws naming the kernel;
/// with P2P_CUDA_SYNC=1, so does a fault while it ran.
#define P2P_CUDA_LAUNCHED(kernel)                                                              \
  do {                                                                                         \
    cudaError_t p2p_err_ = cudaGetLastError();                                                 \
    if (p2p_err_ == cudaSuccess && ::p2pgrid::cuda::sync_each_launch())                        \
      p2p_err_ = cudaDeviceSynchronize();                                                      \
    if (p2p_err_ != cudaSuccess)                                                               \
      throw ::p2pgrid::Error(std::string("kernel ") + (kernel) + " failed at " + __FILE__ +    \
                             ":" + std::to_string(__LINE__) + ": " +                           \
                             cudaGetErrorString(p2p_err_));                                    \
  } while (0)
