// Batched ADMM for the expert's QPs in the style of OSQP (Stellato et al., "OSQP: an operator
// splitting solver for quadratic programs", Math. Prog. Comp. 2020, Algorithm 1): Ruiz
// equilibration, one cached factorization of P + sigma I + A' rho A shared by every env (same
// matrices, different bounds), over-relaxation, residual-based termination, primal
// infeasibility certificates, warm starts. The per-env work is one P2P_HD source
// (admm_kernels.hpp) run by the CPU (groups of 8 envs whose vectors are interleaved, so every
// inner loop runs over envs in SIMD) and by CUDA (one thread per env, cuda/expert/); the host
// logic between iterations (termination, rho adaptation) is shared too.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "p2pgrid/core/device.hpp"
#include "p2pgrid/expert/anderson.hpp"
#include "p2pgrid/expert/block_cholesky.hpp"
#include "p2pgrid/expert/expert_qp.hpp"

namespace p2pgrid {

struct AdmmSettings {
  // Step sizes (OSQP's diagonal rho, Stellato et al. 2020 section 5.2): rho for inequality rows,
  // 1e3 rho for equality rows, and these multiples of rho for the variable-bound rows and the
  // voltage rows. The multiples halve the iterations of the 141-bus default (docs/expert.md).
  double rho = 0.00078125;
  double rho_factor_bounds = 4;
  double rho_factor_voltage = 0.25;
  double sigma = 1e-6;
  double alpha = 1.6;     // over-relaxation
  double eps_abs = 1e-3;  // termination: |Ax - z| <= eps_abs + eps_rel max(|Ax|, |z|) ...
  double eps_rel = 1e-4;
  double eps_primal_infeasible = 1e-5;
  int max_iterations = 20000;
  int check_every = 20;               // residuals are computed every this many iterations
  int scaling_iterations = 15;        // Ruiz equilibration passes
  int threads = 0;                    // 0 = all cores
  bool adaptive_rho = true;           // OSQP's rule: rho *= sqrt(relative primal / relative dual)
  double adaptive_rho_tolerance = 4;  // refactor only when rho changes by more than this factor
  int adaptive_rho_interval = 100;    // and at most once per this many iterations
  int chunk_envs = 32;                // CPU: envs per group of lanes (refilled as envs terminate)
  // Anderson acceleration of the map of anderson_interval iterations over the last
  // anderson_memory points (anderson.hpp; 0: plain ADMM). The interval divides check_every and
  // max_iterations, so that the lanes of a group, which start at checks, share their points.
  int anderson_memory = 4;
  int anderson_interval = 10;
  Backend backend = Backend::kCpu;
};

/// Envs that share a step size rho (and so a factorization) at a time: on the CPU also the envs
/// whose vectors are interleaved (the width of the inner loops). A CPU group works through a
/// chunk of AdmmSettings::chunk_envs envs, refilling a lane as soon as its env terminates; a
/// CUDA group is 8 consecutive envs without refill, so with chunk_envs = 8 both backends take
/// the same decisions.
constexpr int kAdmmGroup = 8;

/// rho is adapted in powers of two of the configured rho: level L means rho_scale = 2^L, so the
/// factorizations of the levels in use are computed once and cached.
constexpr int kRhoLevelMin = -20, kRhoLevelMax = 20;
inline double rho_scale_of_level(int level) { return std::ldexp(1.0, level); }

enum class SolveStatus : int { kSolved = 0, kMaxIterations = 1, kPrimalInfeasible = 2 };
const char* to_string(SolveStatus s);

/// One env's outcome.
struct AdmmInfo {
  SolveStatus status = SolveStatus::kMaxIterations;
  int iterations = 0;
  double primal_residual = 0;  // |Ax - z|_inf, unscaled (kW, kWh, p.u. by row)
  double dual_residual = 0;    // |Px + q + A'y|_inf, unscaled (CNY per kW)
  double objective_cny = 0;    // 1/2 x'Px + q'x + constant, over the horizon
};

/// The bounds of one solve as the kernels read them (AdmmBoundsView): the rows whose bounds are
/// equal in every env and every block of the solve go to one scaled table; each other row gets a
/// slot in the lanes' compact bound vectors [blocks * lane_rows].
struct AdmmSharedBounds {
  int lane_rows = 0;
  std::vector<int> slot;       // [m_b] -1: in the table
  std::vector<double> lo, hi;  // [m_b] scaled; used where slot is -1
  AdmmBoundsView view() const {
    return AdmmBoundsView{lane_rows, slot.data(), lo.data(), hi.data()};
  }
};

/// The iterates a CUDA solve leaves on the device: AdmmIterate's x, z and y of every env of its
/// batch, unscaled, lane-major (element i of env e at [i * batch + e]), so that the next CUDA
/// solve starts from them without a round trip through the host. The batch's iterates share
/// it; host copies of z and y are made only on demand (fetch_iterate_duals).
struct AdmmDeviceIterates {
  int blocks = 0, batch = 0;
  int n = 0, m = 0;              // n_b and m_b of the QP they solve
  DeviceBuffer<double> x, z, y;  // [blocks * n_b, batch], [blocks * m_b, batch] x 2
};

/// Iterates of one env in unscaled units: x [H * n_b], z and y [H * m_b], and the rho level its
/// group had when it terminated (a warm start resumes there: rho is part of the state).
/// After a CUDA solve z and y stay on the device, as lane `device_lane` of `device` (its
/// leading H * m_b elements), and are empty here; x is on both, and a CUDA warm start reads the
/// device's (reset `device` after changing x here).
struct AdmmIterate {
  std::vector<double> x, z, y;
  int rho_level = 0;
  std::shared_ptr<const AdmmDeviceIterates> device;
  int device_lane = -1;
};

/// A solve's bounds computed on the device (the CUDA expert's expert_env_bounds): l and u
/// [blocks * m_b, batch], lane-major, unscaled. The solve takes them over and frees them once
/// it has taken the lanes' rows out.
struct AdmmDeviceBounds {
  int batch = 0;
  DeviceBuffer<double> l, u;
};

/// Copies z and y of an iterate that a CUDA solve left on the device into its host vectors (for
/// the CPU solve, and anything else that reads them on the host); nothing to do otherwise.
void fetch_iterate_duals(AdmmIterate& it);

namespace detail {
/// Termination test of one lane from its residuals: kSolved, kPrimalInfeasible, or
/// kMaxIterations meaning "go on".
SolveStatus admm_lane_status(const AdmmSettings& s, const AdmmLaneStats& st);
/// log sqrt(relative primal / relative dual residual) of a lane: OSQP's rho estimate; false if
/// a residual is zero.
bool admm_log_ratio(const AdmmLaneStats& st, double* log_ratio);
/// The group's next rho level from the mean log ratio of the lanes judged at this check
/// (those that terminate at it included); unchanged if the mean is not finite.
int admm_next_rho_level(const AdmmSettings& s, int level, double mean_log_ratio);
struct AdmmCudaState;  // device copies of the rows and factors (src/expert/admm_cuda_driver.cpp)
}  // namespace detail

/// The Anderson settings' own check (memory in range, an interval dividing check_every and
/// max_iterations), an Error naming the expert.* key; ExpertAdmm and resolve_expert_config
/// (so `config show --check` too) both call it.
void check_anderson_settings(const AdmmSettings& settings);

class ExpertAdmm {
 public:
  ExpertAdmm(const ExpertQp& qp, const AdmmSettings& settings);

  /// Solves the horizon of the leading `blocks` blocks (steps 96 - blocks .. 95) for every env in
  /// `bounds_l` / `bounds_u` ([env][blocks * m_b], unscaled). `iterates` holds a warm start when
  /// its vectors have the right sizes (otherwise a cold start) and receives the solutions.
  /// Runs on settings().backend.
  std::vector<AdmmInfo> solve(int blocks, const std::vector<std::vector<double>>& bounds_l,
                              const std::vector<std::vector<double>>& bounds_u,
                              std::vector<AdmmIterate>& iterates) const;
  /// The same with bounds already on the device (CUDA backend only): the split into the shared
  /// table and the lanes' rows is made there too, so the bounds never pass through the host.
  std::vector<AdmmInfo> solve(int blocks, AdmmDeviceBounds bounds,
                              std::vector<AdmmIterate>& iterates) const;

  const ExpertQp& qp() const { return qp_; }
  const AdmmSettings& settings() const { return settings_; }

  /// The scaled rows (host memory).
  AdmmRowsView rows_view() const;
  /// Device memory one env of a CUDA solve over `blocks` blocks takes at the solve's peak, in
  /// bytes: the iteration's vectors, the Anderson history, the lanes' own bounds (counted as if
  /// no row were shared: an upper bound) and the copy of the result (src/expert/
  /// admm_cuda_driver.cpp). The expert splits a batch that would not fit (Expert::solve).
  std::size_t cuda_bytes_per_env(int blocks) const;
  /// Device memory a CUDA solve may add whatever its batch: the factors of the rho levels its
  /// groups move to (uploaded when first needed), kept back for kCudaReservedLevels levels.
  std::size_t cuda_reserved_bytes() const;
  static constexpr int kCudaReservedLevels = 8;
  /// The factorization of P~ + sigma I + A~' (rho 2^level) A~, computed once per level.
  std::shared_ptr<const BlockTridiagonalCholesky> factor_at(int level) const;

  /// Splits a solve's bounds ([env][blocks * m_b], unscaled) into the shared table and the
  /// lanes' slots (AdmmSharedBounds).
  AdmmSharedBounds share_bounds(int blocks, const std::vector<std::vector<double>>& l,
                                const std::vector<std::vector<double>>& u) const;
  /// The split from the rows found equal in every env and block (same[m_b]) and env 0's first
  /// block's bounds l0, u0 [m_b] (unscaled).
  AdmmSharedBounds shared_bounds(const std::vector<char>& same, const double* l0,
                                 const double* u0) const;
  /// Writes one env's lane bounds (lane_bounds) and its start (admm_start_lane: x~ and
  /// w = z~ + y~ / rho at the group's rho scale from its warm start if that fits with z and y
  /// on the host, else cold) into lane accessors of the solvers' storage.
  void load_lane(int blocks, const AdmmSharedBounds& shared, double rho_scale,
                 const std::vector<double>& l, const std::vector<double>& u,
                 const AdmmIterate& warm, Strided<double> lo, Strided<double> hi, Strided<double> x,
                 Strided<double> w) const;
  /// True if `warm` fits a horizon of `blocks` blocks (load_lane then starts from it): z and y
  /// on the host, or on the device (the CUDA solve reads them there).
  bool warm_start_fits(int blocks, const AdmmIterate& warm) const;
  /// The leading `blocks` blocks of `it` (x, and z and y on the host or a reference to them on
  /// the device): a start for the horizon of the last `blocks` steps.
  AdmmIterate leading_blocks(const AdmmIterate& it, int blocks) const;
  /// True if a device copy holds iterates of this QP (the same n_b and m_b).
  bool device_copy_fits(const AdmmDeviceIterates& d) const;
  /// Writes one env's scaled bounds of the rows `shared` leaves to the lanes
  /// ([blocks * shared.lane_rows]) into lane accessors.
  void lane_bounds(int blocks, const AdmmSharedBounds& shared, const std::vector<double>& l,
                   const std::vector<double>& u, Strided<double> lo, Strided<double> hi) const;
  /// 1/2 x'Px + q'x + constant over the leading `blocks` blocks (CNY), x unscaled.
  double objective(int blocks, const double* x) const;
  /// The rho level a group starts at: the mean of its warm-started envs' levels, else 0.
  int initial_rho_level(int blocks, const std::vector<const AdmmIterate*>& lanes) const;
  /// Reads one lane back in unscaled units (z and y from w at the lane's rho scale) into
  /// host vectors; returns its objective (CNY).
  double store_lane(int blocks, const AdmmSharedBounds& shared, double rho_scale, Strided<double> x,
                    Strided<double> w, Strided<double> lo, Strided<double> hi,
                    AdmmIterate& out) const;

 private:
  /// The voltage tree's view arrays from qp_.voltage_tree, after checking that it reproduces
  /// each of its rows (throws p2pgrid::Error naming the row if it does not).
  void build_voltage_tree();
  std::vector<AdmmInfo> solve_cpu(int blocks, const std::vector<std::vector<double>>& l,
                                  const std::vector<std::vector<double>>& u,
                                  std::vector<AdmmIterate>& iterates) const;
  /// One chunk of envs [first, first + count) through one group of G lanes: the first G envs,
  /// then the next each time a lane's env terminates.
  template <int G>
  void solve_lanes(int blocks, int first, int count, const AdmmSharedBounds& shared,
                   const std::vector<std::vector<double>>& bounds_l,
                   const std::vector<std::vector<double>>& bounds_u,
                   std::vector<AdmmIterate>& iterates, std::vector<AdmmInfo>& info) const;

  ExpertQp qp_;
  AdmmSettings settings_;
  std::vector<double> d_;  // [n_b] column scaling
  std::vector<double> e_;  // [m_b] row scaling
  double cost_scale_ = 1;
  std::vector<double> rho_;  // [m_b] per row
  // Scaled rows (values already multiplied by E and D), CSR; the tree's rows are empty here.
  std::vector<int> self_ptr_, self_cols_, prev_ptr_, prev_cols_;
  std::vector<double> self_vals_, prev_vals_;
  // The voltage rows as the feeder's tree (AdmmTreeView): row_node_ [m_b] is the node of a row
  // the tree computes (-1: CSR); the agents at the slack are left out.
  std::vector<int> row_node_, tree_parent_, tree_agent_node_, tree_p_col_, tree_q_col_;
  std::vector<double> tree_r_, tree_x_, tree_p_scale_, tree_q_scale_;
  int tree_nodes_ = 0;
  std::vector<double> p_scaled_;  // [n_b] scaled P diagonal
  std::vector<double> q_scaled_;  // [steps, n_b] (block order)
  mutable std::mutex factors_mutex_;
  mutable std::map<int, std::shared_ptr<const BlockTridiagonalCholesky>> factors_;  // by level
  mutable std::mutex cuda_mutex_;
  mutable std::shared_ptr<detail::AdmmCudaState> cuda_;
};

#if defined(P2P_HAVE_CUDA)
namespace detail {
/// The CUDA solve (src/expert/admm_cuda_driver.cpp, kernels in cuda/expert/admm_cuda.cu): the
/// same iteration and decisions as the CPU's.
std::vector<AdmmInfo> admm_solve_cuda(const ExpertAdmm& admm, std::shared_ptr<AdmmCudaState>& state,
                                      int blocks, const std::vector<std::vector<double>>& l,
                                      const std::vector<std::vector<double>>& u,
                                      std::vector<AdmmIterate>& iterates);
std::vector<AdmmInfo> admm_solve_cuda(const ExpertAdmm& admm, std::shared_ptr<AdmmCudaState>& state,
                                      int blocks, AdmmDeviceBounds bounds,
                                      std::vector<AdmmIterate>& iterates);
}  // namespace detail
#endif

}  // namespace p2pgrid
