// Tests of the year profiles (generator fitted to Elia 2017, CSV importer with its gap / DST
// rules, day split) and of the pcg32 RNG they draw from.
#include "support/errors.hpp"
#include "p2pgrid/env/profiles.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/core/rng.hpp"
#include "support/shared_data.hpp"

namespace p2pgrid {
namespace {

using test::error_of;

constexpr int kSteps = YearProfiles::kStepsPerDay;

// ------------------------------------------------------------------------------- RNG

TEST(RngTest, ReferenceSequenceOfPcg32) {
  // pcg32-demo of pcg_basic.c seeds pcg32_srandom_r(&rng, 42u, 54u) and prints these first six.
  Rng r{0u, (54u << 1u) | 1u};
  r.next_u32();
  r.state += 42u;
  r.next_u32();
  const std::uint32_t expected[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                     0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
  for (std::uint32_t e : expected) EXPECT_EQ(r.next_u32(), e);
}

TEST(RngTest, SameSeedAndStreamGiveTheSameSequence) {
  Rng a = make_rng(123, 4);
  Rng b = make_rng(123, 4);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.next_u32(), b.next_u32());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.normal_double(), b.normal_double());
}

TEST(RngTest, IndependentStreamsAndSeedsDiffer) {
  const int n = 20000;
  Rng a = make_rng(1, 0), b = make_rng(1, 1), c = make_rng(2, 0);
  int same_ab = 0, same_ac = 0;
  double sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint32_t x = a.next_u32(), y = b.next_u32(), z = c.next_u32();
    same_ab += x == y;
    same_ac += x == z;
    const double u = x / 4294967296.0 - 0.5, v = y / 4294967296.0 - 0.5;
    sab += u * v;
    saa += u * u;
    sbb += v * v;
  }
  EXPECT_LE(same_ab, 1);
  EXPECT_LE(same_ac, 1);
  EXPECT_LT(std::abs(sab / std::sqrt(saa * sbb)), 0.03);  // 4 sigma at n = 20000
}

TEST(RngTest, UniformMeanAndVariance) {
  Rng r = make_rng(99, 0);
  const int n = 400000;
  double sf = 0, sf2 = 0, sd = 0, sd2 = 0;
  for (int i = 0; i < n; ++i) {
    const float f = r.uniform_float();
    const double d = r.uniform_double();
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    sf += f;
    sf2 += double(f) * f;
    sd += d;
    sd2 += d * d;
  }
  // Standard errors: mean 0.00046, variance 0.00012 at n = 4e5.
  EXPECT_NEAR(sf / n, 0.5, 0.003);
  EXPECT_NEAR(sf2 / n - (sf / n) * (sf / n), 1.0 / 12.0, 0.001);
  EXPECT_NEAR(sd / n, 0.5, 0.003);
  EXPECT_NEAR(sd2 / n - (sd / n) * (sd / n), 1.0 / 12.0, 0.001);
}

TEST(RngTest, NormalMeanAndVariance) {
  Rng r = make_rng(5, 77);
  const int n = 400000;
  double sf = 0, sf2 = 0, sd = 0, sd2 = 0, sd4 = 0;
  for (int i = 0; i < n; ++i) {
    const double f = r.normal_float();
    const double d = r.normal_double();
    ASSERT_TRUE(std::isfinite(f) && std::isfinite(d));
    sf += f;
    sf2 += f * f;
    sd += d;
    sd2 += d * d;
    sd4 += d * d * d * d;
  }
  // Standard errors: mean 0.0016, variance 0.0022, fourth moment 0.016.
  EXPECT_NEAR(sf / n, 0.0, 0.01);
  EXPECT_NEAR(sf2 / n, 1.0, 0.015);
  EXPECT_NEAR(sd / n, 0.0, 0.01);
  EXPECT_NEAR(sd2 / n, 1.0, 0.015);
  EXPECT_NEAR(sd4 / n, 3.0, 0.1);
}

TEST(RngTest, CheckpointRestoresBitExactly) {
  Rng r = make_rng(2024, 3);
  for (int i = 0; i < 37; ++i) r.normal_float();
  unsigned char bytes[sizeof(Rng)];
  std::memcpy(bytes, &r, sizeof r);  // what a checkpoint writes
  std::vector<double> expected;
  for (int i = 0; i < 50; ++i) expected.push_back(r.normal_double());
  Rng restored;
  std::memcpy(&restored, bytes, sizeof restored);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(restored.normal_double(), expected[i]);
}

TEST(RngTest, AdvanceEqualsSteppingAhead) {
  Rng a = make_rng(11, 12), b = a;
  for (int i = 0; i < 1001; ++i) a.next_u32();
  b.advance(1001);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.next_u32(), b.next_u32());
}

// ------------------------------------------------------------------------------- fit

const ProfileFit& shipped_fit() {
  static const ProfileFit fit = load_profile_fit(default_profile_fit_path());
  return fit;
}

const YearProfiles& generated_2017() {
  static const YearProfiles p = generate_profiles(shipped_fit(), 2017, 1);
  return p;
}

double mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s / v.size();
}

TEST(ProfileFitTest, ShippedFitParsesAndNamesItsSource) {
  const ProfileFit& fit = shipped_fit();
  EXPECT_EQ(fit.version, 1);
  EXPECT_EQ(fit.year, 2017);
  EXPECT_EQ(fit.steps_per_day, kSteps);
  EXPECT_EQ(fit.tool, "tools/fit_elia_profiles.py");
  ASSERT_EQ(fit.files.size(), 3u);
  // The sha256 of the inputs as listed in ../shared/data/elia/PROVENANCE.md.
  EXPECT_EQ(fit.files[0].name, "solarforecast_ELIA.csv");
  EXPECT_EQ(fit.files[0].sha256,
            "aff441454c9ea2cbe3973b70136f4936b1cc9c105a6fdb32de263171d51ce3b2");
  EXPECT_EQ(fit.files[1].name, "windforecast_ELIA.csv");
  EXPECT_EQ(fit.files[1].sha256,
            "e5a56fc1e09b3c65a58b88425e66329aaa093e73a8c39d92227b70213862bc5d");
  EXPECT_EQ(fit.files[2].name, "entsoe_total_load_BE_2017_15min.csv");
  EXPECT_EQ(fit.files[2].sha256,
            "2c72f257b82707b34ca41e35ca29680a3b4abd25aa7aa4cf20dfcbe180fe0672");
  EXPECT_EQ(fit.units.count("pv"), 1u);
  for (const SeriesFit* s : {&fit.pv, &fit.wind, &fit.load}) {
    EXPECT_EQ(s->mean.size(), 12u * kSteps);
    EXPECT_EQ(s->stddev.size(), 12u * kSteps);
    EXPECT_EQ(s->resid_lag1.size(), 12u);
    EXPECT_EQ(s->daily_quantiles.size(), 12u * fit.daily_quantile_levels.size());
  }
  EXPECT_EQ(fit.load.weekday_mean.size(), 12u * kSteps);
  EXPECT_TRUE(fit.pv.weekday_mean.empty());
  EXPECT_GT(fit.load.peak_mw, 10000.0);
  EXPECT_NEAR(fit.pv.annual_mean, 0.109, 0.01);
  EXPECT_NEAR(fit.wind.annual_mean, 0.353, 0.02);
  EXPECT_NEAR(fit.load.annual_mean, 0.72, 0.02);
}

// Loads the shipped fit as JSON so a test can break one key.
nlohmann::json shipped_json() {
  return nlohmann::json::parse(read_text_file(default_profile_fit_path()));
}

TEST(ProfileFitTest, UnknownKeyIsAnError) {
  nlohmann::json j = shipped_json();
  j["series"]["pv"]["bogus_key"] = 1;
  const std::string msg = error_of([&] { profile_fit_from_json_text(j.dump(), "my_fit.json"); });
  EXPECT_NE(msg.find("my_fit.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("series.pv.bogus_key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;

  nlohmann::json top = shipped_json();
  top["extra"] = "x";
  const std::string msg2 = error_of([&] { profile_fit_from_json_text(top.dump(), "f.json"); });
  EXPECT_NE(msg2.find("\"extra\": unknown key"), std::string::npos) << msg2;

  // Load-only keys are unknown in other series.
  nlohmann::json w = shipped_json();
  w["series"]["wind"]["weekday_mean"] = w["series"]["load"]["weekday_mean"];
  const std::string msg3 = error_of([&] { profile_fit_from_json_text(w.dump(), "f.json"); });
  EXPECT_NE(msg3.find("series.wind.weekday_mean"), std::string::npos) << msg3;
}

TEST(ProfileFitTest, WrongShapeMissingKeyAndRangeAreErrors) {
  nlohmann::json j = shipped_json();
  j["series"]["wind"]["mean"][3].erase(0);
  std::string msg = error_of([&] { profile_fit_from_json_text(j.dump(), "fit.json"); });
  EXPECT_NE(msg.find("fit.json: key \"series.wind.mean[3]\": expected an array of 96 numbers, "
                     "got 95 elements"),
            std::string::npos)
      << msg;

  nlohmann::json k = shipped_json();
  k["series"]["load"].erase("daytype_std");
  msg = error_of([&] { profile_fit_from_json_text(k.dump(), "fit.json"); });
  EXPECT_NE(msg.find("\"series.load.daytype_std\": missing"), std::string::npos) << msg;

  nlohmann::json r = shipped_json();
  r["series"]["pv"]["resid_lag1"][0] = 1.5;
  msg = error_of([&] { profile_fit_from_json_text(r.dump(), "fit.json"); });
  EXPECT_NE(msg.find("series.pv.resid_lag1[0]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got 1.5"), std::string::npos) << msg;

  msg = error_of([&] { profile_fit_from_json_text("{\"format\": ", "broken.json"); });
  EXPECT_NE(msg.find("broken.json: not valid JSON"), std::string::npos) << msg;
}

// ------------------------------------------------------------------------------- generator

TEST(ProfileGeneratorTest, DeterministicForSeedAndDifferentAcrossSeeds) {
  const YearProfiles a = generate_profiles(shipped_fit(), 2017, 42);
  const YearProfiles b = generate_profiles(shipped_fit(), 2017, 42);
  const YearProfiles c = generate_profiles(shipped_fit(), 2017, 43);
  EXPECT_EQ(a.pv_cf, b.pv_cf);
  EXPECT_EQ(a.wind_cf, b.wind_cf);
  EXPECT_EQ(a.load_pu, b.load_pu);
  EXPECT_NE(a.pv_cf, c.pv_cf);
  EXPECT_NE(a.wind_cf, c.wind_cf);
  EXPECT_NE(a.load_pu, c.load_pu);
  EXPECT_NE(a.source.find("seed 42"), std::string::npos) << a.source;
  EXPECT_NE(a.source.find("tools/fit_elia_profiles.py"), std::string::npos) << a.source;
}

TEST(ProfileGeneratorTest, ShapesAndBounds) {
  const YearProfiles& p = generated_2017();
  EXPECT_EQ(p.year, 2017);
  EXPECT_EQ(p.num_days, 365);
  for (const std::vector<float>* v : {&p.pv_cf, &p.wind_cf, &p.load_pu})
    ASSERT_EQ(v->size(), 365u * kSteps);
  for (std::size_t i = 0; i < p.pv_cf.size(); ++i) {
    ASSERT_GE(p.pv_cf[i], 0.0f);
    ASSERT_LE(p.pv_cf[i], 1.0f);
    ASSERT_GE(p.wind_cf[i], 0.0f);
    ASSERT_LE(p.wind_cf[i], 1.0f);
    ASSERT_GT(p.load_pu[i], 0.0f);
    ASSERT_LE(p.load_pu[i], 1.0f);
  }
  const YearProfiles leap = generate_profiles(shipped_fit(), 2020, 1);
  EXPECT_EQ(leap.num_days, 366);
  EXPECT_EQ(leap.pv_cf.size(), 366u * kSteps);
}

TEST(ProfileGeneratorTest, PvIsZeroAtNight) {
  const ProfileFit& fit = shipped_fit();
  const YearProfiles& p = generated_2017();
  int night_steps = 0;
  for (int d = 0; d < p.num_days; ++d) {
    const int m = month_of_day(2017, d);
    for (int q = 0; q < kSteps; ++q) {
      if (fit.pv.mean[m * kSteps + q] != 0.0) continue;
      ++night_steps;
      ASSERT_EQ(p.pv_cf[d * kSteps + q], 0.0f) << "day " << d << " step " << q;
    }
    for (int q = 0; q < 4 * 4; ++q) ASSERT_EQ(p.pv_cf[d * kSteps + q], 0.0f);  // 00:00-04:00
  }
  EXPECT_GT(night_steps, 365 * 30);
}

TEST(ProfileGeneratorTest, AnnualMeanCapacityFactorMatchesFit) {
  const ProfileFit& fit = shipped_fit();
  // Over several seeds, so that one unusual year does not decide.
  double pv = 0, wind = 0, load = 0;
  const int seeds = 4;
  for (int s = 0; s < seeds; ++s) {
    const YearProfiles p = generate_profiles(fit, 2017, 1000 + s);
    pv += mean_of(p.pv_cf) / seeds;
    wind += mean_of(p.wind_cf) / seeds;
    load += mean_of(p.load_pu) / seeds;
  }
  EXPECT_NEAR(pv, fit.pv.annual_mean, 0.08 * fit.pv.annual_mean);
  EXPECT_NEAR(wind, fit.wind.annual_mean, 0.08 * fit.wind.annual_mean);
  EXPECT_NEAR(load, fit.load.annual_mean, 0.01);
}

TEST(ProfileGeneratorTest, SummerPvExceedsWinterPv) {
  const YearProfiles& p = generated_2017();
  double month_sum[12] = {0};
  int month_n[12] = {0};
  for (int d = 0; d < p.num_days; ++d) {
    const int m = month_of_day(2017, d);
    for (int q = 0; q < kSteps; ++q) month_sum[m] += p.pv_cf[d * kSteps + q];
    month_n[m] += kSteps;
  }
  const double jun = month_sum[5] / month_n[5], dec = month_sum[11] / month_n[11];
  const double jan = month_sum[0] / month_n[0], jul = month_sum[6] / month_n[6];
  EXPECT_GT(jun, 3.0 * dec);
  EXPECT_GT(jul, 3.0 * jan);
  // Midday beats morning in summer.
  double noon = 0, eight = 0;
  for (int d = 152; d < 243; ++d) {
    noon += p.pv_cf[d * kSteps + 13 * 4 + 2];
    eight += p.pv_cf[d * kSteps + 8 * 4];
  }
  EXPECT_GT(noon, 1.5 * eight);
}

// Lag-1 autocorrelation of the standardized residual z of a generated series, computed as the
// fitting tool does (active steps sigma > min_std, sum z_t z_t+1 / sqrt(sum z_t^2 sum z_t+1^2)).
double generated_lag1(const ProfileFit& fit, const SeriesFit& s, const std::vector<float>& x,
                      bool is_load) {
  const int num_days = static_cast<int>(x.size() / kSteps);
  std::vector<double> z(x.size(), std::nan(""));
  for (int d = 0; d < num_days; ++d) {
    const int m = month_of_day(2017, d);
    const std::vector<double>& mu =
        is_load ? (is_weekend(2017, d) ? s.weekend_mean : s.weekday_mean) : s.mean;
    const std::vector<double>& sd = is_load ? s.daytype_std : s.stddev;
    for (int q = 0; q < kSteps; ++q) {
      const double sg = sd[m * kSteps + q];
      if (sg > fit.min_std) z[d * kSteps + q] = (x[d * kSteps + q] - mu[m * kSteps + q]) / sg;
    }
  }
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t t = 0; t + 1 < z.size(); ++t) {
    if (std::isnan(z[t]) || std::isnan(z[t + 1])) continue;
    sab += z[t] * z[t + 1];
    saa += z[t] * z[t];
    sbb += z[t + 1] * z[t + 1];
  }
  return sab / std::sqrt(saa * sbb);
}

TEST(ProfileGeneratorTest, Lag1AutocorrelationNearFit) {
  const ProfileFit& fit = shipped_fit();
  const YearProfiles& p = generated_2017();
  const double pv = generated_lag1(fit, fit.pv, p.pv_cf, false);
  const double wind = generated_lag1(fit, fit.wind, p.wind_cf, false);
  const double load = generated_lag1(fit, fit.load, p.load_pu, true);
  EXPECT_NEAR(pv, fit.pv.lag1_autocorr_overall, 0.03);
  EXPECT_NEAR(wind, fit.wind.lag1_autocorr_overall, 0.02);
  EXPECT_NEAR(load, fit.load.lag1_autocorr_overall, 0.02);
}

TEST(ProfileGeneratorTest, DaysVaryLikeCloudyAndSunnyDays) {
  // In July the sunniest generated day yields at least twice the energy of the cloudiest, and
  // windy and calm days alternate over the year.
  const YearProfiles& p = generated_2017();
  double lo = 1e9, hi = 0;
  std::vector<double> wind_day(p.num_days, 0.0);
  for (int d = 0; d < p.num_days; ++d) {
    double e = 0;
    for (int q = 0; q < kSteps; ++q) {
      e += p.pv_cf[d * kSteps + q];
      wind_day[d] += p.wind_cf[d * kSteps + q] / kSteps;
    }
    if (month_of_day(2017, d) == 6) {
      lo = std::min(lo, e);
      hi = std::max(hi, e);
    }
  }
  EXPECT_GT(hi, 2.0 * lo);
  int calm = 0, windy = 0;
  for (double w : wind_day) {
    calm += w < 0.15;
    windy += w > 0.6;
  }
  EXPECT_GT(calm, 15);
  EXPECT_GT(windy, 15);
}

TEST(ProfileGeneratorTest, LoadFollowsTheWeekdayWeekendCalendar) {
  for (int year : {2017, 2018}) {
    const YearProfiles p = generate_profiles(shipped_fit(), year, 7);
    double wd = 0, we = 0;
    int nwd = 0, nwe = 0;
    for (int d = 0; d < p.num_days; ++d) {
      double day = 0;
      for (int q = 0; q < kSteps; ++q) day += p.load_pu[d * kSteps + q] / kSteps;
      (is_weekend(year, d) ? we : wd) += day;
      (is_weekend(year, d) ? nwe : nwd) += 1;
    }
    EXPECT_EQ(nwe, year == 2017 ? 105 : 104);
    EXPECT_GT(wd / nwd - we / nwe, 0.05) << year;  // the fit: 0.746 vs 0.659 pu
  }
}

// ------------------------------------------------------------------------------- split

TEST(SplitTest, SizesFor2017AreDisjointAndCoverTheYear) {
  const std::vector<int> train = days_in_split(2017, Split::kTrain);
  const std::vector<int> val = days_in_split(2017, Split::kValidation);
  const std::vector<int> test = days_in_split(2017, Split::kTest);
  EXPECT_EQ(train.size(), 269u);
  EXPECT_EQ(val.size(), 12u);
  EXPECT_EQ(test.size(), 84u);
  std::set<int> all;
  for (const auto* v : {&train, &val, &test})
    for (int d : *v) EXPECT_TRUE(all.insert(d).second) << "day " << d << " in two splits";
  EXPECT_EQ(all.size(), 365u);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 364);
  EXPECT_EQ(val[0], 0);    // Jan 1
  EXPECT_EQ(val[1], 31);   // Feb 1
  EXPECT_EQ(val[2], 59);   // Mar 1
  EXPECT_EQ(test[0], 24);  // Jan 25
  EXPECT_EQ(test[7], 52);  // Feb 22
  EXPECT_EQ(test.back(), 364);
  EXPECT_EQ(days_in_split(2020, Split::kTrain).size(), 270u);  // leap year: Feb has 29
}

TEST(SplitTest, ParseSplitNames) {
  for (Split s : {Split::kTrain, Split::kValidation, Split::kTest})
    EXPECT_EQ(parse_split(split_name(s)), s);
  const std::string msg = error_of([] { parse_split("valid"); });
  EXPECT_NE(msg.find("\"valid\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("train, validation, test"), std::string::npos) << msg;
}

TEST(SplitTest, WeekendsAndMonths) {
  EXPECT_TRUE(is_weekend(2017, 0));   // Sunday 2017-01-01
  EXPECT_FALSE(is_weekend(2017, 1));  // Monday
  EXPECT_TRUE(is_weekend(2017, 6));   // Saturday 2017-01-07
  EXPECT_FALSE(is_weekend(2020, 0));  // Wednesday 2020-01-01
  EXPECT_TRUE(is_weekend(2020, 59));  // Saturday 2020-02-29
  EXPECT_EQ(month_of_day(2017, 58), 1);
  EXPECT_EQ(month_of_day(2017, 59), 2);
  EXPECT_EQ(month_of_day(2020, 59), 1);
  EXPECT_EQ(days_in_year(2017), 365);
  EXPECT_EQ(days_in_year(2000), 366);
  EXPECT_EQ(days_in_year(2100), 365);
}

// ------------------------------------------------------------------------------- import

// Synthetic year in the three real formats, every series the same function of the real instant
// u (quarter-hours since local Jan 1 00:00 CET): mw(u) = 10 + u % 96, capacity 200 MW; load MW =
// 1000 + u % 96. pv: naive UTC timestamps; wind: local time with offset; load: ENTSO-E wall
// clock with the empty skipped spring hour and the repeated autumn hour.
struct SyntheticYear {
  std::vector<std::string> pv, wind, load;  // lines, header first
};

std::string two(int v) {
  char b[8];
  std::snprintf(b, sizeof b, "%02d", v);
  return b;
}

struct Ymdhm {
  int y, mo, d, h, mi;
};

// Minutes since 1970-01-01 -> civil (UTC-free arithmetic).
Ymdhm civil(long long minutes) {
  long long z = minutes / 1440 + 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const long long doe = z - era * 146097;
  const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long long mp = (5 * doy + 2) / 153;
  const int d = int(doy - (153 * mp + 2) / 5 + 1);
  const int m = int(mp < 10 ? mp + 3 : mp - 9);
  const int y = int(yoe + era * 400 + (m <= 2));
  const int mod = int(minutes % 1440);
  return {y, m, d, mod / 60, mod % 60};
}

std::string iso(const Ymdhm& c) {
  return std::to_string(c.y) + "-" + two(c.mo) + "-" + two(c.d) + " " + two(c.h) + ":" + two(c.mi) +
         ":00";
}

std::string entsoe(const Ymdhm& a, const Ymdhm& b) {
  return two(a.d) + "." + two(a.mo) + "." + std::to_string(a.y) + " " + two(a.h) + ":" + two(a.mi) +
         " - " + two(b.d) + "." + two(b.mo) + "." + std::to_string(b.y) + " " + two(b.h) + ":" +
         two(b.mi);
}

// 2017: summer time from 2017-03-26 01:00 UTC to 2017-10-29 01:00 UTC.
constexpr long long kJan1_2017 = 17167LL * 1440;  // 2017-01-01 00:00 in minutes since epoch
constexpr long long kDstStart = (17251LL * 1440) + 60;
constexpr long long kDstEnd = (17468LL * 1440) + 60;

double synthetic_mw(long long u) { return 10.0 + static_cast<double>(u % 96); }

SyntheticYear make_synthetic_2017() {
  SyntheticYear s;
  s.pv.push_back(
      ";DayAheadForecast;LoadFactor;MonitoredCapacity;MostRecentForecast;RealTime;"
      "WeekAheadForecast");
  s.wind.push_back(";Bid;DayAheadForecast;Realtime;LoadFactor;MonitoredCapacity");
  s.load.push_back(
      "\"Time (CET)\",\"Day-ahead Total Load Forecast [MW] - BZN|BE\",\"Actual "
      "Total Load [MW] - BZN|BE\"");
  const long long n = 365LL * 96;
  for (long long u = 0; u < n; ++u) {
    const long long utc = kJan1_2017 - 60 + 15 * u;
    const int off = (utc >= kDstStart && utc < kDstEnd) ? 120 : 60;
    const long long local = utc + off;
    const std::string mw = std::to_string(synthetic_mw(u));
    s.pv.push_back(iso(civil(utc)) + ";1.0;0.1;200.0;1.0;" + mw + ";1.0");
    s.wind.push_back(iso(civil(local)) + (off == 120 ? "+02:00" : "+01:00") + ";;1.0;" + mw +
                     ";0.1;200.0");
    const Ymdhm lc = civil(local);
    s.load.push_back("\"" + entsoe(lc, civil(local + 15)) + "\",\"1\",\"" +
                     std::to_string(1000.0 + static_cast<double>(u % 96)) + "\"");
    if (utc + 15 == kDstStart) {  // ENTSO-E lists the skipped hour with empty values
      for (int k = 0; k < 4; ++k)
        s.load.push_back("\"" + entsoe(civil(local + 15 + 15 * k), civil(local + 30 + 15 * k)) +
                         "\",\"\",\"\"");
    }
  }
  return s;
}

const SyntheticYear& synthetic() {
  static const SyntheticYear s = make_synthetic_2017();
  return s;
}

// A temp folder for one test, removed afterwards.
class ImportFiles {
 public:
  ImportFiles() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (std::filesystem::temp_directory_path() /
            ("p2pgrid_profiles_" + std::to_string(::getpid()) + "_" + info->name()))
               .string();
    std::filesystem::create_directories(dir_);
  }
  ~ImportFiles() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::vector<std::string>& lines,
                    const std::string& eol = "\n") {
    std::string text;
    for (const std::string& l : lines) text += l + eol;
    const std::string path = dir_ + "/" + name;
    write_text_file_atomic(path, text);
    return path;
  }
  // Writes the synthetic year with the given edits applied.
  YearProfiles import(const SyntheticYear& s, const EliaImportOptions& o = {},
                      std::vector<std::string>* notes = nullptr) {
    pv_ = write("pv.csv", s.pv, "\r\n");  // the Elia exports use CRLF
    wind_ = write("wind.csv", s.wind, "\r\n");
    load_ = write("load.csv", s.load);
    return import_elia_csv(pv_, wind_, load_, 2017, o, notes);
  }
  std::string import_error(const SyntheticYear& s, const EliaImportOptions& o = {}) {
    return error_of([&] { import(s, o); });
  }
  const std::string& pv() const { return pv_; }
  const std::string& wind() const { return wind_; }
  const std::string& load() const { return load_; }

 private:
  std::string dir_, pv_, wind_, load_;
};

// Wall-clock slot of 2017 -> the values the synthetic files imply.
int slot(int doy, int h, int mi) { return doy * kSteps + h * 4 + mi / 15; }

TEST(EliaImportTest, SyntheticYearHandlesTimeZonesAndDst) {
  ImportFiles files;
  const YearProfiles p = files.import(synthetic());
  ASSERT_EQ(p.num_days, 365);
  const float peak = 1095.0f;
  auto cf = [](long long u) { return static_cast<float>(synthetic_mw(u) / 200.0); };
  // Winter (CET): u = slot. Summer (CEST): u = slot - 4.
  for (int s : {slot(10, 0, 0), slot(10, 12, 30), slot(364, 23, 45)}) {
    EXPECT_FLOAT_EQ(p.pv_cf[s], cf(s)) << s;
    EXPECT_FLOAT_EQ(p.wind_cf[s], cf(s)) << s;
    EXPECT_FLOAT_EQ(p.load_pu[s], static_cast<float>((1000.0 + s % 96) / peak)) << s;
  }
  for (int s : {slot(181, 12, 0), slot(200, 3, 0)}) {
    EXPECT_FLOAT_EQ(p.pv_cf[s], cf(s - 4)) << s;
    EXPECT_FLOAT_EQ(p.wind_cf[s], cf(s - 4)) << s;
  }
  // Spring (2017-03-26, day 84): 02:00-02:45 did not exist: linear from 01:45 to 03:00.
  const float a = p.pv_cf[slot(84, 1, 45)], b = p.pv_cf[slot(84, 3, 0)];
  for (int k = 1; k <= 4; ++k) {
    const int s = slot(84, 2, 15 * (k - 1));
    EXPECT_NEAR(p.pv_cf[s], a + (b - a) * k / 5.0f, 1e-6) << k;
    EXPECT_NEAR(p.wind_cf[s], p.pv_cf[s], 1e-6);
    EXPECT_NEAR(p.load_pu[s] * peak - 1000.0f, p.pv_cf[s] * 200.0f - 10.0f, 1e-3);
  }
  // Autumn (2017-10-29, day 301): 02:00-02:45 happened twice: the mean of both instants.
  for (int k = 0; k < 4; ++k) {
    const int s = slot(301, 2, 15 * k);
    const float expected = 0.5f * (cf(s - 4) + cf(s));
    EXPECT_FLOAT_EQ(p.pv_cf[s], expected) << k;
    EXPECT_FLOAT_EQ(p.wind_cf[s], expected) << k;
  }
  // The first hour of 2017 in Brussels is 2016 in UTC: the pv file still has it (row 2).
  EXPECT_FLOAT_EQ(p.pv_cf[0], cf(0));
  EXPECT_NE(p.source.find("import_elia_csv(year 2017)"), std::string::npos);
}

TEST(EliaImportTest, ShortGapsAreInterpolated) {
  SyntheticYear s = synthetic();
  // 4 rows missing from the wind file on 2017-05-10 10:00-10:45 (+02:00), 4 N/A in the load.
  const int first = 1 + slot(129, 10, 0) - 4;  // vector index of 10:00+02:00: header + u
  s.wind.erase(s.wind.begin() + first, s.wind.begin() + first + 4);
  for (int k = 0; k < 4; ++k) {
    std::string& l = s.load[1 + slot(40, 6, 0) + k];
    l = l.substr(0, l.rfind(",")) + ",\"N/A\"";
  }
  ImportFiles files;
  std::vector<std::string> notes;  // what `data import-elia` prints
  const YearProfiles p = files.import(s, {}, &notes);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_NE(p.source.find(notes[0]), std::string::npos) << notes[0];
  EXPECT_NE(p.source.find(notes[1]), std::string::npos) << notes[1];
  const int s0 = slot(129, 10, 0);
  const float before = p.wind_cf[s0 - 1], after = p.wind_cf[s0 + 4];
  for (int k = 0; k < 4; ++k)
    EXPECT_NEAR(p.wind_cf[s0 + k], before + (after - before) * (k + 1) / 5.0f, 1e-6);
  EXPECT_NE(p.source.find("wind.csv: 4 missing steps in 1 runs"), std::string::npos) << p.source;
  EXPECT_NE(p.source.find("load.csv: 4 missing steps in 1 runs"), std::string::npos) << p.source;
}

TEST(EliaImportTest, AnImplausibleLoadIsAnErrorThatNamesTheStep) {
  // One value in another unit (or corrupt) would rescale the whole year through its peak.
  for (const char* value : {"5000", "100"}) {  // the synthetic load is 1000-1095 MW
    SyntheticYear s = synthetic();
    std::string& l = s.load[1 + slot(40, 6, 0)];
    l = l.substr(0, l.rfind(",")) + ",\"" + value + "\"";
    ImportFiles files;
    const std::string msg = files.import_error(s);
    EXPECT_NE(msg.find(files.load() + ": load " + value + " MW at 2017-02-10 06:00 is "),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("times the year's median"), std::string::npos) << msg;
  }
}

TEST(EliaImportTest, ALoadExportInUtcIsAnError) {
  SyntheticYear s = synthetic();
  s.load[0].replace(s.load[0].find("Time (CET)"), 10, "Time (UTC)");
  ImportFiles files;
  const std::string msg = files.import_error(s);
  EXPECT_NE(msg.find(files.load() + ":1: \"Time (UTC)\": expected the export in Brussels time"),
            std::string::npos)
      << msg;
}

TEST(EliaImportTest, GapLongerThanOneHourIsAnError) {
  SyntheticYear s = synthetic();
  const int first = 1 + slot(129, 10, 0) - 4;  // 2017-05-10 10:00+02:00, line first + 1
  s.wind.erase(s.wind.begin() + first, s.wind.begin() + first + 5);
  ImportFiles files;
  const std::string msg = files.import_error(s);
  // The row after the gap is now at (0-based) index `first`, i.e. line first + 1.
  EXPECT_NE(msg.find("wind.csv:" + std::to_string(first + 1) +
                     ": gap before the row at "
                     "\"2017-05-10 11:15:00+02:00\""),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("5 missing steps"), std::string::npos) << msg;
  EXPECT_NE(msg.find("from 2017-05-10 10:00 to 2017-05-10 11:00"), std::string::npos) << msg;
}

TEST(EliaImportTest, NaNRunLongerThanOneHourIsAnError) {
  SyntheticYear s = synthetic();
  const int first = 1 + slot(40, 6, 0);  // 2017-02-10 06:00 (CET)
  for (int k = 0; k < 5; ++k) {
    std::string& l = s.load[first + k];
    l = l.substr(0, l.rfind(",")) + (k % 2 ? ",\"N/A\"" : ",\"\"");
  }
  ImportFiles files;
  const std::string msg = files.import_error(s);
  EXPECT_NE(msg.find("load.csv:" + std::to_string(first + 1) +
                     ": missing value (empty, N/A or NaN) at \"10.02.2017 06:00 - 10.02.2017 "
                     "06:15\" starts a run of 5 missing steps"),
            std::string::npos)
      << msg;

  SyntheticYear t = synthetic();
  for (int k = 0; k < 6; ++k) {
    std::string& l = t.pv[1 + 5000 + k];
    const std::size_t p = l.find(";200.0;1.0;");
    l = l.substr(0, p) + ";200.0;1.0;NaN;1.0";
  }
  const std::string msg2 = files.import_error(t);
  EXPECT_NE(msg2.find("pv.csv:5002: missing value"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("6 missing steps"), std::string::npos) << msg2;
}

TEST(EliaImportTest, MalformedNumberIsAnError) {
  SyntheticYear s = synthetic();
  s.pv[3] = "2017-01-01 00:15:00;1.0;0.1;200.0;1.0;12,5;1.0";
  ImportFiles files;
  std::string msg = files.import_error(s);
  EXPECT_NE(msg.find("pv.csv:4: malformed number \"12,5\" in column RealTime"), std::string::npos)
      << msg;

  SyntheticYear t = synthetic();
  t.load[10] = "\"01.01.2017 02:15 - 01.01.2017 02:30\",\"1\",\"abc\"";
  msg = files.import_error(t);
  EXPECT_NE(msg.find("load.csv:11: malformed number \"abc\""), std::string::npos) << msg;

  SyntheticYear u = synthetic();
  u.wind[7] = "2017-01-01 01:37:00+01:00;;1.0;5;0.1;200.0";
  msg = files.import_error(u);
  EXPECT_NE(msg.find("wind.csv:8: malformed timestamp \"2017-01-01 01:37:00+01:00\""),
            std::string::npos)
      << msg;

  SyntheticYear v = synthetic();
  v.wind[0] = ";Bid;DayAheadForecast;Measured;LoadFactor;MonitoredCapacity";
  msg = files.import_error(v);
  EXPECT_NE(msg.find("wind.csv:1: header needs the columns Realtime and MonitoredCapacity"),
            std::string::npos)
      << msg;
}

TEST(EliaImportTest, RowsOutOfTimeOrderAreAnError) {
  SyntheticYear s = synthetic();
  std::swap(s.wind[100], s.wind[101]);
  ImportFiles files;
  const std::string msg = files.import_error(s);
  EXPECT_NE(msg.find("wind.csv:102: row \"" + synthetic().wind[100].substr(0, 25) +
                     "\" is not in time order (it is not later than the row at line 101)"),
            std::string::npos)
      << msg;
}

TEST(EliaImportTest, MissingDec31IsAnErrorUnlessRepeatingIsAsked) {
  SyntheticYear s = synthetic();
  s.pv.resize(s.pv.size() - 96);  // the 2017 solar file ends on 2017-12-30 (Brussels)
  ImportFiles files;
  const std::string msg = files.import_error(s);
  EXPECT_NE(msg.find("pv.csv:" + std::to_string(s.pv.size()) + ": data ends at"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("96 missing steps"), std::string::npos) << msg;
  EXPECT_NE(msg.find("repeat_previous_day_at_year_end"), std::string::npos) << msg;

  EliaImportOptions o;
  o.repeat_previous_day_at_year_end = true;
  const YearProfiles p = files.import(s, o);
  for (int q = 0; q < kSteps; ++q)
    EXPECT_EQ(p.pv_cf[364 * kSteps + q], p.pv_cf[363 * kSteps + q]) << q;
  EXPECT_NE(p.source.find("pv.csv: 2017-12-31 00:00 to 2017-12-31 23:45 (96 steps) missing at "
                          "the end of the year: copied from the same steps of the day before"),
            std::string::npos)
      << p.source;
}

// ------------------------------------------------------------------------------- real Elia data

TEST(EliaImportTest, RealElia2017FilesMatchTheFit) {
  P2P_REQUIRE_SHARED(pv, "elia/solarforecast_ELIA.csv");
  P2P_REQUIRE_SHARED(wind, "elia/windforecast_ELIA.csv");
  P2P_REQUIRE_SHARED(load, "elia/entsoe_total_load_BE_2017_15min.csv");
  // Without the option, the missing Dec 31 of the solar file is an error.
  const std::string msg = error_of([&] { import_elia_csv(pv, wind, load, 2017); });
  EXPECT_NE(msg.find("solarforecast_ELIA.csv:"), std::string::npos) << msg;
  // Its last rows (2017-12-30 23:00-23:45 UTC = Dec 31 00:00-00:45 in Brussels) are empty.
  EXPECT_NE(msg.find("solarforecast_ELIA.csv:34942: missing value (empty, N/A or NaN) at "
                     "\"2017-12-30 23:00:00\" starts a run of 96 missing steps"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("repeat_previous_day_at_year_end"), std::string::npos) << msg;

  EliaImportOptions o;
  o.repeat_previous_day_at_year_end = true;
  const YearProfiles p = import_elia_csv(pv, wind, load, 2017, o);
  ASSERT_EQ(p.num_days, 365);
  ASSERT_EQ(p.pv_cf.size(), 365u * kSteps);
  float load_max = 0;
  for (std::size_t i = 0; i < p.pv_cf.size(); ++i) {
    ASSERT_TRUE(p.pv_cf[i] >= 0 && p.pv_cf[i] <= 1);
    ASSERT_TRUE(p.wind_cf[i] >= 0 && p.wind_cf[i] <= 1);
    ASSERT_TRUE(p.load_pu[i] > 0 && p.load_pu[i] <= 1);
    load_max = std::max(load_max, p.load_pu[i]);
  }
  EXPECT_EQ(load_max, 1.0f);
  EXPECT_NEAR(p.load_pu[0], 10220.0 / 13815.0, 1e-6);  // 01.01.2017 00:00, Actual 10220 MW
  // Every fill is in `source`.
  EXPECT_NE(p.source.find("solarforecast_ELIA.csv: 2017-12-31 00:00 to 2017-12-31 23:45"),
            std::string::npos)
      << p.source;
  EXPECT_NE(p.source.find("windforecast_ELIA.csv: MonitoredCapacity empty on 91 rows"),
            std::string::npos)
      << p.source;
  EXPECT_NE(p.source.find("13815 MW"), std::string::npos) << p.source;

  const ProfileFit& fit = shipped_fit();
  EXPECT_NEAR(mean_of(p.pv_cf), fit.pv.annual_mean, 0.002);
  EXPECT_NEAR(mean_of(p.wind_cf), fit.wind.annual_mean, 0.003);
  EXPECT_NEAR(mean_of(p.load_pu), fit.load.annual_mean, 0.001);
  // A generated year has about the real year's annual capacity factors.
  const YearProfiles& g = generated_2017();
  EXPECT_NEAR(mean_of(g.pv_cf), mean_of(p.pv_cf), 0.1 * mean_of(p.pv_cf));
  EXPECT_NEAR(mean_of(g.wind_cf), mean_of(p.wind_cf), 0.1 * mean_of(p.wind_cf));
  EXPECT_NEAR(mean_of(g.load_pu), mean_of(p.load_pu), 0.015);
  // And the real series' lag-1 autocorrelation is the fitted one.
  EXPECT_NEAR(generated_lag1(fit, fit.wind, p.wind_cf, false), fit.wind.lag1_autocorr_overall,
              0.01);
}

}  // namespace
}  // namespace p2pgrid
