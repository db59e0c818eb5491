"""Reuse clustering in crossbar terms: row blocks, sub-vectors, distances, and representatives to a mapping.

The layer matrix is cut into row blocks of ``h`` consecutive rows (the rows one OU drives).
In block `c`, output `o` holds the sub-vector ``v = W[rows_c, o]``. A representative
(leader) is stored once; every output assigned to it reads its partial sums, scaled by
``alpha = s 2^e`` (a sign and a left shift, applied digitally), or the output's sub-vector is
pruned to zero. The mapping computes the approximated matrix exactly and declares it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ...errors import SolverError
from ...instance import Instance
from ...layout import Block, crossbar_sets, place_blocks
from ...mapping import Mapping
from ...refit import Tie
from .. import contract
from ..contract import Outcome, Problem, register_problem

SCALES = {"one": (1,), "sign": (1, -1), "shift": (1, -1, 2, -2, 4, -4, 8, -8)}
ALLOCATIONS = ("block", "global")
CENTERS = ("medoid", "median")
#: rounds of :func:`refine` (it stops earlier when the error stops falling)
REFINE_ROUNDS = 5


@dataclass(frozen=True, eq=False)
class RowBlock:
    """Sub-vectors of one row block: rows (inputs) and ``vectors`` (outputs x rows, integers)."""

    rows: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True, eq=False)
class Clustering:
    """Per output: its leader (-1: pruned to zero) and scale; leaders are outputs of the same block.
    `centers` (outputs x rows), when given, holds the vector each leader stores in place of its own
    sub-vector (optimized representatives, see :func:`refine`)."""

    leader: np.ndarray
    scale: np.ndarray
    centers: np.ndarray | None = None

    def stored(self, block: RowBlock) -> np.ndarray:
        """The vector stored for each output label (outputs x rows)."""
        return block.vectors if self.centers is None else self.centers


@dataclass(frozen=True, eq=False)
class Fanout:
    """What a reuse mapping stores, as a layer of its own: `stored` (inputs x leaders), each leader's
    vector in its block's rows, and `followers` rows ``(leader, output, scale)``: the outputs that read
    each leader's partial sums. Later pipeline stages arrange `stored` in place of the layer."""

    stored: np.ndarray
    followers: np.ndarray


def fanout(blocks: list[RowBlock], clusterings: list[Clustering], n_inputs: int) -> Fanout:
    """The stored leader vectors of all blocks and who reads them (pruned outputs read nothing)."""
    columns, followers = [], []
    for block, cl in zip(blocks, clusterings):
        stored = cl.stored(block)
        for lead in np.unique(cl.leader[cl.leader >= 0]):
            column = np.zeros(n_inputs, dtype=np.int64)
            column[block.rows] = stored[lead]
            followers += [(len(columns), o, cl.scale[o]) for o in np.flatnonzero(cl.leader == lead)]
            columns.append(column)
    stored = np.column_stack(columns) if columns else np.zeros((n_inputs, 0), dtype=np.int64)
    return Fanout(stored, np.array(followers, dtype=np.int64).reshape(-1, 3))


def layer_mapping(mapping: Mapping, fan: Fanout, n_outputs: int, reference: np.ndarray) -> Mapping:
    """A mapping of the stored leaders (outputs = leader columns) as a mapping of the layer: every target of
    leader ``j`` becomes one target per follower, its scale folded into shift and sign; declares `reference`."""
    by_leader = [fan.followers[fan.followers[:, 0] == j] for j in range(fan.stored.shape[1])]
    placements = []
    for p in mapping.placements:
        targets = [(col, o, shift + int(math.log2(abs(a))), sign * int(np.sign(a)))
                   for col, lead, shift, sign in p.targets for _, o, a in by_leader[lead]]
        placements.append(replace(p, targets=np.array(targets, dtype=np.int64).reshape(-1, 4)))
    return mapping.replace(n_outputs=n_outputs, placements=tuple(placements), reference=reference)


def row_blocks(matrix: np.ndarray, h: int) -> list[RowBlock]:
    """Consecutive blocks of `h` rows and their sub-vectors."""
    return [RowBlock(np.arange(r0, min(r0 + h, len(matrix))), matrix[r0:r0 + h].T.copy())
            for r0 in range(0, len(matrix), h)]


def distances(vectors: np.ndarray, scales: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``D[o, l] = min over alpha of ||v_o - alpha v_l||_1`` (outputs x candidate leaders) and the best alpha.

    Every output may also be pruned at cost ``||v_o||_1``; that fallback is folded in, so a
    p-median on ``D`` never pays more than pruning.
    """
    v = vectors.astype(np.int64)
    best = np.full((len(v), len(v)), np.iinfo(np.int64).max)
    arg = np.ones((len(v), len(v)), dtype=np.int64)
    for a in scales:
        d = np.abs(v[:, None, :] - a * v[None, :, :]).sum(axis=2)
        better = d < best
        best, arg = np.where(better, d, best), np.where(better, a, arg)
    prune = np.abs(v).sum(axis=1)
    pruned = prune[:, None] <= best
    return np.where(pruned, prune[:, None], best), np.where(pruned, 0, arg)


def assign(D: np.ndarray, alpha: np.ndarray, leaders: np.ndarray) -> Clustering:
    """Each output to its nearest leader (or to zero when pruning is cheaper; a leader keeps itself)."""
    leaders = np.asarray(leaders, dtype=np.int64)
    if not len(leaders):
        return Clustering(np.full(len(D), -1), np.zeros(len(D), dtype=np.int64))
    pick = leaders[np.argmin(D[:, leaders], axis=1)]
    scale = alpha[np.arange(len(D)), pick]
    leader = np.where(scale == 0, -1, pick)
    leader[leaders] = leaders
    scale[leaders] = 1
    return Clustering(leader, np.where(leader < 0, 0, scale))


def approximate(block: RowBlock, cl: Clustering) -> np.ndarray:
    """The block's approximated sub-vectors (outputs x rows)."""
    out = np.zeros_like(block.vectors)
    kept = cl.leader >= 0
    out[kept] = cl.scale[kept, None] * cl.stored(block)[cl.leader[kept]]
    return out


def reuse_error(block: RowBlock, cl: Clustering) -> int:
    return int(np.abs(block.vectors - approximate(block, cl)).sum())


def refine(block: RowBlock, cl: Clustering, scales: tuple[int, ...], rounds: int = REFINE_ROUNDS) -> Clustering:
    """Optimized representatives (k-medians): each leader stores the integer vector minimizing its
    followers' scaled L1 error (a weighted median per row), then every output moves to its best
    stored vector, scale or zero; repeated while the error falls. Never more leaders, never more error."""
    if not np.any(cl.leader >= 0):
        return cl
    v = block.vectors.astype(np.int64)
    limit = int(np.abs(v).max(initial=0))  # stored values stay within the block's own range
    best, best_err = cl, reuse_error(block, cl)
    cur = cl
    for _ in range(rounds):
        centers = cur.stored(block).astype(np.int64).copy()
        for lead in np.unique(cur.leader[cur.leader >= 0]):
            members = np.flatnonzero(cur.leader == lead)
            centers[lead] = _median_center(v[members], cur.scale[members], limit)
        labels = np.unique(cur.leader[cur.leader >= 0])
        cost = np.abs(v).sum(axis=1)[:, None]  # pruning to zero
        choice = np.full((len(v), 1), -1)
        scale_of = np.zeros((len(v), 1), dtype=np.int64)
        for a in scales:
            d = np.abs(v[:, None, :] - a * centers[labels][None, :, :]).sum(axis=2)
            j = np.argmin(d, axis=1)
            better = d[np.arange(len(v)), j][:, None] < cost
            cost = np.where(better, d[np.arange(len(v)), j][:, None], cost)
            choice = np.where(better, labels[j][:, None], choice)
            scale_of = np.where(better, a, scale_of)
        cur = Clustering(choice.ravel(), scale_of.ravel(), centers)
        err = reuse_error(block, cur)
        if err >= best_err:
            break
        best, best_err = cur, err
    return best


def _median_center(members: np.ndarray, scale: np.ndarray, limit: int) -> np.ndarray:
    """The integer vector ``r`` minimizing ``sum_o ||v_o - a_o r||_1``: per row a weighted median of
    ``v_o / a_o`` (weights ``|a_o|``), then the better of its floor and ceiling."""
    points = members / scale[:, None]
    weight = np.abs(scale).astype(np.float64)
    order = np.argsort(points, axis=0, kind="stable")
    sorted_pts = np.take_along_axis(points, order, axis=0)
    cum = np.cumsum(weight[order], axis=0)
    k = np.argmax(cum >= cum[-1] / 2, axis=0)
    median = sorted_pts[k, np.arange(points.shape[1])]
    best = None
    for r in (np.floor(median), np.ceil(median)):
        r = np.clip(r, -limit, limit).astype(np.int64)
        err = np.abs(members - scale[:, None] * r[None, :]).sum(axis=0)
        best = (r, err) if best is None else (np.where(err < best[1], r, best[0]), np.minimum(err, best[1]))
    return best[0]


def block_cells(inst: Instance, block: RowBlock, cl: Clustering, matrix: np.ndarray) -> list[Block]:
    """The cells of a block's leaders, one cell block per crossbar set (cut at the crossbar's width),
    columns feeding every follower."""
    spec, out = inst.spec, []
    width = (spec.xbar_cols // spec.ou_cols) * spec.ou_cols
    leaders = np.unique(cl.leader[cl.leader >= 0])
    followers = np.flatnonzero(cl.leader >= 0)
    followers = followers[np.argsort(cl.leader[followers], kind="stable")]  # by leader, outputs ascending
    by_leader = cl.leader[followers]
    for cset in crossbar_sets(cl.stored(block)[leaders].T if len(leaders) else matrix[block.rows][:, :0], spec):
        values = cset.values.reshape(len(block.rows), -1)
        cols = cset.columns.reshape(-1, 4)
        keep = np.flatnonzero(values.any(axis=0))
        for part in np.split(keep, np.arange(width, len(keep), width)) if len(keep) else []:
            out.append(Block(block.rows, values[:, part], cols[part], _targets(cols[part], leaders, followers,
                                                                              by_leader, cl.scale)))
    return out


def _targets(cols: np.ndarray, leaders: np.ndarray, followers: np.ndarray, by_leader: np.ndarray,
             scale: np.ndarray) -> np.ndarray:
    """``(column, output, shift, sign)`` rows: each column (a leader's slice) feeds every follower of its
    leader, the follower's scale folded into shift and sign; columns in order, followers ascending."""
    lead = leaders[cols[:, 0]]
    first, last = np.searchsorted(by_leader, lead, "left"), np.searchsorted(by_leader, lead, "right")
    count = last - first
    column = np.repeat(np.arange(len(cols)), count)
    outputs = followers[np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)]
    a = scale[outputs]
    shift = cols[column, 1] + np.log2(np.abs(a)).astype(np.int64)
    return np.column_stack([column, outputs, shift, cols[column, 2] * np.sign(a)]).astype(np.int64).reshape(-1, 4)


def pack_lanes(inst: Instance, blocks: list[Block]) -> np.ndarray:
    """Positions ``(crossbar, row0, col0)``: blocks fill row bands of ``h`` rows, whole OU column groups each."""
    spec = inst.spec
    h, w = spec.ou_rows, spec.ou_cols
    bands, units = spec.xbar_rows // h, spec.xbar_cols // w
    where, band, used = [], 0, 0
    for b in blocks:
        width = math.ceil(b.values.shape[1] / w)
        if width > units:
            raise SolverError(f"a row block needs {width} OU columns; the crossbar has {units}")
        if used + width > units:
            band, used = band + 1, 0
        where.append((band // bands, (band % bands) * h, used * w))
        used += width
    return np.array(where, dtype=np.int64).reshape(-1, 3)


@dataclass(frozen=True)
class Params(contract.Params):
    """Reuse-clustering parameters (every method takes them)."""

    theta: float = contract.param(0.25, "leaders per row block as a fraction of its outputs", low=0.0, high=1.0,
                                  low_open=True)
    scales: str = contract.param("one", "one: a follower reuses its leader as is; sign: or negated; shift: or "
                                        "times +-2, +-4, +-8", choices=tuple(SCALES))
    allocation: str = contract.param("block", "block: ceil(theta m) leaders per block; global: the same total "
                                              "moved where it saves most error", choices=ALLOCATIONS)
    prune: float = contract.param(0.0, "zero the smallest fraction of each block's entries first (reuse-aware "
                                       "pruning)", low=0.0, high=1.0, high_open=True)
    centers: str = contract.param("medoid", "medoid: a leader stores its own sub-vector; median: the vector "
                                            "minimizing its followers' error (k-medians, no bound)", choices=CENTERS)


@dataclass(frozen=True, eq=False)
class Reuse:
    """Per row block (`blocks`), each output's leader and scale (`clusterings`, leader -1: pruned to zero) and
    what each leader stores; `matrix`, the approximated layer the mapping computes."""

    blocks: tuple[RowBlock, ...]
    clusterings: tuple[Clustering, ...]
    matrix: np.ndarray

    @property
    def reference(self) -> np.ndarray:
        return self.matrix

    def fanout(self) -> Fanout:
        """The stored leader columns as a layer of their own, and who reads them."""
        return fanout(list(self.blocks), list(self.clusterings), len(self.matrix))

    def ties(self) -> list[Tie]:
        """The vectors a re-fit may set: each leader's stored vector on its block's rows, read by its followers
        (each times its scale); pruned outputs stay zero."""
        out = []
        for block, cl in zip(self.blocks, self.clusterings):
            stored = cl.stored(block)
            for lead in np.unique(cl.leader[cl.leader >= 0]):
                outputs = np.flatnonzero(cl.leader == lead)
                out.append(Tie(block.rows, stored[lead].astype(np.float64), outputs, cl.scale[outputs].astype(np.float64)))
        return out

    def with_stored(self, values: list[np.ndarray]) -> "Reuse":
        """The same clusterings storing integer `values` (one per tie, in `ties` order) for their leaders."""
        clusterings, approx, k = [], np.zeros_like(self.matrix), 0
        for block, cl in zip(self.blocks, self.clusterings):
            centers = cl.stored(block).copy()
            for lead in np.unique(cl.leader[cl.leader >= 0]):
                centers[lead] = values[k]
                k += 1
            new = Clustering(cl.leader, cl.scale, centers)
            clusterings.append(new)
            approx[block.rows] = approximate(block, new).T
        return Reuse(self.blocks, tuple(clusterings), approx)


def to_mapping(inst: Instance, decision: Reuse) -> Mapping:
    """Every block's leaders, placed in row bands; each column feeds all its followers."""
    cells = [c for block, cl in zip(decision.blocks, decision.clusterings)
             for c in block_cells(inst, block, cl, decision.matrix)]
    mapping = place_blocks(inst.spec, inst.layer.n_inputs, inst.layer.n_outputs, cells, pack_lanes(inst, cells))
    return mapping.replace(reference=decision.matrix)


def outcome(inst: Instance, blocks: list[RowBlock], clusterings: list[Clustering], matrix: np.ndarray,
            error_bound: float, **stats) -> Outcome:
    """The clustering of `matrix`'s blocks; objective = L1 error of the approximation against the layer."""
    approx = matrix.copy()
    for block, cl in zip(blocks, clusterings):
        approx[block.rows] = approximate(block, cl).T
    error = int(np.abs(approx - inst.layer.matrix).sum())
    leaders = sum(int(len(np.unique(cl.leader[cl.leader >= 0]))) for cl in clusterings)
    outputs = sum(len(cl.leader) for cl in clusterings)
    return Outcome(Reuse(tuple(blocks), tuple(clusterings), approx), error, int(math.ceil(error_bound - 1e-9)),
                   {"leaders": leaders, "sub_vectors": outputs, "reuse": 1 - leaders / max(outputs, 1),
                    "pruned": sum(int((cl.leader < 0).sum()) for cl in clusterings), **stats})


PROBLEM = register_problem(Problem("reuse-clustering", Params, Reuse, to_mapping, objective="error_l1"))
