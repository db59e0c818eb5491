"""Balanced `Hypergraph` partitioning with Mt-KaHyPar (optional: ``pip install 'mapopt[partition]'``).

Mt-KaHyPar (Gottesbüren, Heuer, Maas, Sanders, Schlag: "Scalable High-Quality Hypergraph
Partitioning", ACM TALG 20(1), 2024; MIT licence) minimizes the connectivity metric
``sum_e w_e (lambda_e - 1)`` under a balance constraint. With every vertex of weight 1, the
filters padded by empty dummy vertices to ``k g`` (``k`` = blocks) and ``epsilon = 0``, each
block holds exactly ``g`` vertices, so the partition is a feasible grouping and its km1 value
plus the total net weight is the number of kept rows. The OU ceilings are not in its
objective; `mapopt.problems.filter_ordering` polishes its partition with the swap local
search on the true objective.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import SolverError
from .deadline import call_with_deadline
from .partition import Hypergraph

log = logging.getLogger(__name__)

MISSING = "method mtkahypar needs the optional package: pip install 'mapopt[partition]' (or pip install mtkahypar)"
PRESETS = ("default", "quality", "highest_quality", "deterministic")


def available() -> bool:
    """Whether the optional ``mtkahypar`` package can be imported."""
    try:
        import mtkahypar  # noqa: F401
    except ImportError:
        return False
    return True


def _library():
    try:
        import mtkahypar
    except ImportError:
        raise SolverError(MISSING) from None
    return mtkahypar


def mtkahypar_blocks(hg: Hypergraph, seed: int = 0, threads: int = 1, time_limit: float | None = None,
                     preset: str = "default") -> np.ndarray | None:
    """Block id per vertex from Mt-KaHyPar's km1 partition into ``hg.n_blocks`` blocks of at most ``hg.g``;
    None when it has not finished within `time_limit`.

    Parameters
    ----------
    hg : the hypergraph; net weights are `hg.weight`, buckets and ``h`` are not seen by Mt-KaHyPar.
    seed : Mt-KaHyPar's random seed (with ``threads = 1`` the same seed gives the same partition).
    threads : Mt-KaHyPar's thread count.
    time_limit : Mt-KaHyPar has no limit of its own, so it always runs in a child process (its thread
        pool must never start here), killed once `time_limit` seconds have passed.
    preset : ``default``, ``quality``, ``highest_quality`` or ``deterministic``.

    Raises
    ------
    SolverError
        When ``mtkahypar`` is not installed, or `threads` or `preset` is invalid.

    Notes
    -----
    Single-pin nets are left out: every partition keeps them once. The library's partition is
    checked against the block capacity; should a block exceed ``g`` (it does not with
    ``epsilon = 0``), its surplus vertices move to the blocks with room where they share most rows.
    """
    if threads < 1:
        raise SolverError(f"threads must be at least 1, got {threads}")
    if preset not in PRESETS:
        raise SolverError(f"preset must be one of {PRESETS}, got {preset!r}")
    _library()
    if hg.n_blocks < 2:
        return np.zeros(hg.n_vertices, dtype=np.int64)
    done, block = call_with_deadline(_partition, time_limit, hg, seed, threads, preset, grace=0.0, isolate=True)
    return repair(hg, block) if done else None


def _partition(hg: Hypergraph, seed: int, threads: int, preset: str) -> np.ndarray:
    """Mt-KaHyPar's partition, padded with pinless dummies so that every block holds exactly ``g``."""
    mtk = _library()
    m, k, g = hg.n_vertices, hg.n_blocks, hg.g
    pins = hg.pins.tocsr()
    degree = np.diff(pins.indptr)
    nets = np.flatnonzero(degree >= 2)
    if not len(nets):
        return np.arange(m) // g
    edges = [pins.indices[pins.indptr[e]:pins.indptr[e + 1]].tolist() for e in nets]
    n_nodes = k * g  # dummies m..k*g-1 have no pins; with epsilon 0 every block holds exactly g
    init = mtk.initialize(int(threads), False)
    ctx = init.context_from_preset(getattr(mtk.PresetType, preset.upper()))
    ctx.set_partitioning_parameters(k, 0.0, mtk.Objective.KM1)
    ctx.logging = False
    mtk.set_seed(int(seed))
    graph = init.create_hypergraph(ctx, n_nodes, len(edges), edges, [1] * n_nodes,
                                   hg.weight[nets].astype(np.int64).tolist())
    return np.asarray(graph.partition(ctx).get_partition(), dtype=np.int64)[:m]


def repair(hg: Hypergraph, block: np.ndarray) -> np.ndarray:
    """`block` with at most ``g`` vertices per block: surplus vertices (fewest rows first) move to the
    block with room that already keeps most of their rows."""
    block = np.asarray(block, dtype=np.int64).copy()
    k, g = hg.n_blocks, hg.g
    block[(block < 0) | (block >= k)] = -1
    sizes = np.bincount(block[block >= 0], minlength=k)
    if sizes.max(initial=0) <= g and (block >= 0).all():
        return block
    dense = hg.pins.toarray().astype(np.int64) * hg.weight[:, None]
    rows = dense.sum(axis=0)
    loose = list(np.flatnonzero(block < 0))
    for j in np.flatnonzero(sizes > g):
        members = np.flatnonzero(block == j)
        surplus = members[np.argsort(rows[members], kind="stable")][:sizes[j] - g]
        block[surplus] = -1
        sizes[j] = g
        loose += surplus.tolist()
    log.info("mtkahypar: repairing an unbalanced partition (%d vertices moved)", len(loose))
    for v in loose:
        room = np.flatnonzero(sizes < g)
        kept = np.stack([(dense[:, block == j] > 0).any(axis=1) for j in room], axis=1)
        shared = (dense[:, v][:, None] * kept).sum(axis=0)
        j = int(room[np.argmax(shared)])
        block[v] = j
        sizes[j] += 1
    return block
