// The env spec built from the "env" config section: the default 20-prosumer layout, and every
// error a user can make in the section (each must name the key path and the problem), the
// EnvBatch argument checks, and the profiles JSON ("p2pgrid-profiles/1") round trip and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "p2pgrid/env/env_batch.hpp"
#include "support/env_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace p2pgrid {
namespace {

using nlohmann::json;
using test::error_of;

// ----------------------------------------------------------------------- the default layout

TEST(EnvSpec, DefaultConfigPlacesTwentyProsumersOnTheirBuses) {
  const EnvSpec& spec = test::default_env_spec();
  ASSERT_EQ(spec.num_agents(), 20);
  EXPECT_EQ(spec.state_dim(), 3 + 7 * 20);
  const std::vector<int> buses = {48,  78,  102, 127, 59,  109, 130, 140, 67,  95,
                                  133, 136, 62,  86,  106, 138, 74,  100, 116, 134};
  const std::map<std::string, std::vector<DeviceType>> units = {
      {"commercial_rural", {DeviceType::kCdg, DeviceType::kPv, DeviceType::kBess}},
      {"industrial", {DeviceType::kCdg, DeviceType::kWind}},
      {"residential", {DeviceType::kPv, DeviceType::kBess}},
      {"energy_hub", {DeviceType::kCdg, DeviceType::kWind, DeviceType::kPv, DeviceType::kBess}}};
  // p_scale_kw = max(load peak, sum of device ratings, 1).
  const std::map<std::string, double> p_scale = {
      {"commercial_rural", 370}, {"industrial", 600}, {"residential", 130}, {"energy_hub", 650}};
  const std::map<std::string, double> power_factor = {
      {"commercial_rural", 0.9}, {"industrial", 0.85}, {"residential", 0.95}, {"energy_hub", 0.9}};
  ASSERT_EQ(spec.agent_unit_begin.size(), 21u);
  EXPECT_EQ(spec.agent_unit_begin[0], 0);
  for (int a = 0; a < 20; ++a) {
    const Prosumer& p = spec.prosumers[a];
    SCOPED_TRACE("agent " + std::to_string(a) + " " + p.portfolio);
    const std::string want_portfolio = a < 8    ? "commercial_rural"
                                       : a < 12 ? "industrial"
                                       : a < 16 ? "residential"
                                                : "energy_hub";
    EXPECT_EQ(p.portfolio, want_portfolio);
    EXPECT_EQ(spec.network.bus_id.at(p.bus), buses[a]);
    EXPECT_EQ(p.name, want_portfolio + "@" + std::to_string(buses[a]));
    EXPECT_DOUBLE_EQ(p.p_scale_kw, p_scale.at(want_portfolio));
    EXPECT_NEAR(p.tan_phi,
                std::sqrt(1 - std::pow(power_factor.at(want_portfolio), 2)) /
                    power_factor.at(want_portfolio),
                1e-12);
    const std::vector<DeviceType>& want = units.at(want_portfolio);
    ASSERT_EQ(spec.agent_unit_begin[a + 1] - spec.agent_unit_begin[a], int(want.size()));
    for (std::size_t k = 0; k < want.size(); ++k) {
      const DeviceUnit& u = spec.units[spec.agent_unit_begin[a] + k];
      EXPECT_EQ(u.type, want[k]) << "unit " << k;
      EXPECT_EQ(u.agent, a) << "unit " << k;
    }
  }
  EXPECT_EQ(spec.num_units(), 8 * 3 + 4 * 2 + 4 * 2 + 4 * 4);
  // A few numbers carried through unchanged (scale 1).
  const DeviceUnit& cdg = spec.units[0];
  EXPECT_EQ(cdg.p_max_kw, 120.0);
  EXPECT_EQ(cdg.ramp_kw_per_step, 40.0);
  EXPECT_EQ(cdg.cost_a_cny_per_kw2h, 0.0008);
  EXPECT_EQ(cdg.cost_c_cny_per_h, 2.0);
  const DeviceUnit& bess = spec.units[2];
  EXPECT_EQ(bess.energy_kwh, 200.0);
  EXPECT_EQ(bess.p_bess_max_kw, 100.0);
  EXPECT_EQ(bess.soc_init, 0.5);
  EXPECT_EQ(spec.prosumers[0].cl_alpha, 0.2);
  EXPECT_EQ(spec.prosumers[0].cl_rho_cny_per_kwh, 0.9);
  EXPECT_EQ(spec.buy_cny_per_kwh[8], 1.12);
  EXPECT_EQ(spec.sell_cny_per_kwh[8], 0.3);
  EXPECT_EQ(spec.price_scale_cny_per_kwh, 1.12);
  EXPECT_EQ(spec.dso_fee_cny_per_kwh, 0.03);
  EXPECT_EQ(spec.penalty_a, 50.0);
  EXPECT_EQ(spec.split, Split::kTrain);
  EXPECT_EQ(spec.profiles.year, 2017);
  EXPECT_EQ(spec.profiles.num_days, 365);
  EXPECT_EQ(spec.profiles.load_pu.size(), 365u * 96);
}

TEST(EnvSpec, ProsumerScaleScalesPowerAndEnergyAndKeepsCostPerUnitOutput) {
  Config c = Config::defaults();
  c.set(R"(env.prosumers=[{"bus": 48, "portfolio": "commercial_rural", "scale": 2.0,
                           "name": "big"}])");
  const EnvSpec s = build_env_spec(c);
  ASSERT_EQ(s.num_agents(), 1);
  EXPECT_EQ(s.prosumers[0].name, "big");
  EXPECT_EQ(s.prosumers[0].load_peak_kw, 400.0);
  const DeviceUnit& cdg = s.units[0];
  EXPECT_EQ(cdg.p_max_kw, 240.0);
  EXPECT_EQ(cdg.ramp_kw_per_step, 80.0);
  // Two units at P each cost 2 (a P^2 + b P + c) = (a / 2) (2P)^2 + b (2P) + 2c.
  EXPECT_DOUBLE_EQ(cdg.cost_a_cny_per_kw2h, 0.0004);
  EXPECT_DOUBLE_EQ(cdg.cost_b_cny_per_kwh, 0.55);
  EXPECT_DOUBLE_EQ(cdg.cost_c_cny_per_h, 4.0);
  EXPECT_EQ(s.units[1].rating_kw, 300.0);
  EXPECT_EQ(s.units[1].s_max_kva, 330.0);
  EXPECT_EQ(s.units[2].energy_kwh, 400.0);
  EXPECT_EQ(s.units[2].p_bess_max_kw, 200.0);
  EXPECT_EQ(s.units[2].soc_min, 0.1);  // fractions are not scaled
  EXPECT_EQ(s.prosumers[0].p_scale_kw, 740.0);
}

// ------------------------------------------------------------------------- config errors

/// The message of building the spec from the defaults with these --set assignments.
std::string spec_error(const std::vector<std::string>& sets) {
  Config c = Config::defaults();
  for (const std::string& s : sets) c.set(s);
  return error_of([&] { build_env_spec(c); });
}

/// One portfolio named "p" with the given devices JSON, and one prosumer of it at bus 48.
std::vector<std::string> one_portfolio(const std::string& devices, const std::string& extra = "") {
  return {R"(env.portfolios=[{"name": "p", "load_peak_kw": 10)" + extra + R"(, "devices": )" +
              devices + "}]",
          R"(env.prosumers=[{"bus": 48, "portfolio": "p"}])"};
}

#define EXPECT_MESSAGE_HAS(msg, ...)                                                          \
  do {                                                                                        \
    const std::string m_ = (msg);                                                             \
    for (const char* part : {__VA_ARGS__})                                                    \
      EXPECT_NE(m_.find(part), std::string::npos) << "missing \"" << part << "\" in: " << m_; \
  } while (0)

TEST(EnvSpecErrors, UnknownKeyInAProsumerSuggestsTheNearestKey) {
  EXPECT_MESSAGE_HAS(spec_error({R"(env.prosumers=[{"bus": 48, "portfolio": "industrial"},
                                    {"bus": 78, "portfolio": "industrial", "buss": 3}])"}),
                     "env.prosumers[1]", "unknown key 'buss'", "did you mean 'bus'");
}

TEST(EnvSpecErrors, UnknownPortfolioSuggestsTheNearestName) {
  EXPECT_MESSAGE_HAS(spec_error({R"(env.prosumers=[{"bus": 48, "portfolio": "industral"}])"}),
                     "env.prosumers[0].portfolio", "unknown portfolio 'industral'",
                     "did you mean 'industrial'");
}

TEST(EnvSpecErrors, BusMustExistAndNotBeTheSlack) {
  EXPECT_MESSAGE_HAS(spec_error({R"(env.prosumers=[{"bus": 999, "portfolio": "industrial"}])"}),
                     "env.prosumers[0].bus", "bus 999 is not in network ieee141");
  const EnvSpec& spec = test::default_env_spec();
  const int slack_id = spec.network.bus_id[spec.network.slack_bus];
  EXPECT_MESSAGE_HAS(spec_error({R"(env.prosumers=[{"bus": 48, "portfolio": "industrial"},
                                   {"bus": )" +
                                 std::to_string(slack_id) + R"(, "portfolio": "industrial"}])"}),
                     "env.prosumers[1].bus", "is the slack bus");
  EXPECT_MESSAGE_HAS(spec_error({R"(env.prosumers=[{"bus": "48", "portfolio": "industrial"}])"}),
                     "env.prosumers[0].bus", "expected a bus number");
  EXPECT_MESSAGE_HAS(spec_error({R"(env.prosumers=[{"portfolio": "industrial"}])"}),
                     "env.prosumers[0]", "missing key 'bus'");
  EXPECT_MESSAGE_HAS(spec_error({"env.prosumers=[]"}), "env.prosumers", "non-empty");
}

// Regression: a non-string prosumer "name" escaped as nlohmann::json::type_error instead of a
// p2pgrid::Error naming env.prosumers[0].name.
TEST(EnvSpecErrors, ProsumerNameMustBeAString) {
  Config c = Config::defaults();
  c.set(R"(env.prosumers=[{"bus": 48, "portfolio": "industrial", "name": 5}])");
  std::string msg = "(no error)";
  try {
    build_env_spec(c);
  } catch (const Error& e) {
    msg = e.what();
  } catch (const std::exception& e) {
    msg = std::string("non-p2pgrid exception: ") + e.what();
  }
  EXPECT_MESSAGE_HAS(msg, "env.prosumers[0].name", "expected a string");
}

TEST(EnvSpecErrors, UnknownDeviceTypeOrKey) {
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(R"([{"type": "diesel", "p_max_kw": 5}])")),
                     "env.portfolios[0].devices[0].type", "unknown device 'diesel'",
                     "cdg, pv, wind or bess");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(R"([{"p_max_kw": 5}])")),
                     "env.portfolios[0].devices[0]", "\"type\"");
  EXPECT_MESSAGE_HAS(
      spec_error(one_portfolio(R"([{"type": "pv", "rating_kw": 5}, {"type": "pv", "rating": 5}])")),
      "env.portfolios[0].devices[1]", "unknown key 'rating'", "did you mean 'rating_kw'");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio("{}")), "env.portfolios[0].devices",
                     "expected an array");
}

TEST(EnvSpecErrors, DeviceMissingARequiredKey) {
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(R"([{"type": "pv", "s_max_kva": 5}])")),
                     "env.portfolios[0].devices[0]", "missing key 'rating_kw'");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(R"([{"type": "bess", "p_max_kw": 5}])")),
                     "env.portfolios[0].devices[0]", "missing key 'energy_kwh'");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(R"([{"type": "cdg", "p_max_kw": 5}])")),
                     "env.portfolios[0].devices[0]", "missing key 'ramp_kw_per_step'");
  EXPECT_MESSAGE_HAS(spec_error({R"(env.portfolios=[{"load_peak_kw": 10, "devices": []}])"}),
                     "env.portfolios[0]", "missing key 'name'");
}

TEST(EnvSpecErrors, ValuesOutOfRange) {
  const std::string bess = R"({"type": "bess", "energy_kwh": 10, "p_max_kw": 5, )";
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio("[" + bess + R"("soc_min": 1.5}])")),
                     "env.portfolios[0].devices[0].soc_min", "1.5 is outside");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(
                         "[" + bess + R"("soc_min": 0.2, "soc_max": 0.9, "soc_init": 0.1}])")),
                     "env.portfolios[0].devices[0].soc_init", "0.1 is outside");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio("[" + bess + R"("eta_charge": 0}])")),
                     "env.portfolios[0].devices[0].eta_charge", "outside");
  EXPECT_MESSAGE_HAS(
      spec_error(one_portfolio(R"([{"type": "cdg", "p_max_kw": 10, "ramp_kw_per_step": -5}])")),
      "env.portfolios[0].devices[0].ramp_kw_per_step", "-5", "outside");
  EXPECT_MESSAGE_HAS(
      spec_error(one_portfolio(
          R"([{"type": "cdg", "p_max_kw": 10, "ramp_kw_per_step": 5, "p_init_kw": 11}])")),
      "env.portfolios[0].devices[0].p_init_kw", "outside");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(R"([{"type": "cdg", "p_min_kw": 20, "p_max_kw": 10,
                                    "ramp_kw_per_step": 5}])")),
                     "env.portfolios[0].devices[0].p_max_kw", "outside");
  EXPECT_MESSAGE_HAS(
      spec_error(one_portfolio(R"([{"type": "pv", "rating_kw": 10, "s_max_kva": 9}])")),
      "env.portfolios[0].devices[0].s_max_kva", "outside");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio(R"([{"type": "pv", "rating_kw": "ten"}])")),
                     "env.portfolios[0].devices[0].rating_kw", "expected a number");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio("[]", R"(, "cl_alpha": 2)")),
                     "env.portfolios[0].cl_alpha", "outside");
  EXPECT_MESSAGE_HAS(spec_error(one_portfolio("[]", R"(, "power_factor": 0)")),
                     "env.portfolios[0].power_factor", "outside");
  EXPECT_MESSAGE_HAS(
      spec_error({R"(env.prosumers=[{"bus": 48, "portfolio": "industrial", "scale": -1}])"}),
      "env.prosumers[0].scale", "outside");
}

TEST(EnvSpecErrors, Tariff) {
  std::string p23 = "[0.5";
  for (int h = 1; h < 23; ++h) p23 += ", 0.5";
  p23 += "]";
  EXPECT_MESSAGE_HAS(spec_error({"env.tariff.buy_cny_per_kwh=" + p23}),
                     "env.tariff.buy_cny_per_kwh", "expected 24 hourly prices");
  std::string neg = "[0.1, 0.1, 0.1, -0.1";
  for (int h = 4; h < 24; ++h) neg += ", 0.1";
  EXPECT_MESSAGE_HAS(spec_error({"env.tariff.sell_cny_per_kwh=" + neg + "]"}),
                     "env.tariff.sell_cny_per_kwh[3]", "expected a price in [0, 1000] CNY/kWh");
  std::string huge = "[0.3, 1e308";  // would overflow the costs and the expert QP's scaling
  for (int h = 2; h < 24; ++h) huge += ", 0.3";
  EXPECT_MESSAGE_HAS(spec_error({"env.tariff.buy_cny_per_kwh=" + huge + "]"}),
                     "env.tariff.buy_cny_per_kwh[1]", "expected a price in [0, 1000] CNY/kWh");
  std::string high = "[0.3, 0.3, 0.3, 0.3, 0.3, 0.5";  // hour 5: sell 0.5 > buy 0.32
  for (int h = 6; h < 24; ++h) high += ", 0.3";
  EXPECT_MESSAGE_HAS(spec_error({"env.tariff.sell_cny_per_kwh=" + high + "]"}), "env.tariff",
                     "hour 5", "sell price above buy price");
}

TEST(EnvSpecErrors, ScalarsOfTheSection) {
  EXPECT_MESSAGE_HAS(spec_error({"env.v_min_pu=1.05", "env.v_max_pu=1.05"}), "env.v_min_pu",
                     "0 < v_min_pu < v_max_pu < 2");
  EXPECT_MESSAGE_HAS(spec_error({"env.v_min_pu=1.1"}), "env.v_min_pu", "v_min_pu < v_max_pu");
  // Per-unit limits, not volts or percent.
  EXPECT_MESSAGE_HAS(spec_error({"env.v_min_pu=95", "env.v_max_pu=105"}), "env.v_max_pu",
                     "< 2 (p.u.)");
  EXPECT_MESSAGE_HAS(spec_error({"env.v_min_pu=-0.1"}), "env.v_min_pu", "0 < v_min_pu");
  // A negative weight would reward cost or violations.
  for (const char* key : {"env.reward.cost_weight", "env.reward.penalty_a", "env.reward.penalty_c",
                          "env.reward.nonconvergence_penalty"})
    EXPECT_MESSAGE_HAS(spec_error({std::string(key) + "=-1"}), key, "expected >= 0");
  EXPECT_MESSAGE_HAS(spec_error({"env.p2p_lambda=1.5"}), "env.p2p_lambda", "[0, 1]");
  EXPECT_MESSAGE_HAS(spec_error({"env.feeder_load_scale=-1"}), "env.feeder_load_scale", ">= 0");
  EXPECT_MESSAGE_HAS(spec_error({"env.dso_fee_cny_per_kwh=-0.1"}), "env.dso_fee_cny_per_kwh",
                     ">= 0");
  EXPECT_MESSAGE_HAS(spec_error({"env.split=training"}), "training");
  // Where the market clears, neither side may do worse than the grid: at lambda 0.05 the seller
  // gets lambda_S + 0.05 x 0.38 - 0.03 < lambda_S in the flat hours (11-16, 22-23).
  EXPECT_MESSAGE_HAS(spec_error({"env.p2p_lambda=0.05"}), "env.dso_fee_cny_per_kwh = 0.03",
                     "env.p2p_lambda = 0.05", "at hour 11 the P2P seller would get less",
                     "= 0.019 CNY/kWh");
  EXPECT_MESSAGE_HAS(spec_error({"env.p2p_lambda=0.95"}),
                     "at hour 11 the P2P buyer would pay more");
  EXPECT_MESSAGE_HAS(spec_error({"env.dso_fee_cny_per_kwh=1e300"}),
                     "env.dso_fee_cny_per_kwh = 1e+300", "at most the highest buy price, 1.12");
  // Two prosumers of one name (the per-prosumer outputs are keyed by it).
  EXPECT_MESSAGE_HAS(
      spec_error({R"(env.prosumers=[{"bus": 48, "portfolio": "industrial", "name": "a"},
                                    {"bus": 78, "portfolio": "industrial", "name": "a"}])"}),
      "env.prosumers[1].name", "'a' is also env.prosumers[0]'s name");
  // Bounds print as numbers, not %f (an exclusive 1e-9 read "0.000000").
  EXPECT_MESSAGE_HAS(
      spec_error(
          {R"(env.portfolios=[{"name": "p", "load_peak_kw": 10, "devices": [{"type": "bess", "energy_kwh": 0, "p_max_kw": 1}]}])",
           R"(env.prosumers=[{"bus": 48, "portfolio": "p"}])"}),
      "energy_kwh: 0 is outside [1e-09, 1e+07]");
}

// A fee above the night's spread closes the market at night (env_physics_test), and one above
// half the flat hours' spread closes it there too: neither is an error.
TEST(EnvSpec, AFeeThatClosesTheMarketInSomeHoursIsAccepted) {
  Config c = Config::defaults();
  c.set("env.dso_fee_cny_per_kwh=0.2");  // 0.4 > 0.38 (flat), < 0.82 (peak)
  const EnvSpec spec = build_env_spec(c);
  int clearing_hours = 0;
  for (int h = 0; h < 24; ++h)
    clearing_hours += p2p_market_clears(spec.buy_cny_per_kwh[h], spec.sell_cny_per_kwh[h],
                                        spec.dso_fee_cny_per_kwh);
  EXPECT_EQ(clearing_hours, 8);  // hours 8-10 and 17-21
}

// The fee's limits at their edges, on a flat tariff of exact binary prices (buy 1, sell 0.5: a
// spread of 0.5, of which lambda = 0.25 is the seller's gain over the grid, 0.125).
TEST(EnvSpec, TheFeesLimitsHoldAtTheirEdges) {
  auto flat = [](const std::string& key, const std::string& price) {
    std::string s = key + "=[" + price;
    for (int h = 1; h < 24; ++h) s += ", " + price;
    return s + "]";
  };
  auto config_with = [&](const std::string& fee) {
    Config c = Config::defaults();
    c.set(flat("env.tariff.buy_cny_per_kwh", "1"));
    c.set(flat("env.tariff.sell_cny_per_kwh", "0.5"));
    c.set("env.p2p_lambda=0.25");
    c.set("env.dso_fee_cny_per_kwh=" + fee);
    return c;
  };
  auto clearing_hours = [](const EnvSpec& s) {
    int n = 0;
    for (int h = 0; h < 24; ++h)
      n += p2p_market_clears(s.buy_cny_per_kwh[h], s.sell_cny_per_kwh[h], s.dso_fee_cny_per_kwh);
    return n;
  };
  // Two fees of exactly the spread cost the community what the grid does: no market.
  EXPECT_FALSE(p2p_market_clears(1.0, 0.5, 0.25));
  EXPECT_TRUE(p2p_market_clears(1.0, 0.5, 0.2));
  // Where it clears, a fee of lambda x spread leaves the seller exactly the grid's price.
  const EnvSpec open = build_env_spec(config_with("0.125"));
  EXPECT_EQ(clearing_hours(open), 24);
  EXPECT_MESSAGE_HAS(error_of([&] { build_env_spec(config_with("0.126")); }),
                     "at hour 0 the P2P seller would get less", "= 0.125 CNY/kWh");
  // Fees that close the market in every hour are accepted, up to the highest buy price.
  for (const char* fee : {"0.25", "0.6", "1"}) {
    SCOPED_TRACE(fee);
    EnvSpec closed = open;
    EXPECT_EQ(error_of([&] { closed = build_env_spec(config_with(fee)); }), "(no error)");
    EXPECT_EQ(clearing_hours(closed), 0);
  }
  EXPECT_MESSAGE_HAS(error_of([&] { build_env_spec(config_with("1.01")); }),
                     "at most the highest buy price, 1 CNY/kWh");
}

// Regression: a bad split name gave parse_split's bare message without the key env.split.
TEST(EnvSpecErrors, BadSplitNamesTheKey) {
  EXPECT_MESSAGE_HAS(spec_error({"env.split=training"}), "env.split", "unknown split \"training\"");
}

// ------------------------------------------------------------------------ EnvBatch checks

TEST(EnvSpecErrors, EnvBatchArguments) {
  const EnvSpec& spec = test::default_env_spec();
  EXPECT_MESSAGE_HAS(
      error_of([&] { EnvBatch env(spec, Backend::kCpu, 0, test::default_cpu_powerflow()); }),
      "EnvBatch", "num_envs must be >= 1, got 0");
  EnvBatch env(spec, Backend::kCpu, 2, test::default_cpu_powerflow());
  EXPECT_MESSAGE_HAS(error_of([&] {
                       env.reset(1, {3, 4, 5});
                     }),
                     "EnvBatch::reset", "day_ids has 3 entries", "one per env (2)");
  EXPECT_MESSAGE_HAS(error_of([&] {
                       env.reset(1, {3, 365});
                     }),
                     "EnvBatch::reset", "day 365 is outside the year's 365 days");
  EXPECT_MESSAGE_HAS(error_of([&] { env.reset(1, {-1, 0}); }), "day -1 is outside");
  EXPECT_NO_THROW(env.reset(1, {0, 364}));
  EXPECT_EQ(env.to_host(env.view().day, 2), (std::vector<int>{0, 364}));
}

// --------------------------------------------------------------------------- profiles JSON

YearProfiles small_year() {
  YearProfiles p;
  p.year = 2017;
  p.num_days = 365;
  p.source = "test: a ramp";
  const std::size_t n = 365u * 96;
  p.pv_cf.resize(n);
  p.wind_cf.resize(n);
  p.load_pu.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    p.pv_cf[i] = float(i % 96) / 95.0f;
    p.wind_cf[i] = float(i % 1000) / 999.0f * 0.7f + 1e-7f;  // values that need all 9 digits
    p.load_pu[i] = 0.3f + 0.7f * float(i % 7) / 6.0f;
  }
  return p;
}

TEST(EnvProfilesJson, RoundTripIsExact) {
  for (const YearProfiles& p : {small_year(), test::default_env_spec().profiles}) {
    const YearProfiles q = year_profiles_from_json_text(year_profiles_to_json_text(p), "mem");
    EXPECT_EQ(q.year, p.year);
    EXPECT_EQ(q.num_days, p.num_days);
    EXPECT_EQ(q.source, p.source);
    EXPECT_TRUE(q.pv_cf == p.pv_cf);
    EXPECT_TRUE(q.wind_cf == p.wind_cf);
    EXPECT_TRUE(q.load_pu == p.load_pu);
  }
}

TEST(EnvProfilesJson, AFileNamedInTheConfigFeedsTheEnv) {
  const std::string path = test::fresh_temp_dir() + "/profiles.json";
  {
    std::ofstream f(path);
    f << year_profiles_to_json_text(small_year());
  }
  Config c = Config::defaults();
  c.set("env.profiles.file=" + path);
  const EnvSpec s = build_env_spec(c);
  EXPECT_TRUE(s.profiles.wind_cf == small_year().wind_cf);
  c.set("env.profiles.year=2018");
  EXPECT_MESSAGE_HAS(error_of([&] { build_env_spec(c); }), path.c_str(), "holds year 2017",
                     "env.profiles.year is 2018");
  std::remove(path.c_str());
}

/// The error of reading the small year's JSON after `edit`.
std::string profiles_error(const std::function<void(json&)>& edit) {
  json j = json::parse(year_profiles_to_json_text(small_year()));
  edit(j);
  return error_of([&] { year_profiles_from_json_text(j.dump(), "prof.json"); });
}

TEST(EnvProfilesJson, Errors) {
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j["format"] = "p2pgrid-profiles/2"; }),
                     "prof.json", "format \"p2pgrid-profiles/2\"",
                     "expected \"p2pgrid-profiles/1\"");
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j["pv_cf"].erase(j["pv_cf"].size() - 1); }),
                     "prof.json", "pv_cf", "expected 35040 values");
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j["load_pu"][100] = 1.5; }), "prof.json",
                     "load_pu[100] (day 1, step 4)", "1.5 is outside");
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j["wind_cf"][7] = -0.25; }), "wind_cf[7]",
                     "-0.25 is outside");
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j["wind_cf"][7] = "0.5"; }), "wind_cf[7]",
                     "expected a number");
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j["num_days"] = 366; }),
                     "num_days 366 but year 2017 has 365");
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j.erase("load_pu"); }), "prof.json",
                     "missing key 'load_pu'");
  EXPECT_MESSAGE_HAS(profiles_error([](json& j) { j["wind"] = 1; }), "prof.json",
                     "unknown key 'wind'");
  EXPECT_MESSAGE_HAS(error_of([] { year_profiles_from_json_text("{\"format\": ", "prof.json"); }),
                     "prof.json", "not valid JSON");
  // NaN cannot be written as a JSON number: the writer emits null, which the reader rejects.
  YearProfiles nan_year = small_year();
  nan_year.pv_cf[42] = std::nanf("");
  EXPECT_MESSAGE_HAS(
      error_of(
          [&] { year_profiles_from_json_text(year_profiles_to_json_text(nan_year), "nan.json"); }),
      "nan.json", "pv_cf[42]", "expected a number, got null");
  EXPECT_MESSAGE_HAS(error_of([] { year_profiles_from_json_text("NaN", "nan.json"); }), "nan.json",
                     "not valid JSON");
}

// Regression: a non-integer "year" or "num_days" escaped as nlohmann::json::type_error instead
// of a p2pgrid::Error naming the file and the key.
TEST(EnvProfilesJson, YearAndNumDaysMustBeIntegers) {
  for (const char* key : {"year", "num_days"}) {
    json j = json::parse(year_profiles_to_json_text(small_year()));
    j[key] = "2017";
    std::string msg = "(no error)";
    try {
      year_profiles_from_json_text(j.dump(), "prof.json");
    } catch (const Error& e) {
      msg = e.what();
    } catch (const std::exception& e) {
      msg = std::string("non-p2pgrid exception: ") + e.what();
    }
    EXPECT_MESSAGE_HAS(msg, "prof.json", key);
  }
}

}  // namespace
}  // namespace p2pgrid

namespace p2pgrid {
namespace {

TEST(EnvSpecErrors, DuplicatePortfolioNameIsAnError) {
  Config c = Config::defaults();
  c.set(R"(env.portfolios=[{"name": "a", "load_peak_kw": 10, "devices": []},
                          {"name": "a", "load_peak_kw": 20, "devices": []}])");
  c.set(R"(env.prosumers=[{"bus": 48, "portfolio": "a"}])");
  try {
    build_env_spec(c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("env.portfolios[1].name"), std::string::npos) << m;
    EXPECT_NE(m.find("defined twice"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace p2pgrid
