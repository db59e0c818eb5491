"""Filter-ordering methods: constructions, local search, annealing, LNS, multi-start, CP-SAT, MILP, auto.

Every method returns the compact ORC mapping of its grouping and the best lower bound it
knows (the combined sorted-maximum/degree bound, or the exact solver's proven bound).
Exact methods without a time limit stop after `DEFAULT_EXACT_SECONDS`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ...engines import partition_search as search
from ...engines.partition import Hypergraph
from ...engines.partition_exact import cpsat as cpsat_solve
from ...engines.partition_exact import milp as milp_solve
from ...errors import SolverError
from ...instance import Instance
from ...result import SolveResult, Status
from .. import method
from .problem import bound, hypergraph, make_result, scale, slot_bound

DEFAULT_EXACT_SECONDS = 10.0
WINDOW_WORK = 2.0  # CP-SAT deterministic time per LNS window


def heuristic(name: str):
    """Register a heuristic method `name` whose block assignment comes from the decorated builder."""
    def register(build):
        def run(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1) -> SolveResult:
            hg = hypergraph(inst)
            return make_result(inst, hg, build(hg, time_limit, seed, workers), name, bound(inst, hg))
        run.__doc__ = build.__doc__
        method("filter-ordering", name)(run)
        return build
    return register


@heuristic("natural")
def _natural(hg, time_limit, seed, workers):
    """Natural filter order (ORC baseline in the compact layout)."""
    return search.natural(hg)


@heuristic("sort")
def _sort(hg, time_limit, seed, workers):
    """Filters sorted lexicographically by row support."""
    return search.sort_by_support(hg)


@heuristic("greedy")
def _greedy(hg, time_limit, seed, workers):
    """Greedy seed-and-grow: densest free filter first, then the filter adding fewest OU slots."""
    return search.greedy(hg)


@heuristic("matching")
def _matching(hg, time_limit, seed, workers):
    """Minimum-cost perfect matching (exact for g = 2), applied recursively for g = 2^t."""
    if hg.g & (hg.g - 1):
        raise SolverError(f"matching needs a power-of-two group size, got g = {hg.g}")
    return search.recursive_matching(hg)


@heuristic("local-search")
def _local(hg, time_limit, seed, workers):
    """Greedy, then best-swap descent with incremental deltas."""
    return search.local_search(hg, search.greedy(hg), seed, time_limit)


@heuristic("anneal")
def _anneal(hg, time_limit, seed, workers):
    """Simulated annealing over best-of-pair swaps from the greedy grouping, then descent."""
    return search.anneal(hg, search.greedy(hg), seed, time_limit=time_limit)


@heuristic("multistart")
def _multistart(hg, time_limit, seed, workers):
    """Descent from greedy, sorted, matching and random starts in parallel (joblib); the best."""
    return search.multistart(hg, _starts(hg, seed, workers), seed, workers, time_limit)


@heuristic("lns")
def _lns(hg, time_limit, seed, workers):
    """Large-neighbourhood search: re-solve three blocks at a time exactly with CP-SAT."""
    return lns(hg, best_heuristic(hg, seed, workers), seed, time_limit=time_limit)


def _starts(hg: Hypergraph, seed: int, workers: int) -> list[np.ndarray]:
    starts = [search.greedy(hg), search.sort_by_support(hg), search.natural(hg)]
    if not hg.g & (hg.g - 1) and hg.n_vertices <= 512:
        starts.append(search.recursive_matching(hg))
    return starts + [search.random_blocks(hg, seed + i) for i in range(max(2, workers))]


def best_heuristic(hg: Hypergraph, seed: int = 0, workers: int = 1) -> np.ndarray:
    """The multi-start result: the hint exact methods start from."""
    return search.multistart(hg, _starts(hg, seed, workers), seed, workers)


def lns(hg: Hypergraph, block: np.ndarray, seed: int, windows: int | None = None, time_limit: float | None = None,
        window: int = 3) -> np.ndarray:
    """Re-optimize `window` random blocks at a time with CP-SAT (their cost is independent of the rest).

    Each window is solved to optimality or a fixed deterministic work limit, so a seed fixes
    the result; `windows` defaults to ``2 x blocks`` and `time_limit` only caps the loop.
    """
    rng = np.random.default_rng(seed)
    block = block.copy()
    deadline = math.inf if time_limit is None else time.perf_counter() + time_limit
    for _ in range(windows if windows is not None else 2 * hg.n_blocks):
        if time.perf_counter() >= deadline or hg.n_blocks < 2:
            break
        chosen = np.sort(rng.choice(hg.n_blocks, size=min(window, hg.n_blocks), replace=False))
        verts = np.flatnonzero(np.isin(block, chosen))
        sub = _sub_hypergraph(hg, verts)
        local = np.searchsorted(chosen, block[verts])
        res = cpsat_solve(sub, None, seed, 1, hint=local, work_limit=WINDOW_WORK)
        if res.block is not None and sub.cost(res.block) < sub.cost(local):
            block[verts] = chosen[res.block]
    return search.local_search(hg, block, seed)


def _sub_hypergraph(hg: Hypergraph, verts: np.ndarray) -> Hypergraph:
    pins = hg.pins[:, verts].tocsr()
    keep = np.flatnonzero(np.diff(pins.indptr) > 0)
    return Hypergraph(pins[keep], hg.weight[keep], hg.bucket[keep], hg.n_buckets, hg.g, hg.h)


def _exact(inst: Instance, name: str, time_limit, seed: int, workers: int) -> SolveResult:
    hg = hypergraph(inst)
    hint = best_heuristic(hg, seed, workers)
    lb = slot_bound(hg)
    limit = time_limit or DEFAULT_EXACT_SECONDS
    if name == "cpsat":
        res = cpsat_solve(hg, limit, seed, workers, hint=hint, bound=lb)
    else:
        res = milp_solve(hg, limit, bound=lb)
    block = hint if res.block is None or hg.cost(res.block) > hg.cost(hint) else res.block
    status = Status.OPTIMAL if res.status == Status.OPTIMAL and hg.cost(block)[0] == res.objective else Status.FEASIBLE
    return make_result(inst, hg, block, name, scale(inst) * max(lb, res.bound), status, solver_status=res.status.value)


@method("filter-ordering", "cpsat", exact=True)
def cpsat(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1) -> SolveResult:
    """CP-SAT with symmetry breaking, the multi-start grouping as hint and the combined bound."""
    return _exact(inst, "cpsat", time_limit, seed, workers)


@method("filter-ordering", "milp", exact=True)
def milp(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1) -> SolveResult:
    """The same model as a HiGHS MILP (scipy.optimize.milp); the multi-start grouping if it finds worse."""
    return _exact(inst, "milp", time_limit, seed, workers)


@method("filter-ordering", "auto")
def auto(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1) -> SolveResult:
    """Multi-start search (matching makes g = 2 exact); then CP-SAT up to 32 filters, annealing above.

    Without a time limit every stage has a deterministic budget, so the seed fixes the result.
    """
    start = time.perf_counter()
    hg = hypergraph(inst)
    block, lb = best_heuristic(hg, seed, workers), slot_bound(hg)
    left = None if time_limit is None else time_limit - (time.perf_counter() - start)
    if hg.cost(block)[0] > lb and (left is None or left > 0.1):
        if hg.n_vertices <= 32:
            res = cpsat_solve(hg, left, seed, workers, hint=block, bound=lb,
                              work_limit=DEFAULT_EXACT_SECONDS if left is None else None)
            lb = max(lb, res.bound)
            if res.block is not None and hg.cost(res.block) <= hg.cost(block):
                block = res.block
        else:
            block = search.anneal(hg, block, seed, time_limit=left)
    return make_result(inst, hg, block, "auto", scale(inst) * lb)
