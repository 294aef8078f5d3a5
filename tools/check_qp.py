#!/usr/bin/python3
"""Independent check of an exported expert QP (`p2pgrid expert --day D --export-qp F.json`).

Reads the QP in OSQP's convention (minimize 1/2 x'Px + q'x + constant, l <= Ax <= u, P upper
triangle and A in CSC, +-1e30 for infinite bounds), solves it with CVXOPT's interior-point QP
solver (Debian: apt-get install python3-cvxopt python3-numpy; run with /usr/bin/python3), and
prints the optimal objective, so that it can be compared with p2pgrid's ADMM objective:

    p2pgrid expert --day 0 --split test --json --export-qp /tmp/qp.json > /tmp/expert.json
    /usr/bin/python3 tools/check_qp.py /tmp/qp.json --expert /tmp/expert.json
"""
import argparse
import json
import sys

try:
    import numpy as np
    from cvxopt import matrix, solvers, spmatrix
except ImportError as e:  # pragma: no cover - environment dependent
    sys.exit(f"check_qp: {e}; install python3-cvxopt and python3-numpy (Debian) and use /usr/bin/python3")

INF = 1e29


def csc_entries(m):
    indptr, indices, data = m["indptr"], m["indices"], m["data"]
    rows, cols, vals = [], [], []
    for j in range(len(indptr) - 1):
        for k in range(indptr[j], indptr[j + 1]):
            rows.append(indices[k])
            cols.append(j)
            vals.append(data[k])
    return rows, cols, vals


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("qp", help="exported QP JSON")
    ap.add_argument("--expert", help="p2pgrid expert --json output to compare against")
    args = ap.parse_args()
    with open(args.qp) as f:
        qp = json.load(f)
    n, m = qp["n"], qp["m"]
    pr, pc, pv = csc_entries(qp["P"])
    # Upper triangle -> full symmetric.
    full_r, full_c, full_v = list(pr), list(pc), list(pv)
    for r, c, v in zip(pr, pc, pv):
        if r != c:
            full_r.append(c), full_c.append(r), full_v.append(v)
    P = spmatrix(full_v, full_r, full_c, (n, n))
    q = matrix(np.asarray(qp["q"], dtype=float))
    ar, ac, av = csc_entries(qp["A"])
    rows = [[] for _ in range(m)]
    for r, c, v in zip(ar, ac, av):
        rows[r].append((c, v))
    l, u = list(qp["l"]), list(qp["u"])
    # Normalize each row (same feasible set): the voltage rows' p.u.-per-kW coefficients are
    # 1e-6 of the others, which would ruin the interior-point factorizations.
    for i in range(m):
        s = max((abs(v) for _, v in rows[i]), default=1.0)
        if s > 0:
            rows[i] = [(c, v / s) for c, v in rows[i]]
            l[i] = l[i] / s if l[i] > -INF else l[i]
            u[i] = u[i] / s if u[i] < INF else u[i]
    ge, gr, gc, h = [], [], [], []  # G x <= h
    ae, arr, acc, b = [], [], [], []  # A x = b
    for i in range(m):
        if abs(u[i] - l[i]) <= 1e-12 * max(1.0, abs(u[i])):
            for c, v in rows[i]:
                ae.append(v), arr.append(len(b)), acc.append(c)
            b.append(u[i])
            continue
        if u[i] < INF:
            for c, v in rows[i]:
                ge.append(v), gr.append(len(h)), gc.append(c)
            h.append(u[i])
        if l[i] > -INF:
            for c, v in rows[i]:
                ge.append(-v), gr.append(len(h)), gc.append(c)
            h.append(-l[i])
    G = spmatrix(ge, gr, gc, (len(h), n))
    Aeq = spmatrix(ae, arr, acc, (len(b), n))
    solvers.options.update({"show_progress": False, "abstol": 1e-7, "reltol": 1e-8,
                            "feastol": 1e-8, "maxiters": 200})
    sol = solvers.qp(P, q, G, matrix(h), Aeq, matrix(b))
    x = np.array(sol["x"]).ravel()
    obj = 0.5 * float(x @ (np.array(matrix(P * matrix(x))).ravel())) + float(np.dot(qp["q"], x))
    obj += qp["constant"]
    out = {"status": sol["status"], "objective": obj, "n": n, "m": m,
           "equalities": len(b), "inequalities": len(h)}
    if args.expert:
        with open(args.expert) as f:
            ex = json.load(f)
        out["p2pgrid_objective"] = ex["objective_cny"]
        out["relative_gap"] = abs(ex["objective_cny"] - obj) / max(1.0, abs(obj))
    print(json.dumps(out))
    return 0 if sol["status"] == "optimal" else 1


if __name__ == "__main__":
    sys.exit(main())
