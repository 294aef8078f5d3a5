// Benchmark plumbing shared by every `p2pgrid bench ...` command: warm-up, timed repetitions,
// and the JSON fields every benchmark prints (bench, backend, batch, threads/device, unit,
// throughput_per_s from the median, median_s, min_s, max_s).
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/device.hpp"
#include "p2pgrid/core/error.hpp"

namespace p2pgrid::cli {

/// The most bench.batch each command takes (what its buffers need: about 10 KB per power flow,
/// 0.1 MB per env with its observations, 1.2 MB per env-day plan on the host).
constexpr long long kMostPowerFlowBatch = 1LL << 24;  // bench powerflow
constexpr long long kMostEnvBatch = 1LL << 22;        // bench env, and study's throughput
constexpr long long kMostExpertBatch = 65536;         // bench expert

/// bench.batch in [1, most]; an Error names the key and the command's limit otherwise.
inline int bench_batch(const Config& cfg, long long most, const std::string& command) {
  const long long batch = cfg.integer("bench.batch");
  if (batch < 1 || batch > most)
    throw Error("config key 'bench.batch' = " + std::to_string(batch) + ": expected 1.." +
                std::to_string(most) + " for " + command);
  return static_cast<int>(batch);
}

struct BenchTimes {
  std::vector<double> seconds;  // one per timed repetition
  double median() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    const size_t n = s.size();
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  }
  double min() const { return *std::min_element(seconds.begin(), seconds.end()); }
  double max() const { return *std::max_element(seconds.begin(), seconds.end()); }
};

/// Runs `body` warmup times, then `repetitions` timed times (wall clock, after
/// backend_synchronize so that CUDA work is included).
inline BenchTimes time_repeated(Backend backend, int warmup, int repetitions,
                                const std::function<void()>& body) {
  if (repetitions < 1 || warmup < 0)
    throw Error("bench: need bench.repetitions >= 1 and bench.warmup >= 0");
  for (int i = 0; i < warmup; ++i) body();
  backend_synchronize(backend);
  BenchTimes t;
  for (int i = 0; i < repetitions; ++i) {
    const auto start = std::chrono::steady_clock::now();
    body();
    backend_synchronize(backend);
    t.seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return t;
}

/// The common fields; `items_per_rep` items are processed per repetition.
nlohmann::json bench_report(const std::string& bench, Backend backend, int batch, int threads,
                            const std::string& unit, double items_per_rep,
                            const BenchTimes& times, int warmup);

}  // namespace p2pgrid::cli
