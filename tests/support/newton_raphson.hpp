// An independent reference for the sweep: dense full Newton-Raphson in polar coordinates on the
// bus admittance matrix (double, std::complex, Gaussian elimination). Slow and simple by design.
#pragma once

#include <vector>

#include "p2pgrid/network/network.hpp"

namespace p2pgrid::test {

struct NewtonResult {
  std::vector<double> vm_pu, va_rad;  // [num_buses], case order
  double p_slack_pu = 0, q_slack_pu = 0;
  int iterations = 0;
  bool converged = false;
};

/// Solves with injections p_inj_pu / q_inj_pu [num_buses] (p.u. on base_mva) to a power
/// mismatch below `tolerance_pu`.
NewtonResult newton_raphson(const Network& net, const std::vector<double>& p_inj_pu,
                            const std::vector<double>& q_inj_pu, double tolerance_pu = 1e-9,
                            int max_iterations = 30);

}  // namespace p2pgrid::test
