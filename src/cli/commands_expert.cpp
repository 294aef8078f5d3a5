// `p2pgrid expert` (one day's perfect-foresight plan, optional QP export) and `bench expert`.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <vector>

#include "bench.hpp"
#include "cli.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/format.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/expert/expert.hpp"

namespace p2pgrid::cli {
namespace {

using nlohmann::json;

json plan_json(const Expert& expert, const ExpertPlan& p) {
  json j;
  j["day"] = p.day;
  j["t0"] = p.t0;
  j["status"] = to_string(p.info.status);
  j["iterations"] = p.info.iterations;
  j["primal_residual"] = p.info.primal_residual;
  j["dual_residual"] = p.info.dual_residual;
  j["objective_cny"] = p.objective_cny;
  j["ac_violation_pu"] = p.ac_violation_pu;
  j["ac_converged"] = p.ac_converged;
  j["dso_verified"] = p.dso_verified;
  j["dso_rounds"] = p.dso_rounds;
  json costs = json::array();
  for (int a = 0; a < expert.spec().num_agents(); ++a)
    costs.push_back({{"agent", a},
                     {"name", expert.spec().prosumers[a].name},
                     {"cost_cny", p.prosumer_cost_cny[a]}});
  j["prosumers"] = costs;
  return j;
}

/// The plan's weak-duality certificate (expert_certificate.hpp): null bound and gap where there
/// is no finite bound.
json certificate_json(const ExpertCertificate& c) {
  json j;
  j["lower_bound_cny"] = c.bounded ? json(c.lower_bound_cny) : json(nullptr);
  j["gap"] = c.bounded ? json(c.gap) : json(nullptr);
  j["objective_cny"] = c.objective_cny;
  j["max_violation"] = c.max_violation;
  j["worst_row"] = c.worst_row;  // -1: none outside its bounds
  j["multipliers_moved"] = c.multipliers_moved;
  if (!c.bounded) j["no_bound_reason"] = c.no_bound_reason;
  return j;
}

}  // namespace

int expert_day_of_year(const Config& cfg, const EnvSpec& spec) {
  const std::vector<int> days = days_in_split(spec.profiles.year, spec.split);
  const long long d = cfg.integer("expert.day");
  if (d < 0 || d >= static_cast<long long>(days.size()))
    throw Error("expert.day = " + std::to_string(d) + ": the " + split_name(spec.split) +
                " split has days 0.." + std::to_string(days.size() - 1) +
                " (an index into the split, not a day of the year)");
  return days[d];
}

namespace {

int run_expert(Invocation& inv) {
  Config& cfg = inv.config;
  if (inv.has("--json")) cfg.set("output.format=json");
  const bool as_json = json_output(cfg);  // checked before the solve
  const std::string export_path = cfg.string("expert.export_qp");
  if (!export_path.empty())  // before any work, not after the solve
    with_config_key("expert.export_qp", export_path, [&] { check_file_writable(export_path); });
  play_days_of_rollout_split(cfg);
  const EnvSpec spec = build_env_spec(cfg);
  const long long d = cfg.integer("expert.day");
  const int day = expert_day_of_year(cfg, spec);
  const auto start = std::chrono::steady_clock::now();
  Expert expert(spec, resolve_expert_config(cfg), resolve_powerflow_config(cfg));
  const double setup_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto t1 = std::chrono::steady_clock::now();
  const std::vector<ExpertPlan> plans = expert.plan({expert.initial_data(day)});
  const double solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const ExpertPlan& p = plans[0];
  if (!export_path.empty()) {
    // The QP the reported objective solves: with the voltage offsets of the DSO's last
    // re-linearization, if it made any (the day's linear ones otherwise), and its solution.
    with_config_key("expert.export_qp", export_path, [&] {
      write_text_file_atomic(export_path, expert.export_qp(p).dump() + "\n");
    });
    std::cerr << "wrote " << export_path << " (after " << p.dso_rounds
              << " DSO re-linearization(s))\n";
  }
  json j = plan_json(expert, p);
  const auto t2 = std::chrono::steady_clock::now();
  const ExpertCertificate cert = expert.certify(p);
  j["certificate"] = certificate_json(cert);
  // An unsolved plan's x may lie far outside its rows (an infeasible QP's always does): its
  // cost can be below the optimum, so a gap would claim nothing. The bound still holds.
  const bool solved = p.info.status == SolveStatus::kSolved;
  if (!solved) {
    j["certificate"]["gap"] = nullptr;
    j["certificate"]["no_gap_reason"] =
        std::string("the plan was not solved (") + to_string(p.info.status) + ")";
  }
  j["certificate"]["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
  j["split"] = split_name(spec.split);
  j["split_day"] = d;
  j["setup_s"] = setup_s;
  j["solve_s"] = solve_s;
  j["variables"] = expert.qp().block_vars * expert.qp().steps;
  j["constraints"] = expert.qp().block_rows * expert.qp().steps;
  if (as_json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << std::fixed << std::setprecision(2) << "expert plan for " << split_name(spec.split)
              << " day " << d << " (day of year " << day << "), " << spec.num_agents()
              << " prosumers, " << j["variables"] << " variables, " << j["constraints"]
              << " constraints\n"
              << "  objective      " << p.objective_cny << " CNY\n"
              << "  status         " << to_string(p.info.status) << " after " << p.info.iterations
              << " ADMM iterations (" << solve_s << " s; setup " << setup_s << " s)\n"
              << std::scientific << std::setprecision(2) << "  residuals      primal "
              << p.info.primal_residual << " (in the rows' kW, kvar, kWh or p.u.), dual "
              << p.info.dual_residual << " (CNY per kW, kvar or kWh)\n"
              << "  AC check       worst violation " << p.ac_violation_pu << " p.u. after "
              << p.dso_rounds << " DSO re-linearization(s)"
              << (p.ac_converged ? "" : " (AC NOT CONVERGED)") << "\n";
    // The gap says how far above the optimum x's cost lies; x itself meets its rows to the
    // violation (an unsolved plan's may be far off).
    if (cert.bounded && !solved)
      std::cout << "  certificate    none for this plan, which was not solved (its rows are met "
                << "only within " << cert.max_violation
                << " in their units); the QP's optimum >= " << std::fixed << std::setprecision(2)
                << cert.lower_bound_cny << " CNY (weak duality)\n";
    else if (cert.bounded)
      std::cout << "  certificate    within " << cert.gap
                << " (relative) of the optimum, rows met within " << cert.max_violation
                << " in their units"
                << " (weak duality: optimum >= " << std::fixed << std::setprecision(2)
                << cert.lower_bound_cny << " CNY)\n";
    else
      std::cout << "  certificate    none: " << cert.no_bound_reason << "\n";
    std::size_t name_width = 4;
    for (const auto& pr : spec.prosumers) name_width = std::max(name_width, pr.name.size());
    std::cout << std::fixed << std::setprecision(2) << "  per prosumer   agent  " << std::left
              << std::setw(int(name_width)) << "name" << std::right << "     cost (CNY)\n";
    for (int a = 0; a < spec.num_agents(); ++a)
      std::cout << "                 " << std::setw(5) << a << "  " << std::left
                << std::setw(int(name_width)) << spec.prosumers[a].name << std::right << " "
                << std::setw(14) << p.prosumer_cost_cny[a] << "\n";
  }
  if (!inv.out_dir.empty()) {
    write_text_file_atomic(inv.out_dir + "/expert.json", j.dump(2) + "\n");
  }
  if (p.info.status != SolveStatus::kSolved)
    return inv.fail(std::string("the plan was not solved: ADMM status ") +
                    to_string(p.info.status) + " after " + std::to_string(p.info.iterations) +
                    " iterations");
  if (!p.dso_verified)
    return inv.fail("the plan fails the DSO's AC check after " + std::to_string(p.dso_rounds) +
                    " round(s): " +
                    (p.ac_converged ? "a voltage is " + format_short(p.ac_violation_pu) +
                                          " p.u. beyond its limit (expert.dso_tolerance_pu " +
                                          format_short(expert.settings().dso_tolerance_pu) + ")"
                                    : std::string("an AC power flow did not converge")));
  return 0;
}

int run_bench_expert(Invocation& inv) {
  Config& cfg = inv.config;
  const EnvSpec spec = build_env_spec(cfg);
  const int batch = bench_batch(cfg, kMostExpertBatch, "bench expert");
  const PowerFlowChoice pf = resolve_powerflow_config(cfg);
  Expert expert(spec, resolve_expert_config(cfg), pf);
  const std::vector<int> days = days_in_split(spec.profiles.year, spec.split);
  std::vector<ExpertEnvData> envs;
  for (long long e = 0; e < batch; ++e) envs.push_back(expert.initial_data(days[e % days.size()]));
  // Warm mode: plan the days first (untimed), then time the next days' plans started from them.
  const bool warm_start = cfg.boolean("bench.expert_warm_start");
  std::vector<ExpertPlan> previous;
  if (warm_start) {
    previous = expert.plan(envs);
    for (auto& e : envs) e = expert.initial_data((e.day + 1) % spec.profiles.num_days);
  }
  std::vector<ExpertPlan> last;
  const int warmup = std::min(cfg.integer_in("bench.warmup", 0, 1000000), 1);
  const int reps = cfg.integer_in("bench.repetitions", 1, 1000000);
  PlanTimings parts;
  const BenchTimes t = time_repeated(pf.backend, warmup, reps,
                                     [&] {
                                       last = expert.plan(envs, warm_start ? &previous : nullptr,
                                                          &parts);
                                     });
  double it_sum = 0, worst_prim = 0, worst_dual = 0, worst_ac = 0, solved = 0;
  std::vector<int> iterations;  // per plan, DSO re-solves included
  int dso_resolved = 0;
  for (const auto& p : last) {
    it_sum += p.info.iterations;
    iterations.push_back(p.info.iterations);
    dso_resolved += p.dso_rounds > 0;
    worst_prim = std::max(worst_prim, p.info.primal_residual);
    worst_dual = std::max(worst_dual, p.info.dual_residual);
    worst_ac = std::max(worst_ac, p.ac_violation_pu);
    solved += p.info.status == SolveStatus::kSolved;
  }
  const int threads = cpu_threads(pf.settings.threads);
  json j = bench_report("expert", pf.backend, int(batch), threads, "env_day_plans_per_s",
                        double(batch), t, warmup);
  if (pf.backend == Backend::kCpu) {
    j["throughput_per_core_per_s"] = j["throughput_per_s"].get<double>() / cores_used(threads);
    j["cores"] = cores_used(threads);
  }
  j["network"] = spec.network.name;
  j["agents"] = spec.num_agents();
  // The last repetition's parts: host bounds, the batched ADMM, the DSO's AC check.
  j["last_bounds_s"] = parts.bounds_s;
  j["last_solve_s"] = parts.solve_s;
  j["last_dso_s"] = parts.dso_s;
  j["solve_plans_per_s"] = double(batch) / parts.solve_s;
  j["warm_start"] = warm_start ? "previous_day_plan" : "cold";
  j["split"] = split_name(spec.split);  // env.split: the days planned, from the first
  j["mean_iterations"] = it_sum / batch;
  // The tail matters on the GPU, where a batch takes as long as its slowest plan.
  std::sort(iterations.begin(), iterations.end());
  auto rank = [&](double f) { return iterations[std::size_t(f * (iterations.size() - 1) + 0.5)]; };
  j["iterations_p50"] = rank(0.5);
  j["iterations_p90"] = rank(0.9);
  j["iterations_max"] = iterations.back();
  j["dso_resolved_plans"] = dso_resolved;
  j["solved_fraction"] = solved / batch;
  j["worst_primal_residual"] = worst_prim;
  j["worst_dual_residual"] = worst_dual;
  j["worst_ac_violation_pu"] = worst_ac;
  if (cfg.boolean("bench.certify")) {
    // Every plan of the last repetition certified (untimed; on every core): how far its cost
    // can lie above its QP's optimum, from its own multipliers (Expert::certify). A check of
    // the backend's answers that needs no second solver (over the solved plans; the unsolved
    // ones' x may lie far outside its rows).
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<ExpertCertificate> certs = expert.certify(last);
    std::vector<double> gaps;  // of the solved plans with a bound
    long long solved_plans = 0;
    double worst_violation = 0;
    for (std::size_t e = 0; e < last.size(); ++e) {
      if (last[e].info.status != SolveStatus::kSolved) continue;
      ++solved_plans;
      if (certs[e].bounded && std::isfinite(certs[e].gap)) gaps.push_back(certs[e].gap);
      worst_violation = std::max(worst_violation, certs[e].max_violation);
    }
    std::sort(gaps.begin(), gaps.end());
    json g;
    g["solved_plans"] = solved_plans;  // the figures below are theirs
    g["without_bound"] = solved_plans - static_cast<long long>(gaps.size());
    g["gap_p50"] = gaps.empty() ? json(nullptr) : json(gaps[gaps.size() / 2]);
    g["gap_max"] = gaps.empty() ? json(nullptr) : json(gaps.back());
    g["worst_row_violation"] = worst_violation;
    g["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    j["certificate"] = g;
  }
  std::cout << j.dump() << "\n";
  if (!inv.out_dir.empty()) {
    write_text_file_atomic(inv.out_dir + "/bench_expert.json", j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace

void register_expert_commands() {
  Command ex;
  ex.name = "expert";
  ex.summary =
      "perfect-foresight plan of one day (objective, per-prosumer costs, AC check, certified "
      "distance from the optimum)";
  ex.usage = "--day D [--split test] [--json] [--export-qp FILE.json] [--backend cpu|cuda]";
  ex.aliases = {{"--day", "expert.day"},
                {"--split", "rollout.split"},
                {"--export-qp", "expert.export_qp"},
                {"--network", "network.file"},
                {"--threads", "powerflow.threads"},
                {"--backend", "powerflow.backend"}};
  ex.flags = {{"--json", "print the report as JSON", false}};
  ex.run = run_expert;
  registry().push_back(ex);

  Command bench;
  bench.name = "bench expert";
  bench.summary = "time batched expert plans (env-day plans per second); prints one JSON object";
  bench.usage =
      "[--backend cpu|cuda] [--batch N] [--split train|test|...] [--threads N] [--repetitions N]";
  // The days planned are env.split's first --batch (repeated past the split's end).
  bench.aliases = {{"--backend", "powerflow.backend"},
                   {"--batch", "bench.batch"},
                   {"--split", "env.split"},
                   {"--repetitions", "bench.repetitions"},
                   {"--threads", "powerflow.threads"}};
  bench.run = run_bench_expert;
  registry().push_back(bench);
}

}  // namespace p2pgrid::cli
