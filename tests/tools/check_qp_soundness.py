#!/usr/bin/python3
"""Adversarial cases for tools/check_qp.py's certificate (run by the C++ test
Cli.CheckQpIsSoundAndChecksItsInputsOnHandBuiltQps): its lower bound must never exceed the optimum, whatever the
multipliers and however the sums round; the same cases as ExpertCertificate.* for the C++ twin.

usage: check_qp_soundness.py PATH/TO/tools/check_qp.py   (prints "ok", exits 1 on a failure)
"""
import importlib.util
import os
import sys
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_export import export_form  # noqa: E402

spec = importlib.util.spec_from_file_location("check_qp", sys.argv[1])
check_qp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_qp)


def qp(columns, q, l, u, constant=0.0, p=None):
    """The QP of qp_export.export_form, as check_qp reads it."""
    return check_qp.Qp(export_form(columns, q, l, u, constant, p), "case")


def bound(problem, x, y):
    return check_qp.certificate(problem, {"x": x, "y": y, "objective": None})


failures = []

# A constant of 1e17 (ulp 16): without its margin the sum's rounding lifts the bound above the
# optimum, 1e17 + 9 exactly.
c = bound(qp([[(0, 1.0)]], [9.0], [1.0], [1.0], constant=1e17), [1.0], [0.0])
if c["lower_bound"] is None or Fraction(c["lower_bound"]) > 10**17 + 9:
    failures.append(f"constant 1e17: bound {c['lower_bound']!r} above the optimum 1e17 + 9")

# x0, x1 in [0, 1], x0 + x1 >= 1 (no upper bound): a multiplier pushing against the missing
# upper bound must be projected to 0, not multiplied by infinity. Optimum 1.
c = bound(qp([[(0, 1.0), (2, 1.0)], [(1, 1.0), (2, 1.0)]], [1.0, 1.0], [0.0, 0.0, 1.0],
             [1.0, 1.0, 1e30]), [1.0, 0.0], [0.0, 0.0, 1e-3])
if c["lower_bound"] is None or c["lower_bound"] > 1.0:
    failures.append(f"wrong-sign multiplier: bound {c['lower_bound']!r} (expected <= 1)")

# x0 in [1, 2], x1 in [-10, 10], x0 + 3 x1 = 0 and 3 x0 + 9 x1 = 0, no cost: optimum 0. The
# multipliers (t, -t/3) cancel in A'y exactly, not in floating point.
two = qp([[(0, 1.0), (2, 1.0), (3, 3.0)], [(1, 1.0), (2, 3.0), (3, 9.0)]], [0.0, 0.0],
         [1.0, -10.0, 0.0, 0.0], [2.0, 10.0, 0.0, 0.0])
above = bounded = 0
for k in range(4000):
    t = (1e10 if k % 2 else 1e3) * (1 + k * 0.000137)
    c = bound(two, [1.5, -0.5], [0.0, 0.0, t, -t / 3])
    bounded += c["lower_bound"] is not None
    above += c["lower_bound"] is not None and c["lower_bound"] > 0
if above:
    failures.append(f"cancelling multipliers: {above} of {bounded} bounds above the optimum 0")

# g free with cost g^2 / 2, purchase b >= 0 at 1, sale e >= 0 at 0.5, g + b - e = 2: optimum
# 1.5 at g = b = 1. The exact multipliers need no repair on g (its quadratic cost bounds it).
c = bound(qp([[(2, 1.0)], [(0, 1.0), (2, 1.0)], [(1, 1.0), (2, -1.0)]], [0.0, 1.0, -0.5],
             [0.0, 0.0, 2.0], [1e30, 1e30, 2.0], p=[1.0, 0.0, 0.0]),
          [1.0, 1.0, 0.0], [0.0, -0.5, -1.0])
if (c.get("certified_gap") is None or c["certified_gap"] > 1e-9 or
        c["equality_multipliers_moved"] > 1e-9):
    failures.append(f"free quadratic variable: gap {c.get('certified_gap')!r}, multipliers "
                    f"moved {c.get('equality_multipliers_moved')!r} (expected ~0)")

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
