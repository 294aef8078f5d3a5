// GPU tests skip on machines without a CUDA device, and fail instead when P2P_REQUIRE_GPU is set
// (on the GPU machine), so that a broken driver cannot turn every parity test into a skip.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

#include "p2pgrid/core/device.hpp"

#define P2P_REQUIRE_CUDA_DEVICE()                                                        \
  do {                                                                                   \
    if (!::p2pgrid::cuda_device_available()) {                                           \
      if (std::getenv("P2P_REQUIRE_GPU"))                                                \
        FAIL() << "P2P_REQUIRE_GPU is set but " << ::p2pgrid::cuda_device_description(); \
      GTEST_SKIP() << "no CUDA device: " << ::p2pgrid::cuda_device_description();        \
    }                                                                                    \
  } while (0)
