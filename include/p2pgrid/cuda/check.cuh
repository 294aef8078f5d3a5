// Error checks for CUDA, cuBLAS and cuSOLVER calls: a failure throws p2pgrid::Error with the
// call's text, file and line (never a silent wrong answer).
#pragma once

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

#define P2P_CUBLAS_CHECK(call)                                                        \
  do {                                                                                \
    const int p2p_status_ = static_cast<int>(call);                                   \
    if (p2p_status_ != 0)                                                             \
      throw ::p2pgrid::Error(std::string(#call) + " failed at " + __FILE__ + ":" +    \
                             std::to_string(__LINE__) + ": status " +                 \
                             std::to_string(p2p_status_));                            \
  } while (0)
