// The worst of a set of differences, NaN-aware: std::max(w, NaN) returns w, so a NaN result
// would pass a "worst < tolerance" check; here a NaN sticks and then fails it.
#pragma once

#include <cmath>

namespace p2pgrid::test {

/// worst = max(worst, d), and NaN from the first NaN on.
inline void keep_worst(double& worst, double d) {
  if (!(d <= worst) && !std::isnan(worst)) worst = d;
}

}  // namespace p2pgrid::test
