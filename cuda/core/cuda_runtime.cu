// CUDA runtime wrappers behind include/p2pgrid/cuda/cuda_api.hpp; every failure becomes a
// p2pgrid::Error naming the call and CUDA's message.
#include <cuda_runtime.h>

#include <cstdlib>
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

bool sync_each_launch() {
  static const bool on = [] {
    const char* v = std::getenv("P2P_CUDA_SYNC");
    return v && std::string(v) == "1";
  }();
  return on;
}

void* malloc_device(std::size_t bytes) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not left behind for the next launch's check to report as its own
    std::size_t free_bytes = 0, total_bytes = 0;
    const bool known = cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
    throw Error("cudaMalloc of " + std::to_string(bytes) + " bytes failed: " +
                cudaGetErrorString(err) +
                (known ? " (" + std::to_string(free_bytes >> 20) + " of " +
                             std::to_string(total_bytes >> 20) + " MiB free)"
                       : std::string()));
  }
  return p;
}

std::size_t free_memory_bytes() {
  std::size_t free_bytes = 0, total_bytes = 0;
  P2P_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

void free_device(void* ptr) noexcept { cudaFree(ptr); }

void copy(void* dst, const void* src, std::size_t bytes, int kind) {
  const cudaMemcpyKind k = kind == 0   ? cudaMemcpyHostToDevice
                           : kind == 1 ? cudaMemcpyDeviceToHost
                                       : cudaMemcpyDeviceToDevice;
  const cudaError_t err = cudaMemcpy(dst, src, bytes, k);
  if (err != cudaSuccess)
    throw Error(std::string("cudaMemcpy of ") + std::to_string(bytes) + " bytes failed: " +
                cudaGetErrorString(err) +
                (sync_each_launch() ? ""
                                    : " (a kernel launched before it may have faulted: rerun "
                                      "with P2P_CUDA_SYNC=1 to name it)"));
}

void zero(void* ptr, std::size_t bytes) { P2P_CUDA_CHECK(cudaMemset(ptr, 0, bytes)); }

void synchronize() {
  const cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess)
    throw Error(std::string("cudaDeviceSynchronize failed: ") + cudaGetErrorString(err) +
                (sync_each_launch() ? ""
                                    : " (a kernel failed while it ran: rerun with "
                                      "P2P_CUDA_SYNC=1 to name it)"));
}

}  // namespace p2pgrid::cuda
