// Batched AC power flow over B envs that share one radial feeder: the public API of both
// backends (CPU: sweep over envs on all cores; CUDA: one thread per env, or Z-bus with cuBLAS).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "p2pgrid/core/device.hpp"
#include "p2pgrid/network/network.hpp"
#include "p2pgrid/powerflow/sweep.hpp"

namespace p2pgrid {

enum class PowerFlowMethod {
  kSweep,  // backward/forward sweep, O(num_buses) per iteration per env
  kZbus,   // implicit Z-bus (DLF) fixed point: one complex GEMM per iteration for the batch
};
enum class Precision { kFloat32, kFloat64 };

PowerFlowMethod parse_powerflow_method(const std::string& name);  // "sweep" | "zbus"
const char* to_string(PowerFlowMethod method);
Precision parse_precision(const std::string& name);  // "float32" | "float64"
const char* to_string(Precision precision);

struct PowerFlowSettings {
  PowerFlowMethod method = PowerFlowMethod::kSweep;
  double tolerance_pu = 1e-9;  // max |dV| between sweeps, p.u. (float32 needs >= ~1e-6)
  int max_iterations = 50;
  double min_voltage_pu = 0.3;  // below this (or NaN) a sweep is declared diverged
  int threads = 0;              // CPU worker threads; 0 = all cores
};

/// The feeder as the solvers use it (host, double): sweep-ordered arrays of FeederView plus the
/// path-impedance matrix Z for the Z-bus method. Built once per network.
struct FeederModel {
  int num_buses = 0;
  int num_branches = 0;
  int slack_bus = 0;
  double v_slack_pu = 1.0;
  double base_mva = 1.0;
  std::vector<int> bus_at, parent_pos;                       // [num_buses]
  std::vector<double> r_pu, x_pu, g_shunt_pu, b_shunt_pu;    // [num_buses], sweep order
  std::vector<int> branch_pos;                               // [num_branches]
  std::vector<std::int8_t> branch_from_is_parent;            // [num_branches]
  std::vector<double> branch_half_b_pu;                      // [num_branches]
  /// Z-bus path impedance between sweep positions 1..n-1 (the slack removed):
  /// Z[(k-1)*(n-1) + (l-1)] = sum of z over branches shared by the paths slack->k and slack->l.
  std::vector<double> z_re_pu, z_im_pu;                      // [(n-1), (n-1)], symmetric

  /// `with_path_impedance`: also build the dense Z (the Z-bus method and the expert's
  /// LinDistFlow sensitivities need it; (n-1)^2 complex entries, so the sweep skips it).
  static FeederModel build(const Network& net, const std::string& where,
                           bool with_path_impedance = true);
  /// A view over this model's host arrays in precision Real (converted copies kept in `store`).
  template <class Real>
  FeederView<Real> host_view(std::vector<Real>& store) const;
};

/// Device pointers for one batched solve; every array on the solver's backend.
template <class Real>
struct PowerFlowIO {
  const Real* p_inj_pu = nullptr;  // [B, num_buses] net injection, p.u. on base_mva
  const Real* q_inj_pu = nullptr;  // [B, num_buses]
  Real* vm_pu = nullptr;           // [B, num_buses]
  Real* va_rad = nullptr;          // [B, num_buses]
  Real* p_branch_pu = nullptr;     // [B, num_branches] at the from end
  Real* q_branch_pu = nullptr;     // [B, num_branches]
  Real* p_loss_pu = nullptr;       // [B]
  Real* q_loss_pu = nullptr;       // [B]
  Real* p_slack_pu = nullptr;      // [B]
  Real* q_slack_pu = nullptr;      // [B]
  int* iterations = nullptr;       // [B]
  std::uint8_t* converged = nullptr;  // [B]
};

/// A batched solver bound to one feeder and one backend. Scratch grows with the largest batch
/// seen. solve() is synchronous on the CPU; on CUDA it is ordered on the default stream: the
/// sweep returns with its kernel queued, the Z-bus method synchronizes once per iteration for
/// its convergence test. Reading results on the host (copy_to_host) synchronizes.
class PowerFlowSolver {
 public:
  virtual ~PowerFlowSolver() = default;
  virtual Backend backend() const = 0;
  virtual PowerFlowMethod method() const = 0;
  virtual void solve(int batch, const PowerFlowIO<float>& io) = 0;
  virtual void solve(int batch, const PowerFlowIO<double>& io) = 0;
};

std::unique_ptr<PowerFlowSolver> make_powerflow_solver(const FeederModel& feeder, Backend backend,
                                                       const PowerFlowSettings& settings);

/// Owning batched buffers for one solve on a backend, with their PowerFlowIO view.
template <class Real>
struct PowerFlowBatch {
  PowerFlowBatch(Backend backend, int batch, int num_buses, int num_branches);
  int batch, num_buses, num_branches;
  DeviceBuffer<Real> p_inj_pu, q_inj_pu, vm_pu, va_rad, p_branch_pu, q_branch_pu;
  DeviceBuffer<Real> p_loss_pu, q_loss_pu, p_slack_pu, q_slack_pu;
  DeviceBuffer<int> iterations;
  DeviceBuffer<std::uint8_t> converged;
  PowerFlowIO<Real> io();
};

/// Host copy of one solve's results (double), for the CLI, tests and reports.
struct PowerFlowResult {
  int batch = 0, num_buses = 0, num_branches = 0;
  std::vector<double> vm_pu, va_rad, p_branch_pu, q_branch_pu;  // [B, ...]
  std::vector<double> p_loss_pu, q_loss_pu, p_slack_pu, q_slack_pu;  // [B]
  std::vector<int> iterations;                                       // [B]
  std::vector<std::uint8_t> converged;                               // [B]
};

/// Base-case injections of a network: -load at every bus, p.u. on base_mva, [num_buses] each.
void base_case_injections(const Network& net, std::vector<double>& p_inj_pu,
                          std::vector<double>& q_inj_pu);

/// Convenience: copies host injections [B, num_buses] to the backend, solves in `precision`,
/// and returns the results on the host. Not for hot loops (allocates every call).
PowerFlowResult solve_power_flow(PowerFlowSolver& solver, const FeederModel& feeder,
                                 Precision precision, int batch,
                                 const std::vector<double>& p_inj_pu,
                                 const std::vector<double>& q_inj_pu);

class Config;

/// The power-flow section of a config resolved into backend, precision and settings
/// ("auto" method: sweep; "auto" precision: float64 on the CPU, float32 on CUDA).
struct PowerFlowChoice {
  Backend backend = Backend::kCpu;
  Precision precision = Precision::kFloat64;
  PowerFlowSettings settings;          // tolerance_pu is the chosen precision's
  double float64_tolerance_pu = 1e-9;  // powerflow.tolerance_pu, for float64 solves of any run
};
PowerFlowChoice resolve_powerflow_config(const Config& config);

namespace detail {
std::unique_ptr<PowerFlowSolver> make_cpu_powerflow_solver(const FeederModel& feeder,
                                                           const PowerFlowSettings& settings);
#if defined(P2P_HAVE_CUDA)
std::unique_ptr<PowerFlowSolver> make_cuda_powerflow_solver(const FeederModel& feeder,
                                                            const PowerFlowSettings& settings);
#endif
}  // namespace detail

}  // namespace p2pgrid
