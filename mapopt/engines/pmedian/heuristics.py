"""The p-median heuristics as public methods: greedy, FasterPAM and k-medoids alternation, each with a cheap bound."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import SolverError

from ..deadline import deadline_of, time_left
from . import peer
from .bounds import center_bound, cheap_bound
from .costs import Medians, check_costs, evaluate, improvement_tol, result_of
from .greedy import greedy_centers
from .swap import SWAP_PASSES, init_centers, swap_search

#: seconds per (client, candidate) pair the package's FasterPAM may take (it cannot be stopped: a few passes;
#: measured 6e-9 s at 400 x 400, p = 133), so it runs only when that fits in the time left
PEER_PER_PAIR = 5e-8


def greedy(D, p: int | None, *, f=None) -> Medians:
    """Greedy add (Kuehn and Hamburger 1963), ``O(p n m)``; the bound is `lagrangian_bound` at its start."""
    D, p, f = check_costs(D, p, f)
    centers = greedy_centers(D, p, f)
    return result_of(D, centers, f, cheap_bound(D, p, f, centers))


def fasterpam(D, p: int | None, init="auto", seed: int = 0, max_iter: int = SWAP_PASSES, *, f=None,
              time_limit: float | None = None) -> Medians:
    """FasterPAM eager swaps from `init` (``"auto"``, ``"greedy"``, ``"random"`` or ``p`` candidate indices).

    Where the `kmedoids` package is installed and its contract fits (`peer.fits`: a square p-median
    with a zero diagonal and nonnegative costs), its compiled FasterPAM runs the same swaps; otherwise
    the own vectorized search (`swap.swap_search`). ``"auto"`` is the package's seeded random start
    where it runs (its default: on pmed1-20 as good as the greedy start, at a third of the time) and
    the greedy start otherwise. Ends in a local optimum: no single swap (nor, with opening costs `f`,
    add or drop) improves, unless `max_iter` passes or `time_limit` stop it first. Never worse than an
    explicit `init`. The bound is a Lagrangian value read off the solution (`center_bound`, one pass).
    """
    D, p, f = check_costs(D, p, f)
    deadline = deadline_of(time_limit)
    left = time_left(deadline)
    if peer.fits(D, p, f) and (left is None or left >= PEER_PER_PAIR * D.size):
        start = None if isinstance(init, str) else init_centers(D, p, f, init, seed)
        medoids, labels, small = peer.swaps(D, p, ("random" if init == "auto" else init_name(init)) if start is None
                                     else start, seed, max_iter)
        assign = medoids[labels]
        dn = D[np.arange(len(D)), assign]
        obj = dn.sum().item()
        if start is not None and obj > evaluate(D, start, f)[1]:
            return result_of(D, start, f, center_bound(D, p, f, start, clustering=True))
        bound = center_bound(small, p, f, medoids, lam=dn.astype(small.dtype), clustering=True)
        return result_of(D, medoids, f, bound, evaluated=(assign, obj))
    start = init_centers(D, p, f, "greedy" if isinstance(init, str) and init == "auto" else init, seed)
    centers = swap_search(D, start, f, seed, max_iter, deadline)
    return result_of(D, centers, f, center_bound(D, p, f, centers, clustering=peer.clustering(D)))


def init_name(init: str) -> str:
    """A named start, checked (``"greedy"`` or ``"random"``)."""
    if init not in peer.INITS:
        raise SolverError(f"init must be 'auto', 'greedy', 'random' or an array of candidates, got {init!r}")
    return init


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

