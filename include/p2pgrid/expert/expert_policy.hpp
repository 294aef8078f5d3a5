// The expert acting in an EnvBatch: plans each env's day from its state when the day starts (and
// every K steps in re-solve mode), warm-started from each env's last solved plan where that
// covers the steps ahead (a re-plan; or the previous day's plan at a day start, in plan-once
// mode), and writes the current step's expert actions to a buffer [B, A, kActionDim] on the
// env's backend, with each plan's optimal cost [B] beside it. A re-plan of the same day keeps
// the voltage offsets the DSO corrected for the env's last plan, if that was solved
// (Expert::plan's AC check), so the network model it solves with is the one that plan was
// verified with.
#pragma once

#include <cstdint>
#include <vector>

#include "p2pgrid/core/device.hpp"
#include "p2pgrid/env/env_batch.hpp"
#include "p2pgrid/expert/expert.hpp"

namespace p2pgrid {

/// What the policy's plans have cost so far (the rollout's report).
struct ExpertPolicyStats {
  int batches = 0;                   // calls of Expert::plan (each plans every env)
  long long plans = 0;               // env plans made
  long long iterations = 0;          // their ADMM iterations, DSO re-solves included
  int max_iterations = 0;            // of one plan
  long long dso_resolved_plans = 0;  // plans the DSO re-linearized and re-solved
  long long unsolved_plans = 0;      // plans not solved (max_iterations, primal_infeasible)
  long long unverified_plans = 0;    // solved plans the DSO's AC check did not pass
  long long ac_diverged_plans = 0;   // of those, plans whose AC power flow diverged
  double worst_ac_violation_pu = 0;  // of the solved plans with converged AC flows
  long long offsets_carried = 0;     // re-plans that started from the DSO's corrected offsets
  double plan_s = 0;                 // wall time in Expert::plan (seconds)
  // With expert.certify (ExpertSettings::certify), over the solved plans:
  long long certified_plans = 0;         // given a finite bound by their certificate
  long long plans_without_bound = 0;     // whose certificate found none
  double worst_certified_gap = 0;        // largest proven relative gap of the certified plans
  double worst_certified_violation = 0;  // largest distance of a row outside its bounds
  double certify_s = 0;                  // wall time in Expert::certify (seconds)
};

class ExpertPolicy {
 public:
  ExpertPolicy(const Expert& expert, const EnvBatch& env);

  /// Reads the envs' step, day and device state, re-plans when due, fills actions() for the
  /// step about to be played. All envs must be at the same step (they advance in lockstep).
  void act();

  const float* actions() const { return actions_.data(); }      // [B, A, 5] on the backend
  const double* plan_cost_cny() const { return cost_.data(); }  // [B] on the backend
  /// [B] on the backend: 1 where the env's plan is an expert's (ExpertPlan::usable: solved,
  /// and passed by the DSO's AC check), 0 where it stopped at the iteration limit, was found
  /// infeasible, or still breaks a voltage limit after the DSO's rounds (its actions and cost
  /// are then no expert's: mask them out).
  const std::uint8_t* plan_usable() const { return usable_.data(); }
  const std::vector<ExpertPlan>& plans() const { return plans_; }
  /// [B] the plans' certificates (Expert::certify), with expert.certify; empty otherwise.
  const std::vector<ExpertCertificate>& certificates() const { return certificates_; }
  const ExpertPolicyStats& stats() const { return stats_; }

 private:
  void certify_plans();  // the new plans' certificates and their stats

  const Expert& expert_;
  const EnvBatch& env_;
  std::vector<ExpertPlan> plans_;
  std::vector<ExpertCertificate> certificates_;
  DeviceBuffer<float> actions_;
  DeviceBuffer<double> cost_;
  DeviceBuffer<std::uint8_t> usable_;
  ExpertPolicyStats stats_;
};

}  // namespace p2pgrid
