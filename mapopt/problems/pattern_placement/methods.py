"""Pattern-placement methods: one per block formation, an exact variant, and auto.

Parameters shared by all methods: ``n_patterns`` (8), ``entries`` per pattern (4),
``removed`` (fraction of kernels removed by connectivity pruning, 0.3), ``selection``
(``frequency``: PatDNN's rule; ``pmedian``: the pattern set keeping most squared weight)
and ``placement`` (``heuristic`` or ``cpsat``). The objective is OU activations per input
vector; crossbars, index bits and the kept weight are reported beside it.
"""

from __future__ import annotations

import numpy as np

from ...engines import packing2d
from ...engines.deadline import deadline_of, time_left
from ...engines.partition_exact import cpsat as cpsat_groups
from ...errors import SolverError
from ...instance import Instance
from ...result import SolveResult
from .. import method
from ..filter_ordering.methods import best_heuristic
from ..filter_ordering.problem import hypergraph, slot_bound
from . import formation as form
from .problem import grid, index_bits, make_result, prune, split_tall, units

PLACEMENTS = ("heuristic", "cpsat")
DEFAULT_EXACT_SECONDS = 10.0


def form_blocks(inst: Instance, pruned, name: str, seed: int, exact_groups: bool = False, time_limit=None):
    """The blocks of formation `name` (crossbar-high pieces at most). The grouping search keeps to
    `time_limit` (with `exact_groups`, the heuristic gets half of it and CP-SAT the rest)."""
    spec, matrix = inst.spec, pruned.matrix
    if name == "grouped":
        end = deadline_of((time_limit or DEFAULT_EXACT_SECONDS) if exact_groups else time_limit)
        hg = hypergraph(inst, matrix)
        share = time_left(end)
        block = best_heuristic(hg, seed, time_limit=None if share is None else share / 2 if exact_groups else share)
        lb = slot_bound(hg)
        if exact_groups and hg.cost(block)[0] > lb:
            res = cpsat_groups(hg, time_left(end, 0.1), seed, 1, hint=block, bound=lb)
            block = res.block if res.block is not None and hg.cost(res.block) <= hg.cost(block) else block
        groups = [np.flatnonzero(block == j) for j in range(hg.n_blocks) if np.any(block == j)]
        blocks = form.grouped(matrix, spec, groups)
    else:
        blocks = form.per_channel(matrix, spec, pruned.kernel_rows, pruned.pruning.assignment,
                                  by_pattern=name != "mixed")
        if name == "kernel-merged":
            blocks = form.merge_pairs(blocks, spec.ou_rows)
    return split_tall(blocks, inst)


def place(inst: Instance, blocks, how: str, time_limit, seed: int, workers: int, hint=None):
    """Pack the blocks' OU-unit rectangles into crossbars (CP-SAT starts from `hint` when given)."""
    if how not in PLACEMENTS:
        raise SolverError(f"placement must be one of {PLACEMENTS}, got {how!r}")
    W, H = grid(inst)
    size = np.array([units(b, inst) for b in blocks], dtype=np.int64).reshape(-1, 2)
    if how == "cpsat":
        return packing2d.cpsat(size[:, 0], size[:, 1], W, H, time_limit or DEFAULT_EXACT_SECONDS, seed, workers, hint)
    return packing2d.heuristic(size[:, 0], size[:, 1], W, H, seed=seed)


def _register(name: str, summary: str):
    def run(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1, n_patterns: int = 8, entries: int = 4,
            removed: float = 0.3, selection: str = "frequency", placement: str = "heuristic") -> SolveResult:
        pruned = prune(inst, n_patterns, entries, removed, selection, seed, time_limit)
        blocks = form_blocks(inst, pruned, name, seed)
        return make_result(inst, pruned, blocks, place(inst, blocks, placement, time_limit, seed, workers), name, name)
    run.__doc__ = summary
    method("pattern-placement", name)(run)


_register("kernel-grouped", "Seed-style kernel reordering: per channel, kernels of one pattern share a block.")
_register("kernel-merged", "Kernel-grouped blocks, pairs with the same filters stacked into one OU.")
_register("mixed", "Per channel, the kept kernels in filter order share blocks (pattern rows united).")
_register("grouped", "Filters grouped once by the filter-ordering engine; each group's live rows form a block.")


@method("pattern-placement", "cpsat", exact=True)
def cpsat(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1, n_patterns: int = 8, entries: int = 4,
          removed: float = 0.3, selection: str = "frequency", placement: str = "cpsat") -> SolveResult:
    """Grouped formation with CP-SAT grouping, and CP-SAT placement (add_no_overlap_2d) with its bound.
    The grouping gets two thirds of the time limit, the placement what is left."""
    end = deadline_of(time_limit or DEFAULT_EXACT_SECONDS)
    pruned = prune(inst, n_patterns, entries, removed, selection, seed, time_limit)
    blocks = form_blocks(inst, pruned, "grouped", seed, exact_groups=True,
                         time_limit=max(0.1, 2 / 3 * time_left(end)))
    packed = place(inst, blocks, placement, time_left(end, 0.1), seed, workers)
    return make_result(inst, pruned, blocks, packed, "cpsat", "grouped")


@method("pattern-placement", "auto")
def auto(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1, n_patterns: int = 8, entries: int = 4,
         removed: float = 0.3, selection: str = "frequency", placement: str = "heuristic") -> SolveResult:
    """Every formation with heuristic placement; the best by (crossbars, OU activations, index bits),
    then CP-SAT placement if crossbars are above their bound and time remains."""
    end = deadline_of(time_limit)
    pruned = prune(inst, n_patterns, entries, removed, selection, seed, time_limit)
    best = None
    for i, name in enumerate(form.FORMATIONS):
        left = time_left(end)  # the formations share what prune left, half of it at most
        blocks = form_blocks(inst, pruned, name, seed,
                             time_limit=None if left is None else left / 2 / (len(form.FORMATIONS) - i))
        packed = place(inst, blocks, "heuristic", None, seed, workers)
        acts = sum(w * h for w, h in (units(b, inst) for b in blocks))
        key = (packed.n_bins, acts, index_bits(blocks, inst.layer.n_inputs, inst.layer.n_outputs))
        if best is None or key < best[0]:
            best = (key, name, blocks, packed)
    _, name, blocks, packed = best
    left = time_left(end)
    if (placement == "cpsat" or packed.n_bins > packed.bound) and (left is None or left > 0.5):
        exact = place(inst, blocks, "cpsat", left, seed, workers, hint=packed)
        if exact.n_bins <= packed.n_bins:
            packed = exact
    result = make_result(inst, pruned, blocks, packed, "auto", name)
    return result
