// NVTX ranges around the stages of a step (power flow, market, expert, ...) so that an Nsight
// timeline reads like the algorithm. No-ops in binaries built without CUDA.
#pragma once

#if defined(P2P_HAVE_CUDA)
#include <nvtx3/nvToolsExt.h>
#endif

namespace p2pgrid {

/// Scoped range: NvtxRange r("env.powerflow");
class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
#if defined(P2P_HAVE_CUDA)
    nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
#if defined(P2P_HAVE_CUDA)
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace p2pgrid
