"""Filter-ordering methods: constructions, local search, annealing, LNS, multi-start, mtkahypar (optional), CP-SAT, MILP, auto.

Each method is a builder ``(hypergraph, time_limit, seed, workers) -> (block, slot bound)``;
`register` wraps it into a solver that maps the grouping (`compact_mapping`), reports the
best bound it knows, and optionally prunes rows under an error budget (regrouping after)
and restores pruned weights for free (parameters ``budget`` and ``recovery``).
Without a time limit every stage has a deterministic budget, so a seed fixes the result.
"""

from __future__ import annotations

import numpy as np

from ...engines import partition_search as search
from ...engines.deadline import deadline_of, expired, time_left
from ...engines.partition import Hypergraph
from ...engines.partition_exact import cpsat as cpsat_solve
from ...engines.partition_exact import milp as milp_solve
from ...errors import SolverError
from ...instance import Instance
from ...result import SolveResult
from .. import method
from .problem import hypergraph, make_result, scale, slot_bound
from .recovery import budget_prune, free_recovery

DEFAULT_EXACT_SECONDS = 10.0
WINDOW_WORK = 2.0  # CP-SAT deterministic time per LNS window
RECOVERY = ("none", "free")


def register(name: str, exact: bool = False):
    """Register the decorated block builder as filter-ordering method `name`."""
    def wrap(build):
        def run(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1, recovery: str = "none",
                budget: float = 0.0) -> SolveResult:
            if recovery not in RECOVERY:
                raise SolverError(f"recovery must be one of {RECOVERY}, got {recovery!r}")
            if not 0.0 <= float(budget) < 1.0:
                raise SolverError(f"budget must be a fraction of the squared weight norm in [0, 1), got {budget}")
            matrix, stats = inst.layer.matrix, {}
            hg = hypergraph(inst)
            block, lb = build(hg, time_limit, seed, workers)
            if budget > 0:
                matrix, block, lb, stats = _prune_and_regroup(inst, build, block, float(budget), time_limit, seed, workers)
                hg = hypergraph(inst, matrix)
            if recovery == "free":
                matrix, more = free_recovery(inst, matrix, block)
                stats.update(more)
            changed = matrix is not inst.layer.matrix and not np.array_equal(matrix, inst.layer.matrix)
            return make_result(inst, hg, block, name, scale(inst) * lb, matrix=matrix if changed else None, **stats)
        run.__doc__ = build.__doc__
        method("filter-ordering", name, exact)(run)
        return build
    return wrap


def _prune_and_regroup(inst, build, block, budget, time_limit, seed, workers, rounds: int = 2):
    """Alternate budgeted row pruning (exact for the grouping) with regrouping on the pruned support."""
    matrix, spent, saved = inst.layer.matrix, 0.0, 0
    for _ in range(rounds):
        matrix, st = budget_prune(inst, matrix, block, budget - spent)
        spent, saved = spent + st["error_spent"], saved + st["slots_saved"]
        block, lb = build(hypergraph(inst, matrix), time_limit, seed, workers)
    return matrix, block, lb, {"slots_saved": saved, "error_spent": spent}


@register("natural")
def natural(hg, time_limit, seed, workers):
    """Natural filter order (ORC baseline in the compact layout)."""
    return search.natural(hg), slot_bound(hg)


@register("sort")
def sort(hg, time_limit, seed, workers):
    """Filters sorted lexicographically by row support."""
    return search.sort_by_support(hg), slot_bound(hg)


@register("greedy")
def greedy(hg, time_limit, seed, workers):
    """Greedy seed-and-grow: densest free filter first, then the filter adding fewest OU slots."""
    return search.greedy(hg), slot_bound(hg)


@register("matching")
def matching(hg, time_limit, seed, workers):
    """Minimum-cost perfect matching (exact for g = 2), applied recursively for g = 2^t."""
    if hg.g & (hg.g - 1):
        raise SolverError(f"matching needs a power-of-two group size, got g = {hg.g}")
    return search.recursive_matching(hg), slot_bound(hg)


@register("local-search")
def local_search(hg, time_limit, seed, workers):
    """Greedy, then best-swap descent with incremental deltas."""
    return search.local_search(hg, search.greedy(hg), seed, time_limit), slot_bound(hg)


@register("anneal")
def anneal(hg, time_limit, seed, workers):
    """Simulated annealing over best-of-pair swaps from the greedy grouping, then descent."""
    return search.anneal(hg, search.greedy(hg), seed, time_limit=time_limit), slot_bound(hg)


@register("multistart")
def multistart(hg, time_limit, seed, workers):
    """Descent from greedy, sorted, matching and random starts in parallel (joblib); the best."""
    return best_heuristic(hg, seed, workers, time_limit), slot_bound(hg)


@register("lns")
def lns(hg, time_limit, seed, workers):
    """Large-neighbourhood search: re-solve three groups at a time exactly with CP-SAT."""
    end = deadline_of(time_limit)
    block = best_heuristic(hg, seed, workers, time_limit)
    return windows(hg, block, seed, time_limit=time_left(end)), slot_bound(hg)


@register("mtkahypar")
def mtkahypar(hg, time_limit, seed, workers):
    """Mt-KaHyPar km1 partition (optional package), polished by best-swap descent on the OU objective.

    Uses Mt-KaHyPar's deterministic preset, so a seed fixes the grouping at any worker count
    (the default preset can return different partitions from the same seed).
    """
    from ...engines.partition_mtkahypar import mtkahypar_blocks

    end = deadline_of(time_limit)
    block = mtkahypar_blocks(hg, seed, workers, time_limit, preset="deterministic")
    return search.local_search(hg, block, seed, time_left(end)), slot_bound(hg)


@register("cpsat", exact=True)
def cpsat(hg, time_limit, seed, workers):
    """CP-SAT with symmetry breaking, the multi-start grouping as hint and the combined bound."""
    return _exact(hg, cpsat_solve, time_limit, seed, workers)


@register("milp", exact=True)
def milp(hg, time_limit, seed, workers):
    """The same model as a HiGHS MILP (scipy.optimize.milp); keeps the multi-start grouping if better."""
    return _exact(hg, lambda h, t, s, w, hint, bound: milp_solve(h, t, bound), time_limit, seed, workers)


@register("auto")
def auto(hg, time_limit, seed, workers):
    """Multi-start (matching makes g = 2 exact); then CP-SAT up to 32 filters, annealing above."""
    end = deadline_of(time_limit)
    block, lb = best_heuristic(hg, seed, workers), slot_bound(hg)
    left = time_left(end)
    if hg.cost(block)[0] > lb and (left is None or left > 0.1):
        if hg.n_vertices <= 32:
            res = cpsat_solve(hg, left, seed, workers, hint=block, bound=lb,
                              work_limit=DEFAULT_EXACT_SECONDS if left is None else None)
            lb = max(lb, res.bound)
            if res.block is not None and hg.cost(res.block) <= hg.cost(block):
                block = res.block
        else:
            block = search.anneal(hg, block, seed, time_limit=left)
    return block, lb


def _exact(hg: Hypergraph, solver, time_limit, seed: int, workers: int):
    """Run an exact solver from the multi-start hint in the time left; the better grouping and bound."""
    end = deadline_of(time_limit or DEFAULT_EXACT_SECONDS)
    hint, lb = best_heuristic(hg, seed, workers, time_limit), slot_bound(hg)
    if hg.cost(hint)[0] == lb:
        return hint, lb
    res = solver(hg, time_left(end, 0.1), seed, workers, hint=hint, bound=lb)
    block = hint if res.block is None or hg.cost(res.block) > hg.cost(hint) else res.block
    return block, max(lb, res.bound)


def best_heuristic(hg: Hypergraph, seed: int = 0, workers: int = 1, time_limit: float | None = None) -> np.ndarray:
    """Descent from greedy, sorted, natural, matching (g = 2^t) and random starts; the best. A time limit
    covers the constructions too; each descent gets what is left when it starts."""
    end = deadline_of(time_limit)
    starts = [search.greedy(hg), search.sort_by_support(hg), search.natural(hg)]
    if not hg.g & (hg.g - 1) and hg.n_vertices <= 512:
        starts.append(search.recursive_matching(hg))
    starts += [search.random_blocks(hg, seed + i) for i in range(max(2, workers))]
    return search.multistart(hg, starts, seed, workers, time_left(end, 0.05))


def windows(hg: Hypergraph, block: np.ndarray, seed: int, count: int | None = None, time_limit: float | None = None,
            size: int = 3) -> np.ndarray:
    """Re-optimize `size` random groups at a time with CP-SAT (their cost is independent of the rest).

    Each window runs to optimality or a deterministic work limit; `count` defaults to
    ``2 x groups``; `time_limit` only caps the loop.
    """
    rng = np.random.default_rng(seed)
    block = block.copy()
    end = deadline_of(time_limit)
    for _ in range(count if count is not None else 2 * hg.n_blocks):
        if expired(end) or hg.n_blocks < 2:
            break
        chosen = np.sort(rng.choice(hg.n_blocks, size=min(size, hg.n_blocks), replace=False))
        verts = np.flatnonzero(np.isin(block, chosen))
        sub = _sub_hypergraph(hg, verts)
        local = np.searchsorted(chosen, block[verts])
        res = cpsat_solve(sub, time_left(end, 0.05), seed, 1, hint=local, work_limit=WINDOW_WORK)
        if res.block is not None and sub.cost(res.block) < sub.cost(local):
            block[verts] = chosen[res.block]
    return search.local_search(hg, block, seed, time_left(end, 0.05))


def _sub_hypergraph(hg: Hypergraph, verts: np.ndarray) -> Hypergraph:
    pins = hg.pins[:, verts].tocsr()
    keep = np.flatnonzero(np.diff(pins.indptr) > 0)
    return Hypergraph(pins[keep], hg.weight[keep], hg.bucket[keep], hg.n_buckets, hg.g, hg.h)
