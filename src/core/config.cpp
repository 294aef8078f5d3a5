// Config merging and validation (see config.hpp): the defaults are the schema.
#include "p2pgrid/core/config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "p2pgrid/core/builtin_data.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"

namespace p2pgrid {
namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

/// A number with no fractional part that a long long holds (1e3 from a sweep script).
bool integral_number(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double x = v.get<double>();
  return std::isfinite(x) && x == std::floor(x) && std::abs(x) < 9.0e15;
}

/// `v` as the schema's type: an integral float for an integer key becomes that integer.
json coerced(const json& schema, const json& v) {
  if (schema.is_number_integer() && v.is_number_float() && integral_number(v))
    return static_cast<long long>(v.get<double>());
  return v;
}

/// The value as an error names it: "null", or "a number 0.5".
std::string described(const json& v) {
  return v.is_null() ? std::string("null") : std::string(type_name(v)) + " " + v.dump();
}

// An integer default accepts integers (and numbers without a fraction); a floating default
// accepts any number.
bool same_type(const json& schema, const json& value) {
  if (schema.is_number_integer()) return integral_number(value);
  if (schema.is_number()) return value.is_number();
  if (schema.is_null()) return true;
  return schema.type() == value.type();
}

void collect_leaves(const json& node, const std::string& prefix, std::vector<std::string>& out) {
  if (!node.is_object()) {
    out.push_back(prefix);
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it)
    collect_leaves(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
}

std::vector<std::string> all_keys(const json& node, const std::string& prefix = "") {
  std::vector<std::string> out;
  if (!node.is_object()) return out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string k = prefix.empty() ? it.key() : prefix + "." + it.key();
    out.push_back(k);
    auto sub = all_keys(it.value(), k);
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

void merge_into(const json& schema, json& target, const json& src, const std::string& prefix,
                const std::string& where, const json& root_schema) {
  for (auto it = src.begin(); it != src.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (!schema.contains(it.key())) {
      throw Error(where + ": unknown key '" + key + "' (did you mean '" +
                  nearest_key(key, all_keys(root_schema)) + "'?)");
    }
    const json& s = schema.at(it.key());
    const json& v = it.value();
    if (!same_type(s, v)) {
      throw Error(where + ": key '" + key + "' expects " + type_name(s) + ", got " + described(v));
    }
    if (s.is_object()) {
      merge_into(s, target[it.key()], v, key, where, root_schema);
    } else {
      target[it.key()] = coerced(s, v);
    }
  }
}

}  // namespace

Config Config::defaults() {
  const auto& files = builtin_files();
  const auto it = files.find("config_default");
  if (it == files.end()) throw Error("this binary has no embedded configs/default.json");
  json j;
  try {
    j = json::parse(it->second);
  } catch (const json::exception& e) {
    throw Error(std::string("configs/default.json (embedded): ") + e.what());
  }
  return Config(std::move(j));
}

Config::Config(json defaults) : schema_(defaults), values_(std::move(defaults)) {}

void Config::merge_file(const std::string& path) {
  const std::string text = read_text_file(path);
  // A key given twice in one object would silently keep the last value (a sweep's config
  // edited by hand): an error instead. One set of keys per open object.
  std::vector<std::vector<std::string>> open_objects;
  std::string duplicate;
  const json::parser_callback_t check_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == json::parse_event_t::key && !open_objects.empty() && duplicate.empty()) {
      auto& keys = open_objects.back();
      const std::string key = parsed.get<std::string>();
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) duplicate = key;
      keys.push_back(key);
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text, check_keys);
  } catch (const json::exception& e) {  // syntax, or a number beyond double's range
    throw Error(path + ": not valid JSON: " + e.what());
  }
  if (!duplicate.empty())
    throw Error(path + ": key '" + duplicate +
                "' appears twice in one object (expected each key "
                "once; JSON would keep only the last)");
  if (!j.is_object()) throw Error(path + ": expected a JSON object at the top level");
  merge(j, path);
}

void Config::merge(const json& overrides, const std::string& where) {
  json merged = values_;  // all-or-nothing: a bad key leaves the config unchanged
  merge_into(schema_, merged, overrides, "", where, schema_);
  values_ = std::move(merged);
}

void Config::set(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set " + assignment + ": expected key.path=value");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::out_of_range&) {
    throw Error("--set " + assignment + ": the number is outside the range of a double");
  } catch (const json::exception&) {
    value = text;  // bare words are strings: --set powerflow.backend=cuda
  }
  // Build {"a": {"b": {"c": value}}} and merge it, so the same checks apply.
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? dot : dot - start));
    if (parts.back().empty()) throw Error("--set " + assignment + ": empty key in '" + path + "'");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  // A path into an array (env.prosumers.3.scale, env.portfolios.0.devices.1.p_max_kw) edits one
  // element of the array's current value, and the whole array is then set: a sweep over one
  // device parameter needs no copy of the whole list. The element's keys are checked where
  // they are read, as an array from a config file would be.
  const json* node = &values_;
  std::size_t k = 0;
  while (k < parts.size() && node->is_object() && node->contains(parts[k]))
    node = &node->at(parts[k++]);
  if (node->is_array() && k < parts.size()) {
    json array = *node;
    json* cur = &array;
    std::string at = parts[0];
    for (std::size_t i = 1; i < k; ++i) at += "." + parts[i];
    for (std::size_t i = k; i < parts.size(); ++i) {
      const std::string& part = parts[i];
      if (cur->is_array()) {
        const bool digits =
            part.size() < 9 && std::all_of(part.begin(), part.end(),
                                           [](unsigned char c) { return std::isdigit(c) != 0; });
        if (!digits || std::stoul(part) >= cur->size())
          throw Error("--set " + assignment + ": '" + part + "' is not an index of '" + at +
                      "' (0 to " + std::to_string(int(cur->size()) - 1) + ")");
        cur = &(*cur)[std::stoul(part)];
      } else if (cur->is_object()) {
        if (i + 1 < parts.size() && !cur->contains(part))
          throw Error("--set " + assignment + ": '" + at + "' has no key '" + part + "'");
        cur = &(*cur)[part];
      } else {
        throw Error("--set " + assignment + ": '" + at + "' is " + type_name(*cur) +
                    ", not an array or object");
      }
      at += "." + part;
    }
    if (!cur->is_null() && !same_type(*cur, value))
      throw Error("--set " + assignment + ": '" + at + "' is " + type_name(*cur) + ", got " +
                  described(value));
    *cur = coerced(*cur, value);
    value = std::move(array);
    parts.resize(k);
  }
  json nested = value;
  for (auto part = parts.rbegin(); part != parts.rend(); ++part) nested = json{{*part, nested}};
  merge(nested, "--set " + assignment);
}

const json& Config::at(const std::string& path) const {
  const json* node = &values_;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!node->is_object() || !node->contains(part))
      throw Error("config key '" + path + "' does not exist (did you mean '" +
                  nearest_key(path, all_keys(schema_)) + "'?)");
    node = &node->at(part);
    if (dot == std::string::npos) return *node;
    start = dot + 1;
  }
}

double Config::number(const std::string& path) const {
  const json& v = at(path);
  if (!v.is_number()) throw Error("config key '" + path + "' is not a number");
  return v.get<double>();
}
long long Config::integer(const std::string& path) const {
  const json& v = at(path);
  if (!v.is_number_integer()) throw Error("config key '" + path + "' is not an integer");
  return v.get<long long>();
}
int Config::integer_in(const std::string& path, long long lo, long long hi) const {
  const long long v = integer(path);
  if (v < lo || v > hi)
    throw Error("config key '" + path + "' = " + std::to_string(v) + " is outside [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

std::uint64_t Config::seed(const std::string& path) const {
  const long long v = integer(path);
  if (v < 0)
    throw Error("config key '" + path + "' = " + std::to_string(v) + ": expected a seed >= 0");
  return static_cast<std::uint64_t>(v);
}

bool Config::boolean(const std::string& path) const {
  const json& v = at(path);
  if (!v.is_boolean()) throw Error("config key '" + path + "' is not a boolean");
  return v.get<bool>();
}
std::string Config::string(const std::string& path) const {
  const json& v = at(path);
  if (!v.is_string()) throw Error("config key '" + path + "' is not a string");
  return v.get<std::string>();
}

std::vector<std::string> Config::leaf_keys() const {
  std::vector<std::string> out;
  collect_leaves(schema_, "", out);
  return out;
}

}  // namespace p2pgrid
