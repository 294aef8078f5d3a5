// Configs: JSON documents whose defaults (configs/default.json, embedded in the binary) are also
// their schema. A file or a --set override may only use keys the defaults have, with the same
// JSON type; anything else is an Error naming the key, the source and the nearest valid key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/nearest.hpp"

namespace p2pgrid {

class Config {
 public:
  /// The embedded defaults (configs/default.json at build time).
  static Config defaults();
  /// A config whose schema and defaults are `defaults` (tests use small ones).
  explicit Config(nlohmann::json defaults);

  /// Merges a JSON file over the current values; `path` is named in every error.
  void merge_file(const std::string& path);
  /// Merges a JSON object over the current values; `where` is named in every error.
  void merge(const nlohmann::json& overrides, const std::string& where);
  /// Applies "a.b.c=value"; value is parsed as JSON when it is valid JSON, else taken as a string.
  void set(const std::string& assignment);

  const nlohmann::json& values() const { return values_; }
  /// Typed accessors by dotted path; a missing key or wrong type is an Error (a bug: every key
  /// read must exist in the defaults).
  const nlohmann::json& at(const std::string& path) const;
  double number(const std::string& path) const;
  long long integer(const std::string& path) const;
  /// An integer key that must lie in [lo, hi]; anything else is an Error naming the key.
  int integer_in(const std::string& path, long long lo, long long hi) const;
  /// A seed: an integer >= 0 (a negative one would wrap to 2^64 - 1 silently).
  std::uint64_t seed(const std::string& path) const;
  bool boolean(const std::string& path) const;
  std::string string(const std::string& path) const;

  /// Every leaf key of the defaults as a dotted path (for docs and "did you mean").
  std::vector<std::string> leaf_keys() const;

 private:
  nlohmann::json schema_;
  nlohmann::json values_;
};

/// Runs f() on the file a config key names; an Error it throws (a missing file, a malformed
/// line) is rethrown as "key = value: ..." so that the message leads back to the setting.
template <class F>
auto with_config_key(const std::string& key, const std::string& value, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(key + " = " + value + ": " + e.what());
  }
}

}  // namespace p2pgrid
