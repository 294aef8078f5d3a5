// An independent reference for the expert's ADMM: a dense primal-dual interior-point method
// (Mehrotra predictor-corrector, Nocedal & Wright ch. 16.6) in double for
//   minimize 1/2 x'Px + q'x + constant  subject to  l <= Ax <= u   (OSQP's convention).
// Slow and simple by design; shares no code with src/expert.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace p2pgrid::test {

/// A QP with dense row-major matrices. Bounds at or beyond +-1e30 are infinite; rows with
/// l == u are equalities.
struct DenseQp {
  int n = 0, m = 0;
  std::vector<double> P;     // [n, n] symmetric (both triangles)
  std::vector<double> q;     // [n]
  std::vector<double> A;     // [m, n]
  std::vector<double> l, u;  // [m]
  double constant = 0;
};

struct InteriorPointSettings {
  double tolerance = 1e-10;  // relative primal, dual residuals and duality gap
  int max_iterations = 200;
  double step_fraction = 0.995;  // fraction of the step to the boundary
};

struct InteriorPointResult {
  bool converged = false;
  int iterations = 0;
  std::vector<double> x;  // [n]
  /// [m] multipliers in OSQP's sign convention: P x + q + A'y = 0, y_i > 0 where row i is at
  /// its upper bound, y_i < 0 where it is at its lower bound.
  std::vector<double> y;
  double objective = 0;        // 1/2 x'Px + q'x + constant
  double primal_residual = 0;  // max violation of l <= Ax <= u (unscaled)
  double dual_residual = 0;    // |Px + q + A'y|_inf
  double gap = 0;              // complementarity s'z, in the solver's row scaling
  std::string message;
};

/// Solves `qp`; throws std::runtime_error on a singular KKT system or a malformed problem.
InteriorPointResult solve_qp_interior_point(const DenseQp& qp,
                                            const InteriorPointSettings& settings = {});

/// Reads a QP in OSQP's JSON convention (P upper triangle and A in CSC: "indptr", "indices",
/// "data", "shape"; q, l, u, constant), as written by Expert::export_qp.
DenseQp dense_qp_from_osqp_json(const nlohmann::json& j);

/// Ax for a dense QP, [m].
std::vector<double> dense_mul_a(const DenseQp& qp, const std::vector<double>& x);
/// 1/2 x'Px + q'x + constant.
double dense_objective(const DenseQp& qp, const std::vector<double>& x);

}  // namespace p2pgrid::test
