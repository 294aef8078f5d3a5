// Reads the "powerflow" config section (configs/default.json documents every key).
#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid {

PowerFlowChoice resolve_powerflow_config(const Config& config) {
  PowerFlowChoice c;
  c.backend = parse_backend(config.string("powerflow.backend"));
  const std::string precision = config.string("powerflow.precision");
  c.precision = precision == "auto"
                    ? (c.backend == Backend::kCpu ? Precision::kFloat64 : Precision::kFloat32)
                    : parse_precision(precision);
  const std::string method = config.string("powerflow.method");
  // Both backends default to the sweep: O(num_buses) work per iteration beats the O(n^2) Z-bus
  // GEMM on the CPU (docs/performance.md); on CUDA the choice awaits H200 measurements.
  c.settings.method = method == "auto" ? PowerFlowMethod::kSweep : parse_powerflow_method(method);
  const char* tolerance_key = c.precision == Precision::kFloat32 ? "powerflow.tolerance_pu_float32"
                                                                 : "powerflow.tolerance_pu";
  c.settings.tolerance_pu = config.number(tolerance_key);
  c.float64_tolerance_pu = config.number("powerflow.tolerance_pu");
  if (!(c.float64_tolerance_pu > 0 && c.float64_tolerance_pu < 1))
    throw Error("config key 'powerflow.tolerance_pu' must be in (0, 1)");
  c.settings.max_iterations = config.integer_in("powerflow.max_iterations", 1, 1000000);
  c.settings.min_voltage_pu = config.number("powerflow.min_voltage_pu");
  c.settings.threads = config.integer_in("powerflow.threads", 0, 4096);
  if (!(c.settings.tolerance_pu > 0 && c.settings.tolerance_pu < 1))
    throw Error(std::string("config key '") + tolerance_key + "' must be in (0, 1)");
  if (!(c.settings.min_voltage_pu >= 0 && c.settings.min_voltage_pu < 1))
    throw Error("config key 'powerflow.min_voltage_pu' must be in [0, 1)");
  return c;
}

}  // namespace p2pgrid
