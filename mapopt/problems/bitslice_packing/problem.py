"""Bit-slice packing in crossbar terms: the packing subproblems of an instance and slots back to a mapping.

Each slice plane and polarity is a crossbar set (``per_crossbar`` layout). For a grouping
of the filters into OU column groups, the kept rows of each (set, group) are items whose
sizes are their cell values times the largest DAC input, ``2^d - 1``, per column; an OU
activation is a bin of at most ``h`` rows whose column sums stay within the set's ADC,
``2^a - 1``. The objective is OU activations per input vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...engines import vector_packing as vp
from ...engines.partition import Hypergraph, lower_bound as slot_bound_of
from ...errors import SolverError
from ...hardware import HardwareSpec
from ...instance import Instance
from ...layout import compact_mapping, crossbar_sets, outputs_per_group
from ...mapping import Mapping
from .. import contract
from ..contract import Outcome, Problem, register_problem

GROUPINGS = ("natural", "ordered")
ADC_CHOICES = ("fixed", "energy")


@dataclass(frozen=True, eq=False)
class Subproblem:
    """One (crossbar set, group): its kept rows, their sizes (rows x columns), the capacity and slice."""

    set_index: int
    group_index: int
    rows: np.ndarray
    sizes: np.ndarray
    capacity: int
    slice_index: int


def check_spec(spec: HardwareSpec) -> None:
    """Bit-slice packing needs one crossbar set per slice plane."""
    if spec.slice_layout != "per_crossbar":
        raise SolverError("bit-slice packing needs slice_layout 'per_crossbar' (one crossbar set per slice plane); "
                          "use the bitslice preset or spec.replace(slice_layout='per_crossbar')")


def subproblems(matrix: np.ndarray, spec: HardwareSpec, groups: list[np.ndarray]) -> list[Subproblem]:
    """The packing subproblems of every crossbar set and group."""
    check_spec(spec)
    top = 2 ** spec.dac_bits - 1
    caps = spec.adc_caps()
    out = []
    for s, cset in enumerate(crossbar_sets(matrix, spec)):
        slice_index = int(cset.columns[0, 0, 3])
        for j, outputs in enumerate(groups):
            values, _ = cset.group(np.asarray(outputs, dtype=np.int64))
            rows = np.flatnonzero(values.any(axis=1))
            # 32-bit sizes: a 25088 x 4096 layer has about 50 million rows to pack
            out.append(Subproblem(s, j, rows, values[rows].astype(np.int32) * top, int(caps[slice_index]), slice_index))
    return out


def check_capacity(subs: list[Subproblem], spec: HardwareSpec) -> None:
    """A cell whose value alone exceeds its ADC can never be read exactly: say which slice and ADC."""
    for sub in subs:
        if len(sub.sizes) and sub.sizes.max() > sub.capacity:
            raise SolverError(f"slice {sub.slice_index}: a cell times the largest {spec.dac_bits}-bit input reaches "
                              f"{int(sub.sizes.max())}, beyond the {spec.adc_for_slice(sub.slice_index)}-bit ADC "
                              f"({sub.capacity}); raise that ADC's resolution")


def natural_groups(m: int, g: int) -> list[np.ndarray]:
    return [np.arange(i, min(i + g, m)) for i in range(0, m, g)]


def grouping_free_bound(matrix: np.ndarray, spec: HardwareSpec) -> int:
    """Activations per input cycle no grouping beats: per set, the filter-ordering slot bound and the
    sorted maximum of each filter's column-capacity bound, whichever is larger."""
    g, top, caps = outputs_per_group(spec), 2 ** spec.dac_bits - 1, spec.adc_caps()
    total = 0
    for cset in crossbar_sets(matrix, spec):
        support = cset.values[:, :, 0]
        cap = caps[int(cset.columns[0, 0, 3])]
        column = np.sort(np.ceil(support.sum(axis=0) * top / cap))[::-1]
        slots = slot_bound_of(Hypergraph.from_supports([support != 0], g, spec.ou_rows))
        total += max(int(column[::g].sum()), slots)
    return total


def filter_groups(value) -> tuple[np.ndarray, ...]:
    """Lists of filter indices, one per OU column group."""
    groups = tuple(np.asarray(g, dtype=np.int64).reshape(-1) for g in value)
    if any(len(g) == 0 for g in groups):
        raise ValueError(value)
    return groups


@dataclass(frozen=True)
class Params(contract.Params):
    """Bit-slice packing parameters (every method takes them)."""

    grouping: str = contract.param("natural", "natural: filters in index order; ordered: the filter-ordering "
                                              "grouping of all planes together (ignored when groups are given)",
                                   choices=GROUPINGS)
    groups: tuple | None = contract.param(None, "the groups to pack under, e.g. a filter-ordering decision's",
                                          kind=filter_groups)
    adc: str = contract.param("fixed", "fixed: the hardware's ADC bits; energy: per slice, the resolution that "
                                       "minimizes estimated energy", choices=ADC_CHOICES)
    share_crossbars: bool = contract.param(False, "slots of all planes fill one sequence of crossbars")
    max_slices: int = contract.param(-1, "project every weight onto at most this many nonzero slices (-1: off)",
                                     low=-1)


@dataclass(frozen=True, eq=False)
class SlicePacking:
    """Which kept rows share an OU activation: `slots[set, group]` is ``(rows, lengths)``, the rows of each
    activation of that crossbar set and filter group one after another and how many each has (two arrays, not
    one per activation: a 25088 x 4096 layer has millions); under `groups`, the ADC bits per slice, whether all planes share lanes,
    and `matrix`, a bit-sparse projection of the layer (None: the layer's own)."""

    groups: tuple[np.ndarray, ...]
    slots: dict
    adc_bits: tuple[int, ...]
    shared_lanes: bool = False
    matrix: np.ndarray | None = None

    @property
    def reference(self) -> np.ndarray | None:
        return self.matrix


def to_mapping(inst: Instance, decision: SlicePacking) -> Mapping:
    matrix = inst.layer.matrix if decision.matrix is None else decision.matrix
    spec = inst.spec.replace(adc_bits=decision.adc_bits)
    mapping = compact_mapping(matrix, spec, list(decision.groups), decision.slots, decision.shared_lanes)
    return mapping if decision.matrix is None else mapping.replace(reference=decision.matrix)


def outcome(inst: Instance, spec: HardwareSpec, matrix: np.ndarray, groups, subs: list[Subproblem],
            bins: list[np.ndarray], bounds: list[int], grouping_fixed: bool, shared_lanes: bool = False,
            **stats) -> Outcome:
    """The packing of `matrix` with its objective and bound in OU activations per input vector; a `matrix`
    other than the layer's (a bit-sparse projection) is declared as the reference."""
    slots = {(sub.set_index, sub.group_index): (sub.rows[np.argsort(b, kind="stable")],
                                                 np.bincount(b, minlength=int(b.max()) + 1 if len(b) else 0))
             for sub, b in zip(subs, bins)}
    adc_bits = tuple(spec.adc_for_slice(s) for s in range(spec.n_slices))
    changed = not np.array_equal(matrix, inst.layer.matrix)
    decision = SlicePacking(tuple(groups), slots, adc_bits, shared_lanes, matrix if changed else None)
    per_cycle = sum(len(lengths) for _, lengths in slots.values())
    packing_bound = sum(bounds)
    lb = packing_bound if grouping_fixed else min(packing_bound, grouping_free_bound(matrix, spec))
    per_slice = {}
    for sub, b in zip(subs, bins):
        per_slice[sub.slice_index] = per_slice.get(sub.slice_index, 0) + (int(b.max()) + 1 if len(b) else 0)
    return Outcome(decision, spec.input_cycles * per_cycle, spec.input_cycles * lb,
                   {"groups": [g.tolist() for g in groups], "adc_bits": list(adc_bits),
                    "activations_per_slice": [per_slice.get(s, 0) for s in range(spec.n_slices)],
                    "packing_bound": spec.input_cycles * packing_bound, **stats})


def pack_bound(sub: Subproblem, h: int) -> int:
    return vp.lower_bound(sub.sizes, sub.capacity, h)


PROBLEM = register_problem(Problem("bitslice-packing", Params, SlicePacking, to_mapping))
