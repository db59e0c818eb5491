"""The sparsified strong formulation the exact methods solve: each client's nearest allowed candidates
plus a catch-all priced at the next one (a relaxation, widened until the catch-alls go unused)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .costs import evaluate

#: a reduced model with at most this many assignment variables keeps every allowed pair (no catch-alls)
FULL_LIST_ENTRIES = 300_000
#: a client's first list holds at least this many candidates (twice its centre's rank, when larger)
MIN_LIST = 8


class Restricted:
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
        """Assignment variables kept (pairs)."""
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


def initial_k(D: np.ndarray, centers: np.ndarray, f: np.ndarray | None, neighbours: int | None) -> np.ndarray:
    """First list lengths: `neighbours`, else twice the rank of each client's centre in `centers`
    (at least `MIN_LIST`)."""
    n, m = D.shape
    if neighbours is not None:
        return np.full(n, max(1, int(neighbours)))
    assign, _ = evaluate(D, centers, f)
    rank = (D <= D[np.arange(n), assign][:, None]).sum(axis=1)
    return np.maximum(2 * rank, min(m, MIN_LIST))

