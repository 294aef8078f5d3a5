// CPU/CUDA parity of the batched power flow, one test body run on every backend present
// (CUDA cases skip without a device; run them on the GPU machine).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"
#include "support/gpu.hpp"
#include "support/worst.hpp"

namespace p2pgrid {
namespace {

struct ParityCase {
  PowerFlowMethod method;
  Precision precision;
};

class PowerFlowParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(PowerFlowParity, CudaMatchesCpuDoubleOnRandomBatch) {
  P2P_REQUIRE_CUDA_DEVICE();
  const Network net = load_network("builtin:ieee141");
  const FeederModel feeder = FeederModel::build(net, "builtin:ieee141");
  std::vector<double> p0, q0;
  base_case_injections(net, p0, q0);
  const int n = net.num_buses(), batch = 1000;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> p(size_t(batch) * n), q(p.size());
  for (int e = 0; e < batch; ++e)
    for (int i = 0; i < n; ++i) {
      const double s = 0.1 + 1.5 * u(rng);
      p[size_t(e) * n + i] = p0[i] * s + (i != net.slack_bus && u(rng) < 0.2 ? 0.05 * u(rng) : 0);
      q[size_t(e) * n + i] = q0[i] * s;
    }
  PowerFlowSettings ref_settings;
  ref_settings.tolerance_pu = 1e-12;
  auto cpu = make_powerflow_solver(feeder, Backend::kCpu, ref_settings);
  const PowerFlowResult ref = solve_power_flow(*cpu, feeder, Precision::kFloat64, batch, p, q);
  PowerFlowSettings s;
  s.method = GetParam().method;
  s.tolerance_pu = GetParam().precision == Precision::kFloat32 ? 2e-6 : 1e-12;
  auto gpu = make_powerflow_solver(feeder, Backend::kCuda, s);
  const PowerFlowResult r = solve_power_flow(*gpu, feeder, GetParam().precision, batch, p, q);
  double worst_vm = 0, worst_va = 0, worst_loss = 0;
  for (size_t k = 0; k < ref.vm_pu.size(); ++k) {
    test::keep_worst(worst_vm, std::abs(ref.vm_pu[k] - r.vm_pu[k]));
    test::keep_worst(worst_va, std::abs(ref.va_rad[k] - r.va_rad[k]));
  }
  for (int e = 0; e < batch; ++e) {
    ASSERT_EQ(r.converged[e], 1) << "env " << e;
    test::keep_worst(worst_loss, std::abs(ref.p_loss_pu[e] - r.p_loss_pu[e]));
  }
  // Both solved to 1e-12 in float64: a float64 path that rounded through float32 (about 1e-6)
  // must not pass.
  const double limit = GetParam().precision == Precision::kFloat32 ? 1e-5 : 1e-9;
  EXPECT_LT(worst_vm, limit);
  EXPECT_LT(worst_va, limit);
  EXPECT_LT(worst_loss, limit);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, PowerFlowParity,
    ::testing::Values(ParityCase{PowerFlowMethod::kSweep, Precision::kFloat32},
                      ParityCase{PowerFlowMethod::kSweep, Precision::kFloat64},
                      ParityCase{PowerFlowMethod::kZbus, Precision::kFloat32},
                      ParityCase{PowerFlowMethod::kZbus, Precision::kFloat64}),
    [](const auto& info) {
      return std::string(to_string(info.param.method)) + "_" + to_string(info.param.precision);
    });

TEST(PowerFlowBackend, CudaUnavailableIsAClearError) {
  if (cuda_device_available()) GTEST_SKIP() << "a CUDA device is present";
  const Network net = load_network("builtin:ieee141");
  const FeederModel feeder = FeederModel::build(net, "builtin:ieee141");
  try {
    make_powerflow_solver(feeder, Backend::kCuda, PowerFlowSettings{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backend 'cuda'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--backend cpu"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace p2pgrid
