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


#: units above which no pair costs are built: they take a few dense units x units matrices (4096: 128 MiB each)
PAIR_UNITS = 4096
#: seconds per unit of pair-cost work (a pin pair sharing a net: the sparse product's multiply-adds), so a time
#: limit is kept (measured on 80 % layers: 18432 nets x 1024 filters, 195 million pin pairs, 0.48 s; with margin)
SECONDS_PER_PIN_PAIR = 3e-9
#: the pair-cost product runs over chunks of this many nets, looking at the clock between them
NET_CHUNK = 4096
#: edges per unit the first restricted matching MILP takes at most (the reduced-cost gap may allow more)
FIRST_EDGES_PER_UNIT = 8
#: edges per unit above which the gap is left open (LP bound kept): where many pairs tie at zero reduced cost
#: (a depthwise layer's filters share no rows) the widened model holds most pairs and HiGHS stalls at its root
#: (measured once: 17 s for a 166,640-pair model of 672 filters, EfficientNet-Lite0 blocks.9 depthwise, to prove
#: one slot), while a random 80 % layer's widened model stays under a few edges per unit
MAX_EDGES_PER_UNIT = 32


def matching_bound(hg: Hypergraph, time_limit: float | None = None) -> int:
    """``ceil(2 / g x minimum perfect matching of pair costs)``; exact for ``g = 2``. The matching is
    `min_cost_pairs`'s, or its LP bound when `time_limit` passes first; 0 when even the pair costs would not fit
    `time_limit` (`SECONDS_PER_PIN_PAIR`) or memory (`PAIR_UNITS`).

    A block's OU slots are at least those of any pair inside it, so at least the mean of the
    pairs of any perfect matching of the block; those matchings together match all vertices.
    """
    from .deadline import DeadlinePassed, deadline_of

    deadline = deadline_of(time_limit)
    if hg.g < 2:
        return 0
    try:
        slots, _ = merge_costs(hg, hg.pins, deadline)
        return int(math.ceil(2 * min_cost_pairs(slots, deadline).bound / hg.g - 1e-9))
    except DeadlinePassed:
        return 0


def merge_costs(hg: Hypergraph, support: sp.spmatrix, deadline: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """OU slots and rows of every pair of units merged (units x units); the diagonal is a unit alone.

    `support` is nets x units (0/1, sparse): the nets each unit keeps. Per bucket the rows two units share
    come from one sparse product (its work is the pin pairs sharing a net), in chunks of `NET_CHUNK` nets, in
    single precision where every count is below 2^24 (exact, and twice as fast). Raises `DeadlinePassed` when
    the units exceed `PAIR_UNITS`, or `deadline` passes or would pass first.
    """
    from .deadline import DeadlinePassed, expired, time_left

    exact32 = int(hg.weight.sum()) < 2 ** 24
    support = sp.csr_matrix(support, dtype=np.float32 if exact32 else np.float64)
    n = support.shape[1]
    degree = np.diff(support.indptr)
    left = time_left(deadline)
    if n > PAIR_UNITS or (left is not None and float(degree @ degree) * SECONDS_PER_PIN_PAIR > left):
        raise DeadlinePassed
    slots, total = np.zeros((n, n)), np.zeros((n, n))
    alone_slots, alone_rows = np.zeros(n), np.zeros(n)
    for b in range(hg.n_buckets):
        nets = np.flatnonzero(hg.bucket == b)
        rows = np.zeros(n)
        shared = np.zeros((n, n))
        for at in range(0, len(nets), NET_CHUNK):
            if expired(deadline):
                raise DeadlinePassed
            x = support[nets[at:at + NET_CHUNK]]
            w = hg.weight[nets[at:at + NET_CHUNK]].astype(support.dtype)
            rows += w @ x
            shared += (x.T @ sp.diags(w) @ x).toarray()
        union = rows[:, None] + rows[None, :] - shared  # integers: exact in float64
        slots += np.ceil(union / hg.h)
        total += union
        alone_slots += np.ceil(rows / hg.h)
        alone_rows += rows
    np.fill_diagonal(slots, alone_slots)
    np.fill_diagonal(total, alone_rows)
    return slots, total


@dataclass(frozen=True)
class Pairing:
    """Units in pairs: each unit's `mate` (-1: alone), the pairs' total `cost`, and `bound`, a lower bound on
    the cheapest pairing (equal to `cost` when it is proven optimal)."""

    mate: np.ndarray
    cost: int
    bound: int

    @property
    def optimal(self) -> bool:
        return self.cost == self.bound


def min_cost_pairs(cost: np.ndarray, deadline: float | None = None) -> Pairing:
    """A minimum-cost perfect matching of units under integer pair costs (units x units; the diagonal is the
    cost of a unit alone, which an odd count allows once).

    The cheapest cycle cover (Hungarian method) is the matching's LP relaxation: its even cycles split into
    pairs at no loss and its odd cycles are patched (`_cover_pairs`). Should a gap remain, pairs whose reduced
    cost (LP duals) exceeds it cannot be in a better matching: a matching MILP over the others, widened until
    it proves its optimum, closes it. When `deadline` passes after the cycle cover, the best pairing found with
    the LP bound; raises `DeadlinePassed` when it has passed before.
    """
    from scipy.optimize import linear_sum_assignment

    from .deadline import DeadlinePassed, expired

    V = len(cost)
    if V < 2:
        return Pairing(np.full(V, -1), int(np.trace(cost)), int(np.trace(cost)))
    n = V + V % 2
    full = np.zeros((n, n))
    full[:V, :V] = cost
    if V % 2:  # a dummy unit: pairing with it is being alone
        full[:V, V] = full[V, :V] = np.diag(cost)
    np.fill_diagonal(full, 2 * n * (float(np.abs(full).max()) + 1))  # no unit with itself
    if expired(deadline):
        raise DeadlinePassed
    _, succ = linear_sum_assignment(full)
    relaxed = float(full[np.arange(n), succ].sum()) / 2
    mate = _cover_pairs(full, succ)
    best, bound = _pairs_cost(full, mate), int(math.ceil(relaxed - 1e-9))
    if best > bound:
        mate, best, bound = _close_gap(full, succ, relaxed, mate, best, bound, deadline)
    mate = mate[:V].copy()
    mate[mate == V] = -1
    return Pairing(mate, best, bound)


def _pairs_cost(full: np.ndarray, mate: np.ndarray) -> int:
    return int(round(float(full[np.arange(len(mate)), mate].sum()) / 2))


def _cover_pairs(full: np.ndarray, succ: np.ndarray) -> np.ndarray:
    """A matching from a cycle cover: each even cycle's cheaper alternate edges; each odd cycle's cheapest path
    (all but one unit), its left-over units paired cheapest pair first."""
    n = len(succ)
    mate = np.empty(n, dtype=np.int64)
    seen = np.zeros(n, dtype=bool)
    alone = []
    for start in range(n):
        if seen[start]:
            continue
        cycle = [start]
        while succ[cycle[-1]] != start:
            cycle.append(int(succ[cycle[-1]]))
        cyc = np.array(cycle)
        seen[cyc] = True
        L = len(cyc)
        edge = full[cyc, np.roll(cyc, -1)]  # edge k joins cyc[k] and cyc[k + 1]
        if L % 2 == 0:
            picks = np.arange(int(edge[1::2].sum() < edge[0::2].sum()), L, 2)
        else:  # leaving out unit d pairs edges d + 1, d + 3, ..., d + L - 2
            options = (np.arange(L)[:, None] + 1 + 2 * np.arange(L // 2)[None, :]) % L
            d = int(np.argmin(edge[options].sum(axis=1)))
            picks = options[d]
            alone.append(int(cyc[d]))
        a, b = cyc[picks], cyc[(picks + 1) % L]
        mate[a], mate[b] = b, a
    alone = np.array(alone, dtype=np.int64)
    while len(alone):
        sub = full[np.ix_(alone, alone)]
        i, j = np.unravel_index(int(np.argmin(sub + np.diag(np.full(len(alone), np.inf)))), sub.shape)
        mate[alone[i]], mate[alone[j]] = alone[j], alone[i]
        alone = np.delete(alone, [i, j])
    return mate


def _close_gap(full, succ, relaxed, mate, best, bound, deadline):
    """``(mate, cost, bound)`` after matching MILPs over the pairs of small reduced cost (and the incumbent's):
    the first over at most `FIRST_EDGES_PER_UNIT` per unit, then over every pair a cheaper matching could use,
    unless those exceed `MAX_EDGES_PER_UNIT` per unit (the gap then stays open, with the LP bound)."""
    from scipy.optimize import LinearConstraint

    from ..result import Status
    from .deadline import expired
    from .solver import run_milp

    reduced = _reduced_costs(full, succ, deadline)
    if reduced is None:
        return mate, best, bound
    n = len(full)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    values = reduced[upper]
    kth = min(len(values) - 1, FIRST_EDGES_PER_UNIT * n)
    limit = min(best - 1 - relaxed, float(np.partition(values, kth)[kth]))
    while not expired(deadline):
        keep = upper & (reduced <= limit + 1e-6)
        keep[np.minimum(np.arange(n), mate), np.maximum(np.arange(n), mate)] = True  # the incumbent: feasible
        iu, ju = np.nonzero(keep)
        if len(iu) > MAX_EDGES_PER_UNIT * n:
            break
        A = sp.csr_matrix((np.ones(2 * len(iu)), (np.concatenate([iu, ju]), np.tile(np.arange(len(iu)), 2))),
                          shape=(n, len(iu)))
        run = run_milp(full[iu, ju], constraints=LinearConstraint(A, 1, 1), integrality=np.ones(len(iu)),
                       bounds=(0, 1), deadline=deadline, options={"mip_rel_gap": 0.0}, integral=True)
        if run.x is None:
            break
        chosen = np.flatnonzero(run.x > 0.5)
        found = np.empty(n, dtype=np.int64)
        found[iu[chosen]], found[ju[chosen]] = ju[chosen], iu[chosen]
        if _pairs_cost(full, found) < best:
            mate, best = found, _pairs_cost(full, found)
        if run.status != Status.OPTIMAL:
            break
        if limit + 1e-6 >= best - 1 - relaxed:  # every pair of a cheaper matching was in the model
            return mate, best, best
        limit = best - 1 - relaxed
    return mate, best, bound


def _reduced_costs(full: np.ndarray, succ: np.ndarray, deadline: float | None) -> np.ndarray | None:
    """Pair costs less the matching LP's duals (``>= 0``; a matching costs the LP bound plus its reduced costs),
    from the optimal assignment `succ`: column potentials by Bellman-Ford on its residual graph (rows follow
    by complementary slackness), averaged over the two sides. None when `deadline` passes first."""
    from .deadline import expired

    n = len(full)
    rows = np.arange(n)
    assigned = full[rows, succ]
    v = np.zeros(n)
    while True:  # v[j] <= v[succ[i]] + full[i, j] - full[i, succ[i]]: no negative cycle, so it settles
        if expired(deadline):
            return None
        nxt = np.minimum(v, ((v[succ] - assigned)[:, None] + full).min(axis=0))
        if np.array_equal(nxt, v):
            break
        v = nxt
    u = np.empty(n)
    u[rows] = assigned - v[succ]
    y = (u + v) / 2
    return full - y[:, None] - y[None, :]


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
