// Backend dispatch for allocation and copies: host memory directly, CUDA through cuda_api.hpp.
#include "p2pgrid/core/device.hpp"

#include <cstdlib>
#include <cstring>

#include "p2pgrid/core/error.hpp"
#if defined(P2P_HAVE_CUDA)
#include "p2pgrid/cuda/cuda_api.hpp"
#endif

namespace p2pgrid {
namespace {

[[noreturn, maybe_unused]] void no_cuda() {
  throw Error(
      "backend 'cuda': this p2pgrid was built without the CUDA backend (no nvcc found at "
      "configure time); rebuild with -DP2P_CUDA=ON on a machine with the CUDA Toolkit, or use "
      "--backend cpu");
}

}  // namespace

Backend parse_backend(const std::string& name) {
  if (name == "cpu") return Backend::kCpu;
  if (name == "cuda" || name == "gpu") return Backend::kCuda;
  throw Error("unknown backend '" + name + "': expected 'cpu' or 'cuda'");
}

const char* to_string(Backend backend) { return backend == Backend::kCpu ? "cpu" : "cuda"; }

bool built_with_cuda() {
#if defined(P2P_HAVE_CUDA)
  return true;
#else
  return false;
#endif
}

bool cuda_device_available() {
#if defined(P2P_HAVE_CUDA)
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

std::string cuda_device_description() {
#if defined(P2P_HAVE_CUDA)
  return cuda::device_description();
#else
  return "none (built without CUDA)";
#endif
}

double cuda_peak_bandwidth_gb_per_s() {
#if defined(P2P_HAVE_CUDA)
  return cuda::peak_bandwidth_gb_per_s();
#else
  return 0.0;
#endif
}

void* backend_malloc(Backend backend, std::size_t bytes) {
  if (backend == Backend::kCpu) {
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
#if defined(P2P_HAVE_CUDA)
  return cuda::malloc_device(bytes);
#else
  no_cuda();
#endif
}

void backend_free(Backend backend, void* ptr) noexcept {
  if (backend == Backend::kCpu) {
    std::free(ptr);
    return;
  }
#if defined(P2P_HAVE_CUDA)
  cuda::free_device(ptr);
#endif
}

void backend_copy(void* dst, Backend dst_backend, const void* src, Backend src_backend,
                  std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_backend == Backend::kCpu && src_backend == Backend::kCpu) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if defined(P2P_HAVE_CUDA)
  const int kind = src_backend == Backend::kCpu ? 0 : (dst_backend == Backend::kCpu ? 1 : 2);
  cuda::copy(dst, src, bytes, kind);
#else
  no_cuda();
#endif
}

void backend_zero(Backend backend, void* ptr, std::size_t bytes) {
  if (bytes == 0) return;
  if (backend == Backend::kCpu) {
    std::memset(ptr, 0, bytes);
    return;
  }
#if defined(P2P_HAVE_CUDA)
  cuda::zero(ptr, bytes);
#else
  no_cuda();
#endif
}

void backend_synchronize(Backend backend) {
  if (backend == Backend::kCpu) return;
#if defined(P2P_HAVE_CUDA)
  cuda::synchronize();
#else
  no_cuda();
#endif
}

}  // namespace p2pgrid
