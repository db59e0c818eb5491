"""Filter-ordering methods: constructions, local search, annealing, LNS, multi-start, mtkahypar (optional), CP-SAT, MILP, auto.

Each method is a builder ``(hypergraph, run, slot bound) -> (block, slot bound)``; `register` wraps it into
a method that returns the grouping with the best bound it knows, and optionally prunes rows under
an error budget (regrouping after) and restores pruned weights for free (parameters ``budget``
and ``recovery``). Without a time limit every stage has a deterministic budget, so a seed fixes
the result; with one, the stages share it (see the named shares below).
"""

from __future__ import annotations

import logging

import numpy as np

from ...engines import partition_search as search
from ...engines.deadline import DeadlinePassed
from ...engines.partition import Hypergraph
from ...engines.partition_colgen import pricing, set_partition_bound
from ...engines.partition_exact import cpsat as cpsat_solve
from ...engines.partition_exact import milp as milp_solve
from ...errors import SolverError
from ...instance import Instance
from ..contract import Outcome, Run, method
from .problem import Params, hypergraph, outcome, scale, slot_bound
from .recovery import budget_prune, free_recovery

log = logging.getLogger(__name__)

#: CP-SAT seconds an exact method gets without a time limit (so a call without one still ends)
DEFAULT_EXACT_SECONDS = 10.0
#: CP-SAT deterministic time per LNS window: a window of three groups is solved or improved in well under it
WINDOW_WORK = 2.0
#: auto calls CP-SAT up to this many filters: there it proves optima within seconds; above, annealing gains more
EXACT_MAX_FILTERS = 32
#: blocks up to which multi-start descends from every start and auto anneals after it; above, with g = 2^t, only
#: the matching start is descended: the other starts' descents cost far more and end worse, and annealing gains
#: nothing there (2304 x 256 at 80 %, g = 4: matching 10952 OU slots, its descent 10949 in 0.7 s; the best other
#: start 10956 in 3.3 s; annealing after it 10950 in 2.5 s)
WIDE_BLOCKS = 32
#: share of the time limit Mt-KaHyPar gets in the mtkahypar method: the rest builds the greedy grouping should it
#: not finish, and polishes either
PARTITIONER_SHARE = 0.75
#: share of the time limit the multi-start grouping gets before auto's CP-SAT/annealing, LNS or an exact solve
#: (the rest improves on it; without a limit every phase has its deterministic budget)
HEURISTIC_SHARE = 0.5
#: rounds of budgeted pruning and regrouping (the second round rarely saves more than a slot or two)
PRUNE_ROUNDS = 2
#: share of the time limit kept for recovery and the mapping (compact ORC layout of every group)
MAPPING_SHARE = 0.15
#: share of the time limit the slot bound may take (its matching MILP is the only part that can be slow)
BOUND_SHARE = 0.25
#: share of the time left after the multi-start grouping that the set-partitioning bound (column generation)
#: may take in cpsat, milp and auto; it usually ends far sooner (64 filters at g = 4: about 3 s, optimum proven)
COLGEN_SHARE = 0.6
#: seconds the set-partitioning bound gets without a time limit (it ends long before on every ResNet layer, so a
#: seed still fixes the result)
DEFAULT_COLGEN_SECONDS = 30.0


def register(name: str, exact: bool = False):
    """Register the decorated block builder as filter-ordering method `name`."""
    def wrap(build):
        def run_method(inst: Instance, params: Params, run: Run) -> Outcome:
            matrix, stats = inst.layer.matrix, {}
            hg = hypergraph(inst)
            run = run.share(1 - MAPPING_SHARE)
            if params.budget > 0:  # every grouping (the first and one per round) gets an equal share
                block, lb = _group(build, hg, run.share(1 / (PRUNE_ROUNDS + 1)))
                matrix, block, lb, stats = _prune_and_regroup(inst, build, block, params.budget, run)
                hg = hypergraph(inst, matrix)
            else:
                block, lb = _group(build, hg, run)
            if params.recovery == "free":
                matrix, more = free_recovery(inst, matrix, block)
                stats.update(more)
            changed = matrix is not inst.layer.matrix and not np.array_equal(matrix, inst.layer.matrix)
            return outcome(inst, hg, block, scale(inst) * lb, matrix if changed else None, **stats)
        run_method.__doc__ = build.__doc__
        method("filter-ordering", name, exact)(run_method)
        return build
    return wrap


def _prune_and_regroup(inst, build, block, budget, run: Run):
    """Alternate budgeted row pruning (exact for the grouping) with regrouping on the pruned support."""
    matrix, spent, saved = inst.layer.matrix, 0.0, 0
    for done in range(PRUNE_ROUNDS):
        matrix, st = budget_prune(inst, matrix, block, budget - spent)
        spent, saved = spent + st["error_spent"], saved + st["slots_saved"]
        block, lb = _group(build, hypergraph(inst, matrix), run.share(1 / (PRUNE_ROUNDS - done)))
    return matrix, block, lb, {"slots_saved": saved, "error_spent": spent}


def _group(build, hg: Hypergraph, run: Run):
    """The slot bound within its share of the time, then the builder in the time left."""
    return build(hg, run, slot_bound(hg, run.share(BOUND_SHARE).left()))


@register("natural")
def natural(hg: Hypergraph, run: Run, lb: int):
    """Natural filter order (ORC baseline in the compact layout)."""
    return search.natural(hg), lb


@register("sort")
def sort(hg: Hypergraph, run: Run, lb: int):
    """Filters sorted lexicographically by row support."""
    return search.sort_by_support(hg), lb


@register("greedy")
def greedy(hg: Hypergraph, run: Run, lb: int):
    """Greedy seed-and-grow: densest free filter first, then the filter adding fewest OU slots."""
    return search.greedy(hg, run.deadline), lb


@register("matching")
def matching(hg: Hypergraph, run: Run, lb: int):
    """Minimum-cost perfect matching (exact for g = 2), applied recursively for g = 2^t."""
    if hg.g & (hg.g - 1):
        raise SolverError(f"matching needs a power-of-two group size, got g = {hg.g}")
    block, lb = _matching_start(hg, run, lb)
    return (search.greedy(hg, run.deadline) if block is None else block), lb


@register("local-search")
def local_search(hg: Hypergraph, run: Run, lb: int):
    """Greedy, then best-swap descent with incremental deltas."""
    return search.local_search(hg, search.greedy(hg, run.deadline), run.seed, run.left()), lb


@register("anneal")
def anneal(hg: Hypergraph, run: Run, lb: int):
    """Simulated annealing over best-of-pair swaps from the greedy grouping, then descent."""
    return search.anneal(hg, search.greedy(hg, run.deadline), run.seed, time_limit=run.left()), lb


@register("multistart")
def multistart(hg: Hypergraph, run: Run, lb: int):
    """Descent from greedy, sorted, matching and random starts in parallel (joblib); the best."""
    return best_heuristic(hg, run, lb)


@register("lns")
def lns(hg: Hypergraph, run: Run, lb: int):
    """Large-neighbourhood search: re-solve three groups at a time exactly with CP-SAT."""
    block, lb = best_heuristic(hg, run.share(HEURISTIC_SHARE), lb)
    return windows(hg, block, run), lb


@register("mtkahypar")
def mtkahypar(hg: Hypergraph, run: Run, lb: int):
    """Mt-KaHyPar km1 partition (optional package), polished by best-swap descent on the OU objective.

    Uses Mt-KaHyPar's deterministic preset, so a seed fixes the grouping at any worker count
    (the default preset can return different partitions from the same seed). Should it not finish
    within its share of the limit (`PARTITIONER_SHARE`), the descent starts from the greedy grouping instead.
    """
    from ...engines.partition_mtkahypar import mtkahypar_blocks

    block = mtkahypar_blocks(hg, run.seed, run.workers, run.share(PARTITIONER_SHARE).left(), preset="deterministic")
    if block is None:
        log.warning("mtkahypar: no partition within the time limit; descending from the greedy grouping")
        block = search.greedy(hg, run.deadline)
    return search.local_search(hg, block, run.seed, run.left()), lb


@register("cpsat", exact=True)
def cpsat(hg: Hypergraph, run: Run, lb: int):
    """CP-SAT with symmetry breaking, the multi-start grouping as hint and the combined bound."""
    return _exact(hg, cpsat_solve, run, lb)


@register("milp", exact=True)
def milp(hg: Hypergraph, run: Run, lb: int):
    """The same model as a HiGHS MILP (scipy.optimize.milp); keeps the multi-start grouping if better."""
    return _exact(hg, lambda h, t, s, w, hint, bound: milp_solve(h, t, bound), run, lb)


@register("auto")
def auto(hg: Hypergraph, run: Run, lb: int):
    """Multi-start (its exact matching makes g = 2 optimal, so there it gets all the time); then the
    set-partitioning bound and grouping (column generation); then CP-SAT up to 32 filters, annealing above (up to
    `WIDE_BLOCKS` blocks, or any with g not a power of two)."""
    block, lb = best_heuristic(hg, run if hg.g == 2 else run.share(HEURISTIC_SHARE), lb)
    block, lb = colgen(hg, block, run, lb)
    if hg.cost(block)[0] > lb and not run.expired():
        if hg.n_vertices <= EXACT_MAX_FILTERS:
            res = cpsat_solve(hg, run.left(), run.seed, run.workers, hint=block, bound=lb,
                              work_limit=DEFAULT_EXACT_SECONDS if run.deadline is None else None)
            lb = max(lb, res.bound)
            if res.block is not None and hg.cost(res.block) <= hg.cost(block):
                block = res.block
        elif _wide(hg):
            block = search.anneal(hg, block, run.seed, time_limit=run.left())
    return block, lb


def _exact(hg: Hypergraph, solver, run: Run, lb: int):
    """Run an exact solver from the multi-start hint in the time left; the better grouping and bound."""
    if run.deadline is None:
        run = Run.starting(DEFAULT_EXACT_SECONDS, run.seed, run.workers)
    hint, lb = best_heuristic(hg, run.share(HEURISTIC_SHARE), lb)
    hint, lb = colgen(hg, hint, run, lb)
    if hg.cost(hint)[0] == lb or run.expired():
        return hint, lb
    res = solver(hg, run.left(), run.seed, run.workers, hint=hint, bound=lb)
    block = hint if res.block is None or hg.cost(res.block) > hg.cost(hint) else res.block
    return block, max(lb, res.bound)


def colgen(hg: Hypergraph, block: np.ndarray, run: Run, lb: int) -> tuple[np.ndarray, int]:
    """The set-partitioning bound by column generation from `block` in `COLGEN_SHARE` of the time left
    (`DEFAULT_COLGEN_SECONDS` without a limit); the better grouping and the larger bound. Run where its pricing
    enumerates groups (of g, or of half of g): above, CP-SAT's bound on the pricing problem is too weak to pay.
    Skipped when `block` already meets `lb` or at g = 1 (every grouping is the same)."""
    limit = DEFAULT_COLGEN_SECONDS if run.deadline is None else run.share(COLGEN_SHARE).left()
    if hg.g < 2 or hg.cost(block)[0] <= lb or run.expired() or pricing(hg.n_vertices, hg.g, limit) == "search":
        return block, lb
    res = set_partition_bound(hg, block, limit, run.seed, bound=lb)
    if res.block is not None and hg.cost(res.block) < hg.cost(block):
        block = res.block
    return block, max(lb, res.bound)


def best_heuristic(hg: Hypergraph, run: Run = Run(), lb: int = 0) -> tuple[np.ndarray, int]:
    """Descent from greedy, sorted, natural, matching (g = 2^t) and random starts; the best, and the bound `lb`
    (raised when the matching proves its grouping optimal). The matching is built first: when it meets the
    bound it is returned as it is, and above `WIDE_BLOCKS` blocks only it is descended. The time limit covers
    the constructions (later ones are skipped once it has passed); the descents share what is left."""
    matched, lb = _matching_start(hg, run, lb)
    if matched is not None and hg.cost(matched)[0] <= lb:
        return matched, lb
    if matched is not None and not _wide(hg):
        return search.local_search(hg, matched, run.seed, run.left()), lb
    starts = [search.greedy(hg, run.deadline)]
    builders = [search.sort_by_support, search.natural] + ([] if matched is None else [lambda h: matched])
    builders += [lambda h, s=run.seed + i: search.random_blocks(h, s) for i in range(max(2, run.workers))]
    starts += [b(hg) for b in builders if not run.expired()]
    return search.multistart(hg, starts, run.seed, run.workers, run.left()), lb


def _wide(hg: Hypergraph) -> bool:
    """Whether the heuristics search wide (every start, annealing): up to `WIDE_BLOCKS` blocks, or without the
    matching start (g not a power of two)."""
    return hg.n_blocks <= WIDE_BLOCKS or bool(hg.g & (hg.g - 1))


def _matching_start(hg: Hypergraph, run: Run, lb: int) -> tuple[np.ndarray | None, int]:
    """The recursive matching grouping (None for g not a power of two, or when its pair costs do not fit the
    time left) and `lb`, raised to its cost when it is proven optimal (a proven matching at g = 2)."""
    if hg.g & (hg.g - 1):
        return None, lb
    try:
        block, proven = search.recursive_matching(hg, run.deadline)
    except DeadlinePassed:
        return None, lb
    return block, max(lb, hg.cost(block)[0]) if proven and hg.g == 2 else lb


def windows(hg: Hypergraph, block: np.ndarray, run: Run, count: int | None = None, size: int = 3) -> np.ndarray:
    """Re-optimize `size` random groups at a time with CP-SAT (their cost is independent of the rest).

    Each window runs to optimality or a deterministic work limit; `count` defaults to
    ``2 x groups``; the run's deadline only caps the loop.
    """
    rng = np.random.default_rng(run.seed)
    block = block.copy()
    for _ in range(count if count is not None else 2 * hg.n_blocks):
        if run.expired() or hg.n_blocks < 2:
            break
        chosen = np.sort(rng.choice(hg.n_blocks, size=min(size, hg.n_blocks), replace=False))
        verts = np.flatnonzero(np.isin(block, chosen))
        sub = _sub_hypergraph(hg, verts)
        local = np.searchsorted(chosen, block[verts])
        res = cpsat_solve(sub, run.left(), run.seed, 1, hint=local, work_limit=WINDOW_WORK)
        if res.block is not None and sub.cost(res.block) < sub.cost(local):
            block[verts] = chosen[res.block]
    return search.local_search(hg, block, run.seed, run.left())


def _sub_hypergraph(hg: Hypergraph, verts: np.ndarray) -> Hypergraph:
    pins = hg.pins[:, verts].tocsr()
    keep = np.flatnonzero(np.diff(pins.indptr) > 0)
    return Hypergraph(pins[keep], hg.weight[keep], hg.bucket[keep], hg.n_buckets, hg.g, hg.h)
