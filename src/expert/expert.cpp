// The expert (see expert.hpp): batched plans, DSO verification with AC re-linearization,
// conversion to env actions, and the QP export in OSQP's convention.
#include "p2pgrid/expert/expert.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/format.hpp"
#include "p2pgrid/core/nvtx.hpp"
#include "p2pgrid/core/threads.hpp"
#if defined(P2P_HAVE_CUDA)
#include "p2pgrid/cuda/cuda_api.hpp"
#endif

namespace p2pgrid {

ExpertSettings resolve_expert_config(const Config& c) {
  ExpertSettings s;
  s.admm.rho = c.number("expert.rho");
  s.admm.rho_factor_bounds = c.number("expert.rho_factor_bounds");
  s.admm.rho_factor_voltage = c.number("expert.rho_factor_voltage");
  s.admm.sigma = c.number("expert.sigma");
  s.admm.alpha = c.number("expert.alpha");
  s.admm.eps_abs = c.number("expert.eps_abs");
  s.admm.eps_rel = c.number("expert.eps_rel");
  s.admm.max_iterations = c.integer_in("expert.max_iterations", 1, 100000000);
  s.admm.check_every = c.integer_in("expert.check_every", 1, 1000000);
  s.admm.scaling_iterations = c.integer_in("expert.scaling_iterations", 0, 1000);
  s.admm.threads = c.integer_in("powerflow.threads", 0, 4096);
  s.admm.backend = parse_backend(c.string("powerflow.backend"));  // the env's backend
  s.admm.adaptive_rho = c.boolean("expert.adaptive_rho");
  s.admm.chunk_envs = c.integer_in("expert.chunk_envs", 1, 1 << 20);
  s.admm.adaptive_rho_interval = c.integer_in("expert.adaptive_rho_interval", 1, 1000000);
  s.admm.adaptive_rho_tolerance = c.number("expert.adaptive_rho_tolerance");
  s.admm.anderson_memory = c.integer_in("expert.anderson_memory", 0, kAndersonMaxMemory);
  s.admm.anderson_interval = c.integer_in("expert.anderson_interval", 1, 1000000);
  // Each number in its range, the key and the value named.
  auto require = [&](bool ok, const char* key, const char* expected) {
    if (!ok)
      throw Error(std::string("config key '") + key + "' = " + format_double(c.number(key)) +
                  ": expected " + expected);
  };
  // The upper and lower ends keep the KKT factorization and the scaled problem in range (a
  // rho of 1e308 overflowed the factorization, one of 1e-320 ran to max_iterations).
  auto within = [](double v, double lo, double hi) { return v >= lo && v <= hi; };
  require(within(s.admm.rho, 1e-9, 1e6), "expert.rho", "a step size in [1e-9, 1e6]");
  require(s.admm.sigma > 0 && s.admm.sigma <= 1, "expert.sigma", "0 < sigma <= 1");
  require(s.admm.alpha > 0 && s.admm.alpha < 2, "expert.alpha", "0 < alpha < 2");
  require(within(s.admm.eps_abs, 0, 1), "expert.eps_abs", "a tolerance in [0, 1]");
  require(within(s.admm.eps_rel, 0, 1), "expert.eps_rel", "a tolerance in [0, 1]");
  require(within(s.admm.rho_factor_bounds, 1e-6, 1e6), "expert.rho_factor_bounds",
          "a factor in [1e-6, 1e6]");
  require(within(s.admm.rho_factor_voltage, 1e-6, 1e6), "expert.rho_factor_voltage",
          "a factor in [1e-6, 1e6]");
  require(s.admm.adaptive_rho_tolerance > 1 && s.admm.adaptive_rho_tolerance <= 1e6,
          "expert.adaptive_rho_tolerance", "a ratio in (1, 1e6]");
  check_anderson_settings(s.admm);  // without building the solver
  s.inverter_facets = c.integer_in("expert.inverter_facets", 4, 1024);
  s.dso_rounds = c.integer_in("expert.dso_rounds", 0, 100);
  s.dso_tolerance_pu = c.number("expert.dso_tolerance_pu");
  require(s.dso_tolerance_pu >= 0, "expert.dso_tolerance_pu", ">= 0 (p.u.)");
  s.dso_chunk_plans = c.integer_in("expert.dso_chunk_plans", 0, 1 << 20);
  s.cuda_max_batch = c.integer_in("expert.cuda_max_batch", 0, 1 << 30);
  s.resolve_every_steps = c.integer_in("expert.resolve_every_steps", 0, 96);
  s.certify = c.boolean("expert.certify");
  return s;
}

Expert::Expert(const EnvSpec& spec, const ExpertSettings& settings,
               const PowerFlowChoice& powerflow)
    : spec_(spec),
      settings_(settings),
      powerflow_(powerflow),
      admm_(build_expert_qp(spec, settings.inverter_facets), settings.admm),
      bounds_(spec_, admm_.qp()),
      feeder_(FeederModel::build(spec.network, spec.network.name,
                                 powerflow.settings.method == PowerFlowMethod::kZbus)) {}

ExpertEnvData Expert::initial_data(int day) const {
  ExpertEnvData d;
  d.day = day;
  d.t0 = 0;
  d.unit_p_prev_kw.assign(spec_.num_units(), 0.0);
  d.unit_soc_kwh.assign(spec_.num_units(), 0.0);
  for (int u = 0; u < spec_.num_units(); ++u) {
    const DeviceUnit& du = spec_.units[u];
    if (du.type == DeviceType::kCdg) d.unit_p_prev_kw[u] = du.p_init_kw;
    if (du.type == DeviceType::kBess) d.unit_soc_kwh[u] = du.soc_init * du.energy_kwh;
  }
  return d;
}

std::vector<ExpertPlan> Expert::plan(std::vector<ExpertEnvData> envs,
                                     const std::vector<ExpertPlan>* warm,
                                     PlanTimings* timings) const {
  NvtxRange range("expert.plan");
  const ExpertQp& qp = admm_.qp();
  const int count = static_cast<int>(envs.size());
  std::vector<ExpertPlan> plans(count);
  if (count == 0) return plans;
  const int t0 = envs[0].t0;
  for (const auto& e : envs)
    if (e.t0 != t0) throw Error("expert: envs planned together must share the current step");
  if (warm && warm->size() != envs.size())
    throw Error("expert: warm start has " + std::to_string(warm->size()) + " plans for " +
                std::to_string(count) + " envs");
  const int H = qp.steps - t0;
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  auto t_start = Clock::now();
  std::vector<AdmmIterate> it(count);
  // Every env's data checked and its start taken (in parallel for large batches). An error
  // must not leave the parallel region: the first is kept and rethrown after it.
  std::exception_ptr error;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(settings_.admm.threads))
  for (int e = 0; e < count; ++e) try {
      check_expert_env_data(spec_, qp, envs[e], e);
      // Blocks are in reverse time: the steps still ahead are the leading blocks of a plan made
      // earlier, for the same day (a re-plan) or for another one (the same steps of the env's
      // previous day: a good guess too, as days resemble each other).
      // Only a solved plan is a start worth having: the iterates of an infeasible or unfinished
      // one (|y| growing without bound) would make the next solve worse than a cold one.
      // (After a CUDA solve its z and y are still on the device: the start refers to them.)
      if (warm && (*warm)[e].t0 <= t0 && (*warm)[e].info.status == SolveStatus::kSolved &&
          (*warm)[e].iterate.x.size() >= std::size_t(H) * qp.block_vars)
        it[e] = admm_.leading_blocks((*warm)[e].iterate, H);
    } catch (...) {
#pragma omp critical(p2pgrid_expert_data_error)
      if (!error) error = std::current_exception();
    }
  if (error) std::rethrow_exception(error);
  const std::vector<AdmmInfo> info = solve(envs, it, timings);
  if (timings) timings->solve_s = seconds_since(t_start) - timings->bounds_s;
  t_start = Clock::now();
  for (int e = 0; e < count; ++e) {
    plans[e].day = envs[e].day;
    plans[e].t0 = t0;
    plans[e].info = info[e];
    plans[e].iterate = std::move(it[e]);
    plans[e].objective_cny = info[e].objective_cny;
    plans[e].data = std::move(envs[e]);
  }
  verify_with_ac(plans);
  // On every core too (24,192 terms per plan, for up to thousands of plans on the GPU path).
  error = nullptr;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(settings_.admm.threads))
  for (int e = 0; e < count; ++e) try {
      plans[e].prosumer_cost_cny = prosumer_costs(plans[e]);
    } catch (...) {
#pragma omp critical(p2pgrid_expert_costs_error)
      if (!error) error = std::current_exception();
    }
  if (error) std::rethrow_exception(error);
  if (timings) timings->dso_s = seconds_since(t_start);
  return plans;
}

std::vector<AdmmInfo> Expert::solve(const std::vector<ExpertEnvData>& envs,
                                    std::vector<AdmmIterate>& starts, PlanTimings* timings) const {
  const ExpertQp& qp = admm_.qp();
  const int count = static_cast<int>(envs.size());
  if (count == 0) return {};
  const int H = qp.steps - envs[0].t0;
  const auto t_start = std::chrono::steady_clock::now();
  auto record_bounds_time = [&] {
    if (timings)
      timings->bounds_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  };
#if defined(P2P_HAVE_CUDA)
  if (settings_.admm.backend == Backend::kCuda) {  // bounds where the solve runs
    if (!cuda_device_available())
      throw Error("backend 'cuda': " + cuda_device_description() + "; use --backend cpu");
    // As many envs per device solve as fit in the device's free memory (and at most
    // expert.cuda_max_batch): a larger batch is solved in parts, one after the other, each
    // sized from the memory free when it starts (the parts before keep their results' device
    // copies, which the plans' warm starts read).
    std::vector<AdmmInfo> info;
    info.reserve(count);
    double bounds_s = 0;
    for (int first = 0, size = 0; first < count; first += size) {
      size = std::min(cuda_batch_limit(H), count - first);
      const auto t_bounds = std::chrono::steady_clock::now();
      AdmmDeviceBounds bounds;
      {
        std::lock_guard<std::mutex> lock(cuda_mutex_);
        bounds = detail::expert_bounds_cuda(cuda_, bounds_.view(), envs.data() + first, size, H);
      }
      bounds_s +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_bounds).count();
      std::vector<AdmmIterate> part_starts(std::make_move_iterator(starts.begin() + first),
                                           std::make_move_iterator(starts.begin() + first + size));
      const std::vector<AdmmInfo> part_info = admm_.solve(H, std::move(bounds), part_starts);
      std::move(part_starts.begin(), part_starts.end(), starts.begin() + first);
      info.insert(info.end(), part_info.begin(), part_info.end());
    }
    if (timings) timings->bounds_s = bounds_s;
    return info;
  }
#endif
  // A few hundred thousand values per env: in parallel (expert_bounds only writes into its
  // vectors: bad_alloc aside, nothing throws).
  std::vector<std::vector<double>> l(count), u(count);
  std::exception_ptr error;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(settings_.admm.threads))
  for (int e = 0; e < count; ++e) try {
      expert_bounds(bounds_.view(), qp, envs[e], l[e], u[e]);
    } catch (...) {
#pragma omp critical(p2pgrid_expert_bounds_error)
      if (!error) error = std::current_exception();
    }
  if (error) std::rethrow_exception(error);
  record_bounds_time();
  return admm_.solve(H, l, u, starts);
}

#if defined(P2P_HAVE_CUDA)
int Expert::cuda_batch_limit(int blocks) const {
  const std::size_t per_env = admm_.cuda_bytes_per_env(blocks);
  // A tenth kept back (allocation granularity, the solve's per-batch tables, cuBLAS), and the
  // factors of the rho levels the solve may move to.
  const std::size_t tenths = cuda::free_memory_bytes() / 10 * 9,
                    reserved = admm_.cuda_reserved_bytes();
  const std::size_t usable = tenths > reserved ? tenths - reserved : 0;
  if (usable < per_env)
    throw Error("expert (CUDA): one env's solve needs " + std::to_string(per_env >> 20) +
                " MiB of device memory and " + std::to_string(usable >> 20) +
                " MiB are usable (90 % of the free memory, less the rho levels' factors): "
                "free the device, or use --backend cpu");
  std::size_t limit = std::min<std::size_t>(usable / per_env, std::size_t(1) << 30);
  if (settings_.cuda_max_batch > 0)
    limit = std::min(limit, static_cast<std::size_t>(settings_.cuda_max_batch));
  // Whole groups of kAdmmGroup envs (which share their rho decisions): the plans are then the
  // same however the batch is split.
  if (limit >= std::size_t(kAdmmGroup)) limit -= limit % kAdmmGroup;
  return static_cast<int>(limit);
}
#endif

void Expert::verify_with_ac(std::vector<ExpertPlan>& plans) const {
  NvtxRange range("expert.dso_verification");
  const ExpertQp& qp = admm_.qp();
  const Network& net = spec_.network;
  const int nbus = net.num_buses(), A = spec_.num_agents(), n = qp.block_vars;
  const int t0 = plans[0].t0, H = qp.steps - t0;
  const double kw_per_pu = net.base_mva * 1e3;
  // Column of P_EX / Q_EX of every agent within a block.
  std::vector<int> pex(A, -1), qex(A, -1);
  for (int j = 0; j < n; ++j) {
    if (qp.vars[j].kind == QpVar::kPEx) pex[qp.vars[j].agent] = j;
    if (qp.vars[j].kind == QpVar::kQEx) qex[qp.vars[j].agent] = j;
  }
  // One solver for the Expert's life (on the GPU, building one uploads the feeder and, for
  // Z-bus, creates a cuBLAS handle), used by one plan() at a time.
  std::lock_guard<std::mutex> dso_lock(dso_mutex_);
  if (!dso_solver_) {
    PowerFlowSettings pfs = powerflow_.settings;
    // On the env's backend, in float64 to float64's tolerance: a float32 env's 2e-6 would
    // exceed the DSO's own 1e-6, and the backends could then pass different plans.
    pfs.tolerance_pu = powerflow_.float64_tolerance_pu;
    dso_solver_ = make_powerflow_solver(feeder_, powerflow_.backend, pfs);
  }
  // The batch's buffers, kept while the chunks keep their size; only the voltages and the
  // convergence flags come back.
  std::unique_ptr<PowerFlowBatch<double>> ac;
  std::vector<double> vm;
  std::vector<std::uint8_t> ac_converged;
  // Round 0 checks every plan; each later round checks only the plans re-solved in the round
  // before (the others did not change).
  const int threads = cpu_threads(settings_.admm.threads);
  std::vector<int> checked(plans.size());
  for (std::size_t e = 0; e < plans.size(); ++e) checked[e] = static_cast<int>(e);
  for (int round = 0;; ++round) {
    // AC power flow of every (env, step) of the checked plans: on the GPU in one batch; on the
    // CPU a chunk of plans at a time (settings.dso_chunk_plans), whose buffers the allocator
    // then reuses (one batch of 256 plans, 24,576 power flows, spent most of its time in the
    // kernel's page faults).
    const int count = static_cast<int>(checked.size());
    const int chunk = powerflow_.backend == Backend::kCpu && settings_.dso_chunk_plans > 0
                          ? settings_.dso_chunk_plans
                          : count;
    std::vector<int> redo;  // plans re-linearized in this round
    std::vector<double> p, q;
    for (int first = 0; first < count; first += chunk) {
      const int plans_in = std::min(chunk, count - first), batch = plans_in * H;
      p.assign(std::size_t(batch) * nbus, 0.0);
      q.assign(p.size(), 0.0);
      // The host's share (injections in, voltages out) runs on every core: 50 ms per 256 plans
      // on one core of the 2-core CPU, so about 0.8 s for B = 4096 on the GPU's host.
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int i = 0; i < plans_in; ++i)
        for (int k = 0; k < H; ++k) {
          const int e = checked[first + i];
          const int t = qp.step_of_block(k);
          const double lp = spec_.profiles.load_pu[std::size_t(plans[e].day) * kStepsPerDay + t];
          double* pe = p.data() + (std::size_t(i) * H + k) * nbus;
          double* qe = q.data() + (std::size_t(i) * H + k) * nbus;
          for (int b = 0; b < nbus; ++b) {
            pe[b] = -net.p_load_kw[b] * spec_.feeder_load_scale * lp / kw_per_pu;
            qe[b] = -net.q_load_kvar[b] * spec_.feeder_load_scale * lp / kw_per_pu;
          }
          const double* x = plans[e].iterate.x.data() + std::size_t(k) * n;
          for (int a = 0; a < A; ++a) {
            pe[spec_.prosumers[a].bus] += x[pex[a]] / kw_per_pu;
            qe[spec_.prosumers[a].bus] += x[qex[a]] / kw_per_pu;
          }
        }
      if (!ac || ac->batch != batch)
        ac = std::make_unique<PowerFlowBatch<double>>(powerflow_.backend, batch, nbus,
                                                      feeder_.num_branches);
      ac->p_inj_pu.copy_from_host(p.data(), p.size());
      ac->q_inj_pu.copy_from_host(q.data(), q.size());
      dso_solver_->solve(batch, ac->io());
      vm.resize(p.size());
      ac_converged.resize(batch);
      ac->vm_pu.copy_to_host(vm.data(), vm.size());
      ac->converged.copy_to_host(ac_converged.data(), batch);
      std::vector<std::uint8_t> relinearized(plans_in, 0);
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int i = 0; i < plans_in; ++i) {
        ExpertPlan& plan = plans[checked[first + i]];
        double worst = 0;
        bool converged = true;
        for (int k = 0; k < H; ++k) {
          const std::size_t env = std::size_t(i) * H + k;
          converged &= ac_converged[env] != 0;
          for (int j : qp.voltage_buses) {
            const double v = vm[env * nbus + j];
            worst = std::max({worst, v - spec_.v_max_pu, spec_.v_min_pu - v});
          }
        }
        plan.ac_violation_pu = std::max(worst, 0.0);
        plan.ac_converged = converged;
        plan.dso_verified = converged && plan.ac_violation_pu <= settings_.dso_tolerance_pu;
        relinearized[i] = plan.ac_violation_pu > settings_.dso_tolerance_pu && converged &&
                          round < settings_.dso_rounds && plan.info.status == SolveStatus::kSolved;
      }
      // Re-linearize: shift each offset by the AC error of the linear model at this point. A
      // plan without offsets of its own was made with the day's linear ones: they are filled
      // in first, outside the parallel region (an allocation may throw).
      for (int i = 0; i < plans_in; ++i) {
        ExpertPlan& plan = plans[checked[first + i]];
        if (relinearized[i] && plan.data.v_offset_pu.empty())
          plan.data.v_offset_pu = linear_voltage_offsets(spec_, qp, plan.data.day);
      }
#pragma omp parallel for schedule(dynamic) num_threads(threads)
      for (int i = 0; i < plans_in; ++i) {
        if (!relinearized[i]) continue;
        ExpertPlan& plan = plans[checked[first + i]];
        for (int k = 0; k < H; ++k) {
          const int t = qp.step_of_block(k);
          const std::size_t env = std::size_t(i) * H + k;
          const double* x = plan.iterate.x.data() + std::size_t(k) * n;
          for (int j : qp.voltage_buses) {
            double v_lin = plan.data.v_offset_pu[std::size_t(t) * nbus + j];
            for (int a = 0; a < A; ++a)
              v_lin += qp.dv_dp[std::size_t(j) * A + a] * x[pex[a]] +
                       qp.dv_dq[std::size_t(j) * A + a] * x[qex[a]];
            plan.data.v_offset_pu[std::size_t(t) * nbus + j] += vm[env * nbus + j] - v_lin;
          }
        }
        plan.dso_rounds = round + 1;
      }
      for (int i = 0; i < plans_in; ++i)
        if (relinearized[i]) redo.push_back(checked[first + i]);
    }
    if (redo.empty()) return;
    // Re-solve the plans that were re-linearized, warm-started.
    std::vector<ExpertEnvData> data(redo.size());
    std::vector<AdmmIterate> it(redo.size());
    for (std::size_t i = 0; i < redo.size(); ++i) {
      data[i] = plans[redo[i]].data;
      it[i] = plans[redo[i]].iterate;
    }
    const std::vector<AdmmInfo> info = solve(data, it, nullptr);
    for (std::size_t i = 0; i < redo.size(); ++i) {
      ExpertPlan& plan = plans[redo[i]];
      const int previous_iterations = plan.info.iterations;
      plan.info = info[i];
      plan.info.iterations += previous_iterations;
      plan.iterate = std::move(it[i]);
      plan.objective_cny = info[i].objective_cny;
    }
    checked = std::move(redo);
  }
}

/// Throws unless step t is within the plan's horizon and the plan holds its iterate.
static void check_plan_step(const ExpertQp& qp, const ExpertPlan& plan, int t) {
  if (t < plan.t0 || t >= qp.steps)
    throw Error("expert: step " + std::to_string(t) + " is outside the plan's horizon (steps " +
                std::to_string(plan.t0) + ".." + std::to_string(qp.steps - 1) + ")");
  if (plan.iterate.x.size() != std::size_t(qp.steps - plan.t0) * qp.block_vars)
    throw Error("expert: the plan from step " + std::to_string(plan.t0) + " holds " +
                std::to_string(plan.iterate.x.size()) + " values, not its " +
                std::to_string(qp.steps - plan.t0) + " steps' (no plan made by Expert::plan?)");
}

double Expert::setpoint(const ExpertPlan& plan, int t, int agent, QpVar kind) const {
  const ExpertQp& qp = admm_.qp();
  check_plan_step(qp, plan, t);
  const double* x = plan.iterate.x.data() + std::size_t(qp.block_of_step(t)) * qp.block_vars;
  double s = 0;
  for (int j = 0; j < qp.block_vars; ++j)
    if (qp.vars[j].agent == agent && qp.vars[j].kind == kind) s += x[j];
  return s;
}

void Expert::actions(const ExpertPlan& plan, int t, float* out) const {
  check_plan_step(admm_.qp(), plan, t);  // before the profiles are read at (day, t)
  const int A = spec_.num_agents();
  const std::size_t idx = std::size_t(plan.day) * kStepsPerDay + t;
  auto clip = [](double a) { return static_cast<float>(std::min(1.0, std::max(-1.0, a))); };
  for (int a = 0; a < A; ++a) {
    double pmin = 0, pmax = 0, avail = 0, smax = 0, bmax = 0;
    for (int u = spec_.agent_unit_begin[a]; u < spec_.agent_unit_begin[a + 1]; ++u) {
      const DeviceUnit& d = spec_.units[u];
      if (d.type == DeviceType::kCdg) pmin += d.p_min_kw, pmax += d.p_max_kw;
      if (d.type == DeviceType::kPv || d.type == DeviceType::kWind) {
        const double cf =
            d.type == DeviceType::kPv ? spec_.profiles.pv_cf[idx] : spec_.profiles.wind_cf[idx];
        avail += d.rating_kw * cf;
        smax += d.s_max_kva;
      }
      if (d.type == DeviceType::kBess) bmax += d.p_bess_max_kw;
    }
    const Prosumer& pr = spec_.prosumers[a];
    const double cl_max = pr.cl_alpha * pr.load_peak_kw * spec_.profiles.load_pu[idx];
    float* o = out + std::size_t(a) * kActionDim;
    const double p_cdg = setpoint(plan, t, a, QpVar::kPCdg);
    const double p_rdg = setpoint(plan, t, a, QpVar::kPRdg);
    const double q_rdg = setpoint(plan, t, a, QpVar::kQRdg);
    const double p_bess =
        setpoint(plan, t, a, QpVar::kPCharge) - setpoint(plan, t, a, QpVar::kPDischarge);
    const double p_cl = setpoint(plan, t, a, QpVar::kPCl);
    o[kActCdg] = pmax > pmin ? clip(2.0 * (p_cdg - pmin) / (pmax - pmin) - 1.0) : -1.0f;
    o[kActRdgP] = avail > 1e-9 ? clip(2.0 * p_rdg / avail - 1.0) : 1.0f;
    o[kActRdgQ] = smax > 0 ? clip(q_rdg / smax) : 0.0f;
    o[kActBess] = bmax > 0 ? clip(p_bess / bmax) : 0.0f;
    o[kActCl] = cl_max > 1e-12 ? clip(2.0 * p_cl / cl_max - 1.0) : -1.0f;
  }
}

std::vector<double> Expert::prosumer_costs(const ExpertPlan& plan) const {
  const ExpertQp& qp = admm_.qp();
  const int A = spec_.num_agents(), n = qp.block_vars;
  const int H = qp.steps - plan.t0;
  std::vector<double> cost(A, 0.0);
  for (int k = 0; k < H; ++k) {
    const int t = qp.step_of_block(k);
    const double lb = spec_.buy_cny_per_kwh[t / 4], ls = spec_.sell_cny_per_kwh[t / 4];
    const double price = spec_.p2p_lambda * (lb - ls) + ls;  // eq. (20)
    const double* x = plan.iterate.x.data() + std::size_t(k) * n;
    const double* q = qp.q.data() + std::size_t(k) * n;
    for (int j = 0; j < n; ++j) {
      const QpVarInfo& v = qp.vars[j];
      cost[v.agent] += 0.5 * qp.p_diag[j] * x[j] * x[j] + q[j] * x[j];
      // The P2P payment, which cancels in the social cost (eq. 21) but not per prosumer.
      if (v.kind == QpVar::kPP2pBuy) cost[v.agent] += price * x[j] * kStepHours;
      if (v.kind == QpVar::kPP2pSell) cost[v.agent] -= price * x[j] * kStepHours;
    }
  }
  for (const DeviceUnit& d : spec_.units)
    if (d.type == DeviceType::kCdg) cost[d.agent] += d.cost_c_cny_per_h * kStepHours * H;
  return cost;
}

nlohmann::json Expert::export_qp(const ExpertEnvData& data_in) const {
  const ExpertQp& qp = admm_.qp();
  ExpertEnvData data = data_in;
  if (data.v_offset_pu.empty()) data.v_offset_pu = linear_voltage_offsets(spec_, qp, data.day);
  const int H = qp.steps - data.t0;
  const int nb = qp.block_vars, mb = qp.block_rows;
  const std::size_t n = std::size_t(H) * nb, m = std::size_t(H) * mb;
  std::vector<double> l, u;
  expert_bounds(spec_, qp, data, l, u);
  // A in CSC: gather (row, col, value) by column.
  std::vector<std::vector<std::pair<std::size_t, double>>> cols(n);
  for (int k = 0; k < H; ++k)
    for (int r = 0; r < mb; ++r) {
      const QpRowInfo& ri = qp.rows[r];
      const std::size_t row = std::size_t(k) * mb + r;
      for (std::size_t a = 0; a < ri.cols.size(); ++a)
        cols[std::size_t(k) * nb + ri.cols[a]].push_back({row, ri.vals[a]});
      if (k + 1 < H)
        for (std::size_t a = 0; a < ri.prev_cols.size(); ++a)
          cols[std::size_t(k + 1) * nb + ri.prev_cols[a]].push_back({row, ri.prev_vals[a]});
    }
  nlohmann::json a_indptr = nlohmann::json::array({0}), a_indices = nlohmann::json::array(),
                 a_data = nlohmann::json::array();
  std::size_t nnz = 0;
  for (auto& c : cols) {
    std::sort(c.begin(), c.end());
    for (const auto& [row, val] : c) {
      a_indices.push_back(row);
      a_data.push_back(val);
    }
    nnz += c.size();
    a_indptr.push_back(nnz);
  }
  nlohmann::json p_indptr = nlohmann::json::array({0}), p_indices = nlohmann::json::array(),
                 p_data = nlohmann::json::array();
  std::size_t pnz = 0;
  for (std::size_t j = 0; j < n; ++j) {
    if (qp.p_diag[j % nb] != 0.0) {
      p_indices.push_back(j);
      p_data.push_back(qp.p_diag[j % nb]);
      ++pnz;
    }
    p_indptr.push_back(pnz);
  }
  nlohmann::json names = nlohmann::json::array();
  for (std::size_t j = 0; j < n; ++j)
    names.push_back(
        qp.var_name(static_cast<int>(j % nb), qp.step_of_block(static_cast<int>(j / nb))));
  auto bounds = [](const std::vector<double>& b) {
    nlohmann::json out = nlohmann::json::array();
    for (double v : b) out.push_back(v >= kInfinity ? 1e30 : (v <= -kInfinity ? -1e30 : v));
    return out;
  };
  nlohmann::json j;
  j["format"] = "osqp-qp";
  j["convention"] =
      "minimize 1/2 x'Px + q'x + constant subject to l <= Ax <= u; infinite "
      "bounds are +-1e30; P holds the upper triangle (here diagonal) in CSC";
  j["units"] = "x in kW, kvar and kWh (variable_names); objective in CNY";
  j["day"] = data.day;
  j["t0"] = data.t0;
  j["steps"] = H;
  j["n"] = n;
  j["m"] = m;
  j["P"] = {{"format", "csc"},    {"triangle", "upper"},  {"shape", {n, n}},
            {"indptr", p_indptr}, {"indices", p_indices}, {"data", p_data}};
  j["q"] = std::vector<double>(qp.q.begin(), qp.q.begin() + n);
  j["constant"] = qp.constant_per_step_cny * H;
  j["A"] = {{"format", "csc"},
            {"shape", {m, n}},
            {"indptr", a_indptr},
            {"indices", a_indices},
            {"data", a_data}};
  j["l"] = bounds(l);
  j["u"] = bounds(u);
  j["variable_names"] = names;
  return j;
}

namespace {
/// The plan's iterate with its multipliers on the host (a CUDA solve leaves them on the
/// device), checked against the sizes of its QP.
AdmmIterate host_iterate(const ExpertQp& qp, const ExpertPlan& plan, const char* who) {
  AdmmIterate it = plan.iterate;
  fetch_iterate_duals(it);
  const std::size_t H = std::size_t(qp.steps - plan.data.t0);  // (plan.t0 is the same)
  const std::size_t n = H * qp.block_vars, m = H * qp.block_rows;
  if (it.x.size() != n || it.y.size() != m)
    throw Error(std::string(who) + ": the plan's iterate has " + std::to_string(it.x.size()) +
                " variables and " + std::to_string(it.y.size()) + " multipliers, not its QP's " +
                std::to_string(n) + " and " + std::to_string(m));
  return it;
}
}  // namespace

nlohmann::json Expert::export_qp(const ExpertPlan& plan) const {
  const AdmmIterate it = host_iterate(admm_.qp(), plan, "export_qp");
  nlohmann::json j = export_qp(plan.data);
  j["solution"] = {{"status", to_string(plan.info.status)},
                   {"iterations", plan.info.iterations},
                   {"objective", plan.objective_cny},
                   {"x", it.x},
                   {"y", it.y}};
  return j;
}

ExpertCertificate Expert::certify(const ExpertPlan& plan) const {
  const ExpertQp& qp = admm_.qp();
  const AdmmIterate it = host_iterate(qp, plan, "expert certificate");
  check_expert_env_data(spec_, qp, plan.data);
  // The bounds from the tables the solve used (with the plan's own voltage offsets, as the
  // DSO corrected them): the QP the plan solved.
  std::vector<double> l, u;
  expert_bounds(bounds_.view(), qp, plan.data, l, u);
  return certify_expert_plan(qp, qp.steps - plan.data.t0, l, u, it.x, it.y);
}

std::vector<ExpertCertificate> Expert::certify(const std::vector<ExpertPlan>& plans) const {
  NvtxRange range("expert.certify");
  std::vector<ExpertCertificate> out(plans.size());
  // On every core; an error must not leave the parallel region (the first is rethrown).
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 4) num_threads(cpu_threads(settings_.admm.threads))
  for (std::size_t e = 0; e < plans.size(); ++e) try {
      out[e] = certify(plans[e]);
    } catch (...) {
#pragma omp critical(p2pgrid_expert_certify_error)
      if (!error) error = std::current_exception();
    }
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace p2pgrid
