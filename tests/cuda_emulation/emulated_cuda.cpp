// Host twins of the CUDA runtime wrappers (cuda_api.hpp) and of the expert's CUDA launchers
// (admm_cuda.hpp), for the emulation test (tests/CMakeLists.txt): each launcher runs the same
// per-env function as its kernel (admm_env_iterations, admm_env_rhs, admm_env_stats,
// admm_env_anderson, admm_env_start, admm_env_unscale, admm_env_lane_bounds, expert_env_bounds)
// in a host loop over envs, so CI, which has no GPU, runs the CUDA driver
// (src/expert/admm_cuda_driver.cpp) for real. "Device" memory is host memory filled with NaN bytes,
// so that a read of anything the driver did not write shows up.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/cuda/cuda_api.hpp"
#include "p2pgrid/expert/admm.hpp"
#include "p2pgrid/expert/admm_cuda.hpp"

namespace p2pgrid::cuda {

// The emulated device's memory: allocations are counted, and one past the capacity fails as
// cudaMalloc would; free_memory_bytes() is what is left. Unlimited unless a test sets it (the
// expert's parts, Expert::solve).
std::size_t emulated_capacity_bytes = std::size_t(1) << 50;
namespace {
std::mutex memory_mutex;
std::unordered_map<void*, std::size_t> allocations;
std::size_t bytes_in_use = 0;
}  // namespace
std::size_t emulated_bytes_in_use() {
  std::lock_guard<std::mutex> lock(memory_mutex);
  return bytes_in_use;
}

int device_count() { return 1; }
std::string device_description() { return "host emulation of the CUDA launchers"; }
double peak_bandwidth_gb_per_s() { return 0; }
void* malloc_device(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(memory_mutex);
  if (bytes > emulated_capacity_bytes - std::min(bytes_in_use, emulated_capacity_bytes))
    throw Error("emulated cudaMalloc of " + std::to_string(bytes) + " bytes: out of memory (" +
                std::to_string(emulated_capacity_bytes - bytes_in_use) + " free)");
  void* p = std::malloc(bytes);
  if (!p) throw Error("emulated cudaMalloc: out of host memory");
  std::memset(p, 0xFF, bytes);  // NaN in every double
  allocations[p] = bytes;
  bytes_in_use += bytes;
  return p;
}
std::size_t free_memory_bytes() {
  std::lock_guard<std::mutex> lock(memory_mutex);
  return emulated_capacity_bytes - std::min(bytes_in_use, emulated_capacity_bytes);
}
void free_device(void* ptr) noexcept {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(memory_mutex);
  const auto it = allocations.find(ptr);
  if (it != allocations.end()) {
    bytes_in_use -= it->second;
    allocations.erase(it);
  }
  std::free(ptr);
}
void copy(void* dst, const void* src, std::size_t bytes, int) { std::memmove(dst, src, bytes); }
void zero(void* ptr, std::size_t bytes) { std::memset(ptr, 0, bytes); }
void synchronize() {}

}  // namespace p2pgrid::cuda

namespace p2pgrid::detail {

void cuda_admm_iterations(const AdmmRowsView& rows, const FactorView* views, const int* group_level,
                          const std::uint8_t* done, int batch, int blocks, double sigma,
                          double alpha, int iterations, const AdmmLaneVectors& v) {
#pragma omp parallel for
  for (int e = 0; e < batch; ++e) {
    if (done[e]) continue;
    const int level = group_level[e / kAdmmGroup];
    const FactorView& f = views[level - kRhoLevelMin];
    if (!f.diag_ptr) std::abort();  // a level the driver did not upload
    admm_env_iterations(rows, f, std::ldexp(1.0, level), batch, e, blocks, sigma, alpha, iterations,
                        v);
  }
}

void cuda_admm_rhs(const AdmmRowsView& rows, const int* group_level, const int* group_prev_level,
                   const std::uint8_t* done, int batch, int blocks, double sigma,
                   const AdmmLaneVectors& v) {
#pragma omp parallel for
  for (int e = 0; e < batch; ++e) {
    if (done[e]) continue;
    const int g = e / kAdmmGroup;
    admm_env_rhs(rows, std::ldexp(1.0, group_level[g]),
                 std::ldexp(1.0, group_prev_level[g] - group_level[g]), batch, e, blocks, sigma, v);
  }
}

void cuda_admm_stats(const AdmmRowsView& rows, const int* group_level, const std::uint8_t* done,
                     int batch, int blocks, double inf, const AdmmLaneVectors& v,
                     AdmmLaneStats* stats) {
#pragma omp parallel for
  for (int e = 0; e < batch; ++e)
    if (!done[e])
      stats[e] = admm_env_stats(rows, std::ldexp(1.0, group_level[e / kAdmmGroup]), batch, e,
                                blocks, inf, v);
}

void cuda_admm_anderson(const std::uint8_t* done, const std::uint8_t* group_restart, int batch,
                        int len, int memory, int slot, AndersonLane* lanes, double* w, double* hist,
                        float* histf) {
#pragma omp parallel for
  for (int e = 0; e < batch; ++e)
    if (!done[e])
      admm_env_anderson(batch, e, len, memory, slot, group_restart[e / kAdmmGroup] != 0, lanes[e],
                        w, hist, histf);
}

void cuda_admm_start(const AdmmRowsView& rows, const int* group_level,
                     const AdmmWarmSource* sources, int batch, int blocks,
                     const AdmmLaneVectors& v) {
#pragma omp parallel for
  for (int e = 0; e < batch; ++e)
    admm_env_start(rows, std::ldexp(1.0, group_level[e / kAdmmGroup]), batch, e, blocks, sources[e],
                   v);
}

void cuda_admm_unscale(const AdmmRowsView& rows, const int* env_level, int batch, int blocks,
                       const AdmmLaneVectors& v, double* xu, double* zu, double* yu) {
#pragma omp parallel for
  for (int e = 0; e < batch; ++e)
    admm_env_unscale(rows, std::ldexp(1.0, env_level[e]), batch, e, blocks, v, xu, zu, yu);
}

void cuda_bounds_differ(const double* l, const double* u, int batch, int len, int m, int* differs) {
  for (long long i = 0; i < len; ++i)
    for (int e = 0; e < batch; ++e)
      if (admm_bound_differs(l, u, batch, m, i, e)) differs[i % m] = 1;
}

void cuda_strided_gather(const double* in, int stride, int count, double* out) {
  for (int i = 0; i < count; ++i) out[i] = in[static_cast<long long>(i) * stride];
}

void cuda_admm_lane_bounds(const AdmmRowsView& rows, int batch, int blocks, double inf,
                           const double* l, const double* u, double* lo, double* hi) {
#pragma omp parallel for
  for (int e = 0; e < batch; ++e) admm_env_lane_bounds(rows, batch, e, blocks, inf, l, u, lo, hi);
}

void cuda_expert_bounds(const ExpertBoundsView& tables, int batch, int blocks, const int* day,
                        const double* p_prev, const double* soc, const double* offsets,
                        const long long* offset_at, double* l, double* u) {
  const long long units = tables.units;
#pragma omp parallel for
  for (int e = 0; e < batch; ++e)
    expert_env_bounds(tables, blocks, day[e], offset_at[e] >= 0 ? offsets + offset_at[e] : nullptr,
                      p_prev + e * units, soc + e * units, lane_of(l, e, batch),
                      lane_of(u, e, batch));
}

void cuda_transpose(const double* in, double* out, int rows, int cols) {
  for (long long r = 0; r < rows; ++r)
    for (long long c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

}  // namespace p2pgrid::detail
