"""Pattern-placement methods: one per block formation, an exact variant, and auto.

The parameters all methods share are declared in `problem.Params` (pattern count and size,
kernels removed, pattern selection, placement). The objective is OU activations per input
vector; crossbars, index bits and the kept weight are reported beside it.
"""

from __future__ import annotations

import numpy as np

from ...engines import packing2d
from ...instance import Instance
from ..contract import Outcome, Run, call, method
from ..filter_ordering.problem import Params as GroupingParams
from . import formation as form
from .problem import Params, grid, index_bits, outcome, prune, split_tall, units

#: CP-SAT seconds an exact step gets without a time limit (so a call without one still ends)
DEFAULT_EXACT_SECONDS = 10.0
#: share of the time limit pattern pruning may take (only p-median selection uses it); formation and placement
#: need the rest
PRUNE_SHARE = 0.5
#: share of what is left that the cpsat method gives its exact grouping; CP-SAT placement gets the rest
EXACT_GROUPING_SHARE = 2 / 3
#: share of what is left that auto's formations take together (CP-SAT placement may use the rest)
FORMATION_SHARE = 0.5
#: share of a formation's time its block forming (the grouping search) may take; placement gets the rest
FORMING_SHARE = 0.5


def form_blocks(inst: Instance, pruned, name: str, run: Run, exact_groups: bool = False):
    """The blocks of formation `name` (crossbar-high pieces at most). ``grouped`` asks filter ordering for its
    grouping of the pruned layer (``multistart``, or ``cpsat`` with `exact_groups`) within the run's time."""
    spec, matrix = inst.spec, pruned.matrix
    if name == "grouped":
        work = Instance(inst.layer.with_matrix(matrix), spec)
        grouping = call("filter-ordering", "cpsat" if exact_groups else "multistart", work, GroupingParams(), run)
        blocks = form.grouped(matrix, spec, list(grouping.decision.groups))
    else:
        blocks = form.per_channel(matrix, spec, pruned.kernel_rows, pruned.channel_patterns,
                                  by_pattern=name != "mixed")
        if name == "kernel-merged":
            blocks = form.merge_pairs(blocks, spec.ou_rows)
    return split_tall(blocks, inst)


def place(inst: Instance, blocks, exact: bool, run: Run, hint=None):
    """Pack the blocks' OU-unit rectangles into crossbars: heuristically, or with CP-SAT from `hint` in the time
    left (`DEFAULT_EXACT_SECONDS` without a limit; the hint, or the heuristic, once no time is left)."""
    W, H = grid(inst)
    size = np.array([units(b, inst) for b in blocks], dtype=np.int64).reshape(-1, 2)
    if exact and not run.expired():
        limit = DEFAULT_EXACT_SECONDS if run.deadline is None else run.left()
        return packing2d.cpsat(size[:, 0], size[:, 1], W, H, limit, run.seed, run.workers, hint)
    if hint is not None:
        return hint
    return packing2d.heuristic(size[:, 0], size[:, 1], W, H, seed=run.seed, time_limit=run.left())


def _register(name: str, summary: str):
    def run_method(inst: Instance, params: Params, run: Run) -> Outcome:
        pruned = prune(inst, params, run.seed, run.share(PRUNE_SHARE).left())
        blocks = form_blocks(inst, pruned, name, run.share(FORMING_SHARE))
        return outcome(inst, pruned, blocks, place(inst, blocks, params.placement == "cpsat", run), name)
    run_method.__doc__ = summary
    method("pattern-placement", name)(run_method)


_register("kernel-grouped", "Seed-style kernel reordering: per channel, kernels of one pattern share a block.")
_register("kernel-merged", "Kernel-grouped blocks, pairs with the same filters stacked into one OU.")
_register("mixed", "Per channel, the kept kernels in filter order share blocks (pattern rows united).")
_register("grouped", "Filters grouped once by the filter-ordering engine; each group's live rows form a block.")


@method("pattern-placement", "cpsat", exact=True)
def cpsat(inst: Instance, params: Params, run: Run) -> Outcome:
    """Grouped formation with CP-SAT grouping, and CP-SAT placement (add_no_overlap_2d) with its bound.
    The grouping gets two thirds of the time limit, the placement what is left."""
    if run.deadline is None:
        run = Run.starting(DEFAULT_EXACT_SECONDS, run.seed, run.workers)
    pruned = prune(inst, params, run.seed, run.share(PRUNE_SHARE).left())
    blocks = form_blocks(inst, pruned, "grouped", run.share(EXACT_GROUPING_SHARE), exact_groups=True)
    return outcome(inst, pruned, blocks, place(inst, blocks, True, run), "grouped")


@method("pattern-placement", "auto")
def auto(inst: Instance, params: Params, run: Run) -> Outcome:
    """Every formation with heuristic placement; the best by (crossbars, OU activations, index bits),
    then CP-SAT placement if crossbars are above their bound and time remains. Formations not started
    when their share of the limit has passed are skipped."""
    pruned = prune(inst, params, run.seed, run.share(PRUNE_SHARE).left())
    formations = run.share(FORMATION_SHARE)
    best = None
    for i, name in enumerate(form.FORMATIONS):
        if best is not None and formations.expired():  # a placement cannot be cut short: keep the best so far
            break
        mine = formations.share(1 / (len(form.FORMATIONS) - i))
        blocks = form_blocks(inst, pruned, name, mine.share(FORMING_SHARE))
        packed = place(inst, blocks, False, mine)
        acts = sum(w * h for w, h in (units(b, inst) for b in blocks))
        key = (packed.n_bins, acts, index_bits(blocks, inst.layer.n_inputs, inst.layer.n_outputs))
        if best is None or key < best[0]:
            best = (key, name, blocks, packed)
    _, name, blocks, packed = best
    if params.placement == "cpsat" or packed.n_bins > packed.bound:
        exact = place(inst, blocks, True, run, hint=packed)
        if exact.n_bins <= packed.n_bins:
            packed = exact
    return outcome(inst, pruned, blocks, packed, name)
