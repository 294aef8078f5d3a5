// Host-callable launchers of the expert's CUDA kernels (cuda/expert/admm_cuda.cu). Each runs the
// P2P_HD functions of admm_kernels.hpp with one thread per env, on lane-major vectors
// v[i * batch + env]. Only with P2P_HAVE_CUDA; the host driver is src/expert/admm_cuda_driver.cpp.
#pragma once

#include <cstdint>

#include "p2pgrid/expert/admm_kernels.hpp"

namespace p2pgrid::detail {

/// Device vectors of a batch, lane-major: x, xt, atdy [blocks * n, B]; the rest [blocks * m, B].
/// xt doubles as the A~'y of the statistics (it is rewritten by every iteration).
struct AdmmLaneVectors {
  double *x, *xt, *z, *y, *y_prev, *lo, *hi, *ax, *atdy;
};

/// `iterations` ADMM iterations of every env whose done flag is 0; env e uses the factor
/// views[group_level[e / kAdmmGroup] - kRhoLevelMin]. The last one saves y into y_prev.
void cuda_admm_iterations(const AdmmRowsView& rows, const FactorView* views,
                          const int* group_level, const std::uint8_t* done, int batch, int blocks,
                          double sigma, double alpha, int iterations, const AdmmLaneVectors& v);

/// The residual statistics of every running env into stats[batch].
void cuda_admm_stats(const AdmmRowsView& rows, const std::uint8_t* done, int batch, int blocks,
                     double inf, const AdmmLaneVectors& v, AdmmLaneStats* stats);

/// out[c * rows + r] = in[r * cols + c] (env-major <-> lane-major).
void cuda_transpose(const double* in, double* out, int rows, int cols);

}  // namespace p2pgrid::detail
