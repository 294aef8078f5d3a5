// The CPU/CUDA parity check of the expert's ADMM, shared by the GPU test
// (admm_backend_test.cpp) and the host emulation of the CUDA launchers (tests/cuda_emulation/).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/env/profiles.hpp"
#include "p2pgrid/expert/expert.hpp"
#include "support/env_fixtures.hpp"
#include "support/worst.hpp"

namespace p2pgrid::test {

/// Envs of the default spec from step t0 (a short horizon keeps the tests fast), on different
/// test days.
inline std::vector<ExpertEnvData> expert_envs_from(const Expert& expert, int t0, int count) {
  const std::vector<int> days = days_in_split(expert.spec().profiles.year, Split::kTest);
  std::vector<ExpertEnvData> envs;
  for (int e = 0; e < count; ++e) {
    ExpertEnvData d = expert.initial_data(days[(3 * e) % days.size()]);
    d.t0 = t0;
    envs.push_back(d);
  }
  return envs;
}

/// `it` with z and y on the host (a CUDA solve leaves them on the device).
inline AdmmIterate host_iterate(AdmmIterate it) {
  fetch_iterate_duals(it);
  return it;
}

/// 11 envs (a full group of 8 and a partial one) with adaptive rho, cold and then warm-started
/// from the plans, on both backends: the CPU with chunk_envs = 8 (the CUDA groups) must take
/// the same decisions, so statuses, iterations and rho levels are equal and the iterates agree.
/// admm_cuda.cu is compiled without fused multiply-adds and admm.cpp without contraction, so
/// the arithmetic is the same; `bitwise` (the host emulation) requires identical iterates, the
/// GPU is allowed 1e-9 relative in the objective and 1e-6 kW in the set-points. The CUDA plans
/// keep z and y on the device, where the CUDA warm start reads them; warm starts across the
/// backends (CUDA from CPU plans: staged from the host; CPU from CUDA plans: fetched) give the
/// same plans as well.
inline void expect_cuda_plans_equal_cpu_plans(int max_iterations, bool bitwise) {
  const EnvSpec& spec = default_env_spec();
  ExpertSettings cpu_settings = resolve_expert_config(Config::defaults());
  cpu_settings.admm.backend = Backend::kCpu;
  cpu_settings.admm.adaptive_rho = true;
  cpu_settings.admm.chunk_envs = kAdmmGroup;
  cpu_settings.admm.max_iterations = max_iterations;
  ExpertSettings gpu_settings = cpu_settings;
  gpu_settings.admm.backend = Backend::kCuda;
  const Expert cpu(spec, cpu_settings, default_cpu_powerflow());
  const Expert gpu(spec, gpu_settings, default_cpu_powerflow());
  const std::vector<ExpertEnvData> envs = expert_envs_from(cpu, 72, 11);
  const std::vector<ExpertPlan> a = cpu.plan(envs), b = gpu.plan(envs);
  for (const ExpertPlan& plan : b) {
    EXPECT_TRUE(plan.iterate.device && plan.iterate.z.empty() && plan.iterate.y.empty());
    EXPECT_EQ(plan.iterate.x.size(), std::size_t(cpu.qp().steps - 72) * cpu.qp().block_vars);
  }
  const std::vector<ExpertPlan> wa = cpu.plan(envs, &a), wb = gpu.plan(envs, &b);
  const std::vector<ExpertPlan> wb_from_cpu = gpu.plan(envs, &a), wa_from_gpu = cpu.plan(envs, &b);
  // Re-plans from step 84 start from the leading 12 of the plans' 24 blocks.
  std::vector<ExpertEnvData> later = envs;
  for (ExpertEnvData& d : later) d.t0 = 84;
  const std::vector<ExpertPlan> la = cpu.plan(later, &a), lb = gpu.plan(later, &b);
  const std::vector<std::pair<const std::vector<ExpertPlan>*, std::string>> cases = {
      {&b, "cold"},
      {&wb, "warm"},
      {&wb_from_cpu, "CUDA warm from the CPU plans"},
      {&wa_from_gpu, "CPU warm from the CUDA plans"},
      {&lb, "re-planned from step 84"}};
  for (const auto& [solved, what] : cases) {
    const bool warm = solved != &b;
    const std::vector<ExpertPlan>& p = solved == &lb ? la : warm ? wa : a;
    const std::vector<ExpertPlan>& q = *solved;
    for (std::size_t e = 0; e < envs.size(); ++e) {
      SCOPED_TRACE("max_iterations " + std::to_string(max_iterations) + ", env " +
                   std::to_string(e) + ", " + what);
      EXPECT_EQ(p[e].info.status, q[e].info.status);
      EXPECT_EQ(p[e].info.iterations, q[e].info.iterations);
      EXPECT_EQ(p[e].iterate.rho_level, q[e].iterate.rho_level);
      if (bitwise) {
        EXPECT_EQ(p[e].objective_cny, q[e].objective_cny);
        EXPECT_EQ(p[e].iterate.x, q[e].iterate.x);
        const AdmmIterate hq = host_iterate(q[e].iterate);
        EXPECT_EQ(p[e].iterate.z, hq.z);
        EXPECT_EQ(p[e].iterate.y, hq.y);
        continue;
      }
      EXPECT_NEAR(p[e].objective_cny, q[e].objective_cny, 1e-9 * std::abs(p[e].objective_cny));
      double dx = 0;
      for (std::size_t i = 0; i < p[e].iterate.x.size(); ++i)
        test::keep_worst(dx, std::abs(p[e].iterate.x[i] - q[e].iterate.x[i]));
      EXPECT_LT(dx, 1e-6) << "kW";
    }
  }
}

/// The DSO's round on both backends: day 305's plan breaks a voltage limit and is
/// re-linearized and re-solved (on CUDA from its bounds computed on the device with the
/// corrected offsets, warm-started from its device copy), day 307's is not; the plans agree as
/// in expect_cuda_plans_equal_cpu_plans.
inline void expect_cuda_dso_round_equal_cpu(bool bitwise) {
  ExpertSettings cpu_settings = resolve_expert_config(Config::defaults());
  cpu_settings.admm.backend = Backend::kCpu;
  cpu_settings.admm.chunk_envs = kAdmmGroup;
  ExpertSettings gpu_settings = cpu_settings;
  gpu_settings.admm.backend = Backend::kCuda;
  const Expert cpu(default_env_spec(), cpu_settings, default_cpu_powerflow());
  const Expert gpu(default_env_spec(), gpu_settings, default_cpu_powerflow());
  const std::vector<ExpertEnvData> envs = {cpu.initial_data(305), cpu.initial_data(307)};
  const std::vector<ExpertPlan> a = cpu.plan(envs), b = gpu.plan(envs);
  ASSERT_GE(a[0].dso_rounds, 1);
  ASSERT_EQ(a[1].dso_rounds, 0);
  for (std::size_t e = 0; e < envs.size(); ++e) {
    SCOPED_TRACE("day " + std::to_string(envs[e].day));
    EXPECT_EQ(a[e].dso_rounds, b[e].dso_rounds);
    EXPECT_EQ(a[e].info.iterations, b[e].info.iterations);
    EXPECT_EQ(a[e].data.v_offset_pu.empty(), b[e].data.v_offset_pu.empty());
    if (bitwise) {
      EXPECT_EQ(a[e].data.v_offset_pu, b[e].data.v_offset_pu);  // the re-linearized offsets
      EXPECT_EQ(a[e].objective_cny, b[e].objective_cny);
      EXPECT_EQ(a[e].iterate.x, b[e].iterate.x);
      EXPECT_EQ(a[e].ac_violation_pu, b[e].ac_violation_pu);
    } else {
      EXPECT_NEAR(a[e].objective_cny, b[e].objective_cny, 1e-9 * std::abs(a[e].objective_cny));
    }
  }
}

/// The certificates (Expert::certify) and exports of CUDA plans, whose multipliers stay on the
/// device until asked for, against the CPU's: the same bound (bit for bit where `bitwise`, as in
/// the host emulation; to the solver's tolerance on a GPU), within the 1e-3.
inline void expect_cuda_certificates_equal_cpu(bool bitwise) {
  ExpertSettings cpu_settings = resolve_expert_config(Config::defaults());
  cpu_settings.admm.chunk_envs = kAdmmGroup;
  ExpertSettings gpu_settings = cpu_settings;
  gpu_settings.admm.backend = Backend::kCuda;
  const Expert cpu(default_env_spec(), cpu_settings, default_cpu_powerflow());
  const Expert gpu(default_env_spec(), gpu_settings, default_cpu_powerflow());
  const std::vector<ExpertEnvData> envs = expert_envs_from(cpu, 60, 3);
  const std::vector<ExpertPlan> a = cpu.plan(envs), b = gpu.plan(envs);
  for (std::size_t e = 0; e < envs.size(); ++e) {
    SCOPED_TRACE("env " + std::to_string(e));
    EXPECT_TRUE(b[e].iterate.y.empty()) << "the CUDA plan's multipliers should be on the device";
    const ExpertCertificate ca = cpu.certify(a[e]), cb = gpu.certify(b[e]);
    ASSERT_TRUE(cb.bounded);
    EXPECT_LT(cb.gap, 1e-3);
    EXPECT_LE(cb.lower_bound_cny, cb.objective_cny);
    if (bitwise) {
      EXPECT_EQ(cb.lower_bound_cny, ca.lower_bound_cny);
      EXPECT_EQ(cb.max_violation, ca.max_violation);
    } else {
      EXPECT_NEAR(cb.lower_bound_cny, ca.lower_bound_cny, 1e-4 * std::abs(ca.lower_bound_cny));
    }
  }
  const nlohmann::json ja = cpu.export_qp(a[0]), jb = gpu.export_qp(b[0]);
  if (bitwise) {
    EXPECT_EQ(jb["solution"]["y"], ja["solution"]["y"]);
  } else {
    EXPECT_EQ(jb["solution"]["y"].size(), ja["solution"]["y"].size());
  }
}

/// A warm start from the plans of another QP (8 inverter facets instead of 16: the same
/// variables, other rows) is an error that says so, on `backend` (CUDA: the plans' z and y are
/// on the device), not a start read with the wrong layout.
inline void expect_warm_start_from_another_qp_is_an_error(Backend backend) {
  ExpertSettings s16 = resolve_expert_config(Config::defaults());
  s16.admm.backend = backend;
  ExpertSettings s8 = s16;
  s8.inverter_facets = 8;
  const Expert e16(default_env_spec(), s16, default_cpu_powerflow());
  const Expert e8(default_env_spec(), s8, default_cpu_powerflow());
  ASSERT_EQ(e16.qp().block_vars, e8.qp().block_vars);
  ASSERT_NE(e16.qp().block_rows, e8.qp().block_rows);
  const std::vector<ExpertEnvData> envs = expert_envs_from(e16, 90, 2);
  const std::vector<ExpertPlan> plans = e16.plan(envs);
  std::string error = "(no error)";
  try {
    (void)e8.plan(envs, &plans);
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("is not an iterate of this QP"), std::string::npos) << error;
}

/// The bounds of `count` envs of the default spec from step 96 - blocks ([env][blocks * m_b]).
inline void expert_bounds_of(const Expert& expert, int blocks, int count,
                             std::vector<std::vector<double>>& l,
                             std::vector<std::vector<double>>& u) {
  std::vector<ExpertEnvData> envs = expert_envs_from(expert, expert.qp().steps - blocks, count);
  l.assign(count, {});
  u.assign(count, {});
  for (int e = 0; e < count; ++e) {
    envs[e].v_offset_pu = linear_voltage_offsets(expert.spec(), expert.qp(), envs[e].day);
    expert_bounds(expert.spec(), expert.qp(), envs[e], l[e], u[e]);
  }
}

#if defined(P2P_HAVE_CUDA)
/// Host bounds ([env][len]) as the CUDA expert computes them: lane-major on the device.
inline AdmmDeviceBounds to_device_bounds(const std::vector<std::vector<double>>& l,
                                         const std::vector<std::vector<double>>& u) {
  AdmmDeviceBounds d;
  d.batch = static_cast<int>(l.size());
  const std::size_t len = l.empty() ? 0 : l[0].size(), B = l.size();
  for (auto [host, dev] : {std::make_pair(&l, &d.l), std::make_pair(&u, &d.u)}) {
    std::vector<double> lane_major(len * B);
    for (std::size_t e = 0; e < B; ++e)
      for (std::size_t i = 0; i < len; ++i) lane_major[i * B + e] = (*host)[e][i];
    *dev = to_device(Backend::kCuda, lane_major);
  }
  return d;
}

/// The CUDA expert's bounds (detail::expert_bounds_cuda) equal the host's (expert_bounds) bit
/// for bit: 11 envs on different days, one with voltage offsets of its own (the DSO's
/// re-linearization) and one in another state.
inline void expect_device_bounds_equal_host_bounds() {
  ExpertSettings settings = resolve_expert_config(Config::defaults());
  settings.admm.backend = Backend::kCuda;
  const Expert expert(default_env_spec(), settings, default_cpu_powerflow());
  const ExpertBoundsTables tables(expert.spec(), expert.qp());
  const int t0 = 60, blocks = expert.qp().steps - t0, m = expert.qp().block_rows;
  std::vector<ExpertEnvData> envs = expert_envs_from(expert, t0, 11);
  envs[3].v_offset_pu = linear_voltage_offsets(expert.spec(), expert.qp(), envs[3].day);
  for (std::size_t i = 0; i < envs[3].v_offset_pu.size(); ++i)
    envs[3].v_offset_pu[i] += 1e-3 * std::sin(double(i));
  for (double& soc : envs[5].unit_soc_kwh) soc *= 0.5;
  for (double& p : envs[5].unit_p_prev_kw) p += 3;
  std::shared_ptr<detail::ExpertCudaState> state;
  const AdmmDeviceBounds d = detail::expert_bounds_cuda(state, tables.view(), envs.data(),
                                                        static_cast<int>(envs.size()), blocks);
  ASSERT_EQ(d.batch, 11);
  const std::size_t len = std::size_t(blocks) * m;
  std::vector<double> l(len * 11), u(len * 11);
  d.l.copy_to_host(l.data(), l.size());
  d.u.copy_to_host(u.data(), u.size());
  for (int e = 0; e < 11; ++e) {
    std::vector<double> hl, hu;
    expert_bounds(expert.spec(), expert.qp(), envs[e], hl, hu);
    int differ = 0;
    for (std::size_t i = 0; i < len; ++i)
      differ += !(hl[i] == l[i * 11 + e] && hu[i] == u[i * 11 + e]);
    EXPECT_EQ(differ, 0) << "env " << e;
  }
}
#endif

/// The same parity at the solver's level on the cases the shared bounds table and the rho
/// levels make special: every bound shared (no lane bounds at all), env 0 differing from the
/// others in every shared row (the table then holds almost nothing), and warm starts from other
/// envs' plans whose groups start at different rho levels. Levels may move at every check
/// (every 20 iterations, at least 25 apart): cold, in the second group, env 9 ends at level -4
/// and envs 8 and 10 at -6 (frozen envs keep their w at their own level while their group's
/// level moves on), with Anderson points between and after the moves. The all-shared case is a
/// hard one: 960 of its 1,000 iterations (plain ADMM did not solve it within them).
inline void expect_cuda_solves_equal_cpu_solves_on_bound_cases(bool bitwise) {
  ExpertSettings cs = resolve_expert_config(Config::defaults());
  cs.admm.backend = Backend::kCpu;
  cs.admm.adaptive_rho = true;
  cs.admm.chunk_envs = kAdmmGroup;
  cs.admm.max_iterations = 1000;
  cs.admm.rho *= 256;
  cs.admm.adaptive_rho_interval = 25;
  AdmmSettings gs = cs.admm;
  gs.backend = Backend::kCuda;
  const Expert expert(default_env_spec(), cs, default_cpu_powerflow());
  const ExpertAdmm cpu(expert.qp(), cs.admm), gpu(expert.qp(), gs);
  const int blocks = 24, m = expert.qp().block_rows, count = 11;
  std::vector<std::vector<double>> l, u;
  expert_bounds_of(expert, blocks, count, l, u);
  auto compare = [&](const std::vector<std::vector<double>>& cl,
                     const std::vector<std::vector<double>>& cu,
                     const std::vector<AdmmIterate>& start, const std::string& what) {
    std::vector<AdmmIterate> a = start, b = start;
    const std::vector<AdmmInfo> ia = cpu.solve(blocks, cl, cu, a),
                                ib = gpu.solve(blocks, cl, cu, b);
    auto expect_equal = [&](const std::vector<AdmmInfo>& ig, const std::vector<AdmmIterate>& g,
                            const std::string& how) {
      for (int e = 0; e < count; ++e) {
        SCOPED_TRACE(what + how + ", env " + std::to_string(e));
        EXPECT_EQ(ia[e].status, ig[e].status);
        EXPECT_EQ(ia[e].iterations, ig[e].iterations);
        EXPECT_EQ(a[e].rho_level, g[e].rho_level);
        if (bitwise) {
          const AdmmIterate hg = host_iterate(g[e]);
          EXPECT_EQ(a[e].x, hg.x);
          EXPECT_EQ(a[e].z, hg.z);
          EXPECT_EQ(a[e].y, hg.y);
        } else {
          EXPECT_NEAR(ia[e].objective_cny, ig[e].objective_cny,
                      1e-9 * std::abs(ia[e].objective_cny));
        }
      }
    };
    expect_equal(ib, b, "");
#if defined(P2P_HAVE_CUDA)
    // The same solve with the bounds on the device (split and lanes' rows taken out there).
    std::vector<AdmmIterate> c = start;
    const std::vector<AdmmInfo> ic = gpu.solve(blocks, to_device_bounds(cl, cu), c);
    expect_equal(ic, c, ", bounds on the device");
#endif
    return std::make_pair(a, b);
  };
  std::vector<std::vector<double>> al = l, au = u;  // every env and block as env 0's block 0
  for (int e = 0; e < count; ++e)
    for (int i = 0; i < blocks * m; ++i) al[e][i] = l[0][i % m], au[e][i] = u[0][i % m];
  EXPECT_EQ(cpu.share_bounds(blocks, al, au).lane_rows, 0);
  compare(al, au, {}, "every bound shared");
  const AdmmSharedBounds shared = cpu.share_bounds(blocks, l, u);
  std::vector<std::vector<double>> bu = u;  // env 0's finite upper bounds of shared rows moved
  for (int r = 0; r < m; ++r)
    if (shared.slot[r] < 0 && u[0][r] < kInfinity) bu[0][r] += 1e-3;
  EXPECT_GT(cpu.share_bounds(blocks, l, bu).lane_rows, shared.lane_rows + m / 2);
  compare(l, bu, {}, "env 0 differs");
  const auto [cpu_start, gpu_start] = compare(l, u, {}, "cold");
  // Warm starts from the CPU's iterates (host vectors, staged for the CUDA solve) and from the
  // CUDA solve's (device copies, fetched for the CPU solve), other envs' in another order.
  for (const auto* start : {&cpu_start, &gpu_start}) {
    std::vector<AdmmIterate> mixed(count);
    for (int e = 0; e < count; ++e) {
      mixed[e] = (*start)[(5 * e) % count];  // another env's plan, at another level
      mixed[e].rho_level = (e < kAdmmGroup ? -7 : 3) + e % 2;
    }
    compare(l, u, mixed,
            start == &cpu_start ? "warm from host iterates, mixed rho levels"
                                : "warm from device iterates, mixed rho levels");
  }
}

}  // namespace p2pgrid::test
