"""The Gilmore-Gomory LP of vector bin packing by column generation: a strong lower bound and
packings rounded from it.

Item types ``t`` (identical items grouped) with demands ``b_t``; a pattern is a vector of counts
``a`` that fits one bin (every dimension within capacity, at most `cardinality` items). The
master LP ``min sum_p x_p`` s.t. ``sum_p a_p x_p >= b``, ``x >= 0`` is solved by HiGHS; the
pricing problem ``max pi . a`` over patterns is an integer program (CP-SAT, on duals scaled to
integers; the scaling error is accounted for in every bound). ``ceil(LP)`` bounds the bins of every packing, and Farley's
``ceil(z / v*)`` (``v*`` the best pricing value) bounds them at every iteration, so a run cut
short still proves something. Packings: the LP's whole pattern copies, the residual items packed
by the heuristic; and greedy rounding (largest ``x_p`` first, rounded up within the demand).

Reference: P.C. Gilmore, R.E. Gomory, "A linear programming approach to the cutting-stock
problem", Operations Research 9(6) 1961; A.A. Farley, "A note on bounding a class of linear
programming problems, including cutting stock problems", Operations Research 38(5) 1990.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from . import vector_packing as vp
from .bins import relabel_in_order
from .deadline import deadline_of, expired
from .solver import run_cpsat

#: reduced costs at or below this count as non-negative (the LP is optimal)
EPS = 1e-7
#: duals are scaled by this and rounded for the CP-SAT pricing problem
PRICE_SCALE = 10**6
#: the LP solution is rounded into packings every this many iterations (and at the end)
ROUND_EVERY = 10
#: CP-SAT's seed for pricing: its own default, so the column generation is the one it always was
PRICE_SEED = 1


@dataclass(frozen=True)
class LpPacking:
    """The best packing found, the proven bound (Farley's, which is ``ceil`` of the LP once it is
    solved), the LP value when the column generation finished (None when cut short), and its
    iterations."""

    bins: np.ndarray
    bound: int
    lp: float | None
    iterations: int


def column_generation(sizes, capacity, cardinality: int | None = None, time_limit: float | None = 10.0,
                      start: np.ndarray | None = None) -> LpPacking:
    """Column generation from the patterns of `start` (default: the heuristic's packing), until a
    packing meets the bound (the static one or the LP's), the LP is solved, or time runs out."""
    deadline = deadline_of(time_limit)
    sizes, capacity, k = vp.check_items(sizes, capacity, cardinality)
    if not len(sizes):
        return LpPacking(np.zeros(0, dtype=np.int64), 0, 0.0, 0)
    start = vp.heuristic(sizes, capacity, k) if start is None else np.asarray(start)
    types, of_type, demand = np.unique(sizes, axis=0, return_inverse=True, return_counts=True)
    of_type = of_type.ravel()
    columns = _patterns_of(start, of_type, len(types))
    best = relabel_in_order(start)
    bound, lp, it = vp.lower_bound(sizes, capacity, k), None, 0
    while best.max() + 1 > bound:
        it += 1
        x, duals, z = _master(columns, demand)
        if it % ROUND_EVERY == 0:
            best = _rounded(best, columns, x, of_type, demand, sizes, capacity, k)
        if expired(deadline):
            break
        a, value = _price(duals, types, demand, capacity, k, deadline)
        bound = max(bound, math.ceil(z / max(value, 1.0) - 1e-6))  # Farley; z itself once value <= 1
        if value <= 1 + EPS or duals @ a <= 1 + EPS:  # no column prices out (up to the scaling error)
            lp = z
            break
        columns = np.vstack([columns, a])
    if it:
        best = _rounded(best, columns, x, of_type, demand, sizes, capacity, k)
    return LpPacking(best, bound, lp, it)


def _rounded(best, columns, x, of_type, demand, sizes, capacity, k) -> np.ndarray:
    """The best of `best` and the two roundings of the LP solution `x`."""
    for bins in (_residual(columns, x, of_type, demand, sizes, capacity, k),
                 _greedy_round(columns, x, of_type, demand, sizes, capacity, k)):
        if bins.max() < best.max():
            best = bins
    return best


def _patterns_of(bins: np.ndarray, of_type: np.ndarray, n_types: int) -> np.ndarray:
    """Count vectors (bins x types) of a packing's bins, plus every single-item pattern."""
    counts = np.zeros((int(bins.max()) + 1, n_types), dtype=np.int64)
    np.add.at(counts, (bins, of_type), 1)
    return np.unique(np.vstack([counts, np.eye(n_types, dtype=np.int64)]), axis=0)


def _master(columns: np.ndarray, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """LP solution, duals of the demand rows and the LP value."""
    res = linprog(np.ones(len(columns)), A_ub=-columns.T.astype(float), b_ub=-demand.astype(float),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"the master LP failed: {res.message}")
    return res.x, -res.ineqlin.marginals, float(res.fun)


def _price(duals: np.ndarray, types: np.ndarray, demand: np.ndarray, capacity: np.ndarray, k: int,
           deadline: float | None) -> tuple[np.ndarray, float]:
    """A pattern of large dual value (CP-SAT on duals scaled to integers) and an upper bound on
    the largest dual value of any pattern (CP-SAT's bound plus the scaling error)."""
    from ortools.sat.python import cp_model

    weights = np.rint(np.maximum(duals, 0.0) * PRICE_SCALE).astype(np.int64)
    model = cp_model.CpModel()
    a = [model.new_int_var(0, int(min(demand[t], k)), "") for t in range(len(types))]
    for d in range(types.shape[1]):
        model.add(sum(int(types[t, d]) * a[t] for t in range(len(types)) if types[t, d]) <= int(capacity[d]))
    model.add(sum(a) <= k)
    model.maximize(sum(int(weights[t]) * a[t] for t in range(len(types)) if weights[t]))
    run = run_cpsat(model, deadline, PRICE_SEED, integral=False)
    if not run.found:
        return np.zeros(len(types), dtype=np.int64), math.inf
    pattern = np.array([run.solver.value(v) for v in a], dtype=np.int64)
    # a pattern's true value is within (its item count) x (half a scaling step) of its scaled value
    upper = (run.bound + 0.5 * k) / PRICE_SCALE
    return pattern, max(float(duals @ pattern), upper)


def _fill(counts_per_bin: list[np.ndarray], of_type: np.ndarray, demand: np.ndarray, sizes, capacity, k):
    """Bins from whole patterns (trimmed to the demand left), the rest packed by the heuristic."""
    left = demand.copy()
    bins = np.full(len(of_type), -1, dtype=np.int64)
    members = [list(np.flatnonzero(of_type == t)) for t in range(len(demand))]
    n_bins = 0
    for counts in counts_per_bin:
        take = np.minimum(counts, left)
        if not take.any():
            continue
        for t in np.flatnonzero(take):
            for _ in range(int(take[t])):
                bins[members[t].pop()] = n_bins
        left -= take
        n_bins += 1
    rest = np.flatnonzero(bins < 0)
    if len(rest):
        bins[rest] = n_bins + vp.heuristic(sizes[rest], capacity, k)
    return relabel_in_order(bins)


def _residual(columns, x, of_type, demand, sizes, capacity, k) -> np.ndarray:
    """Every pattern ``floor(x_p)`` times; the residual items by the heuristic."""
    copies = np.floor(x + 1e-9).astype(np.int64)
    return _fill([columns[p] for p in np.flatnonzero(copies) for _ in range(copies[p])], of_type, demand,
                 sizes, capacity, k)


def _greedy_round(columns, x, of_type, demand, sizes, capacity, k) -> np.ndarray:
    """Patterns by decreasing ``x_p``, each ``ceil(x_p)`` times (trimmed to the demand left)."""
    order = np.argsort(-x, kind="stable")
    chosen = [columns[p] for p in order if x[p] > 1e-9 for _ in range(math.ceil(x[p] - 1e-9))]
    return _fill(chosen, of_type, demand, sizes, capacity, k)
