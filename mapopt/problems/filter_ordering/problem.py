"""Filter ordering in crossbar terms: the hypergraph of an instance, and groups back to a mapping.

Nets are the rows of each crossbar set (polarity, and slice under ``per_crossbar``) with a
nonzero; a filter pins the rows where any of its slices is nonzero in that set. A group
of ``g`` filters occupies one lane of the compact ORC layout (`mapopt.layout.compact_mapping`),
and its OU slots per set are ``ceil(kept rows / h)``, each read by ``ceil(g k / w)``
activations per input cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...engines.partition import Hypergraph, check_blocks, groups_from_blocks, lower_bound, matching_bound
from ...hardware import HardwareSpec
from ...instance import Instance
from ...layout import compact_mapping, crossbar_sets, lane_width, outputs_per_group
from ...mapping import Mapping
from .. import contract
from ..contract import Outcome, Problem, register_problem

RECOVERY = ("none", "free")


def hypergraph(inst: Instance, matrix: np.ndarray | None = None) -> Hypergraph:
    """The partitioning hypergraph of `inst` (or of another integer matrix of its shape)."""
    spec = inst.spec
    sets = crossbar_sets(inst.layer.matrix if matrix is None else matrix, spec)
    return Hypergraph.from_supports([s.values.any(axis=2) for s in sets], outputs_per_group(spec), spec.ou_rows)


def scale(inst: Instance) -> int:
    """OU activations per input vector for each OU slot: input cycles x OUs across a lane."""
    spec = inst.spec
    return spec.input_cycles * math.ceil(lane_width(spec) / spec.ou_cols)


def slot_bound(hg: Hypergraph, time_limit: float | None = None) -> int:
    """The best cheap lower bound on OU slots: sorted maximum, degree, and matching bounds (the matching MILP
    within `time_limit` seconds, its cycle-cover relaxation beyond)."""
    return max(lower_bound(hg), matching_bound(hg, time_limit=time_limit))


@dataclass(frozen=True)
class Params(contract.Params):
    """Filter-ordering parameters: weight recovery around the grouping (see `recovery`)."""

    recovery: str = contract.param("none", "free: restore pruned weights in rows the grouping keeps anyway",
                                   choices=RECOVERY)
    budget: float = contract.param(0.0, "prune rows that spill into a last OU slot, up to this fraction of the "
                                        "squared weight norm, then regroup", low=0.0, high=1.0, high_open=True)


@dataclass(frozen=True, eq=False)
class Grouping:
    """Which filters share an OU column group (`groups`, output indices, ordered by their smallest),
    and `matrix`, the layer as pruning or recovery left it (None: the layer's own)."""

    groups: tuple[np.ndarray, ...]
    matrix: np.ndarray | None = None

    @property
    def reference(self) -> np.ndarray | None:
        return self.matrix

    def kept(self, matrix: np.ndarray) -> list[np.ndarray]:
        """Per group, the rows it keeps: those where any of its filters is nonzero in `matrix` (or the decision's)."""
        matrix = matrix if self.matrix is None else self.matrix
        return [np.flatnonzero(matrix[:, g].any(axis=1)) for g in self.groups]

    def free(self, matrix: np.ndarray, spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray]:
        """Cells a re-fit may set, as masks of those that may turn positive and negative (``inputs x outputs``):
        a value of either polarity may go where its group's crossbar set of that polarity keeps the row anyway
        (seed 000's weight recovery in its optimal form), so no OU slot is added. With per-crossbar slices a
        new value could light another slice plane's row, so only the decided cells stay free, sign kept."""
        matrix = matrix if self.matrix is None else self.matrix
        signs = [matrix > 0, matrix < 0] if spec.polarity == "differential" else [matrix != 0] * 2
        masks = []
        for held in signs:
            mask = np.zeros(matrix.shape, dtype=bool)
            for g in self.groups:
                mask[np.ix_(np.flatnonzero(held[:, g].any(axis=1)), g)] = True
            masks.append(mask & held if spec.slice_layout == "per_crossbar" else mask)
        return masks[0], masks[1]

    def free_by(self, saliency: tuple[np.ndarray, np.ndarray], matrix: np.ndarray,
                spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray]:
        """Masks like `free` with as many rows per group and polarity (so no more OU slots), but the rows chosen
        by `saliency` (positive and negative, ``inputs x outputs``: what losing each weight costs the output),
        summed over the group's filters: pruning in the unit that saves hardware, a row of a group. With
        per-crossbar slices only the decided cells are free, so `free`'s masks stand."""
        if spec.slice_layout == "per_crossbar":
            return self.free(matrix, spec)
        masks = []
        for kept, worth in zip(self.free(matrix, spec), saliency):
            mask = np.zeros(matrix.shape, dtype=bool)
            for g in self.groups:
                count = int(kept[:, g].any(axis=1).sum())
                best = np.argsort(-worth[:, g].sum(axis=1), kind="stable")[:count]
                mask[np.ix_(best, g)] = True
            masks.append(mask)
        return masks[0], masks[1]

    def refitted(self, matrix: np.ndarray, spec: HardwareSpec) -> "Grouping":
        """The same groups over re-fitted weights `matrix` (the layer's own: the mapping reads them from the layer)."""
        return Grouping(self.groups)


def to_mapping(inst: Instance, decision: Grouping) -> Mapping:
    matrix = inst.layer.matrix if decision.matrix is None else decision.matrix
    mapping = compact_mapping(matrix, inst.spec, list(decision.groups))
    return mapping if decision.matrix is None else mapping.replace(reference=decision.matrix)


def outcome(inst: Instance, hg: Hypergraph, block: np.ndarray, lb: int, matrix: np.ndarray | None = None,
            **stats) -> Outcome:
    """The grouping of a block assignment with its objective and bound in OU activations per input vector.
    A `matrix` other than the layer's (pruned or recovered) is declared as the reference."""
    block = check_blocks(hg, block)
    slots, rows = hg.cost(block)
    return Outcome(Grouping(tuple(groups_from_blocks(block)), matrix), scale(inst) * slots, lb,
                   {"rows": rows, **stats})


PROBLEM = register_problem(Problem("filter-ordering", Params, Grouping, to_mapping))
