#!/usr/bin/python3
"""tools/check_qp.py on malformed and mismatched inputs (hand-built QPs in temporary files, so
it runs in seconds with numpy only; every run uses --certificate-only, so CVXOPT is not needed):

- malformed input (a string in l, a CSC row index out of range, an indptr that decreases or does
  not start at 0, P as an array, a string objective, non-numbers in the solution's x or y, a
  rollout report or an array as --expert, ...) exits 2 with a one-line "check_qp: FILE: ..."
  message on stderr and no traceback;
- an --expert JSON of another plan (other objective, day or t0) exits 1 with the reason in
  "failed"; the matching one passes (exit 0) with "failed": [];
- a null in the solution's y or x (how p2pgrid's JSON writes a NaN) gives strict JSON (no NaN or
  Infinity) that fails with a reason;
- other failures (unsolved plan, violated row, objective not the reported one) say why.

usage: check_qp_inputs.py PATH/TO/tools/check_qp.py   (prints "ok", exits 1 on a failure)
"""
import contextlib
import copy
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_export import export_form  # noqa: E402

if len(sys.argv) != 2:
    sys.exit(__doc__.strip().splitlines()[-1])
CHECK_QP = sys.argv[1]
PYTHON = sys.executable or "/usr/bin/python3"


qp = export_form


# g free with cost g^2 / 2, purchase b >= 0 at 1, sale e >= 0 at 0.5, g + b - e = 2: optimum 1.5
# at g = b = 1, with exact multipliers (a certified gap of ~0).
BASE = qp([[(2, 1.0)], [(0, 1.0), (2, 1.0)], [(1, 1.0), (2, -1.0)]], [0.0, 1.0, -0.5],
          [0.0, 0.0, 2.0], [1e30, 1e30, 2.0], p=[1.0, 0.0, 0.0])
BASE["solution"] = {"status": "solved", "iterations": 25, "objective": 1.5,
                    "x": [1.0, 1.0, 0.0], "y": [0.0, -0.5, -1.0]}
EXPERT = {"day": 5, "t0": 0, "split": "test", "split_day": 0, "status": "solved",
          "objective_cny": 1.5}

failures = []
tmp = tempfile.mkdtemp(prefix="check_qp_inputs.")
counter = [0]


def write(content, raw=False):
    counter[0] += 1
    path = os.path.join(tmp, f"f{counter[0]}.json")
    with open(path, "w") as f:
        f.write(content if raw else json.dumps(content))
    return path


def run(qp_content, expert=None, raw=False, expert_raw=False, extra=()):
    qp_path = write(qp_content, raw)
    cmd = [PYTHON, CHECK_QP, qp_path, "--certificate-only", *extra]
    expert_path = None
    if expert is not None:
        expert_path = write(expert, expert_raw)
        cmd += ["--expert", expert_path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return r, qp_path, expert_path


def strict_json(text):
    """The output parsed as strict JSON (NaN, Infinity and -Infinity refused)."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def mutated(edit, base=BASE):
    d = copy.deepcopy(base)
    edit(d)
    return d


def expect_bad_input(name, qp_content=None, expert=None, raw=False, expert_raw=False,
                     wants=(), blamed="qp", extra=()):
    """Exit 2, one 'check_qp: FILE: ...' line on stderr naming the blamed file ("qp", "expert"
    or a path) and holding each of `wants`, no traceback, nothing on stdout."""
    r, qp_path, expert_path = run(BASE if qp_content is None else qp_content, expert, raw,
                                  expert_raw, extra)
    path = {"qp": qp_path, "expert": expert_path}.get(blamed, blamed)
    err = r.stderr.strip()
    problems = []
    if r.returncode != 2:
        problems.append(f"exit {r.returncode}, expected 2")
    if "Traceback" in r.stderr:
        problems.append("a traceback")
    if not err.startswith(f"check_qp: {path}: "):
        problems.append(f"stderr does not start with 'check_qp: {path}: '")
    if len(err.splitlines()) != 1:
        problems.append(f"{len(err.splitlines())} lines on stderr, expected 1")
    problems += [f"no {w!r} in the message" for w in wants if w not in err]
    if r.stdout.strip():
        problems.append("output on stdout")
    if problems:
        failures.append(f"{name}: {'; '.join(problems)}\n  stderr: {r.stderr[-600:]!r}"
                        f"\n  stdout: {r.stdout[:300]!r}")


def expect_result(name, qp_content=None, expert=None, status=1, wants=(), extra=()):
    """Exit `status`, strict JSON whose "passed" agrees and whose "failed" holds each of
    `wants` in one of its reasons (and is empty where status is 0). Returns the JSON."""
    r, _, _ = run(BASE if qp_content is None else qp_content, expert, extra=extra)
    problems = []
    out = None
    if r.returncode != status:
        problems.append(f"exit {r.returncode}, expected {status}")
    if "Traceback" in r.stderr:
        problems.append("a traceback")
    try:
        out = strict_json(r.stdout)
    except ValueError as e:
        problems.append(f"stdout is not strict JSON ({e})")
    if out is not None:
        reasons = out.get("failed")
        if not isinstance(reasons, list):
            problems.append(f"'failed' is {reasons!r}, expected a list")
            reasons = []
        if out.get("passed") is not (status == 0):
            problems.append(f"'passed' is {out.get('passed')!r}")
        if status == 0 and reasons:
            problems.append(f"'failed' is {reasons!r}, expected []")
        if status != 0 and not reasons:
            problems.append("'failed' is empty on a failed check")
        for w in wants:
            if not any(w in reason for reason in reasons):
                problems.append(f"no reason with {w!r} in 'failed' {reasons!r}")
    if problems:
        failures.append(f"{name}: {'; '.join(problems)}\n  stderr: {r.stderr[-600:]!r}"
                        f"\n  stdout: {r.stdout[:600]!r}")
    return out


def set_path(d, keys, value):
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


def with_value(keys, value):
    return mutated(lambda d: set_path(d, keys, value))


# --- The valid QP passes, alone and with the matching expert JSON.
expect_result("valid QP", status=0)
expect_result("matching --expert", expert=EXPERT, status=0)
expect_result("matching --expert without day and t0",
              expert={"objective_cny": 1.5 * (1 + 1e-12)}, status=0)

# --- Fix 1: an expert JSON of another plan fails, saying why.
expect_result("--expert of another objective", expert=dict(EXPERT, objective_cny=1.75),
              wants=("objective_cny 1.75", "1.5"))
expect_result("--expert of another day", expert=dict(EXPERT, day=6), wants=("day 6", "day 5"))
expect_result("--expert of another t0", expert=dict(EXPERT, t0=12), wants=("t0 12", "t0 0"))
expect_result("--expert with a null objective", expert=dict(EXPERT, objective_cny=None),
              wants=("objective_cny",))
# Defensive reading of --expert (the QP is fine: the expert file is blamed).
expect_bad_input("--expert a rollout report", expert={"days": [], "policy": "expert",
                                                      "expert": {}, "mean": {}},
                 blamed="expert", wants=("objective_cny", "rollout", "p2pgrid expert --json"))
expect_bad_input("--expert without objective_cny", expert={"day": 5}, blamed="expert",
                 wants=("objective_cny",))
expect_bad_input("--expert an array", expert=[1.5], blamed="expert",
                 wants=("p2pgrid expert --json",))
expect_bad_input("--expert objective a string", expert=dict(EXPERT, objective_cny="1.5"),
                 blamed="expert", wants=("objective_cny",))
expect_bad_input("--expert day a string", expert=dict(EXPERT, day="5"), blamed="expert",
                 wants=("day",))
expect_bad_input("--expert not JSON", expert="{objective_cny: 1.5", expert_raw=True,
                 blamed="expert")
expect_bad_input("--expert missing", extra=("--expert", os.path.join(tmp, "absent.json")),
                 blamed=os.path.join(tmp, "absent.json"))

# --- Fix 3: malformed QPs exit 2 with a one-line message naming the key.
expect_bad_input("a string in l", with_value(["l", 1], "abc"), wants=("l[1]", "abc"))
expect_bad_input("a null in l", with_value(["l", 0], None), wants=("l[0]",))
expect_bad_input("true in q", with_value(["q", 0], True), wants=("q[0]",))
expect_bad_input("l too short", with_value(["l"], [0.0, 0.0]), wants=("'l'", "3"))
expect_bad_input("A row index 1e9", with_value(["A", "indices", 0], 1e9),
                 wants=("A.indices[0]", "0..2"))
expect_bad_input("A row index 1000000000", with_value(["A", "indices", 0], 1000000000),
                 wants=("A.indices[0]",))
expect_bad_input("A row index -1", with_value(["A", "indices", 2], -1),
                 wants=("A.indices[2]", "0..2"))
expect_bad_input("A row index m", with_value(["A", "indices", 2], 3), wants=("A.indices[2]",))
expect_bad_input("A row index 0.5", with_value(["A", "indices", 2], 0.5),
                 wants=("A.indices[2]",))
expect_bad_input("P row index n", with_value(["P", "indices", 0], 3),
                 wants=("P.indices[0]", "0..2"))
expect_bad_input("P row index -1", with_value(["P", "indices", 0], -1), wants=("P.indices[0]",))
expect_bad_input("A indptr decreasing", with_value(["A", "indptr"], [0, 3, 1, 5]),
                 wants=("A.indptr",))
expect_bad_input("A indptr not from 0", with_value(["A", "indptr"], [1, 1, 3, 5]),
                 wants=("A.indptr",))
expect_bad_input("A indptr short", with_value(["A", "indptr"], [0, 1, 5]), wants=("A.indptr",))
expect_bad_input("A indptr not ending at nnz", with_value(["A", "indptr"], [0, 1, 3, 4]),
                 wants=("A.indptr",))
expect_bad_input("A data a string", with_value(["A", "data", 0], "1"), wants=("A.data[0]",))
expect_bad_input("A as a string", with_value(["A"], "csc"), wants=("'A'",))
expect_bad_input("P as a list", with_value(["P"], [[1.0, 0, 0], [0, 0, 0], [0, 0, 0]]),
                 wants=("'P'",))
expect_bad_input("P without indptr", mutated(lambda d: d["P"].pop("indptr")),
                 wants=("P.indptr",))
expect_bad_input("n a string", with_value(["n"], "3"), wants=("'n'",))
expect_bad_input("constant a string", with_value(["constant"], "0"), wants=("constant",))
expect_bad_input("no q", mutated(lambda d: d.pop("q")), wants=("'q'",))
expect_bad_input("day a string", with_value(["day"], "5"), wants=("day",))
expect_bad_input("solution.objective a string", with_value(["solution", "objective"], "1.5"),
                 wants=("solution.objective",))
expect_bad_input("solution.x a string", with_value(["solution", "x", 1], "abc"),
                 wants=("solution.x[1]",))
expect_bad_input("solution.y a string", with_value(["solution", "y", 2], "abc"),
                 wants=("solution.y[2]",))
expect_bad_input("solution.y an object", with_value(["solution", "y", 0], {}),
                 wants=("solution.y[0]",))
expect_bad_input("solution.x true", with_value(["solution", "x", 0], True),
                 wants=("solution.x[0]",))
expect_bad_input("solution.x short", with_value(["solution", "x"], [1.0]),
                 wants=("solution.x",))
expect_bad_input("solution.y a number", with_value(["solution", "y"], 0.0),
                 wants=("solution.y",))
expect_bad_input("solution a list", with_value(["solution"], [1.0]), wants=("solution",))
expect_bad_input("the file an array", [1, 2, 3], wants=("export-qp",))
expect_bad_input("not JSON", "{\"n\": 3,", raw=True, wants=("JSON",))
expect_bad_input("no solution with --certificate-only", mutated(lambda d: d.pop("solution")),
                 wants=("solution",))

# --- Fix 4: a null in y or x (p2pgrid's JSON for a NaN) gives strict JSON that fails, saying why.
out = expect_result("null in y", with_value(["solution", "y", 1], None),
                    wants=("no certified gap",))
if out is not None and "certificate" in out and out["certificate"].get("dual_residual") is not None:
    failures.append(f"null in y: dual_residual {out['certificate']['dual_residual']!r}, "
                    "expected null (not a number)")
out = expect_result("null in x", with_value(["solution", "x", 0], None),
                    wants=("not finite",))
if out is not None and "certificate" in out and (
        out["certificate"].get("objective") is not None or
        "objective_note" not in out["certificate"]):
    failures.append("null in x: expected the objective null with an objective_note beside it")
expect_result("null objective", with_value(["solution", "objective"], None),
              wants=("no objective",))

# --- Fix 2: the other failures say why.
expect_result("unsolved plan", with_value(["solution", "status"], "max_iterations"),
              wants=("max_iterations", "not solved"))
expect_result("violated row", mutated(lambda d: d["solution"].update(
    x=[1.0, 1.5, 0.0], objective=2.0)), wants=("row 2 violated by 0.5 > --max-violation",))
expect_result("objective not the reported one", with_value(["solution", "objective"], 1.25),
              wants=("objective of x", "differs from the reported one"))
expect_result("gap above tolerance", mutated(lambda d: d["solution"].update(
    x=[0.0, 2.0, 0.0], objective=2.0)), wants=("certified gap", "> tolerance 0.001"))

# The safety net: an error the explicit checks miss while a file is read is still a one-line
# message and exit 2 (here a reader that trips over a key, in the script's own load()).
spec = importlib.util.spec_from_file_location("check_qp", CHECK_QP)
check_qp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_qp)
net_path = write({"a": 1})
stderr = io.StringIO()
try:
    with contextlib.redirect_stderr(stderr):
        check_qp.load(net_path, lambda raw, path: raw["b"])
    failures.append("safety net: load() returned on a KeyError")
except SystemExit as e:
    if e.code != 2 or not stderr.getvalue().startswith(f"check_qp: {net_path}: "):
        failures.append(f"safety net: exit {e.code!r}, stderr {stderr.getvalue()!r}")
except Exception as e:  # noqa: BLE001 - any escape is the failure reported
    failures.append(f"safety net: {type(e).__name__} escaped load(): {e}")

shutil.rmtree(tmp, ignore_errors=True)
for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
