// The project's network JSON ("p2pgrid-network/1", data/networks/*.json): reader with errors that
// name the file and the JSON path, writer with full round-trip precision, and load_network specs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "p2pgrid/core/format.hpp"
#include "p2pgrid/core/builtin_data.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/nearest.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/network/network.hpp"

namespace p2pgrid {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "p2pgrid-network/1";
const std::vector<std::string> kTopKeys = {"format",    "name",       "source", "base_mva",
                                           "slack_bus", "v_slack_pu", "buses",  "branches"};
const std::vector<std::string> kTableKeys = {"columns", "rows"};
const std::vector<std::string> kBusColumns = {"bus",         "base_kv",    "p_load_kw",
                                              "q_load_kvar", "g_shunt_kw", "b_shunt_kvar",
                                              "v_min_pu",    "v_max_pu"};
const std::vector<std::string> kBranchColumns = {"from", "to",   "r_ohm", "x_ohm",
                                                 "r_pu", "x_pu", "b_pu",  "in_service"};
// r_ohm / x_ohm must agree with the p.u. values and the from bus's base this closely.
constexpr double kOhmRelTol = 1e-9;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "\"" : ", \"") + s + "\"";
  return "[" + out + "]";
}

std::string brief(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}


// Reads one document, naming `where` and the JSON path in every error.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw Error(where_ + ": " + path + ": " + what);
  }

  const json& member(const json& obj, const std::string& path, const std::string& key) const {
    const auto it = obj.find(key);
    if (it == obj.end()) fail(path.empty() ? key : path + "." + key, "missing");
    return *it;
  }

  void check_keys(const json& obj, const std::string& path,
                  const std::vector<std::string>& valid) const {
    if (!obj.is_object())
      fail(path.empty() ? "(top level)" : path, "expected an object, got " + brief(obj));
    for (const auto& item : obj.items()) {
      if (std::find(valid.begin(), valid.end(), item.key()) == valid.end()) {
        const std::string at = path.empty() ? item.key() : path + "." + item.key();
        fail(at, "unknown key \"" + item.key() + "\" (did you mean \"" +
                     nearest_key(item.key(), valid) + "\"? valid keys: " + join(valid) + ")");
      }
    }
  }

  double number(const json& v, const std::string& path) const {
    if (!v.is_number()) fail(path, "expected a number, got " + brief(v));
    return v.get<double>();
  }

  int integer(const json& v, const std::string& path) const {
    if (v.is_number_integer()) {
      const auto i = v.get<long long>();
      if (i >= std::numeric_limits<int>::min() && i <= std::numeric_limits<int>::max()) {
        return static_cast<int>(i);
      }
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d == std::floor(d) && std::fabs(d) <= std::numeric_limits<int>::max()) {
        return static_cast<int>(d);
      }
    }
    fail(path, "expected an integer, got " + brief(v));
  }

  std::string string(const json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected a string, got " + brief(v));
    return v.get<std::string>();
  }

  // {"columns": [...], "rows": [[...], ...]} with exactly the expected columns.
  const json& table(const json& doc, const std::string& key,
                    const std::vector<std::string>& columns) const {
    const json& t = member(doc, "", key);
    check_keys(t, key, kTableKeys);
    const json& cols = member(t, key, "columns");
    const std::string cols_path = key + ".columns";
    if (!cols.is_array()) fail(cols_path, "expected an array of column names, got " + brief(cols));
    for (std::size_t j = 0; j < cols.size() || j < columns.size(); ++j) {
      const std::string at = cols_path + "[" + std::to_string(j) + "]";
      if (j >= cols.size()) {
        fail(cols_path, "column \"" + columns[j] + "\" is missing; expected " + join(columns));
      }
      if (!cols[j].is_string()) fail(at, "expected a column name, got " + brief(cols[j]));
      const std::string name = cols[j].get<std::string>();
      if (j >= columns.size()) {
        fail(at, "unexpected extra column \"" + name + "\"; expected " + join(columns));
      }
      if (name != columns[j]) {
        fail(at, "expected column \"" + columns[j] + "\", got \"" + name +
                     "\" (nearest valid column: \"" + nearest_key(name, columns) +
                     "\"); the columns must be " + join(columns));
      }
    }
    const json& rows = member(t, key, "rows");
    if (!rows.is_array()) fail(key + ".rows", "expected an array of rows, got " + brief(rows));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::string at = key + ".rows[" + std::to_string(i) + "]";
      if (!rows[i].is_array()) fail(at, "expected an array, got " + brief(rows[i]));
      if (rows[i].size() != columns.size()) {
        fail(at, "expected " + std::to_string(columns.size()) + " values " + join(columns) +
                     ", got " + std::to_string(rows[i].size()));
      }
    }
    return rows;
  }

 private:
  std::string where_;
};

}  // namespace

Network network_from_json_text(const std::string& text, const std::string& where) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(where + ": invalid JSON: " + e.what());
  }
  const Reader rd(where);
  rd.check_keys(doc, "", kTopKeys);

  const std::string format = rd.string(rd.member(doc, "", "format"), "format");
  if (format != kFormat) {
    rd.fail("format", "expected \"" + std::string(kFormat) + "\", got \"" + format + "\"");
  }
  Network net;
  net.name = rd.string(rd.member(doc, "", "name"), "name");
  net.source = rd.string(rd.member(doc, "", "source"), "source");
  net.base_mva = rd.number(rd.member(doc, "", "base_mva"), "base_mva");
  if (!(net.base_mva > 0.0)) rd.fail("base_mva", "must be positive, got " + format_double(net.base_mva));
  const int slack_id = rd.integer(rd.member(doc, "", "slack_bus"), "slack_bus");
  net.v_slack_pu = rd.number(rd.member(doc, "", "v_slack_pu"), "v_slack_pu");

  const json& buses = rd.table(doc, "buses", kBusColumns);
  for (std::size_t i = 0; i < buses.size(); ++i) {
    const json& row = buses[i];
    const std::string at = "buses.rows[" + std::to_string(i) + "]";
    auto cell = [&](int j) { return at + "[" + std::to_string(j) + "]"; };
    const int id = rd.integer(row[0], cell(0));
    if (net.bus_index(id) >= 0) rd.fail(cell(0), "bus " + std::to_string(id) + " appears twice");
    net.bus_id.push_back(id);
    net.base_kv.push_back(rd.number(row[1], cell(1)));
    if (!(net.base_kv.back() > 0.0)) {
      rd.fail(cell(1), "base_kv must be positive, got " + format_double(net.base_kv.back()));
    }
    net.p_load_kw.push_back(rd.number(row[2], cell(2)));
    net.q_load_kvar.push_back(rd.number(row[3], cell(3)));
    net.g_shunt_kw.push_back(rd.number(row[4], cell(4)));
    net.b_shunt_kvar.push_back(rd.number(row[5], cell(5)));
    net.v_min_pu.push_back(rd.number(row[6], cell(6)));
    net.v_max_pu.push_back(rd.number(row[7], cell(7)));
  }
  net.slack_bus = net.bus_index(slack_id);
  if (net.slack_bus < 0) {
    rd.fail("slack_bus", "there is no bus " + std::to_string(slack_id) + " in buses.rows");
  }

  const json& branches = rd.table(doc, "branches", kBranchColumns);
  for (std::size_t k = 0; k < branches.size(); ++k) {
    const json& row = branches[k];
    const std::string at = "branches.rows[" + std::to_string(k) + "]";
    auto cell = [&](int j) { return at + "[" + std::to_string(j) + "]"; };
    for (int j = 0; j < 2; ++j) {
      const int id = rd.integer(row[j], cell(j));
      const int index = net.bus_index(id);
      if (index < 0) rd.fail(cell(j), "there is no bus " + std::to_string(id) + " in buses.rows");
      (j == 0 ? net.from_bus : net.to_bus).push_back(index);
    }
    net.r_ohm.push_back(rd.number(row[2], cell(2)));
    net.x_ohm.push_back(rd.number(row[3], cell(3)));
    net.r_pu.push_back(rd.number(row[4], cell(4)));
    net.x_pu.push_back(rd.number(row[5], cell(5)));
    net.b_pu.push_back(rd.number(row[6], cell(6)));
    const int status = rd.integer(row[7], cell(7));
    if (status != 0 && status != 1)
      rd.fail(cell(7), "in_service must be 0 or 1, got " + brief(row[7]));
    net.in_service.push_back(static_cast<std::uint8_t>(status));

    // The ohm and p.u. columns describe the same impedance: they must agree.
    const double z_base = net.z_base_ohm(net.from_bus.back());
    const std::pair<const char*, int> pairs[] = {{"r", 2}, {"x", 3}};
    for (const auto& [what, j] : pairs) {
      const double ohm = row[j].get<double>();
      const double from_pu = row[j + 2].get<double>() * z_base;
      const double scale = std::max(std::fabs(ohm), std::fabs(from_pu));
      if (std::fabs(ohm - from_pu) > kOhmRelTol * scale) {
        rd.fail(cell(j), std::string(what) + "_ohm " + format_double(ohm) + " disagrees with " + what +
                             "_pu * z_base_ohm(from bus) = " + format_double(from_pu) +
                             " (relative tolerance 1e-9)");
      }
    }
  }

  validate_network(net, where);
  build_radial_topology(net, where);
  return net;
}

Network read_network_json(const std::string& path) {
  return network_from_json_text(read_text_file(path), path);
}

std::string network_to_json_text(const Network& net) {
  validate_network(net, "network '" + net.name + "'");
  // One row per line keeps the file readable and diffable; doubles are written by nlohmann in
  // their shortest round-trip form.
  std::string out = "{\n";
  out += "  \"format\": " + json(kFormat).dump() + ",\n";
  out += "  \"name\": " + json(net.name).dump() + ",\n";
  out += "  \"source\": " + json(net.source).dump() + ",\n";
  out += "  \"base_mva\": " + json(net.base_mva).dump() + ",\n";
  out += "  \"slack_bus\": " + json(net.bus_id[net.slack_bus]).dump() + ",\n";
  out += "  \"v_slack_pu\": " + json(net.v_slack_pu).dump() + ",\n";
  out += "  \"buses\": {\n    \"columns\": " + json(kBusColumns).dump() + ",\n    \"rows\": [\n";
  for (int i = 0; i < net.num_buses(); ++i) {
    const json row = {net.bus_id[i],     net.base_kv[i],      net.p_load_kw[i], net.q_load_kvar[i],
                      net.g_shunt_kw[i], net.b_shunt_kvar[i], net.v_min_pu[i],  net.v_max_pu[i]};
    out += "      " + row.dump() + (i + 1 < net.num_buses() ? ",\n" : "\n");
  }
  out += "    ]\n  },\n";
  out +=
      "  \"branches\": {\n    \"columns\": " + json(kBranchColumns).dump() + ",\n    \"rows\": [\n";
  for (int k = 0; k < net.num_branches(); ++k) {
    const json row = {net.bus_id[net.from_bus[k]],
                      net.bus_id[net.to_bus[k]],
                      net.r_ohm[k],
                      net.x_ohm[k],
                      net.r_pu[k],
                      net.x_pu[k],
                      net.b_pu[k],
                      static_cast<int>(net.in_service[k])};
    out += "      " + row.dump() + (k + 1 < net.num_branches() ? ",\n" : "\n");
  }
  out += "    ]\n  }\n}\n";
  return out;
}

void write_network_json(const Network& net, const std::string& path) {
  write_text_file_atomic(path, network_to_json_text(net));
}

Network load_network(const std::string& spec) {
  const std::string builtin = "builtin:";
  if (spec.compare(0, builtin.size(), builtin) == 0) {
    const std::string name = spec.substr(builtin.size());
    // Only embedded files that are networks count (configs and fits are embedded too).
    auto is_network = [](const std::string& text) {
      return text.find("\"p2pgrid-network/1\"") != std::string::npos;
    };
    const auto& files = builtin_files();
    const auto it = files.find(name);
    if (it == files.end() || !is_network(it->second)) {
      std::string names;
      for (const auto& [key, text] : files)
        if (is_network(text)) names += (names.empty() ? "" : ", ") + key;
      throw Error("network '" + spec + "': no built-in network named '" + name +
                  "' (available: " + (names.empty() ? "none in this build" : names) + ")");
    }
    return network_from_json_text(it->second, spec);
  }
  const std::string ext = std::filesystem::path(spec).extension().string();
  if (ext == ".m") return import_matpower(spec);
  if (ext == ".json") return read_network_json(spec);
  throw Error("network '" + spec +
              "': expected a MATPOWER case (.m), a p2pgrid network JSON (.json) or "
              "builtin:NAME (e.g. builtin:ieee141)");
}

}  // namespace p2pgrid
