// Builds EnvSpec from the "env" config section: portfolios (device templates), prosumers placed on
// buses, tariff, market, reward, profiles. Every key is checked; errors name the key path.
#include "p2pgrid/env/env_spec.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/format.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/env/physics.hpp"

namespace p2pgrid {
namespace {

using nlohmann::json;

void check_keys(const json& obj, const std::vector<std::string>& allowed,
                const std::vector<std::string>& required, const std::string& where) {
  if (!obj.is_object()) throw Error(where + ": expected an object, got " + obj.dump());
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const auto& a : allowed) known |= a == it.key();
    if (!known)
      throw Error(where + ": unknown key '" + it.key() + "' (did you mean '" +
                  nearest_key(it.key(), allowed) + "'?)");
  }
  for (const auto& r : required)
    if (!obj.contains(r)) throw Error(where + ": missing key '" + r + "'");
}

double number_at(const json& obj, const std::string& key, const std::string& where, double lo,
                 double hi, double fallback = NAN) {
  if (!obj.contains(key)) {
    if (std::isnan(fallback)) throw Error(where + "." + key + ": missing");
    return fallback;
  }
  const json& v = obj.at(key);
  if (!v.is_number()) throw Error(where + "." + key + ": expected a number, got " + v.dump());
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    throw Error(where + "." + key + ": " + v.dump() + " is outside [" + format_short(lo) + ", " +
                format_short(hi) + "]");
  return x;
}

std::vector<DeviceUnit> parse_devices(const json& list, const std::string& where) {
  if (!list.is_array()) throw Error(where + ": expected an array of devices");
  std::vector<DeviceUnit> units;
  const double kBig = 1e7;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& d = list[i];
    const std::string w = where + "[" + std::to_string(i) + "]";
    if (!d.is_object() || !d.contains("type") || !d["type"].is_string())
      throw Error(w + ": expected an object with a \"type\" of cdg, pv, wind or bess");
    const std::string type = d["type"];
    DeviceUnit u;
    if (type == "cdg") {
      check_keys(d, {"type", "p_min_kw", "p_max_kw", "ramp_kw_per_step", "p_init_kw",
                     "cost_a_cny_per_kw2h", "cost_b_cny_per_kwh", "cost_c_cny_per_h"},
                 {"p_max_kw", "ramp_kw_per_step"}, w);
      u.type = DeviceType::kCdg;
      u.p_min_kw = number_at(d, "p_min_kw", w, 0, kBig, 0.0);
      u.p_max_kw = number_at(d, "p_max_kw", w, u.p_min_kw, kBig);
      u.ramp_kw_per_step = number_at(d, "ramp_kw_per_step", w, 0, kBig);
      u.p_init_kw = number_at(d, "p_init_kw", w, u.p_min_kw, u.p_max_kw, u.p_min_kw);
      u.cost_a_cny_per_kw2h = number_at(d, "cost_a_cny_per_kw2h", w, 0, kBig, 0.0);
      u.cost_b_cny_per_kwh = number_at(d, "cost_b_cny_per_kwh", w, 0, kBig, 0.0);
      u.cost_c_cny_per_h = number_at(d, "cost_c_cny_per_h", w, 0, kBig, 0.0);
    } else if (type == "pv" || type == "wind") {
      check_keys(d, {"type", "rating_kw", "s_max_kva"}, {"rating_kw"}, w);
      u.type = type == "pv" ? DeviceType::kPv : DeviceType::kWind;
      u.rating_kw = number_at(d, "rating_kw", w, 0, kBig);
      u.s_max_kva = number_at(d, "s_max_kva", w, u.rating_kw, kBig, 1.1 * u.rating_kw);
    } else if (type == "bess") {
      check_keys(d, {"type", "energy_kwh", "p_max_kw", "soc_min", "soc_max", "soc_init",
                     "eta_charge", "eta_discharge", "gamma_cny_per_kwh"},
                 {"energy_kwh", "p_max_kw"}, w);
      u.type = DeviceType::kBess;
      u.energy_kwh = number_at(d, "energy_kwh", w, 1e-9, kBig);
      u.p_bess_max_kw = number_at(d, "p_max_kw", w, 0, kBig);
      u.soc_min = number_at(d, "soc_min", w, 0, 1, 0.1);
      u.soc_max = number_at(d, "soc_max", w, u.soc_min, 1, 0.9);
      u.soc_init = number_at(d, "soc_init", w, u.soc_min, u.soc_max, 0.5 * (u.soc_min + u.soc_max));
      u.eta_charge = number_at(d, "eta_charge", w, 1e-3, 1, 0.95);
      u.eta_discharge = number_at(d, "eta_discharge", w, 1e-3, 1, 0.95);
      u.gamma_cny_per_kwh = number_at(d, "gamma_cny_per_kwh", w, 0, kBig, 0.0);
    } else {
      throw Error(w + ".type: unknown device '" + type + "' (expected cdg, pv, wind or bess)");
    }
    units.push_back(u);
  }
  return units;
}

std::array<double, 24> hourly(const json& v, const std::string& where) {
  if (!v.is_array() || v.size() != 24)
    throw Error(where + ": expected 24 hourly prices (CNY/kWh), got " + v.dump());
  std::array<double, 24> out{};
  for (int h = 0; h < 24; ++h) {
    // The upper end keeps costs and the expert QP's scaling finite (1e308 was accepted).
    if (!v[h].is_number() || !(v[h].get<double>() >= 0 && v[h].get<double>() <= 1000))
      throw Error(where + "[" + std::to_string(h) +
                  "]: expected a price in [0, 1000] CNY/kWh, got " + v[h].dump());
    out[h] = v[h].get<double>();
  }
  return out;
}

YearProfiles load_profiles(const Config& c) {
  const std::string file = c.string("env.profiles.file");
  const int year = c.integer_in("env.profiles.year", 1900, 2200);
  if (!file.empty()) {
    YearProfiles p = with_config_key("env.profiles.file", file, [&] {
      return year_profiles_from_json_text(read_text_file(file), file);
    });
    if (p.year != year)
      throw Error("env.profiles.file " + file + " holds year " + std::to_string(p.year) +
                  " but env.profiles.year is " + std::to_string(year));
    return p;
  }
  const std::string fit_file = c.string("env.profiles.fit");
  const ProfileFit fit =
      with_config_key("env.profiles.fit", fit_file, [&] { return load_profile_fit(fit_file); });
  return generate_profiles(fit, year, c.seed("env.profiles.seed"));
}

}  // namespace

std::vector<float> EnvSpec::action_mask() const {
  std::vector<float> mask(std::size_t(num_agents()) * kActionDim, 0.0f);
  for (const DeviceUnit& u : units) {
    float* m = mask.data() + std::size_t(u.agent) * kActionDim;
    if (u.type == DeviceType::kCdg) m[kActCdg] = 1;
    if (u.type == DeviceType::kPv || u.type == DeviceType::kWind) m[kActRdgP] = m[kActRdgQ] = 1;
    if (u.type == DeviceType::kBess) m[kActBess] = 1;
  }
  for (int a = 0; a < num_agents(); ++a)
    if (prosumers[a].cl_alpha > 0) mask[std::size_t(a) * kActionDim + kActCl] = 1;
  return mask;
}

EnvSpec build_env_spec(const Config& c) {
  EnvSpec s;
  const std::string net_spec = c.string("network.file");
  s.network = with_config_key("network.file", net_spec, [&] { return load_network(net_spec); });
  s.v_min_pu = c.number("env.v_min_pu");
  s.v_max_pu = c.number("env.v_max_pu");
  if (!(s.v_min_pu > 0 && s.v_min_pu < s.v_max_pu && s.v_max_pu < 2))
    throw Error("env.v_min_pu = " + std::to_string(s.v_min_pu) + ", env.v_max_pu = " +
                std::to_string(s.v_max_pu) + ": expected 0 < v_min_pu < v_max_pu < 2 (p.u.)");
  s.feeder_load_scale = c.number("env.feeder_load_scale");
  if (!(s.feeder_load_scale >= 0)) throw Error("env.feeder_load_scale must be >= 0");
  s.p2p_lambda = c.number("env.p2p_lambda");
  if (!(s.p2p_lambda >= 0 && s.p2p_lambda <= 1)) throw Error("env.p2p_lambda must be in [0, 1]");
  s.dso_fee_cny_per_kwh = c.number("env.dso_fee_cny_per_kwh");
  if (!(s.dso_fee_cny_per_kwh >= 0)) throw Error("env.dso_fee_cny_per_kwh must be >= 0");
  s.buy_cny_per_kwh = hourly(c.at("env.tariff.buy_cny_per_kwh"), "env.tariff.buy_cny_per_kwh");
  s.sell_cny_per_kwh = hourly(c.at("env.tariff.sell_cny_per_kwh"), "env.tariff.sell_cny_per_kwh");
  double max_buy = 0;
  for (int h = 0; h < 24; ++h) {
    if (s.sell_cny_per_kwh[h] > s.buy_cny_per_kwh[h])
      throw Error("env.tariff: hour " + std::to_string(h) +
                  ": sell price above buy price; eq. (20) needs lambda_S <= lambda_B so that "
                  "lambda_S <= lambda_P2P <= lambda_B");
    max_buy = std::max(max_buy, s.buy_cny_per_kwh[h]);
  }
  // Where the market clears (p2p_market_clears), neither side may pay more than the grid: the
  // buyer's lambda_P2P + fee <= lambda_B and the seller's lambda_P2P - fee >= lambda_S, i.e.
  // fee <= min(lambda, 1 - lambda) (lambda_B - lambda_S) with eq. (20)'s price.
  for (int h = 0; h < 24; ++h) {
    const double spread = s.buy_cny_per_kwh[h] - s.sell_cny_per_kwh[h];
    const double share = std::min(s.p2p_lambda, 1.0 - s.p2p_lambda);
    if (p2p_market_clears(s.buy_cny_per_kwh[h], s.sell_cny_per_kwh[h], s.dso_fee_cny_per_kwh) &&
        s.dso_fee_cny_per_kwh > share * spread)
      throw Error("env.dso_fee_cny_per_kwh = " + format_double(s.dso_fee_cny_per_kwh) +
                  " with env.p2p_lambda = " + format_double(s.p2p_lambda) + ": at hour " +
                  std::to_string(h) + " the P2P " +
                  (s.p2p_lambda < 0.5 ? "seller would get less" : "buyer would pay more") +
                  " than the grid's price (expected fee <= min(lambda, 1 - lambda) (lambda_B - "
                  "lambda_S) = " +
                  format_short(share * spread) + " CNY/kWh in the hours where the market clears)");
  }
  // A fee above the highest buy price closes the market in every hour, as that price does; a
  // larger one only spoils the expert QP's scaling (1e300 gave an objective of -6.8e300).
  if (s.dso_fee_cny_per_kwh > max_buy)
    throw Error("env.dso_fee_cny_per_kwh = " + format_double(s.dso_fee_cny_per_kwh) +
                ": expected at most the highest buy price, " + format_short(max_buy) +
                " CNY/kWh (a fee of half the buy-sell spread already closes the market)");
  s.price_scale_cny_per_kwh = max_buy > 0 ? max_buy : 1.0;  // observation scale (docs/env.md)
  s.cost_weight = c.number("env.reward.cost_weight");
  s.penalty_a = c.number("env.reward.penalty_a");
  s.penalty_c = c.number("env.reward.penalty_c");
  s.nonconvergence_penalty = c.number("env.reward.nonconvergence_penalty");
  // A negative weight would reward cost or violations.
  for (const char* key : {"env.reward.cost_weight", "env.reward.penalty_a", "env.reward.penalty_c",
                          "env.reward.nonconvergence_penalty"})
    if (!(c.number(key) >= 0))
      throw Error(std::string("config key '") + key + "' = " + std::to_string(c.number(key)) +
                  ": expected >= 0");
  try {
    s.split = parse_split(c.string("env.split"));
  } catch (const Error& e) {
    throw Error(std::string("env.split: ") + e.what());
  }
  s.profiles = load_profiles(c);

  // Portfolios: named device templates.
  const json& portfolios = c.at("env.portfolios");
  if (!portfolios.is_array() || portfolios.empty())
    throw Error("env.portfolios: expected a non-empty array of portfolios");
  std::vector<std::string> names;
  for (std::size_t i = 0; i < portfolios.size(); ++i) {
    const std::string w = "env.portfolios[" + std::to_string(i) + "]";
    check_keys(portfolios[i], {"name", "load_peak_kw", "power_factor", "cl_alpha",
                               "cl_rho_cny_per_kwh", "devices"},
               {"name", "load_peak_kw", "devices"}, w);
    if (!portfolios[i]["name"].is_string()) throw Error(w + ".name: expected a string");
    const std::string name = portfolios[i]["name"];
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw Error(w + ".name: portfolio '" + name + "' is defined twice");
    names.push_back(name);
    parse_devices(portfolios[i]["devices"], w + ".devices");  // validate early
  }
  const json& prosumers = c.at("env.prosumers");
  if (!prosumers.is_array() || prosumers.empty())
    throw Error("env.prosumers: expected a non-empty array of {bus, portfolio}");
  s.agent_unit_begin.push_back(0);
  for (std::size_t i = 0; i < prosumers.size(); ++i) {
    const std::string w = "env.prosumers[" + std::to_string(i) + "]";
    const json& pj = prosumers[i];
    check_keys(pj, {"bus", "portfolio", "name", "scale"}, {"bus", "portfolio"}, w);
    if (!pj["bus"].is_number_integer()) throw Error(w + ".bus: expected a bus number");
    if (!pj["portfolio"].is_string()) throw Error(w + ".portfolio: expected a portfolio name");
    const long long bus_ll = pj["bus"].get<long long>();
    if (bus_ll < 0 || bus_ll > 1000000000)
      throw Error(w + ".bus: " + std::to_string(bus_ll) + " is not a bus number");
    const int bus_id = static_cast<int>(bus_ll);
    const int bus = s.network.bus_index(bus_id);
    if (bus < 0)
      throw Error(w + ".bus: bus " + std::to_string(bus_id) + " is not in network " +
                  s.network.name + " (" + net_spec + ")");
    if (bus == s.network.slack_bus)
      throw Error(w + ".bus: bus " + std::to_string(bus_id) + " is the slack bus");
    const std::string pname = pj["portfolio"];
    std::size_t k = 0;
    while (k < names.size() && names[k] != pname) ++k;
    if (k == names.size())
      throw Error(w + ".portfolio: unknown portfolio '" + pname + "' (did you mean '" +
                  nearest_key(pname, names) + "'?)");
    const json& pf = portfolios[k];
    const std::string pw = "env.portfolios[" + std::to_string(k) + "]";
    const double scale = number_at(pj, "scale", w, 0, 1e6, 1.0);
    Prosumer pr;
    pr.portfolio = pname;
    if (pj.contains("name") && !pj["name"].is_string())
      throw Error(w + ".name: expected a string, got " + pj["name"].dump());
    pr.name = pj.contains("name") ? pj["name"].get<std::string>()
                                  : pname + "@" + std::to_string(bus_id);
    // The per-prosumer outputs (expert costs, traces) are keyed by name.
    for (std::size_t o = 0; o < s.prosumers.size(); ++o)
      if (s.prosumers[o].name == pr.name)
        throw Error(w + ".name: '" + pr.name + "' is also env.prosumers[" + std::to_string(o) +
                    "]'s name (give one of them a \"name\")");
    pr.bus = bus;
    pr.load_peak_kw = scale * number_at(pf, "load_peak_kw", pw, 0, 1e7);
    const double pfac = number_at(pf, "power_factor", pw, 0.05, 1.0, 0.9);
    pr.tan_phi = std::tan(std::acos(pfac));
    pr.cl_alpha = number_at(pf, "cl_alpha", pw, 0, 1, 0.0);
    pr.cl_rho_cny_per_kwh = number_at(pf, "cl_rho_cny_per_kwh", pw, 0, 1e6, 0.0);
    double rating_sum = 0;
    for (DeviceUnit u : parse_devices(pf["devices"], pw + ".devices")) {
      u.agent = static_cast<int>(s.prosumers.size());
      for (double* x : {&u.p_min_kw, &u.p_max_kw, &u.ramp_kw_per_step, &u.p_init_kw, &u.rating_kw,
                        &u.s_max_kva, &u.p_bess_max_kw, &u.energy_kwh})
        *x *= scale;
      // Scaling a generator by k multiplies its cost at k-fold output by k (a = a / k, c = c k).
      if (scale > 0) u.cost_a_cny_per_kw2h /= scale;
      u.cost_c_cny_per_h *= scale;
      rating_sum += u.p_max_kw + u.rating_kw + u.p_bess_max_kw;
      s.units.push_back(u);
    }
    pr.p_scale_kw = std::max({pr.load_peak_kw, rating_sum, 1.0});
    s.prosumers.push_back(pr);
    s.agent_unit_begin.push_back(static_cast<int>(s.units.size()));
  }
  return s;
}

// ---------------------------------------------------------------- profiles JSON
std::string year_profiles_to_json_text(const YearProfiles& p) {
  json j;
  j["format"] = "p2pgrid-profiles/1";
  j["year"] = p.year;
  j["num_days"] = p.num_days;
  j["steps_per_day"] = YearProfiles::kStepsPerDay;
  j["source"] = p.source;
  j["units"] = {{"pv_cf", "PV output / rated capacity"},
                {"wind_cf", "wind output / rated capacity"},
                {"load_pu", "demand / annual peak"}};
  j["pv_cf"] = p.pv_cf;
  j["wind_cf"] = p.wind_cf;
  j["load_pu"] = p.load_pu;
  return j.dump() + "\n";
}

YearProfiles year_profiles_from_json_text(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
  check_keys(j, {"format", "year", "num_days", "steps_per_day", "source", "units", "pv_cf",
                 "wind_cf", "load_pu"},
             {"format", "year", "num_days", "pv_cf", "wind_cf", "load_pu"}, where);
  if (j["format"] != "p2pgrid-profiles/1")
    throw Error(where + ": format " + j["format"].dump() + ", expected \"p2pgrid-profiles/1\"");
  for (const char* key : {"year", "num_days"})
    if (!j[key].is_number_integer())
      throw Error(where + ": " + key + ": expected an integer, got " + j[key].dump());
  if (j.contains("source") && !j["source"].is_string())
    throw Error(where + ": source: expected a string, got " + j["source"].dump());
  YearProfiles p;
  p.year = j["year"];
  p.num_days = j["num_days"];
  if (p.num_days != days_in_year(p.year))
    throw Error(where + ": num_days " + std::to_string(p.num_days) + " but year " +
                std::to_string(p.year) + " has " + std::to_string(days_in_year(p.year)));
  p.source = j.value("source", "");
  const std::size_t n = std::size_t(p.num_days) * YearProfiles::kStepsPerDay;
  auto read = [&](const char* key, std::vector<float>& dst, float lo, float hi) {
    const json& a = j[key];
    if (!a.is_array() || a.size() != n)
      throw Error(where + ": " + key + ": expected " + std::to_string(n) + " values");
    dst.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (!a[i].is_number())
        throw Error(where + ": " + key + "[" + std::to_string(i) + "]: expected a number, got " +
                    a[i].dump());
      const float x = a[i].get<float>();
      if (!(x >= lo && x <= hi))
        throw Error(where + ": " + key + "[" + std::to_string(i) + "] (day " +
                    std::to_string(i / 96) + ", step " + std::to_string(i % 96) +
                    "): " + a[i].dump() + " is outside [" + format_short(lo) + ", " +
                    format_short(hi) + "]");
      dst[i] = x;
    }
  };
  read("pv_cf", p.pv_cf, 0.f, 1.f);
  read("wind_cf", p.wind_cf, 0.f, 1.f);
  read("load_pu", p.load_pu, 0.f, 1.f);
  return p;
}

}  // namespace p2pgrid
