// Number formatting shared by error messages and writers.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace p2pgrid {

/// The shortest of %.15g and %.17g that reads back as the same double (exact, yet readable).
inline std::string format_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/// Six significant digits, for a limit computed from other values (0.01, not
/// 0.010000000000000009).
inline std::string format_short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace p2pgrid
