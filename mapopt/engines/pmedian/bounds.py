"""p-median lower bounds: the Lagrangian dual of the assignment constraints by subgradient ascent
(Beasley 1993), and the LP relaxation of the strong formulation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..deadline import deadline_of, expired, time_left
from .costs import check_costs, evaluate, improvement_tol, is_integral, round_bound, trivial_bound
from .greedy import greedy_centers
from .restricted import Restricted
from .swap import SWAP_PASSES, swap_search

#: `lp_bound` solves the full LP only up to this many assignment variables (``n * m``).
LP_MAX_ENTRIES = 250_000
#: subgradient ascent: the first step size ``mu``, steps without progress before ``mu`` halves, and the ``mu``
#: at which the ascent stops (Beasley 1993's settings, which reach the LP bound on the OR-Library instances)
MU_START, MU_STALL, MU_MIN = 2.0, 20, 1e-4
#: seconds per (client, candidate) pair of the subgradient ascent's first step, which no deadline stops (two
#: starting multipliers, each valued: a few ``n x m`` passes; measured 1.2e-7 s at 5,000 x 5,000, doubled)
DUAL_START_PER_PAIR = 2.5e-7
#: `center_bound` works in row blocks of at most this many entries (256 KiB of int64, in cache)
CHUNK_ELEMENTS = 32768


def lagrange_value(Df: np.ndarray, lam: np.ndarray, p: int | None, f: np.ndarray | None,
                   must: np.ndarray | None = None, never: np.ndarray | None = None):
    """``L(lam) = sum_i lam_i + (p most negative rho_j)`` with ``rho_j = sum_i min(0, D_ij - lam_i)``
    (facility location: ``+ sum_j min(0, f_j + rho_j)``); returns the value and the open set.
    `must` and `never` (bool masks) force candidates open or closed; inf when that is impossible."""
    rho = np.minimum(Df - lam[:, None], 0.0).sum(axis=0)
    if must is None and never is None:
        if f is None:
            opened = np.argpartition(rho, p - 1)[:p] if p < len(rho) else np.arange(len(rho))
            return lam.sum() + rho[opened].sum(), opened
        val = f + rho
        opened = np.flatnonzero(val < 0)
        return lam.sum() + val[opened].sum(), opened
    cost = (rho if f is None else f + rho).copy()
    forced = np.zeros(len(cost), dtype=bool) if must is None else must
    allowed = ~forced if never is None else ~forced & ~never
    if f is not None:
        opened = np.flatnonzero(forced | (allowed & (cost < 0)))
        return lam.sum() + cost[opened].sum(), opened
    k, cand = p - int(forced.sum()), np.flatnonzero(allowed)
    if k < 0 or len(cand) < k or (never is not None and np.any(forced & never)):
        return math.inf, np.flatnonzero(forced)
    pick = cand[np.argpartition(cost[cand], k - 1)[:k]] if 0 < k < len(cand) else cand[:k]
    opened = np.concatenate([np.flatnonzero(forced), pick])
    return lam.sum() + cost[opened].sum(), opened


@dataclass(frozen=True, eq=False)
class Dual:
    """Subgradient result: the rounded bound, the raw value and multipliers of the best step, the best open
    set met on the way (as a solution) and its objective."""

    bound: float
    value: float
    lam: np.ndarray
    best_set: np.ndarray | None
    best_obj: float


def lagrangian(D: np.ndarray, p: int | None, f: np.ndarray | None, upper: float, start: np.ndarray | None,
               max_iter: int, deadline: float | None) -> Dual:
    """Subgradient ascent on the dual of the assignment constraints (Beasley 1993).

    Step ``mu (UB - L) / |g|^2`` with ``g_i = 1 - #{open j: D_ij < lam_i}``; ``mu`` halves after `MU_STALL`
    steps without progress. Starts from the better of ``lam = distance to the centre of `start```
    and ``lam = second-smallest row entry``. Stops at `max_iter`, at the deadline, when ``mu``
    is tiny, or when the bound meets the best objective.
    """
    n, m = D.shape
    Df = D.astype(np.float64, copy=False)
    fl = None if f is None else f.astype(np.float64)
    starts = []
    if start is not None and len(start):
        starts.append(D[np.arange(n)[:, None], np.asarray(start)[None, :]].min(axis=1).astype(np.float64))
    starts.append(np.partition(Df, 1, axis=1)[:, 1] if m > 1 else Df[:, 0].copy())
    vals = [lagrange_value(Df, lam, p, fl)[0] for lam in starts]
    lam = starts[int(np.argmax(vals))].copy()
    # L(lam) is valid for every lam; in a p-median, above a row's maximum lam_i cannot raise it (a unit of lam_i
    # adds 1 and takes 1 from every open rho_j), so the ascent is capped there. (Below the row's minimum it cannot
    # either, but a floor there slowed the ascent on pmed1-20: 11 optima proven instead of 12.)
    hi = Df.max(axis=1) if f is None else Df.max(axis=1) + fl.max()
    best_L, best_lam, best_set, best_obj = -math.inf, lam, None, math.inf
    ub = float(upper)
    mu, stall = MU_START, 0
    for _ in range(max(1, max_iter)):
        L, opened = lagrange_value(Df, lam, p, fl)
        if best_L == -math.inf or L > best_L + 1e-12 * max(1.0, abs(best_L)):
            best_L, best_lam, stall = L, lam, 0
        else:
            stall += 1
            if stall >= MU_STALL:
                mu, stall = mu / 2, 0
        if len(opened):
            _, obj = evaluate(D, opened, f)
            if obj < best_obj:
                best_obj, best_set = obj, np.sort(opened)
                ub = min(ub, float(obj))
        if round_bound(D, best_L) >= ub - improvement_tol(D, ub) or mu < MU_MIN or expired(deadline):
            break
        covered = (Df[:, opened] < lam[:, None]).sum(axis=1) if len(opened) else np.zeros(n)
        g = 1.0 - covered
        norm = float(g @ g)
        if norm == 0:  # the relaxed solution is feasible: L is its cost, so optimal
            break
        lam = np.clip(lam + mu * max(ub - L, 1e-9 * max(1.0, abs(ub))) / norm * g, None, hi)
    return Dual(round_bound(D, best_L), float(best_L), best_lam, best_set, best_obj)


def dual_fits(D: np.ndarray, deadline: float | None) -> bool:
    """Whether the subgradient ascent's first step fits in the time left to `deadline`."""
    left = time_left(deadline)
    return left is None or left >= DUAL_START_PER_PAIR * D.size


def cheap_bound(D: np.ndarray, p: int | None, f: np.ndarray | None, centers: np.ndarray | None) -> float:
    """The Lagrangian at its start (one ``O(n m)`` pass), never below the trivial bound."""
    return max(lagrangian(D, p, f, math.inf, centers, 1, None).bound, round_bound(D, trivial_bound(D, f)))


def center_bound(D: np.ndarray, p: int | None, f: np.ndarray | None, centers, *, lam=None,
                 clustering: bool = False) -> float:
    """A Lagrangian value at multipliers read off a solution, in one ``O(n m)`` pass over row blocks (exact in
    integers), never below the trivial bound: the bound a heuristic reports.

    With ``lam_i`` = client ``i``'s distance to its nearest centre in `centers` (or `lam` given),
    ``rho_j = sum_i min(0, D_ij - lam_i)`` is the cost change of adding candidate ``j`` to the solution:
    no ``p`` medians cost less than the solution plus its ``p`` best additions.

    `clustering` (client ``i`` is candidate ``i``, ``D_ii = 0``, costs nonnegative, as `peer.fits`): a centre's
    own ``lam`` rises from 0 to its second-smallest cost, which lowers only its own ``rho`` by as much, so the
    value never drops; on pmed1-20 and 512-candidate reuse blocks it beats both the plain value and the
    second-smallest-cost multipliers of `cheap_bound` (blocks: 31668 vs 30601 and 20373). Without it,
    the value is the better of this one and `cheap_bound`'s second-smallest-cost start.
    """
    n, m = D.shape
    centers = np.asarray(centers, dtype=np.int64)
    lam = (D[:, centers].min(axis=1) if lam is None else lam).copy()
    if clustering:
        lam[centers] = np.maximum(lam[centers], np.partition(D[centers], 1, axis=1)[:, 1])
    wide = np.int64 if is_integral(D) else np.float64
    rho = np.zeros(m, dtype=wide)  # sums in 64 bits, also over an int32 matrix
    d1 = d2 = near = None
    if not clustering:
        d1, d2, near = np.empty(n, dtype=D.dtype), np.empty(n, dtype=D.dtype), np.empty(n, dtype=np.int64)
    rows = max(1, CHUNK_ELEMENTS // m)  # one reused buffer of a few rows: a whole n x m temporary costs page faults
    buf = np.empty((rows, m), dtype=D.dtype)
    for r in range(0, n, rows):
        block = D[r:r + rows]
        tmp = buf[:len(block)]
        np.minimum(block, lam[r:r + rows, None], out=tmp)  # min(0, D - lam) = min(D, lam) - lam: two passes, not three
        rho += tmp.sum(axis=0, dtype=wide)
        if not clustering:
            near[r:r + rows] = block.argmin(axis=1)
            two = np.partition(block, 1, axis=1)[:, :2] if m > 1 else np.repeat(block, 2, axis=1)
            d1[r:r + rows], d2[r:r + rows] = two[:, 0], two[:, 1]
    lam_sum = lam.sum(dtype=wide)
    rho -= lam_sum
    value = _open_best(lam_sum, rho, p, f)
    if clustering:  # the row minima are the zero diagonal
        return max(round_bound(D, value), round_bound(D, float(f.min()) if f is not None else 0.0))
    # only the row minimum lies below the second-smallest cost: rho_j sums d1_i - d2_i over the clients nearest j
    rho2 = np.bincount(near, weights=d1 - d2, minlength=m).astype(np.float64)
    value = max(value, _open_best(d2.sum(), rho2, p, f))
    return max(round_bound(D, value), round_bound(D, float(d1.sum() + (f.min() if f is not None else 0))))


def _open_best(base, rho: np.ndarray, p: int | None, f: np.ndarray | None) -> float:
    """``base`` plus the ``p`` most negative ``rho_j`` (facility location: every negative ``f_j + rho_j``)."""
    if f is not None:
        return float(base + np.minimum(f + rho, 0).sum())
    k = min(p, len(rho))
    return float(base + (np.partition(rho, k - 1)[:k].sum() if k < len(rho) else rho.sum()))


def lagrangian_bound(D, p: int | None, upper: float | None = None, max_iter: int = 500,
                     time_limit: float | None = None, *, f=None) -> float:
    """Lower bound by subgradient ascent on the Lagrangian dual of the assignment constraints.

    ``L(lam) = sum_i lam_i + sum of the p most negative rho_j, rho_j = sum_i min(0, D_ij - lam_i)``
    is a valid bound for every ``lam``; the ascent approaches the LP bound. `upper` (an objective
    value; default: greedy plus FasterPAM) sets the step size.
    """
    D, p, f = check_costs(D, p, f)
    deadline = deadline_of(time_limit)
    start = None
    if upper is None:
        start = swap_search(D, greedy_centers(D, p, f, deadline), f, 0, SWAP_PASSES, deadline)
        upper = evaluate(D, start, f)[1]
    return max(lagrangian(D, p, f, upper, start, max_iter, deadline).bound, round_bound(D, trivial_bound(D, f)))


def lp_bound(D, p: int | None, max_entries: int = LP_MAX_ENTRIES, time_limit: float | None = None, *,
             f=None) -> float:
    """The LP relaxation of the strong formulation (``x_ij <= y_j``) by HiGHS (`scipy.optimize.linprog`).

    Each client keeps its ``m - p + 1`` nearest candidates (enough for every integer solution, so
    the value is still a bound, and never weaker). Above `max_entries` assignment variables
    (``n m``), or when HiGHS stops early, returns the `trivial_bound` instead (0 when every client
    is its own candidate at cost 0).
    """
    from scipy.optimize import linprog

    D, p, f = check_costs(D, p, f)
    n, m = D.shape
    fallback = round_bound(D, trivial_bound(D, f))
    if n * m > max_entries:
        return fallback
    c, A, lo, hi, vlo, vhi = Restricted(D, p, f, np.full(n, m)).matrices()
    eq = np.flatnonzero(lo == hi)
    up = np.flatnonzero((lo != hi) & np.isfinite(hi))
    down = np.flatnonzero((lo != hi) & np.isfinite(lo))
    options = {"presolve": True} | ({"time_limit": float(time_limit)} if time_limit is not None else {})
    res = linprog(c, A_ub=sp.vstack([A[up], -A[down]]), b_ub=np.concatenate([hi[up], -lo[down]]),
                  A_eq=A[eq], b_eq=hi[eq], bounds=np.column_stack([vlo, vhi]), method="highs", options=options)
    if res.status != 0:
        return fallback
    return max(fallback, round_bound(D, float(res.fun)))

