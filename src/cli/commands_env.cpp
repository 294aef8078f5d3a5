// `p2pgrid rollout` (whole days under a fixed policy, per-day metrics, optional trace CSV),
// `p2pgrid bench env` and `p2pgrid data import-elia`.
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "bench.hpp"
#include "cli.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/core/rng.hpp"
#include "p2pgrid/env/env_batch.hpp"
#include "p2pgrid/expert/expert_policy.hpp"

namespace p2pgrid::cli {
namespace {

using nlohmann::json;

/// Per-day figures from an episode's metric sums (definitions in docs/env.md).
json day_metrics(const double* m) {
  const double viol = m[kMetViolBusSteps], bus_steps = m[kMetBusSteps];
  return {{"cost_cny", m[kMetCost]},
          {"p2p_kwh", m[kMetP2p]},
          {"grid_import_kwh", m[kMetImport]},
          {"grid_export_kwh", m[kMetExport]},
          {"violation_rate", bus_steps > 0 ? viol / bus_steps : 0.0},
          {"violation_mean_pu", viol > 0 ? m[kMetViolMagnitude] / viol : 0.0},
          {"nonconverged_steps", m[kMetNonConverged]},
          {"reward", m[kMetReward]},
          {"projection_kw_mean", m[kMetSteps] > 0 ? m[kMetProjection] / m[kMetSteps] : 0.0}};
}

/// Fills actions [B, A, 5] for one step of a fixed policy, on the host.
void policy_actions(const std::string& policy, std::uint64_t seed, int step, int num_envs,
                    int num_agents, std::vector<float>& actions) {
  actions.assign(std::size_t(num_envs) * num_agents * kActionDim, 0.0f);
  if (policy == "zero") return;
  if (policy != "random")
    throw Error("rollout.policy '" + policy + "': expected zero, random or expert");
  for (int e = 0; e < num_envs; ++e) {
    Rng rng = make_rng(seed ^ 0x9e3779b97f4a7c15ULL, std::uint64_t(e) * 131 + step);
    float* a = actions.data() + std::size_t(e) * num_agents * kActionDim;
    for (int k = 0; k < num_agents * kActionDim; ++k) a[k] = 2.0f * rng.uniform_float() - 1.0f;
  }
}

}  // namespace

void play_days_of_rollout_split(Config& cfg) {
  try {
    parse_split(cfg.string("rollout.split"));
  } catch (const Error& e) {
    throw Error(std::string("rollout.split: ") + e.what());
  }
  cfg.set("env.split=" + cfg.string("rollout.split"));
}

std::string expert_failure(const json& report) {
  if (!report.contains("expert")) return "";
  const json& x = report["expert"];
  const long long unsolved = x["unsolved_plans"], unverified = x["unverified_plans"];
  if (unsolved + unverified == 0) return "";
  std::ostringstream why;
  why << unsolved << " of the expert's " << x["plans"].get<long long>()
      << " plans were not solved and " << unverified << " failed the DSO's AC check";
  if (unverified > 0)
    why << " (" << x["ac_diverged_plans"].get<long long>()
        << " with a diverged AC power flow; worst voltage otherwise "
        << x["worst_ac_violation_pu"].get<double>() << " p.u. beyond a limit)";
  why << "; each day's expert_plans_usable in the JSON report (--json, or rollout.json under "
         "--out) says which";
  return why.str();
}

void print_expert_certificates(const json& x, const std::string& prefix) {
  const long long solved = x["plans"].get<long long>() - x["unsolved_plans"].get<long long>();
  const long long certified = x["certified_plans"], none = x["plans_without_bound"];
  std::ostringstream line;
  line << prefix;
  if (certified == 0) {
    line << "none of the " << solved << " solved plans certified (" << none << " without a bound)";
  } else {
    line << certified << " of the " << solved << " solved plans certified, each within "
         << std::scientific << std::setprecision(1) << x["worst_certified_gap"].get<double>()
         << " (relative) of its optimum by weak duality, their rows met within "
         << x["worst_certified_violation"].get<double>() << " (kW, kvar, kWh or p.u.)";
    if (none > 0) line << "; " << none << " without a bound";
  }
  std::cout << line.str() << "\n";
}

bool json_output(const Config& cfg) {
  const std::string format = cfg.string("output.format");
  if (format != "text" && format != "json")
    throw Error("config key 'output.format' = '" + format + "': expected text or json");
  return format == "json";
}

namespace {

/// rollout.days, checked against the days of the spec's split.
int rollout_days(const Config& cfg, const EnvSpec& spec) {
  const std::vector<int> split_days = days_in_split(spec.profiles.year, spec.split);
  const long long want = cfg.integer("rollout.days");
  if (want < 1 || want > static_cast<long long>(split_days.size()))
    throw Error("rollout.days = " + std::to_string(want) + ": expected 1.." +
                std::to_string(split_days.size()) + " (the " + split_name(spec.split) +
                " split has " + std::to_string(split_days.size()) + " days)");
  return static_cast<int>(want);
}

/// rollout.trace ("" for none), checked writable: before any work, not after the days are played.
std::string writable_trace_path(const Config& cfg) {
  const std::string path = cfg.string("rollout.trace");
  if (!path.empty()) with_config_key("rollout.trace", path, [&] { check_file_writable(path); });
  return path;
}

}  // namespace

EnvSpec check_rollout_config(Config cfg) {
  play_days_of_rollout_split(cfg);
  const EnvSpec spec = build_env_spec(cfg);
  resolve_powerflow_config(cfg);
  rollout_days(cfg, spec);
  const std::string policy = cfg.string("rollout.policy");
  if (policy != "zero" && policy != "random" && policy != "expert")
    throw Error("rollout.policy '" + policy + "': expected zero, random or expert");
  resolve_expert_config(cfg);
  writable_trace_path(cfg);
  return spec;
}

void check_config(Config cfg) {
  // What `bench expert` reads: env.split's days (rollout and expert play rollout.split's).
  try {
    parse_split(cfg.string("env.split"));
  } catch (const Error& e) {
    throw Error(std::string("env.split: ") + e.what());
  }
  // expert.day indexes rollout.split's days, as `expert` plays them: the spec returned.
  expert_day_of_year(cfg, check_rollout_config(cfg));
  // The benches' counts, bench.batch against the largest limit; a lower one is a note, since
  // a config is not tied to one command.
  const int batch = bench_batch(cfg, kMostPowerFlowBatch, "bench powerflow");
  for (const auto& [most, commands] :
       {std::pair<long long, const char*>{kMostEnvBatch, "bench env, study and bench expert"},
        {kMostExpertBatch, "bench expert"}})
    if (batch > most) {
      std::cerr << "p2pgrid: note: bench.batch = " << batch << " is above the limit of " << commands
                << " (" << most << ")\n";
      break;
    }
  cfg.integer_in("bench.repetitions", 1, 1000000);
  cfg.integer_in("bench.warmup", 0, 1000000);
}

json play_rollout(Config& cfg) {
  const std::string trace_path = writable_trace_path(cfg);
  play_days_of_rollout_split(cfg);
  const EnvSpec spec = build_env_spec(cfg);
  const PowerFlowChoice pf = resolve_powerflow_config(cfg);
  const std::vector<int> split_days = days_in_split(spec.profiles.year, spec.split);
  const int days = rollout_days(cfg, spec);
  const std::vector<int> day_ids(split_days.begin(), split_days.begin() + days);
  EnvBatch env(spec, pf.backend, days, pf);
  const std::uint64_t seed = cfg.seed("rollout.seed");
  env.reset(seed, day_ids);
  const std::string policy = cfg.string("rollout.policy");
  const int A = env.num_agents();
  std::ostringstream trace;
  trace << std::setprecision(9);
  if (!trace_path.empty())
    trace << "day,step,agent,bus,p_cdg_kw,p_rdg_kw,q_rdg_kvar,p_bess_kw,soc_kwh,p_cl_kw,"
             "p_load_kw,q_load_kvar,p_p2p_kw,p_grid_kw,price_buy_cny_per_kwh,"
             "price_sell_cny_per_kwh,price_p2p_cny_per_kwh,cost_cny,v_pu\n";
  std::vector<float> actions;
  DeviceBuffer<float> d_actions(pf.backend, std::size_t(days) * A * kActionDim);
  std::unique_ptr<Expert> expert;
  std::unique_ptr<ExpertPolicy> expert_policy;
  if (policy == "expert") {
    expert = std::make_unique<Expert>(spec, resolve_expert_config(cfg), pf);
    expert_policy = std::make_unique<ExpertPolicy>(*expert, env);
  }
  std::vector<double> expert_objective(days, 0.0);
  json expert_gap = json::array();  // [days] certified gap of the day's plan from step 0
  std::vector<std::uint8_t> expert_usable(days, 1);  // every plan of the env's day was usable
  for (int t = 0; t < kStepsPerDay; ++t) {
    if (expert_policy) {
      expert_policy->act();
      for (int e = 0; e < days; ++e) {
        const ExpertPlan& plan = expert_policy->plans()[e];
        if (t == 0) expert_objective[e] = plan.objective_cny;
        if (t == 0 && !expert_policy->certificates().empty()) {
          const ExpertCertificate& c = expert_policy->certificates()[e];
          // An unsolved plan's x may cost less than the optimum: no gap (as `p2pgrid expert`).
          const bool solved = plan.info.status == SolveStatus::kSolved;
          expert_gap.push_back(solved && c.bounded && std::isfinite(c.gap) ? json(c.gap)
                                                                           : json(nullptr));
        }
        expert_usable[e] &= plan.usable();
      }
      env.step(expert_policy->actions());
    } else {
      policy_actions(policy, seed, t, days, A, actions);
      d_actions.copy_from_host(actions.data(), actions.size());
      env.step(d_actions.data());
    }
    if (!trace_path.empty()) {
      const auto agent = env.to_host(env.view().agent_out, std::size_t(days) * A * kNumAgentOut);
      const auto price = env.to_host(env.view().price_p2p, days);
      for (int e = 0; e < days; ++e)
        for (int a = 0; a < A; ++a) {
          const double* o = agent.data() + (std::size_t(e) * A + a) * kNumAgentOut;
          trace << day_ids[e] << ',' << t << ',' << a << ','
                << spec.network.bus_id[spec.prosumers[a].bus] << ',' << o[kAoPCdg] << ','
                << o[kAoPRdg] << ',' << o[kAoQRdg] << ',' << o[kAoPBess] << ',' << o[kAoSoc]
                << ',' << o[kAoPCl] << ',' << o[kAoPLoad] << ',' << o[kAoQLoad] << ','
                << o[kAoPP2p] << ',' << o[kAoPGrid] << ',' << spec.buy_cny_per_kwh[t / 4] << ','
                << spec.sell_cny_per_kwh[t / 4] << ',' << price[e] << ',' << o[kAoCost] << ','
                << o[kAoVm] << '\n';
        }
    }
  }
  // Every env has just finished its day (auto-reset happened): read the day's sums.
  const auto truncated = env.to_host(env.view().truncated, days);
  const auto sums = env.to_host(env.view().last_episode, std::size_t(days) * kNumMetrics);
  for (int e = 0; e < days; ++e)
    if (!truncated[e]) throw Error("rollout: env " + std::to_string(e) + " did not end its day");
  json report;
  report["policy"] = policy;
  report["split"] = split_name(spec.split);
  report["backend"] = to_string(pf.backend);
  report["agents"] = A;
  json per_day = json::array();
  std::vector<double> mean(kNumMetrics, 0.0);
  for (int e = 0; e < days; ++e) {
    json d = day_metrics(sums.data() + std::size_t(e) * kNumMetrics);
    d["day"] = day_ids[e];  // of the year (0-based), as the trace's and the export's
    d["split_day"] = e;     // its index in the split: `p2pgrid expert --day` takes this one
    if (expert_policy) {
      d["expert_objective_cny"] = expert_objective[e];
      d["expert_plans_usable"] = expert_usable[e] != 0;
      if (!expert_gap.empty()) d["expert_certified_gap"] = expert_gap[e];
    }
    per_day.push_back(d);
    for (int m = 0; m < kNumMetrics; ++m) mean[m] += sums[std::size_t(e) * kNumMetrics + m] / days;
  }
  report["days"] = per_day;
  report["mean"] = day_metrics(mean.data());
  report["network"] = spec.network.name;
  report["seed"] = seed;
  if (expert_policy) {  // what the expert's plans cost (all envs, all re-plans)
    const ExpertPolicyStats& st = expert_policy->stats();
    report["expert"] = {{"plan_batches", st.batches},
                        {"plans", st.plans},
                        {"resolve_every_steps", expert->settings().resolve_every_steps},
                        {"mean_iterations", st.plans > 0 ? double(st.iterations) / st.plans : 0.0},
                        {"max_iterations", st.max_iterations},
                        {"dso_resolved_plans", st.dso_resolved_plans},
                        {"unsolved_plans", st.unsolved_plans},
                        {"unverified_plans", st.unverified_plans},
                        {"ac_diverged_plans", st.ac_diverged_plans},
                        {"worst_ac_violation_pu", st.worst_ac_violation_pu},
                        {"dso_offsets_carried", st.offsets_carried},
                        {"plan_s", st.plan_s}};
    if (expert->settings().certify) {
      // Over the solved plans (null: no plan certified).
      report["expert"]["certified_plans"] = st.certified_plans;
      report["expert"]["plans_without_bound"] = st.plans_without_bound;
      report["expert"]["worst_certified_gap"] =
          st.certified_plans > 0 ? json(st.worst_certified_gap) : json(nullptr);
      report["expert"]["worst_certified_violation"] = st.worst_certified_violation;
      report["expert"]["certify_s"] = st.certify_s;
    }
  }
  if (!trace_path.empty())
    with_config_key("rollout.trace", trace_path,
                    [&] { write_text_file_atomic(trace_path, trace.str()); });
  return report;
}

namespace {

int run_rollout(Invocation& inv) {
  Config& cfg = inv.config;
  if (inv.has("--json")) cfg.set("output.format=json");
  const bool as_json = json_output(cfg);  // checked before the days are played
  const json report = play_rollout(cfg);
  const std::vector<json> per_day = report["days"];
  const std::string policy = report["policy"];
  const int days = static_cast<int>(per_day.size());
  if (as_json) {
    std::cout << report.dump(2) << "\n";
  } else {
    std::cout << "rollout: policy " << policy << ", " << days << " "
              << report["split"].get<std::string>() << (days == 1 ? " day, " : " days, ")
              << report["agents"].get<int>() << " prosumers on "
              << report["network"].get<std::string>() << " ("
              << report["backend"].get<std::string>() << ")\n"
              << "  day  (of year)   cost_cny   p2p_kwh  import_kwh  export_kwh  viol_rate"
                 "  viol_mean_pu  nonconv     reward\n"
              << std::fixed;
    auto row = [](const std::string& label, const json& d) {
      std::cout << label << std::setprecision(1) << std::setw(11) << d["cost_cny"].get<double>()
                << std::setw(10) << d["p2p_kwh"].get<double>() << std::setw(12)
                << d["grid_import_kwh"].get<double>() << std::setw(12)
                << d["grid_export_kwh"].get<double>() << std::setprecision(4) << std::setw(11)
                << d["violation_rate"].get<double>() << std::setw(14)
                << d["violation_mean_pu"].get<double>() << std::setprecision(0) << std::setw(9)
                << d["nonconverged_steps"].get<double>() << std::setprecision(1) << std::setw(11)
                << d["reward"].get<double>() << "\n";
    };
    for (const json& d : per_day) {
      std::ostringstream label;  // the split's index (expert --day), then the day of the year
      label << std::setw(5) << d["split_day"].get<int>() << std::setw(11)
            << "(" + std::to_string(d["day"].get<int>()) + ")";
      row(label.str(), d);
    }
    row("   mean         ", report["mean"]);
    if (report.contains("expert")) {
      const json& x = report["expert"];
      std::cout << std::setprecision(1) << "expert: " << x["plans"].get<long long>()
                << " env plans (" << x["plan_batches"].get<int>() << " batches), "
                << x["mean_iterations"].get<double>() << " ADMM iterations per plan (max "
                << x["max_iterations"].get<int>() << "), "
                << x["dso_resolved_plans"].get<long long>() << " re-solved by the DSO, "
                << x["unsolved_plans"].get<long long>() << " not solved, "
                << x["unverified_plans"].get<long long>() << " failed the DSO's AC check, "
                << std::setprecision(2) << x["plan_s"].get<double>() << " s\n";
      if (x.contains("certified_plans")) print_expert_certificates(x, "expert: ");
    }
  }
  const double nonconverged = report["mean"]["nonconverged_steps"].get<double>();
  if (nonconverged > 0)  // their violations are not counted: the table would read clean
    std::cerr << "p2pgrid: warning: the power flow did not converge on " << nonconverged
              << " steps per day; viol_rate and viol_mean_pu leave those steps out\n";
  if (!inv.out_dir.empty()) {
    write_text_file_atomic(inv.out_dir + "/rollout.json", report.dump(2) + "\n");
  }
  const std::string failure = expert_failure(report);
  return failure.empty() ? 0 : inv.fail(failure);
}

int run_bench_env(Invocation& inv) {
  Config& cfg = inv.config;
  const EnvSpec spec = build_env_spec(cfg);
  const PowerFlowChoice pf = resolve_powerflow_config(cfg);
  const int batch = bench_batch(cfg, kMostEnvBatch, "bench env");
  const long long steps = cfg.integer("bench.steps");
  if (steps < 1) throw Error("bench.steps must be >= 1");
  EnvBatch env(spec, pf.backend, int(batch), pf);
  env.reset(cfg.seed("bench.seed"));
  std::vector<float> actions;
  policy_actions("random", cfg.seed("bench.seed"), 0, int(batch), env.num_agents(), actions);
  DeviceBuffer<float> d_actions(pf.backend, actions.size());
  d_actions.copy_from_host(actions.data(), actions.size());
  const int warmup = cfg.integer_in("bench.warmup", 0, 1000000);
  const int reps = cfg.integer_in("bench.repetitions", 1, 1000000);
  const BenchTimes t = time_repeated(pf.backend, warmup, reps, [&] {
    for (long long s = 0; s < steps; ++s) env.step(d_actions.data());
  });
  const int threads = cpu_threads(pf.settings.threads);
  json j = bench_report("env", pf.backend, int(batch), threads, "env_steps_per_s",
                        double(batch) * steps, t, warmup);
  j["steps_per_rep"] = steps;
  j["network"] = spec.network.name;
  j["agents"] = env.num_agents();
  j["agent_steps_per_s"] = j["throughput_per_s"].get<double>() * env.num_agents();
  j["powerflow_method"] = to_string(pf.settings.method);
  j["powerflow_precision"] = to_string(pf.precision);
  // A diverged power flow stops early, so the figure means little unless they converged.
  const std::vector<std::uint8_t> converged = env.pf_converged_host();
  const double fraction =
      std::count_if(converged.begin(), converged.end(), [](std::uint8_t c) { return c != 0; }) /
      double(batch);
  j["last_step_converged_fraction"] = fraction;
  if (fraction < 1)
    std::cerr << "p2pgrid: warning: only " << fraction * 100 << " % of the last step's power "
              << "flows converged (env.feeder_load_scale, the devices' sizes?): the figure times "
              << "diverged solves\n";
  if (pf.backend == Backend::kCpu) {
    j["throughput_per_core_per_s"] = j["throughput_per_s"].get<double>() / cores_used(threads);
    j["cores"] = cores_used(threads);
  }
  std::cout << j.dump() << "\n";
  if (!inv.out_dir.empty()) {
    write_text_file_atomic(inv.out_dir + "/bench_env.json", j.dump(2) + "\n");
  }
  return 0;
}

int run_import_elia(Invocation& inv) {
  for (const char* f : {"--pv", "--wind", "--load", "-o"})
    if (!inv.has(f)) throw Error(std::string("data import-elia: missing ") + f);
  EliaImportOptions options;
  options.repeat_previous_day_at_year_end = inv.has("--repeat-last-day");
  const std::string year_text = inv.flag_or("--year", "2017");
  char* end = nullptr;
  const long year_l = std::strtol(year_text.c_str(), &end, 10);
  if (year_text.empty() || *end != '\0' || year_l < 1900 || year_l > 2200)
    throw Error("data import-elia: --year '" + year_text + "': expected a year such as 2017");
  const int year = static_cast<int>(year_l);
  std::vector<std::string> repairs;  // fills and clamps, also in the file's `source`
  const YearProfiles p = import_elia_csv(inv.flags.at("--pv"), inv.flags.at("--wind"),
                                         inv.flags.at("--load"), year, options, &repairs);
  for (const std::string& r : repairs) std::cerr << "p2pgrid: note: " << r << "\n";
  write_text_file_atomic(inv.flags.at("-o"), year_profiles_to_json_text(p));
  double pv = 0, wind = 0, load = 0;
  for (std::size_t i = 0; i < p.pv_cf.size(); ++i) {
    pv += p.pv_cf[i];
    wind += p.wind_cf[i];
    load += p.load_pu[i];
  }
  const double n = static_cast<double>(p.pv_cf.size());
  std::cout << "wrote " << inv.flags.at("-o") << ": year " << p.year << ", " << p.num_days
            << " days; mean PV cf " << pv / n << ", wind cf " << wind / n << ", load "
            << load / n << " pu\n"
            << "use it with --set env.profiles.file=" << inv.flags.at("-o") << "\n";
  return 0;
}

}  // namespace

void register_env_commands() {
  Command rollout;
  rollout.name = "rollout";
  rollout.summary = "play whole days with a fixed policy; per-day and mean metrics";
  rollout.usage = "[--policy zero|random|expert] [--split train|validation|test] [--days N] [--json] "
                  "[--trace FILE.csv] [--backend cpu|cuda]";
  rollout.aliases = {{"--policy", "rollout.policy"}, {"--split", "rollout.split"},
                     {"--days", "rollout.days"},     {"--seed", "rollout.seed"},
                     {"--trace", "rollout.trace"},   {"--backend", "powerflow.backend"},
                     {"--network", "network.file"}};
  rollout.flags = {{"--json", "print the report as JSON (same as --set output.format=json)", false}};
  rollout.run = run_rollout;
  registry().push_back(rollout);

  Command bench;
  bench.name = "bench env";
  bench.summary = "time batched env steps (power flow included); prints one JSON object";
  bench.usage = "[--backend cpu|cuda] [--batch N] [--steps N]";
  bench.aliases = {{"--backend", "powerflow.backend"}, {"--batch", "bench.batch"},
                   {"--steps", "bench.steps"},         {"--repetitions", "bench.repetitions"},
                   {"--threads", "powerflow.threads"}, {"--precision", "powerflow.precision"},
                   {"--method", "powerflow.method"},   {"--network", "network.file"}};
  bench.run = run_bench_env;
  registry().push_back(bench);

  Command elia;
  elia.name = "data import-elia";
  elia.summary = "convert Elia solar/wind and ENTSO-E load CSVs into a year of env profiles";
  elia.usage = "--pv SOLAR.csv --wind WIND.csv --load LOAD.csv [--year 2017] "
               "[--repeat-last-day] -o PROFILES.json";
  elia.flags = {{"--pv", "Elia solar export (RealTime, MonitoredCapacity)"},
                {"--wind", "Elia wind export (Realtime, MonitoredCapacity)"},
                {"--load", "ENTSO-E 'Total Load - Day Ahead / Actual' export"},
                {"--year", "calendar year to extract (default 2017)"},
                {"--repeat-last-day", "fill a missing Dec 31 with Dec 30 (recorded in source)", false},
                {"-o", "output profiles JSON (written atomically)"}};
  elia.run = run_import_elia;
  registry().push_back(elia);
}

}  // namespace p2pgrid::cli
