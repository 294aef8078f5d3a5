// `p2pgrid powerflow` (solve a network's base case) and `p2pgrid bench powerflow`.
#include <cmath>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "bench.hpp"
#include "cli.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid::cli {
namespace {

using nlohmann::json;
constexpr double kRadToDeg = 57.29577951308232;


json result_json(const Network& net, const PowerFlowChoice& choice, const PowerFlowResult& r) {
  const double kw = net.base_mva * 1e3;
  json j;
  j["network"] = net.name;
  j["backend"] = to_string(choice.backend);
  j["method"] = to_string(choice.settings.method);
  j["precision"] = to_string(choice.precision);
  j["converged"] = r.converged[0] != 0;
  j["iterations"] = r.iterations[0];
  j["loss_p_kw"] = r.p_loss_pu[0] * kw;
  j["loss_q_kvar"] = r.q_loss_pu[0] * kw;
  j["slack_p_kw"] = r.p_slack_pu[0] * kw;
  j["slack_q_kvar"] = r.q_slack_pu[0] * kw;
  int argmin = 0;
  for (int i = 0; i < r.num_buses; ++i)
    if (r.vm_pu[i] < r.vm_pu[argmin]) argmin = i;
  j["min_vm_pu"] = r.vm_pu[argmin];
  j["min_vm_bus"] = net.bus_id[argmin];
  json buses = json::array();
  for (int i = 0; i < r.num_buses; ++i)
    buses.push_back({{"bus", net.bus_id[i]}, {"vm_pu", r.vm_pu[i]},
                     {"va_deg", r.va_rad[i] * kRadToDeg}});
  j["buses"] = buses;
  json branches = json::array();
  for (int b = 0; b < r.num_branches; ++b)
    branches.push_back({{"from", net.bus_id[net.from_bus[b]]},
                        {"to", net.bus_id[net.to_bus[b]]},
                        {"in_service", net.in_service[b] != 0},
                        {"p_from_kw", r.p_branch_pu[b] * kw},
                        {"q_from_kvar", r.q_branch_pu[b] * kw}});
  j["branches"] = branches;
  return j;
}

void apply_tolerance_flag(Invocation& inv) {
  if (!inv.has("--tolerance")) return;
  const bool single = resolve_powerflow_config(inv.config).precision == Precision::kFloat32;
  inv.config.set(std::string(single ? "powerflow.tolerance_pu_float32" : "powerflow.tolerance_pu") +
                 "=" + inv.flags.at("--tolerance"));
}

/// The network of `network.file`, the solver settings and the feeder model the two commands
/// share (--tolerance applied first).
struct PowerFlowSetup {
  Network net;
  PowerFlowChoice choice;
  FeederModel feeder;
};

PowerFlowSetup powerflow_setup(Invocation& inv) {
  apply_tolerance_flag(inv);
  const std::string spec = inv.config.string("network.file");
  Network net = with_config_key("network.file", spec, [&] { return load_network(spec); });
  const PowerFlowChoice choice = resolve_powerflow_config(inv.config);
  // The dense path impedance ((n-1)^2 complex values) only for the Z-bus method.
  FeederModel feeder =
      FeederModel::build(net, spec, choice.settings.method == PowerFlowMethod::kZbus);
  return {std::move(net), choice, std::move(feeder)};
}

int run_powerflow(Invocation& inv) {
  const PowerFlowSetup setup = powerflow_setup(inv);
  const Network& net = setup.net;
  const PowerFlowChoice& choice = setup.choice;
  const FeederModel& feeder = setup.feeder;
  auto solver = make_powerflow_solver(feeder, choice.backend, choice.settings);
  std::vector<double> p, q;
  base_case_injections(net, p, q);
  const PowerFlowResult r = solve_power_flow(*solver, feeder, choice.precision, 1, p, q);
  const std::string format = inv.config.string("output.format");
  std::ostringstream os;
  os << std::setprecision(10);
  if (format == "csv") {
    // `converged` on every row, so that a script reading the table cannot take the last
    // iterate of a diverged solve for a solution (the exit status alone is easy to lose).
    os << "bus,vm_pu,va_deg,converged\n";
    for (int i = 0; i < r.num_buses; ++i)
      os << net.bus_id[i] << "," << r.vm_pu[i] << "," << r.va_rad[i] * kRadToDeg << ","
         << int(r.converged[0] != 0) << "\n";
  } else if (format == "json") {
    os << result_json(net, choice, r).dump(2) << "\n";
  } else if (format == "text") {
    const json j = result_json(net, choice, r);
    os << std::setprecision(6) << "network      " << net.name << " (" << net.num_buses()
       << " buses, " << net.num_branches() << " branches, " << net.total_load_kw() << " kW, "
       << net.total_load_kvar() << " kvar)\n"
       << "solver       " << j["backend"].get<std::string>() << " "
       << j["method"].get<std::string>() << " " << j["precision"].get<std::string>() << "\n"
       << "converged    " << (r.converged[0] ? "yes" : "NO") << " in " << r.iterations[0]
       << " iterations\n"
       << "min voltage  " << j["min_vm_pu"].get<double>() << " p.u. at bus "
       << j["min_vm_bus"].get<int>() << "\n"
       << "losses       " << j["loss_p_kw"].get<double>() << " kW, "
       << j["loss_q_kvar"].get<double>() << " kvar\n"
       << "slack power  " << j["slack_p_kw"].get<double>() << " kW, "
       << j["slack_q_kvar"].get<double>() << " kvar\n";
  } else {
    throw Error("config key 'output.format' = '" + format + "': expected text, csv or json");
  }
  std::cout << os.str();
  if (!inv.out_dir.empty()) {
    write_text_file_atomic(inv.out_dir + "/powerflow.json",
                           result_json(net, choice, r).dump(2) + "\n");
  }
  if (!r.converged[0]) {
    // Stopped before the limit: the divergence guard (a voltage below min_voltage_pu, or NaN).
    std::ostringstream why;
    if (r.iterations[0] < choice.settings.max_iterations)
      why << "power flow diverged after " << r.iterations[0]
          << " iterations (a voltage fell below powerflow.min_voltage_pu = "
          << choice.settings.min_voltage_pu << " p.u. or became NaN); the figures above "
          << "are the last iterate's, not a solution";
    else
      why << "power flow did not converge after " << r.iterations[0] << " iterations (tolerance "
          << choice.settings.tolerance_pu << " p.u.); the figures above are the last iterate's, "
          << "not a solution";
    return inv.fail(why.str());
  }
  return 0;
}

/// Random but reproducible operating points: every load scaled by U(min, max) per bus, and a
/// share of buses with PV injecting U(0, pv_max_kw) (reverse flow on light-load feeders).
void random_injections(const Network& net, const Config& cfg, int batch, std::vector<double>& p,
                       std::vector<double>& q) {
  if (!(cfg.number("bench.load_scale_min") >= 0 &&
        cfg.number("bench.load_scale_min") <= cfg.number("bench.load_scale_max")))
    throw Error("config keys 'bench.load_scale_min' <= 'bench.load_scale_max' and >= 0 expected");
  if (!(cfg.number("bench.pv_bus_fraction") >= 0 && cfg.number("bench.pv_bus_fraction") <= 1))
    throw Error("config key 'bench.pv_bus_fraction' must be in [0, 1]");
  if (!(cfg.number("bench.pv_max_kw") >= 0))  // a negative injection would be extra load
    throw Error("config key 'bench.pv_max_kw' must be >= 0 (kW)");
  std::mt19937_64 rng(cfg.seed("bench.seed"));
  std::uniform_real_distribution<double> scale(cfg.number("bench.load_scale_min"),
                                               cfg.number("bench.load_scale_max"));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double pv_fraction = cfg.number("bench.pv_bus_fraction");
  const double pv_max_kw = cfg.number("bench.pv_max_kw");
  const int nb = net.num_buses();
  const double kw = net.base_mva * 1e3;
  p.assign(size_t(batch) * nb, 0.0);
  q.assign(p.size(), 0.0);
  for (int e = 0; e < batch; ++e)
    for (int i = 0; i < nb; ++i) {
      const double s = scale(rng);
      double pi = -net.p_load_kw[i] * s, qi = -net.q_load_kvar[i] * s;
      if (i != net.slack_bus && unit(rng) < pv_fraction) pi += pv_max_kw * unit(rng);
      p[size_t(e) * nb + i] = pi / kw;
      q[size_t(e) * nb + i] = qi / kw;
    }
}

template <class Real>
json bench_typed(const Network& net, const FeederModel& feeder, const PowerFlowChoice& choice,
                 const Config& cfg, int batch) {
  auto solver = make_powerflow_solver(feeder, choice.backend, choice.settings);
  const int nb = feeder.num_buses, nl = feeder.num_branches;
  std::vector<double> p, q;
  random_injections(net, cfg, batch, p, q);
  PowerFlowBatch<Real> buf(choice.backend, batch, nb, nl);
  std::vector<Real> tmp(p.begin(), p.end());
  buf.p_inj_pu.copy_from_host(tmp.data(), tmp.size());
  tmp.assign(q.begin(), q.end());
  buf.q_inj_pu.copy_from_host(tmp.data(), tmp.size());
  const PowerFlowIO<Real> io = buf.io();
  const int warmup = cfg.integer_in("bench.warmup", 0, 1000000);
  const int reps = cfg.integer_in("bench.repetitions", 1, 1000000);
  const BenchTimes t =
      time_repeated(choice.backend, warmup, reps, [&] { solver->solve(batch, io); });
  std::vector<int> its(batch);
  std::vector<std::uint8_t> conv(batch);
  buf.iterations.copy_to_host(its.data(), batch);
  buf.converged.copy_to_host(conv.data(), batch);
  double it_sum = 0, conv_sum = 0;
  for (int e = 0; e < batch; ++e) {
    it_sum += its[e];
    conv_sum += conv[e];
  }
  const int threads = cpu_threads(choice.settings.threads);
  json j = bench_report("powerflow", choice.backend, batch, threads, "power_flows_per_s", batch,
                        t, warmup);
  j["method"] = to_string(choice.settings.method);
  j["precision"] = to_string(choice.precision);
  j["network"] = net.name;
  j["num_buses"] = nb;
  j["mean_iterations"] = it_sum / batch;
  j["converged_fraction"] = conv_sum / batch;
  j["tolerance_pu"] = choice.settings.tolerance_pu;
  if (choice.backend == Backend::kCpu) {
    j["throughput_per_core_per_s"] = j["throughput_per_s"].get<double>() / cores_used(threads);
    j["cores"] = cores_used(threads);
  } else {
    // Compulsory traffic: injections in, voltages, flows and per-env scalars out.
    const double bytes = double(batch) * (sizeof(Real) * (4.0 * nb + 2.0 * nl + 4.0) + 5.0);
    const double gbps = bytes / t.median() / 1e9;
    const double peak = cuda_peak_bandwidth_gb_per_s();
    j["io_bytes_per_rep"] = bytes;
    j["achieved_io_bandwidth_gb_per_s"] = gbps;
    j["peak_bandwidth_gb_per_s"] = peak;
    j["hbm_fraction"] = peak > 0 ? gbps / peak : 0.0;
  }
  return j;
}

int run_bench_powerflow(Invocation& inv) {
  const PowerFlowSetup setup = powerflow_setup(inv);
  const Network& net = setup.net;
  const PowerFlowChoice& choice = setup.choice;
  const FeederModel& feeder = setup.feeder;
  const int batch = bench_batch(inv.config, kMostPowerFlowBatch, "bench powerflow");
  if (inv.config.integer("bench.repetitions") < 1)
    throw Error("config key 'bench.repetitions' must be >= 1");
  const json j = choice.precision == Precision::kFloat32
                     ? bench_typed<float>(net, feeder, choice, inv.config, int(batch))
                     : bench_typed<double>(net, feeder, choice, inv.config, int(batch));
  std::cout << j.dump() << "\n";
  if (!inv.out_dir.empty()) {
    write_text_file_atomic(inv.out_dir + "/bench_powerflow.json", j.dump(2) + "\n");
  }
  // A throughput of power flows that did not converge is no figure to quote.
  if (j["converged_fraction"].get<double>() < 1.0)
    std::cerr << "p2pgrid: warning: only " << j["converged_fraction"].get<double>() * 100
              << " % of the power flows converged (bench.load_scale_*, bench.pv_*)\n";
  return 0;
}

const std::vector<Alias> kPowerFlowAliases = {{"--network", "network.file"},
                                              {"--backend", "powerflow.backend"},
                                              {"--method", "powerflow.method"},
                                              {"--precision", "powerflow.precision"},
                                              {"--threads", "powerflow.threads"}};

// --tolerance sets the tolerance of the precision the run resolves to (float32 reads its own
// key: single precision cannot resolve float64's 1e-9), so that the flag is never ignored.
const Flag kToleranceFlag = {"--tolerance",
                             "stop tolerance (p.u.) of the run's precision: same as --set "
                             "powerflow.tolerance_pu=VALUE, or powerflow.tolerance_pu_float32 "
                             "in float32"};

}  // namespace

json bench_report(const std::string& bench, Backend backend, int batch, int threads,
                  const std::string& unit, double items_per_rep, const BenchTimes& times,
                  int warmup) {
  json j;
  j["bench"] = bench;
  j["backend"] = to_string(backend);
  j["batch"] = batch;
  if (backend == Backend::kCpu) {
    j["threads"] = threads;
  } else {
    j["device"] = cuda_device_description();
  }
  j["unit"] = unit;
  j["throughput_per_s"] = items_per_rep / times.median();
  j["median_s"] = times.median();
  j["min_s"] = times.min();
  j["max_s"] = times.max();
  j["repetitions"] = times.seconds.size();
  j["warmup"] = warmup;
  return j;
}

void register_powerflow_commands() {
  Command pf;
  pf.name = "powerflow";
  pf.summary = "solve the base case of a network (project JSON, MATPOWER .m, or builtin:NAME)";
  pf.usage = "[--network FILE] [--backend cpu|cuda] [--method sweep|zbus] [--format text|csv|json]";
  pf.aliases = kPowerFlowAliases;
  pf.aliases.push_back({"--format", "output.format"});
  pf.flags = {kToleranceFlag};
  pf.run = run_powerflow;
  registry().push_back(pf);

  Command bench;
  bench.name = "bench powerflow";
  bench.summary = "time batched power flows on random operating points; prints one JSON object";
  bench.usage = "[--backend cpu|cuda] [--batch N] [--method sweep|zbus] [--precision float32|float64]";
  bench.aliases = kPowerFlowAliases;
  bench.aliases.push_back({"--batch", "bench.batch"});
  bench.aliases.push_back({"--repetitions", "bench.repetitions"});
  bench.flags = {kToleranceFlag};
  bench.run = run_bench_powerflow;
  registry().push_back(bench);
}

}  // namespace p2pgrid::cli
