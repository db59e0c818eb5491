"""What every solver returns: `SolveResult` with its mapping, objective, proven bound and `Status`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .mapping import Mapping


class Status(str, Enum):
    """Outcome of a solve, in the CP-SAT sense: proven optimal, feasible, infeasible, or unknown."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"


@dataclass
class SolveResult:
    """One solver run: the solution in problem terms, its mapping, objective and best proven bound.

    `objective` is in the problem's unit (OU activations per input vector unless its
    formulation says otherwise); `solution` is the problem's typed decision (see
    `mapopt.problems.contract`), `stats` the method's figures beside it (counts, chosen
    settings); `report` is the simulator's validation and cost, filled in by `mapopt.solve.solve`.
    """

    objective: float | None
    bound: float | None
    status: Status
    method: str
    mapping: Mapping | None = None
    solution: Any = None
    wall_time: float = 0.0
    params: dict = field(default_factory=dict)
    seed: int = 0
    report: Any = None
    stats: dict = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """Relative gap ``(objective - bound) / objective``; 0 when proven optimal."""
        if self.objective is None or self.bound is None:
            return None
        if self.objective == 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))

    def summary(self) -> dict:
        """The JSON fields scripts rely on (`mapopt solve --json`)."""
        rep = self.report
        return {
            "status": self.status.value, "objective": self.objective, "bound": self.bound, "gap": self.gap,
            "method": self.method, "wall_time": round(self.wall_time, 6), "seed": self.seed, "params": self.params,
            "valid": None if rep is None else rep.valid, "exact": None if rep is None else rep.exact,
            "violations": [] if rep is None else [str(v) for v in rep.violations],
            "cost": None if rep is None or rep.cost is None else rep.cost.to_dict(),
            "error": None if rep is None else rep.error, "stats": self.stats,
        }
