// Host-callable entry points of the CUDA backend (cuda/), declared without CUDA headers so that
// g++-compiled code can call them. Defined only when the binary is built with P2P_HAVE_CUDA.
#pragma once

#include <cstddef>
#include <string>

namespace p2pgrid::cuda {

int device_count();
std::string device_description();
double peak_bandwidth_gb_per_s();
void* malloc_device(std::size_t bytes);
/// Device memory free now (cudaMemGetInfo), in bytes.
std::size_t free_memory_bytes();
void free_device(void* ptr) noexcept;
/// kind: 0 host->device, 1 device->host, 2 device->device.
void copy(void* dst, const void* src, std::size_t bytes, int kind);
void zero(void* ptr, std::size_t bytes);
void synchronize();

}  // namespace p2pgrid::cuda
