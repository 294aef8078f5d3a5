// Random numbers for P2P_HD code: one 16-byte plain struct per stream, the same sequence on the
// host and on a CUDA device, trivially copyable so that a checkpoint restores it bit-exactly.
// Algorithm: PCG-XSH-RR 64/32 ("pcg32"), M. E. O'Neill, "PCG: A Family of Simple Fast
// Space-Efficient Statistically Good Algorithms for Random Number Generation", Harvey Mudd
// College HMC-CS-2014-0905 (2014); transcribed from the reference pcg_basic.c (pcg-random.org,
// Apache-2.0): pcg32_random_r, pcg32_srandom_r, pcg32_advance_r. Seed and stream are first
// scrambled by SplitMix64 (G. Steele, D. Lea, C. Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014) so that nearby seeds / stream ids give unrelated sequences.
// Normal variates: Box-Muller (G. Box, M. Muller, Ann. Math. Statist. 29(2), 1958), cosine branch.
#pragma once

#include <cstdint>
#include <type_traits>

#include "p2pgrid/core/hd.hpp"

namespace p2pgrid {

/// SplitMix64 finalizer: a bijective 64-bit mix (Steele et al. 2014).
P2P_HD std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// pcg32 generator state: a 64-bit LCG state and an odd increment that selects the stream.
/// Plain data: copy, memcpy or write the two words to save it; restoring them resumes the exact
/// sequence. A zero-initialized Rng is valid (stream 0 of the raw LCG) but use make_rng().
struct Rng {
  std::uint64_t state;  // LCG state, advanced by every draw
  std::uint64_t inc;    // stream increment, always odd

  static constexpr std::uint64_t kMultiplier = 6364136223846793005ULL;

  /// Next 32 uniformly distributed bits (pcg32_random_r).
  P2P_HD std::uint32_t next_u32() {
    const std::uint64_t old = state;
    state = old * kMultiplier + (inc | 1ULL);
    const std::uint32_t xorshifted = static_cast<std::uint32_t>(((old >> 18u) ^ old) >> 27u);
    const std::uint32_t rot = static_cast<std::uint32_t>(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((0u - rot) & 31u));
  }

  /// Uniform float in [0, 1) with 24 random bits (every value a multiple of 2^-24).
  P2P_HD float uniform_float() {
    return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f);
  }

  /// Uniform double in [0, 1) with 53 random bits (two draws).
  P2P_HD double uniform_double() {
    const std::uint64_t hi = next_u32() >> 5;  // 27 bits
    const std::uint64_t lo = next_u32() >> 6;  // 26 bits
    return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);
  }

  /// Standard normal float (Box-Muller, two uniform draws; |z| < 5.8 by the 24-bit grid).
  P2P_HD float normal_float() {
    const float u1 = 1.0f - uniform_float();  // (0, 1]: log is finite
    const float u2 = uniform_float();
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
  }

  /// Standard normal double (Box-Muller, two uniform_double draws = four 32-bit draws).
  P2P_HD double normal_double() {
    const double u1 = 1.0 - uniform_double();
    const double u2 = uniform_double();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  }

  /// Jumps `delta` 32-bit draws ahead in O(log delta) (pcg32_advance_r, Brown 1994).
  P2P_HD void advance(std::uint64_t delta) {
    std::uint64_t cur_mult = kMultiplier;
    std::uint64_t cur_plus = inc | 1ULL;
    std::uint64_t acc_mult = 1u;
    std::uint64_t acc_plus = 0u;
    while (delta > 0) {
      if (delta & 1u) {
        acc_mult *= cur_mult;
        acc_plus = acc_plus * cur_mult + cur_plus;
      }
      cur_plus = (cur_mult + 1u) * cur_plus;
      cur_mult *= cur_mult;
      delta >>= 1u;
    }
    state = acc_mult * state + acc_plus;
  }
};

static_assert(std::is_trivially_copyable<Rng>::value && std::is_standard_layout<Rng>::value &&
                  sizeof(Rng) == 16,
              "Rng must stay two plain 64-bit words so checkpoints are bit-exact");

/// Seeds stream `stream` of `seed` (pcg32_srandom_r on SplitMix64-scrambled inputs). Every
/// (seed, stream) pair gives its own sequence; use e.g. stream = env index.
P2P_HD Rng make_rng(std::uint64_t seed, std::uint64_t stream) {
  Rng r{0u, (splitmix64(stream ^ 0x5DEECE66DULL) << 1u) | 1u};
  r.next_u32();
  r.state += splitmix64(seed);
  r.next_u32();
  return r;
}

}  // namespace p2pgrid
