// FeederModel (the sweep-ordered feeder and its Z-bus matrix), batch buffers, the solver factory
// and the host convenience solve used by the CLI and the tests.
#include <cmath>
#include <string>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/powerflow/powerflow.hpp"

namespace p2pgrid {

PowerFlowMethod parse_powerflow_method(const std::string& name) {
  if (name == "sweep") return PowerFlowMethod::kSweep;
  if (name == "zbus") return PowerFlowMethod::kZbus;
  throw Error("unknown power-flow method '" + name + "': expected 'sweep' or 'zbus'");
}
const char* to_string(PowerFlowMethod method) {
  return method == PowerFlowMethod::kSweep ? "sweep" : "zbus";
}
Precision parse_precision(const std::string& name) {
  if (name == "float32" || name == "float") return Precision::kFloat32;
  if (name == "float64" || name == "double") return Precision::kFloat64;
  throw Error("unknown precision '" + name + "': expected 'float32' or 'float64'");
}
const char* to_string(Precision precision) {
  return precision == Precision::kFloat32 ? "float32" : "float64";
}

FeederModel FeederModel::build(const Network& net, const std::string& where,
                               bool with_path_impedance) {
  validate_network(net, where);
  const RadialTopology topo = build_radial_topology(net, where);
  FeederModel m;
  const int n = net.num_buses();
  m.num_buses = n;
  m.num_branches = net.num_branches();
  m.slack_bus = net.slack_bus;
  m.v_slack_pu = net.v_slack_pu;
  m.base_mva = net.base_mva;
  std::vector<int> pos_of(n, -1);
  for (int k = 0; k < n; ++k) pos_of[topo.order[k]] = k;
  m.bus_at = topo.order;
  m.parent_pos.assign(n, -1);
  m.r_pu.assign(n, 0.0);
  m.x_pu.assign(n, 0.0);
  m.g_shunt_pu.assign(n, 0.0);
  m.b_shunt_pu.assign(n, 0.0);
  const double kw_per_pu = net.base_mva * 1e3;
  for (int k = 0; k < n; ++k) {
    const int bus = topo.order[k];
    m.g_shunt_pu[k] = net.g_shunt_kw[bus] / kw_per_pu;
    m.b_shunt_pu[k] = net.b_shunt_kvar[bus] / kw_per_pu;
    if (k == 0) continue;
    const int br = topo.parent_branch[bus];
    m.parent_pos[k] = pos_of[topo.parent_bus[bus]];
    m.r_pu[k] = net.r_pu[br];
    m.x_pu[k] = net.x_pu[br];
  }
  m.branch_pos.assign(m.num_branches, -1);
  m.branch_from_is_parent.assign(m.num_branches, 1);
  m.branch_half_b_pu.assign(m.num_branches, 0.0);
  for (int b = 0; b < m.num_branches; ++b) {
    if (!net.in_service[b]) continue;
    const int f = net.from_bus[b], t = net.to_bus[b];
    const bool to_is_child = topo.parent_branch[t] == b;
    const int child = to_is_child ? t : f;
    m.branch_pos[b] = pos_of[child];
    m.branch_from_is_parent[b] = to_is_child ? 1 : 0;
    // Line charging as half-shunts at both ends (pi model).
    const double half_b = 0.5 * net.b_pu[b];
    m.branch_half_b_pu[b] = half_b;
    m.b_shunt_pu[pos_of[f]] += half_b;
    m.b_shunt_pu[pos_of[t]] += half_b;
  }
  if (!with_path_impedance) return m;
  // Path-impedance matrix. In BFS order no l < k lies below k, so the paths slack->k and
  // slack->l share exactly what slack->parent(k) and slack->l share: Z[k][l] = Z[p(k)][l].
  const std::size_t N = static_cast<std::size_t>(n);
  std::vector<double> zr(N * N, 0.0), zi(zr.size(), 0.0);
  for (std::size_t k = 1; k < N; ++k) {
    const std::size_t p = static_cast<std::size_t>(m.parent_pos[k]);
    for (std::size_t l = 1; l < k; ++l) {
      zr[k * N + l] = zr[l * N + k] = zr[p * N + l];
      zi[k * N + l] = zi[l * N + k] = zi[p * N + l];
    }
    zr[k * N + k] = zr[p * N + p] + m.r_pu[k];
    zi[k * N + k] = zi[p * N + p] + m.x_pu[k];
  }
  const std::size_t nz = N - 1;
  m.z_re_pu.assign(nz * nz, 0.0);
  m.z_im_pu.assign(nz * nz, 0.0);
  for (std::size_t k = 1; k < N; ++k)
    for (std::size_t l = 1; l < N; ++l) {
      m.z_re_pu[(k - 1) * nz + (l - 1)] = zr[k * N + l];
      m.z_im_pu[(k - 1) * nz + (l - 1)] = zi[k * N + l];
    }
  return m;
}

template <class Real>
FeederView<Real> FeederModel::host_view(std::vector<Real>& store) const {
  // One contiguous store for the Real arrays: r, x, g, b (num_buses each), half_b (branches).
  const size_t nb = num_buses, nl = num_branches;
  store.resize(4 * nb + nl);
  for (size_t k = 0; k < nb; ++k) {
    store[k] = static_cast<Real>(r_pu[k]);
    store[nb + k] = static_cast<Real>(x_pu[k]);
    store[2 * nb + k] = static_cast<Real>(g_shunt_pu[k]);
    store[3 * nb + k] = static_cast<Real>(b_shunt_pu[k]);
  }
  for (size_t b = 0; b < nl; ++b) store[4 * nb + b] = static_cast<Real>(branch_half_b_pu[b]);
  FeederView<Real> v;
  v.num_buses = num_buses;
  v.num_branches = num_branches;
  v.bus_at = bus_at.data();
  v.parent_pos = parent_pos.data();
  v.r_pu = store.data();
  v.x_pu = store.data() + nb;
  v.g_shunt_pu = store.data() + 2 * nb;
  v.b_shunt_pu = store.data() + 3 * nb;
  v.branch_pos = branch_pos.data();
  v.branch_from_is_parent = branch_from_is_parent.data();
  v.branch_half_b_pu = store.data() + 4 * nb;
  v.v_slack_pu = static_cast<Real>(v_slack_pu);
  return v;
}
template FeederView<float> FeederModel::host_view(std::vector<float>&) const;
template FeederView<double> FeederModel::host_view(std::vector<double>&) const;

template <class Real>
PowerFlowBatch<Real>::PowerFlowBatch(Backend backend, int batch_, int num_buses_,
                                     int num_branches_)
    : batch(batch_),
      num_buses(num_buses_),
      num_branches(num_branches_),
      p_inj_pu(backend, size_t(batch_) * num_buses_),
      q_inj_pu(backend, size_t(batch_) * num_buses_),
      vm_pu(backend, size_t(batch_) * num_buses_),
      va_rad(backend, size_t(batch_) * num_buses_),
      p_branch_pu(backend, size_t(batch_) * num_branches_),
      q_branch_pu(backend, size_t(batch_) * num_branches_),
      p_loss_pu(backend, batch_),
      q_loss_pu(backend, batch_),
      p_slack_pu(backend, batch_),
      q_slack_pu(backend, batch_),
      iterations(backend, batch_),
      converged(backend, batch_) {}

template <class Real>
PowerFlowIO<Real> PowerFlowBatch<Real>::io() {
  PowerFlowIO<Real> io;
  io.p_inj_pu = p_inj_pu.data();
  io.q_inj_pu = q_inj_pu.data();
  io.vm_pu = vm_pu.data();
  io.va_rad = va_rad.data();
  io.p_branch_pu = p_branch_pu.data();
  io.q_branch_pu = q_branch_pu.data();
  io.p_loss_pu = p_loss_pu.data();
  io.q_loss_pu = q_loss_pu.data();
  io.p_slack_pu = p_slack_pu.data();
  io.q_slack_pu = q_slack_pu.data();
  io.iterations = iterations.data();
  io.converged = converged.data();
  return io;
}
template struct PowerFlowBatch<float>;
template struct PowerFlowBatch<double>;

std::unique_ptr<PowerFlowSolver> make_powerflow_solver(const FeederModel& feeder, Backend backend,
                                                       const PowerFlowSettings& settings) {
  if (!(settings.tolerance_pu > 0)) throw Error("powerflow.tolerance_pu must be > 0");
  if (settings.max_iterations < 1) throw Error("powerflow.max_iterations must be >= 1");
  if (settings.method == PowerFlowMethod::kZbus && feeder.num_buses > 1 &&
      feeder.z_re_pu.empty())
    throw Error("power flow: the Z-bus method needs a FeederModel built with its path impedance");
  if (backend == Backend::kCpu) return detail::make_cpu_powerflow_solver(feeder, settings);
#if defined(P2P_HAVE_CUDA)
  if (!cuda_device_available())
    throw Error("backend 'cuda': " + cuda_device_description() + "; use --backend cpu");
  return detail::make_cuda_powerflow_solver(feeder, settings);
#else
  backend_malloc(Backend::kCuda, 0);  // throws the "built without CUDA" error
  return nullptr;
#endif
}

void base_case_injections(const Network& net, std::vector<double>& p_inj_pu,
                          std::vector<double>& q_inj_pu) {
  const double kw_per_pu = net.base_mva * 1e3;
  p_inj_pu.resize(net.num_buses());
  q_inj_pu.resize(net.num_buses());
  for (int i = 0; i < net.num_buses(); ++i) {
    p_inj_pu[i] = -net.p_load_kw[i] / kw_per_pu;
    q_inj_pu[i] = -net.q_load_kvar[i] / kw_per_pu;
  }
}

namespace {

template <class Real>
PowerFlowResult solve_typed(PowerFlowSolver& solver, const FeederModel& feeder, int batch,
                            const std::vector<double>& p_inj, const std::vector<double>& q_inj) {
  const int nb = feeder.num_buses, nl = feeder.num_branches;
  if (p_inj.size() != size_t(batch) * nb || q_inj.size() != p_inj.size())
    throw Error("solve_power_flow: injections must be [batch=" + std::to_string(batch) +
                ", num_buses=" + std::to_string(nb) + "]");
  PowerFlowBatch<Real> buf(solver.backend(), batch, nb, nl);
  std::vector<Real> tmp(p_inj.begin(), p_inj.end());
  buf.p_inj_pu.copy_from_host(tmp.data(), tmp.size());
  tmp.assign(q_inj.begin(), q_inj.end());
  buf.q_inj_pu.copy_from_host(tmp.data(), tmp.size());
  solver.solve(batch, buf.io());
  PowerFlowResult r;
  r.batch = batch;
  r.num_buses = nb;
  r.num_branches = nl;
  auto fetch = [](const DeviceBuffer<Real>& src, std::vector<double>& dst) {
    std::vector<Real> h(src.size());
    src.copy_to_host(h.data(), h.size());
    dst.assign(h.begin(), h.end());
  };
  fetch(buf.vm_pu, r.vm_pu);
  fetch(buf.va_rad, r.va_rad);
  fetch(buf.p_branch_pu, r.p_branch_pu);
  fetch(buf.q_branch_pu, r.q_branch_pu);
  fetch(buf.p_loss_pu, r.p_loss_pu);
  fetch(buf.q_loss_pu, r.q_loss_pu);
  fetch(buf.p_slack_pu, r.p_slack_pu);
  fetch(buf.q_slack_pu, r.q_slack_pu);
  r.iterations.resize(batch);
  buf.iterations.copy_to_host(r.iterations.data(), batch);
  r.converged.resize(batch);
  buf.converged.copy_to_host(r.converged.data(), batch);
  return r;
}

}  // namespace

PowerFlowResult solve_power_flow(PowerFlowSolver& solver, const FeederModel& feeder,
                                 Precision precision, int batch,
                                 const std::vector<double>& p_inj_pu,
                                 const std::vector<double>& q_inj_pu) {
  return precision == Precision::kFloat32
             ? solve_typed<float>(solver, feeder, batch, p_inj_pu, q_inj_pu)
             : solve_typed<double>(solver, feeder, batch, p_inj_pu, q_inj_pu);
}

}  // namespace p2pgrid
