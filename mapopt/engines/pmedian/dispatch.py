"""The p-median entry points `solve` and `facility_location`: one method by name, ``auto`` by default."""

from __future__ import annotations

import numpy as np

from ...errors import SolverError
from ...result import Status
from ..deadline import deadline_of, expired
from .bounds import dual_fits, lagrangian
from .costs import Medians, check_costs, evaluate, improvement_tol, result_of, round_bound, trivial_bound
from .exact import DUAL_ITER, DUAL_SHARE, exact_solve, share
from .greedy import greedy_centers
from .heuristics import alternate, fasterpam, greedy
from .swap import SWAP_PASSES, init_centers, swap_search

METHODS = ("greedy", "fasterpam", "alternate", "lagrangian", "milp", "cpsat", "auto")
#: `auto` runs the MILP only when the sparsified model has at most this many assignment variables.
MILP_MAX_ENTRIES = 2_000_000
#: `auto` without a time limit gives its exact phase this many seconds (an LP gap of a few per cent can
#: keep HiGHS busy for minutes); pass a time limit, or call `milp`, for longer proofs.
AUTO_TIME_LIMIT = 10.0
#: `auto`, unproven after its exact phase, runs FasterPAM from at most this many random starts while time is left
RESTARTS = 10


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
    """`method` on checked costs; `time_limit` covers every phase of the exact methods, ``lagrangian`` and ``auto``."""
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
        return exact_solve(D, p, f, method, deadline, seed, workers, None, None)
    if method == "fasterpam":
        return fasterpam(D, p, seed=seed, f=f, time_limit=time_limit)
    centers = swap_search(D, greedy_centers(D, p, f, deadline), f, seed, SWAP_PASSES, deadline)
    obj = evaluate(D, centers, f)[1]
    # lagrangian and auto: the dual bound, and the dual's best open set improved by swaps
    if not dual_fits(D, deadline):
        return result_of(D, centers, f, round_bound(D, trivial_bound(D, f)))
    dual = lagrangian(D, p, f, obj, centers, DUAL_ITER, share(deadline, DUAL_SHARE))
    bound = max(dual.bound, round_bound(D, trivial_bound(D, f)))
    if dual.best_set is not None and obj > bound + improvement_tol(D, obj):
        other = swap_search(D, dual.best_set, f, seed, SWAP_PASSES, deadline)
        if evaluate(D, other, f)[1] < obj:
            centers, obj = other, evaluate(D, other, f)[1]
    if method == "lagrangian" or obj <= bound + improvement_tol(D, obj):
        return result_of(D, centers, f, bound)
    res = exact_solve(D, p, f, "milp", deadline_of(AUTO_TIME_LIMIT) if deadline is None else deadline, seed, workers,
                      centers, None, dual, MILP_MAX_ENTRIES)
    if res.status == Status.OPTIMAL or deadline is None:
        return res
    # unproven (time out, or too large for the MILP): FasterPAM from random starts while time remains
    centers, bound = res.centers, res.bound
    for s in range(1, RESTARTS + 1):
        if expired(deadline):
            break
        other = swap_search(D, init_centers(D, p, f, "random", seed + s), f, seed + s, SWAP_PASSES, deadline)
        if evaluate(D, other, f)[1] < evaluate(D, centers, f)[1]:
            centers = other
    return result_of(D, centers, f, bound)
