"""p-median and uncapacitated facility location over a precomputed cost matrix: the core of reuse clustering.

If you don't care about the algorithm, call ``solve(D, p)`` (p-median) or
``facility_location(D, f)`` (opening costs instead of a count): method ``"auto"`` returns the
best solution it finds within the time limit together with the best proven lower bound.

``D`` is ``n x m``: ``D[i, j]`` is the cost of serving client ``i`` from candidate ``j``
(in reuse clustering clients and candidates are the same sub-vectors and ``D[i, i] = 0``;
costs may be asymmetric, negative, integers or floats). The p-median problem opens exactly
``p`` candidates and serves each client from its cheapest open one::

    min  sum_ij D_ij x_ij                      (+ sum_j f_j y_j for facility location)
    s.t. sum_j x_ij = 1          for every client i
         x_ij <= y_j             (the strong formulation)
         sum_j y_j = p           (facility location: sum_j y_j >= 1 instead)
         y binary, x >= 0        (x is integral once y is)

Methods, all sharing the signature of `solve`:

- ``greedy``: add the candidate that lowers the cost most, ``p`` times (Kuehn and Hamburger
  1963); for facility location, while an opening pays for itself.
- ``fasterpam``: eager best-swap local search from the greedy solution with FasterPAM's
  O(n) gain of all ``p`` swaps of one candidate from nearest and second-nearest distances
  (Schubert and Rousseeuw 2021); with opening costs also add and drop moves.
- ``alternate``: k-medoids alternation, assign then re-centre each cluster (Park and Jun 2009).
- ``lagrangian``: subgradient ascent on the Lagrangian dual of the assignment constraints
  (Beasley 1993) for a bound; its open sets, improved by swaps, as solutions.
- ``milp``: the strong formulation solved by HiGHS (`scipy.optimize.milp`).
- ``cpsat``: the same model in CP-SAT with integer-scaled costs.
- ``auto``: greedy, FasterPAM, the Lagrangian bound, then the MILP while the model is small
  enough and time remains (`AUTO_TIME_LIMIT` seconds when no limit is given).

Exact models, reduced and sparsified without losing the proof:

1. *Lagrangian reduction* (Beasley 1993). With the best upper bound ``UB`` and multipliers
   ``lam``, every solution costs at least ``L(lam)`` plus the penalty of each candidate it opens
   outside the dual's open set plus ``max(0, D_ij - lam_i)`` for each pair it uses. Pairs and
   candidates whose bound reaches ``UB`` (integer costs: exceeds ``UB - 1``) cannot appear in a
   cheaper solution and leave the model; candidates whose closing costs that much are fixed
   open. The model then holds exactly the solutions that may beat ``UB``: if it is infeasible
   or its optimum is not below ``UB``, ``UB`` is optimal, and the bound is ``min(UB, model bound)``.
   In a p-median a client never needs more than its ``m - p + 1`` nearest candidates (any ``p``
   open ones include one of them).
2. *Probing* (when at least `PROBE_MIN_PAIRS` pairs survive): each free candidate is forced
   open (or, inside the dual's open set, closed) and the multipliers re-optimised by a short
   subgradient ascent; a bound that still exceeds the cut-off fixes it closed (open).
3. *Catch-alls*, only when more than `FULL_LIST_ENTRIES` pairs survive: client ``i`` keeps its
   ``k_i`` nearest surviving candidates (twice the rank of its centre in the start) plus a
   variable ``z_i`` priced at its next surviving candidate's cost. That is a relaxation, so its
   bound holds; when the optimal open set uses no catch-all it is optimal, otherwise the lists
   of the clients that fell back are widened and the model solved again.

On the OR-Library instances pmed1-20 (FasterPAM start, 1000 subgradient steps) the dual bound
alone proves 12 optima; probing leaves pmed16 (p = 5) 19 of 400 candidates free and 7.6k of
160k pairs, and the MILP proves every optimum in seconds (`experiments/results/pmed/classic.md`).

References
----------
A. A. Kuehn, M. J. Hamburger, "A heuristic program for locating warehouses", Management
Science 9 (1963) 643-666.
C. S. ReVelle, R. W. Swain, "Central facilities location", Geographical Analysis 2 (1970) 30-42.
J. E. Beasley, "Lagrangean heuristics for location problems", European Journal of Operational
Research 65 (1993) 383-399.
H.-S. Park, C.-H. Jun, "A simple and fast algorithm for K-medoids clustering", Expert Systems
with Applications 36 (2009) 3336-3341.
E. Schubert, P. J. Rousseeuw, "Fast and eager k-medoids clustering: O(k) runtime improvement of
the PAM, CLARA, and CLARANS algorithms", Information Systems 101 (2021) 101804.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import SolverError
from ..result import Status
from .deadline import deadline_of, expired, time_left

log = logging.getLogger(__name__)

METHODS = ("greedy", "fasterpam", "alternate", "lagrangian", "milp", "cpsat", "auto")
#: `auto` runs the MILP only when the sparsified model has at most this many assignment variables.
MILP_MAX_ENTRIES = 2_000_000
#: `auto` without a time limit gives its exact phase this many seconds (an LP gap of a few per cent can
#: keep HiGHS busy for minutes); pass a time limit, or call `milp`, for longer proofs.
AUTO_TIME_LIMIT = 10.0
#: `lp_bound` solves the full LP only up to this many assignment variables (``n * m``).
LP_MAX_ENTRIES = 250_000
_BLOCK_ELEMENTS = 1 << 21  # n x B temporaries of the swap search and the greedy


@dataclass(frozen=True, eq=False)
class Medians:
    """Open candidates (`centers`, sorted column indices of ``D``), each client's centre (`assign`,
    a column index of ``D``), the objective (opening costs included), the best proven lower bound
    and the status (`Status.OPTIMAL` when the objective meets the bound)."""

    centers: np.ndarray
    assign: np.ndarray
    objective: float
    bound: float
    status: Status

    @property
    def gap(self) -> float:
        """Relative gap ``(objective - bound) / |objective|``; 0 when proven optimal."""
        if self.objective == 0 or self.status == Status.OPTIMAL:
            return 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))


# ------------------------------------------------------------------------------------------------ validation

def check_costs(D, p=None, f=None) -> tuple[np.ndarray, int | None, np.ndarray | None]:
    """``D`` as int64 (integer input) or float64, the count ``p`` and the opening costs ``f``.

    Exactly one of `p` (p-median, ``1 <= p <= m``) and `f` (facility location: a scalar or one
    nonnegative cost per candidate) is given. Raises `SolverError` with a one-line message.
    """
    D = np.asarray(D)
    if D.ndim != 2 or D.shape[0] < 1 or D.shape[1] < 1:
        raise SolverError(f"D must be a nonempty 2-D cost matrix (clients x candidates), got shape {D.shape}")
    if D.dtype == bool or np.issubdtype(D.dtype, np.integer):
        D = D.astype(np.int64)
    elif np.issubdtype(D.dtype, np.floating):
        D = D.astype(np.float64)
        if not np.all(np.isfinite(D)):
            raise SolverError("D must hold finite numbers")
    else:
        raise SolverError(f"D must hold numbers, got dtype {D.dtype}")
    n, m = D.shape
    if (p is None) == (f is None):
        raise SolverError("give either p (p-median) or f (facility location opening costs)")
    if p is not None:
        if isinstance(p, bool) or not isinstance(p, numbers.Integral) or not 1 <= p <= m:
            raise SolverError(f"p must be an integer in 1..{m} (the number of candidates), got {p!r}")
        p = int(p)
    else:
        f = np.broadcast_to(np.asarray(f), (m,))
        if not (np.issubdtype(f.dtype, np.integer) or np.issubdtype(f.dtype, np.floating)) \
                or not np.all(np.isfinite(f)) or np.any(f < 0):
            raise SolverError(f"f must be a nonnegative finite scalar or one cost per candidate ({m})")
        if np.issubdtype(f.dtype, np.floating) and D.dtype == np.int64:
            D = D.astype(np.float64)
        f = f.astype(D.dtype).copy()
    scale = float(np.abs(D).max()) + (float(f.max()) if f is not None else 0.0)
    if D.dtype == np.int64 and scale * 4 * (n + m + 1) >= 2.0 ** 62:
        raise SolverError("integer costs too large for exact 64-bit sums; scale them down")
    return D, p, f


def _integral(D: np.ndarray) -> bool:
    return D.dtype == np.int64


def _big(D: np.ndarray):
    """A distance above every entry: the second-nearest distance of a client with one open centre."""
    return D.dtype.type(2 * np.abs(D).max() + 1)


def _tol(D: np.ndarray, value: float) -> float:
    """Improvement threshold: exact for integer costs, relative for floats (stops cycling on rounding)."""
    return 0.0 if _integral(D) else 1e-10 * max(1.0, abs(value))


# ------------------------------------------------------------------------------------------------ evaluation

def evaluate(D: np.ndarray, centers, f: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Each client's cheapest centre among `centers` (a column index) and the total cost."""
    centers = np.asarray(centers, dtype=np.int64)
    sub = D[:, centers]
    k = np.argmin(sub, axis=1)
    total = sub[np.arange(len(D)), k].sum() + (f[centers].sum() if f is not None else 0)
    return centers[k], total.item()


def _round_bound(D: np.ndarray, bound: float) -> float:
    """Integer costs have an integer optimum, so a bound rounds up (after a margin for float error)."""
    if not math.isfinite(bound):
        return bound
    if _integral(D):
        return float(math.ceil(bound - 1e-11 * abs(bound) - 1e-6))
    return bound - 1e-12 * abs(bound)


def _result(D: np.ndarray, centers, f: np.ndarray | None, bound: float, tol: float = 0.0) -> Medians:
    centers = np.unique(np.asarray(centers, dtype=np.int64))
    assign, obj = evaluate(D, centers, f)
    bound = min(float(bound), float(obj))
    optimal = obj <= bound + max(tol, _tol(D, obj))
    return Medians(centers, assign, float(obj), float(obj) if optimal and _integral(D) else bound,
                   Status.OPTIMAL if optimal else Status.FEASIBLE)


def trivial_bound(D: np.ndarray, f: np.ndarray | None = None) -> float:
    """``sum_i min_j D_ij`` (plus the cheapest opening): every client pays at least its cheapest candidate.
    It is 0 when every client is a candidate of cost 0 to itself."""
    return float(D.min(axis=1).sum() + (f.min() if f is not None else 0))


# ------------------------------------------------------------------------------------------------ greedy

def _greedy(D: np.ndarray, p: int | None, f: np.ndarray | None) -> np.ndarray:
    """Greedy add: open the candidate lowering the total most (lowest index on ties)."""
    n, m = D.shape
    chosen: list[int] = []
    is_open = np.zeros(m, dtype=bool)
    cur = None
    chunk = max(1, _BLOCK_ELEMENTS // n)
    while len(chosen) < (p if p is not None else m):
        if cur is None:
            totals = D.sum(axis=0)
        else:
            totals = np.concatenate([np.minimum(cur[:, None], D[:, s:s + chunk]).sum(axis=0)
                                     for s in range(0, m, chunk)])
        if f is not None:
            totals = totals + f
        free = np.flatnonzero(~is_open)
        j = int(free[np.argmin(totals[free])])
        if f is not None and cur is not None and not totals[j] < cur.sum() - _tol(D, cur.sum()):
            break  # the opening costs more than it saves
        chosen.append(j)
        is_open[j] = True
        cur = D[:, j].copy() if cur is None else np.minimum(cur, D[:, j])
    return np.array(chosen, dtype=np.int64)


def greedy(D, p: int | None, *, f=None) -> Medians:
    """Greedy add (Kuehn and Hamburger 1963), ``O(p n m)``; the bound is `lagrangian_bound` at its start."""
    D, p, f = check_costs(D, p, f)
    centers = _greedy(D, p, f)
    return _result(D, centers, f, _cheap_bound(D, p, f, centers))


# ------------------------------------------------------------------------------------------------ swap search

class _State:
    """Open centres and, per client, the nearest and second-nearest open one (positions in `centers`)."""

    def __init__(self, D: np.ndarray, centers, f: np.ndarray | None):
        self.D, self.f, self.big = D, f, _big(D)
        n = len(D)
        self.centers = np.array(centers, dtype=np.int64)
        self.near = np.zeros(n, dtype=np.int64)
        self.sec = np.zeros(n, dtype=np.int64)
        self.dn = np.zeros(n, dtype=D.dtype)
        self.ds = np.zeros(n, dtype=D.dtype)
        self._recompute(np.arange(n))

    def _recompute(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        sub = self.D[np.ix_(rows, self.centers)]
        r = np.arange(len(rows))
        near = np.argmin(sub, axis=1)
        self.near[rows], self.dn[rows] = near, sub[r, near]
        if sub.shape[1] == 1:
            self.sec[rows], self.ds[rows] = -1, self.big
            return
        sub[r, near] = self.big
        sec = np.argmin(sub, axis=1)
        self.sec[rows], self.ds[rows] = sec, sub[r, sec]

    def objective(self):
        return (self.dn.sum() + (self.f[self.centers].sum() if self.f is not None else 0)).item()

    def members(self) -> sp.csr_matrix:
        """``k x n`` indicator of each centre's clients."""
        n, k = len(self.near), len(self.centers)
        return sp.csr_matrix((np.ones(n, dtype=self.D.dtype), (self.near, np.arange(n))), shape=(k, n))

    def removal_loss(self, S: sp.csr_matrix) -> np.ndarray:
        """Cost increase of closing each centre: its clients move to their second nearest."""
        return S @ (self.ds - self.dn)

    def swap(self, q: int, x: int) -> None:
        """Replace the centre at position `q` by candidate `x`."""
        self.centers[q] = x
        hit = (self.near == q) | (self.sec == q)
        self._insert(q, x, ~hit)
        self._recompute(np.flatnonzero(hit))

    def add(self, x: int) -> None:
        self.centers = np.append(self.centers, x)
        self._insert(len(self.centers) - 1, x, np.ones(len(self.near), dtype=bool))

    def drop(self, q: int) -> None:
        hit = (self.near == q) | (self.sec == q)
        self.centers = np.delete(self.centers, q)
        self.near[self.near > q] -= 1
        self.sec[self.sec > q] -= 1
        self._recompute(np.flatnonzero(hit))

    def _insert(self, q: int, x: int, rows: np.ndarray) -> None:
        d = self.D[:, x]
        a = rows & (d < self.dn)
        b = rows & ~a & (d < self.ds)
        self.sec[a], self.ds[a] = self.near[a], self.dn[a]
        self.near[a], self.dn[a] = q, d[a]
        self.sec[b], self.ds[b] = q, d[b]


def _swap_search(D: np.ndarray, centers, f: np.ndarray | None, seed: int, max_iter: int,
                 deadline: float | None) -> np.ndarray:
    """Eager swap search (FasterPAM): candidates in a seeded random order; the first candidate with an
    improving swap (against its best centre to remove) is swapped in; stop after a full pass without
    improvement, `max_iter` passes, or the deadline. With opening costs, add and drop moves too.

    Candidates are evaluated in blocks of ``B`` (vectorized); after a move the block restarts at the
    next candidate, so the result is the one of the one-at-a-time algorithm. For candidate ``x``
    and centre ``m`` the swap gain is ``Delta_x + loss_m + corr_mx`` where, over clients ``o``,
    ``Delta_x`` sums ``d(o, x) - dn_o`` where ``x`` is nearer than the nearest centre, ``loss_m`` is the
    removal loss of ``m`` and ``corr`` adds, at the nearest centre of ``o``, ``dn_o - ds_o`` (when ``x`` is
    nearer than it) or ``d(o, x) - ds_o`` (when ``x`` is nearer than the second nearest).
    """
    n, m = D.shape
    st = _State(D, centers, f)
    order = np.random.default_rng(seed).permutation(m)
    is_center = np.zeros(m, dtype=bool)
    is_center[st.centers] = True
    bmax = max(8, min(m, _BLOCK_ELEMENTS // n))
    block, pos, since, evaluated = min(32, bmax), 0, 0, 0
    obj = st.objective()
    while since < m and evaluated < max_iter * m and not expired(deadline):
        S = st.members()
        loss = st.removal_loss(S)
        if f is not None and len(st.centers) > 1:
            drop = loss - f[st.centers]
            q = int(np.argmin(drop))
            if drop[q] < -_tol(D, obj):
                is_center[st.centers[q]] = False
                st.drop(q)
                obj, since = st.objective(), 0
                continue
        size = min(block, m - since)
        xs = order[(pos + np.arange(size)) % m]
        Dx = D[:, xs]
        dn, ds = st.dn[:, None], st.ds[:, None]
        a = Dx < dn
        b = ~a & (Dx < ds)
        add = np.where(a, Dx - dn, 0).sum(axis=0)
        G = (S @ np.where(a, dn - ds, np.where(b, Dx - ds, 0))) + loss[:, None] + add[None, :]
        if f is not None:
            G = G + f[xs][None, :] - f[st.centers][:, None]
        q = np.argmin(G, axis=0)
        gain = G[q, np.arange(size)]
        adding = np.zeros(size, dtype=bool)
        if f is not None:
            adding = add + f[xs] < gain
            gain = np.where(adding, add + f[xs], gain)
        good = np.flatnonzero(~is_center[xs] & (gain < -_tol(D, obj)))
        evaluated += size if not len(good) else int(good[0]) + 1
        if not len(good):
            since += size
            pos += size
            block = min(2 * block, bmax)
            continue
        k = int(good[0])
        x = int(xs[k])
        if adding[k]:
            st.add(x)
        else:
            is_center[st.centers[q[k]]] = False
            st.swap(int(q[k]), x)
        is_center[x] = True
        obj = st.objective()
        since, pos = 0, pos + k + 1
        block = max(8, block // 2)
    return np.sort(st.centers)


def _init_centers(D: np.ndarray, p: int | None, f: np.ndarray | None, init, seed: int) -> np.ndarray:
    m = D.shape[1]
    if isinstance(init, str):
        if init == "greedy":
            return _greedy(D, p, f)
        if init == "random":
            k = p if p is not None else 1
            return np.sort(np.random.default_rng(seed).choice(m, size=k, replace=False)).astype(np.int64)
        raise SolverError(f"init must be 'greedy', 'random' or an array of candidates, got {init!r}")
    centers = np.asarray(init, dtype=np.int64).ravel()
    if len(np.unique(centers)) != len(centers) or np.any(centers < 0) or np.any(centers >= m) \
            or (p is not None and len(centers) != p) or not len(centers):
        raise SolverError(f"init must hold {p if p is not None else 'at least one'} distinct candidates in 0..{m - 1}")
    return centers


def fasterpam(D, p: int | None, init="greedy", seed: int = 0, max_iter: int = 100, *, f=None,
              time_limit: float | None = None) -> Medians:
    """FasterPAM eager swaps from `init` (``"greedy"``, ``"random"`` or ``p`` candidate indices).

    Ends in a local optimum: no single swap (nor, with opening costs `f`, add or drop) improves,
    unless `max_iter` passes or `time_limit` stop it first. Never worse than `init`. Each pass
    costs ``O(n m)`` plus ``O(n)`` per move, vectorized over blocks of candidates.
    """
    D, p, f = check_costs(D, p, f)
    start = _init_centers(D, p, f, init, seed)
    centers = _swap_search(D, start, f, seed, max_iter, deadline_of(time_limit))
    return _result(D, centers, f, _cheap_bound(D, p, f, centers))


def alternate(D, p: int, init="greedy", max_iter: int = 100, seed: int = 0) -> Medians:
    """k-medoids alternation (Park and Jun 2009): assign clients to their nearest centre, then move each
    centre to the candidate cheapest for its cluster (any candidate not already open). Never worse than `init`."""
    D, p, f = check_costs(D, p)
    centers = _init_centers(D, p, None, init, seed).copy()
    n, m = D.shape
    for _ in range(max_iter):
        assign, _ = evaluate(D, centers)
        pos = np.searchsorted(np.sort(centers), assign)
        order = np.argsort(centers)
        S = sp.csr_matrix((np.ones(n, dtype=D.dtype), (order[pos], np.arange(n))), shape=(p, n))
        cost = S @ D                                            # p x m: each cluster's cost at every candidate
        used = np.zeros(m, dtype=bool)
        used[centers] = True
        changed = False
        for k in range(p):
            row = cost[k]
            free = np.flatnonzero(~used)
            if not len(free):
                break
            j = int(free[np.argmin(row[free])])
            if row[j] < row[centers[k]] - _tol(D, row[centers[k]]):
                used[centers[k]], used[j] = False, True
                centers[k] = j
                changed = True
        if not changed:
            break
    return _result(D, centers, None, _cheap_bound(D, p, None, centers))


# ------------------------------------------------------------------------------------------------ bounds

def _lagrange_value(Df: np.ndarray, lam: np.ndarray, p: int | None, f: np.ndarray | None,
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
class _Dual:
    """Subgradient result: the rounded bound, the raw value and multipliers of the best step, the best open
    set met on the way (as a solution) and its objective."""

    bound: float
    value: float
    lam: np.ndarray
    best_set: np.ndarray | None
    best_obj: float


def _lagrangian(D: np.ndarray, p: int | None, f: np.ndarray | None, upper: float, start: np.ndarray | None,
                max_iter: int, deadline: float | None) -> _Dual:
    """Subgradient ascent on the dual of the assignment constraints (Beasley 1993).

    Step ``mu (UB - L) / |g|^2`` with ``g_i = 1 - #{open j: D_ij < lam_i}``; ``mu`` halves after 20
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
    vals = [_lagrange_value(Df, lam, p, fl)[0] for lam in starts]
    lam = starts[int(np.argmax(vals))].copy()
    best_L, best_lam, best_set, best_obj = -math.inf, lam, None, math.inf
    ub = float(upper)
    mu, stall = 2.0, 0
    for _ in range(max(1, max_iter)):
        L, opened = _lagrange_value(Df, lam, p, fl)
        if best_L == -math.inf or L > best_L + 1e-12 * max(1.0, abs(best_L)):
            best_L, best_lam, stall = L, lam, 0
        else:
            stall += 1
            if stall >= 20:
                mu, stall = mu / 2, 0
        if len(opened):
            _, obj = evaluate(D, opened, f)
            if obj < best_obj:
                best_obj, best_set = obj, np.sort(opened)
                ub = min(ub, float(obj))
        if _round_bound(D, best_L) >= ub - _tol(D, ub) or mu < 1e-4 or expired(deadline):
            break
        covered = (Df[:, opened] < lam[:, None]).sum(axis=1) if len(opened) else np.zeros(n)
        g = 1.0 - covered
        norm = float(g @ g)
        if norm == 0:  # the relaxed solution is feasible: L is its cost, so optimal
            break
        lam = lam + mu * max(ub - L, 1e-9 * max(1.0, abs(ub))) / norm * g
    return _Dual(_round_bound(D, best_L), float(best_L), best_lam, best_set, best_obj)


def _cheap_bound(D: np.ndarray, p: int | None, f: np.ndarray | None, centers: np.ndarray | None) -> float:
    """The Lagrangian at its start (one ``O(n m)`` pass), never below the trivial bound."""
    return max(_lagrangian(D, p, f, math.inf, centers, 1, None).bound, _round_bound(D, trivial_bound(D, f)))


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
        start = _swap_search(D, _greedy(D, p, f), f, 0, 100, deadline)
        upper = evaluate(D, start, f)[1]
    return max(_lagrangian(D, p, f, upper, start, max_iter, deadline).bound, _round_bound(D, trivial_bound(D, f)))


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
    fallback = _round_bound(D, trivial_bound(D, f))
    if n * m > max_entries:
        return fallback
    c, A, lo, hi, vlo, vhi = _Restricted(D, p, f, np.full(n, m)).matrices()
    eq = np.flatnonzero(lo == hi)
    up = np.flatnonzero((lo != hi) & np.isfinite(hi))
    down = np.flatnonzero((lo != hi) & np.isfinite(lo))
    options = {"presolve": True} | ({"time_limit": float(time_limit)} if time_limit is not None else {})
    res = linprog(c, A_ub=sp.vstack([A[up], -A[down]]), b_ub=np.concatenate([hi[up], -lo[down]]),
                  A_eq=A[eq], b_eq=hi[eq], bounds=np.column_stack([vlo, vhi]), method="highs", options=options)
    if res.status != 0:
        return fallback
    return max(fallback, _round_bound(D, float(res.fun)))


# ------------------------------------------------------------------------------------------------ exact models

#: a reduced model with at most this many assignment variables keeps every allowed pair (no catch-alls)
FULL_LIST_ENTRIES = 300_000
#: subgradient steps before an exact solve
DUAL_ITER = 1000
#: probing runs when the reduction keeps at least this many pairs (below, the MILP is quicker than the probes)
PROBE_MIN_PAIRS = 5000
#: probing stops after this many probes in a row fix nothing
PROBE_PATIENCE = 10


def _reduce(D: np.ndarray, p: int | None, f: np.ndarray | None, dual: _Dual, upper: float):
    """Lagrangian reduction for solutions cheaper than `upper` (Beasley 1993).

    For any solution, cost >= ``L(lam)`` plus the penalty of opening a candidate outside the
    dual's open set (``rho_j - rho_(p)``, the p-th smallest; facility location ``f_j + rho_j``)
    plus ``max(0, D_ij - lam_i)`` for each pair it uses. Pairs and openings whose bound exceeds
    `upper` (integer costs: ``upper - 1``) cannot appear in a cheaper solution: they are removed,
    candidates whose closing costs as much are fixed open. Returns ``(allowed n x m, fixed m:
    -1 free, 0 closed, 1 open)``, or None when no cheaper solution exists.
    """
    n, m = D.shape
    Df = D.astype(np.float64, copy=False)
    lam = dual.lam
    L, opened = _lagrange_value(Df, lam, p, None if f is None else f.astype(np.float64))
    R = Df - lam[:, None]
    rho = np.minimum(R, 0.0).sum(axis=0)
    if f is None:
        s = np.sort(rho)
        rp, rp1 = s[p - 1], (s[p] if p < m else math.inf)
        in_set = np.zeros(m, dtype=bool)
        in_set[opened] = True
        open_pen = np.where(in_set, 0.0, rho - rp)
        close_pen = np.where(in_set, rp1 - rho, 0.0)
    else:
        val = f.astype(np.float64) + rho
        open_pen, close_pen = np.maximum(val, 0.0), np.maximum(-val, 0.0)
    thr = _threshold(D, upper)
    if L > thr:
        return None
    closed = L + open_pen > thr
    fixed = np.full(m, -1, dtype=np.int64)
    fixed[closed] = 0
    fixed[L + close_pen > thr] = 1
    allowed = (L + open_pen[None, :] + np.maximum(R, 0.0) <= thr) & ~closed[None, :]
    if not allowed.any(axis=1).all() or (p is not None and ((fixed == 1).sum() > p or (fixed != 0).sum() < p)):
        return None
    return allowed, fixed


def _probe_bound(Df: np.ndarray, lam: np.ndarray, p: int | None, f: np.ndarray | None, must: np.ndarray,
                 never: np.ndarray, upper: float, thr: float, iters: int) -> float:
    """The Lagrangian bound with candidates forced open (`must`) or closed (`never`), the multipliers
    re-optimised from `lam` by a short subgradient ascent; stops once the bound exceeds `thr`."""
    lam = lam.copy()
    best, mu, stall = -math.inf, 2.0, 0
    for _ in range(iters):
        L, opened = _lagrange_value(Df, lam, p, f, must, never)
        if not math.isfinite(L):
            return L
        if L > best + 1e-12 * max(1.0, abs(best)) or best == -math.inf:
            best, stall = L, 0
        else:
            stall += 1
            if stall >= 10:
                mu, stall = mu / 2, 0
        if best > thr or mu < 1e-3:
            break
        g = 1.0 - (Df[:, opened] < lam[:, None]).sum(axis=1)
        norm = float(g @ g)
        if norm == 0:
            break
        lam = lam + mu * max(upper - L, 1e-9 * max(1.0, abs(upper))) / norm * g
    return best


def _probe(D: np.ndarray, p: int | None, f: np.ndarray | None, allowed: np.ndarray, fixed: np.ndarray,
           lam: np.ndarray, upper: float, deadline: float | None, iters: int = 200) -> np.ndarray:
    """Probing, a stronger Lagrangian reduction: each free candidate outside the dual's open set is
    forced open (inside it: forced closed) over the pairs the reduction kept, and the multipliers
    re-optimised; when the bound still exceeds the threshold, no cheaper solution opens (closes) it,
    so it is fixed closed (open). Fixings found feed the later probes. Returns the new `fixed`."""
    fixed = fixed.copy()
    thr = _threshold(D, upper)
    cols = np.flatnonzero(fixed != 0)
    Df = np.where(allowed[:, cols], D[:, cols], _big(D)).astype(np.float64)
    fl = None if f is None else f[cols].astype(np.float64)
    must0, never0 = fixed[cols] == 1, np.zeros(len(cols), dtype=bool)
    L, opened = _lagrange_value(Df, lam, p, fl, must0)
    in_set = np.zeros(len(cols), dtype=bool)
    in_set[opened] = True
    # most promising first (largest penalty at the current multipliers); stop after a run of failures
    rho = np.minimum(Df - lam[:, None], 0.0).sum(axis=0)
    if fl is not None:
        penalty = np.abs(fl + rho)
    else:
        free_rho = np.sort(rho[~must0])
        k = p - int(must0.sum())
        cut_in = free_rho[k - 1] if k >= 1 else -math.inf
        cut_out = free_rho[k] if k < len(free_rho) else math.inf
        penalty = np.where(in_set, cut_out - rho, rho - cut_in)
    failures = 0
    for c in np.argsort(-penalty, kind="stable"):
        if must0[c]:
            continue
        if expired(deadline) or failures >= PROBE_PATIENCE:
            break
        must, never = must0.copy(), never0.copy()
        if in_set[c]:
            never[c] = True
        else:
            must[c] = True
        if _probe_bound(Df, lam, p, fl, must, never, upper, thr, iters) > thr:
            failures = 0
            if in_set[c]:
                must0[c], fixed[cols[c]] = True, 1
            else:
                never0[c], fixed[cols[c]] = True, 0
        else:
            failures += 1
    return fixed


def _threshold(D: np.ndarray, upper: float) -> float:
    """A solution beats `upper` only if it costs at most this (integer costs: ``upper - 1``, with a float margin)."""
    scale = max(1.0, abs(float(upper)))
    return float(upper) - 1 + 1e-11 * scale + 1e-6 if _integral(D) else float(upper) - 1e-9 * scale


class _Restricted:
    """The strong formulation over each client's `k` nearest allowed candidates plus a catch-all (module docstring).

    Variable order: ``y`` (m), ``x`` (one per kept pair, client-major), ``z`` (clients with a catch-all).
    """

    def __init__(self, D: np.ndarray, p: int | None, f: np.ndarray | None, k, allowed: np.ndarray | None = None,
                 fixed: np.ndarray | None = None, order: np.ndarray | None = None):
        n, m = D.shape
        self.D, self.p, self.f, self.allowed = D, p, f, allowed
        self.fixed = np.full(m, -1, dtype=np.int64) if fixed is None else fixed
        self.order = np.argsort(D, axis=1, kind="stable") if order is None else order
        A = np.ones((n, m), dtype=bool) if allowed is None else np.take_along_axis(allowed, self.order, axis=1)
        if p is not None:
            A[:, m - p + 1:] = False  # any p open candidates include one of the m - p + 1 nearest
        self.sorted_allowed = A
        cum = np.cumsum(A, axis=1, dtype=np.int32)
        self.count = cum[:, -1].astype(np.int64)
        self.k = np.minimum(np.broadcast_to(np.asarray(k, dtype=np.int64), (n,)), self.count)
        keep = A & (cum <= self.k[:, None])
        self.row, rank = np.nonzero(keep)
        self.col = self.order[self.row, rank]
        self.cost = D[self.row, self.col]
        self.zrow = np.flatnonzero(self.count > self.k)
        nxt = A[self.zrow] & (cum[self.zrow] == self.k[self.zrow, None] + 1)
        self.zcost = D[self.zrow, self.order[self.zrow, np.argmax(nxt, axis=1)]] if len(self.zrow) \
            else np.zeros(0, dtype=D.dtype)

    @property
    def entries(self) -> int:
        return len(self.col)

    def matrices(self):
        """Objective, constraint matrix, row bounds (assignment rows, links, count) and variable bounds."""
        n, m = self.D.shape
        e, z = self.entries, len(self.zrow)
        c = np.concatenate([self.f if self.f is not None else np.zeros(m), self.cost, self.zcost]).astype(np.float64)
        xid = m + np.arange(e)
        rows = [self.row, self.zrow, n + np.arange(e), n + np.arange(e), np.full(m, n + e)]
        cols = [xid, m + e + np.arange(z), xid, self.col, np.arange(m)]
        vals = [np.ones(e), np.ones(z), np.ones(e), -np.ones(e), np.ones(m)]
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n + e + 1, m + e + z))
        lo = np.concatenate([np.ones(n), np.full(e, -np.inf), [self.p if self.p is not None else 1]]).astype(float)
        hi = np.concatenate([np.ones(n), np.zeros(e), [self.p if self.p is not None else np.inf]]).astype(float)
        vlo = np.zeros(m + e + z)
        vhi = np.ones(m + e + z)
        vlo[:m][self.fixed == 1] = 1
        vhi[:m][self.fixed == 0] = 0
        return c, A, lo, hi, vlo, vhi

    def widen(self, centers: np.ndarray) -> bool:
        """Lengthen the lists of clients that fall back on their catch-all under `centers`; False if none does."""
        is_open = np.zeros(self.D.shape[1], dtype=bool)
        is_open[centers] = True
        served = np.zeros(len(self.D), dtype=bool)
        served[self.row[is_open[self.col]]] = True
        short = self.zrow[~served[self.zrow]]
        if not len(short):
            return False
        assign, _ = evaluate(self.D, centers, self.f)
        dn = self.D[short, assign[short]]
        ds = np.take_along_axis(self.D[short], self.order[short], axis=1)
        need = (self.sorted_allowed[short] & (ds <= dn[:, None])).sum(axis=1)
        k = self.k.copy()
        k[short] = np.maximum(2 * k[short], need)
        self.__init__(self.D, self.p, self.f, k, self.allowed, self.fixed, self.order)
        return True


def _initial_k(D: np.ndarray, centers: np.ndarray, f: np.ndarray | None, neighbours: int | None) -> np.ndarray:
    """First list lengths: `neighbours`, else twice the rank of each client's centre in `centers` (at least 8)."""
    n, m = D.shape
    if neighbours is not None:
        return np.full(n, max(1, int(neighbours)))
    assign, _ = evaluate(D, centers, f)
    rank = (D <= D[np.arange(n), assign][:, None]).sum(axis=1)
    return np.maximum(2 * rank, min(m, 8))


def _exact(D: np.ndarray, p: int | None, f: np.ndarray | None, backend: str, time_limit: float | None,
           seed: int, workers: int, hint, neighbours: int | None, dual: _Dual | None = None,
           max_entries: int | None = None) -> Medians:
    """Exact solve: a start, the Lagrangian bound and reduction, then `backend` on the sparsified model
    of the cheaper solutions, widening lists until the answer is proven or time runs out. With
    `max_entries`, a model larger than that is not solved (the start and the bound are returned)."""
    deadline = deadline_of(time_limit)
    if hint is None:
        hint = _swap_search(D, _greedy(D, p, f), f, seed, 100, deadline)
    else:
        hint = _init_centers(D, p, f, hint, seed)
    best, best_obj = np.sort(hint), evaluate(D, hint, f)[1]
    if dual is None:
        left = time_left(deadline)
        dual = _lagrangian(D, p, f, best_obj, best, DUAL_ITER, deadline_of(None if left is None else 0.2 * left))
        if dual.best_set is not None and best_obj > dual.bound + _tol(D, best_obj):
            # the dual's open set, improved by swaps, often beats the start (a better cut-off for the reduction)
            other = _swap_search(D, dual.best_set, f, seed, 100, deadline)
            if evaluate(D, other, f)[1] < best_obj:
                best, best_obj = np.sort(other), evaluate(D, other, f)[1]
    if dual.best_set is not None and dual.best_obj < best_obj:
        best, best_obj = dual.best_set, dual.best_obj
    bound = max(dual.bound, _round_bound(D, trivial_bound(D, f)))
    tol = 0.0 if _integral(D) else 1e-8 * max(1.0, abs(float(best_obj)))
    upper = best_obj  # the reduction keeps what may beat it, so a proven bound is min(upper, model bound)
    reduced = None if best_obj <= bound + tol else _reduce(D, p, f, dual, upper)
    if reduced is None:  # no cheaper solution exists
        return _result(D, best, f, max(bound, float(upper)) if best_obj > bound + tol else bound, tol)
    allowed, fixed = reduced
    if int(allowed.sum()) >= PROBE_MIN_PAIRS:
        left = time_left(deadline)
        fixed = _probe(D, p, f, allowed, fixed, dual.lam, upper, deadline_of(None if left is None else 0.3 * left))
        allowed &= (fixed != 0)[None, :]
        if not allowed.any(axis=1).all() or (p is not None and ((fixed == 1).sum() > p or (fixed != 0).sum() < p)):
            return _result(D, best, f, max(bound, float(upper)), tol)  # no cheaper solution exists
    full = neighbours is None and int(allowed.sum()) <= FULL_LIST_ENTRIES
    model = _Restricted(D, p, f, D.shape[1] if full else _initial_k(D, best, f, neighbours), allowed, fixed)
    log.debug("%s: reduced to %d pairs, %d free candidates", backend, int(allowed.sum()), int((fixed != 0).sum()))
    while max_entries is None or model.entries <= max_entries:
        left = time_left(deadline)
        if left is not None and left <= 0:
            break
        if backend == "milp":
            centers, rbound, solved, stol = _milp_restricted(model, left)
        else:
            centers, rbound, solved, stol = _cpsat_restricted(model, left, seed, workers, best, upper)
        tol = max(tol, stol)
        # a model bound at upper (integers: above upper - 1) means no cheaper solution exists
        at_upper = rbound >= float(upper) - (0.5 if _integral(D) else tol)
        bound = max(bound, float(upper) if at_upper else _round_bound(D, rbound))
        if centers is not None:
            obj = evaluate(D, centers, f)[1]
            if obj < best_obj:
                best, best_obj = np.sort(centers), obj
        log.debug("%s: %d entries, bound %s, solved %s", backend, model.entries, rbound, solved)
        if best_obj <= bound + tol or not solved or centers is None or not model.widen(centers):
            break
    return _result(D, best, f, bound, tol)


def _milp_restricted(model: _Restricted, time_limit: float | None):
    """HiGHS on the restricted model: open set (or None), proven bound (inf when infeasible: no cheaper
    solution), whether it finished, and the tolerance of its optimality (relative gap 1e-9)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    c, A, lo, hi, vlo, vhi = model.matrices()
    m = model.D.shape[1]
    integrality = np.zeros(len(c))
    integrality[:m] = 1
    options = {"disp": False, "presolve": True, "mip_rel_gap": 1e-9}
    if time_limit is not None:
        options["time_limit"] = max(float(time_limit), 1e-3)
    res = milp(c, integrality=integrality, bounds=Bounds(vlo, vhi), constraints=LinearConstraint(A, lo, hi),
               options=options)
    tol = 0.0 if _integral(model.D) else 2e-9 * max(1.0, abs(res.fun or 0.0))
    if res.status == 2:
        return None, math.inf, True, 0.0
    bound = getattr(res, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        bound = res.fun if res.status == 0 else -math.inf
    if res.x is None:
        return None, float(bound), False, 0.0
    centers = np.flatnonzero(res.x[:m] > 0.5)
    if model.p is not None and len(centers) != model.p:  # rounding noise; keep the start
        return None, float(bound), False, 0.0
    return centers, float(bound), res.status == 0, tol


def _scale(model: _Restricted) -> float:
    """Integer costs stay; floats are scaled by a power of two and floored (so the bound stays valid)."""
    if _integral(model.D):
        return 1.0
    vals = np.abs(np.concatenate([model.cost, model.zcost, model.f if model.f is not None else []]))
    top = float(vals.max()) if len(vals) else 1.0
    return 2.0 ** math.floor(math.log2((2.0 ** 50) / (max(top, 1e-300) * (len(model.D) + model.D.shape[1] + 1))))


def _cpsat_restricted(model: _Restricted, time_limit: float | None, seed: int, workers: int, hint: np.ndarray,
                      upper: float):
    """CP-SAT on the restricted model, with a complete hint and the cut ``cost < upper``: open set, bound
    (inf when infeasible), whether it finished, and the rounding tolerance of float costs."""
    from ortools.sat.python import cp_model

    D, n, m = model.D, len(model.D), model.D.shape[1]
    scale = _scale(model)
    cost = np.floor(model.cost * scale).astype(np.int64)
    zcost = np.floor(model.zcost * scale).astype(np.int64)
    fcost = None if model.f is None else np.floor(model.f * scale).astype(np.int64)
    cm = cp_model.CpModel()
    y = [cm.new_bool_var(f"y{j}") for j in range(m)]
    x = [cm.new_bool_var(f"x{e}") for e in range(model.entries)]
    z = {int(i): cm.new_bool_var(f"z{i}") for i in model.zrow}
    starts = np.searchsorted(model.row, np.arange(n + 1))
    for i in range(n):
        cm.add_exactly_one(x[starts[i]:starts[i + 1]] + ([z[i]] if i in z else []))
    for e in range(model.entries):
        cm.add_implication(x[e], y[int(model.col[e])])
    for j in np.flatnonzero(model.fixed >= 0):
        cm.add(y[j] == int(model.fixed[j]))
    if model.p is not None:
        cm.add(cp_model.LinearExpr.sum(y) == model.p)
    else:
        cm.add(cp_model.LinearExpr.sum(y) >= 1)
    terms = x + [z[int(i)] for i in model.zrow] + (y if fcost is not None else [])
    coeffs = np.concatenate([cost, zcost] + ([fcost] if fcost is not None else [])).tolist()
    objective = cp_model.LinearExpr.weighted_sum(terms, coeffs)
    cm.minimize(objective)
    # only cheaper solutions matter (the reduction removed the rest)
    cut = upper - 1 if _integral(D) else upper - 1e-9 * max(1.0, abs(upper))
    cm.add(objective <= int(math.floor(cut * scale)))
    # a complete hint: the open set, each client's kept centre or its catch-all
    is_open = np.zeros(m, dtype=bool)
    is_open[hint] = True
    assign, _ = evaluate(D, hint, model.f)
    for j in range(m):
        cm.add_hint(y[j], bool(is_open[j]))
    chosen = np.zeros(model.entries, dtype=bool)
    pick = model.col == assign[model.row]
    first = np.unique(model.row[pick], return_index=True)[1]
    chosen[np.flatnonzero(pick)[first]] = True
    covered = np.zeros(n, dtype=bool)
    covered[model.row[chosen]] = True
    for e in range(model.entries):
        cm.add_hint(x[e], bool(chosen[e]))
    for i, v in z.items():
        cm.add_hint(v, not covered[i])
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = max(1, int(workers))
    # the LP of x <= y is what proves p-median optima; at the default level 1 the bound stalls
    solver.parameters.linearization_level = 2
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = max(float(time_limit), 1e-3)
    code = solver.solve(cm)
    tol = 0.0 if scale == 1.0 else (n + m + 1) / scale
    if code == cp_model.INFEASIBLE:
        return None, math.inf, True, 0.0
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, -math.inf, False, tol
    centers = np.flatnonzero([solver.value(v) for v in y])
    return centers, float(solver.best_objective_bound / scale), code == cp_model.OPTIMAL, tol


def milp(D, p: int | None, time_limit: float | None = None, hint=None, neighbours: int | None = None, *,
         f=None) -> Medians:
    """Exact p-median (or facility location, with `f`) by HiGHS on the reduced, sparsified strong formulation.

    `hint` (candidate indices) replaces the greedy + FasterPAM start; `neighbours` fixes the first
    list length (default: every pair the Lagrangian reduction keeps, when at most
    `FULL_LIST_ENTRIES`, else twice the rank of each client's centre in the start). On the time
    limit the best solution and the proven bound are returned with status FEASIBLE.
    """
    D, p, f = check_costs(D, p, f)
    return _exact(D, p, f, "milp", time_limit, 0, 1, hint, neighbours)


def cpsat(D, p: int | None, time_limit: float | None = None, seed: int = 0, workers: int = 1, hint=None,
          neighbours: int | None = None, *, f=None) -> Medians:
    """Exact p-median (or facility location) by CP-SAT on the same model as `milp`, with a complete hint.

    Float costs are scaled by a power of two and floored, so the bound stays valid; OPTIMAL then means
    within ``(n + m + 1) / scale`` of the bound.
    """
    D, p, f = check_costs(D, p, f)
    return _exact(D, p, f, "cpsat", time_limit, seed, workers, hint, neighbours)


# ------------------------------------------------------------------------------------------------ dispatch

def solve(D, p: int, method: str = "auto", time_limit: float | None = None, seed: int = 0,
          workers: int = 1) -> Medians:
    """Solve the p-median problem on cost matrix `D` with `method` (one of `METHODS`).

    Every method returns a valid solution and a proven bound: the heuristics the Lagrangian at
    its start (one pass), ``lagrangian`` the subgradient ascent, the exact methods their proof.
    `time_limit` (seconds) bounds the exact methods and ``auto`` (without one, ``auto`` gives its
    MILP `AUTO_TIME_LIMIT` seconds); `workers` is CP-SAT's threads.
    """
    D, p, f = check_costs(D, p)
    return _solve(D, p, None, method, time_limit, seed, workers)


def facility_location(D, f, method: str = "auto", time_limit: float | None = None, seed: int = 0,
                      workers: int = 1) -> Medians:
    """Uncapacitated facility location: open any number of candidates, paying `f` for each (as `solve`)."""
    D, p, f = check_costs(D, None, f)
    return _solve(D, None, f, method, time_limit, seed, workers)


def _solve(D: np.ndarray, p: int | None, f: np.ndarray | None, method: str, time_limit: float | None, seed: int,
           workers: int) -> Medians:
    if method not in METHODS:
        raise SolverError(f"unknown p-median method {method!r}; choose from {', '.join(METHODS)}")
    deadline = deadline_of(time_limit)
    if method == "greedy":
        return greedy(D, p, f=f)
    if method == "alternate":
        if f is not None:
            raise SolverError("alternate solves the p-median only")
        return alternate(D, p, seed=seed)
    if method in ("milp", "cpsat"):
        return _exact(D, p, f, method, time_limit, seed, workers, None, None)
    centers = _swap_search(D, _greedy(D, p, f), f, seed, 100, deadline)
    obj = evaluate(D, centers, f)[1]
    if method == "fasterpam":
        return _result(D, centers, f, _cheap_bound(D, p, f, centers))
    # lagrangian and auto: the dual bound, and the dual's best open set improved by swaps
    left = time_left(deadline)
    dual = _lagrangian(D, p, f, obj, centers, DUAL_ITER, deadline_of(None if left is None else 0.2 * left))
    bound = max(dual.bound, _round_bound(D, trivial_bound(D, f)))
    if dual.best_set is not None and obj > bound + _tol(D, obj):
        other = _swap_search(D, dual.best_set, f, seed, 100, deadline)
        if evaluate(D, other, f)[1] < obj:
            centers, obj = other, evaluate(D, other, f)[1]
    if method == "lagrangian" or obj <= bound + _tol(D, obj):
        return _result(D, centers, f, bound)
    left = time_left(deadline)
    res = _exact(D, p, f, "milp", AUTO_TIME_LIMIT if left is None else left, seed, workers, centers, None, dual,
                 MILP_MAX_ENTRIES)
    if res.status == Status.OPTIMAL or deadline is None:
        return res
    # unproven (time out, or too large for the MILP): FasterPAM from random starts while time remains
    centers, bound = res.centers, res.bound
    for s in range(1, 11):
        if expired(deadline):
            break
        other = _swap_search(D, _init_centers(D, p, f, "random", seed + s), f, seed + s, 100, deadline)
        if evaluate(D, other, f)[1] < evaluate(D, centers, f)[1]:
            centers = other
    return _result(D, centers, f, bound)
