// Batched OSQP-style ADMM (see admm.hpp). Notation of Stellato et al. 2020: scaled problem
// P~ = c D P D, q~ = c D q, A~ = E A D, bounds E l, E u; iterates x~, z~, y~.
#include "p2pgrid/expert/admm.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/nvtx.hpp"
#include "p2pgrid/core/threads.hpp"
#if defined(P2P_HAVE_CUDA)
#include "p2pgrid/expert/admm_cuda.hpp"
#endif

namespace p2pgrid {

const char* to_string(SolveStatus s) {
  switch (s) {
    case SolveStatus::kSolved:
      return "solved";
    case SolveStatus::kMaxIterations:
      return "max_iterations";
    case SolveStatus::kPrimalInfeasible:
      return "primal_infeasible";
  }
  return "?";
}

void check_anderson_settings(const AdmmSettings& s) {
  if (s.anderson_memory < 0 || s.anderson_memory > kAndersonMaxMemory)
    throw Error("expert.anderson_memory = " + std::to_string(s.anderson_memory) +
                ": expected 0 (off) to " + std::to_string(kAndersonMaxMemory));
  if (s.anderson_memory > 0 &&
      (s.anderson_interval < 1 || s.check_every % s.anderson_interval != 0 ||
       s.max_iterations % s.anderson_interval != 0))
    throw Error("expert.anderson_interval = " + std::to_string(s.anderson_interval) +
                ": expected a divisor of expert.check_every (" + std::to_string(s.check_every) +
                ") and of expert.max_iterations (" + std::to_string(s.max_iterations) +
                "), so that a group's lanes, which start at checks, share their Anderson points");
}

ExpertAdmm::ExpertAdmm(const ExpertQp& qp, const AdmmSettings& settings)
    : qp_(qp), settings_(settings) {
  const int n = qp_.block_vars, m = qp_.block_rows;
  if (settings_.rho <= 0 || settings_.sigma <= 0 || settings_.alpha <= 0 || settings_.alpha >= 2)
    throw Error("expert: need rho > 0, sigma > 0 and 0 < alpha < 2");
  if (!(settings_.rho_factor_bounds > 0 && settings_.rho_factor_voltage > 0))
    throw Error("expert: rho_factor_bounds and rho_factor_voltage must be > 0");
  if (settings_.chunk_envs < 1) throw Error("expert: chunk_envs must be >= 1");
  if (settings_.check_every < 1 || settings_.max_iterations < 1)
    throw Error("expert: check_every and max_iterations must be >= 1");
  check_anderson_settings(settings_);
  // Ruiz equilibration on the generic block (a column's entries: its own rows' self entries and
  // the next block's rows' prev entries; the same scaling for every block).
  d_.assign(n, 1.0);
  e_.assign(m, 1.0);
  for (int it = 0; it < settings_.scaling_iterations; ++it) {
    std::vector<double> col(n, 0.0), row(m, 0.0);
    for (int j = 0; j < n; ++j) col[j] = std::abs(qp_.p_diag[j]) * d_[j] * d_[j];
    for (int r = 0; r < m; ++r) {
      const QpRowInfo& ri = qp_.rows[r];
      for (std::size_t k = 0; k < ri.cols.size(); ++k) {
        const double a = std::abs(e_[r] * ri.vals[k] * d_[ri.cols[k]]);
        row[r] = std::max(row[r], a);
        col[ri.cols[k]] = std::max(col[ri.cols[k]], a);
      }
      for (std::size_t k = 0; k < ri.prev_cols.size(); ++k) {
        const double a = std::abs(e_[r] * ri.prev_vals[k] * d_[ri.prev_cols[k]]);
        row[r] = std::max(row[r], a);
        col[ri.prev_cols[k]] = std::max(col[ri.prev_cols[k]], a);
      }
    }
    for (int j = 0; j < n; ++j) d_[j] /= std::sqrt(col[j] > 1e-12 ? col[j] : 1.0);
    for (int r = 0; r < m; ++r) e_[r] /= std::sqrt(row[r] > 1e-12 ? row[r] : 1.0);
  }
  // Cost scaling: the largest scaled linear cost to about 1.
  double qmax = 0;
  for (int k = 0; k < qp_.steps; ++k)
    for (int j = 0; j < n; ++j)
      qmax = std::max(qmax, std::abs(qp_.q[std::size_t(k) * n + j] * d_[j]));
  for (int j = 0; j < n; ++j) qmax = std::max(qmax, std::abs(qp_.p_diag[j]) * d_[j] * d_[j]);
  cost_scale_ = qmax > 0 ? 1.0 / qmax : 1.0;
  p_scaled_.resize(n);
  for (int j = 0; j < n; ++j) p_scaled_[j] = cost_scale_ * qp_.p_diag[j] * d_[j] * d_[j];
  q_scaled_.resize(qp_.q.size());
  for (int k = 0; k < qp_.steps; ++k)
    for (int j = 0; j < n; ++j)
      q_scaled_[std::size_t(k) * n + j] = cost_scale_ * qp_.q[std::size_t(k) * n + j] * d_[j];
  build_voltage_tree();
  rho_.resize(m);
  self_ptr_.assign(1, 0);
  prev_ptr_.assign(1, 0);
  for (int r = 0; r < m; ++r) {
    const QpRowInfo& ri = qp_.rows[r];
    rho_[r] = settings_.rho;
    if (ri.equality()) rho_[r] *= 1e3;
    if (ri.kind == QpRow::kBound) rho_[r] *= settings_.rho_factor_bounds;
    if (ri.kind == QpRow::kVoltage) rho_[r] *= settings_.rho_factor_voltage;
    if (row_node_[r] >= 0) {  // a voltage row the tree computes: no CSR entries
      self_ptr_.push_back(static_cast<int>(self_cols_.size()));
      prev_ptr_.push_back(static_cast<int>(prev_cols_.size()));
      continue;
    }
    for (std::size_t k = 0; k < ri.cols.size(); ++k) {
      self_cols_.push_back(ri.cols[k]);
      self_vals_.push_back(e_[r] * ri.vals[k] * d_[ri.cols[k]]);
    }
    for (std::size_t k = 0; k < ri.prev_cols.size(); ++k) {
      prev_cols_.push_back(ri.prev_cols[k]);
      prev_vals_.push_back(e_[r] * ri.prev_vals[k] * d_[ri.prev_cols[k]]);
    }
    self_ptr_.push_back(static_cast<int>(self_cols_.size()));
    prev_ptr_.push_back(static_cast<int>(prev_cols_.size()));
  }
  factor_at(0);  // the factorization of the configured rho, so that setup costs show here
}

void ExpertAdmm::build_voltage_tree() {
  const QpVoltageTree& t = qp_.voltage_tree;
  const int nt = t.nodes(), m = qp_.block_rows, n = qp_.block_vars;
  // The kernels walk the nodes in order (parents first) and index rows and columns directly.
  if (t.r.size() != t.parent.size() || t.x.size() != t.parent.size() ||
      t.row.size() != t.parent.size() || t.p_ex_col.size() != t.agent_node.size() ||
      t.q_ex_col.size() != t.agent_node.size())
    throw Error("expert: voltage tree arrays of different lengths");
  for (int i = 0; i < nt; ++i)
    if (t.parent[i] < -1 || t.parent[i] >= i || t.row[i] < -1 || t.row[i] >= m)
      throw Error("expert: voltage tree node " + std::to_string(i) +
                  " needs a parent listed before it (or -1) and a row in [-1, " +
                  std::to_string(m) + ")");
  for (std::size_t a = 0; a < t.agent_node.size(); ++a)
    if (t.agent_node[a] < -1 || t.agent_node[a] >= nt || t.p_ex_col[a] < 0 || t.p_ex_col[a] >= n ||
        t.q_ex_col[a] < 0 || t.q_ex_col[a] >= n)
      throw Error("expert: voltage tree entry of prosumer " + std::to_string(a) +
                  " names a node or column out of range");
  row_node_.assign(m, -1);
  tree_parent_ = t.parent;
  tree_r_ = t.r;
  tree_x_ = t.x;
  tree_agent_node_.clear(), tree_p_col_.clear(), tree_q_col_.clear();
  tree_p_scale_.clear(), tree_q_scale_.clear();
  for (std::size_t a = 0; a < t.agent_node.size(); ++a) {
    if (t.agent_node[a] < 0) continue;  // at the slack: moves no voltage
    tree_agent_node_.push_back(t.agent_node[a]);
    tree_p_col_.push_back(t.p_ex_col[a]);
    tree_q_col_.push_back(t.q_ex_col[a]);
    tree_p_scale_.push_back(d_[t.p_ex_col[a]]);
    tree_q_scale_.push_back(d_[t.q_ex_col[a]]);
  }
  // A row is computed by the tree only if the tree reproduces its sensitivities: R_ja is the sum
  // of r over the lines the paths to node j and to prosumer a's node share.
  auto ancestors = [&](int node) {
    std::vector<char> on(nt, 0);
    for (int u = node; u >= 0; u = t.parent[u]) on[u] = 1;
    return on;
  };
  std::vector<std::vector<char>> agent_path;
  for (std::size_t a = 0; a < t.agent_node.size(); ++a)
    agent_path.push_back(t.agent_node[a] >= 0 ? ancestors(t.agent_node[a])
                                              : std::vector<char>(nt, 0));
  for (int node = 0; node < nt; ++node) {
    const int r = t.row[node];
    if (r < 0) continue;
    const QpRowInfo& ri = qp_.rows[r];
    if (ri.kind != QpRow::kVoltage || !ri.prev_cols.empty())
      throw Error("expert: voltage tree node " + std::to_string(node) + " names row " +
                  std::to_string(r) + ", which is not a voltage row");
    std::vector<double> want(qp_.block_vars, 0.0);
    for (std::size_t a = 0; a < t.agent_node.size(); ++a)
      for (int u = node; u >= 0; u = t.parent[u])
        if (agent_path[a][u]) want[t.p_ex_col[a]] += t.r[u], want[t.q_ex_col[a]] += t.x[u];
    std::vector<double> have(qp_.block_vars, 0.0);
    double scale = 0;
    for (std::size_t k = 0; k < ri.cols.size(); ++k) {
      have[ri.cols[k]] += ri.vals[k];
      scale = std::max(scale, std::abs(ri.vals[k]));
    }
    for (int c = 0; c < qp_.block_vars; ++c)
      if (std::abs(want[c] - have[c]) > 1e-9 * scale)
        throw Error("expert: the voltage tree does not reproduce voltage row " + std::to_string(r) +
                    " (column " + std::to_string(c) + ": " + std::to_string(want[c]) + " vs " +
                    std::to_string(have[c]) + ")");
    row_node_[r] = node;
  }
  tree_nodes_ = nt;
}

std::size_t ExpertAdmm::cuda_bytes_per_env(int blocks) const {
  const std::size_t nh = std::size_t(blocks) * qp_.block_vars;
  const std::size_t mh = std::size_t(blocks) * qp_.block_rows;
  const std::size_t memory = std::size_t(settings_.anderson_memory);
  // doubles: x, x~, rhs, A'dy (4 nh); w, w_prev, Ax (3 mh, Ax also the transposes' staging);
  // the lanes' bounds lo, hi (2 mh at most); the tree's 4 values per node; the history's u and
  // g (2 mh); the result's x, z, y (nh + 2 mh). floats: the history's f and slots.
  const std::size_t doubles =
      5 * nh + 7 * mh + 4 * std::size_t(tree_nodes_) + (memory > 0 ? 2 * mh : 0);
  const std::size_t floats = memory > 0 ? (1 + 2 * memory) * mh : 0;
  constexpr std::size_t kPerEnvState = 1024;  // flags, statistics, Anderson lane state
  return doubles * sizeof(double) + floats * sizeof(float) + kPerEnvState;
}

std::size_t ExpertAdmm::cuda_reserved_bytes() const {
  const BlockTridiagonalCholesky::Arrays& a = factor_at(0)->arrays();
  const std::size_t ints = a.link_rows.size() + a.diag_ptr.size() + a.diag_cols.size() +
                           a.sub_ptr.size() + a.sub_cols.size();
  const std::size_t doubles = a.diag_vals.size() + a.inv_diag.size() + a.sub_vals.size();
  return kCudaReservedLevels * (ints * sizeof(int) + doubles * sizeof(double));
}

AdmmRowsView ExpertAdmm::rows_view() const {
  AdmmRowsView v;
  v.n = qp_.block_vars;
  v.m = qp_.block_rows;
  v.self_ptr = self_ptr_.data();
  v.self_cols = self_cols_.data();
  v.self_vals = self_vals_.data();
  v.prev_ptr = prev_ptr_.data();
  v.prev_cols = prev_cols_.data();
  v.prev_vals = prev_vals_.data();
  v.rho = rho_.data();
  v.p_diag = p_scaled_.data();
  v.q = q_scaled_.data();
  v.e = e_.data();
  v.d = d_.data();
  v.cost_scale = cost_scale_;
  v.infinity = kInfinity;
  v.row_node = row_node_.data();
  v.tree.nodes = tree_nodes_;
  v.tree.agents = static_cast<int>(tree_agent_node_.size());
  v.tree.parent = tree_parent_.data();
  v.tree.r = tree_r_.data();
  v.tree.x = tree_x_.data();
  v.tree.agent_node = tree_agent_node_.data();
  v.tree.p_col = tree_p_col_.data();
  v.tree.q_col = tree_q_col_.data();
  v.tree.p_scale = tree_p_scale_.data();
  v.tree.q_scale = tree_q_scale_.data();
  return v;
}

std::shared_ptr<const BlockTridiagonalCholesky> ExpertAdmm::factor_at(int level) const {
  if (level < kRhoLevelMin || level > kRhoLevelMax) throw Error("expert: rho level out of range");
  std::lock_guard<std::mutex> lock(factors_mutex_);
  auto found = factors_.find(level);
  if (found != factors_.end()) return found->second;
  NvtxRange range("expert.factorize");
  const double rho_scale = rho_scale_of_level(level);
  const int n = qp_.block_vars, m = qp_.block_rows;
  const int nblk = qp_.steps;
  const std::size_t nn = std::size_t(n) * n;
  std::vector<double> base(nn, 0.0), prev_part(nn, 0.0), sub(nn, 0.0);
  for (int j = 0; j < n; ++j) base[std::size_t(j) * n + j] = p_scaled_[j] + settings_.sigma;
  for (int r = 0; r < m; ++r) {  // every row, the tree's included (qp_.rows, scaled here)
    const QpRowInfo& ri = qp_.rows[r];
    const double rho = rho_[r] * rho_scale;
    std::vector<double> sv(ri.vals.size()), pv(ri.prev_vals.size());
    for (std::size_t a = 0; a < sv.size(); ++a) sv[a] = e_[r] * ri.vals[a] * d_[ri.cols[a]];
    for (std::size_t a = 0; a < pv.size(); ++a)
      pv[a] = e_[r] * ri.prev_vals[a] * d_[ri.prev_cols[a]];
    for (std::size_t a = 0; a < sv.size(); ++a)
      for (std::size_t b = 0; b < sv.size(); ++b)
        base[std::size_t(ri.cols[a]) * n + ri.cols[b]] += rho * sv[a] * sv[b];
    for (std::size_t a = 0; a < pv.size(); ++a) {
      for (std::size_t b = 0; b < pv.size(); ++b)
        prev_part[std::size_t(ri.prev_cols[a]) * n + ri.prev_cols[b]] += rho * pv[a] * pv[b];
      for (std::size_t b = 0; b < sv.size(); ++b)
        sub[std::size_t(ri.prev_cols[a]) * n + ri.cols[b]] += rho * pv[a] * sv[b];
    }
  }
  std::vector<double> diag(nblk * nn), subs((nblk - 1) * nn);
  for (int k = 0; k < nblk; ++k)
    for (std::size_t i = 0; i < nn; ++i) diag[k * nn + i] = base[i] + (k > 0 ? prev_part[i] : 0.0);
  for (int k = 0; k + 1 < nblk; ++k) std::copy(sub.begin(), sub.end(), subs.begin() + k * nn);
  auto f = std::make_shared<BlockTridiagonalCholesky>();
  f->factor(nblk, n, std::move(diag), std::move(subs));
  factors_[level] = f;
  return f;
}

namespace {
double scaled_lower(double l, double e) { return admm_scaled_lower(l, e, kInfinity); }
double scaled_upper(double u, double e) { return admm_scaled_upper(u, e, kInfinity); }
}  // namespace

AdmmSharedBounds ExpertAdmm::share_bounds(int blocks, const std::vector<std::vector<double>>& l,
                                          const std::vector<std::vector<double>>& u) const {
  const int m = qp_.block_rows, count = static_cast<int>(l.size());
  // A row is shared when every env's every block equals env 0's first block (a NaN never does:
  // it stays with the lanes). One pass over the bounds in memory order, envs split over threads
  // (a batch of 4096 has 0.5 G values to compare).
  std::vector<char> same(m, count > 0 ? 1 : 0);
  const int threads = cpu_threads(settings_.threads);
#pragma omp parallel num_threads(threads)
  {
    std::vector<char> mine(m, 1);
    const double* l0 = count > 0 ? l[0].data() : nullptr;
    const double* u0 = count > 0 ? u[0].data() : nullptr;
#pragma omp for schedule(static)
    for (int e = 0; e < count; ++e)
      for (int k = 0; k < blocks; ++k) {
        const double* le = l[e].data() + std::size_t(k) * m;
        const double* ue = u[e].data() + std::size_t(k) * m;
        for (int r = 0; r < m; ++r) mine[r] &= (le[r] == l0[r]) & (ue[r] == u0[r]);
      }
#pragma omp critical(p2pgrid_admm_share_bounds)
    for (int r = 0; r < m; ++r) same[r] &= mine[r];
  }
  return shared_bounds(same, count > 0 ? l[0].data() : nullptr, count > 0 ? u[0].data() : nullptr);
}

AdmmSharedBounds ExpertAdmm::shared_bounds(const std::vector<char>& same, const double* l0,
                                           const double* u0) const {
  const int m = qp_.block_rows;
  AdmmSharedBounds s;
  s.slot.assign(m, -1);
  s.lo.assign(m, 0.0);
  s.hi.assign(m, 0.0);
  for (int r = 0; r < m; ++r) {
    if (same[r]) {
      s.lo[r] = scaled_lower(l0[r], e_[r]);
      s.hi[r] = scaled_upper(u0[r], e_[r]);
    } else {
      s.slot[r] = s.lane_rows++;
    }
  }
  return s;
}

void ExpertAdmm::lane_bounds(int blocks, const AdmmSharedBounds& shared,
                             const std::vector<double>& l, const std::vector<double>& u,
                             Strided<double> lo, Strided<double> hi) const {
  const int m = qp_.block_rows;
  for (int k = 0; k < blocks; ++k)
    for (int r = 0; r < m; ++r) {
      const int slot = shared.slot[r];
      if (slot < 0) continue;
      const int i = k * m + r, j = k * shared.lane_rows + slot;
      lo[j] = scaled_lower(l[i], e_[r]);
      hi[j] = scaled_upper(u[i], e_[r]);
    }
}

void ExpertAdmm::load_lane(int blocks, const AdmmSharedBounds& shared, double rho_scale,
                           const std::vector<double>& l, const std::vector<double>& u,
                           const AdmmIterate& warm, Strided<double> lo, Strided<double> hi,
                           Strided<double> x, Strided<double> w) const {
  lane_bounds(blocks, shared, l, u, lo, hi);
  const std::size_t mh = std::size_t(blocks) * qp_.block_rows;
  const bool start = warm_start_fits(blocks, warm) && warm.z.size() == mh && warm.y.size() == mh;
  AdmmRowsView rows = rows_view();
  rows.bounds = shared.view();
  const Strided<const double> xu{warm.x.data(), 1}, zu{warm.z.data(), 1}, yu{warm.y.data(), 1};
  admm_start_lane(rows, blocks, rho_scale, start, xu, zu, yu, lo, hi, x, w);
}

bool ExpertAdmm::warm_start_fits(int blocks, const AdmmIterate& warm) const {
  const std::size_t nh = std::size_t(blocks) * qp_.block_vars;
  const std::size_t mh = std::size_t(blocks) * qp_.block_rows;
  if (warm.x.size() != nh) return false;
  if (warm.z.size() == mh && warm.y.size() == mh) return true;
  return warm.z.empty() && warm.y.empty() && warm.device && device_copy_fits(*warm.device) &&
         warm.device->blocks >= blocks && warm.device_lane >= 0 &&
         warm.device_lane < warm.device->batch;
}

bool ExpertAdmm::device_copy_fits(const AdmmDeviceIterates& d) const {
  return d.n == qp_.block_vars && d.m == qp_.block_rows;
}

AdmmIterate ExpertAdmm::leading_blocks(const AdmmIterate& it, int blocks) const {
  const std::size_t n = qp_.block_vars, m = qp_.block_rows;
  const std::size_t nh = blocks * n, mh = blocks * m;
  // A start from another QP (other devices, another number of inverter facets) would be
  // read with this one's layout.
  const bool host_fits =
      it.x.size() % n == 0 && it.z.size() == it.x.size() / n * m && it.y.size() == it.z.size();
  const bool device_fits = it.z.empty() && it.y.empty() && it.device &&
                           device_copy_fits(*it.device) && it.x.size() % n == 0 &&
                           it.x.size() / n <= std::size_t(it.device->blocks);
  if (!host_fits && !device_fits)
    throw Error("expert: a warm start (" + std::to_string(it.x.size()) + " x, " +
                std::to_string(it.z.size()) + " z values" + (it.device ? ", on the device" : "") +
                ") is not an iterate of this QP (" + std::to_string(n) + " variables and " +
                std::to_string(m) + " rows per block)");
  if (it.x.size() < nh)
    throw Error("expert: a warm start of " + std::to_string(it.x.size() / n) +
                " blocks cannot start a horizon of " + std::to_string(blocks));
  AdmmIterate out;
  out.x.assign(it.x.begin(), it.x.begin() + nh);
  if (host_fits) {
    out.z.assign(it.z.begin(), it.z.begin() + mh);
    out.y.assign(it.y.begin(), it.y.begin() + mh);
  } else {  // on the device: the lane's leading elements are the leading blocks
    out.device = it.device;
    out.device_lane = it.device_lane;
  }
  out.rho_level = it.rho_level;
  return out;
}

int ExpertAdmm::initial_rho_level(int blocks, const std::vector<const AdmmIterate*>& lanes) const {
  double sum = 0;
  int count = 0;
  for (const AdmmIterate* it : lanes)
    if (warm_start_fits(blocks, *it)) sum += it->rho_level, ++count;
  if (count == 0) return 0;
  const long level = std::lround(sum / count);
  return static_cast<int>(std::min<long>(std::max<long>(level, kRhoLevelMin), kRhoLevelMax));
}

double ExpertAdmm::objective(int blocks, const double* x) const {
  const int n = qp_.block_vars, nh = blocks * n;
  double obj = qp_.constant_per_step_cny * blocks;
  for (int i = 0; i < nh; ++i) obj += 0.5 * qp_.p_diag[i % n] * x[i] * x[i] + qp_.q[i] * x[i];
  return obj;
}

double ExpertAdmm::store_lane(int blocks, const AdmmSharedBounds& shared, double rho_scale,
                              Strided<double> x, Strided<double> w, Strided<double> lo,
                              Strided<double> hi, AdmmIterate& out) const {
  out.x.resize(std::size_t(blocks) * qp_.block_vars);
  out.z.resize(std::size_t(blocks) * qp_.block_rows);
  out.y.resize(out.z.size());
  out.device.reset();
  out.device_lane = -1;
  AdmmRowsView rows = rows_view();
  rows.bounds = shared.view();
  admm_unscale_lane(rows, blocks, rho_scale, x, w, lo, hi, Strided<double>{out.x.data(), 1},
                    Strided<double>{out.z.data(), 1}, Strided<double>{out.y.data(), 1});
  return objective(blocks, out.x.data());
}

void fetch_iterate_duals(AdmmIterate& it) {
  if (!it.device || !it.z.empty() || it.device_lane < 0) return;
  const AdmmDeviceIterates& d = *it.device;
  const std::size_t blocks = it.x.size() / d.n;
  if (it.x.size() != blocks * d.n || blocks > std::size_t(d.blocks) || it.device_lane >= d.batch)
    throw Error("expert: an iterate's x (" + std::to_string(it.x.size()) +
                " values) does not match its device copy (" + std::to_string(d.blocks) +
                " blocks of " + std::to_string(d.n) + ")");
#if defined(P2P_HAVE_CUDA)
  // The lane's leading mh elements, gathered on the device (one lane of a batch is strided).
  const std::size_t mh = blocks * d.m;
  DeviceBuffer<double> lane(Backend::kCuda, std::max<std::size_t>(2 * mh, 1));
  detail::cuda_strided_gather(d.z.data() + it.device_lane, d.batch, int(mh), lane.data());
  detail::cuda_strided_gather(d.y.data() + it.device_lane, d.batch, int(mh), lane.data() + mh);
  std::vector<double> host(2 * mh);
  lane.copy_to_host(host.data(), host.size());
  it.z.assign(host.begin(), host.begin() + mh);
  it.y.assign(host.begin() + mh, host.end());
#else
  throw Error("expert: an iterate on the device in a build without the CUDA backend");
#endif
}

namespace detail {

SolveStatus admm_lane_status(const AdmmSettings& s, const AdmmLaneStats& st) {
  const bool prim_ok = st.prim <= s.eps_abs + s.eps_rel * std::max(st.ax, st.zn);
  const bool dual_ok = st.dual <= s.eps_abs + s.eps_rel * std::max({st.px, st.aty, st.qn});
  if (prim_ok && dual_ok) return SolveStatus::kSolved;
  // Primal infeasibility certificate: dy with A'dy ~ 0 and u'dy+ + l'dy- < 0.
  const double eps = s.eps_primal_infeasible;
  if (st.dy_norm > 1e-12 && st.support < -eps * st.dy_norm && st.atdy <= eps * st.dy_norm)
    return SolveStatus::kPrimalInfeasible;
  return SolveStatus::kMaxIterations;
}

bool admm_log_ratio(const AdmmLaneStats& st, double* log_ratio) {
  const double rel_prim = st.prim / std::max({st.ax, st.zn, 1e-12});
  const double rel_dual = st.dual / std::max({st.px, st.aty, st.qn, 1e-12});
  if (!(rel_prim > 0 && rel_dual > 0)) return false;
  *log_ratio = 0.5 * std::log(rel_prim / rel_dual);
  return true;
}

int admm_next_rho_level(const AdmmSettings& s, int level, double mean_log_ratio) {
  if (!std::isfinite(mean_log_ratio)) return level;  // a residual under- or overflowed
  const double factor = std::exp(mean_log_ratio);    // geometric mean over the group's lanes
  if (factor <= s.adaptive_rho_tolerance && factor >= 1.0 / s.adaptive_rho_tolerance) return level;
  const long step = std::lround(std::log2(factor));
  return static_cast<int>(std::min<long>(std::max<long>(level + step, kRhoLevelMin), kRhoLevelMax));
}

}  // namespace detail

std::vector<AdmmInfo> ExpertAdmm::solve(int blocks, const std::vector<std::vector<double>>& l,
                                        const std::vector<std::vector<double>>& u,
                                        std::vector<AdmmIterate>& iterates) const {
  NvtxRange range("expert.admm");
  const int count = static_cast<int>(l.size());
  if (blocks < 1 || blocks > qp_.steps) throw Error("expert: horizon out of range");
  if (u.size() != l.size()) throw Error("expert: bounds l and u differ in count");
  const std::size_t mh = std::size_t(blocks) * qp_.block_rows;
  for (int e = 0; e < count; ++e)
    if (l[e].size() != mh || u[e].size() != mh)
      throw Error("expert: bounds of env " + std::to_string(e) + " have the wrong size");
  iterates.resize(count);
  if (settings_.backend == Backend::kCuda) {
#if defined(P2P_HAVE_CUDA)
    std::lock_guard<std::mutex> lock(cuda_mutex_);  // one solve at a time owns the device state
    return detail::admm_solve_cuda(*this, cuda_, blocks, l, u, iterates);
#else
    throw Error("expert: this binary was built without the CUDA backend (use --backend cpu)");
#endif
  }
  // Starts that a CUDA solve left on the device are read on the host here.
  for (AdmmIterate& it : iterates) fetch_iterate_duals(it);
  return solve_cpu(blocks, l, u, iterates);
}

std::vector<AdmmInfo> ExpertAdmm::solve(int blocks, AdmmDeviceBounds bounds,
                                        std::vector<AdmmIterate>& iterates) const {
  NvtxRange range("expert.admm");
  if (blocks < 1 || blocks > qp_.steps) throw Error("expert: horizon out of range");
  const std::size_t len = std::size_t(blocks) * qp_.block_rows * bounds.batch;
  if (bounds.l.size() != len || bounds.u.size() != len)
    throw Error("expert: device bounds of " + std::to_string(bounds.batch) +
                " envs have the wrong size");
  if (settings_.backend != Backend::kCuda || bounds.l.backend() != Backend::kCuda)
    throw Error("expert: bounds on the device need the CUDA backend");
  iterates.resize(bounds.batch);
#if defined(P2P_HAVE_CUDA)
  std::lock_guard<std::mutex> lock(cuda_mutex_);
  return detail::admm_solve_cuda(*this, cuda_, blocks, std::move(bounds), iterates);
#else
  throw Error("expert: this binary was built without the CUDA backend (use --backend cpu)");
#endif
}

std::vector<AdmmInfo> ExpertAdmm::solve_cpu(int blocks, const std::vector<std::vector<double>>& l,
                                            const std::vector<std::vector<double>>& u,
                                            std::vector<AdmmIterate>& iterates) const {
  const int count = static_cast<int>(l.size());
  std::vector<AdmmInfo> info(count);
  // The batch is cut into chunks of settings.chunk_envs envs; a chunk is solved by one group
  // of kAdmmGroup lanes that takes the chunk's next env as soon as one of its envs terminates,
  // so it costs about the mean iterations of its envs rather than the largest. Chunks run in
  // parallel; the result does not depend on the thread count.
  const int chunk = settings_.chunk_envs;
  const int chunks = (count + chunk - 1) / chunk;
  const int threads = cpu_threads(settings_.threads);
  const AdmmSharedBounds shared = share_bounds(blocks, l, u);
  std::exception_ptr error;  // e.g. a factorization that fails: rethrown outside the region
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int c = 0; c < chunks; ++c) try {
      const int first = c * chunk;
      const int envs = std::min(chunk, count - first);
      // A chunk of fewer envs than kAdmmGroup (a DSO re-solve of a few plans, a batch's last
      // chunk) takes a narrower group: the same decisions and arithmetic lane by lane, for a
      // fraction of the work.
      if (envs == 1)
        solve_lanes<1>(blocks, first, envs, shared, l, u, iterates, info);
      else if (envs <= 4)
        solve_lanes<4>(blocks, first, envs, shared, l, u, iterates, info);
      else
        solve_lanes<kAdmmGroup>(blocks, first, envs, shared, l, u, iterates, info);
    } catch (...) {
#pragma omp critical(p2pgrid_admm_error)
      if (!error) error = std::current_exception();
    }
  if (error) std::rethrow_exception(error);
  return info;
}

namespace {

// The CPU work of a group of lanes (an iteration, a check's products and statistics), compiled
// once per instruction set that g++ can target and picked at load time (GNU ifunc): the
// AVX-512 build runs a batch 1.35x faster than the x86-64 baseline's SSE2
// (docs/performance.md), with the same arithmetic (no contraction in this file, lane-wise
// operations), so plans are bit-identical on every machine.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define P2P_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define P2P_ISA_CLONES
#endif

template <int G>
P2P_ISA_CLONES void group_iteration(const AdmmRowsView& rows, const FactorView& f, int blocks,
                                    double rho_scale, double sigma, double alpha, LanePack<G>* x,
                                    LanePack<G>* xt, LanePack<G>* w, LanePack<G>* lo,
                                    LanePack<G>* hi, LanePack<G>* w_prev, LanePack<G>* rhs,
                                    LanePack<G>* tree, bool save_w) {
  admm_iteration(rows, f, blocks, rho_scale, sigma, alpha, x, xt, w, lo, hi, w_prev, rhs, tree,
                 save_w);
}

template <int G>
P2P_ISA_CLONES void group_rhs(const AdmmRowsView& rows, int blocks, double rho_scale, double sigma,
                              double w_scale, LanePack<G>* x, LanePack<G>* w, LanePack<G>* lo,
                              LanePack<G>* hi, LanePack<G>* rhs, LanePack<G>* tree) {
  admm_rhs(rows, blocks, rho_scale, sigma, w_scale, x, w, lo, hi, rhs, tree);
}

template <int G>
P2P_ISA_CLONES void group_check_products(const AdmmRowsView& rows, int blocks, double rho_scale,
                                         LanePack<G>* x, LanePack<G>* w, LanePack<G>* w_prev,
                                         LanePack<G>* lo, LanePack<G>* hi, LanePack<G>* ax,
                                         LanePack<G>* aty, LanePack<G>* atdy, LanePack<G>* tree) {
  admm_check_products(rows, blocks, rho_scale, x, w, w_prev, lo, hi, ax, aty, atdy, tree);
}

template <int G>
P2P_ISA_CLONES void group_anderson_record(int len, int memory, int slot, LanePack<G>* w,
                                          LanePack<G>* hist, LanePackF<G>* histf,
                                          AndersonSums<LanePack<G>>& sums) {
  anderson_record(len, memory, slot, w, hist, histf, sums);
}

template <int G>
P2P_ISA_CLONES void group_anderson_step(int len, int memory, int slot, const LanePack<G>* gamma,
                                        const bool* use, const LanePack<G>& revert, LanePack<G>* w,
                                        LanePack<G>* hist, LanePackF<G>* histf) {
  anderson_step(len, memory, slot, gamma, use, revert, w, hist, histf);
}

/// The statistics of every lane of the group in one pass over its vectors.
template <int G>
P2P_ISA_CLONES void group_lane_stats(const AdmmRowsView& rows, int blocks, double rho_scale,
                                     const LanePack<G>* x, const LanePack<G>* w,
                                     const LanePack<G>* w_prev, const LanePack<G>* lo,
                                     const LanePack<G>* hi, const LanePack<G>* ax,
                                     const LanePack<G>* aty, const LanePack<G>* atdy,
                                     AdmmLaneStats* stats) {
  admm_lane_stats(rows, blocks, rho_scale, kInfinity, x, w, w_prev, lo, hi, ax, aty, atdy, stats);
}

}  // namespace

template <int G>
void ExpertAdmm::solve_lanes(int blocks, int first, int count, const AdmmSharedBounds& shared,
                             const std::vector<std::vector<double>>& bl,
                             const std::vector<std::vector<double>>& bu,
                             std::vector<AdmmIterate>& iterates,
                             std::vector<AdmmInfo>& info) const {
  const int n = qp_.block_vars, m = qp_.block_rows;
  const std::size_t nh = std::size_t(blocks) * n, mh = std::size_t(blocks) * m;
  const AdmmSettings& s = settings_;
  // The group always has G lanes (a compile-time width the compiler vectorizes); an empty lane
  // (env -1) repeats whatever it last held and is ignored.
  using Pack = LanePack<G>;
  const std::size_t lh = std::max<std::size_t>(std::size_t(blocks) * shared.lane_rows, 1);
  std::vector<Pack> x(nh), xt(nh), w(mh), w_prev(mh), lo(lh), hi(lh), ax(mh), aty(nh), atdy(nh),
      rhs(nh), tree(4 * std::size_t(tree_nodes_));
  auto lane = [](std::vector<Pack>& v, int g) {
    return Strided<double>{reinterpret_cast<double*>(v.data()) + g, G};
  };
  // The group starts at the rho level of its first envs' warm starts; a lane's w depends on it.
  std::vector<const AdmmIterate*> starts;
  for (int e = first; e < first + std::min(G, count); ++e) starts.push_back(&iterates[e]);
  int level = initial_rho_level(blocks, starts), last_rho_update = 0;
  std::vector<int> env(G, -1), lane_iter(G, 0);
  int next = first;  // the chunk's next env
  // Anderson acceleration (anderson.hpp): the lanes' histories, their scalar states, and the
  // group's points so far (the slots rotate with them).
  const int aa_memory = s.anderson_memory;
  std::vector<Pack> hist(aa_memory > 0 ? 2 * mh : 0);
  std::vector<LanePackF<G>> histf(aa_memory > 0 ? (1 + 2 * std::size_t(aa_memory)) * mh : 0);
  std::vector<AndersonLane> aa_lane(G);
  int aa_points = 0;
  auto load = [&](int g) {  // the chunk's next env into lane g (or leave it empty)
    env[g] = next < first + count ? next++ : -1;
    lane_iter[g] = 0;
    if (env[g] < 0) return;
    const int e = env[g];
    load_lane(blocks, shared, rho_scale_of_level(level), bl[e], bu[e], iterates[e], lane(lo, g),
              lane(hi, g), lane(x, g), lane(w, g));
    if (aa_memory > 0) {
      anderson_restart(int(mh), aa_memory, lane(w, g), lane(hist, g),
                       Strided<float>{reinterpret_cast<float*>(histf.data()) + g, G});
      aa_lane[g] = AndersonLane{};
      aa_lane[g].points = 1;
    }
  };
  for (int g = 0; g < G; ++g) {
    load(g);
    if (env[g] < 0)  // lanes the chunk cannot fill hold a cold start of its first env
      load_lane(blocks, shared, rho_scale_of_level(level), bl[first], bu[first], AdmmIterate{},
                lane(lo, g), lane(hi, g), lane(x, g), lane(w, g));
  }
  AdmmRowsView rows = rows_view();
  rows.bounds = shared.view();
  std::shared_ptr<const BlockTridiagonalCholesky> kkt = factor_at(level);
  // The iterations keep the next rhs up to date; a new start or a new rho needs it afresh (the
  // same arithmetic, so a lane's iterates do not depend on its neighbours' refills). A new rho
  // rescales w (w_scale = rho_old / rho_new) so that every lane keeps its y.
  auto refresh_rhs = [&](double w_scale) {
    group_rhs(rows, blocks, rho_scale_of_level(level), s.sigma, w_scale, x.data(), w.data(),
              lo.data(), hi.data(), rhs.data(), tree.data());
  };
  refresh_rhs(1.0);
  auto finish = [&](int g, SolveStatus status) {  // a lane's result is taken when it terminates
    const int e = env[g];
    AdmmInfo& inf = info[e];
    inf.status = status;
    inf.iterations = lane_iter[g];
    inf.objective_cny = store_lane(blocks, shared, rho_scale_of_level(level), lane(x, g),
                                   lane(w, g), lane(lo, g), lane(hi, g), iterates[e]);
    iterates[e].rho_level = level;
    load(g);
  };
  // One Anderson point of the group: every running lane past its start takes a step (or
  // none, by its own history); lanes refilled at this iteration keep their new start. True if
  // some lane's w moved.
  auto anderson_point = [&] {
    const int slot = aa_points++ % aa_memory;
    AndersonSums<Pack> sums;
    group_anderson_record(int(mh), aa_memory, slot, w.data(), hist.data(), histf.data(), sums);
    Pack gamma[kAndersonMaxMemory] = {}, revert = {};
    bool use[kAndersonMaxMemory] = {}, moved = false;
    for (int g = 0; g < G; ++g) {
      if (env[g] < 0 || lane_iter[g] == 0) continue;
      double f_df[kAndersonMaxMemory], df_dfnew[kAndersonMaxMemory], lane_gamma[kAndersonMaxMemory];
      for (int k = 0; k < aa_memory; ++k) {
        f_df[k] = lane_value(sums.f_df[k], g);
        df_dfnew[k] = lane_value(sums.df_dfnew[k], g);
      }
      if (anderson_coefficients(aa_lane[g], aa_memory, slot, lane_value(sums.ff, g), f_df, df_dfnew,
                                lane_gamma))
        revert.v[g] = 1, moved = true;
      for (int k = 0; k < aa_memory; ++k) {
        gamma[k].v[g] = lane_gamma[k];
        use[k] |= lane_gamma[k] != 0;
        moved |= lane_gamma[k] != 0;
      }
    }
    group_anderson_step(int(mh), aa_memory, slot, gamma, use, revert, w.data(), hist.data(),
                        histf.data());
    return moved;
  };
  auto running = [&] {
    for (int g = 0; g < G; ++g)
      if (env[g] >= 0) return true;
    return false;
  };
  // A lane is judged at its own iterations check_every, 2 check_every, ... and max_iterations
  // (as if it were alone); the group computes the residual products when any lane is due.
  auto due = [&](int g) {
    return lane_iter[g] % s.check_every == 0 || lane_iter[g] == s.max_iterations;
  };
  for (int iter = 1; running(); ++iter) {
    bool check = false;
    for (int g = 0; g < G; ++g) {
      if (env[g] < 0) continue;
      ++lane_iter[g];
      check |= due(g);
    }
    group_iteration(rows, kkt->view(), blocks, rho_scale_of_level(level), s.sigma, s.alpha,
                    x.data(), xt.data(), w.data(), lo.data(), hi.data(), w_prev.data(), rhs.data(),
                    tree.data(), check);
    // Every lane's points are at this group's iterations (the interval divides check_every):
    // after the checks, which take their statistics from plain iterates.
    const bool aa_point = aa_memory > 0 && iter % s.anderson_interval == 0;
    if (!check) {
      if (aa_point && anderson_point()) refresh_rhs(1.0);
      continue;
    }
    group_check_products(rows, blocks, rho_scale_of_level(level), x.data(), w.data(), w_prev.data(),
                         lo.data(), hi.data(), ax.data(), aty.data(), atdy.data(), tree.data());
    double log_ratio_sum = 0;
    int ratio_count = 0;
    bool changed = false;  // a lane refilled, extrapolated or rho moved: the rhs is recomputed
    double w_scale = 1.0;
    AdmmLaneStats stats[G];
    group_lane_stats(rows, blocks, rho_scale_of_level(level), x.data(), w.data(), w_prev.data(),
                     lo.data(), hi.data(), ax.data(), aty.data(), atdy.data(), stats);
    for (int g = 0; g < G; ++g) {
      if (env[g] < 0 || !due(g)) continue;
      const AdmmLaneStats& st = stats[g];
      AdmmInfo& inf = info[env[g]];
      inf.primal_residual = st.prim;
      inf.dual_residual = st.dual;
      double log_ratio = 0;
      if (detail::admm_log_ratio(st, &log_ratio)) log_ratio_sum += log_ratio, ++ratio_count;
      const SolveStatus status = detail::admm_lane_status(s, st);
      if (status != SolveStatus::kMaxIterations || lane_iter[g] >= s.max_iterations) {
        finish(g, status);  // and the lane takes the chunk's next env, if any
        changed |= env[g] >= 0;
      }
    }
    if (aa_point) changed |= anderson_point();
    int still_running = 0;
    for (int g = 0; g < G; ++g) still_running += env[g] >= 0;
    if (s.adaptive_rho && ratio_count > 0 && still_running > 0 &&
        iter - last_rho_update >= s.adaptive_rho_interval) {
      const int next = detail::admm_next_rho_level(s, level, log_ratio_sum / ratio_count);
      if (next != level) {
        w_scale = rho_scale_of_level(level) / rho_scale_of_level(next);
        level = next;
        kkt = factor_at(level);
        last_rho_update = iter;
        for (AndersonLane& a : aa_lane) a.points = 0;  // w is rescaled: histories restart
        changed = true;
      }
    }
    if (changed) refresh_rhs(w_scale);
  }
}

}  // namespace p2pgrid
