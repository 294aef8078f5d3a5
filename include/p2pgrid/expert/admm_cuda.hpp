// Host-callable launchers of the expert's CUDA kernels (cuda/expert/admm_cuda.cu and
// expert_bounds_cuda.cu). Each runs the P2P_HD functions of admm_kernels.hpp or
// expert_bounds.hpp with one thread per env, on lane-major vectors v[i * batch + env]
// (AdmmLaneVectors). Only with P2P_HAVE_CUDA; the host drivers are
// src/expert/admm_cuda_driver.cpp and expert_cuda.cpp. tests/cuda_emulation/ defines host twins
// of these launchers (the same per-env functions in host loops) so that CI checks the drivers
// without a GPU.
#pragma once

#include <cstdint>

#include "p2pgrid/expert/admm_kernels.hpp"
#include "p2pgrid/expert/anderson.hpp"
#include "p2pgrid/expert/expert_bounds.hpp"

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

/// differs[r] = 1 for every row r of which some element of l, u [len, batch] differs from env
/// 0's first block (admm_bound_differs); differs must be zeroed before.
void cuda_bounds_differ(const double* l, const double* u, int batch, int len, int m, int* differs);
/// out[i] = in[i * stride] for i < count.
void cuda_strided_gather(const double* in, int stride, int count, double* out);
/// The lanes' scaled bounds lo, hi [blocks * lane_rows, batch] from unscaled l, u
/// [blocks * m, batch] (admm_env_lane_bounds; rows.bounds.slot on the device).
void cuda_admm_lane_bounds(const AdmmRowsView& rows, int batch, int blocks, double inf,
                           const double* l, const double* u, double* lo, double* hi);

/// Every env's unscaled bounds l, u [blocks * m, batch] (expert_env_bounds, in
/// cuda/expert/expert_bounds_cuda.cu) from its day[batch], state p_prev and soc
/// [batch, units], and its own voltage offsets at offsets + offset_at[e] (-1: the day's
/// linear ones).
void cuda_expert_bounds(const ExpertBoundsView& tables, int batch, int blocks, const int* day,
                        const double* p_prev, const double* soc, const double* offsets,
                        const long long* offset_at, double* l, double* u);

/// out[c * rows + r] = in[r * cols + c] (env-major <-> lane-major).
void cuda_transpose(const double* in, double* out, int rows, int cols);

}  // namespace p2pgrid::detail
