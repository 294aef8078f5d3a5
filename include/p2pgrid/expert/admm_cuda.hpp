// Host-callable launchers of the expert's CUDA kernels (cuda/expert/admm_cuda.cu). Each runs the
// P2P_HD functions of admm_kernels.hpp with one thread per env, on lane-major vectors
// v[i * batch + env] (AdmmLaneVectors). Only with P2P_HAVE_CUDA; the host driver is
// src/expert/admm_cuda_driver.cpp. tests/cuda_emulation/ defines host twins of these launchers
// (the same per-env functions in host loops) so that CI checks the driver without a GPU.
#pragma once

#include <cstdint>

#include "p2pgrid/expert/admm_kernels.hpp"
#include "p2pgrid/expert/anderson.hpp"

namespace p2pgrid::detail {

/// `iterations` ADMM iterations of every env whose done flag is 0; env e uses the factor
/// views[group_level[e / kAdmmGroup] - kRhoLevelMin]. The last one saves w into w_prev.
void cuda_admm_iterations(const AdmmRowsView& rows, const FactorView* views, const int* group_level,
                          const std::uint8_t* done, int batch, int blocks, double sigma,
                          double alpha, int iterations, const AdmmLaneVectors& v);

/// The rhs of the next iteration (admm_env_rhs) of every env whose done flag is 0, at its
/// group's rho level: after the start and after rho changes (from the level in
/// group_prev_level: w is rescaled so that y stays).
void cuda_admm_rhs(const AdmmRowsView& rows, const int* group_level, const int* group_prev_level,
                   const std::uint8_t* done, int batch, int blocks, double sigma,
                   const AdmmLaneVectors& v);
/// The residual statistics of every running env, at its group's rho level, into stats[batch].
void cuda_admm_stats(const AdmmRowsView& rows, const int* group_level, const std::uint8_t* done,
                     int batch, int blocks, double inf, const AdmmLaneVectors& v,
                     AdmmLaneStats* stats);

/// An Anderson point (admm_env_anderson) of every env whose done flag is 0, on w [len, batch],
/// hist [2 * len, batch] and histf [(1 + 2 memory) * len, batch]; lanes[batch] are their
/// states, group_restart[batch / 8] marks the groups whose rho changed since the last point.
void cuda_admm_anderson(const std::uint8_t* done, const std::uint8_t* group_restart, int batch,
                        int len, int memory, int slot, AndersonLane* lanes, double* w, double* hist,
                        float* histf);

/// The start of every env (admm_env_start) at its group's rho level, from sources[batch].
void cuda_admm_start(const AdmmRowsView& rows, const int* group_level,
                     const AdmmWarmSource* sources, int batch, int blocks,
                     const AdmmLaneVectors& v);
/// Every env's unscaled iterate (admm_env_unscale) at its own rho level env_level[batch] into
/// xu [blocks * n, batch], zu and yu [blocks * m, batch].
void cuda_admm_unscale(const AdmmRowsView& rows, const int* env_level, int batch, int blocks,
                       const AdmmLaneVectors& v, double* xu, double* zu, double* yu);

/// out[c * rows + r] = in[r * cols + c] (env-major <-> lane-major).
void cuda_transpose(const double* in, double* out, int rows, int cols);

}  // namespace p2pgrid::detail
