// CUDA runtime wrappers behind include/p2pgrid/cuda/cuda_api.hpp; every failure becomes a
// p2pgrid::Error naming the call and CUDA's message.
#include <cuda_runtime.h>

#include <string>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/cuda/check.cuh"
#include "p2pgrid/cuda/cuda_api.hpp"

namespace p2pgrid::cuda {

namespace {

// Why no device is usable: empty when one is. A driver older than the runtime is not "no GPU":
// the message says so, so that GPU tests can be made to fail instead of skip (P2P_REQUIRE_GPU).
std::string device_problem() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return err == cudaErrorNoDevice ? "none (no CUDA device found)"
                                    : std::string("none (") + cudaGetErrorString(err) + ")";
  }
  return n > 0 ? "" : "none (no CUDA device found)";
}

}  // namespace

int device_count() {
  int n = 0;
  if (!device_problem().empty()) return 0;
  P2P_CUDA_CHECK(cudaGetDeviceCount(&n));
  return n;
}

std::string device_description() {
  const std::string problem = device_problem();
  if (!problem.empty()) return problem;
  cudaDeviceProp prop{};
  P2P_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
         std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
}

double peak_bandwidth_gb_per_s() {
  if (device_count() == 0) return 0.0;
  int clock_khz = 0, bus_bits = 0;
  // cudaDeviceProp::memoryClockRate is gone in CUDA 13; the attributes remain.
  P2P_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0));
  P2P_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
}

void* malloc_device(std::size_t bytes) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    throw Error("cudaMalloc of " + std::to_string(bytes) + " bytes failed: " +
                cudaGetErrorString(err));
  }
  return p;
}

void free_device(void* ptr) noexcept { cudaFree(ptr); }

void copy(void* dst, const void* src, std::size_t bytes, int kind) {
  const cudaMemcpyKind k = kind == 0   ? cudaMemcpyHostToDevice
                           : kind == 1 ? cudaMemcpyDeviceToHost
                                       : cudaMemcpyDeviceToDevice;
  P2P_CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
}

void zero(void* ptr, std::size_t bytes) { P2P_CUDA_CHECK(cudaMemset(ptr, 0, bytes)); }

void synchronize() { P2P_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace p2pgrid::cuda
