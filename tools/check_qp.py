#!/usr/bin/python3
"""Independent check of an exported expert QP (`p2pgrid expert --day D --export-qp F.json`).

Reads the QP in OSQP's convention (minimize 1/2 x'Px + q'x + constant, l <= Ax <= u, P upper
triangle and A in CSC, +-1e30 for infinite bounds) and checks p2pgrid's objective two ways:

1. A certificate from the plan's own solution, which the export carries ("solution": x and the
   multipliers y, OSQP's convention): the objective of x on the exported data, how far Ax lies
   outside [l, u], and a lower bound on the optimum from weak duality. Rows with one nonzero
   become a box on their variable (tightened by bound propagation through the other rows,
   which only restates constraints the QP already has); the other rows are dualized with y
   (signs projected onto the bounds that exist), and the Lagrangian's minimum over the box is
   separable because P is diagonal:
       L(y) = min_{lo <= x <= hi} 1/2 x'Px + (q + A_R'y)'x - sum_i max(u_i y_i, l_i y_i) + c
   Every L(y) is <= the optimum, whatever y is, and rounding is bounded rather than ignored:
   propagated bounds are loosened far beyond theirs, each variable's term is taken at the worse
   end of the interval its computed reduced cost's rounding allows (the term is concave in it),
   and the sum keeps a margin of (terms) x ulp x the magnitudes summed. So "objective - lower
   bound" bounds how far p2pgrid's plan is above the optimum (up to its own small
   infeasibility, reported beside). src/expert/expert_certificate.cpp is the same algorithm in
   C++ (p2pgrid expert prints it); keep the two in step.
   numpy only, a few seconds.
2. An independent solve with CVXOPT's interior-point QP solver, unless --certificate-only.

Debian: apt-get install python3-numpy (python3-cvxopt for 2.); run with /usr/bin/python3:

    p2pgrid expert --day 0 --split test --json --export-qp /tmp/qp.json > /tmp/expert.json
    /usr/bin/python3 tools/check_qp.py /tmp/qp.json --expert /tmp/expert.json

Prints one JSON object (strict JSON: a value that is not a finite number, such as a gap of +inf
or a residual from a null multiplier, is written as null with a "<key>_note" beside it) whose
"passed" says whether the plan passed and whose "failed" lists why not (empty when it passed).
The plan passes when it is solved, its x breaks no row by more than --max-violation, its
objective on the exported data is the one the export reports, and the certified gap, and
CVXOPT's relative gap where CVXOPT ran and converged, are within --tolerance (default 1e-3, the
expert issue's target). (CVXOPT stops with status "unknown" on most of these QPs: its objective
is then reported, not taken as the reference.) With --expert, that file must be the JSON of the
same plan: its "day" and "t0" equal the export's, and its "objective_cny" the export's
solution.objective to 1e-9 relative (where both files carry them).

Exit status: 0 passed; 1 failed a check (the JSON says why); 2 bad input or usage: a file that is
missing, not JSON or not of the expected form (a one-line "check_qp: FILE: ..." message on
stderr, no JSON), or a missing python3-numpy, or python3-cvxopt without --certificate-only. A null in the
solution's x, y or objective is not bad input: it is how p2pgrid's JSON writes a NaN, and the
check fails on it instead.
"""
import argparse
import json
import math
import sys

try:
    import numpy as np
except ImportError as e:  # pragma: no cover - environment dependent
    print(f"check_qp: {e}; install python3-numpy (Debian) and use /usr/bin/python3",
          file=sys.stderr)
    sys.exit(2)

INF = 1e29  # bounds at or beyond this are infinite (the export writes +-1e30)


class Qp:
    """The exported QP as numpy arrays: A and P in coordinates, infinite bounds as +-inf."""

    def __init__(self, qp, path):
        """Raises BadInput (main: exit 2) where qp is not of the export's form."""
        self.path = path
        if not isinstance(qp, dict):
            raise BadInput(f"the file holds {describe(qp)}, expected a JSON object "
                           "(a p2pgrid --export-qp file)")
        for key in ("n", "m", "P", "A", "q", "l", "u", "constant"):
            if key not in qp:
                raise BadInput(f"no '{key}' (expected a p2pgrid --export-qp file)")
        self.n, self.m = integer(qp["n"], "n"), integer(qp["m"], "m")
        self.prow, self.pcol, self.pval = csc_coordinates(qp["P"], self.n, self.n, "P")
        if np.any(self.prow > self.pcol):
            k = int(np.flatnonzero(self.prow > self.pcol)[0])
            raise BadInput(f"'P' has an entry in row {self.prow[k]} of column {self.pcol[k]}, "
                           "expected the upper triangle only (row <= column)")
        self.arow, self.acol, self.aval = csc_coordinates(qp["A"], self.m, self.n, "A")
        # l and u are finite: the export writes +-1e30 for an infinite bound.
        self.q = numbers(qp["q"], "q", self.n)
        self.l = numbers(qp["l"], "l", self.m)
        self.u = numbers(qp["u"], "u", self.m)
        if not is_number(qp["constant"]) or not math.isfinite(qp["constant"]):
            raise BadInput(f"'constant' is {describe(qp['constant'])}, expected a finite number")
        self.constant = float(qp["constant"])
        self.l[self.l <= -INF] = -np.inf
        self.u[self.u >= INF] = np.inf
        # Explicit zeros in A say nothing (and a row's only entry must not be one).
        keep = self.aval != 0
        self.arow, self.acol, self.aval = self.arow[keep], self.acol[keep], self.aval[keep]
        self.names = qp.get("variable_names")
        if self.names is not None and (not isinstance(self.names, list) or
                                       len(self.names) != self.n):
            raise BadInput(f"'variable_names' is {describe(self.names)}, expected an array of "
                           f"{self.n} names")

    def mul_a(self, x):
        return np.bincount(self.arow, weights=self.aval * x[self.acol], minlength=self.m)

    def mul_at(self, y, rows=None):
        w = self.aval * y[self.arow]
        if rows is not None:
            w = np.where(rows[self.arow], w, 0.0)
        return np.bincount(self.acol, weights=w, minlength=self.n)

    def p_diagonal(self):
        """P's diagonal, or None where P has off-diagonal entries."""
        if np.any(self.prow != self.pcol):
            return None
        return np.bincount(self.pcol, weights=self.pval, minlength=self.n)

    def mul_p(self, x):
        # Upper triangle stored: add the mirrored off-diagonal entries.
        y = np.bincount(self.prow, weights=self.pval * x[self.pcol], minlength=self.n)
        off = self.prow != self.pcol
        y += np.bincount(self.pcol[off], weights=self.pval[off] * x[self.prow[off]], minlength=self.n)
        return y

    def objective(self, x):
        return 0.5 * float(x @ self.mul_p(x)) + float(self.q @ x) + self.constant


class BadInput(Exception):
    """Input not of the expected form: main prints "check_qp: FILE: <message>" and exits 2."""


def describe(v):
    """A JSON value in words, for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {v[:40]!r}" + ("..." if len(v) > 40 else "")
    if isinstance(v, list):
        return f"an array of {len(v)}"
    if isinstance(v, dict):
        return "an object"
    return repr(v)


def is_number(v):
    """A JSON number (true and false are not numbers, though Python's bool is an int)."""
    return type(v) in (int, float)


def is_integer(v):
    return type(v) is int or (type(v) is float and v.is_integer())


def integer(v, name, lowest=0):
    if not is_integer(v) or v < lowest:
        raise BadInput(f"'{name}' is {describe(v)}, expected an integer >= {lowest}")
    return int(v)


def numbers(value, name, size, allow_null=False, finite=True):
    """A JSON array of `size` numbers (any length where size is None) as float64. With
    allow_null, null stands for NaN (p2pgrid's JSON writes a NaN or infinity as null)."""
    if not isinstance(value, list):
        raise BadInput(f"'{name}' is {describe(value)}, expected an array of "
                       f"{'numbers' if size is None else size}")
    if size is not None and len(value) != size:
        raise BadInput(f"'{name}' has {len(value)} entries, expected {size}")
    kinds = (int, float, type(None)) if allow_null else (int, float)
    if not all(type(v) in kinds for v in value):
        k = next(k for k, v in enumerate(value) if type(v) not in kinds)
        raise BadInput(f"'{name}[{k}]' is {describe(value[k])}, expected a "
                       f"{'finite ' if finite else ''}number{' or null' if allow_null else ''}")
    try:
        out = np.array(value, dtype=float) if value else np.zeros(0)
    except OverflowError:
        raise BadInput(f"'{name}' holds an integer too large for a float") from None
    if finite and not np.all(np.isfinite(out)):
        k = int(np.flatnonzero(~np.isfinite(out))[0])
        raise BadInput(f"'{name}[{k}]' is {describe(value[k])}, expected a finite number")
    return out


def integers(value, name, size, highest):
    """A JSON array of `size` integers in 0..highest (any length where size is None)."""
    if not isinstance(value, list):
        raise BadInput(f"'{name}' is {describe(value)}, expected an array of integers")
    if size is not None and len(value) != size:
        raise BadInput(f"'{name}' has {len(value)} entries, expected {size}")
    if not all(is_integer(v) and 0 <= v <= highest for v in value):
        k = next(k for k, v in enumerate(value) if not (is_integer(v) and 0 <= v <= highest))
        raise BadInput(f"'{name}[{k}]' is {describe(value[k])}, expected an integer in "
                       f"0..{highest}")
    return np.array(value, dtype=np.int64) if value else np.zeros(0, dtype=np.int64)


def csc_coordinates(mat, rows, cols, name):
    """A rows x cols CSC matrix {indptr, indices, data} as coordinates (row, column, value)."""
    if not isinstance(mat, dict):
        raise BadInput(f"'{name}' is {describe(mat)}, expected an object with the CSC arrays "
                       "'indptr', 'indices' and 'data'")
    for key in ("indptr", "indices", "data"):
        if key not in mat:
            raise BadInput(f"no '{name}.{key}' (expected a CSC matrix)")
    if "shape" in mat and mat["shape"] != [rows, cols]:
        raise BadInput(f"'{name}.shape' is {mat['shape']!r}, expected [{rows}, {cols}]")
    vals = numbers(mat["data"], f"{name}.data", None)
    indptr = integers(mat["indptr"], f"{name}.indptr", cols + 1, vals.size)
    if indptr[0] != 0:
        raise BadInput(f"'{name}.indptr[0]' is {indptr[0]}, expected 0")
    if np.any(np.diff(indptr) < 0):
        k = int(np.flatnonzero(np.diff(indptr) < 0)[0]) + 1
        raise BadInput(f"'{name}.indptr[{k}]' is {indptr[k]}, below '{name}.indptr[{k - 1}]' "
                       f"{indptr[k - 1]}: expected a non-decreasing array")
    if indptr[-1] != vals.size:
        raise BadInput(f"'{name}.indptr[{cols}]' is {indptr[-1]}, expected the {vals.size} "
                       f"entries of '{name}.data'")
    row = integers(mat["indices"], f"{name}.indices", vals.size, rows - 1)
    col = np.repeat(np.arange(cols, dtype=np.int64), np.diff(indptr))
    return row, col, vals


def variable_boxes(qp, single, passes=3):
    """Bounds on each variable: from the rows with one nonzero, then tightened by `passes` rounds
    of bound propagation through the other rows (a x_j <= u_i - min of the row's other terms,
    and the same from l_i). They restate the QP's own constraints, so the optimum is unchanged;
    each propagated bound is loosened by 1e-9 relative so that rounding cannot cut the optimum."""
    lo, hi = np.full(qp.n, -np.inf), np.full(qp.n, np.inf)
    k = single[qp.arow]
    a, r, j = qp.aval[k], qp.arow[k], qp.acol[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        lo_k = np.where(a > 0, qp.l[r] / a, qp.u[r] / a)
        hi_k = np.where(a > 0, qp.u[r] / a, qp.l[r] / a)
    np.maximum.at(lo, j, lo_k)
    np.minimum.at(hi, j, hi_k)
    multi = ~single[qp.arow]
    a, r, j = qp.aval[multi], qp.arow[multi], qp.acol[multi]
    for _ in range(passes):
        with np.errstate(invalid="ignore"):
            t_min = np.minimum(a * lo[j], a * hi[j])  # each term's least and largest value
            t_max = np.maximum(a * lo[j], a * hi[j])
        rest_min = other_terms(t_min, r, qp.m, -np.inf)
        rest_max = other_terms(t_max, r, qp.m, np.inf)
        with np.errstate(invalid="ignore"):
            upper = (qp.u[r] - rest_min) / a  # a x_j <= u - min(rest)
            lower = (qp.l[r] - rest_max) / a  # a x_j >= l - max(rest)
            # Loosened by far more than the rounding of the sums they come from: 1e-9 of the
            # size of the terms summed (and of the bound), over |a|.
            size_min = np.bincount(r, weights=np.where(np.isfinite(t_min), np.abs(t_min), 0.0),
                                   minlength=qp.m)[r]
            size_max = np.bincount(r, weights=np.where(np.isfinite(t_max), np.abs(t_max), 0.0),
                                   minlength=qp.m)[r]
            slack_u = 1e-9 * (np.abs(upper) + (size_min + np.abs(qp.u[r])) / np.abs(a) + 1.0)
            slack_l = 1e-9 * (np.abs(lower) + (size_max + np.abs(qp.l[r])) / np.abs(a) + 1.0)
            new_hi = np.where(a > 0, upper + slack_u, lower + slack_l)  # inf - inf: nan, dropped
            new_lo = np.where(a > 0, lower - slack_l, upper - slack_u)
        np.minimum.at(hi, j, np.where(np.isnan(new_hi), np.inf, new_hi))
        np.maximum.at(lo, j, np.where(np.isnan(new_lo), -np.inf, new_lo))
    return lo, np.maximum(hi, lo)


def other_terms(terms, rows, m, infinite):
    """For each term of a row, the sum of the row's other terms (infinite where one is)."""
    finite = np.isfinite(terms)
    total = np.bincount(rows, weights=np.where(finite, terms, 0.0), minlength=m)
    count = np.bincount(rows, weights=(~finite).astype(float), minlength=m)
    others_infinite = count[rows] - (~finite) > 0
    return np.where(others_infinite, infinite, total[rows] - np.where(finite, terms, 0.0))


ULP = np.finfo(float).eps  # 2^-52: one ulp at 1, twice the unit roundoff


def reduced_costs(qp, y, dualized):
    """r = q + A_R'y as numpy sums it, with a bound on its rounding: each of the column's
    additions and products rounds by at most half an ulp of a value no larger than r_abs =
    |q| + sum |a y| (bincount adds in sequence)."""
    w = np.where(dualized[qp.arow], qp.aval * y[qp.arow], 0.0)
    r = qp.q + np.bincount(qp.acol, weights=w, minlength=qp.n)
    r_abs = np.abs(qp.q) + np.bincount(qp.acol, weights=np.abs(w), minlength=qp.n)
    ops = 1 + np.bincount(qp.acol, weights=dualized[qp.arow].astype(float), minlength=qp.n)
    return r, (ops + 2) * ULP * r_abs


def box_minimum(p, rho, lo, hi):
    """min over lo <= x <= hi of 1/2 p x^2 + rho x, elementwise (-inf where a linear term pulls
    toward an open end), and the minimizer."""
    with np.errstate(invalid="ignore", divide="ignore"):
        xq = np.clip(np.where(p > 0, -rho / np.where(p > 0, p, 1.0), 0.0), lo, hi)
        xl = np.where(rho > 0, lo, np.where(rho < 0, hi, 0.0))
        xm = np.where(p > 0, xq, xl)
        value = np.where((p == 0) & (rho == 0), 0.0, 0.5 * p * xm * xm + rho * xm)
    return np.where(np.isnan(value), -np.inf, value), xm


def repair_unbounded(qp, y, dualized, lo, hi, linear, sweeps=400):
    """Moves the multipliers of equality rows so that no linear variable (P_jj = 0) unbounded in
    a direction has a reduced cost r_j = (q + A_R'y)_j pulling it that way (which would make the
    Lagrangian's minimum -inf), past zero by more than r_j's rounding. At an exact optimum no such pull exists: buying from the grid and selling to
    it at once, for instance, only costs the spread. ADMM's y leaves ~1e-5 of noise, of either
    sign, on the variables strictly inside their bounds; each equality row's multiplier takes the
    smallest shift that settles its unbounded variables, row after row (a few sweeps, as the
    P2P trades sit in two rows). Any y gives a valid bound, so the shift is safe; it is
    reported."""
    eq = dualized & (qp.l == qp.u)
    need_up = linear & ~np.isfinite(hi)  # r_j must be >= 0 (else x_j -> +inf lowers L)
    need_dn = linear & ~np.isfinite(lo)  # r_j must be <= 0
    k = eq[qp.arow] & (need_up | need_dn)[qp.acol]
    rows = {}
    for i, j, a in zip(qp.arow[k].tolist(), qp.acol[k].tolist(), qp.aval[k].tolist()):
        rows.setdefault(i, []).append((j, a))
    # Every entry of those rows (a shift of y_i moves r on all of them).
    in_rows = np.zeros(qp.m, dtype=bool)
    in_rows[list(rows)] = True
    sel = np.flatnonzero(in_rows[qp.arow])
    sel = sel[np.argsort(qp.arow[sel], kind="stable")]
    starts = np.searchsorted(qp.arow[sel], list(rows))
    ends = np.searchsorted(qp.arow[sel], list(rows), side="right")
    row_entries = {i: (qp.acol[sel[a:b]], qp.aval[sel[a:b]]) for i, a, b in zip(rows, starts, ends)}
    y = y.copy()
    r, _ = reduced_costs(qp, y, dualized)
    # Aim past zero by four times r_j's rounding bound once y settles (see certificate()).
    eps = 1e-12 * max(1.0, float(np.abs(qp.q).max(initial=0.0)))
    past = eps + 4 * reduced_costs(qp, y, dualized)[1]
    moved = 0.0
    for _ in range(sweeps):
        changed = False
        for i, entries in rows.items():
            d_lo, d_hi = -np.inf, np.inf
            for j, a in entries:  # r_j + d a >= past where x_j is unbounded above, <= -past below
                if need_up[j]:
                    t = (past[j] - r[j]) / a
                    d_lo, d_hi = (max(d_lo, t), d_hi) if a > 0 else (d_lo, min(d_hi, t))
                if need_dn[j]:
                    t = (-past[j] - r[j]) / a
                    d_lo, d_hi = (d_lo, min(d_hi, t)) if a > 0 else (max(d_lo, t), d_hi)
            d = min(max(0.0, d_lo), d_hi) if d_lo <= d_hi else 0.5 * (d_lo + d_hi)
            if d != 0.0 and np.isfinite(d):
                changed = True
                y[i] += d
                moved = max(moved, abs(d))
                cols, vals = row_entries[i]
                r[cols] += d * vals
        if not changed:
            break
    return y, moved


def certificate(qp, solution):
    x = np.asarray(solution["x"], dtype=float)
    y = np.asarray(solution["y"], dtype=float)
    if x.shape != (qp.n,) or y.shape != (qp.m,):
        raise BadInput(f"the solution has {x.size} values of x and {y.size} of y, "
                       f"not the QP's {qp.n} and {qp.m}")
    p = qp.p_diagonal()
    out = {"objective": qp.objective(x), "reported_objective": solution.get("objective"),
           "status": solution.get("status"), "iterations": solution.get("iterations")}
    # Primal: how far Ax lies outside [l, u], in each row's units and per unit of its largest
    # coefficient (the voltage rows are in p.u. with p.u.-per-kW coefficients).
    ax = qp.mul_a(x)
    outside = np.maximum(np.maximum(qp.l - ax, ax - qp.u), 0.0)
    outside[np.isnan(ax)] = np.inf  # a row that is not a number is infinitely far
    row_scale = np.zeros(qp.m)
    np.maximum.at(row_scale, qp.arow, np.abs(qp.aval))
    out["max_violation"] = float(outside.max(initial=0.0))
    out["worst_row"] = int(np.argmax(outside)) if qp.m else None
    out["max_violation_per_coefficient"] = float((outside / np.maximum(row_scale, 1e-300)).max(initial=0.0))
    # Dual: y's signs projected onto the bounds that exist, then the Lagrangian bound.
    y = np.where(np.isinf(qp.u), np.minimum(y, 0.0), y)
    y = np.where(np.isinf(qp.l), np.maximum(y, 0.0), y)
    out["dual_residual"] = float(np.abs(qp.mul_p(x) + qp.q + qp.mul_at(y)).max(initial=0.0))
    if not np.all(np.isfinite(y)):
        out["lower_bound"] = None
        out["lower_bound_note"] = "the multipliers y hold values that are not finite numbers"
        return out
    if p is None or np.any(p < 0):
        out["lower_bound"] = None
        out["lower_bound_note"] = ("P is not diagonal: no separable bound" if p is None else
                                   "P has a negative diagonal entry: the QP is not convex")
        return out
    single = np.bincount(qp.arow, minlength=qp.m) == 1
    lo, hi = variable_boxes(qp, single)
    dualized = ~single
    linear = p == 0
    y, out["equality_multipliers_moved"] = repair_unbounded(qp, y, dualized, lo, hi, linear)
    r, err = reduced_costs(qp, y, dualized)
    # The Lagrangian's minimum variable by variable over the boxes: L_j is concave in r_j, and
    # the exact r_j lies within err_j of the computed one, so the lesser of L_j at r_j - err_j
    # and r_j + err_j is below the exact L_j (-inf where either end pulls a linear variable
    # toward an open end: a free linear variable is bounded only with r_j exactly 0).
    at_lo, x_lo = box_minimum(p, r - err, lo, hi)
    at_hi, x_hi = box_minimum(p, r + err, lo, hi)
    terms = np.minimum(at_lo, at_hi)
    xm = np.where(at_lo <= at_hi, x_lo, x_hi)
    unbounded = ~(terms > -np.inf)
    ys = y[dualized]
    support = np.zeros(ys.size)  # max(u_i y_i, l_i y_i), without 0 * inf
    pos, neg = ys > 0, ys < 0
    support[pos] = ys[pos] * qp.u[dualized][pos]
    support[neg] = ys[neg] * qp.l[dualized][neg]
    out["bounded_variables"] = int(np.sum(np.isfinite(lo) & np.isfinite(hi)))
    if np.any(unbounded):
        names = [qp.names[j] for j in np.flatnonzero(unbounded)[:5]] if qp.names else []
        out["lower_bound"] = None
        out["lower_bound_note"] = (f"{int(unbounded.sum())} variables without a box where the "
                                   f"Lagrangian is linear (e.g. {names})")
        return out
    # Less the rounding of the sum of n + m + 1 terms and of each term's few operations:
    # (count) x ulp x the sum of the magnitudes that went into them.
    with np.errstate(invalid="ignore", over="ignore"):
        size = (float(np.sum(0.5 * p * xm * xm + (np.abs(r) + err) * np.abs(xm))) +
                float(np.abs(support).sum()) + abs(qp.constant))
        bound = float(terms.sum() - support.sum()) + qp.constant
        bound -= (qp.n + qp.m + 8) * ULP * size
    if not np.isfinite(bound):
        out["lower_bound"] = None
        out["lower_bound_note"] = "the bound overflowed (multipliers too large)"
        return out
    out["lower_bound"] = bound
    gap = (out["objective"] - bound) / max(1.0, abs(bound))
    out["certified_gap"] = float("inf") if np.isnan(gap) else gap
    return out


def solve_cvxopt(qp):
    """CVXOPT's interior-point QP solver on the same QP (equalities apart; rows normalized)."""
    try:
        from cvxopt import matrix, solvers, spmatrix
    except ImportError as e:  # pragma: no cover - environment dependent
        print(f"check_qp: {e}; install python3-cvxopt (Debian) or pass --certificate-only",
              file=sys.stderr)
        sys.exit(2)
    pr, pc = qp.prow.tolist(), qp.pcol.tolist()
    pv = qp.pval.tolist()
    off = [k for k in range(len(pr)) if pr[k] != pc[k]]  # upper triangle -> full symmetric
    P = spmatrix(pv + [pv[k] for k in off], pr + [pc[k] for k in off], pc + [pr[k] for k in off],
                 (qp.n, qp.n))
    # Normalize each row (same feasible set): the voltage rows' p.u.-per-kW coefficients are
    # 1e-6 of the others, which would ruin the interior-point factorizations.
    scale = np.zeros(qp.m)
    np.maximum.at(scale, qp.arow, np.abs(qp.aval))
    scale[scale == 0] = 1.0
    val = qp.aval / scale[qp.arow]
    l, u = qp.l / scale, qp.u / scale
    with np.errstate(invalid="ignore"):
        eq = np.isfinite(u) & (np.abs(u - l) <= 1e-12 * np.maximum(1.0, np.abs(u)))
    up = ~eq & np.isfinite(u)
    dn = ~eq & np.isfinite(l)
    # G x <= h: the upper rows, then the lower rows negated; A x = b: the equality rows.
    g_index = np.full(qp.m, -1)
    g_index[up] = np.arange(up.sum())
    l_index = np.full(qp.m, -1)
    l_index[dn] = up.sum() + np.arange(dn.sum())
    e_index = np.full(qp.m, -1)
    e_index[eq] = np.arange(eq.sum())
    k_up, k_dn, k_eq = up[qp.arow], dn[qp.arow], eq[qp.arow]
    g_rows = np.concatenate([g_index[qp.arow[k_up]], l_index[qp.arow[k_dn]]])
    g_cols = np.concatenate([qp.acol[k_up], qp.acol[k_dn]])
    g_vals = np.concatenate([val[k_up], -val[k_dn]])
    h = np.concatenate([u[up], -l[dn]])
    G = spmatrix(g_vals.tolist(), g_rows.tolist(), g_cols.tolist(), (h.size, qp.n))
    Aeq = spmatrix(val[k_eq].tolist(), e_index[qp.arow[k_eq]].tolist(), qp.acol[k_eq].tolist(),
                   (int(eq.sum()), qp.n))
    solvers.options.update({"show_progress": False, "abstol": 1e-7, "reltol": 1e-8,
                            "feastol": 1e-8, "maxiters": 200})
    counts = {"equalities": int(eq.sum()), "inequalities": int(h.size)}
    try:
        sol = solvers.qp(P, matrix(qp.q), G, matrix(h), Aeq, matrix(u[eq]))
    except (ValueError, ArithmeticError) as e:  # e.g. "Rank(A) < p": no solve, not bad input
        return {"status": f"error: {e}", "objective": None, **counts}
    x = np.array(sol["x"]).ravel()
    return {"status": sol["status"], "objective": qp.objective(x), **counts}


def read_export(raw, path, need_solution):
    """The export's QP, its solution (validated; x and y as float arrays, null as NaN) or None,
    and its day and t0 (None where absent)."""
    qp = Qp(raw, path)
    info = {"qp": qp, "solution": None}
    for key in ("day", "t0"):
        info[key] = integer(raw[key], key) if raw.get(key) is not None else None
    if "solution" not in raw:
        if need_solution:
            raise BadInput("no 'solution' (exported before p2pgrid wrote one), which "
                           "--certificate-only needs")
        return info
    sol = raw["solution"]
    if not isinstance(sol, dict):
        raise BadInput(f"'solution' is {describe(sol)}, expected an object with 'x', 'y', "
                       "'objective' and 'status'")
    for key in ("x", "y"):
        if key not in sol:
            raise BadInput(f"no 'solution.{key}' (expected the plan's x and multipliers y)")
    objective = sol.get("objective")
    if objective is not None and not is_number(objective):
        raise BadInput(f"'solution.objective' is {describe(objective)}, expected a number "
                       "or null")
    status = sol.get("status")
    if status is not None and not isinstance(status, str):
        raise BadInput(f"'solution.status' is {describe(status)}, expected a string")
    iterations = sol.get("iterations")
    if iterations is not None and not is_integer(iterations):
        raise BadInput(f"'solution.iterations' is {describe(iterations)}, expected an integer")
    info["solution"] = {
        "x": numbers(sol["x"], "solution.x", qp.n, allow_null=True, finite=False),
        "y": numbers(sol["y"], "solution.y", qp.m, allow_null=True, finite=False),
        "objective": None if objective is None else float(objective),
        "status": status, "iterations": iterations}
    return info


def read_expert(raw, path):
    """`p2pgrid expert --json` output: its objective_cny (None for null), day and t0 (None
    where absent)."""
    what = "the JSON of `p2pgrid expert --json` (one plan)"
    if not isinstance(raw, dict):
        raise BadInput(f"the file holds {describe(raw)}, expected {what}")
    if "objective_cny" not in raw:
        hint = ""
        if "days" in raw or "policy" in raw:
            hint = ("; this looks like a `p2pgrid rollout` report, which covers many plans: "
                    "export one with `p2pgrid expert --day D --json --export-qp F`")
        raise BadInput(f"no 'objective_cny': expected {what}{hint}")
    objective = raw["objective_cny"]
    if objective is not None and not is_number(objective):
        raise BadInput(f"'objective_cny' is {describe(objective)}, expected a number")
    out = {"objective_cny": None if objective is None else float(objective)}
    for key in ("day", "t0"):
        out[key] = integer(raw[key], key) if raw.get(key) is not None else None
    return out


def load(path, read, *args):
    """read(the file's JSON, path, *args); any failure: "check_qp: FILE: ..." and exit 2."""
    def bad(message):
        print(f"check_qp: {path}: {message}", file=sys.stderr)
        sys.exit(2)
    try:
        with open(path, "rb") as f:
            raw = json.load(f)
    except OSError as e:
        bad(e.strerror or str(e))
    except UnicodeDecodeError as e:
        bad(f"not a JSON file (not UTF-8: {e.reason} at byte {e.start})")
    except (ValueError, RecursionError) as e:  # json.JSONDecodeError is a ValueError
        bad(f"not a JSON file ({e})")
    try:
        return read(raw, path, *args)
    except BadInput as e:
        bad(e)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as e:
        # The safety net: a form the checks above missed is still bad input, not a traceback.
        bad(f"malformed input ({type(e).__name__}: {e})")


def finite_json(v):
    """v with every number that is not finite as null (JSON has no NaN or infinity); in an
    object, a "<key>_note" beside such a key says what it was, unless one is there already."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if isinstance(x, np.generic):
                x = x.item()
            if isinstance(x, float) and not math.isfinite(x):
                out[k] = None
                if f"{k}_note" not in v:
                    out[f"{k}_note"] = ("NaN: not a number" if math.isnan(x) else
                                        f"{'+' if x > 0 else '-'}inf, which JSON cannot hold")
            else:
                out[k] = finite_json(x)
        return out
    if isinstance(v, (list, tuple)):
        return [finite_json(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def same(a, b, rel=1e-9):
    """a and b equal to rel relative (of the larger, at least 1: absolute near zero)."""
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("qp", help="exported QP JSON (p2pgrid expert --export-qp)")
    ap.add_argument("--expert", help="p2pgrid expert --json output of the same plan, to compare "
                                     "against (day, t0 and objective must match the export's)")
    ap.add_argument("--certificate-only", action="store_true",
                    help="skip the CVXOPT solve (the certificate needs numpy only)")
    ap.add_argument("--tolerance", type=float, default=1e-3,
                    help="largest relative gap that passes (default 1e-3)")
    ap.add_argument("--max-violation", type=float, default=0.1,
                    help="largest violation of a row by the plan's x that passes, in the row's "
                         "units (kW, kWh, p.u.; default 0.1: p2pgrid's default tolerances give "
                         "at most 0.05 on every training and test day)")
    args = ap.parse_args()
    expert = load(args.expert, read_expert) if args.expert else None  # small: first
    export = load(args.qp, read_export, args.certificate_only)
    qp, solution = export["qp"], export["solution"]
    out = {"n": qp.n, "m": qp.m}
    failed = []  # why the check failed, in short sentences
    reference = None
    if expert is not None:
        # The expert JSON must be the plan of this export: same day, start and objective.
        reference = expert["objective_cny"]
        mismatches = []
        for key in ("day", "t0"):
            if expert[key] is not None and export[key] is not None and expert[key] != export[key]:
                mismatches.append(f"expert JSON is of {key} {expert[key]}, the QP of {key} "
                                  f"{export[key]}")
        exported = solution["objective"] if solution is not None else None
        if reference is None:
            mismatches.append("expert JSON's objective_cny is null (not a finite number)")
        elif exported is not None and not same(reference, exported):
            mismatches.append(f"expert JSON's objective_cny {reference!r} differs from the "
                              f"export's solution.objective {exported!r}")
        out["expert"] = {"file": args.expert, "day": expert["day"], "t0": expert["t0"],
                         "objective_cny": reference, "matches_export": not mismatches}
        failed += mismatches
    elif solution is not None:
        reference = solution["objective"]
    if solution is not None:
        cert = certificate(qp, solution)
        out["certificate"] = cert
        bad_x = int(np.sum(~np.isfinite(solution["x"])))
        if bad_x:
            failed.append(f"x holds {bad_x} values that are not finite numbers (null in the "
                          "export)")
        gap = cert.get("certified_gap")
        if gap is None:
            failed.append(f"no certified gap: {cert.get('lower_bound_note', 'no lower bound')}")
        elif not gap <= args.tolerance:
            failed.append(f"certified gap {gap:.3g} > tolerance {args.tolerance:g}")
        # The objective p2pgrid reports is the exported QP's at the exported x.
        reported = cert["reported_objective"]
        cert["objective_matches_report"] = reported is not None and abs(
            cert["objective"] - reported) <= 1e-9 * max(1.0, abs(reported))
        if reported is None:
            failed.append("the export's solution reports no objective (null or absent) to "
                          "compare the objective of x with")
        elif not cert["objective_matches_report"]:
            failed.append(f"objective of x ({cert['objective']!r}) differs from the reported "
                          f"one ({reported!r})")
        # A plan p2pgrid did not call solved, or whose x breaks a row by more than
        # --max-violation, is no optimum however low its objective.
        if cert["status"] != "solved":
            failed.append(f"plan status {cert['status'] or 'absent'}, not solved")
        if not cert["max_violation"] <= args.max_violation:
            failed.append(f"row {cert['worst_row']} violated by {cert['max_violation']:.3g} > "
                          f"--max-violation {args.max_violation:g}")
    if not args.certificate_only:
        cvx = solve_cvxopt(qp)
        out["cvxopt"] = cvx
        if reference is not None:
            if cvx["objective"] is not None:
                cvx["relative_gap"] = (abs(reference - cvx["objective"]) /
                                       max(1.0, abs(cvx["objective"])))
            # Only a converged solve is a reference: on these QPs CVXOPT often stops early
            # ("unknown", a singular KKT matrix), above the optimum the certificate brackets.
            if cvx["status"] == "optimal":
                if not cvx["relative_gap"] <= args.tolerance:
                    failed.append(f"CVXOPT's optimum {cvx['objective']:.10g} and p2pgrid's "
                                  f"objective {reference:.10g} differ by "
                                  f"{cvx['relative_gap']:.3g} relative > tolerance "
                                  f"{args.tolerance:g}")
            elif "certificate" not in out:
                failed.append(f"CVXOPT not optimal (status {cvx['status']}) and no certificate")
    if reference is not None:
        out["p2pgrid_objective"] = reference
    if "certificate" not in out and reference is None:
        out["note"] = "no solution in the export and no --expert: nothing was compared"
        failed.append("nothing compared: no solution in the export and no objective from "
                      "--expert")
    out["passed"] = not failed
    out["failed"] = failed
    print(json.dumps(finite_json(out), allow_nan=False))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
