"""Balanced hypergraph partitioning with OU rounding: the combinatorial core of filter ordering.

Vertices (filters) go into ``G = ceil(m / g)`` blocks of at most ``g``. Each net (a crossbar
row) has a bucket (the crossbar set it lives in) and a weight (identical rows merged). A
block keeps ``L[b, j]`` rows of bucket ``b``: the weight of the nets touching it. The cost is
``sum over b, j of ceil(L[b, j] / h)`` (OU slots), ties broken by ``sum L`` (kept rows);
with ``h = 1`` it is the connectivity metric of balanced hypergraph partitioning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Hypergraph:
    """Nets x vertices incidence (`pins`, CSR 0/1), net weights and buckets, block capacity `g`, OU height `h`."""

    pins: sp.csr_matrix
    weight: np.ndarray
    bucket: np.ndarray
    n_buckets: int
    g: int
    h: int

    @property
    def n_vertices(self) -> int:
        return int(self.pins.shape[1])

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.n_vertices / self.g)

    @classmethod
    def from_supports(cls, supports: list[np.ndarray], g: int, h: int) -> "Hypergraph":
        """One bucket per support matrix (rows x vertices, bool); empty rows dropped, identical rows merged."""
        rows, buckets = [], []
        for b, s in enumerate(supports):
            s = np.asarray(s, dtype=bool)
            s = s[s.any(axis=1)]
            rows.append(s)
            buckets.append(np.full(len(s), b))
        allrows = np.concatenate(rows) if rows else np.zeros((0, 0), bool)
        allb = np.concatenate(buckets) if buckets else np.zeros(0, np.int64)
        packed = np.concatenate([allb[:, None].astype(np.uint8), np.packbits(allrows, axis=1)], axis=1) \
            if len(allrows) else np.zeros((0, 1), np.uint8)
        uniq, first, count = np.unique(packed, axis=0, return_index=True, return_counts=True)
        pins = sp.csr_matrix(allrows[first].astype(np.int8)) if len(first) else sp.csr_matrix((0, supports[0].shape[1]), dtype=np.int8)
        return cls(pins, count.astype(np.int64), allb[first].astype(np.int64), len(supports), g, h)

    def block_rows(self, block: np.ndarray) -> np.ndarray:
        """``L[b, j]``: weighted rows of bucket `b` block `j` keeps (``n_buckets x n_blocks``)."""
        return _count(self, _touch(self.pins, block, self.n_blocks))

    def cost(self, block: np.ndarray) -> tuple[int, int]:
        """``(OU slots, kept rows)`` of a block assignment."""
        L = self.block_rows(block)
        return int(np.ceil(L / self.h).sum()), int(L.sum())

    def vertex_rows(self) -> np.ndarray:
        """Weighted rows of each vertex per bucket (``n_buckets x m``)."""
        onehot = sp.csr_matrix((self.weight, (self.bucket, np.arange(len(self.bucket)))),
                               shape=(self.n_buckets, len(self.bucket)))
        return np.asarray((onehot @ self.pins).todense(), dtype=np.int64)


def _touch(pins: sp.csr_matrix, block: np.ndarray, n_blocks: int) -> sp.coo_matrix:
    """Nets x blocks incidence: which blocks each net touches."""
    assign = sp.csr_matrix((np.ones(len(block), np.int8), (np.arange(len(block)), block)),
                           shape=(len(block), n_blocks))
    t = (pins @ assign).tocoo()
    t.data[:] = 1
    return t


def _count(hg: Hypergraph, touch: sp.coo_matrix) -> np.ndarray:
    L = np.zeros((hg.n_buckets, hg.n_blocks), dtype=np.int64)
    np.add.at(L, (hg.bucket[touch.row], touch.col), hg.weight[touch.row])
    return L


def check_blocks(hg: Hypergraph, block: np.ndarray) -> np.ndarray:
    """`block` as an int array of valid block ids with at most ``g`` vertices per block."""
    block = np.asarray(block, dtype=np.int64)
    if block.shape != (hg.n_vertices,) or block.min(initial=0) < 0 or block.max(initial=0) >= hg.n_blocks \
            or np.bincount(block, minlength=hg.n_blocks).max(initial=0) > hg.g:
        raise ValueError(f"not a partition of {hg.n_vertices} vertices into {hg.n_blocks} blocks of at most {hg.g}")
    return block


def lower_bound(hg: Hypergraph) -> int:
    """OU slots no partition beats: per bucket the larger of the sorted-maximum and degree bounds.

    Sorted maximum: a block keeps at least the rows of its largest vertex; over balanced
    blocks the sum of maxima is smallest taking sorted positions ``1, g+1, 2g+1, ...``.
    Degree: a net of degree ``d`` is kept by at least ``ceil(d / g)`` blocks, and a bucket's
    blocks hold those rows in slots of ``h``.
    """
    rows = np.sort(hg.vertex_rows(), axis=1)[:, ::-1]
    by_max = np.ceil(rows[:, ::hg.g] / hg.h).sum(axis=1)
    deg = np.asarray(hg.pins.sum(axis=1)).ravel()
    kept = np.bincount(hg.bucket, weights=hg.weight * np.ceil(deg / hg.g), minlength=hg.n_buckets)
    return int(np.maximum(by_max, np.ceil(kept / hg.h)).sum())


#: vertices up to which the matching MILP takes milliseconds and runs in this process; larger ones run in a child
#: process that is stopped at the time limit
MATCHING_DIRECT = 64
#: nets x vertices above which no matching bound is computed: the pair costs take a dense float copy of the pins
#: (2^25 cells: 256 MiB)
RELAXATION_CELLS = 2 ** 25
#: seconds per nets x vertices cell of the pair costs and their cycle cover, so that a time limit is kept
#: (measured on 80 % layers, orc preset: 4608 x 512, 4.7 million cells, 0.37 s; 9216 x 1024, 18.9 million, 1.6 s)
RELAXATION_SECONDS_PER_CELL = 1e-7


def matching_bound(hg: Hypergraph, limit: int = 300, time_limit: float | None = None) -> int:
    """``ceil(2 / g x minimum perfect matching of pair costs)``; exact for ``g = 2``. Above `limit` vertices, or
    when the matching MILP does not finish within `time_limit` seconds, the matching's relaxation to a cycle
    cover stands in for it (`partition_exact.matching_relaxation`: polynomial, and a lower bound still). 0 when
    even the pair costs would not fit `time_limit` (`RELAXATION_SECONDS_PER_CELL`) or memory.

    A block's OU slots are at least those of any pair inside it, so at least the mean of the
    pairs of any perfect matching of the block; those matchings together match all vertices.
    """
    from .deadline import GRACE, call_with_deadline
    from .partition_exact import matching_relaxation, min_cost_matching

    cells = hg.pins.shape[0] * hg.n_vertices
    too_slow = time_limit is not None and cells * RELAXATION_SECONDS_PER_CELL > time_limit
    if hg.g < 2 or cells > RELAXATION_CELLS or too_slow:
        return 0
    slots, _ = merge_costs(hg.pins.toarray().astype(bool), bucket_weights(hg), hg.h)
    pairs = None
    if hg.n_vertices <= MATCHING_DIRECT or (time_limit is None and hg.n_vertices <= limit):
        pairs = min_cost_matching(slots)
    elif hg.n_vertices <= limit and time_limit > GRACE:
        done, found = call_with_deadline(min_cost_matching, time_limit - GRACE, slots)
        pairs = found if done else None
    total = matching_relaxation(slots) if pairs is None else sum(slots[a, b if b >= 0 else a] for a, b in pairs)
    return int(math.ceil(2 * total / hg.g - 1e-9))


def merge_costs(support: np.ndarray, onehot: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
    """OU slots and rows of every pair of units merged (units x units); the diagonal is a unit alone.

    `support` is nets x units (bool), `onehot` buckets x nets with the net weights.
    """
    shared = support.astype(np.float64)  # pair overlaps by BLAS products (exact below 2^53)
    rows = onehot @ support
    union = np.stack([rows[b][:, None] + rows[b][None, :] - np.rint((shared.T * onehot[b]) @ shared).astype(np.int64)
                      for b in range(len(onehot))])
    slots = np.ceil(union / h).sum(axis=0)
    np.fill_diagonal(slots, np.ceil(rows / h).sum(axis=0))
    total = union.sum(axis=0)
    np.fill_diagonal(total, rows.sum(axis=0))
    return slots, total


def bucket_weights(hg: Hypergraph) -> np.ndarray:
    """``n_buckets x nets`` matrix: net weight where the net is in the bucket."""
    out = np.zeros((hg.n_buckets, len(hg.bucket)), dtype=np.int64)
    out[hg.bucket, np.arange(len(hg.bucket))] = hg.weight
    return out


def blocks_from_groups(groups: list[np.ndarray], m: int) -> np.ndarray:
    """Block id per vertex from a list of groups."""
    block = np.empty(m, dtype=np.int64)
    for j, grp in enumerate(groups):
        block[np.asarray(grp, dtype=np.int64)] = j
    return block


def groups_from_blocks(block: np.ndarray) -> list[np.ndarray]:
    """Non-empty groups of a block assignment, ordered by their smallest vertex."""
    groups = [np.flatnonzero(block == j) for j in np.unique(block)]
    return sorted(groups, key=lambda x: int(x[0]))
