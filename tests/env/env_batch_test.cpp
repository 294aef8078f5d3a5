// EnvBatch on the CPU as an RL user sees it: determinism by (seed, env index) whatever the batch
// size or thread count, auto-reset at the end of a day (final_obs, last_episode, new day from
// the split), save_state / load_state, and the observation, state and action-mask layout of
// eqs. (22)-(23).
#include <gtest/gtest.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "p2pgrid/core/rng.hpp"
#include "p2pgrid/env/env_batch.hpp"
#include "support/env_fixtures.hpp"

namespace p2pgrid {
namespace {

using test::where;

/// Everything one env produced over a run, step after step.
struct EnvRecord {
  std::vector<float> obs, state, reward, final_obs;
  std::vector<double> agent_out, metrics, last_episode, price;
  std::vector<int> day, step;
  std::vector<std::uint8_t> truncated, terminated, violation;
  /// "" when bitwise identical, else the first field and element that differ.
  std::string diff(const EnvRecord& o) const {
    std::string d;
    auto cmp = [&](const char* name, const auto& a, const auto& b, std::size_t width) {
      if (!d.empty()) return;
      if (a.size() != b.size()) {
        d = std::string(name) + ": " + std::to_string(a.size()) + " vs " +
            std::to_string(b.size()) + " elements";
        return;
      }
      // Bitwise: == would let -0.0 equal 0.0 and fail on NaN.
      for (std::size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(a[i])) != 0) {
          d = std::string(name) + " differs at record " + std::to_string(i / width) + ", element " +
              std::to_string(i % width) + ": " + std::to_string(double(a[i])) + " vs " +
              std::to_string(double(b[i]));
          return;
        }
    };
    const std::size_t wo = obs.size() / std::max<std::size_t>(day.size(), 1);
    const std::size_t ws = state.size() / std::max<std::size_t>(day.size(), 1);
    const std::size_t wa = agent_out.size() / std::max<std::size_t>(day.size(), 1);
    const std::size_t wr = reward.size() / std::max<std::size_t>(day.size(), 1);
    cmp("day", day, o.day, 1);
    cmp("step", step, o.step, 1);
    cmp("obs", obs, o.obs, wo);
    cmp("state", state, o.state, ws);
    cmp("reward", reward, o.reward, wr);
    cmp("agent_out", agent_out, o.agent_out, wa);
    cmp("metrics", metrics, o.metrics, kNumMetrics);
    cmp("price_p2p", price, o.price, 1);
    cmp("truncated", truncated, o.truncated, 1);
    cmp("terminated", terminated, o.terminated, 1);
    cmp("violation", violation, o.violation, 1);
    cmp("final_obs", final_obs, o.final_obs, wo);
    cmp("last_episode", last_episode, o.last_episode, kNumMetrics);
    return d;
  }
};

template <class T>
void append_row(std::vector<T>& dst, const std::vector<T>& src, int e, std::size_t width) {
  dst.insert(dst.end(), src.begin() + e * width, src.begin() + (e + 1) * width);
}

/// Appends the current outputs of every env of `env` to records[e]. final_obs and last_episode
/// are recorded only where the day ended (elsewhere they hold an older day's values), and the
/// P2P price only after a step (see OutputsAreDefinedRightAfterReset).
void record(const EnvBatch& env, std::vector<EnvRecord>& records, bool stepped = true) {
  const EnvBatchView& v = env.view();
  const int B = env.num_envs(), A = env.num_agents();
  const std::size_t wo = std::size_t(A) * kObsDim, wa = std::size_t(A) * kNumAgentOut;
  const auto obs = env.to_host(v.obs, B * wo), fin = env.to_host(v.final_obs, B * wo);
  const auto state = env.to_host(v.state, std::size_t(B) * env.state_dim());
  const auto reward = env.to_host(v.reward, std::size_t(B) * A);
  const auto ao = env.to_host(v.agent_out, B * wa);
  const auto met = env.to_host(v.metrics, std::size_t(B) * kNumMetrics);
  const auto last = env.to_host(v.last_episode, std::size_t(B) * kNumMetrics);
  const auto price = env.to_host(v.price_p2p, B);
  const auto day = env.to_host(v.day, B), step = env.to_host(v.step, B);
  const auto trunc = env.to_host(v.truncated, B), term = env.to_host(v.terminated, B);
  const auto viol = env.to_host(v.violation, B);
  records.resize(B);
  for (int e = 0; e < B; ++e) {
    EnvRecord& r = records[e];
    append_row(r.obs, obs, e, wo);
    append_row(r.state, state, e, env.state_dim());
    append_row(r.reward, reward, e, A);
    append_row(r.agent_out, ao, e, wa);
    append_row(r.metrics, met, e, kNumMetrics);
    if (stepped) append_row(r.price, price, e, 1);
    append_row(r.day, day, e, 1);
    append_row(r.step, step, e, 1);
    append_row(r.truncated, trunc, e, 1);
    append_row(r.terminated, term, e, 1);
    append_row(r.violation, viol, e, 1);
    if (trunc[e]) {
      append_row(r.final_obs, fin, e, wo);
      append_row(r.last_episode, last, e, kNumMetrics);
    }
  }
}

/// Actions of env e at one step, from its own generator: the same whatever the batch size.
std::vector<float> actions_for(std::vector<std::mt19937_64>& gens, int num_agents) {
  std::vector<float> all;
  for (auto& g : gens) {
    const std::vector<float> a = test::random_actions(g, 1, num_agents);
    all.insert(all.end(), a.begin(), a.end());
  }
  return all;
}

std::vector<std::mt19937_64> action_generators(int num_envs, std::uint64_t seed) {
  std::vector<std::mt19937_64> gens;
  for (int e = 0; e < num_envs; ++e) gens.emplace_back(seed * 1000 + e);
  return gens;
}

/// Resets with `seed` (days drawn from the split), then plays `steps` random steps.
std::vector<EnvRecord> run(const EnvSpec& spec, int num_envs, std::uint64_t seed, int steps,
                           std::uint64_t action_seed = 17,
                           const PowerFlowChoice& pf = test::default_cpu_powerflow()) {
  EnvBatch env(spec, Backend::kCpu, num_envs, pf);
  env.reset(seed);
  std::vector<EnvRecord> records;
  record(env, records, /*stepped=*/false);
  auto gens = action_generators(num_envs, action_seed);
  for (int s = 0; s < steps; ++s) {
    const std::vector<float> act = actions_for(gens, env.num_agents());
    env.step(act.data());
    record(env, records);
  }
  return records;
}

// ----------------------------------------------------------------------------- determinism

TEST(EnvBatch, SameSeedGivesIdenticalTrajectoriesOverTwoDays) {
  const EnvSpec& spec = test::default_env_spec();
  const auto a = run(spec, 4, 99, 2 * kStepsPerDay);
  const auto b = run(spec, 4, 99, 2 * kStepsPerDay);
  for (int e = 0; e < 4; ++e) {
    EXPECT_EQ(a[e].diff(b[e]), "") << "env " << e;
    // Two whole days were played: two auto-resets, each drawing a day.
    EXPECT_EQ(a[e].final_obs.size(), 2 * std::size_t(spec.num_agents()) * kObsDim) << "env " << e;
    EXPECT_EQ(a[e].day.size(), std::size_t(2 * kStepsPerDay + 1));
  }
}

TEST(EnvBatch, DifferentSeedsDrawDifferentDaysAndTrajectories) {
  const EnvSpec& spec = test::default_env_spec();
  const int B = 8;
  const auto a = run(spec, B, 1, kStepsPerDay + 2);
  const auto b = run(spec, B, 2, kStepsPerDay + 2);
  int same_first_day = 0, same_second_day = 0, same_traj = 0;
  std::set<int> first_days;
  for (int e = 0; e < B; ++e) {
    same_first_day += a[e].day.front() == b[e].day.front();
    same_second_day += a[e].day.back() == b[e].day.back();
    same_traj += a[e].diff(b[e]).empty();
    first_days.insert(a[e].day.front());
  }
  // 269 train days: a coincidence in more than a couple of envs would mean the seed is ignored.
  EXPECT_LE(same_first_day, 2);
  EXPECT_LE(same_second_day, 2);
  EXPECT_EQ(same_traj, 0);
  // Envs of one batch draw from their own streams (seed, e).
  EXPECT_GE(first_days.size(), std::size_t(B - 2));
}

TEST(EnvBatch, EnvTrajectoryDoesNotDependOnBatchSize) {
  const EnvSpec& spec = test::default_env_spec();
  const auto small = run(spec, 4, 5, kStepsPerDay + 8);
  const auto large = run(spec, 8, 5, kStepsPerDay + 8);
  for (int e = 0; e < 4; ++e) EXPECT_EQ(small[e].diff(large[e]), "") << "env " << e;
}

TEST(EnvBatch, EnvTrajectoryDoesNotDependOnThreadCount) {
#if !defined(_OPENMP)
  GTEST_SKIP() << "built without OpenMP: one thread only";
#else
  const EnvSpec& spec = test::default_env_spec();
  const int saved = omp_get_max_threads();
  PowerFlowChoice pf1 = test::default_cpu_powerflow(), pf3 = pf1;
  pf1.settings.threads = 1;
  pf3.settings.threads = 3;
  omp_set_num_threads(1);
  const auto one = run(spec, 7, 8, 40, 17, pf1);
  omp_set_num_threads(3);
  const auto three = run(spec, 7, 8, 40, 17, pf3);
  omp_set_num_threads(saved);
  for (int e = 0; e < 7; ++e) EXPECT_EQ(one[e].diff(three[e]), "") << "env " << e;
#endif
}

// ------------------------------------------------------------------------------ auto-reset

// The observation eq. (23) of agent a, computed from the spec: time, prices of the hour,
// available RDG, load, last CDG output, SOC fraction, last P2P, voltage deviation.
std::vector<double> expected_obs(const EnvSpec& spec, int a, int day, int t, double cdg_prev_kw,
                                 double soc_kwh, double p2p_prev_kw, double v_prev_pu) {
  const Prosumer& pr = spec.prosumers[a];
  const std::size_t idx = std::size_t(day) * kStepsPerDay + t;
  double rdg = 0, energy = 0;
  for (int u = spec.agent_unit_begin[a]; u < spec.agent_unit_begin[a + 1]; ++u) {
    const DeviceUnit& d = spec.units[u];
    if (d.type == DeviceType::kPv) rdg += d.rating_kw * spec.profiles.pv_cf[idx];
    if (d.type == DeviceType::kWind) rdg += d.rating_kw * spec.profiles.wind_cf[idx];
    if (d.type == DeviceType::kBess) energy += d.energy_kwh;
  }
  const double load = pr.load_peak_kw * spec.profiles.load_pu[idx];
  const double max_buy =
      *std::max_element(spec.buy_cny_per_kwh.begin(), spec.buy_cny_per_kwh.end());
  return {t / 96.0,
          spec.buy_cny_per_kwh[t / 4] / max_buy,
          spec.sell_cny_per_kwh[t / 4] / max_buy,
          rdg / pr.p_scale_kw,
          load / pr.p_scale_kw,
          load * pr.tan_phi / pr.p_scale_kw,
          cdg_prev_kw / pr.p_scale_kw,
          energy > 0 ? soc_kwh / energy : 0.0,
          p2p_prev_kw / pr.p_scale_kw,
          (v_prev_pu - 1.0) / 0.05};
}

void expect_obs_row(const float* got, const std::vector<double>& want, const std::string& at) {
  for (int k = 0; k < kObsDim; ++k)
    EXPECT_NEAR(got[k], want[k], 2e-6 * (1 + std::abs(want[k]))) << at << "column " << k;
}

void check_auto_reset(EnvSpec spec, Split split) {
  spec.split = split;
  const std::vector<int> days = days_in_split(spec.profiles.year, split);
  const std::set<int> in_split(days.begin(), days.end());
  const int B = 6, A = spec.num_agents();
  EnvBatch env(spec, Backend::kCpu, B, test::default_cpu_powerflow());
  env.reset(31);
  const EnvBatchView& v = env.view();
  std::vector<int> day = env.to_host(v.day, B);
  for (int e = 0; e < B; ++e) EXPECT_TRUE(in_split.count(day[e])) << "first day of env " << e;
  auto gens = action_generators(B, 3);
  std::vector<double> sums(std::size_t(B) * kNumMetrics, 0.0);
  int days_ended = 0;
  for (int s = 0; s < 2 * kStepsPerDay; ++s) {
    const int t = s % kStepsPerDay;
    const std::vector<float> act = actions_for(gens, A);
    env.step(act.data());
    const auto trunc = env.to_host(v.truncated, B), term = env.to_host(v.terminated, B);
    const auto met = env.to_host(v.metrics, std::size_t(B) * kNumMetrics);
    const auto last = env.to_host(v.last_episode, std::size_t(B) * kNumMetrics);
    const auto episode = env.to_host(v.episode, std::size_t(B) * kNumMetrics);
    const auto obs = env.to_host(v.obs, std::size_t(B) * A * kObsDim);
    const auto fin = env.to_host(v.final_obs, std::size_t(B) * A * kObsDim);
    const auto ao = env.to_host(v.agent_out, std::size_t(B) * A * kNumAgentOut);
    const auto new_day = env.to_host(v.day, B), step = env.to_host(v.step, B);
    for (int e = 0; e < B; ++e) {
      SCOPED_TRACE(where(e, s));
      for (int m = 0; m < kNumMetrics; ++m) sums[e * kNumMetrics + m] += met[e * kNumMetrics + m];
      ASSERT_EQ(term[e], 0);
      ASSERT_EQ(trunc[e], t == kStepsPerDay - 1 ? 1 : 0);
      if (!trunc[e]) {
        ASSERT_EQ(step[e], t + 1);
        ASSERT_EQ(new_day[e], day[e]);
        ASSERT_EQ(obs[std::size_t(e) * A * kObsDim], float(t + 1) / 96.0f);
        continue;
      }
      ++days_ended;
      // final_obs: the state reached after step 95, exogenous columns of step 95, time 1.
      for (int a = 0; a < A; ++a) {
        const double* o = ao.data() + (std::size_t(e) * A + a) * kNumAgentOut;
        std::vector<double> want = expected_obs(spec, a, day[e], kStepsPerDay - 1, o[kAoPCdg],
                                                o[kAoSoc], o[kAoPP2p], o[kAoVm]);
        want[0] = 1.0;
        expect_obs_row(fin.data() + (std::size_t(e) * A + a) * kObsDim, want,
                       "final_obs agent " + std::to_string(a) + " ");
      }
      // last_episode: the sums of the day's 96 step metrics.
      for (int m = 0; m < kNumMetrics; ++m) {
        const double want = sums[e * kNumMetrics + m];
        EXPECT_NEAR(last[e * kNumMetrics + m], want, 1e-9 * (1 + std::abs(want))) << "metric " << m;
        EXPECT_EQ(episode[e * kNumMetrics + m], 0.0) << "running sum not restarted, metric " << m;
        sums[e * kNumMetrics + m] = 0;
      }
      EXPECT_EQ(last[e * kNumMetrics + kMetSteps], kStepsPerDay);
      EXPECT_EQ(last[e * kNumMetrics + kMetBusSteps], double(kStepsPerDay) * (env.num_buses() - 1));
      // The new day: from the split, step 0, initial device state.
      EXPECT_TRUE(in_split.count(new_day[e])) << "day " << new_day[e];
      EXPECT_EQ(step[e], 0);
      for (int a = 0; a < A; ++a) {
        double cdg0 = 0, soc0 = 0;
        for (int u = spec.agent_unit_begin[a]; u < spec.agent_unit_begin[a + 1]; ++u) {
          const DeviceUnit& d = spec.units[u];
          if (d.type == DeviceType::kCdg) cdg0 += d.p_init_kw;
          if (d.type == DeviceType::kBess) soc0 += d.soc_init * d.energy_kwh;
        }
        expect_obs_row(
            obs.data() + (std::size_t(e) * A + a) * kObsDim,
            expected_obs(spec, a, new_day[e], 0, cdg0, soc0, 0.0, spec.network.v_slack_pu),
            "new obs agent " + std::to_string(a) + " ");
      }
      day[e] = new_day[e];
    }
  }
  EXPECT_EQ(days_ended, 2 * B);
}

TEST(EnvBatch, AutoResetsAfterExactlyOneDayIntoTheTrainSplit) {
  check_auto_reset(test::default_env_spec(), Split::kTrain);
}

TEST(EnvBatch, AutoResetsIntoTheTestSplitWhenTheSpecSaysSo) {
  check_auto_reset(test::default_env_spec(), Split::kTest);
}

// ----------------------------------------------------------------------- save / load state

TEST(EnvBatch, LoadStateReplaysBitExactlyAcrossADayEnd) {
  const EnvSpec& spec = test::default_env_spec();
  const int B = 3, A = spec.num_agents(), k = 10, m = 100;  // m crosses the day end at 96
  EnvBatch env(spec, Backend::kCpu, B, test::default_cpu_powerflow());
  env.reset(12);
  auto gens = action_generators(B, 4);
  for (int s = 0; s < k; ++s) env.step(actions_for(gens, A).data());
  const std::string saved = env.save_state();
  std::vector<std::vector<float>> acts;
  for (int s = 0; s < m; ++s) acts.push_back(actions_for(gens, A));
  std::vector<EnvRecord> first, second;
  for (int s = 0; s < m; ++s) {
    env.step(acts[s].data());
    record(env, first);
  }
  env.load_state(saved);
  EXPECT_EQ(env.save_state(), saved);
  for (int s = 0; s < m; ++s) {
    env.step(acts[s].data());
    record(env, second);
  }
  for (int e = 0; e < B; ++e) {
    EXPECT_EQ(first[e].diff(second[e]), "") << "env " << e;
    EXPECT_EQ(first[e].last_episode.size(), std::size_t(kNumMetrics)) << "one day end expected";
  }
  // The state also moves between batches of the same shape.
  EnvBatch other(spec, Backend::kCpu, B, test::default_cpu_powerflow());
  other.reset(777);
  other.load_state(saved);
  std::vector<EnvRecord> third;
  for (int s = 0; s < m; ++s) {
    other.step(acts[s].data());
    record(other, third);
  }
  for (int e = 0; e < B; ++e) EXPECT_EQ(first[e].diff(third[e]), "") << "env " << e;
}

TEST(EnvBatch, LoadStateRejectsForeignBytesWithAClearMessage) {
  const EnvSpec& spec = test::default_env_spec();
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(1);
  const std::string good = env.save_state();
  auto msg = [&](const std::string& bytes) {
    return test::error_of([&] { env.load_state(bytes); });
  };
  EXPECT_NE(msg("").find("EnvBatch::load_state: not an env state"), std::string::npos) << msg("");
  EXPECT_NE(msg("hello, this is not a state").find("not an env state (bad magic)"),
            std::string::npos);
  // Cut inside the 8-byte size header of the first buffer.
  const std::string head = good.substr(0, 12);
  EXPECT_NE(msg(head).find("EnvBatch::load_state: truncated state"), std::string::npos)
      << msg(head);
  EXPECT_NE(msg(good + "x").find("trailing bytes"), std::string::npos) << msg(good + "x");
  {
    EnvBatch three(spec, Backend::kCpu, 3, test::default_cpu_powerflow());
    three.reset(1);
    const std::string m3 = msg(three.save_state());
    EXPECT_NE(m3.find("different batch shape"), std::string::npos) << m3;
  }
  {
    // Same batch size, another env (3 prosumers): the device buffers differ in size.
    EnvBatch tiny(build_env_spec(test::tiny_config()), Backend::kCpu, 2,
                  test::default_cpu_powerflow());
    tiny.reset(1);
    const std::string mt = msg(tiny.save_state());
    EXPECT_NE(mt.find("different batch shape"), std::string::npos) << mt;
  }
  // A good state still loads after all that.
  EXPECT_NO_THROW(env.load_state(good));
  EXPECT_EQ(env.save_state(), good);
}

// Regression: a state cut inside a buffer's data (a partly written checkpoint) was reported as
// "state is for a different batch shape"; only a cut inside a size header said "truncated".
TEST(EnvBatch, LoadStateReportsATruncatedStateAsTruncated) {
  const EnvSpec& spec = test::default_env_spec();
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(1);
  const std::string good = env.save_state();
  const std::string half = good.substr(0, good.size() / 2);
  const std::string m = test::error_of([&] { env.load_state(half); });
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
}

// Regression: load_state copied buffer after buffer while still validating, so a state found
// truncated after its first buffers left the batch mixing two states (step counter and RNG of
// one, device state of the other). A failed load must be all-or-nothing.
TEST(EnvBatch, FailedLoadStateLeavesTheBatchUnchanged) {
  const EnvSpec& spec = test::default_env_spec();
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(1);
  std::vector<float> zero(2 * std::size_t(spec.num_agents()) * kActionDim, 0.0f);
  env.step(zero.data());
  const std::string early = env.save_state();
  for (int s = 0; s < 5; ++s) env.step(zero.data());
  const std::string now = env.save_state();
  EXPECT_THROW(env.load_state(early.substr(0, early.size() - 16)), Error);
  EXPECT_TRUE(env.save_state() == now) << "a failed load_state modified the batch";
}

// Regression: price_p2p was neither zeroed by the constructor nor written by reset(), so the
// exported buffer held uninitialized memory (seen: 1.3e182) until the first step.
TEST(EnvBatch, OutputsAreDefinedRightAfterReset) {
  const EnvSpec& spec = test::default_env_spec();
  // Few envs, so that every buffer comes from the heap (glibc maps fresh zeroed pages for
  // blocks from 128 KiB on), and the heap fills each new block with 0x5a bytes (M_PERTURB):
  // a buffer nobody wrote then holds 1.4e127 or 1.5e16, never a lucky 0.
  const int B = 4, A = spec.num_agents();
  ASSERT_LT(std::size_t(B) * A * kNumAgentOut * sizeof(double), std::size_t(128) << 10);
#if defined(__GLIBC__)
  ASSERT_EQ(mallopt(M_PERTURB, 0xa5), 1);
#endif
  EnvBatch env(spec, Backend::kCpu, B, test::default_cpu_powerflow());
#if defined(__GLIBC__)
  mallopt(M_PERTURB, 0);
#endif
  env.reset(1);
  const EnvBatchView& v = env.view();
  for (double x : env.to_host(v.price_p2p, B)) ASSERT_EQ(x, 0.0) << "price_p2p";
  for (double x : env.to_host(v.metrics, std::size_t(B) * kNumMetrics)) ASSERT_EQ(x, 0.0);
  for (double x : env.to_host(v.last_episode, std::size_t(B) * kNumMetrics)) ASSERT_EQ(x, 0.0);
  for (double x : env.to_host(v.agent_out, std::size_t(B) * A * kNumAgentOut)) ASSERT_EQ(x, 0.0);
  for (float x : env.to_host(v.reward, std::size_t(B) * A)) ASSERT_EQ(x, 0.0f);
  for (float x : env.to_host(v.final_obs, std::size_t(B) * A * kObsDim)) ASSERT_EQ(x, 0.0f);
  for (std::uint8_t x : env.to_host(v.truncated, B)) ASSERT_EQ(x, 0);
  for (std::uint8_t x : env.to_host(v.terminated, B)) ASSERT_EQ(x, 0);
  for (std::uint8_t x : env.to_host(v.violation, B)) ASSERT_EQ(x, 0);
}

// --------------------------------------------------------- observation, state, action mask

TEST(EnvBatch, ObservationAndStateFollowEq23) {
  const EnvSpec& spec = test::default_env_spec();
  const int B = 3, A = spec.num_agents(), nb = spec.network.num_buses();
  const std::vector<int> days = {0, 180, 300};
  EnvBatch env(spec, Backend::kCpu, B, test::default_cpu_powerflow());
  ASSERT_EQ(env.state_dim(), 3 + 7 * A);
  env.reset(2, days);
  const EnvBatchView& v = env.view();
  EXPECT_DOUBLE_EQ(spec.price_scale_cny_per_kwh, 1.12);
  auto gens = action_generators(B, 6);
  // Previous-step quantities as the observation must report them; the initial ones first.
  std::vector<double> cdg(std::size_t(B) * A), soc(std::size_t(B) * A),
      p2p(std::size_t(B) * A, 0.0), vprev(std::size_t(B) * A, spec.network.v_slack_pu);
  for (int e = 0; e < B; ++e)
    for (int a = 0; a < A; ++a) {
      double c0 = 0, s0 = 0;
      for (int u = spec.agent_unit_begin[a]; u < spec.agent_unit_begin[a + 1]; ++u) {
        if (spec.units[u].type == DeviceType::kCdg) c0 += spec.units[u].p_init_kw;
        if (spec.units[u].type == DeviceType::kBess)
          s0 += spec.units[u].soc_init * spec.units[u].energy_kwh;
      }
      cdg[e * A + a] = c0;
      soc[e * A + a] = s0;
    }
  bool saw_voltage_dev = false, saw_p2p = false;
  for (int s = 0; s <= 40; ++s) {
    const auto obs = env.to_host(v.obs, std::size_t(B) * A * kObsDim);
    const auto state = env.to_host(v.state, std::size_t(B) * env.state_dim());
    for (int e = 0; e < B; ++e) {
      SCOPED_TRACE(where(e, s));
      const float* oe = obs.data() + std::size_t(e) * A * kObsDim;
      const float* se = state.data() + std::size_t(e) * env.state_dim();
      for (int a = 0; a < A; ++a) {
        const std::size_t i = std::size_t(e) * A + a;
        expect_obs_row(oe + a * kObsDim,
                       expected_obs(spec, a, days[e], s, cdg[i], soc[i], p2p[i], vprev[i]),
                       "agent " + std::to_string(a) + " ");
        for (int k = 0; k < 7; ++k)
          ASSERT_EQ(se[3 + 7 * a + k], oe[a * kObsDim + 3 + k]) << "state of agent " << a;
      }
      for (int k = 0; k < 3; ++k) ASSERT_EQ(se[k], oe[k]) << "shared state column " << k;
    }
    if (s == 40) break;
    env.step(actions_for(gens, A).data());
    const auto ao = env.to_host(v.agent_out, std::size_t(B) * A * kNumAgentOut);
    const auto vm = env.vm_pu_host();
    for (int e = 0; e < B; ++e)
      for (int a = 0; a < A; ++a) {
        const std::size_t i = std::size_t(e) * A + a;
        cdg[i] = ao[i * kNumAgentOut + kAoPCdg];
        soc[i] = ao[i * kNumAgentOut + kAoSoc];
        p2p[i] = ao[i * kNumAgentOut + kAoPP2p];
        vprev[i] = vm[std::size_t(e) * nb + spec.prosumers[a].bus];
        saw_voltage_dev |= std::abs(vprev[i] - 1.0) > 1e-3;
        saw_p2p |= std::abs(p2p[i]) > 1e-6;
      }
  }
  EXPECT_TRUE(saw_voltage_dev);
  EXPECT_TRUE(saw_p2p);
}

TEST(EnvBatch, ActionMaskMatchesThePortfolios) {
  const EnvSpec& spec = test::default_env_spec();
  EnvBatch env(spec, Backend::kCpu, 1, test::default_cpu_powerflow());
  const int A = spec.num_agents();
  const std::vector<float> mask = env.to_host(env.action_mask(), std::size_t(A) * kActionDim);
  // Columns: CDG, RDG P, RDG Q, BESS, CL (every default portfolio has alpha > 0).
  const std::map<std::string, std::vector<float>> want = {
      {"commercial_rural", {1, 1, 1, 1, 1}},
      {"industrial", {1, 1, 1, 0, 1}},   // CDG and wind, no BESS
      {"residential", {0, 1, 1, 1, 1}},  // PV and BESS, no CDG
      {"energy_hub", {1, 1, 1, 1, 1}}};
  for (int a = 0; a < A; ++a) {
    const std::string& p = spec.prosumers[a].portfolio;
    ASSERT_TRUE(want.count(p)) << p;
    for (int k = 0; k < kActionDim; ++k)
      EXPECT_EQ(mask[std::size_t(a) * kActionDim + k], want.at(p)[k])
          << "agent " << a << " " << p << " column " << k;
  }
  // A portfolio without CL (alpha 0) is masked on column 4.
  const EnvSpec tiny = build_env_spec(test::tiny_config());
  const std::vector<float> tm = tiny.action_mask();
  const std::vector<float> tiny_want = {1, 1, 1, 0, 1,   // gen: CDG, wind, CL
                                        0, 1, 1, 1, 0,   // solar: PV, BESS, no CL
                                        0, 0, 0, 0, 1};  // house: CL only
  EXPECT_EQ(tm, tiny_want);
}

}  // namespace
}  // namespace p2pgrid

namespace p2pgrid {
namespace {

// A state whose values cannot be continued from (a day beyond the year, a step past the day's
// end, a SOC outside its window) is refused with a message, before anything is copied.
TEST(EnvBatch, LoadStateRejectsImpossibleValues) {
  const EnvSpec& spec = test::default_env_spec();
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(1);
  const std::string good = env.save_state();
  // Layout: 8-byte magic, then per buffer an 8-byte size and its bytes: step [B] int, day [B].
  const std::size_t step_at = 8 + 8, day_at = step_at + 2 * sizeof(int) + 8;
  auto with_int = [&](std::size_t at, int value) {
    std::string s = good;
    std::memcpy(&s[at], &value, sizeof(int));
    return s;
  };
  std::string m = test::error_of([&] { env.load_state(with_int(day_at, 1000000)); });
  EXPECT_NE(m.find("plays day 1000000, outside the year's 365 days"), std::string::npos) << m;
  m = test::error_of([&] { env.load_state(with_int(step_at, 96)); });
  EXPECT_NE(m.find("at step 96, outside 0..95"), std::string::npos) << m;
  // Then rng [B] Rng {state, inc}, CDG outputs [B, U] and SOC [B, U] doubles (and more).
  const std::size_t U = spec.num_units();
  const std::size_t rng_at = day_at + 2 * sizeof(int) + 8;
  const std::size_t soc_at = rng_at + 2 * sizeof(Rng) + 8 + 2 * U * sizeof(double) + 8;
  auto size_before = [&](std::size_t at) {
    std::uint64_t n = 0;
    std::memcpy(&n, &good[at - 8], sizeof(n));
    return n;
  };
  ASSERT_EQ(size_before(rng_at), 2 * sizeof(Rng)) << "the layout above is out of date";
  ASSERT_EQ(size_before(soc_at), 2 * U * sizeof(double)) << "the layout above is out of date";
  std::string even_inc = good;
  const std::uint64_t inc = 2;  // a PCG stream increment must be odd
  std::memcpy(&even_inc[rng_at + sizeof(Rng) + offsetof(Rng, inc)], &inc, sizeof(inc));
  m = test::error_of([&] { env.load_state(even_inc); });
  EXPECT_NE(m.find("env 1 has an invalid RNG state"), std::string::npos) << m;
  int bess = -1;
  for (int u = 0; u < int(U) && bess < 0; ++u)
    if (spec.units[u].type == DeviceType::kBess) bess = u;
  ASSERT_GE(bess, 0);
  std::string full = good;
  const double twice = 2 * spec.units[bess].energy_kwh;
  std::memcpy(&full[soc_at + (U + bess) * sizeof(double)], &twice, sizeof(twice));  // env 1
  m = test::error_of([&] { env.load_state(full); });
  EXPECT_NE(m.find("env 1 unit " + std::to_string(bess) + " has SOC"), std::string::npos) << m;
  EXPECT_NE(m.find("kWh outside its window"), std::string::npos) << m;
  EXPECT_EQ(env.save_state(), good);  // nothing was loaded
}

TEST(EnvBatch, StepBeforeResetIsAnError) {
  EnvBatch env(test::default_env_spec(), Backend::kCpu, 2, test::default_cpu_powerflow());
  std::vector<float> zero(2 * std::size_t(env.num_agents()) * kActionDim, 0.0f);
  const std::string m = test::error_of([&] { env.step(zero.data()); });
  EXPECT_NE(m.find("step before reset()"), std::string::npos) << m;
}

TEST(EnvBatch, FinalStateHoldsTheDaysLastStateWithTimeOne) {
  const EnvSpec& spec = test::default_env_spec();
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  env.reset(3);
  std::vector<float> zero(2 * std::size_t(env.num_agents()) * kActionDim, 0.0f);
  for (int t = 0; t < kStepsPerDay; ++t) env.step(zero.data());
  const int S = env.state_dim(), A = env.num_agents();
  const auto fs = env.to_host(env.view().final_state, 2 * std::size_t(S));
  const auto fo = env.to_host(env.view().final_obs, 2 * std::size_t(A) * kObsDim);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(fs[std::size_t(e) * S], 1.0f);
    for (int a = 0; a < A; ++a)
      for (int k = 0; k < kStatePerAgentDim; ++k)
        EXPECT_EQ(fs[std::size_t(e) * S + kStateSharedDim + a * kStatePerAgentDim + k],
                  fo[(std::size_t(e) * A + a) * kObsDim + 3 + k]);
  }
}

}  // namespace
}  // namespace p2pgrid
