"""The embedded crossbar simulator: validate, execute and cost a `Mapping`.

`simulate` runs all three on one shared cell-level view, which is what solvers and the
CLI call; the single functions are there for tests and experiments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layer import Layer
from ..mapping import Mapping
from .circuit import Circuit, build_circuit, views
from .cost import CostReport, cost, merge
from .execute import execute
from .fabric import Fabric, build_fabric
from .validate import RULES, Check, Violation, hardware_violations, shape_violations, validate


@dataclass(frozen=True)
class Report:
    """Validation and cost of one mapping: `valid` (no violation), `exact` (function and emulation
    match the layer or its declared approximation), and `error`: how far a declared approximation
    is from the layer's integer weights (zeros when the mapping computes the layer itself)."""

    valid: bool
    exact: bool
    violations: list
    cost: CostReport | None
    error: dict

    def to_dict(self) -> dict:
        return {"valid": self.valid, "exact": self.exact, "violations": [str(v) for v in self.violations],
                "cost": None if self.cost is None else self.cost.to_dict(), "error": self.error}


def approximation_error(mapping: Mapping, layer: Layer) -> dict:
    """L1, squared-L2 and relative Frobenius distance of the declared reference from the layer (integers)."""
    if mapping.reference is None or mapping.reference.shape != layer.matrix.shape:
        return {"l1": 0, "l2sq": 0, "relative": 0.0}
    diff = mapping.reference - layer.matrix
    norm = float(np.linalg.norm(layer.matrix))
    return {"l1": int(np.abs(diff).sum()), "l2sq": int((diff * diff).sum()),
            "relative": float(np.linalg.norm(diff) / norm) if norm else 0.0}


def simulate(mapping: Mapping, layer: Layer, probes: int = 4, seed: int = 0) -> Report:
    """Validate and cost `mapping` as a mapping of `layer`."""
    violations = shape_violations(mapping, layer)
    if violations:
        return Report(valid=False, exact=False, violations=violations, cost=None, error={})
    check, costs = Check(mapping, layer, probes, seed), []
    for fab, circ in views(mapping):
        check.add(fab, circ)
        costs.append(cost(mapping, fab, circ))
    violations = check.violations()
    exact = not any(v.rule in ("function", "execution") for v in violations)
    return Report(valid=not violations, exact=exact, violations=violations, cost=merge(costs),
                  error=approximation_error(mapping, layer))


__all__ = ["RULES", "Circuit", "CostReport", "Fabric", "Report", "Violation", "build_circuit", "build_fabric",
           "approximation_error", "cost", "execute", "hardware_violations", "simulate", "validate"]
