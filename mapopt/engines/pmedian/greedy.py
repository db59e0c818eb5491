"""The greedy start of every p-median method (Kuehn and Hamburger 1963), ``O(p n m)`` in blocks of columns."""

from __future__ import annotations

import numpy as np

from ..deadline import expired
from .costs import improvement_tol

#: the greedy and the swap search vectorize over blocks of columns whose ``n x B`` temporaries hold at
#: most this many entries (16 MiB of int64), large enough to amortise numpy calls, small enough for caches
BLOCK_ELEMENTS = 1 << 21


def greedy_centers(D: np.ndarray, p: int | None, f: np.ndarray | None, deadline: float | None = None) -> np.ndarray:
    """Greedy add: open the candidate lowering the total most (lowest index on ties).

    Each addition costs ``O(n m)``; when `deadline` passes, a p-median's remaining centres are the
    candidates cheapest by the last pass (one more pass, no more), facility location stops adding.
    """
    n, m = D.shape
    chosen: list[int] = []
    is_open = np.zeros(m, dtype=bool)
    cur = None
    chunk = max(1, BLOCK_ELEMENTS // n)
    while len(chosen) < (p if p is not None else m):
        if cur is None:
            totals = D.sum(axis=0)
        else:
            totals = np.concatenate([np.minimum(cur[:, None], D[:, s:s + chunk]).sum(axis=0)
                                     for s in range(0, m, chunk)])
        if f is not None:
            totals = totals + f
        free = np.flatnonzero(~is_open)
        if chosen and expired(deadline):
            if p is not None:
                chosen += free[np.argsort(totals[free], kind="stable")[:p - len(chosen)]].tolist()
            break
        j = int(free[np.argmin(totals[free])])
        if f is not None and cur is not None and not totals[j] < cur.sum() - improvement_tol(D, cur.sum()):
            break  # the opening costs more than it saves
        chosen.append(j)
        is_open[j] = True
        cur = D[:, j].copy() if cur is None else np.minimum(cur, D[:, j])
    return np.array(chosen, dtype=np.int64)
