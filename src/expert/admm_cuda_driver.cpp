// The CUDA solve of the expert's ADMM (admm.hpp): device copies of the rows and of every rho
// level's factor, the batch's vectors in lane-major device buffers, and between checks the same
// host decisions as the CPU solve (admm_lane_status, admm_next_rho_level per kAdmmGroup envs).
// Starts are read from, and results left in, device copies of the iterates
// (AdmmDeviceIterates); only the lanes' own bounds go up and only x comes down.
#if defined(P2P_HAVE_CUDA)

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "p2pgrid/core/device_mirror.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/nvtx.hpp"
#include "p2pgrid/core/threads.hpp"
#include "p2pgrid/expert/admm.hpp"
#include "p2pgrid/expert/admm_cuda.hpp"

namespace p2pgrid::detail {

struct AdmmCudaState {
  struct Level {
    std::shared_ptr<const BlockTridiagonalCholesky> host;
    DeviceMirror device;
  };
  static constexpr int kLevels = kRhoLevelMax - kRhoLevelMin + 1;

  explicit AdmmCudaState(const ExpertAdmm& admm) : admm(admm), rows(admm.rows_view()) {
    const int m = rows.m, n = rows.n, steps = admm.qp().steps;
    const int self_nnz = rows.self_ptr[m], prev_nnz = rows.prev_ptr[m];  // read before mirroring
    device.mirror(rows.self_ptr, m + 1);
    device.mirror(rows.self_cols, self_nnz);
    device.mirror(rows.self_vals, self_nnz);
    device.mirror(rows.prev_ptr, m + 1);
    device.mirror(rows.prev_cols, prev_nnz);
    device.mirror(rows.prev_vals, prev_nnz);
    device.mirror(rows.rho, m);
    device.mirror(rows.p_diag, n);
    device.mirror(rows.q, std::size_t(steps) * n);
    device.mirror(rows.e, m);
    device.mirror(rows.d, n);
    device.mirror(rows.row_node, m);
    AdmmTreeView& t = rows.tree;
    device.mirror(t.parent, t.nodes);
    device.mirror(t.r, t.nodes);
    device.mirror(t.x, t.nodes);
    device.mirror(t.agent_node, t.agents);
    device.mirror(t.p_col, t.agents);
    device.mirror(t.q_col, t.agents);
    device.mirror(t.p_scale, t.agents);
    device.mirror(t.q_scale, t.agents);
    host_views.assign(kLevels, FactorView{});
    views = DeviceBuffer<FactorView>(Backend::kCuda, kLevels);
  }

  /// Uploads the factor of a rho level once.
  void ensure_level(int level) {
    if (levels.count(level)) return;
    Level l;  // into the cache only once every upload has succeeded
    l.host = admm.factor_at(level);
    const BlockTridiagonalCholesky::Arrays& a = l.host->arrays();
    FactorView v = l.host->view();
    l.device.mirror(v.link_rows, a.link_rows.size());
    l.device.mirror(v.diag_ptr, a.diag_ptr.size());
    l.device.mirror(v.diag_cols, a.diag_cols.size());
    l.device.mirror(v.diag_vals, a.diag_vals.size());
    l.device.mirror(v.inv_diag, a.inv_diag.size());
    l.device.mirror(v.sub_ptr, a.sub_ptr.size());
    l.device.mirror(v.sub_cols, a.sub_cols.size());
    l.device.mirror(v.sub_vals, a.sub_vals.size());
    std::vector<FactorView> table = host_views;
    table[level - kRhoLevelMin] = v;
    views.copy_from_host(table.data(), table.size());
    host_views = std::move(table);
    levels.emplace(level, std::move(l));
  }

  const ExpertAdmm& admm;
  DeviceMirror device;  // the rows' arrays
  AdmmRowsView rows;    // device pointers
  std::map<int, Level> levels;
  std::vector<FactorView> host_views;  // [kLevels] device pointers, null where not uploaded
  DeviceBuffer<FactorView> views;
};

namespace {

/// A solve's bounds as the kernels read them: the split into the table of the rows every env
/// shares and the lanes' own rows (host and device copies of the table), and on the device the
/// lanes' rows lo, hi [blocks * lane_rows, B] (scaled).
struct LaneBounds {
  AdmmSharedBounds shared;
  DeviceBuffer<int> slot;
  DeviceBuffer<double> table_lo, table_hi, lo, hi;
  /// The view of AdmmRowsView::bounds (device pointers).
  AdmmBoundsView view() const {
    return AdmmBoundsView{shared.lane_rows, slot.data(), table_lo.data(), table_hi.data()};
  }
  void upload_table() {
    slot = upload(shared.slot);
    table_lo = upload(shared.lo);
    table_hi = upload(shared.hi);
  }
};

/// From host bounds ([env][blocks * m], unscaled): split on the host, the lanes' rows staged
/// env-major and transposed on the device.
LaneBounds lane_bounds_from_host(const ExpertAdmm& admm, int blocks,
                                 const std::vector<std::vector<double>>& l,
                                 const std::vector<std::vector<double>>& u, int threads) {
  NvtxRange range("expert.admm_cuda.bounds");
  const int B = static_cast<int>(l.size());
  LaneBounds b;
  b.shared = admm.share_bounds(blocks, l, u);
  b.upload_table();
  const int lh = blocks * b.shared.lane_rows;
  const std::size_t lb = std::max<std::size_t>(std::size_t(lh) * B, 1);
  b.lo = DeviceBuffer<double>(Backend::kCuda, lb);
  b.hi = DeviceBuffer<double>(Backend::kCuda, lb);
  if (lh == 0 || B == 0) return b;  // every bound shared: no lane bounds
  std::vector<double> h_lo(lb), h_hi(lb);
  // lane_bounds only writes into vectors sized above: nothing in this loop throws.
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int e = 0; e < B; ++e)
    admm.lane_bounds(blocks, b.shared, l[e], u[e], {h_lo.data() + std::size_t(e) * lh, 1},
                     {h_hi.data() + std::size_t(e) * lh, 1});
  DeviceBuffer<double> staging(Backend::kCuda, lb);
  for (auto [h, dst] : {std::make_pair(&h_lo, &b.lo), std::make_pair(&h_hi, &b.hi)}) {
    staging.copy_from_host(h->data(), lb);
    cuda_transpose(staging.data(), dst->data(), B, lh);
  }
  backend_synchronize(Backend::kCuda);  // before the staging buffer is released
  return b;
}

/// From bounds on the device: the same split (a row is shared if every env's every block
/// equals env 0's first block) found by a kernel, then the lanes' rows taken out; only the
/// split (m flags) and env 0's first block (2 m values) come to the host.
LaneBounds lane_bounds_from_device(const ExpertAdmm& admm, const AdmmRowsView& device_rows,
                                   int blocks, AdmmDeviceBounds& d) {
  NvtxRange range("expert.admm_cuda.bounds");
  const auto cuda = Backend::kCuda;
  const int B = d.batch, m = admm.qp().block_rows;
  DeviceBuffer<int> differs(cuda, m);
  differs.zero();
  cuda_bounds_differ(d.l.data(), d.u.data(), B, blocks * m, m, differs.data());
  DeviceBuffer<double> first(cuda, 2 * std::size_t(m));  // env 0's first block: l, then u
  cuda_strided_gather(d.l.data(), B, m, first.data());
  cuda_strided_gather(d.u.data(), B, m, first.data() + m);
  std::vector<int> h_differs(m);
  std::vector<double> h_first(2 * std::size_t(m));
  differs.copy_to_host(h_differs.data(), m);
  first.copy_to_host(h_first.data(), h_first.size());
  std::vector<char> same(m);
  for (int r = 0; r < m; ++r) same[r] = B > 0 && h_differs[r] == 0;
  LaneBounds b;
  b.shared = admm.shared_bounds(same, h_first.data(), h_first.data() + m);
  b.upload_table();
  const std::size_t lb = std::max<std::size_t>(std::size_t(blocks) * b.shared.lane_rows * B, 1);
  b.lo = DeviceBuffer<double>(cuda, lb);
  b.hi = DeviceBuffer<double>(cuda, lb);
  AdmmRowsView rows = device_rows;
  rows.bounds = b.view();
  cuda_admm_lane_bounds(rows, B, blocks, kInfinity, d.l.data(), d.u.data(), b.lo.data(),
                        b.hi.data());
  backend_synchronize(cuda);
  d.l.reset();  // the full bounds are not needed any more
  d.u.reset();
  return b;
}

/// The solve of B envs whose bounds are on the device.
std::vector<AdmmInfo> solve_on_device(const ExpertAdmm& admm, AdmmCudaState& state, int blocks,
                                      int B, LaneBounds bounds,
                                      std::vector<AdmmIterate>& iterates) {
  const AdmmSettings& s = admm.settings();
  std::vector<AdmmInfo> info(B);
  if (B == 0) return info;
  const int nh = blocks * admm.qp().block_vars, mh = blocks * admm.qp().block_rows;
  const int threads = cpu_threads(s.threads);
  const auto cuda = Backend::kCuda;
  // The bounds every env shares are one table; the lanes hold the rest.
  AdmmRowsView rows = state.rows;
  rows.bounds = bounds.view();
  const std::size_t nb = std::size_t(nh) * B, mb = std::size_t(mh) * B;
  // ax [blocks * m, B] doubles as the staging buffer of the transposes (sized for all).
  DeviceBuffer<double> x(cuda, nb), xt(cuda, nb), rhs(cuda, nb), atdy(cuda, nb), w(cuda, mb),
      w_prev(cuda, mb), ax(cuda, std::max(nb, mb)),
      tree(cuda, std::max<std::size_t>(4 * std::size_t(state.rows.tree.nodes) * B, 1));
  const AdmmLaneVectors v{x.data(),      xt.data(),        rhs.data(),       w.data(),
                          w_prev.data(), bounds.lo.data(), bounds.hi.data(), ax.data(),
                          atdy.data(),   tree.data()};
  // Each group of kAdmmGroup envs starts at the rho level of its warm starts (a lane's w
  // depends on it).
  const int groups = (B + kAdmmGroup - 1) / kAdmmGroup;
  std::vector<int> level(groups, 0), last_update(groups, 0);
  for (int g = 0; g < groups; ++g) {
    std::vector<const AdmmIterate*> starts;
    for (int e = g * kAdmmGroup; e < std::min(B, (g + 1) * kAdmmGroup); ++e)
      starts.push_back(&iterates[e]);
    level[g] = admm.initial_rho_level(blocks, starts);
    state.ensure_level(level[g]);
  }
  {  // Starts: from the device copies of the solves they come from (AdmmDeviceIterates), from
     // host iterates staged into one such copy, or cold; x~ and w computed on the device.
    NvtxRange start("expert.admm_cuda.start");
    std::vector<AdmmWarmSource> sources(B);
    std::vector<int> from_host;
    for (int e = 0; e < B; ++e) {
      const AdmmIterate& it = iterates[e];
      if (!admm.warm_start_fits(blocks, it)) continue;
      if (it.z.size() == std::size_t(mh)) {
        from_host.push_back(e);
        continue;
      }
      const AdmmDeviceIterates& d = *it.device;
      sources[e] = AdmmWarmSource{d.x.data() + it.device_lane, d.z.data() + it.device_lane,
                                  d.y.data() + it.device_lane, d.batch};
    }
    const int hb = static_cast<int>(from_host.size());
    AdmmDeviceIterates staged;  // the host starts, lane-major [len, hb]
    if (hb > 0) {
      staged.blocks = blocks;
      staged.batch = hb;
      staged.n = admm.qp().block_vars;
      staged.m = admm.qp().block_rows;
      auto stage = [&](DeviceBuffer<double>& dst, int len, std::vector<double> AdmmIterate::*v) {
        std::vector<double> h(std::size_t(len) * hb);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int j = 0; j < hb; ++j)
          std::copy_n((iterates[from_host[j]].*v).data(), len, h.data() + std::size_t(j) * len);
        DeviceBuffer<double> env_major = upload(h);
        dst = DeviceBuffer<double>(cuda, h.size());
        cuda_transpose(env_major.data(), dst.data(), hb, len);
      };
      stage(staged.x, nh, &AdmmIterate::x);
      stage(staged.z, mh, &AdmmIterate::z);
      stage(staged.y, mh, &AdmmIterate::y);
      for (int j = 0; j < hb; ++j)
        sources[from_host[j]] =
            AdmmWarmSource{staged.x.data() + j, staged.z.data() + j, staged.y.data() + j, hb};
    }
    const DeviceBuffer<AdmmWarmSource> d_sources = upload(sources);
    const DeviceBuffer<int> d_start_level = upload(level);
    cuda_admm_start(rows, d_start_level.data(), d_sources.data(), B, blocks, v);
    backend_synchronize(cuda);  // before the staged copy and the tables are released
  }
  // Anderson histories (anderson.hpp), lane-major: u, g [2 * mh, B] and f and the slots
  // [(1 + 2 memory) * mh, B] in single precision. Each lane starts with u = g = w and the rest
  // 0, like a CPU lane at its load; lane states at their first point.
  const int aa_memory = s.anderson_memory;
  DeviceBuffer<double> hist(cuda, aa_memory > 0 ? 2 * mb : 1);
  DeviceBuffer<float> histf(cuda, aa_memory > 0 ? (1 + 2 * std::size_t(aa_memory)) * mb : 1);
  DeviceBuffer<AndersonLane> aa_lanes(cuda, std::max(B, 1));
  std::vector<std::uint8_t> aa_restart(groups, 0);
  DeviceBuffer<std::uint8_t> d_aa_restart(cuda, groups);
  int aa_points = 0;
  if (aa_memory > 0) {
    histf.zero();
    backend_copy(hist.data(), cuda, w.data(), cuda, mb * sizeof(double));       // u
    backend_copy(hist.data() + mb, cuda, w.data(), cuda, mb * sizeof(double));  // g
    std::vector<AndersonLane> start(B);
    for (AndersonLane& a : start) a.points = 1;
    aa_lanes.copy_from_host(start.data(), B);
  }
  std::vector<std::uint8_t> done(B, 0);
  std::vector<AdmmLaneStats> stats(B);
  DeviceBuffer<int> d_level(cuda, groups);
  DeviceBuffer<std::uint8_t> d_done(cuda, B);
  DeviceBuffer<AdmmLaneStats> d_stats(cuda, B);
  // The level each group's w was last computed at (the rhs kernel rescales w from it).
  DeviceBuffer<int> d_prev_level(cuda, groups);
  d_level.copy_from_host(level.data(), groups);
  d_prev_level.copy_from_host(level.data(), groups);
  d_done.copy_from_host(done.data(), B);
  cuda_admm_rhs(rows, d_level.data(), d_prev_level.data(), d_done.data(), B, blocks, s.sigma, v);
  int iter = 0, active = B;
  while (active > 0 && iter < s.max_iterations) {
    // Iterate up to the next check (every check_every iterations and at the last one) or the
    // next Anderson point, whichever comes first (the interval divides check_every).
    const int next_check = std::min((iter / s.check_every + 1) * s.check_every, s.max_iterations);
    const int next =
        aa_memory > 0 ? std::min(next_check, (iter / s.anderson_interval + 1) * s.anderson_interval)
                      : next_check;
    cuda_admm_iterations(rows, state.views.data(), d_level.data(), d_done.data(), B, blocks,
                         s.sigma, s.alpha, next - iter, v);
    iter = next;
    // The CPU's order: the checks on the plain iterates, the Anderson point of the lanes still
    // running, then the new rho (whose groups restart their histories at their next point).
    const bool aa_point = aa_memory > 0 && iter % s.anderson_interval == 0;
    auto anderson_point = [&] {
      d_aa_restart.copy_from_host(aa_restart.data(), groups);
      std::fill(aa_restart.begin(), aa_restart.end(), 0);
      cuda_admm_anderson(d_done.data(), d_aa_restart.data(), B, mh, aa_memory,
                         aa_points++ % aa_memory, aa_lanes.data(), w.data(), hist.data(),
                         histf.data());
    };
    if (iter != next_check) {
      anderson_point();
      cuda_admm_rhs(rows, d_level.data(), d_level.data(), d_done.data(), B, blocks, s.sigma, v);
      continue;
    }
    cuda_admm_stats(rows, d_level.data(), d_done.data(), B, blocks, kInfinity, v, d_stats.data());
    d_stats.copy_to_host(stats.data(), B);  // synchronizes
    bool rho_changed = false;  // the iterations' rhs is then recomputed with the new rho
    const std::vector<int> prev_level = level;
    for (int g = 0; g < groups; ++g) {
      double log_ratio_sum = 0;
      int ratio_count = 0, running = 0;
      for (int e = g * kAdmmGroup; e < std::min(B, (g + 1) * kAdmmGroup); ++e) {
        if (done[e]) continue;
        AdmmInfo& inf = info[e];
        inf.iterations = iter;
        inf.primal_residual = stats[e].prim;
        inf.dual_residual = stats[e].dual;
        double log_ratio = 0;
        if (admm_log_ratio(stats[e], &log_ratio)) log_ratio_sum += log_ratio, ++ratio_count;
        inf.status = admm_lane_status(s, stats[e]);
        if (inf.status != SolveStatus::kMaxIterations) {
          done[e] = 1;
          --active;
          iterates[e].rho_level = level[g];
        } else {
          ++running;
        }
      }
      // At max_iterations every env ends: no rho change (the CPU's lanes all finish there).
      if (iter >= s.max_iterations) running = 0;
      if (s.adaptive_rho && ratio_count > 0 && running > 0 &&
          iter - last_update[g] >= s.adaptive_rho_interval) {
        const int nl = admm_next_rho_level(s, level[g], log_ratio_sum / ratio_count);
        if (nl != level[g]) {
          state.ensure_level(nl);
          level[g] = nl;
          last_update[g] = iter;
          rho_changed = true;
        }
      }
    }
    d_done.copy_from_host(done.data(), B);
    // (At the iteration limit every env ends, as on the CPU: no point, no new rho.)
    const bool point_now = aa_point && active > 0 && iter < s.max_iterations;
    if (point_now) anderson_point();
    for (int g = 0; g < groups; ++g) aa_restart[g] |= level[g] != prev_level[g];
    d_level.copy_from_host(level.data(), groups);
    if (rho_changed || point_now) {
      d_prev_level.copy_from_host(prev_level.data(), groups);
      cuda_admm_rhs(rows, d_level.data(), d_prev_level.data(), d_done.data(), B, blocks, s.sigma,
                    v);
    }
  }
  for (int e = 0; e < B; ++e)
    if (!done[e]) iterates[e].rho_level = level[e / kAdmmGroup];
  {  // Frozen lanes hold their iterate at termination (w at the level they ended at): unscaled
     // on the device into the copy the next solve starts from; only x comes back to the host.
    NvtxRange store("expert.admm_cuda.store");
    auto out = std::make_shared<AdmmDeviceIterates>();
    out->blocks = blocks;
    out->batch = B;
    out->n = admm.qp().block_vars;
    out->m = admm.qp().block_rows;
    out->x = DeviceBuffer<double>(cuda, nb);
    out->z = DeviceBuffer<double>(cuda, mb);
    out->y = DeviceBuffer<double>(cuda, mb);
    std::vector<int> env_level(B);
    for (int e = 0; e < B; ++e) env_level[e] = iterates[e].rho_level;
    const DeviceBuffer<int> d_env_level = upload(env_level);
    cuda_admm_unscale(rows, d_env_level.data(), B, blocks, v, out->x.data(), out->z.data(),
                      out->y.data());
    std::vector<double> h_x(nb);
    cuda_transpose(out->x.data(), ax.data(), nh, B);
    ax.copy_to_host(h_x.data(), h_x.size());
    std::shared_ptr<const AdmmDeviceIterates> shared_out = std::move(out);
    // Allocations first, outside the parallel region (they may throw): an iterate refers to
    // the new copy only once its x is the copy's.
    for (int e = 0; e < B; ++e) iterates[e].x.resize(nh);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int e = 0; e < B; ++e) {
      AdmmIterate& it = iterates[e];
      std::copy_n(h_x.data() + std::size_t(e) * nh, nh, it.x.data());
      it.z = std::vector<double>();  // released (moves do not throw)
      it.y = std::vector<double>();
      it.device = shared_out;  // (shared_ptr copies from many threads: atomic counts)
      it.device_lane = e;
      info[e].objective_cny = admm.objective(blocks, it.x.data());
    }
  }
  return info;
}

}  // namespace

std::vector<AdmmInfo> admm_solve_cuda(const ExpertAdmm& admm, std::shared_ptr<AdmmCudaState>& state,
                                      int blocks, const std::vector<std::vector<double>>& l,
                                      const std::vector<std::vector<double>>& u,
                                      std::vector<AdmmIterate>& iterates) {
  NvtxRange range("expert.admm_cuda");
  if (!state) state = std::make_shared<AdmmCudaState>(admm);
  const int B = static_cast<int>(l.size());
  LaneBounds bounds =
      lane_bounds_from_host(admm, blocks, l, u, cpu_threads(admm.settings().threads));
  return solve_on_device(admm, *state, blocks, B, std::move(bounds), iterates);
}

std::vector<AdmmInfo> admm_solve_cuda(const ExpertAdmm& admm, std::shared_ptr<AdmmCudaState>& state,
                                      int blocks, AdmmDeviceBounds bounds,
                                      std::vector<AdmmIterate>& iterates) {
  NvtxRange range("expert.admm_cuda");
  if (!state) state = std::make_shared<AdmmCudaState>(admm);
  const int B = bounds.batch;
  if (B == 0) return {};
  LaneBounds lane = lane_bounds_from_device(admm, state->rows, blocks, bounds);
  return solve_on_device(admm, *state, blocks, B, std::move(lane), iterates);
}

}  // namespace p2pgrid::detail

#endif  // P2P_HAVE_CUDA
