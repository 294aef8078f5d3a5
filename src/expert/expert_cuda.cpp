// The CUDA expert's bounds (expert.hpp, detail::expert_bounds_cuda): the tables of
// expert_bounds.hpp mirrored on the device once, each plan's per-env inputs (day, state, the
// voltage offsets of the envs that have their own) uploaded, and every env's bounds computed
// where the ADMM reads them, so that no env's bounds pass through the host.
#if defined(P2P_HAVE_CUDA)

#include <cstddef>
#include <memory>
#include <vector>

#include "p2pgrid/core/device_mirror.hpp"
#include "p2pgrid/core/nvtx.hpp"
#include "p2pgrid/expert/admm_cuda.hpp"
#include "p2pgrid/expert/expert.hpp"

namespace p2pgrid::detail {

struct ExpertCudaState {
  explicit ExpertCudaState(const ExpertBoundsView& host) : tables(host) {
    const int m = host.rows;
    const std::size_t profile = std::size_t(host.days) * host.steps;
    device.mirror(tables.profile, m);
    device.mirror(tables.lo_const, m);
    device.mirror(tables.lo_coef, m);
    device.mirror(tables.hi_const, m);
    device.mirror(tables.hi_coef, m);
    device.mirror(tables.hi_cap, m);
    device.mirror(tables.state, m);
    device.mirror(tables.state_unit, m);
    device.mirror(tables.state_coef, m);
    device.mirror(tables.bus, host.bus_ptr[m]);  // read the count before bus_ptr is mirrored
    device.mirror(tables.bus_ptr, m + 1);
    device.mirror(tables.load_pu, profile);
    device.mirror(tables.pv_cf, profile);
    device.mirror(tables.wind_cf, profile);
    device.mirror(tables.load_voltage_drop_pu, host.buses);
  }
  ExpertBoundsView tables;  // device pointers
  DeviceMirror device;
};

AdmmDeviceBounds expert_bounds_cuda(std::shared_ptr<ExpertCudaState>& state,
                                    const ExpertBoundsView& tables, const ExpertEnvData* envs,
                                    int count, int blocks) {
  NvtxRange range("expert.bounds_cuda");
  if (!state) state = std::make_shared<ExpertCudaState>(tables);
  const int B = count, units = tables.units;
  const std::size_t offset_len = std::size_t(tables.steps) * tables.buses;
  std::vector<int> day(B);
  std::vector<double> p_prev(std::size_t(B) * units), soc(p_prev.size()), offsets;
  std::vector<long long> offset_at(B, -1);
  for (int e = 0; e < B; ++e) {  // the data was checked by the caller (check_expert_env_data)
    const ExpertEnvData& d = envs[e];
    day[e] = d.day;
    std::copy_n(d.unit_p_prev_kw.data(), units, p_prev.data() + std::size_t(e) * units);
    std::copy_n(d.unit_soc_kwh.data(), units, soc.data() + std::size_t(e) * units);
    if (d.v_offset_pu.size() == offset_len) {
      offset_at[e] = static_cast<long long>(offsets.size());
      offsets.insert(offsets.end(), d.v_offset_pu.begin(), d.v_offset_pu.end());
    }
  }
  const DeviceBuffer<int> d_day = upload(day);
  const DeviceBuffer<double> d_p_prev = upload(p_prev), d_soc = upload(soc),
                             d_offsets = upload(offsets);
  const DeviceBuffer<long long> d_offset_at = upload(offset_at);
  AdmmDeviceBounds out;
  out.batch = B;
  const std::size_t len = std::size_t(blocks) * tables.rows * B;
  out.l = DeviceBuffer<double>(Backend::kCuda, len);
  out.u = DeviceBuffer<double>(Backend::kCuda, len);
  cuda_expert_bounds(state->tables, B, blocks, d_day.data(), d_p_prev.data(), d_soc.data(),
                     d_offsets.data(), d_offset_at.data(), out.l.data(), out.u.data());
  backend_synchronize(Backend::kCuda);  // before the inputs are released
  return out;
}

}  // namespace p2pgrid::detail

#endif  // P2P_HAVE_CUDA
