// EnvBatch: owns the batched buffers, uploads the spec once, and runs each step as
// apply actions (per env) -> batched power flow -> finish step (per env), on the CPU with
// OpenMP or on CUDA through env_cuda.hpp. The physics itself is physics.hpp, shared.
#include "p2pgrid/env/env_batch.hpp"

#include <cstring>
#include <type_traits>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/nvtx.hpp"
#include "p2pgrid/core/threads.hpp"
#if defined(P2P_HAVE_CUDA)
#include "p2pgrid/env/env_cuda.hpp"
#endif

namespace p2pgrid {

struct EnvBatch::Impl {
  // Parameters (uploaded once).
  DeviceBuffer<int> unit_type, agent_unit_begin, agent_bus, split_days;
  DeviceBuffer<double> unit_params, agent_params, bus_load_p, bus_load_q, buy, sell;
  DeviceBuffer<float> pv_cf, wind_cf, load_pu;
  // State and outputs.
  DeviceBuffer<int> step, day, day_ids;
  DeviceBuffer<Rng> rng;
  DeviceBuffer<double> unit_p_prev, unit_soc, agent_p2p_prev, agent_v_prev, episode;
  DeviceBuffer<double> agent_out, metrics, last_episode, price_p2p;
  DeviceBuffer<float> obs, state, final_obs, final_state, reward;
  DeviceBuffer<std::uint8_t> terminated, truncated, violation;
  // Power flow.
  FeederModel feeder;
  std::unique_ptr<PowerFlowSolver> solver;
  std::unique_ptr<PowerFlowBatch<float>> pf32;
  std::unique_ptr<PowerFlowBatch<double>> pf64;

  /// The evolving buffers, in serialization order (save_state / load_state).
  template <class F>
  void for_each_state_buffer(F&& f) {
    f(step);
    f(day);
    f(rng);
    f(unit_p_prev);
    f(unit_soc);
    f(agent_p2p_prev);
    f(agent_v_prev);
    f(episode);
    f(obs);
    f(state);
  }
};

EnvBatch::EnvBatch(const EnvSpec& spec, Backend backend, int num_envs,
                   const PowerFlowChoice& powerflow)
    : spec_(spec), backend_(backend), num_envs_(num_envs), powerflow_(powerflow),
      impl_(std::make_unique<Impl>()) {
  threads_ = cpu_threads(powerflow_.settings.threads);
  if (num_envs < 1) throw Error("EnvBatch: num_envs must be >= 1, got " + std::to_string(num_envs));
  if (backend == Backend::kCuda && !cuda_device_available())
    throw Error("backend 'cuda': " + cuda_device_description() + "; use --backend cpu");
  if (spec_.num_agents() < 1) throw Error("EnvBatch: the env has no prosumers (env.prosumers)");
  Impl& m = *impl_;
  const Network& net = spec_.network;
  const int A = spec_.num_agents(), U = spec_.num_units(), nb = net.num_buses();
  const std::size_t B = num_envs;

  // Flatten the spec (one source of truth: the same tables the expert will read).
  std::vector<int> unit_type(U), agent_bus(A);
  std::vector<double> unit_params(std::size_t(U) * kNumUnitParams), agent_params(std::size_t(A) * kNumAgentParams);
  for (int u = 0; u < U; ++u) {
    const DeviceUnit& d = spec_.units[u];
    unit_type[u] = static_cast<int>(d.type);
    double* up = unit_params.data() + std::size_t(u) * kNumUnitParams;
    up[kUpPMin] = d.p_min_kw;
    up[kUpPMax] = d.p_max_kw;
    up[kUpRamp] = d.ramp_kw_per_step;
    up[kUpPInit] = d.p_init_kw;
    up[kUpCostA] = d.cost_a_cny_per_kw2h;
    up[kUpCostB] = d.cost_b_cny_per_kwh;
    up[kUpCostC] = d.cost_c_cny_per_h;
    up[kUpRating] = d.rating_kw;
    up[kUpSMax] = d.s_max_kva;
    up[kUpBessPMax] = d.p_bess_max_kw;
    up[kUpEnergy] = d.energy_kwh;
    up[kUpSocMin] = d.soc_min;
    up[kUpSocMax] = d.soc_max;
    up[kUpSocInit] = d.soc_init;
    up[kUpEtaCh] = d.eta_charge;
    up[kUpEtaDis] = d.eta_discharge;
    up[kUpGamma] = d.gamma_cny_per_kwh;
  }
  for (int a = 0; a < A; ++a) {
    const Prosumer& pr = spec_.prosumers[a];
    agent_bus[a] = pr.bus;
    double* ap = agent_params.data() + std::size_t(a) * kNumAgentParams;
    ap[kApLoadPeak] = pr.load_peak_kw;
    ap[kApTanPhi] = pr.tan_phi;
    ap[kApClAlpha] = pr.cl_alpha;
    ap[kApClRho] = pr.cl_rho_cny_per_kwh;
    ap[kApPScale] = pr.p_scale_kw;
  }
  std::vector<double> bus_p(nb), bus_q(nb);
  for (int b = 0; b < nb; ++b) {
    bus_p[b] = net.p_load_kw[b] * spec_.feeder_load_scale;
    bus_q[b] = net.q_load_kvar[b] * spec_.feeder_load_scale;
  }
  const std::vector<int> split_days = days_in_split(spec_.profiles.year, spec_.split);
  for (int d : split_days)
    if (d >= spec_.profiles.num_days)
      throw Error("EnvBatch: split day " + std::to_string(d) + " is beyond the profiles' " +
                  std::to_string(spec_.profiles.num_days) + " days");
  m.unit_type = to_device(backend, unit_type);
  m.agent_unit_begin = to_device(backend, spec_.agent_unit_begin);
  m.agent_bus = to_device(backend, agent_bus);
  m.split_days = to_device(backend, split_days);
  m.unit_params = to_device(backend, unit_params);
  m.agent_params = to_device(backend, agent_params);
  m.bus_load_p = to_device(backend, bus_p);
  m.bus_load_q = to_device(backend, bus_q);
  m.buy = to_device(backend, std::vector<double>(spec_.buy_cny_per_kwh.begin(), spec_.buy_cny_per_kwh.end()));
  m.sell = to_device(backend, std::vector<double>(spec_.sell_cny_per_kwh.begin(), spec_.sell_cny_per_kwh.end()));
  m.pv_cf = to_device(backend, spec_.profiles.pv_cf);
  m.wind_cf = to_device(backend, spec_.profiles.wind_cf);
  m.load_pu = to_device(backend, spec_.profiles.load_pu);

  params_.num_agents = A;
  params_.num_units = U;
  params_.num_buses = nb;
  params_.slack_bus = net.slack_bus;
  params_.unit_type = m.unit_type.data();
  params_.agent_unit_begin = m.agent_unit_begin.data();
  params_.unit_params = m.unit_params.data();
  params_.agent_bus = m.agent_bus.data();
  params_.agent_params = m.agent_params.data();
  params_.bus_load_p_kw = m.bus_load_p.data();
  params_.bus_load_q_kvar = m.bus_load_q.data();
  params_.buy_cny_per_kwh = m.buy.data();
  params_.sell_cny_per_kwh = m.sell.data();
  params_.pv_cf = m.pv_cf.data();
  params_.wind_cf = m.wind_cf.data();
  params_.load_pu = m.load_pu.data();
  params_.split_days = m.split_days.data();
  params_.num_split_days = static_cast<int>(split_days.size());
  params_.p2p_lambda = spec_.p2p_lambda;
  params_.dso_fee = spec_.dso_fee_cny_per_kwh;
  params_.v_min = spec_.v_min_pu;
  params_.v_max = spec_.v_max_pu;
  params_.v_slack = net.v_slack_pu;
  params_.cost_weight = spec_.cost_weight;
  params_.penalty_a = spec_.penalty_a;
  params_.penalty_c = spec_.penalty_c;
  params_.nonconvergence_penalty = spec_.nonconvergence_penalty;
  params_.price_scale = spec_.price_scale_cny_per_kwh;
  params_.kw_per_pu = net.base_mva * 1e3;

  m.step = DeviceBuffer<int>(backend, B);
  m.day = DeviceBuffer<int>(backend, B);
  m.day_ids = DeviceBuffer<int>(backend, B);
  m.rng = DeviceBuffer<Rng>(backend, B);
  m.unit_p_prev = DeviceBuffer<double>(backend, B * U);
  m.unit_soc = DeviceBuffer<double>(backend, B * U);
  m.agent_p2p_prev = DeviceBuffer<double>(backend, B * A);
  m.agent_v_prev = DeviceBuffer<double>(backend, B * A);
  m.episode = DeviceBuffer<double>(backend, B * kNumMetrics);
  m.agent_out = DeviceBuffer<double>(backend, B * A * kNumAgentOut);
  m.metrics = DeviceBuffer<double>(backend, B * kNumMetrics);
  m.last_episode = DeviceBuffer<double>(backend, B * kNumMetrics);
  m.price_p2p = DeviceBuffer<double>(backend, B);
  m.obs = DeviceBuffer<float>(backend, B * A * kObsDim);
  m.state = DeviceBuffer<float>(backend, B * spec_.state_dim());
  m.final_obs = DeviceBuffer<float>(backend, B * A * kObsDim);
  m.final_state = DeviceBuffer<float>(backend, B * spec_.state_dim());
  m.reward = DeviceBuffer<float>(backend, B * A);
  m.terminated = DeviceBuffer<std::uint8_t>(backend, B);
  m.truncated = DeviceBuffer<std::uint8_t>(backend, B);
  m.violation = DeviceBuffer<std::uint8_t>(backend, B);
  // Every output is defined before the first step.
  for (auto* buf : {&m.agent_out, &m.metrics, &m.last_episode, &m.price_p2p}) buf->zero();
  for (auto* buf : {&m.final_obs, &m.reward, &m.obs, &m.state}) buf->zero();
  for (auto* buf : {&m.terminated, &m.truncated, &m.violation}) buf->zero();
  for (auto* buf : {&m.unit_p_prev, &m.unit_soc, &m.agent_p2p_prev, &m.agent_v_prev, &m.episode})
    buf->zero();
  for (auto* buf : {&m.step, &m.day}) buf->zero();
  m.rng.zero();
  m.final_state.zero();

  view_.num_envs = num_envs;
  view_.num_agents = A;
  view_.num_units = U;
  view_.state_dim = spec_.state_dim();
  view_.step = m.step.data();
  view_.day = m.day.data();
  view_.rng = m.rng.data();
  view_.unit_p_prev_kw = m.unit_p_prev.data();
  view_.unit_soc_kwh = m.unit_soc.data();
  view_.agent_p2p_prev_kw = m.agent_p2p_prev.data();
  view_.agent_v_prev_pu = m.agent_v_prev.data();
  view_.episode = m.episode.data();
  view_.agent_out = m.agent_out.data();
  view_.metrics = m.metrics.data();
  view_.last_episode = m.last_episode.data();
  view_.obs = m.obs.data();
  view_.state = m.state.data();
  view_.final_obs = m.final_obs.data();
  view_.final_state = m.final_state.data();
  view_.reward = m.reward.data();
  view_.terminated = m.terminated.data();
  view_.truncated = m.truncated.data();
  view_.violation = m.violation.data();
  view_.price_p2p = m.price_p2p.data();

  action_mask_ = to_device(backend, spec_.action_mask());

  m.feeder = FeederModel::build(net, net.name,
                                powerflow_.settings.method == PowerFlowMethod::kZbus);
  m.solver = make_powerflow_solver(m.feeder, backend, powerflow_.settings);
  if (powerflow_.precision == Precision::kFloat32) {
    m.pf32 = std::make_unique<PowerFlowBatch<float>>(backend, num_envs, nb, net.num_branches());
  } else {
    m.pf64 = std::make_unique<PowerFlowBatch<double>>(backend, num_envs, nb, net.num_branches());
  }
}

EnvBatch::~EnvBatch() = default;

void EnvBatch::reset(std::uint64_t seed, const std::vector<int>& day_ids) {
  NvtxRange range("env.reset");
  started_ = true;
  if (!day_ids.empty()) {
    if (day_ids.size() != static_cast<std::size_t>(num_envs_))
      throw Error("EnvBatch::reset: day_ids has " + std::to_string(day_ids.size()) +
                  " entries, expected one per env (" + std::to_string(num_envs_) + ")");
    for (int d : day_ids)
      if (d < 0 || d >= spec_.profiles.num_days)
        throw Error("EnvBatch::reset: day " + std::to_string(d) + " is outside the year's " +
                    std::to_string(spec_.profiles.num_days) + " days");
  }
  if (backend_ == Backend::kCuda) {
#if defined(P2P_HAVE_CUDA)
    const int* days = nullptr;
    if (!day_ids.empty()) {
      impl_->day_ids.copy_from_host(day_ids.data(), day_ids.size());
      days = impl_->day_ids.data();
    }
    detail::cuda_env_reset(params_, view_, seed, days);
#endif
    return;
  }
  const int threads = threads_;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int e = 0; e < num_envs_; ++e)
    env_reset_one(params_, view_, e, seed, day_ids.empty() ? -1 : day_ids[e]);
}

void EnvBatch::step(const float* actions) {
  NvtxRange range("env.step");
  if (!started_) throw Error("EnvBatch::step before reset(): call reset(seed) first");
  const int threads = threads_;
  Impl& m = *impl_;
  const int nb = num_buses();
  const long long A = num_agents();
  auto run = [&](auto& pf) {
    using Real = typename std::decay_t<decltype(*pf.p_inj_pu.data())>;
    Real* p_inj = pf.p_inj_pu.data();
    Real* q_inj = pf.q_inj_pu.data();
    if (backend_ == Backend::kCuda) {
#if defined(P2P_HAVE_CUDA)
      {
        NvtxRange r("env.market");
        detail::cuda_env_apply<Real>(params_, view_, actions, p_inj, q_inj);
      }
      {
        NvtxRange r("env.powerflow");
        m.solver->solve(num_envs_, pf.io());
      }
      NvtxRange r("env.reward");
      detail::cuda_env_finish<Real>(params_, view_, pf.vm_pu.data(), pf.converged.data());
#endif
      return;
    }
    {
      NvtxRange r("env.market");
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int e = 0; e < num_envs_; ++e)
        env_apply_actions<Real>(params_, env_state_of(view_, e), actions + e * A * kActionDim,
                                env_out_of(view_, e), p_inj + std::size_t(e) * nb,
                                q_inj + std::size_t(e) * nb);
    }
    {
      NvtxRange r("env.powerflow");
      m.solver->solve(num_envs_, pf.io());
    }
    NvtxRange r("env.reward");
    const Real* vm = pf.vm_pu.data();
    const std::uint8_t* conv = pf.converged.data();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int e = 0; e < num_envs_; ++e)
      env_finish_step<Real>(params_, env_state_of(view_, e), vm + std::size_t(e) * nb,
                            conv[e] != 0, env_out_of(view_, e));
  };
  if (m.pf32) run(*m.pf32); else run(*m.pf64);
}

std::vector<double> EnvBatch::vm_pu_host() const {
  const std::size_t n = std::size_t(num_envs_) * num_buses();
  if (impl_->pf32) {
    const std::vector<float> f = to_host(impl_->pf32->vm_pu.data(), n);
    return std::vector<double>(f.begin(), f.end());
  }
  return to_host(impl_->pf64->vm_pu.data(), n);
}

std::vector<std::uint8_t> EnvBatch::pf_converged_host() const {
  const auto& conv = impl_->pf32 ? impl_->pf32->converged : impl_->pf64->converged;
  return to_host(conv.data(), num_envs_);
}

namespace {

constexpr char kStateMagic[8] = {'P', '2', 'P', 'E', 'N', 'V', '0', '1'};

}  // namespace

std::string EnvBatch::save_state() const {
  std::string out(kStateMagic, sizeof(kStateMagic));
  impl_->for_each_state_buffer([&](auto& buf) {
    const std::uint64_t bytes = buf.bytes();
    out.append(reinterpret_cast<const char*>(&bytes), sizeof(bytes));
    std::string chunk(bytes, '\0');
    backend_copy(chunk.data(), Backend::kCpu, buf.data(), backend_, bytes);
    out += chunk;
  });
  return out;
}

void EnvBatch::load_state(const std::string& bytes) {
  if (bytes.size() < sizeof(kStateMagic) ||
      std::memcmp(bytes.data(), kStateMagic, sizeof(kStateMagic)) != 0)
    throw Error("EnvBatch::load_state: not an env state (bad magic)");
  // Validate the whole blob first, so that a bad one leaves the batch untouched.
  for (int pass = 0; pass < 2; ++pass) {
    std::size_t pos = sizeof(kStateMagic);
    impl_->for_each_state_buffer([&](auto& buf) {
      std::uint64_t n = 0;
      if (pos + sizeof(n) > bytes.size())
        throw Error("EnvBatch::load_state: truncated state (" + std::to_string(bytes.size()) +
                    " bytes)");
      std::memcpy(&n, bytes.data() + pos, sizeof(n));
      pos += sizeof(n);
      if (pos + n > bytes.size())
        throw Error("EnvBatch::load_state: truncated state (" + std::to_string(bytes.size()) +
                    " bytes)");
      if (n != buf.bytes())
        throw Error("EnvBatch::load_state: state is for a different batch shape (a buffer of " +
                    std::to_string(n) + " bytes where this batch has " +
                    std::to_string(buf.bytes()) + ")");
      if (pass == 1) backend_copy(buf.data(), backend_, bytes.data() + pos, Backend::kCpu, n);
      pos += n;
    });
    if (pos != bytes.size()) throw Error("EnvBatch::load_state: trailing bytes after the state");
    if (pass == 0) validate_state_blob(bytes);
  }
  started_ = true;
}

void EnvBatch::validate_state_blob(const std::string& bytes) const {
  // The blob's sizes match; its values must be a state this batch can continue from.
  std::size_t pos = sizeof(kStateMagic);
  auto next = [&](std::size_t count, auto* type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    pos += sizeof(std::uint64_t);
    std::vector<T> v(count);
    std::memcpy(v.data(), bytes.data() + pos, count * sizeof(T));
    pos += count * sizeof(T);
    return v;
  };
  const std::size_t B = num_envs_, U = num_units();
  const auto step = next(B, static_cast<int*>(nullptr));
  const auto day = next(B, static_cast<int*>(nullptr));
  const auto rng = next(B, static_cast<Rng*>(nullptr));
  next(B * U, static_cast<double*>(nullptr));  // CDG outputs
  const auto soc = next(B * U, static_cast<double*>(nullptr));
  for (std::size_t e = 0; e < B; ++e) {
    if (step[e] < 0 || step[e] >= kStepsPerDay)
      throw Error("EnvBatch::load_state: env " + std::to_string(e) + " is at step " +
                  std::to_string(step[e]) + ", outside 0..95");
    if (day[e] < 0 || day[e] >= spec_.profiles.num_days)
      throw Error("EnvBatch::load_state: env " + std::to_string(e) + " plays day " +
                  std::to_string(day[e]) + ", outside the year's " +
                  std::to_string(spec_.profiles.num_days) + " days");
    if ((rng[e].inc & 1ULL) == 0)
      throw Error("EnvBatch::load_state: env " + std::to_string(e) + " has an invalid RNG state");
    for (std::size_t u = 0; u < U; ++u) {
      const DeviceUnit& d = spec_.units[u];
      if (d.type != DeviceType::kBess) continue;
      const double x = soc[e * U + u];
      if (!(x >= d.soc_min * d.energy_kwh - 1e-9 && x <= d.soc_max * d.energy_kwh + 1e-9))
        throw Error("EnvBatch::load_state: env " + std::to_string(e) + " unit " +
                    std::to_string(u) + " has SOC " + std::to_string(x) +
                    " kWh outside its window");
    }
  }
}

}  // namespace p2pgrid
