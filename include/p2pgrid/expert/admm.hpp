// Batched ADMM for the expert's QPs in the style of OSQP (Stellato et al., "OSQP: an operator
// splitting solver for quadratic programs", Math. Prog. Comp. 2020, Algorithm 1): Ruiz
// equilibration, one cached factorization of P + sigma I + A' rho A shared by every env (same
// matrices, different bounds), over-relaxation, residual-based termination, primal
// infeasibility certificates, warm starts. CPU implementation; envs are solved in groups whose
// vectors are interleaved so that every inner loop runs over envs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "p2pgrid/expert/block_cholesky.hpp"
#include "p2pgrid/expert/expert_qp.hpp"

namespace p2pgrid {

struct AdmmSettings {
  double rho = 0.1;             // step size of inequality rows (equality rows: 1e3 rho)
  double sigma = 1e-6;
  double alpha = 1.6;           // over-relaxation
  double eps_abs = 1e-3;        // termination: |Ax - z| <= eps_abs + eps_rel max(|Ax|, |z|) ...
  double eps_rel = 1e-4;
  double eps_primal_infeasible = 1e-5;
  int max_iterations = 20000;
  int check_every = 25;         // residuals are computed every this many iterations
  int scaling_iterations = 15;  // Ruiz equilibration passes
  int threads = 0;              // 0 = all cores
  bool adaptive_rho = true;     // OSQP's rule: rho *= sqrt(relative primal / relative dual)
  double adaptive_rho_tolerance = 5;  // refactor only when rho changes by more than this factor
  int adaptive_rho_interval = 100;    // and at most once per this many iterations
};

/// Envs solved together with interleaved vectors (the width of the inner loops).
constexpr int kAdmmGroup = 8;

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

/// Iterates of one env in unscaled units: x [H * n_b], z and y [H * m_b].
struct AdmmIterate {
  std::vector<double> x, z, y;
};

class ExpertAdmm {
 public:
  ExpertAdmm(const ExpertQp& qp, const AdmmSettings& settings);

  /// Solves the horizon of the leading `blocks` blocks (steps 96 - blocks .. 95) for every env in
  /// `bounds_l` / `bounds_u` ([env][blocks * m_b], unscaled). `iterates` holds a warm start when
  /// its vectors have the right sizes (otherwise a cold start) and receives the solutions.
  std::vector<AdmmInfo> solve(int blocks, const std::vector<std::vector<double>>& bounds_l,
                              const std::vector<std::vector<double>>& bounds_u,
                              std::vector<AdmmIterate>& iterates) const;

  const ExpertQp& qp() const { return qp_; }
  const AdmmSettings& settings() const { return settings_; }

 private:
  /// Assembles P~ + sigma I + A~' (scale rho) A~ and factors it.
  std::shared_ptr<const BlockTridiagonalCholesky> factor_for(double rho_scale) const;
  void solve_group(int blocks, int first, int count,
                   const std::vector<std::vector<double>>& bounds_l,
                   const std::vector<std::vector<double>>& bounds_u,
                   std::vector<AdmmIterate>& iterates, std::vector<AdmmInfo>& info) const;

  ExpertQp qp_;
  AdmmSettings settings_;
  std::vector<double> d_;      // [n_b] column scaling
  std::vector<double> e_;      // [m_b] row scaling
  double cost_scale_ = 1;
  std::vector<double> rho_;    // [m_b] per row
  // Scaled rows (values already multiplied by E and D).
  std::vector<std::vector<double>> self_vals_, prev_vals_;
  std::vector<double> p_scaled_;  // [n_b] scaled P diagonal
  std::vector<double> q_scaled_;  // [steps, n_b] (block order)
  std::shared_ptr<const BlockTridiagonalCholesky> kkt_;  // for rho_scale = 1
};

}  // namespace p2pgrid
