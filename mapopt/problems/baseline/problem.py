"""Baselines in crossbar terms (see ``formulations/baseline.md``): the conventional im2col mapping
under a schedule, and the cell-count bound every row-compressed mapping obeys."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...instance import Instance
from ...layer import slice_matrix
from ...layout import conventional_mapping
from ...mapping import Mapping
from ..contract import NoParams, Problem, register_problem


@dataclass(frozen=True)
class Conventional:
    """The decision of a baseline: outputs and rows in natural order, read under `schedule`
    (``grid``: every OU tile the weights occupy fires; ``orc``: each OU column group reads only its nonzero rows)."""

    schedule: str
    reference = None  # a baseline never approximates


def to_mapping(inst: Instance, decision: Conventional) -> Mapping:
    return conventional_mapping(inst.layer.matrix, inst.spec, decision.schedule, groups=inst.layer.groups)


def cell_bound(inst: Instance) -> int:
    """OU activations per input vector can be no fewer than ``cycles x ceil(nonzero cells / (h w))``."""
    spec = inst.spec
    planes, _ = slice_matrix(inst.layer.quantized.reshape(1, -1), spec)  # the layer's own cells, no structural zeros
    return spec.input_cycles * math.ceil(np.count_nonzero(planes) / (spec.ou_rows * spec.ou_cols))


PROBLEM = register_problem(Problem("baseline", NoParams, Conventional, to_mapping, approximates=False))
