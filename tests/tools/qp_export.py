"""A hand-built QP in the form `p2pgrid expert --export-qp` writes (the tests of tools/check_qp.py
in this folder share it)."""


def export_form(columns, q, l, u, constant=0.0, p=None):
    """The export's JSON dict from A's columns [[(row, value), ...], ...], the linear costs q,
    the rows' bounds l and u (1e30 for infinity) and P's diagonal p (zero by default)."""
    indptr, indices, data = [0], [], []
    for col in columns:
        for row, value in col:
            indices.append(row)
            data.append(value)
        indptr.append(len(indices))
    n = len(columns)
    p = p or [0.0] * n
    p_cols = [j for j in range(n) if p[j] != 0.0]
    p_indptr = [sum(1 for j in p_cols if j < k) for k in range(n + 1)]
    return {"format": "osqp-qp", "day": 5, "t0": 0, "n": n, "m": len(l), "q": q, "l": l,
            "u": u, "constant": constant,
            "A": {"format": "csc", "shape": [len(l), n], "indptr": indptr, "indices": indices,
                  "data": data},
            "P": {"format": "csc", "triangle": "upper", "shape": [n, n], "indptr": p_indptr,
                  "indices": p_cols, "data": [p[j] for j in p_cols]},
            "variable_names": [f"v{j}" for j in range(n)]}
