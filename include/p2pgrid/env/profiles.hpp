// A year of PV, wind and load at 15-minute resolution (96 steps a day), the exogenous inputs of
// every env: the stochastic generator fitted to Elia 2017 (tools/fit_elia_profiles.py ->
// data/profiles/elia2017_fit.json), the importer of the real Elia / ENTSO-E CSVs (the paper's
// setting), and the train / validation / test split of the days of a year.
//
// Time base everywhere: Europe/Brussels wall-clock time (CET/CEST, EU rule: summer time from the
// last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC). Step q of a day covers
// minutes [15q, 15q + 15) of the wall clock. The spring DST day therefore has four steps
// (02:00-02:45) that did not exist: they are interpolated. The autumn day has four steps that
// happened twice: they hold the mean of both.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace p2pgrid {

/// One year of exogenous profiles, day-major: element [day * 96 + step].
struct YearProfiles {
  int year = 0;
  int num_days = 0;  // 365 or 366
  static constexpr int kStepsPerDay = 96;
  std::vector<float> pv_cf;    // [num_days * 96]; PV output / rated capacity, in [0, 1]
  std::vector<float> wind_cf;  // [num_days * 96]; wind output / rated capacity, in [0, 1]
  std::vector<float> load_pu;  // [num_days * 96]; demand / annual peak demand, in (0, 1]
  std::string source;          // how the numbers were made: fit + seed, or files + every fill
};

/// Fitted statistics of one series (see data/README-profiles.md for the definitions). Arrays
/// named [12 * 96] are month-major: element [month * 96 + step], month 0 = January.
struct SeriesFit {
  static constexpr int kMonths = 12;
  double annual_mean = 0.0;             // mean of the series over the fitted year
  double lag1_autocorr_overall = 0.0;   // lag-1 (15 min) autocorrelation of z over the year
  double daily_lag1_day = 0.0;          // lag-1-day autocorrelation of the daily factor (latent)
  int complete_days = 0;                // days of the fitted year with no long gap
  double peak_mw = 0.0;                 // load only: the annual peak used as 1 pu (else 0)
  std::vector<double> lag1_autocorr;    // [12]; lag-1 autocorrelation of z, by month
  std::vector<double> resid_std;        // [12]; RMS of the within-day residual e = z - D
  std::vector<double> resid_lag1;       // [12]; lag-1 autocorrelation of e, in (-1, 1)
  std::vector<double> daily_std;        // [12]; RMS of the daily factor D
  std::vector<double> daily_quantiles;  // [12 * num_levels]; quantiles of D by month, ascending
  std::vector<double> mean;             // [12 * 96]; mean by month and step (cf or pu)
  std::vector<double> stddev;           // [12 * 96]; population standard deviation ("std")
  std::vector<double> weekday_mean;     // [12 * 96]; load only (else empty): Monday-Friday mean
  std::vector<double> weekend_mean;     // [12 * 96]; load only (else empty): Saturday-Sunday mean
  std::vector<double> daytype_std;      // [12 * 96]; load only: std around the day-type mean
};

/// Where a fit came from: the tool and the sha256 of every input file.
struct FitSourceFile {
  std::string series;  // "pv" | "wind" | "load"
  std::string name;    // file name
  std::string sha256;  // 64 hex digits
};

/// The whole fit file (format "p2pgrid-profile-fit", version 1).
struct ProfileFit {
  int version = 0;
  int year = 0;                               // the fitted year
  int steps_per_day = 0;                      // 96
  std::string time_base;                      // text, for people
  double min_std = 0.0;                       // steps with sigma <= min_std carry no noise
  std::vector<double> daily_quantile_levels;  // [num_levels]; 0 ... 1, increasing
  std::string tool;                           // "tools/fit_elia_profiles.py"
  std::vector<FitSourceFile> files;           // the inputs
  std::vector<std::string> notes;             // gaps filled, days left out, ...
  std::map<std::string, std::string> units;   // series -> unit text
  SeriesFit pv, wind, load;
};

/// Parses the fit JSON. `where` names the text in errors (a path or "builtin:elia2017_fit").
/// Throws p2pgrid::Error naming `where`, the JSON key path and what was expected; unknown keys,
/// missing keys, wrong array sizes and out-of-range values are all errors.
ProfileFit profile_fit_from_json_text(const std::string& text, const std::string& where);

/// Reads a fit: a file path, or "builtin:NAME" for a file embedded in the binary.
ProfileFit load_profile_fit(const std::string& path_or_builtin);

/// Path of the fit shipped with the sources (data/profiles/elia2017_fit.json).
std::string default_profile_fit_path();

/// A synthetic year from the fit; deterministic for (fit, year, seed), different seeds give
/// different years. Model per series, with g, w independent standard AR(1) processes:
///   g_d = phi g_{d-1} + sqrt(1 - phi^2) eta_d,    D_d = Q_month(Phi(g_d))       (daily level)
///   w_t = rho_m w_{t-1} + sqrt(1 - rho_m^2) xi_t                            (within the day)
///   x_t = clamp(mu_t + sigma_t (D_d + resid_std_m w_t), 0, 1)
/// mu, sigma: mean, std of (month, step) for PV and wind; for load the weekday or weekend mean
/// of the actual calendar of `year` and daytype_std. PV is exactly 0 where the fitted mean is 0
/// (night); load is clamped to [0.01, 1]. Streams: make_rng(seed, year * 8 + series).
YearProfiles generate_profiles(const ProfileFit& fit, int year, std::uint64_t seed);

/// Options of import_elia_csv.
struct EliaImportOptions {
  /// The 2017 solar and wind files end on 2017-12-30. When true, a missing run of at most one
  /// day (96 steps) that reaches the end of the year is filled with the same steps of the day
  /// before, and `source` says so; when false (default) it is an Error like any long gap.
  bool repeat_previous_day_at_year_end = false;
};

/// Reads the real series for `year` (the paper's setting):
///  - pv_csv: Elia solar forecast export, ';'-separated, header ";DayAheadForecast;...", columns
///    RealTime and MonitoredCapacity (MW); pv_cf = RealTime / MonitoredCapacity. Timestamps
///    "YYYY-MM-DD HH:MM:SS" without offset are UTC (as in the 2017 Elia solar export).
///  - wind_csv: Elia wind forecast export, ';'-separated, columns Realtime and MonitoredCapacity;
///    timestamps "YYYY-MM-DD HH:MM:SS+01:00" with their UTC offset.
///  - load_csv: ENTSO-E Transparency "Total Load - Day Ahead / Actual" export, quoted
///  ','-separated,
///    "DD.MM.YYYY HH:MM - DD.MM.YYYY HH:MM" in Brussels wall-clock time, column
///    "Actual Total Load [MW] ..."; load_pu = load / max load of the year.
/// Rules (each fill is listed in `source`):
///  - Empty, "N/A", "NA" and "NaN" values are missing. Capacity factors are clamped to [0, 1].
///  - An empty MonitoredCapacity next to a measurement takes the last capacity seen (it is a
///    register value that changes a few times a year).
///  - A run of missing steps (no row, or a missing value) of at most 4 steps (1 hour) is filled
///    by linear interpolation (by the nearest value at the start or end of the year); this
///    covers the DST changes. The 4 wall-clock steps skipped in spring are always interpolated
///    and do not count. A longer run is an Error naming the file, the line and the timestamp.
///  - Rows not strictly later than the previous row, malformed numbers or timestamps, rows with
///    the wrong number of fields and a header without the needed columns are Errors naming the
///    file and the line. Rows outside `year` are ignored.
///  - Dec 31 missing (the 2017 solar and wind files): see EliaImportOptions.
///  - A load above 3x or below 1/5 of the year's median is an Error naming the file and the
///    step: one corrupt value would otherwise rescale the whole year (load_pu divides by the
///    peak). Belgium's load stays within about 0.6x-1.4x of its median.
/// `notes`, where given, receives the fills and clamps that `source` lists, one per entry.
YearProfiles import_elia_csv(const std::string& pv_csv, const std::string& wind_csv,
                             const std::string& load_csv, int year,
                             const EliaImportOptions& options = {},
                             std::vector<std::string>* notes = nullptr);

/// Days of a year used for training, model selection and the final test.
enum class Split { kTrain, kValidation, kTest };

/// Day-of-year indices (0-based, ascending) of a split: the first day of each month is
/// validation, the last 7 days of each month are test, the rest are train. For 2017: 269 train,
/// 12 validation, 84 test.
std::vector<int> days_in_split(int year, Split split);

/// "train" | "validation" | "test"; anything else is an Error listing the valid names.
Split parse_split(const std::string& name);

/// The name parse_split accepts for `split`.
const char* split_name(Split split);

/// 365 or 366.
int days_in_year(int year);

/// Month (0 = January) of day-of-year `day_of_year` (0-based).
int month_of_day(int year, int day_of_year);

/// True on Saturday and Sunday (public holidays are not weekends here).
bool is_weekend(int year, int day_of_year);

}  // namespace p2pgrid
