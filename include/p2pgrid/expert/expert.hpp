// The expert of Lou et al. 2025: perfect-foresight dispatch of every prosumer from an env's
// current state to the end of its day (a shrinking horizon), network-verified by the DSO.
// Solves many envs at once (ExpertAdmm), re-linearizes the voltage constraints around the AC
// operating point when the AC power flow breaks a limit, and turns plans into env actions.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "p2pgrid/env/env_spec.hpp"
#include "p2pgrid/expert/admm.hpp"
#include "p2pgrid/expert/expert_bounds.hpp"
#include "p2pgrid/expert/expert_certificate.hpp"
#include "p2pgrid/expert/expert_qp.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid {

class Config;
namespace detail {
struct ExpertCudaState;  // device copies of the bounds' tables (src/expert/expert_cuda.cpp)
}

struct ExpertSettings {
  AdmmSettings admm;
  int inverter_facets = 16;
  int dso_rounds = 3;              // re-linearize and re-solve at most this many times
  double dso_tolerance_pu = 1e-6;  // AC voltage beyond a limit by more than this triggers a round
  // Plans per AC power-flow batch of the DSO check on the CPU (0: all in one batch; the CUDA
  // backend always takes one): a chunk's buffers are reused, where one large batch pays its
  // fresh memory's page faults (256 plans: 0.86 s in one batch, 0.20 s in chunks of 64).
  int dso_chunk_plans = 64;
  // CUDA: at most this many envs per device solve (0: no limit of its own). A batch is solved
  // in parts of as many envs as fit in 90 % of the device's free memory when each part starts
  // (ExpertAdmm::cuda_bytes_per_env each: about 7.5 MB for a day), rounded down to whole
  // groups of kAdmmGroup envs where at least one fits, so that the plans do not depend on it.
  int cuda_max_batch = 0;
  int resolve_every_steps = 0;  // 0: plan once per day; K: re-plan every K steps
  // ExpertPolicy: certify every plan (Expert::certify, on the host: about 10 ms per whole-day
  // plan and core), so that the expert's costs come with a proven distance from the optimum.
  bool certify = false;
};
ExpertSettings resolve_expert_config(const Config& config);

/// One env's plan from step t0 to 95.
struct ExpertPlan {
  int day = 0, t0 = 0;
  AdmmInfo info;
  AdmmIterate iterate;                    // unscaled solution (warm start of the next solve)
  double objective_cny = 0;               // the optimal operational cost over the horizon
  std::vector<double> prosumer_cost_cny;  // [A] eqs. (14)-(19), P2P payments included
  double ac_violation_pu = 0;             // largest AC distance outside [V_min, V_max] (0: none)
  int dso_rounds = 0;                     // re-linearizations performed
  bool ac_converged = true;               // every step's AC power flow converged
  // The DSO's verdict after its rounds: every AC power flow converged and no voltage beyond a
  // limit by more than dso_tolerance_pu. A solved plan that fails it (the rounds ran out, or
  // the AC flow diverged) is no expert action either.
  bool dso_verified = false;
  ExpertEnvData data;  // day, state and voltage offsets used
  /// Solved and verified: the plan's actions are an expert's.
  bool usable() const { return info.status == SolveStatus::kSolved && dso_verified; }
};

/// Where the time of one plan() call went (seconds, wall clock), for the benchmarks.
struct PlanTimings {
  double bounds_s = 0;  // the envs' bounds l, u (on the host; on the device for CUDA)
  double solve_s = 0;   // the data checks, the starts and the batched ADMM (first solve)
  double dso_s = 0;     // AC verification and re-linearized re-solves
};

class Expert {
 public:
  Expert(const EnvSpec& spec, const ExpertSettings& settings, const PowerFlowChoice& powerflow);

  /// Plans every env in `envs` (all with the same t0). Warm-starts from `warm` when given
  /// (same size; each plan with the same t0 or an earlier one, of the same day or another: the
  /// horizon's leading blocks are reused). `timings`, if given, receives where the time went.
  std::vector<ExpertPlan> plan(std::vector<ExpertEnvData> envs,
                               const std::vector<ExpertPlan>* warm = nullptr,
                               PlanTimings* timings = nullptr) const;

  /// The data of an env at the start of `day` (initial SOC and CDG output of the spec).
  ExpertEnvData initial_data(int day) const;

  /// The plan's set-points at step t as env actions [A, kActionDim] in [-1, 1] (the inverse of
  /// the env's mapping, eq. 22; agents with several units of one kind get one shared action).
  void actions(const ExpertPlan& plan, int t, float* out) const;

  /// The plan's set-point of one variable kind summed over an agent's units, at step t.
  double setpoint(const ExpertPlan& plan, int t, int agent, QpVar kind) const;

  /// The QP of `plan` in OSQP's convention (minimize 1/2 x'Px + q'x + c, l <= Ax <= u), with P's
  /// upper triangle and A in CSC form, +-1e30 for infinite bounds and variable names.
  nlohmann::json export_qp(const ExpertEnvData& data) const;
  /// The same for a solved plan's own QP, with its solution beside it ("solution": x, and the
  /// multipliers y of OSQP's convention, Px + q + A'y = 0 at the optimum, y > 0 pushing against
  /// u), so that an independent check can bound the optimum from the plan's duals
  /// (tools/check_qp.py).
  nlohmann::json export_qp(const ExpertPlan& plan) const;
  /// How far the plan's cost can lie above the optimum of its QP, proven from its own
  /// multipliers (expert_certificate.hpp; about 10 ms for a whole day on one core).
  ExpertCertificate certify(const ExpertPlan& plan) const;
  /// The same for every plan, on every core (powerflow.threads).
  std::vector<ExpertCertificate> certify(const std::vector<ExpertPlan>& plans) const;

  const ExpertQp& qp() const { return admm_.qp(); }
  const ExpertAdmm& admm() const { return admm_; }
  const EnvSpec& spec() const { return spec_; }
  const ExpertSettings& settings() const { return settings_; }

 private:
  /// Solves the QPs of `envs` (checked, sharing t0) from `starts` on the ADMM's backend, with
  /// their bounds computed where the solve runs (on the device for CUDA).
  std::vector<AdmmInfo> solve(const std::vector<ExpertEnvData>& envs,
                              std::vector<AdmmIterate>& starts, PlanTimings* timings) const;
  void verify_with_ac(std::vector<ExpertPlan>& plans) const;
#if defined(P2P_HAVE_CUDA)
  /// Envs for the next device solve over `blocks` blocks: what fits in the memory free now,
  /// at most settings_.cuda_max_batch, in whole groups where one fits.
  int cuda_batch_limit(int blocks) const;
#endif
  std::vector<double> prosumer_costs(const ExpertPlan& plan) const;

  EnvSpec spec_;
  ExpertSettings settings_;
  PowerFlowChoice powerflow_;
  ExpertAdmm admm_;
  ExpertBoundsTables bounds_;  // points into spec_'s profiles
  FeederModel feeder_;
  mutable std::mutex cuda_mutex_;
  mutable std::shared_ptr<detail::ExpertCudaState> cuda_;
  mutable std::mutex dso_mutex_;
  mutable std::unique_ptr<PowerFlowSolver> dso_solver_;  // the DSO's AC check, made on first use
};

#if defined(P2P_HAVE_CUDA)
namespace detail {
/// The bounds of the `count` envs at `envs` (checked, sharing t0) over `blocks` blocks, computed on
/// the device from `tables` (src/expert/expert_cuda.cpp); `state` keeps their device copy.
AdmmDeviceBounds expert_bounds_cuda(std::shared_ptr<ExpertCudaState>& state,
                                    const ExpertBoundsView& tables, const ExpertEnvData* envs,
                                    int count, int blocks);
}  // namespace detail
#endif

}  // namespace p2pgrid
