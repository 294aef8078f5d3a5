// NVTX ranges around the stages of a step (power flow, market, expert, ...) so that an Nsight
// timeline reads like the algorithm. No-ops in binaries built without CUDA (and in the host
// emulation of the CUDA launchers, tests/cuda_emulation/, which defines P2P_CUDA_EMULATION).
#pragma once

#if defined(P2P_HAVE_CUDA) && !defined(P2P_CUDA_EMULATION)
#define P2P_NVTX 1
#include <nvtx3/nvToolsExt.h>
#endif

namespace p2pgrid {

/// Scoped range: NvtxRange r("env.powerflow");
class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
#if defined(P2P_NVTX)
    nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
#if defined(P2P_NVTX)
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace p2pgrid
