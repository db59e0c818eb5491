"""The p-median heuristics as public methods: greedy, FasterPAM and k-medoids alternation, each with a cheap bound."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..deadline import deadline_of
from .bounds import cheap_bound
from .costs import Medians, check_costs, evaluate, improvement_tol, result_of
from .greedy import greedy_centers
from .swap import SWAP_PASSES, init_centers, swap_search


def greedy(D, p: int | None, *, f=None) -> Medians:
    """Greedy add (Kuehn and Hamburger 1963), ``O(p n m)``; the bound is `lagrangian_bound` at its start."""
    D, p, f = check_costs(D, p, f)
    centers = greedy_centers(D, p, f)
    return result_of(D, centers, f, cheap_bound(D, p, f, centers))


def fasterpam(D, p: int | None, init="greedy", seed: int = 0, max_iter: int = SWAP_PASSES, *, f=None,
              time_limit: float | None = None) -> Medians:
    """FasterPAM eager swaps from `init` (``"greedy"``, ``"random"`` or ``p`` candidate indices).

    Ends in a local optimum: no single swap (nor, with opening costs `f`, add or drop) improves,
    unless `max_iter` passes or `time_limit` stop it first. Never worse than `init`. Each pass
    costs ``O(n m)`` plus ``O(n)`` per move, vectorized over blocks of candidates.
    """
    D, p, f = check_costs(D, p, f)
    start = init_centers(D, p, f, init, seed)
    centers = swap_search(D, start, f, seed, max_iter, deadline_of(time_limit))
    return result_of(D, centers, f, cheap_bound(D, p, f, centers))


def alternate(D, p: int, init="greedy", max_iter: int = SWAP_PASSES, seed: int = 0) -> Medians:
    """k-medoids alternation (Park and Jun 2009): assign clients to their nearest centre, then move each
    centre to the candidate cheapest for its cluster (any candidate not already open). Never worse than `init`."""
    D, p, f = check_costs(D, p)
    centers = init_centers(D, p, None, init, seed).copy()
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
            if row[j] < row[centers[k]] - improvement_tol(D, row[centers[k]]):
                used[centers[k]], used[j] = False, True
                centers[k] = j
                changed = True
        if not changed:
            break
    return result_of(D, centers, None, cheap_bound(D, p, None, centers))

