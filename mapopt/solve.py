"""The one entry point to every solver: run a method, then validate and cost its mapping.

`solve` holds the contract of ``DESIGN.md``: whatever the method, its mapping goes through
the simulator, and the objective it claims must equal what the simulator measures (OU
activations per input vector, or the approximation's L1 error for reuse clustering); a
disagreement is reported as an ``objective`` violation, never hidden.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import replace

from .errors import SolverError
from .instance import Instance
from .problems import get_method, objective_kind
from .result import SolveResult
from .sim import Violation, simulate


def solve(inst: Instance, problem: str, method: str = "auto", time_limit: float | None = None, seed: int = 0,
          workers: int = 1, **params) -> SolveResult:
    """Solve `inst` as `problem` with `method`; the result carries the simulator's report."""
    if time_limit is not None and not time_limit > 0:
        raise SolverError(f"time limit must be positive, got {time_limit}")
    if workers < 1:
        raise SolverError(f"workers must be at least 1, got {workers}")
    m = check_params(problem, method, params)
    start = time.perf_counter()
    result = m.fn(inst, time_limit=time_limit, seed=seed, workers=workers, **params)
    result.wall_time = time.perf_counter() - start
    result.seed, result.params = seed, {"time_limit": time_limit, "workers": workers, **params}
    if result.mapping is not None:
        result.report = simulate(result.mapping, inst.layer, seed=seed)
        counted = _measured(result.report, objective_kind(problem))
        if counted != result.objective:
            wrong = Violation("objective", f"{method} reports objective {result.objective}, "
                                           f"the simulator counts {counted}")
            result.report = replace(result.report, valid=False, violations=[*result.report.violations, wrong])
    return result


def check_params(problem: str, method: str, params: dict):
    """The method, once it is known to take every parameter in `params` (else a one-line `SolverError`)."""
    m = get_method(problem, method)
    accepted = set(inspect.signature(m.fn).parameters) - {"inst", "time_limit", "seed", "workers"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise SolverError(f"{problem}/{method} takes no parameter {', '.join(unknown)}"
                          f" (it takes: {', '.join(sorted(accepted)) or 'none'})")
    return m


def _measured(report, kind: str):
    """The simulator's figure a problem's objective must equal."""
    if report.cost is None:
        return None
    return report.cost.ou_activations if kind == "ou_activations" else report.error["l1"]
