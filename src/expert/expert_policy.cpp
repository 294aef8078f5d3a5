// ExpertPolicy (see expert_policy.hpp).
#include "p2pgrid/expert/expert_policy.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "p2pgrid/core/error.hpp"

namespace p2pgrid {

ExpertPolicy::ExpertPolicy(const Expert& expert, const EnvBatch& env)
    : expert_(expert),
      env_(env),
      actions_(env.backend(), std::size_t(env.num_envs()) * env.num_agents() * kActionDim),
      cost_(env.backend(), env.num_envs()),
      usable_(env.backend(), env.num_envs()) {
  if (env.num_agents() != expert.spec().num_agents() ||
      env.num_units() != expert.spec().num_units())
    throw Error("ExpertPolicy: the expert and the env were built from different specs");
}

void ExpertPolicy::act() {
  const int B = env_.num_envs(), U = env_.num_units(), A = env_.num_agents();
  const std::vector<int> step = env_.to_host(env_.view().step, B);
  const std::vector<int> day = env_.to_host(env_.view().day, B);
  const int t = step[0];
  for (int e = 1; e < B; ++e)
    if (step[e] != t) throw Error("ExpertPolicy: envs are not in lockstep");
  const int every = expert_.settings().resolve_every_steps;
  bool due = plans_.size() != std::size_t(B) || t == 0 || (every > 0 && t % every == 0);
  for (int e = 0; e < B && !due; ++e) due = plans_[e].day != day[e];
  if (due) {
    const std::vector<double> p_prev = env_.to_host(env_.view().unit_p_prev_kw, std::size_t(B) * U);
    const std::vector<double> soc = env_.to_host(env_.view().unit_soc_kwh, std::size_t(B) * U);
    std::vector<ExpertEnvData> data(B);
    for (int e = 0; e < B; ++e) {
      data[e].day = day[e];
      data[e].t0 = t;
      data[e].unit_p_prev_kw.assign(p_prev.begin() + std::size_t(e) * U,
                                    p_prev.begin() + std::size_t(e + 1) * U);
      data[e].unit_soc_kwh.assign(soc.begin() + std::size_t(e) * U,
                                  soc.begin() + std::size_t(e + 1) * U);
    }
    // Warm start from each env's last plan: the same day's (re-plan) or the day before's.
    const bool warm = plans_.size() == std::size_t(B);
    // A re-plan of the same day starts from the offsets the DSO corrected for the last plan
    // (empty when it corrected none: the day's linear ones). Without them the re-plan solves
    // the linear model that plan broke the voltage limits with, and pays the same DSO round
    // (an AC check and a re-solve of a few hundred iterations) again at every re-plan.
    // Only from a solved plan (as the warm start), and only within its day.
    for (int e = 0; warm && e < B; ++e)
      if (plans_[e].day == day[e] && t > plans_[e].t0 &&
          plans_[e].info.status == SolveStatus::kSolved && !plans_[e].data.v_offset_pu.empty()) {
        data[e].v_offset_pu = plans_[e].data.v_offset_pu;
        ++stats_.offsets_carried;
      }
    const auto start = std::chrono::steady_clock::now();
    plans_ = expert_.plan(std::move(data), warm ? &plans_ : nullptr);
    stats_.plan_s +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++stats_.batches;
    std::vector<double> cost(B);
    std::vector<std::uint8_t> usable(B);
    for (int e = 0; e < B; ++e) {
      const ExpertPlan& p = plans_[e];
      cost[e] = p.objective_cny;
      const bool solved = p.info.status == SolveStatus::kSolved;
      usable[e] = p.usable();
      ++stats_.plans;
      stats_.iterations += p.info.iterations;
      stats_.max_iterations = std::max(stats_.max_iterations, p.info.iterations);
      stats_.dso_resolved_plans += p.dso_rounds > 0;
      stats_.unsolved_plans += !solved;
      stats_.unverified_plans += solved && !p.dso_verified;
      if (solved && p.ac_converged)  // a diverged AC flow's voltages are no measure
        stats_.worst_ac_violation_pu = std::max(stats_.worst_ac_violation_pu, p.ac_violation_pu);
      stats_.ac_diverged_plans += solved && !p.ac_converged;
    }
    if (expert_.settings().certify) certify_plans();
    cost_.copy_from_host(cost.data(), B);
    usable_.copy_from_host(usable.data(), B);
  }
  std::vector<float> a(std::size_t(B) * A * kActionDim);
  for (int e = 0; e < B; ++e)
    expert_.actions(plans_[e], t, a.data() + std::size_t(e) * A * kActionDim);
  actions_.copy_from_host(a.data(), a.size());
}

void ExpertPolicy::certify_plans() {
  const auto start = std::chrono::steady_clock::now();
  certificates_ = expert_.certify(plans_);
  // The solved plans' account (an unsolved plan's x may lie far outside its rows: its gap would
  // say nothing; unsolved_plans counts those).
  for (std::size_t e = 0; e < plans_.size(); ++e) {
    if (plans_[e].info.status != SolveStatus::kSolved) continue;
    const ExpertCertificate& c = certificates_[e];
    stats_.worst_certified_violation = std::max(stats_.worst_certified_violation, c.max_violation);
    if (!c.bounded || !std::isfinite(c.gap)) {
      ++stats_.plans_without_bound;
      continue;
    }
    ++stats_.certified_plans;
    stats_.worst_certified_gap = std::max(stats_.worst_certified_gap, c.gap);
  }
  stats_.certify_s +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace p2pgrid
