// How far a plan's cost can lie above the optimum of its QP, from the plan's own solution and
// multipliers (weak duality), with no second solver. The same certificate as
// tools/check_qp.py's (which reads an exported QP and is the independent check); here every
// plan can carry it, so the expert's cost, which policies are scored against (Lou et al. 2025,
// eqs. 41-43), comes with a proven error bar.
//
// For the QP  minimize 1/2 x'Px + q'x + c  s.t.  l <= Ax <= u  with P diagonal and >= 0:
// rows with one nonzero are boxes lo <= x <= hi on their variable, tightened by bound propagation
// through the other rows (which restates the QP's own constraints); the other rows R are
// dualized with the plan's y (signs projected onto the bounds that exist), and
//   L(y) = min_{lo <= x <= hi} 1/2 x'Px + (q + A_R'y)'x - sum_{i in R} max(u_i y_i, l_i y_i) + c
// is separable per variable and <= the optimum for every y. ADMM leaves ~1e-5 of dual noise on
// variables unbounded in one direction (grid and P2P purchases and sales), where any pull the
// wrong way would make L = -inf; the multipliers of their equality rows are shifted just enough
// to remove it (any y gives a valid bound). Rounding is bounded, not ignored: propagated bounds
// are loosened far beyond theirs, each L_j is taken at the worse end of the interval its
// computed reduced cost's rounding allows (L_j is concave in it), and the sum keeps a margin of
// (number of terms) x epsilon x the sum of their magnitudes.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "p2pgrid/expert/expert_qp.hpp"

namespace p2pgrid {

struct ExpertCertificate {
  double objective_cny = 0;    // 1/2 x'Px + q'x + c at the plan's x
  bool bounded = false;        // false: no finite lower bound (see no_bound_reason)
  // <= the QP's optimum, CNY (-inf without a bound).
  double lower_bound_cny = -std::numeric_limits<double>::infinity();
  // (objective - lower bound) / max(1, |lower bound|): the plan's cost is at most this far
  // above the optimum, relative, up to its own small infeasibility (max_violation). +inf (no
  // claim) without a bound.
  double gap = std::numeric_limits<double>::infinity();
  double max_violation = 0;      // largest distance of a row of Ax outside [l, u], in its units
  int worst_row = -1;            // that row (block * m_b + row in the block), -1 if none
  double multipliers_moved = 0;  // largest shift of an equality row's multiplier (repair)
  int unbounded_variables = 0;   // variables without a box where the Lagrangian is linear
  std::string no_bound_reason;   // why there is no bound (empty when bounded)
};

/// The certificate of x (n = blocks * n_b) with multipliers y (m = blocks * m_b, OSQP's
/// convention: Px + q + A'y = 0 at an optimum, y > 0 pushing against u) for the QP of `qp`'s
/// leading `blocks` blocks with bounds l, u (+-kInfinity: infinite). Throws p2pgrid::Error on
/// sizes that do not match.
ExpertCertificate certify_expert_plan(const ExpertQp& qp, int blocks, const std::vector<double>& l,
                                      const std::vector<double>& u, const std::vector<double>& x,
                                      const std::vector<double>& y);

}  // namespace p2pgrid
