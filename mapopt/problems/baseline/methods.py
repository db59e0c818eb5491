"""Baseline methods (see ``formulations/baseline.md``): nothing is searched, so the bound is
the simple cell-count bound every row-compressed mapping obeys, and the status is feasible."""

from __future__ import annotations

import math

import numpy as np

from ...instance import Instance
from ...layer import slice_matrix
from ...layout import conventional_mapping
from ...result import SolveResult, Status
from ...sim import cost
from .. import method


def cell_bound(inst: Instance) -> int:
    """OU activations per input vector can be no fewer than ``cycles x ceil(nonzero cells / (h w))``."""
    spec = inst.spec
    planes, _ = slice_matrix(inst.layer.matrix, spec)
    return spec.input_cycles * math.ceil(np.count_nonzero(planes) / (spec.ou_rows * spec.ou_cols))


def _baseline(inst: Instance, name: str, schedule: str, seed: int) -> SolveResult:
    mapping = conventional_mapping(inst.layer.matrix, inst.spec, schedule, meta={"problem": "baseline", "method": name})
    objective = cost(mapping).ou_activations
    return SolveResult(objective, cell_bound(inst), Status.FEASIBLE, name, mapping, seed=seed)


@method("baseline", "dense")
def dense(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1) -> SolveResult:
    """Conventional im2col mapping: every OU tile the weights occupy fires, zeros included."""
    return _baseline(inst, "dense", "grid", seed)


@method("baseline", "orc")
def orc(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1) -> SolveResult:
    """OU-based row compression in natural filter order: each OU column group reads only its nonzero rows."""
    return _baseline(inst, "orc", "orc", seed)


@method("baseline", "auto")
def auto(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1) -> SolveResult:
    """The better baseline, ORC (never more OU activations than dense)."""
    result = orc(inst, time_limit, seed, workers)
    result.method = "auto"
    return result
