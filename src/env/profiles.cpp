// Year profiles (see profiles.hpp): the strict reader of the fit JSON, the generator, the importer
// of the Elia / ENTSO-E CSVs with its gap rule, and the day split. All wall-clock logic (EU DST
// rule, ambiguous / skipped hours) lives in the calendar helpers at the top.
#include "p2pgrid/env/profiles.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "p2pgrid/core/builtin_data.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/core/rng.hpp"

namespace p2pgrid {
namespace {

constexpr int kSteps = YearProfiles::kStepsPerDay;
constexpr int kMaxFillSteps = 4;  // 1 hour: the longest missing run that is interpolated
constexpr float kMinLoadPu = 0.01f;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------------------------- calendar

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m1) {  // m1 = 1..12
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m1 == 2 && is_leap(y) ? 29 : kDays[m1 - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-compatible low-level
// date algorithms").
long long days_from_civil(long long y, int m, int d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const long long yoe = y - era * 400;
  const long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int y, m, d;
};

Civil civil_from_days(long long z) {
  z += 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const long long doe = z - era * 146097;
  const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long y = yoe + era * 400;
  const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long long mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {static_cast<int>(y + (m <= 2)), m, d};
}

int weekday(long long days) {  // 0 = Sunday ... 6 = Saturday; 1970-01-01 was a Thursday
  const long long w = (days + 4) % 7;
  return static_cast<int>(w < 0 ? w + 7 : w);
}

long long last_sunday(int y, int m1) {
  const long long d = days_from_civil(y, m1, days_in_month(y, m1));
  return d - weekday(d);
}

// Brussels offset from UTC (minutes) at UTC minute `utc_min` since the epoch.
int utc_offset_min(long long utc_min) {
  long long day = utc_min / 1440;
  if (utc_min < 0 && utc_min % 1440 != 0) --day;
  const int y = civil_from_days(day).y;
  const long long start = last_sunday(y, 3) * 1440 + 60;
  const long long end = last_sunday(y, 10) * 1440 + 60;
  return utc_min >= start && utc_min < end ? 120 : 60;
}

// "YYYY-MM-DD HH:MM" of step `slot` (day * 96 + q) of `year`, wall clock.
std::string slot_text(int year, long long slot) {
  const Civil c = civil_from_days(days_from_civil(year, 1, 1) + slot / kSteps);
  const int q = static_cast<int>(slot % kSteps);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d", c.y, c.m, c.d, q / 4, (q % 4) * 15);
  return buf;
}

// ------------------------------------------------------------------------------- fit JSON

using nlohmann::json;

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::discarded:
      return "nothing";
    default:
      return "a number";
  }
}

std::string fmt_double(double v) {
  std::ostringstream ss;
  ss.precision(6);
  ss << v;
  return ss.str();
}

// A JSON object being read: every key must be read once; finish() rejects the rest.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string where, std::string path)
      : j_(j), where_(std::move(where)), path_(std::move(path)) {
    if (!j_.is_object()) fail(path_, std::string("expected an object, got ") + type_name(j_));
  }

  [[noreturn]] void fail(const std::string& key_path, const std::string& what) const {
    if (key_path.empty()) throw Error(where_ + ": top level: " + what);
    throw Error(where_ + ": key \"" + key_path + "\": " + what);
  }

  std::string key_path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  bool has(const std::string& key) const { return j_.contains(key); }

  const json& get(const std::string& key) {
    known_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) fail(key_path(key), "missing");
    return *it;
  }

  void allow(const std::string& key) { known_.insert(key); }

  double number(const std::string& key, double lo, double hi) {
    const json& v = get(key);
    return check_number(v, key_path(key), lo, hi);
  }

  int integer(const std::string& key, int lo, int hi) {
    const json& v = get(key);
    if (!v.is_number_integer())
      fail(key_path(key), std::string("expected an integer, got ") + type_name(v));
    const long long x = v.get<long long>();
    if (x < lo || x > hi)
      fail(key_path(key), "expected an integer in [" + std::to_string(lo) + ", " +
                              std::to_string(hi) + "], got " + std::to_string(x));
    return static_cast<int>(x);
  }

  std::string string(const std::string& key) {
    const json& v = get(key);
    if (!v.is_string()) fail(key_path(key), std::string("expected a string, got ") + type_name(v));
    return v.get<std::string>();
  }

  std::vector<double> array(const std::string& key, std::size_t n, double lo, double hi) {
    return read_array(get(key), key_path(key), n, lo, hi);
  }

  // [rows][cols] nested arrays, flattened row-major.
  std::vector<double> matrix(const std::string& key, std::size_t rows, std::size_t cols, double lo,
                             double hi) {
    const json& v = get(key);
    const std::string kp = key_path(key);
    if (!v.is_array() || v.size() != rows)
      fail(kp, "expected an array of " + std::to_string(rows) + " arrays of " +
                   std::to_string(cols) + " numbers, got " +
                   (v.is_array() ? std::to_string(v.size()) + " elements" : type_name(v)));
    std::vector<double> out;
    out.reserve(rows * cols);
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<double> row = read_array(v[r], kp + "[" + std::to_string(r) + "]", cols, lo, hi);
      out.insert(out.end(), row.begin(), row.end());
    }
    return out;
  }

  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (known_.count(it.key())) continue;
      std::string expected;
      for (const std::string& k : known_) expected += (expected.empty() ? "" : ", ") + k;
      fail(key_path(it.key()), "unknown key (expected one of: " + expected + ")");
    }
  }

  const std::string& where() const { return where_; }

 private:
  double check_number(const json& v, const std::string& kp, double lo, double hi) const {
    if (!v.is_number()) fail(kp, std::string("expected a number, got ") + type_name(v));
    const double x = v.get<double>();
    if (!(x >= lo && x <= hi))
      fail(kp, "expected a number in [" + fmt_double(lo) + ", " + fmt_double(hi) + "], got " +
                   fmt_double(x));
    return x;
  }

  std::vector<double> read_array(const json& v, const std::string& kp, std::size_t n, double lo,
                                 double hi) const {
    if (!v.is_array() || (n > 0 && v.size() != n))
      fail(kp, "expected an array of " + (n > 0 ? std::to_string(n) + " " : std::string()) +
                   "numbers, got " +
                   (v.is_array() ? std::to_string(v.size()) + " elements" : type_name(v)));
    std::vector<double> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
      out.push_back(check_number(v[i], kp + "[" + std::to_string(i) + "]", lo, hi));
    return out;
  }

  const json& j_;
  std::string where_;
  std::string path_;
  std::set<std::string> known_;
};

SeriesFit read_series(const json& j, const std::string& where, const std::string& name,
                      std::size_t num_levels) {
  ObjectReader r(j, where, "series." + name);
  const bool is_load = name == "load";
  const double kBig = 1e6;
  const std::size_t kM = SeriesFit::kMonths;
  SeriesFit s;
  s.annual_mean = r.number("annual_mean", 0.0, 1.0);
  s.lag1_autocorr_overall = r.number("lag1_autocorr_overall", -1.0, 1.0);
  s.daily_lag1_day = r.number("daily_lag1_day", -0.999, 0.999);
  s.complete_days = r.integer("complete_days", 1, 366);
  if (is_load) s.peak_mw = r.number("peak_mw", 1e-9, 1e12);
  s.lag1_autocorr = r.array("lag1_autocorr", kM, -1.0, 1.0);
  s.resid_std = r.array("resid_std", kM, 0.0, kBig);
  s.resid_lag1 = r.array("resid_lag1", kM, -0.999999, 0.999999);
  s.daily_std = r.array("daily_std", kM, 0.0, kBig);
  s.daily_quantiles = r.matrix("daily_quantiles", kM, num_levels, -kBig, kBig);
  for (std::size_t m = 0; m < kM; ++m)
    for (std::size_t i = 1; i < num_levels; ++i)
      if (s.daily_quantiles[m * num_levels + i] < s.daily_quantiles[m * num_levels + i - 1])
        r.fail(r.key_path("daily_quantiles") + "[" + std::to_string(m) + "]",
               "expected ascending quantiles, element " + std::to_string(i) + " is smaller than " +
                   "element " + std::to_string(i - 1));
  s.mean = r.matrix("mean", kM, kSteps, 0.0, 1.0);
  s.stddev = r.matrix("std", kM, kSteps, 0.0, 1.0);
  if (is_load) {
    s.weekday_mean = r.matrix("weekday_mean", kM, kSteps, 0.0, 1.0);
    s.weekend_mean = r.matrix("weekend_mean", kM, kSteps, 0.0, 1.0);
    s.daytype_std = r.matrix("daytype_std", kM, kSteps, 0.0, 1.0);
  }
  r.finish();
  return s;
}

// ------------------------------------------------------------------------------- generator

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double quantile_at(const std::vector<double>& levels, const double* q, double u) {
  const std::size_t n = levels.size();
  if (u <= levels[0]) return q[0];
  for (std::size_t i = 1; i < n; ++i) {
    if (u <= levels[i]) {
      const double span = levels[i] - levels[i - 1];
      const double t = span > 0 ? (u - levels[i - 1]) / span : 1.0;
      return q[i - 1] + t * (q[i] - q[i - 1]);
    }
  }
  return q[n - 1];
}

enum class SeriesKind { kPv, kWind, kLoad };

void generate_series(const ProfileFit& fit, const SeriesFit& s, SeriesKind kind, int year, Rng rng,
                     std::vector<float>& out) {
  const int num_days = days_in_year(year);
  const std::size_t num_levels = fit.daily_quantile_levels.size();
  out.assign(static_cast<std::size_t>(num_days) * kSteps, 0.0f);
  const double phi = s.daily_lag1_day;
  const double phi_c = std::sqrt(1.0 - phi * phi);
  double g = rng.normal_double();  // latent daily level, stationary N(0, 1)
  double w = rng.normal_double();  // within-day residual, stationary N(0, 1)
  for (int d = 0; d < num_days; ++d) {
    if (d > 0) g = phi * g + phi_c * rng.normal_double();
    const int m = month_of_day(year, d);
    const double daily =
        quantile_at(fit.daily_quantile_levels, &s.daily_quantiles[m * num_levels], normal_cdf(g));
    const double rho = s.resid_lag1[m];
    const double rho_c = std::sqrt(1.0 - rho * rho);
    const double e_std = s.resid_std[m];
    const std::vector<double>* mu_tab = &s.mean;
    const std::vector<double>* sd_tab = &s.stddev;
    if (kind == SeriesKind::kLoad) {
      mu_tab = is_weekend(year, d) ? &s.weekend_mean : &s.weekday_mean;
      sd_tab = &s.daytype_std;
    }
    for (int q = 0; q < kSteps; ++q) {
      // The AR(1) runs on through nights and midnights so that draws stay aligned across series.
      if (d > 0 || q > 0) w = rho * w + rho_c * rng.normal_double();
      const double mu = (*mu_tab)[m * kSteps + q];
      const double sd = (*sd_tab)[m * kSteps + q];
      double x = mu;
      if (sd > fit.min_std) x += sd * (daily + e_std * w);
      float v;
      if (kind == SeriesKind::kLoad) {
        v = std::min(1.0f, std::max(kMinLoadPu, static_cast<float>(x)));
      } else {
        v = std::min(1.0f, std::max(0.0f, static_cast<float>(x)));
        if (kind == SeriesKind::kPv && mu == 0.0) v = 0.0f;  // night
      }
      out[static_cast<std::size_t>(d) * kSteps + q] = v;
    }
  }
}

// ------------------------------------------------------------------------------- CSV import

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r' || s[a] == '\n')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n'))
    --b;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Splits one CSV line; fields may be double-quoted ("" inside a quoted field is a quote).
std::vector<std::string> split_csv(const std::string& line, char delim) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == delim) {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string at_line(const std::string& path, int line) { return path + ":" + std::to_string(line); }

// A value cell: NaN when missing (empty, N/A, NA, NaN); Error when malformed.
double parse_value(const std::string& cell, const std::string& path, int line,
                   const std::string& column) {
  const std::string t = trim(cell);
  const std::string l = lower(t);
  if (t.empty() || l == "n/a" || l == "na" || l == "nan") return kNaN;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v))
    throw Error(at_line(path, line) + ": malformed number \"" + t + "\" in column " + column +
                " (expected a decimal number, or empty / N/A / NaN for a missing value)");
  return v;
}

bool parse_int(const std::string& s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool valid_quarter(int y, int mo, int d, int hh, int mm) {
  return mo >= 1 && mo <= 12 && d >= 1 && y >= 1 && d <= days_in_month(y, mo) && hh >= 0 &&
         hh < 24 && mm >= 0 && mm < 60 && mm % 15 == 0;
}

// "YYYY-MM-DD HH:MM[:SS][(+|-)hh:mm|Z]" -> UTC minutes since the epoch. No offset: UTC.
long long parse_elia_time(const std::string& cell, const std::string& path, int line) {
  const std::string t = trim(cell);
  int y, mo, d, hh, mm, ss = 0;
  bool ok = t.size() >= 16 && parse_int(t, 0, 4, y) && t[4] == '-' && parse_int(t, 5, 2, mo) &&
            t[7] == '-' && parse_int(t, 8, 2, d) && (t[10] == ' ' || t[10] == 'T') &&
            parse_int(t, 11, 2, hh) && t[13] == ':' && parse_int(t, 14, 2, mm);
  std::size_t pos = 16;
  if (ok && pos < t.size() && t[pos] == ':') {
    ok = parse_int(t, pos + 1, 2, ss) && ss == 0;
    pos += 3;
  }
  int offset = 0;
  if (ok && pos < t.size()) {
    int oh = 0, om = 0;
    if (t[pos] == 'Z' && pos + 1 == t.size()) {
      offset = 0;
    } else if ((t[pos] == '+' || t[pos] == '-') && t.size() == pos + 6 &&
               parse_int(t, pos + 1, 2, oh) && t[pos + 3] == ':' && parse_int(t, pos + 4, 2, om)) {
      offset = (t[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    } else {
      ok = false;
    }
  }
  if (!ok || !valid_quarter(y, mo, d, hh, mm))
    throw Error(at_line(path, line) + ": malformed timestamp \"" + t +
                "\" (expected YYYY-MM-DD HH:MM:SS on a quarter-hour, optionally followed by "
                "+hh:mm)");
  return days_from_civil(y, mo, d) * 1440 + hh * 60 + mm - offset;
}

// "DD.MM.YYYY HH:MM - DD.MM.YYYY HH:MM" -> wall-clock minutes since the epoch of the start.
long long parse_entsoe_time(const std::string& cell, const std::string& path, int line) {
  const std::string t = trim(cell);
  int y, mo, d, hh, mm;
  const bool ok = t.size() >= 16 && parse_int(t, 0, 2, d) && t[2] == '.' &&
                  parse_int(t, 3, 2, mo) && t[5] == '.' && parse_int(t, 6, 4, y) && t[10] == ' ' &&
                  parse_int(t, 11, 2, hh) && t[13] == ':' && parse_int(t, 14, 2, mm) &&
                  (t.size() == 16 || t.compare(16, 3, " - ") == 0);
  if (!ok || !valid_quarter(y, mo, d, hh, mm))
    throw Error(at_line(path, line) + ": malformed time interval \"" + t +
                "\" (expected \"DD.MM.YYYY HH:MM - DD.MM.YYYY HH:MM\" on quarter-hours)");
  return days_from_civil(y, mo, d) * 1440 + hh * 60 + mm;
}

// The wall-clock steps of one year for one file: the sum and count of the values placed on each
// step (two on the repeated autumn hour) and the first row that reached it.
class StepGrid {
 public:
  StepGrid(std::string path, int year)
      : path_(std::move(path)),
        year_(year),
        n_(static_cast<std::size_t>(days_in_year(year)) * kSteps),
        sum_(n_, 0.0),
        count_(n_, 0),
        line_(n_, 0),
        raw_(n_),
        year_start_local_(days_from_civil(year, 1, 1) * 1440) {}

  // Places a row at its real instant; rejects rows that are not strictly later than the last.
  void place(long long utc_min, double value, int line, const std::string& raw) {
    if (has_prev_ && utc_min <= prev_utc_)
      throw Error(at_line(path_, line) + ": row \"" + raw +
                  "\" is not in time order (it is not later than the row at line " +
                  std::to_string(prev_line_) + ")");
    has_prev_ = true;
    prev_utc_ = utc_min;
    prev_line_ = line;
    last_line_ = line;
    last_raw_ = raw;
    const long long local = utc_min + utc_offset_min(utc_min);
    const long long slot = (local - year_start_local_) / 15;
    if (local < year_start_local_ || slot >= static_cast<long long>(n_)) return;
    if (line_[slot] == 0) {
      line_[slot] = line;
      raw_[slot] = raw;
    }
    if (!std::isnan(value)) {
      sum_[slot] += value;
      ++count_[slot];
    }
  }

  long long prev_utc() const { return prev_utc_; }
  bool has_prev() const { return has_prev_; }

  // Values per step, every gap filled by the rules in profiles.hpp; fills go to `notes`.
  std::vector<double> fill(const EliaImportOptions& options,
                           std::vector<std::string>& notes) const {
    std::vector<double> v(n_, kNaN);
    for (std::size_t i = 0; i < n_; ++i)
      if (count_[i] > 0) v[i] = sum_[i] / count_[i];
    // Spring DST: 02:00-02:45 on the wall clock of the last Sunday of March do not exist.
    const long long spring_day = last_sunday(year_, 3) - days_from_civil(year_, 1, 1);
    const std::size_t skip_lo = static_cast<std::size_t>(spring_day) * kSteps + 8;
    const std::size_t skip_hi = skip_lo + 4;
    const std::string name = path_;
    int filled = 0, runs = 0;
    std::size_t i = 0;
    while (i < n_) {
      if (!std::isnan(v[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < n_ && std::isnan(v[j])) ++j;
      int missing = 0;
      for (std::size_t k = i; k < j; ++k) missing += (k >= skip_lo && k < skip_hi) ? 0 : 1;
      const bool has_left = i > 0, has_right = j < n_;
      if (missing <= kMaxFillSteps && (has_left || has_right)) {
        const double a = has_left ? v[i - 1] : v[j];
        const double b = has_right ? v[j] : v[i - 1];
        const double len = static_cast<double>(j - i + 1);
        for (std::size_t k = i; k < j; ++k)
          v[k] = a + (b - a) * static_cast<double>(k - i + 1) / len;
        if (missing > 0) {
          filled += missing;
          ++runs;
        }
      } else if (!has_right && options.repeat_previous_day_at_year_end && j - i <= kSteps &&
                 i >= static_cast<std::size_t>(kSteps)) {
        for (std::size_t k = i; k < j; ++k) v[k] = v[k - kSteps];
        notes.push_back(name + ": " + slot_text(year_, i) + " to " + slot_text(year_, j - 1) +
                        " (" + std::to_string(missing) +
                        " steps) missing at the end of the year: copied from the same steps of "
                        "the day before (repeat_previous_day_at_year_end)");
      } else {
        throw Error(describe_gap(i, j, missing, options));
      }
      i = j;
    }
    if (filled > 0)
      notes.push_back(name + ": " + std::to_string(filled) + " missing steps in " +
                      std::to_string(runs) + " runs of <= 4 filled by linear interpolation");
    return v;
  }

 private:
  std::string describe_gap(std::size_t i, std::size_t j, int missing,
                           const EliaImportOptions& options) const {
    if (last_line_ == 0) return path_ + ": no data rows for year " + std::to_string(year_);
    const std::string span = std::to_string(missing) + " missing steps (" +
                             fmt_double(missing / 4.0) + " h) from " + slot_text(year_, i) +
                             " to " + slot_text(year_, j - 1) + " Brussels time";
    std::string rule = "; at most 4 steps (1 hour) are filled by interpolation";
    if (j == n_ && j - i <= static_cast<std::size_t>(kSteps) &&
        !options.repeat_previous_day_at_year_end)
      rule +=
          "; pass --repeat-last-day (p2pgrid data import-elia; "
          "EliaImportOptions::repeat_previous_day_at_year_end in the library) to copy the day "
          "before into the missing end of the year";
    std::size_t first_row = j;
    for (std::size_t k = i; k < j; ++k)
      if (line_[k] > 0) {
        first_row = k;
        break;
      }
    if (first_row < j)
      return at_line(path_, line_[first_row]) + ": missing value (empty, N/A or NaN) at \"" +
             raw_[first_row] + "\" starts a run of " + span + rule;
    if (j < n_)
      return at_line(path_, line_[j]) + ": gap before the row at \"" + raw_[j] + "\": " + span +
             " have no row" + rule;
    return at_line(path_, last_line_) + ": data ends at \"" + last_raw_ + "\" but year " +
           std::to_string(year_) + " runs to " + slot_text(year_, n_ - 1) + ": " + span +
           " have no row" + rule;
  }

  std::string path_;
  int year_;
  std::size_t n_;
  std::vector<double> sum_;
  std::vector<int> count_;
  std::vector<int> line_;
  std::vector<std::string> raw_;
  long long year_start_local_;
  bool has_prev_ = false;
  long long prev_utc_ = 0;
  int prev_line_ = 0;
  int last_line_ = 0;
  std::string last_raw_;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
    start = nl + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

bool blank(const std::vector<std::string>& fields) {
  for (const std::string& f : fields)
    if (!trim(f).empty()) return false;
  return true;
}

// Elia ';' export: capacity factor = value column / MonitoredCapacity, clamped to [0, 1].
std::vector<double> read_elia_cf(const std::string& path, int year,
                                 const std::vector<std::string>& value_names,
                                 const EliaImportOptions& options,
                                 std::vector<std::string>& notes) {
  const std::vector<std::string> lines = split_lines(read_text_file(path));
  if (lines.empty()) throw Error(at_line(path, 1) + ": empty file (expected an Elia header)");
  std::vector<std::string> header = split_csv(lines[0], ';');
  int vi = -1, ci = -1;
  for (std::size_t c = 0; c < header.size(); ++c) {
    const std::string h = lower(trim(header[c]));
    for (const std::string& n : value_names)
      if (h == lower(n) && vi < 0) vi = static_cast<int>(c);
    if (h == "monitoredcapacity") ci = static_cast<int>(c);
  }
  if (vi < 0 || ci < 0)
    throw Error(at_line(path, 1) + ": header needs the columns " + value_names[0] +
                " and MonitoredCapacity (';'-separated Elia export)");
  StepGrid grid(path, year);
  double capacity = kNaN;
  int carried = 0, clamped = 0;
  for (std::size_t l = 1; l < lines.size(); ++l) {
    const int line = static_cast<int>(l) + 1;
    const std::vector<std::string> f = split_csv(lines[l], ';');
    if (blank(f)) continue;
    if (f.size() != header.size())
      throw Error(at_line(path, line) + ": " + std::to_string(f.size()) +
                  " fields, the header has " + std::to_string(header.size()));
    const long long utc = parse_elia_time(f[0], path, line);
    const double value = parse_value(f[vi], path, line, trim(header[vi]));
    const double cap = parse_value(f[ci], path, line, "MonitoredCapacity");
    if (!std::isnan(cap)) {
      if (cap <= 0)
        throw Error(at_line(path, line) + ": MonitoredCapacity " + trim(f[ci]) + " must be > 0");
      capacity = cap;
    } else if (!std::isnan(value) && !std::isnan(capacity)) {
      ++carried;
    }
    double cf = kNaN;
    if (!std::isnan(value) && !std::isnan(capacity)) {
      cf = value / capacity;
      if (cf < 0.0 || cf > 1.0) ++clamped;
      cf = std::min(1.0, std::max(0.0, cf));
    }
    grid.place(utc, cf, line, trim(f[0]));
  }
  if (carried > 0)
    notes.push_back(path + ": MonitoredCapacity empty on " + std::to_string(carried) +
                    " rows with a measurement: last capacity carried forward");
  if (clamped > 0)
    notes.push_back(path + ": " + std::to_string(clamped) +
                    " capacity factors outside [0, 1] clamped");
  return grid.fill(options, notes);
}

// ENTSO-E total load export: MW on Brussels wall-clock intervals.
std::vector<double> read_entsoe_load(const std::string& path, int year,
                                     const EliaImportOptions& options,
                                     std::vector<std::string>& notes) {
  const std::vector<std::string> lines = split_lines(read_text_file(path));
  if (lines.empty()) throw Error(at_line(path, 1) + ": empty file (expected an ENTSO-E header)");
  const std::vector<std::string> header = split_csv(lines[0], ',');
  int vi = -1;
  for (std::size_t c = 0; c < header.size(); ++c)
    if (trim(header[c]).rfind("Actual Total Load", 0) == 0) vi = static_cast<int>(c);
  if (vi < 0 || trim(header[0]).rfind("Time", 0) != 0)
    throw Error(at_line(path, 1) +
                ": header needs the columns \"Time (CET)\" and \"Actual Total Load [MW] ...\" "
                "(ENTSO-E Transparency export)");
  // The rows are read as Brussels wall clock; an export in UTC would be an hour off all year.
  if (trim(header[0]).find("UTC") != std::string::npos)
    throw Error(at_line(path, 1) + ": \"" + trim(header[0]) +
                "\": expected the export in Brussels time, \"Time (CET)\" (ENTSO-E's CET/CEST "
                "wall clock)");
  StepGrid grid(path, year);
  for (std::size_t l = 1; l < lines.size(); ++l) {
    const int line = static_cast<int>(l) + 1;
    const std::vector<std::string> f = split_csv(lines[l], ',');
    if (blank(f)) continue;
    if (f.size() != header.size())
      throw Error(at_line(path, line) + ": " + std::to_string(f.size()) +
                  " fields, the header has " + std::to_string(header.size()));
    const long long local = parse_entsoe_time(f[0], path, line);
    const double value = parse_value(f[vi], path, line, trim(header[vi]));
    if (!std::isnan(value) && value <= 0)
      throw Error(at_line(path, line) + ": load " + trim(f[vi]) + " MW must be > 0");
    // Wall clock -> UTC: none in the skipped spring hour, two in the repeated autumn hour (the
    // first row is summer time, the second winter time: take the earliest later than the last).
    long long cands[2];
    int nc = 0;
    for (long long u : {local - 120, local - 60})
      if (u + utc_offset_min(u) == local) cands[nc++] = u;
    if (nc == 0) {
      if (!std::isnan(value))
        throw Error(at_line(path, line) + ": value at \"" + trim(f[0]) +
                    "\", a wall-clock time that the DST change skips");
      continue;
    }
    long long utc = cands[nc - 1];
    for (int c = 0; c < nc; ++c)
      if (!grid.has_prev() || cands[c] > grid.prev_utc()) {
        utc = cands[c];
        break;
      }
    grid.place(utc, value, line, trim(f[0]));
  }
  return grid.fill(options, notes);
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace

// ------------------------------------------------------------------------------- public

ProfileFit profile_fit_from_json_text(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(where + ": not valid JSON (" + e.what() + ")");
  }
  ObjectReader r(j, where, "");
  ProfileFit fit;
  const std::string format = r.string("format");
  if (format != "p2pgrid-profile-fit")
    r.fail("format", "expected \"p2pgrid-profile-fit\", got \"" + format + "\"");
  fit.version = r.integer("version", 1, 1);
  fit.year = r.integer("year", 1900, 2200);
  fit.steps_per_day = r.integer("steps_per_day", kSteps, kSteps);
  fit.time_base = r.string("time_base");
  fit.min_std = r.number("min_std", 0.0, 1.0);
  fit.daily_quantile_levels = r.array("daily_quantile_levels", 0, 0.0, 1.0);
  {
    const std::vector<double>& lv = fit.daily_quantile_levels;
    bool ok = lv.size() >= 2 && lv.front() == 0.0 && lv.back() == 1.0;
    for (std::size_t i = 1; ok && i < lv.size(); ++i) ok = lv[i] > lv[i - 1];
    if (!ok)
      r.fail("daily_quantile_levels", "expected at least 2 strictly increasing levels from 0 to 1");
  }
  {
    ObjectReader src(r.get("source"), where, "source");
    fit.tool = src.string("tool");
    const json& files = src.get("files");
    if (!files.is_array())
      src.fail("source.files", std::string("expected an array, got ") + type_name(files));
    for (std::size_t i = 0; i < files.size(); ++i) {
      ObjectReader fr(files[i], where, "source.files[" + std::to_string(i) + "]");
      FitSourceFile f;
      f.series = fr.string("series");
      f.name = fr.string("name");
      f.sha256 = fr.string("sha256");
      if (f.sha256.size() != 64 ||
          f.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
        fr.fail(fr.key_path("sha256"), "expected 64 lowercase hex digits");
      fr.finish();
      fit.files.push_back(f);
    }
    const json& notes = src.get("notes");
    if (!notes.is_array())
      src.fail("source.notes",
               std::string("expected an array of strings, got ") + type_name(notes));
    for (std::size_t i = 0; i < notes.size(); ++i) {
      if (!notes[i].is_string())
        src.fail("source.notes[" + std::to_string(i) + "]",
                 std::string("expected a string, got ") + type_name(notes[i]));
      fit.notes.push_back(notes[i].get<std::string>());
    }
    src.finish();
  }
  {
    const json& units = r.get("units");
    if (!units.is_object())
      r.fail("units", std::string("expected an object of strings, got ") + type_name(units));
    for (auto it = units.begin(); it != units.end(); ++it) {
      if (!it->is_string())
        r.fail("units." + it.key(), std::string("expected a string, got ") + type_name(*it));
      fit.units[it.key()] = it->get<std::string>();
    }
  }
  {
    ObjectReader sr(r.get("series"), where, "series");
    const std::size_t nl = fit.daily_quantile_levels.size();
    fit.pv = read_series(sr.get("pv"), where, "pv", nl);
    fit.wind = read_series(sr.get("wind"), where, "wind", nl);
    fit.load = read_series(sr.get("load"), where, "load", nl);
    sr.finish();
  }
  r.finish();
  return fit;
}

ProfileFit load_profile_fit(const std::string& path_or_builtin) {
  const std::string prefix = "builtin:";
  if (path_or_builtin.rfind(prefix, 0) == 0) {
    const std::string name = path_or_builtin.substr(prefix.size());
    const auto& files = builtin_files();
    auto it = files.find(name);
    if (it == files.end()) {
      std::string names;
      for (const auto& kv : files) names += (names.empty() ? "" : ", ") + kv.first;
      throw Error(path_or_builtin + ": no such embedded file (embedded: " +
                  (names.empty() ? std::string("none") : names) + ")");
    }
    return profile_fit_from_json_text(it->second, path_or_builtin);
  }
  return profile_fit_from_json_text(read_text_file(path_or_builtin), path_or_builtin);
}

std::string default_profile_fit_path() {
  return std::string(P2P_SOURCE_DIR) + "/data/profiles/elia2017_fit.json";
}

YearProfiles generate_profiles(const ProfileFit& fit, int year, std::uint64_t seed) {
  if (year < 1 || year > 9999)
    throw Error("generate_profiles: year " + std::to_string(year) + " out of range [1, 9999]");
  YearProfiles p;
  p.year = year;
  p.num_days = days_in_year(year);
  const std::uint64_t base = static_cast<std::uint64_t>(year) * 8u;
  generate_series(fit, fit.pv, SeriesKind::kPv, year, make_rng(seed, base + 0), p.pv_cf);
  generate_series(fit, fit.wind, SeriesKind::kWind, year, make_rng(seed, base + 1), p.wind_cf);
  generate_series(fit, fit.load, SeriesKind::kLoad, year, make_rng(seed, base + 2), p.load_pu);
  std::string files;
  for (const FitSourceFile& f : fit.files)
    files +=
        (files.empty() ? "" : ", ") + f.series + " " + f.name + " sha256 " + f.sha256.substr(0, 12);
  p.source = "generate_profiles(year " + std::to_string(year) + ", seed " + std::to_string(seed) +
             ") from a fit by " + fit.tool + " to " + std::to_string(fit.year) + " (" + files + ")";
  return p;
}

YearProfiles import_elia_csv(const std::string& pv_csv, const std::string& wind_csv,
                             const std::string& load_csv, int year,
                             const EliaImportOptions& options,
                             std::vector<std::string>* notes_out) {
  if (year < 1 || year > 9999)
    throw Error("import_elia_csv: year " + std::to_string(year) + " out of range [1, 9999]");
  std::vector<std::string> notes;
  const std::vector<double> pv = read_elia_cf(pv_csv, year, {"RealTime"}, options, notes);
  const std::vector<double> wind = read_elia_cf(wind_csv, year, {"Realtime"}, options, notes);
  const std::vector<double> load = read_entsoe_load(load_csv, year, options, notes);
  std::vector<double> sorted = load;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double median = sorted[sorted.size() / 2];
  for (std::size_t i = 0; i < load.size(); ++i)
    if (load[i] > 3 * median || load[i] < median / 5)
      throw Error(load_csv + ": load " + fmt_double(load[i]) + " MW at " + slot_text(year, i) +
                  " is " + fmt_double(load[i] / median) + " times the year's median " +
                  fmt_double(median) +
                  " MW (expected 0.2 to 3 times: a corrupt value or another "
                  "unit would rescale the whole year)");
  const double peak = *std::max_element(load.begin(), load.end());
  YearProfiles p;
  p.year = year;
  p.num_days = days_in_year(year);
  p.pv_cf.assign(pv.begin(), pv.end());
  p.wind_cf.assign(wind.begin(), wind.end());
  p.load_pu.resize(load.size());
  for (std::size_t i = 0; i < load.size(); ++i) p.load_pu[i] = static_cast<float>(load[i] / peak);
  p.source = "import_elia_csv(year " + std::to_string(year) + "): pv " + pv_csv +
             " (RealTime / MonitoredCapacity), wind " + wind_csv +
             " (Realtime / MonitoredCapacity), load " + load_csv +
             " (Actual Total Load / annual peak " + fmt_double(peak) + " MW)";
  if (!notes.empty()) p.source += "; " + join(notes, "; ");
  if (notes_out) *notes_out = notes;
  return p;
}

int days_in_year(int year) { return is_leap(year) ? 366 : 365; }

int month_of_day(int year, int day_of_year) {
  if (day_of_year < 0 || day_of_year >= days_in_year(year))
    throw Error("day of year " + std::to_string(day_of_year) + " out of range for " +
                std::to_string(year));
  int d = day_of_year;
  for (int m = 1; m <= 12; ++m) {
    if (d < days_in_month(year, m)) return m - 1;
    d -= days_in_month(year, m);
  }
  return 11;
}

bool is_weekend(int year, int day_of_year) {
  const int w = weekday(days_from_civil(year, 1, 1) + day_of_year);
  return w == 0 || w == 6;
}

std::vector<int> days_in_split(int year, Split split) {
  std::vector<int> out;
  int first = 0;
  for (int m = 1; m <= 12; ++m) {
    const int n = days_in_month(year, m);
    for (int i = 0; i < n; ++i) {
      const Split s = i == 0 ? Split::kValidation : (i >= n - 7 ? Split::kTest : Split::kTrain);
      if (s == split) out.push_back(first + i);
    }
    first += n;
  }
  return out;
}

Split parse_split(const std::string& name) {
  if (name == "train") return Split::kTrain;
  if (name == "validation") return Split::kValidation;
  if (name == "test") return Split::kTest;
  throw Error("unknown split \"" + name + "\" (valid: train, validation, test)");
}

const char* split_name(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kValidation:
      return "validation";
    case Split::kTest:
      return "test";
  }
  return "?";
}

}  // namespace p2pgrid
