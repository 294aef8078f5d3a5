// CUDA kernels of the expert's ADMM (admm_cuda.hpp): one thread per env runs the same
// admm_iteration / admm_lane_stats as the CPU (admm_kernels.hpp). The factor and the rows are
// the same for every thread, so their loads are warp-uniform; the env vectors are lane-major,
// so a warp's loads of one element are coalesced.
#include <cuda_runtime.h>

#include <string>

#include "p2pgrid/cuda/check.cuh"
#include "p2pgrid/expert/admm.hpp"
#include "p2pgrid/expert/admm_cuda.hpp"

namespace p2pgrid::detail {
namespace {

// One warp per block: the heavy kernels keep a warp's slice of the current block of x
// (n_b x 32 doubles) in L1, and B = 4096 spreads 128 warps over the H200's 132 SMs.
constexpr int kThreads = 32;

int blocks_of(int batch) { return (batch + kThreads - 1) / kThreads; }

__global__ void admm_iterations_kernel(AdmmRowsView rows, const FactorView* views,
                                       const int* group_level, const std::uint8_t* done, int batch,
                                       int blocks, double sigma, double alpha, int iterations,
                                       AdmmLaneVectors v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch || done[e]) return;
  const int level = group_level[e / kAdmmGroup];
  admm_env_iterations(rows, views[level - kRhoLevelMin], ldexp(1.0, level), batch, e, blocks, sigma,
                      alpha, iterations, v);
}

__global__ void admm_rhs_kernel(AdmmRowsView rows, const int* group_level,
                                const int* group_prev_level, const std::uint8_t* done, int batch,
                                int blocks, double sigma, AdmmLaneVectors v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch || done[e]) return;
  const int g = e / kAdmmGroup;
  admm_env_rhs(rows, ldexp(1.0, group_level[g]), ldexp(1.0, group_prev_level[g] - group_level[g]),
               batch, e, blocks, sigma, v);
}

__global__ void admm_stats_kernel(AdmmRowsView rows, const int* group_level,
                                  const std::uint8_t* done, int batch, int blocks, double inf,
                                  AdmmLaneVectors v, AdmmLaneStats* stats) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch || done[e]) return;
  stats[e] =
      admm_env_stats(rows, ldexp(1.0, group_level[e / kAdmmGroup]), batch, e, blocks, inf, v);
}

__global__ void admm_anderson_kernel(const std::uint8_t* done, const std::uint8_t* group_restart,
                                     int batch, int len, int memory, int slot, AndersonLane* lanes,
                                     double* w, double* hist, float* histf) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch || done[e]) return;
  admm_env_anderson(batch, e, len, memory, slot, group_restart[e / kAdmmGroup] != 0, lanes[e], w,
                    hist, histf);
}

__global__ void admm_start_kernel(AdmmRowsView rows, const int* group_level,
                                  const AdmmWarmSource* sources, int batch, int blocks,
                                  AdmmLaneVectors v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch) return;
  admm_env_start(rows, ldexp(1.0, group_level[e / kAdmmGroup]), batch, e, blocks, sources[e], v);
}

__global__ void admm_unscale_kernel(AdmmRowsView rows, const int* env_level, int batch, int blocks,
                                    AdmmLaneVectors v, double* xu, double* zu, double* yu) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch) return;
  admm_env_unscale(rows, ldexp(1.0, env_level[e]), batch, e, blocks, v, xu, zu, yu);
}

__global__ void bounds_differ_kernel(const double* l, const double* u, int batch, int len, int m,
                                     int* differs) {
  const long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(len) * batch) return;
  const long long i = t / batch;
  if (admm_bound_differs(l, u, batch, m, i, static_cast<int>(t % batch)))
    differs[i % m] = 1;  // every writer writes 1: no atomic needed
}

__global__ void strided_gather_kernel(const double* in, int stride, int count, double* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) out[i] = in[static_cast<long long>(i) * stride];
}

__global__ void admm_lane_bounds_kernel(AdmmRowsView rows, int batch, int blocks, double inf,
                                        const double* l, const double* u, double* lo, double* hi) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= batch) return;
  admm_env_lane_bounds(rows, batch, e, blocks, inf, l, u, lo, hi);
}

// Tiled transpose through shared memory (both the reads and the writes coalesced).
constexpr int kTile = 32;
__global__ void transpose_kernel(const double* in, double* out, int rows, int cols) {
  __shared__ double tile[kTile][kTile + 1];
  const int c0 = blockIdx.x * kTile, r0 = blockIdx.y * kTile;
  for (int dy = threadIdx.y; dy < kTile; dy += blockDim.y) {
    const int r = r0 + dy, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[dy][threadIdx.x] = in[static_cast<long long>(r) * cols + c];
  }
  __syncthreads();
  for (int dy = threadIdx.y; dy < kTile; dy += blockDim.y) {
    const int c = c0 + dy, r = r0 + threadIdx.x;
    if (r < rows && c < cols) out[static_cast<long long>(c) * rows + r] = tile[threadIdx.x][dy];
  }
}

}  // namespace

void cuda_admm_iterations(const AdmmRowsView& rows, const FactorView* views, const int* group_level,
                          const std::uint8_t* done, int batch, int blocks, double sigma,
                          double alpha, int iterations, const AdmmLaneVectors& v) {
  if (batch == 0) return;  // a grid of 0 blocks is a launch error
  admm_iterations_kernel<<<blocks_of(batch), kThreads>>>(rows, views, group_level, done, batch,
                                                         blocks, sigma, alpha, iterations, v);
  P2P_CUDA_LAUNCHED("admm_iterations_kernel");
}

void cuda_admm_rhs(const AdmmRowsView& rows, const int* group_level, const int* group_prev_level,
                   const std::uint8_t* done, int batch, int blocks, double sigma,
                   const AdmmLaneVectors& v) {
  if (batch == 0) return;  // a grid of 0 blocks is a launch error
  admm_rhs_kernel<<<blocks_of(batch), kThreads>>>(rows, group_level, group_prev_level, done, batch,
                                                  blocks, sigma, v);
  P2P_CUDA_LAUNCHED("admm_rhs_kernel");
}

void cuda_admm_stats(const AdmmRowsView& rows, const int* group_level, const std::uint8_t* done,
                     int batch, int blocks, double inf, const AdmmLaneVectors& v,
                     AdmmLaneStats* stats) {
  if (batch == 0) return;  // a grid of 0 blocks is a launch error
  admm_stats_kernel<<<blocks_of(batch), kThreads>>>(rows, group_level, done, batch, blocks, inf, v,
                                                    stats);
  P2P_CUDA_LAUNCHED("admm_stats_kernel");
}

void cuda_admm_anderson(const std::uint8_t* done, const std::uint8_t* group_restart, int batch,
                        int len, int memory, int slot, AndersonLane* lanes, double* w, double* hist,
                        float* histf) {
  if (batch == 0) return;  // a grid of 0 blocks is a launch error
  admm_anderson_kernel<<<blocks_of(batch), kThreads>>>(done, group_restart, batch, len, memory,
                                                       slot, lanes, w, hist, histf);
  P2P_CUDA_LAUNCHED("admm_anderson_kernel");
}

void cuda_admm_start(const AdmmRowsView& rows, const int* group_level,
                     const AdmmWarmSource* sources, int batch, int blocks,
                     const AdmmLaneVectors& v) {
  if (batch == 0) return;  // a grid of 0 blocks is a launch error
  admm_start_kernel<<<blocks_of(batch), kThreads>>>(rows, group_level, sources, batch, blocks, v);
  P2P_CUDA_LAUNCHED("admm_start_kernel");
}

void cuda_admm_unscale(const AdmmRowsView& rows, const int* env_level, int batch, int blocks,
                       const AdmmLaneVectors& v, double* xu, double* zu, double* yu) {
  if (batch == 0) return;  // a grid of 0 blocks is a launch error
  admm_unscale_kernel<<<blocks_of(batch), kThreads>>>(rows, env_level, batch, blocks, v, xu, zu,
                                                      yu);
  P2P_CUDA_LAUNCHED("admm_unscale_kernel");
}

void cuda_bounds_differ(const double* l, const double* u, int batch, int len, int m, int* differs) {
  constexpr int kElementThreads = 256;  // one thread per element: plain streaming
  const long long total = static_cast<long long>(len) * batch;
  if (total == 0) return;
  bounds_differ_kernel<<<static_cast<unsigned>((total + kElementThreads - 1) / kElementThreads),
                         kElementThreads>>>(l, u, batch, len, m, differs);
  P2P_CUDA_LAUNCHED("bounds_differ_kernel");
}

void cuda_strided_gather(const double* in, int stride, int count, double* out) {
  if (count == 0) return;
  strided_gather_kernel<<<(count + 255) / 256, 256>>>(in, stride, count, out);
  P2P_CUDA_LAUNCHED("strided_gather_kernel");
}

void cuda_admm_lane_bounds(const AdmmRowsView& rows, int batch, int blocks, double inf,
                           const double* l, const double* u, double* lo, double* hi) {
  if (batch == 0) return;
  admm_lane_bounds_kernel<<<blocks_of(batch), kThreads>>>(rows, batch, blocks, inf, l, u, lo, hi);
  P2P_CUDA_LAUNCHED("admm_lane_bounds_kernel");
}

void cuda_transpose(const double* in, double* out, int rows, int cols) {
  if (rows == 0 || cols == 0) return;
  const dim3 grid((cols + kTile - 1) / kTile, (rows + kTile - 1) / kTile);
  if (grid.y > 65535)
    throw Error("expert (CUDA): a transpose of " + std::to_string(rows) + " x " +
                std::to_string(cols) + " exceeds the grid's y limit (at most 2,097,120 rows: " +
                "envs, or a horizon's variables or rows)");
  transpose_kernel<<<grid, dim3(kTile, 8)>>>(in, out, rows, cols);
  P2P_CUDA_LAUNCHED("transpose_kernel");
}

}  // namespace p2pgrid::detail
