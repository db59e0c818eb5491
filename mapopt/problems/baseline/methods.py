"""Baseline methods (see ``formulations/baseline.md``): nothing is searched, so the bound is the
cell-count bound every row-compressed mapping obeys."""

from __future__ import annotations

from ...instance import Instance
from ...sim import cost
from ..contract import NoParams, Outcome, Run, method
from .problem import Conventional, cell_bound, to_mapping


def _baseline(inst: Instance, schedule: str) -> Outcome:
    decision = Conventional(schedule)
    mapping = to_mapping(inst, decision)
    return Outcome(decision, cost(mapping).ou_activations, cell_bound(inst), mapping=mapping)


@method("baseline", "dense")
def dense(inst: Instance, params: NoParams, run: Run) -> Outcome:
    """Conventional im2col mapping: every OU tile the weights occupy fires, zeros included."""
    return _baseline(inst, "grid")


@method("baseline", "orc")
def orc(inst: Instance, params: NoParams, run: Run) -> Outcome:
    """OU-based row compression in natural filter order: each OU column group reads only its nonzero rows."""
    return _baseline(inst, "orc")


@method("baseline", "auto")
def auto(inst: Instance, params: NoParams, run: Run) -> Outcome:
    """The better baseline, ORC (never more OU activations than dense)."""
    return _baseline(inst, "orc")
