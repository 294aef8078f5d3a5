// `p2pgrid study`: the main job until the learner lands. On the configured feeder (default the
// embedded IEEE 141-bus) it solves the base case with both methods, scans load and PV levels in
// one batch, times the batched solver, plays test days of the P2P env under the zero, random and
// expert policies, and prints a readable summary (study.json with --out).
#include <cmath>
#include <iomanip>
#include <iostream>

#include "bench.hpp"
#include "cli.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/core/threads.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid::cli {
namespace {

using nlohmann::json;

int run_study(Invocation& inv) {
  // The env part's settings are checked first: a network without the prosumers' buses, or more
  // days than the test split has, fails before the power-flow sections instead of after them.
  // Played on the test days without a trace, set in the run's own config so that the
  // config.json written beside study.json says so (each policy's report names its policy).
  inv.config.set("rollout.split=test");
  inv.config.set("rollout.trace=");
  // The expert's costs are the reference the policies are scored against: each comes with its
  // proven distance from the optimum (its plans' certificates).
  inv.config.set("expert.certify=true");
  Config checked = inv.config;  // the study plays every policy: rollout.policy is not read
  checked.set("rollout.policy=expert");
  check_rollout_config(checked);
  bench_batch(inv.config, kMostEnvBatch, "study");  // the throughput section's, before any work
  inv.config.integer_in("bench.warmup", 0, 1000000);
  inv.config.integer_in("bench.repetitions", 1, 1000000);
  const std::string spec = inv.config.string("network.file");
  const Network net = with_config_key("network.file", spec, [&] { return load_network(spec); });
  const FeederModel feeder = FeederModel::build(net, spec);
  const PowerFlowChoice choice = resolve_powerflow_config(inv.config);
  const double kw = net.base_mva * 1e3;
  const int nb = net.num_buses();
  json report;
  report["network"] = {{"name", net.name},       {"buses", nb},
                       {"branches", net.num_branches()}, {"load_kw", net.total_load_kw()},
                       {"load_kvar", net.total_load_kvar()}};
  std::cout << std::fixed << std::setprecision(4);
  std::cout << "p2pgrid study on " << net.name << ": " << nb << " buses, " << net.num_branches()
            << " branches, load " << net.total_load_kw() << " kW / " << net.total_load_kvar()
            << " kvar\n\n";

  // 1. Base case, sweep and Z-bus: two formulations of the same fixed point must agree.
  std::vector<double> p0, q0;
  base_case_injections(net, p0, q0);
  PowerFlowSettings sweep_settings = choice.settings, zbus_settings = choice.settings;
  sweep_settings.method = PowerFlowMethod::kSweep;
  zbus_settings.method = PowerFlowMethod::kZbus;
  auto sweep = make_powerflow_solver(feeder, choice.backend, sweep_settings);
  auto zbus = make_powerflow_solver(feeder, choice.backend, zbus_settings);
  const PowerFlowResult rs = solve_power_flow(*sweep, feeder, choice.precision, 1, p0, q0);
  const PowerFlowResult rz = solve_power_flow(*zbus, feeder, choice.precision, 1, p0, q0);
  double max_dv = 0;
  int argmin = 0;
  for (int i = 0; i < nb; ++i) {
    max_dv = std::max(max_dv, std::abs(rs.vm_pu[i] - rz.vm_pu[i]));
    if (rs.vm_pu[i] < rs.vm_pu[argmin]) argmin = i;
  }
  std::cout << "Base case (" << to_string(choice.backend) << ", " << to_string(choice.precision)
            << ")\n"
            << "  converged       " << (rs.converged[0] ? "yes" : "NO") << " in "
            << rs.iterations[0] << " sweeps (Z-bus: " << rz.iterations[0] << ")\n"
            << "  min voltage     " << rs.vm_pu[argmin] << " p.u. at bus " << net.bus_id[argmin]
            << "\n"
            << "  losses          " << rs.p_loss_pu[0] * kw << " kW, " << rs.q_loss_pu[0] * kw
            << " kvar\n"
            << "  slack power     " << rs.p_slack_pu[0] * kw << " kW, " << rs.q_slack_pu[0] * kw
            << " kvar\n"
            << std::scientific << std::setprecision(2) << "  sweep vs Z-bus  max |dVm| "
            << max_dv << " p.u.\n\n"
            << std::fixed << std::setprecision(4);
  report["base_case"] = {
      {"converged", rs.converged[0] != 0},   {"iterations", rs.iterations[0]},
      {"min_vm_pu", rs.vm_pu[argmin]},       {"min_vm_bus", net.bus_id[argmin]},
      {"loss_p_kw", rs.p_loss_pu[0] * kw},   {"loss_q_kvar", rs.q_loss_pu[0] * kw},
      {"slack_p_kw", rs.p_slack_pu[0] * kw}, {"slack_q_kvar", rs.q_slack_pu[0] * kw},
      {"sweep_vs_zbus_max_dvm_pu", max_dv}};

  // 2. Load and PV scan in one batch: load factor x PV penetration (PV at every 4th bus,
  //    sized so that "pv = 1" injects the feeder's total load).
  const std::vector<double> load_levels = {0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4};
  const std::vector<double> pv_levels = {0.0, 0.5, 1.0};
  const int batch = static_cast<int>(load_levels.size() * pv_levels.size());
  int pv_buses = 0;
  for (int i = 0; i < nb; ++i) pv_buses += (i != net.slack_bus && i % 4 == 0);
  std::vector<double> p(size_t(batch) * nb), q(p.size());
  for (size_t a = 0; a < load_levels.size(); ++a)
    for (size_t b = 0; b < pv_levels.size(); ++b) {
      const size_t env = a * pv_levels.size() + b;
      for (int i = 0; i < nb; ++i) {
        double pv_kw = (i != net.slack_bus && i % 4 == 0)
                           ? pv_levels[b] * net.total_load_kw() / std::max(pv_buses, 1)
                           : 0.0;
        p[env * nb + i] = p0[i] * load_levels[a] + pv_kw / kw;
        q[env * nb + i] = q0[i] * load_levels[a];
      }
    }
  const PowerFlowResult scan = solve_power_flow(*sweep, feeder, choice.precision, batch, p, q);
  std::cout << "Load / PV scan (" << batch << " operating points in one batch)\n"
            << "  load  pv   conv  iters  vmin_pu  vmax_pu  losses_kw  buses<vmin  buses>vmax"
               "  (the case's own limits)\n";
  json scan_rows = json::array();
  for (size_t a = 0; a < load_levels.size(); ++a)
    for (size_t b = 0; b < pv_levels.size(); ++b) {
      const size_t env = a * pv_levels.size() + b;
      double vmin = 1e9, vmax = -1e9;
      int low = 0, high = 0;
      for (int i = 0; i < nb; ++i) {
        const double v = scan.vm_pu[env * nb + i];
        vmin = std::min(vmin, v);
        vmax = std::max(vmax, v);
        low += v < net.v_min_pu[i] - 1e-9;
        high += v > net.v_max_pu[i] + 1e-9;
      }
      std::cout << "  " << std::setw(4) << std::setprecision(1) << load_levels[a] << "  "
                << std::setw(3) << pv_levels[b] << "  " << std::setw(4)
                << (scan.converged[env] ? "yes" : "NO") << "  " << std::setw(5)
                << scan.iterations[env] << "  " << std::setprecision(4) << std::setw(7) << vmin
                << "  " << std::setw(7) << vmax << "  " << std::setw(9) << std::setprecision(2)
                << scan.p_loss_pu[env] * kw << "  " << std::setw(10) << low << "  "
                << std::setw(10) << high << "\n";
      scan_rows.push_back({{"load_factor", load_levels[a]}, {"pv_penetration", pv_levels[b]},
                           {"converged", scan.converged[env] != 0},
                           {"iterations", scan.iterations[env]}, {"vmin_pu", vmin},
                           {"vmax_pu", vmax}, {"loss_p_kw", scan.p_loss_pu[env] * kw},
                           {"buses_below_vmin", low}, {"buses_above_vmax", high}});
    }
  report["scan"] = scan_rows;

  // 3. Throughput of the batched solver on this machine (bench.batch, bench.warmup and
  //    bench.repetitions, as `bench powerflow` reads them).
  const int throughput_batch = bench_batch(inv.config, kMostEnvBatch, "study");
  const int bench_warmup = inv.config.integer_in("bench.warmup", 0, 1000000);
  const int bench_reps = inv.config.integer_in("bench.repetitions", 1, 1000000);
  std::vector<double> pb(size_t(throughput_batch) * nb), qb(pb.size());
  for (int e = 0; e < throughput_batch; ++e)
    for (int i = 0; i < nb; ++i) {
      const double s = 0.3 + 1.2 * ((e * 7919 + i * 104729) % 1000) / 1000.0;
      pb[size_t(e) * nb + i] = p0[i] * s;
      qb[size_t(e) * nb + i] = q0[i] * s;
    }
  PowerFlowBatch<double> buf(choice.backend, throughput_batch, nb, net.num_branches());
  buf.p_inj_pu.copy_from_host(pb.data(), pb.size());
  buf.q_inj_pu.copy_from_host(qb.data(), qb.size());
  const PowerFlowIO<double> io = buf.io();
  const BenchTimes t = time_repeated(choice.backend, bench_warmup, bench_reps,
                                     [&] { sweep->solve(throughput_batch, io); });
  const double rate = throughput_batch / t.median();
  std::cout << "\nThroughput: " << std::setprecision(0) << rate << " power flows/s ("
            << to_string(choice.backend) << ", float64, batch " << throughput_batch
            << ", median of " << bench_reps << ")\n";
  report["throughput"] = {
      {"power_flows_per_s", rate}, {"backend", to_string(choice.backend)},
      {"method", "sweep"},         {"precision", "float64"},
      {"batch", throughput_batch}, {"threads", cpu_threads(choice.settings.threads)},
      {"median_of", bench_reps}};

  // 4. The P2P trading env (20 prosumers) on the first test days under three policies; the
  //    expert's plan cost is what the policies are scored against.
  const int days = inv.config.integer_in("rollout.days", 1, 366);
  std::cout << "\nP2P trading env: " << days << " test day(s), mean per day\n"
            << "  policy     cost_cny   p2p_kwh  import_kwh  export_kwh  viol_rate  nonconv"
               "     reward\n";
  json policies = json::object();
  for (const char* policy : {"zero", "random", "expert"}) {
    Config cfg = inv.config;
    cfg.set(std::string("rollout.policy=") + policy);
    const json r = play_rollout(cfg);
    const json& m = r["mean"];
    std::cout << "  " << std::left << std::setw(7) << policy << std::right << std::setprecision(1)
              << std::setw(11) << m["cost_cny"].get<double>() << std::setw(10)
              << m["p2p_kwh"].get<double>() << std::setw(12) << m["grid_import_kwh"].get<double>()
              << std::setw(12) << m["grid_export_kwh"].get<double>() << std::setprecision(4)
              << std::setw(11) << m["violation_rate"].get<double>() << std::setprecision(1)
              << std::setw(9) << m["nonconverged_steps"].get<double>() << std::setw(11)
              << m["reward"].get<double>() << "\n";
    policies[policy] = r;
  }
  report["env"] = policies;
  // The violation rate counts converged steps only: a policy whose power flows diverge would
  // read as violation-free.
  for (const auto& [name, r] : policies.items())
    if (r["mean"]["nonconverged_steps"].get<double>() > 0)
      std::cout << "  warning: the " << name << " policy's power flow did not converge on "
                << r["mean"]["nonconverged_steps"].get<double>()
                << " steps per day (its violation rate leaves them out)\n";

  print_expert_certificates(policies["expert"]["expert"], "  the expert's plans: ");
  const std::string expert_failed = expert_failure(policies["expert"]);
  if (!inv.out_dir.empty()) {
    write_text_file_atomic(inv.out_dir + "/study.json", report.dump(2) + "\n");
    std::cout << "wrote " << inv.out_dir << "/study.json\n";
  }
  if (!expert_failed.empty()) return inv.fail(expert_failed);
  return rs.converged[0] ? 0 : inv.fail("the base case's power flow did not converge");
}

}  // namespace

void register_study_command() {
  Command study;
  study.name = "study";
  study.summary = "the default study: power flow (base case, load/PV scan, throughput) and the "
                  "P2P env under zero, random and expert policies";
  study.usage = "[--network FILE] [--backend cpu|cuda] [--days N] [--out DIR]";
  study.aliases = {{"--network", "network.file"}, {"--backend", "powerflow.backend"},
                   {"--days", "rollout.days"}};
  study.run = run_study;
  registry().push_back(study);
}

}  // namespace p2pgrid::cli
