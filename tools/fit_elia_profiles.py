#!/usr/bin/env python3
"""Fits the statistics that drive p2pgrid's PV / wind / load profile generator to the Elia 2017
15-minute series, and writes them to data/profiles/elia2017_fit.json (atomically).

Python 3 standard library only. Usage (from the project root):

    python3 tools/fit_elia_profiles.py [--pv SOLAR.csv] [--wind WIND.csv] [--load LOAD.csv]
                                       [--year 2017] [--out data/profiles/elia2017_fit.json]

Inputs (defaults under ../shared/data/elia/):
  solarforecast_ELIA.csv   Elia solar, Limburg; ';'-separated; PV capacity factor =
                           RealTime / MonitoredCapacity. Timestamps carry no offset and are UTC
                           (the daily production centroid stays near 11:40 all year, with no jump
                           at the DST changes), unless a '+hh:mm' offset is written.
  windforecast_ELIA.csv    Elia-connected wind; ';'-separated; wind capacity factor =
                           Realtime / MonitoredCapacity; timestamps carry their UTC offset.
  entsoe_total_load_BE_2017_15min.csv
                           ENTSO-E Transparency export, bidding zone BE; "Actual Total Load" in MW;
                           "DD.MM.YYYY HH:MM - DD.MM.YYYY HH:MM" in Brussels wall-clock time
                           (the repeated October hour appears twice: first CEST, then CET; the
                           skipped March hour appears with empty values).

Time base of the fit (and of p2pgrid's YearProfiles): Europe/Brussels wall-clock time (CET/CEST,
EU rule: summer time from the last Sunday of March 01:00 UTC to the last Sunday of October
01:00 UTC); a day has 96 quarter-hour slots, slot q covering [q*15, q*15 + 15) minutes.

Gaps, DST, NaN (the same rule as p2pgrid::import_elia_csv, except that long gaps are excluded
here instead of being an error):
  * Every row is placed at its real instant and then at its wall-clock slot. A value that is
    empty, "N/A" or NaN is missing.
  * Spring DST: the four wall-clock slots 02:00-02:45 that do not exist are filled by linear
    interpolation between 01:45 and 03:00 and are not counted as missing.
  * Autumn DST: each of the slots 02:00-02:45 has two real instants (CEST then CET); the slot
    value is the mean of those present.
  * A run of at most 4 missing slots (1 hour) is filled by linear interpolation (by the nearest
    value at the start or the end of the year). A longer run makes its days incomplete:
    incomplete days are left out of every statistic and reported (for 2017: Dec 31 for PV and
    wind, whose files end on 2017-12-30).
  * MonitoredCapacity is a register value that changes a few times a year; where a row has a
    measurement but an empty capacity, the last capacity seen is carried forward (the wind file
    has no capacity on 2017-10-29) and the count is reported.
  * Capacity factors are clamped to [0, 1] (Elia's wind Realtime dips to -2.9 MW when the parks
    draw auxiliary power at calm).

Statistics (per series s in pv, wind, load; month m = 1..12; slot q = 0..95; complete days only):
  mean[m][q], std[m][q]     mean and population standard deviation of x over the days of m.
  load: x = MW / annual peak MW (so x <= 1); weekday_mean / weekend_mean[m][q] are the same means
        over Monday-Friday / Saturday-Sunday (public holidays count as weekdays), and
        daytype_std[m][q] is the standard deviation around the mean of the day's own type.
  Generator baseline mu = mean (pv, wind) or the day-type mean (load); sigma = std (pv, wind) or
  daytype_std (load). A slot is "active" when sigma > 1e-3; inactive slots are deterministic.
  z_t = (x_t - mu_t) / sigma_t                      standardized residual (active slots)
  D_d = mean of z_t over the active slots of day d  daily level factor (cloudy/sunny, calm/windy)
  e_t = z_t - D_d                                   within-day residual
  lag1_autocorr[m]   lag-1 (15 min) autocorrelation of z over consecutive active slots whose first
                     slot lies in month m, sum(z_t z_t+1) / sqrt(sum z_t^2 sum z_t+1^2) (z has zero
                     mean by construction); lag1_autocorr_overall: the same over the whole year.
  resid_std[m]       root mean square of e over the active slots of month m.
  resid_lag1[m]      lag-1 autocorrelation of e, sum(e_t e_t+1) / sum(e_t^2), same pairs.
  daily_quantiles[m] the 0, 10, ..., 100 % quantiles of D_d over the complete days of month m.
  daily_lag1_day     lag-1-day autocorrelation of the normal scores of D_d (D ranked within its
                     month, mapped through the inverse normal CDF), over consecutive complete days.
  annual_mean        mean of x over all complete days of the year.

Generator (p2pgrid::generate_profiles):
  g_d = phi g_{d-1} + sqrt(1 - phi^2) eta_d,  D_d = Q_m(Phi(g_d))   (phi = daily_lag1_day)
  w_t = rho_m w_{t-1} + sqrt(1 - rho_m^2) xi_t                      (rho_m = resid_lag1[m])
  x_t = clamp(mu_t + sigma_t (D_d + resid_std[m] w_t), 0, 1)
"""

import argparse
import csv
import hashlib
import json
import math
import os
import statistics
import sys
import tempfile

TOOL = "tools/fit_elia_profiles.py"
STEPS_PER_DAY = 96
MAX_FILL = 4            # longest missing run (quarter-hours) that is interpolated: 1 hour
MIN_STD = 1e-3          # slots with a smaller sigma are deterministic (e.g. PV at night)
MIN_DAYS_PER_MONTH = 10  # complete days a month needs for its statistics
QUANTILE_LEVELS = [i / 10 for i in range(11)]
SIG_DIGITS = 5

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, "..", "shared", "data", "elia")


# ----------------------------------------------------------------------------- calendar / DST

def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in_month(y, m):
    return [31, 29 if is_leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]


def weekday(days):
    """0 = Sunday ... 6 = Saturday, for days since 1970-01-01 (a Thursday)."""
    return (days + 4) % 7


def last_sunday(y, m):
    d = days_from_civil(y, m, days_in_month(y, m))
    return d - weekday(d)


_DST = {}


def dst_bounds_utc(y):
    """(start, end) of EU summer time in UTC minutes since the epoch."""
    if y not in _DST:
        _DST[y] = (last_sunday(y, 3) * 1440 + 60, last_sunday(y, 10) * 1440 + 60)
    return _DST[y]


def utc_offset_min(utc_min):
    y = civil_from_days(utc_min // 1440)[0]
    start, end = dst_bounds_utc(y)
    return 120 if start <= utc_min < end else 60


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return (y + (m <= 2), m, d)


def local_text(year, slot):
    """Wall-clock text of slot index `slot` of `year` (days * 96 + q)."""
    d, q = divmod(slot, STEPS_PER_DAY)
    y, m, dd = civil_from_days(days_from_civil(year, 1, 1) + d)
    return "%04d-%02d-%02d %02d:%02d" % (y, m, dd, q // 4, (q % 4) * 15)


# ----------------------------------------------------------------------------- parsing

class FitError(Exception):
    pass


def parse_number(text, where):
    t = text.strip()
    if t == "" or t.upper() in ("N/A", "NAN", "NA"):
        return None
    try:
        v = float(t)
    except ValueError:
        raise FitError("%s: malformed number %r" % (where, text))
    if math.isnan(v):
        return None
    if math.isinf(v):
        raise FitError("%s: infinite value %r" % (where, text))
    return v


def parse_iso(text, where):
    """'YYYY-MM-DD HH:MM[:SS][+hh:mm]' -> (naive minutes since epoch, offset minutes or None)."""
    t = text.strip()
    try:
        date, time = t[:10], t[11:]
        y, mo, d = int(date[0:4]), int(date[5:7]), int(date[8:10])
        if date[4] != "-" or date[7] != "-" or t[10] not in " T":
            raise ValueError
        off = None
        for sign in ("+", "-"):
            p = time.find(sign)
            if p > 0:
                oh, om = time[p + 1:].split(":")
                off = (int(oh) * 60 + int(om)) * (1 if sign == "+" else -1)
                time = time[:p]
        if time.endswith("Z"):
            off, time = 0, time[:-1]
        parts = time.split(":")
        hh, mm = int(parts[0]), int(parts[1])
        ss = int(parts[2]) if len(parts) > 2 else 0
        if not (1 <= mo <= 12 and 1 <= d <= days_in_month(y, mo) and 0 <= hh < 24 and
                0 <= mm < 60 and ss == 0 and mm % 15 == 0):
            raise ValueError
    except (ValueError, IndexError):
        raise FitError("%s: malformed timestamp %r (expected YYYY-MM-DD HH:MM:SS on a quarter-hour,"
                       " optionally +hh:mm)" % (where, text))
    return days_from_civil(y, mo, d) * 1440 + hh * 60 + mm, off


def parse_entsoe_time(text, where):
    """'DD.MM.YYYY HH:MM - DD.MM.YYYY HH:MM' -> naive local minutes of the interval start."""
    t = text.strip()
    try:
        start = t.split("-")[0].strip()
        date, time = start.split(" ")
        d, mo, y = (int(v) for v in date.split("."))
        hh, mm = (int(v) for v in time.split(":"))
        if not (1 <= mo <= 12 and 1 <= d <= days_in_month(y, mo) and 0 <= hh < 24 and
                mm in (0, 15, 30, 45)):
            raise ValueError
    except ValueError:
        raise FitError("%s: malformed time interval %r (expected 'DD.MM.YYYY HH:MM - DD.MM.YYYY"
                       " HH:MM' on quarter-hours)" % (where, text))
    return days_from_civil(y, mo, d) * 1440 + hh * 60 + mm


class Grid:
    """Wall-clock slots of one year: per slot the sum and count of values and the first line."""

    def __init__(self, path, year):
        self.path, self.year = path, year
        self.num_days = 366 if is_leap(year) else 365
        n = self.num_days * STEPS_PER_DAY
        self.sum = [0.0] * n
        self.count = [0] * n
        self.line = [0] * n
        self.raw = [""] * n
        self.last_line, self.last_raw = 0, ""
        self.prev_utc = None
        self.year_start_local = days_from_civil(year, 1, 1) * 1440
        self.notes = []

    def place(self, utc_min, value, line, raw):
        where = "%s:%d" % (os.path.basename(self.path), line)
        if self.prev_utc is not None and utc_min <= self.prev_utc:
            raise FitError("%s: row %r is not in time order (not after the previous row)" %
                           (where, raw))
        self.prev_utc = utc_min
        local = utc_min + utc_offset_min(utc_min)
        slot = (local - self.year_start_local) // 15
        if slot < 0 or slot >= len(self.sum):
            return
        if self.line[slot] == 0:
            self.line[slot], self.raw[slot] = line, raw
        self.last_line, self.last_raw = line, raw
        if value is not None:
            self.sum[slot] += value
            self.count[slot] += 1

    def nonexistent(self):
        """Slots that do not exist on the wall clock (spring DST change, 02:00-02:45)."""
        d = last_sunday(self.year, 3) - days_from_civil(self.year, 1, 1)
        return set(d * STEPS_PER_DAY + q for q in range(8, 12))

    def values(self, long_gaps):
        """Fills short runs; long runs stay None and are listed in long_gaps."""
        n = len(self.sum)
        skip = self.nonexistent()
        v = [self.sum[i] / self.count[i] if self.count[i] else None for i in range(n)]
        i = 0
        while i < n:
            if v[i] is not None:
                i += 1
                continue
            j = i
            while j < n and v[j] is None:
                j += 1
            missing = sum(1 for k in range(i, j) if k not in skip)
            if missing <= MAX_FILL and (i > 0 or j < n):
                a = v[i - 1] if i > 0 else v[j]
                b = v[j] if j < n else v[i - 1]
                for k in range(i, j):
                    v[k] = a + (b - a) * (k - i + 1) / (j - i + 1)
                if missing > 0:
                    self.notes.append((i, j, missing))
            else:
                long_gaps.append((local_text(self.year, i), local_text(self.year, j - 1), missing))
            i = j
        return v


def read_elia(path, year, value_names):
    """Elia ';' format: capacity factor = value column / MonitoredCapacity."""
    grid = Grid(path, year)
    carried = 0
    name = os.path.basename(path)
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter=";")
        header = next(reader, None)
        if header is None:
            raise FitError("%s:1: empty file" % name)
        cols = [h.strip() for h in header]
        low = [c.lower() for c in cols]
        vi = next((low.index(v.lower()) for v in value_names if v.lower() in low), None)
        if vi is None or "monitoredcapacity" not in low:
            raise FitError("%s:1: header needs columns %s and MonitoredCapacity" %
                           (name, " or ".join(value_names)))
        ci = low.index("monitoredcapacity")
        capacity = None
        for lineno, row in enumerate(reader, start=2):
            if not row or all(c.strip() == "" for c in row):
                continue
            where = "%s:%d" % (name, lineno)
            if len(row) != len(cols):
                raise FitError("%s: %d fields, the header has %d" % (where, len(row), len(cols)))
            naive, off = parse_iso(row[0], where)
            utc = naive - (off if off is not None else 0)
            value = parse_number(row[vi], where + " (%s)" % cols[vi])
            cap = parse_number(row[ci], where + " (MonitoredCapacity)")
            if cap is not None:
                if cap <= 0:
                    raise FitError("%s: MonitoredCapacity %r must be > 0" % (where, row[ci]))
                capacity = cap
            elif value is not None and capacity is not None:
                carried += 1
            cf = None
            if value is not None and capacity is not None:
                cf = min(1.0, max(0.0, value / capacity))
            grid.place(utc, cf, lineno, row[0].strip())
    return grid, carried


def read_entsoe(path, year):
    """ENTSO-E total load export: MW, wall-clock Brussels time."""
    grid = Grid(path, year)
    name = os.path.basename(path)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise FitError("%s:1: empty file" % name)
        vi = next((i for i, h in enumerate(header) if h.strip().startswith("Actual Total Load")),
                  None)
        if vi is None or not header[0].strip().startswith("Time"):
            raise FitError("%s:1: header needs 'Time (...)' and 'Actual Total Load [MW] ...'"
                           % name)
        prev_utc = None
        for lineno, row in enumerate(reader, start=2):
            if not row or all(c.strip() == "" for c in row):
                continue
            where = "%s:%d" % (name, lineno)
            if len(row) != len(header):
                raise FitError("%s: %d fields, the header has %d" % (where, len(row), len(header)))
            local = parse_entsoe_time(row[0], where)
            value = parse_number(row[vi], where + " (Actual Total Load)")
            if value is not None and value <= 0:
                raise FitError("%s: load %r must be > 0" % (where, row[vi]))
            cands = [u for u in (local - 120, local - 60) if u + utc_offset_min(u) == local]
            if not cands:
                if value is not None:
                    raise FitError("%s: value at %r, a wall-clock time skipped by the DST change"
                                   % (where, row[0]))
                continue
            later = [u for u in cands if prev_utc is None or u > prev_utc]
            utc = later[0] if later else cands[-1]
            prev_utc = utc
            grid.place(utc, value, lineno, row[0].strip())
    return grid


# ----------------------------------------------------------------------------- statistics

def round_sig(x):
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float("%.*g" % (SIG_DIGITS, x))


def quantile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    pos = p * (len(sorted_vals) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def fit_series(values, year, is_load):
    """values: per wall-clock slot, None where missing. Returns the series' JSON object."""
    num_days = len(values) // STEPS_PER_DAY
    jan1 = days_from_civil(year, 1, 1)
    month = [civil_from_days(jan1 + d)[1] - 1 for d in range(num_days)]
    weekend = [weekday(jan1 + d) in (0, 6) for d in range(num_days)]
    days = [values[d * STEPS_PER_DAY:(d + 1) * STEPS_PER_DAY] for d in range(num_days)]
    complete = [all(v is not None for v in day) for day in days]
    for m in range(12):
        n = sum(1 for d in range(num_days) if complete[d] and month[d] == m)
        if n < MIN_DAYS_PER_MONTH:
            raise FitError("month %d of %d has %d complete days, at least %d are needed"
                           % (m + 1, year, n, MIN_DAYS_PER_MONTH))
    out = {}
    peak = None
    if is_load:
        peak = max(v for v in values if v is not None)
        days = [[v / peak if v is not None else None for v in day] for day in days]
        out["peak_mw"] = peak

    def mean_std(select):
        mean = [[0.0] * STEPS_PER_DAY for _ in range(12)]
        std = [[0.0] * STEPS_PER_DAY for _ in range(12)]
        for m in range(12):
            ds = [d for d in range(num_days) if complete[d] and month[d] == m and select(d)]
            for q in range(STEPS_PER_DAY):
                xs = [days[d][q] for d in ds]
                mu = sum(xs) / len(xs)
                mean[m][q] = mu
                std[m][q] = math.sqrt(max(0.0, sum((x - mu) ** 2 for x in xs) / len(xs)))
        return mean, std

    mean, std = mean_std(lambda d: True)
    out["annual_mean"] = sum(sum(days[d]) for d in range(num_days) if complete[d]) / (
        STEPS_PER_DAY * sum(complete))
    out["mean"], out["std"] = mean, std
    if is_load:
        wd_mean, _ = mean_std(lambda d: not weekend[d])
        we_mean, _ = mean_std(lambda d: weekend[d])
        dt_std = [[0.0] * STEPS_PER_DAY for _ in range(12)]
        for m in range(12):
            ds = [d for d in range(num_days) if complete[d] and month[d] == m]
            for q in range(STEPS_PER_DAY):
                r = [days[d][q] - (we_mean if weekend[d] else wd_mean)[m][q] for d in ds]
                dt_std[m][q] = math.sqrt(sum(x * x for x in r) / len(r))
        out["weekday_mean"], out["weekend_mean"], out["daytype_std"] = wd_mean, we_mean, dt_std

    def mu_sigma(d, q):
        m = month[d]
        if is_load:
            return (out["weekend_mean"] if weekend[d] else out["weekday_mean"])[m][q], \
                out["daytype_std"][m][q]
        return mean[m][q], std[m][q]

    # Standardized residuals z (None where inactive or missing), daily factor D, residual e.
    z = [None] * (num_days * STEPS_PER_DAY)
    e = [None] * (num_days * STEPS_PER_DAY)
    daily = [None] * num_days
    for d in range(num_days):
        if not complete[d]:
            continue
        zs = []
        for q in range(STEPS_PER_DAY):
            mu, sg = mu_sigma(d, q)
            if sg > MIN_STD:
                z[d * STEPS_PER_DAY + q] = (days[d][q] - mu) / sg
                zs.append(z[d * STEPS_PER_DAY + q])
        daily[d] = sum(zs) / len(zs) if zs else 0.0
        for q in range(STEPS_PER_DAY):
            t = d * STEPS_PER_DAY + q
            if z[t] is not None:
                e[t] = z[t] - daily[d]

    def lag1(series, centered_denominator):
        per = [[0.0, 0.0, 0.0] for _ in range(12)]
        tot = [0.0, 0.0, 0.0]
        for t in range(len(series) - 1):
            a, b = series[t], series[t + 1]
            if a is None or b is None:
                continue
            m = month[t // STEPS_PER_DAY]
            for acc in (per[m], tot):
                acc[0] += a * b
                acc[1] += a * a
                acc[2] += b * b

        def r(acc):
            if acc[1] <= 0:
                return 0.0
            return acc[0] / (math.sqrt(acc[1] * acc[2]) if centered_denominator else acc[1])
        return [r(a) for a in per], r(tot)

    out["lag1_autocorr"], out["lag1_autocorr_overall"] = lag1(z, True)
    out["resid_lag1"], _ = lag1(e, False)
    rs = []
    for m in range(12):
        es = [e[t] for t in range(len(e)) if e[t] is not None and month[t // STEPS_PER_DAY] == m]
        rs.append(math.sqrt(sum(x * x for x in es) / len(es)) if es else 0.0)
    out["resid_std"] = rs

    # Daily factor: per-month quantiles, and lag-1-day autocorrelation of its normal scores.
    nd = statistics.NormalDist()
    scores = [None] * num_days
    quants = []
    for m in range(12):
        ds = [d for d in range(num_days) if daily[d] is not None and month[d] == m]
        vals = sorted(daily[d] for d in ds)
        quants.append([quantile(vals, p) for p in QUANTILE_LEVELS])
        order = sorted(ds, key=lambda d: daily[d])
        for rank, d in enumerate(order):
            scores[d] = nd.inv_cdf((rank + 0.5) / len(order))
    pairs = [(scores[d], scores[d + 1]) for d in range(num_days - 1)
             if scores[d] is not None and scores[d + 1] is not None]
    sab = sum(a * b for a, b in pairs)
    saa = sum(a * a for a, _ in pairs)
    sbb = sum(b * b for _, b in pairs)
    out["daily_quantiles"] = quants
    out["daily_lag1_day"] = sab / math.sqrt(saa * sbb)
    daily_std = []
    for m in range(12):
        ds = [daily[d] for d in range(num_days) if daily[d] is not None and month[d] == m]
        daily_std.append(math.sqrt(sum(v * v for v in ds) / len(ds)) if ds else 0.0)
    out["daily_std"] = daily_std
    out["complete_days"] = sum(complete)
    return out


# ----------------------------------------------------------------------------- output

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fmt_number(x):
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    r = round_sig(x)
    if r == 0:
        return "0"
    s = "%.*g" % (SIG_DIGITS, r)
    return s


def to_json(obj, indent=0):
    """JSON with arrays of numbers kept on one line (one month per line for [12][96] arrays)."""
    pad = "  " * indent
    if isinstance(obj, dict):
        items = ['%s  %s: %s' % (pad, json.dumps(k), to_json(v, indent + 1))
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj):
            return "[" + ", ".join(fmt_number(v) for v in obj) + "]"
        items = [pad + "  " + to_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return fmt_number(obj)
    return json.dumps(obj)


def write_atomic(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the fit is an ordinary project file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pv", default=os.path.join(SHARED, "solarforecast_ELIA.csv"))
    ap.add_argument("--wind", default=os.path.join(SHARED, "windforecast_ELIA.csv"))
    ap.add_argument("--load", default=os.path.join(SHARED, "entsoe_total_load_BE_2017_15min.csv"))
    ap.add_argument("--year", type=int, default=2017)
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "profiles", "elia2017_fit.json"))
    args = ap.parse_args(argv)

    for p in (args.pv, args.wind, args.load):
        if not os.path.isfile(p):
            print("fit_elia_profiles: input not found: %s" % p, file=sys.stderr)
            return 2
    try:
        pv_grid, pv_carried = read_elia(args.pv, args.year, ["RealTime"])
        wind_grid, wind_carried = read_elia(args.wind, args.year, ["Realtime", "RealTime"])
        load_grid = read_entsoe(args.load, args.year)
    except FitError as e:
        print("fit_elia_profiles: %s" % e, file=sys.stderr)
        return 2

    series, notes, summary = {}, [], []
    for key, grid, carried, is_load in (("pv", pv_grid, pv_carried, False),
                                        ("wind", wind_grid, wind_carried, False),
                                        ("load", load_grid, 0, True)):
        long_gaps = []
        values = grid.values(long_gaps)
        filled = sum(m for _, _, m in grid.notes)
        name = os.path.basename(grid.path)
        notes.append("%s: %d missing quarter-hours in %d runs of <= 4 filled by linear "
                     "interpolation" % (name, filled, sum(1 for n in grid.notes if n[2] > 0)))
        for a, b, m in long_gaps:
            notes.append("%s: %s to %s (%d quarter-hours) missing: those days are left out"
                         % (name, a, b, m))
        if carried:
            notes.append("%s: MonitoredCapacity empty on %d rows with a measurement: last value "
                         "carried forward" % (name, carried))
        try:
            series[key] = fit_series(values, args.year, is_load)
        except FitError as e:
            print("fit_elia_profiles: %s: %s" % (name, e), file=sys.stderr)
            return 2

    units = {
        "pv": "capacity factor: RealTime / MonitoredCapacity of Elia solar, Limburg "
              "(output / rated capacity, 0..1)",
        "wind": "capacity factor: Realtime / MonitoredCapacity of Elia-connected wind "
                "(output / rated capacity, 0..1)",
        "load": "per unit of the annual peak of Belgian Actual Total Load (demand / peak, <= 1); "
                "peak_mw in MW",
        "lag1": "dimensionless autocorrelation at lag 15 min (lag1_*) or 1 day (daily_lag1_day)",
        "daily_quantiles": "standardized residual (dimensionless)",
    }
    order = ["annual_mean", "lag1_autocorr_overall", "daily_lag1_day", "complete_days",
             "peak_mw", "lag1_autocorr", "resid_std", "resid_lag1", "daily_std",
             "daily_quantiles", "mean", "std", "weekday_mean", "weekend_mean", "daytype_std"]
    doc = {
        "format": "p2pgrid-profile-fit",
        "version": 1,
        "year": args.year,
        "steps_per_day": STEPS_PER_DAY,
        "time_base": "Europe/Brussels wall-clock time (CET/CEST); slot q covers minutes "
                     "[15q, 15q+15) of the day; month index 0 = January",
        "min_std": MIN_STD,
        "daily_quantile_levels": QUANTILE_LEVELS,
        "source": {
            "tool": TOOL,
            "files": [
                {"series": k, "name": os.path.basename(p), "sha256": sha256(p)}
                for k, p in (("pv", args.pv), ("wind", args.wind), ("load", args.load))
            ],
            "notes": notes,
        },
        "units": units,
        "series": {k: {f: series[k][f] for f in order if f in series[k]} for k in series},
    }
    text = to_json(doc) + "\n"
    write_atomic(args.out, text)

    print("fit_elia_profiles: wrote %s (%d bytes)" % (os.path.relpath(args.out), len(text)))
    for k in ("pv", "wind", "load"):
        s = series[k]
        extra = ", peak %.0f MW" % s["peak_mw"] if "peak_mw" in s else ""
        print("  %-4s annual mean %.4f, lag-1 (15 min) autocorr of z %.4f, lag-1-day autocorr "
              "of daily factor %.3f, %d complete days%s" %
              (k, s["annual_mean"], s["lag1_autocorr_overall"], s["daily_lag1_day"],
               s["complete_days"], extra))
    jun = sum(series["pv"]["mean"][5]) / STEPS_PER_DAY
    dec = sum(series["pv"]["mean"][11]) / STEPS_PER_DAY
    print("  pv   June mean %.4f, December mean %.4f" % (jun, dec))
    wd = sum(sum(r) for r in series["load"]["weekday_mean"]) / (12 * STEPS_PER_DAY)
    we = sum(sum(r) for r in series["load"]["weekend_mean"]) / (12 * STEPS_PER_DAY)
    print("  load weekday mean %.4f, weekend mean %.4f" % (wd, we))
    for n in notes:
        print("  note: " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
