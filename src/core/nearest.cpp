// nearest_key (see nearest.hpp).
#include "p2pgrid/core/nearest.hpp"

#include <algorithm>

namespace p2pgrid {
namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates) {
  auto score = [&](const std::string& v) {
    std::size_t prefix = 0, suffix = 0;
    const std::size_t shorter = std::min(key.size(), v.size());
    while (prefix < shorter && key[prefix] == v[prefix]) ++prefix;
    while (suffix < shorter && key[key.size() - 1 - suffix] == v[v.size() - 1 - suffix]) ++suffix;
    return static_cast<long>(edit_distance(key, v)) -
           static_cast<long>(std::min(prefix + suffix, shorter));
  };
  std::string best;
  long best_score = 0;
  for (const std::string& v : candidates) {
    const long s = score(v);
    if (best.empty() || s < best_score) {
      best = v;
      best_score = s;
    }
  }
  return best;
}

}  // namespace p2pgrid
