"""FasterPAM's eager swap search (Schubert and Rousseeuw 2021), the local search of every p-median method."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import SolverError
from ..deadline import expired, time_left
from .costs import big_cost, improvement_tol
from .greedy import BLOCK_ELEMENTS, greedy_centers

#: passes over all candidates a swap search makes at most (it stops earlier at a local optimum)
SWAP_PASSES = 100
#: candidates per vectorized block: the first block, and the least after a move (a move restarts the
#: block, so small blocks waste little; blocks double while nothing improves)
FIRST_BLOCK, MIN_BLOCK = 32, 8
#: seconds per (client, open centre) entry of setting up a swap search (nearest and second-nearest centres:
#: measured 2.6e-8 s at 3,000 x 1,000, doubled); with less time left the start comes back unchanged
START_PER_ENTRY = 5e-8


class _State:
    """Open centres and, per client, the nearest and second-nearest open one (positions in `centers`)."""

    def __init__(self, D: np.ndarray, centers, f: np.ndarray | None):
        self.D, self.f, self.big = D, f, big_cost(D)
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


def swap_search(D: np.ndarray, centers, f: np.ndarray | None, seed: int, max_iter: int,
                deadline: float | None) -> np.ndarray:
    """Eager swap search (FasterPAM): candidates in a seeded random order; the first candidate with an
    improving swap (against its best centre to remove) is swapped in; stop after a full pass without
    improvement, `max_iter` passes, or the deadline (with no time for the set-up, `centers` come back
    sorted). With opening costs, add and drop moves too.

    Candidates are evaluated in blocks of ``B`` (vectorized); after a move the block restarts at the
    next candidate, so the result is the one of the one-at-a-time algorithm. For candidate ``x``
    and centre ``m`` the swap gain is ``Delta_x + loss_m + corr_mx`` where, over clients ``o``,
    ``Delta_x`` sums ``d(o, x) - dn_o`` where ``x`` is nearer than the nearest centre, ``loss_m`` is the
    removal loss of ``m`` and ``corr`` adds, at the nearest centre of ``o``, ``dn_o - ds_o`` (when ``x`` is
    nearer than it) or ``d(o, x) - ds_o`` (when ``x`` is nearer than the second nearest).
    """
    n, m = D.shape
    left = time_left(deadline)
    if left is not None and left < START_PER_ENTRY * n * len(centers):
        return np.sort(np.asarray(centers, dtype=np.int64))
    st = _State(D, centers, f)
    order = np.random.default_rng(seed).permutation(m)
    is_center = np.zeros(m, dtype=bool)
    is_center[st.centers] = True
    bmax = max(MIN_BLOCK, min(m, BLOCK_ELEMENTS // n))
    block, pos, since, evaluated = min(FIRST_BLOCK, bmax), 0, 0, 0
    obj = st.objective()
    while since < m and evaluated < max_iter * m and not expired(deadline):
        S = st.members()
        loss = st.removal_loss(S)
        if f is not None and len(st.centers) > 1:
            drop = loss - f[st.centers]
            q = int(np.argmin(drop))
            if drop[q] < -improvement_tol(D, obj):
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
        good = np.flatnonzero(~is_center[xs] & (gain < -improvement_tol(D, obj)))
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
        block = max(MIN_BLOCK, block // 2)
    return np.sort(st.centers)


def init_centers(D: np.ndarray, p: int | None, f: np.ndarray | None, init, seed: int) -> np.ndarray:
    """A start: ``"greedy"``, ``"random"`` (seeded) or given candidate indices, checked."""
    m = D.shape[1]
    if isinstance(init, str):
        if init == "greedy":
            return greedy_centers(D, p, f)
        if init == "random":
            k = p if p is not None else 1
            return np.sort(np.random.default_rng(seed).choice(m, size=k, replace=False)).astype(np.int64)
        raise SolverError(f"init must be 'greedy', 'random' or an array of candidates, got {init!r}")
    centers = np.asarray(init, dtype=np.int64).ravel()
    if len(np.unique(centers)) != len(centers) or np.any(centers < 0) or np.any(centers >= m) \
            or (p is not None and len(centers) != p) or not len(centers):
        raise SolverError(f"init must hold {p if p is not None else 'at least one'} distinct candidates in 0..{m - 1}")
    return centers

