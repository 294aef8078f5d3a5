// "Did you mean ...?": the valid name nearest to a misspelt one, used by every error about an
// unknown key, flag, column, command or name.
#pragma once

#include <string>
#include <vector>

namespace p2pgrid {

/// The candidate nearest to `key`: edit distance, discounted by the shared prefix and suffix so
/// that an abbreviation ("p_kw") is nearest to its full name ("p_load_kw") rather than to a short
/// unrelated one ("bus"). Empty if there are no candidates.
std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates);

}  // namespace p2pgrid
