"""Filter ordering in crossbar terms: the hypergraph of an instance, and groups back to a mapping.

Nets are the rows of each crossbar set (polarity, and slice under ``per_crossbar``) with a
nonzero; a filter pins the rows where any of its slices is nonzero in that set. A group
of ``g`` filters occupies one lane of the compact ORC layout (`mapopt.layout.compact_mapping`),
and its OU slots per set are ``ceil(kept rows / h)``, each read by ``ceil(g k / w)``
activations per input cycle.
"""

from __future__ import annotations

import math

import numpy as np

from ...engines.partition import Hypergraph, check_blocks, groups_from_blocks, lower_bound, matching_bound
from ...instance import Instance
from ...layout import compact_mapping, crossbar_sets, lane_width, outputs_per_group
from ...result import SolveResult, Status


def hypergraph(inst: Instance, matrix: np.ndarray | None = None) -> Hypergraph:
    """The partitioning hypergraph of `inst` (or of another integer matrix of its shape)."""
    spec = inst.spec
    sets = crossbar_sets(inst.layer.matrix if matrix is None else matrix, spec)
    return Hypergraph.from_supports([s.values.any(axis=2) for s in sets], outputs_per_group(spec), spec.ou_rows)


def scale(inst: Instance) -> int:
    """OU activations per input vector for each OU slot: input cycles x OUs across a lane."""
    spec = inst.spec
    return spec.input_cycles * math.ceil(lane_width(spec) / spec.ou_cols)


def slot_bound(hg: Hypergraph) -> int:
    """The best cheap lower bound on OU slots: sorted maximum, degree, and matching bounds."""
    return max(lower_bound(hg), matching_bound(hg))


def bound(inst: Instance, hg: Hypergraph) -> int:
    """The combined lower bound in OU activations per input vector."""
    return scale(inst) * slot_bound(hg)


def make_result(inst: Instance, hg: Hypergraph, block: np.ndarray, method: str, lb: int,
                status: Status = Status.FEASIBLE, matrix: np.ndarray | None = None, **solution) -> SolveResult:
    """A `SolveResult` for a block assignment: the compact mapping, its objective and the bound (in OU
    activations). A `matrix` other than the layer's (pruned or recovered) is declared as the reference."""
    block = check_blocks(hg, block)
    groups = groups_from_blocks(block)
    slots, rows = hg.cost(block)
    objective = scale(inst) * slots
    mapping = compact_mapping(inst.layer.matrix if matrix is None else matrix, inst.spec, groups,
                              meta={"problem": "filter-ordering", "method": method})
    if matrix is not None:
        mapping = mapping.replace(reference=matrix)
    lb = min(lb, objective)
    return SolveResult(objective, lb, Status.OPTIMAL if lb == objective else status, method, mapping,
                       solution={"groups": [g.tolist() for g in groups], "rows": rows, **solution})
