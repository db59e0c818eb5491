"""Running the exact solvers: CP-SAT (`run_cpsat`) and HiGHS's MILP (`run_milp`), for every exact engine.

Both take a `deadline` (a ``time.perf_counter()`` value, see `mapopt.engines.deadline`) rather than a
time limit, so the time spent building a model counts against the caller's limit; both translate
the backend's status into `mapopt.result.Status` in one place and read back the proven bound. A
deadline already passed means the solver is not called: the run is UNKNOWN with the bound known
before (`floor`). The bound is never clipped to the objective found: a caller that knows a cheaper
bound takes the larger of the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SolverError
from ..result import Status
from .deadline import call_with_deadline, time_left

#: an integer objective's bound is rounded up after removing this much floating-point noise
ROUND_TOL = 1e-6
#: HiGHS's time limit is at least this (seconds), so a run that starts always has a positive limit
MIN_MILP_SECONDS = 1e-3
#: HiGHS runs in a child process killed after its limit (`call_with_deadline`) from this many constraint
#: nonzeros on: smaller models finish their uninterruptible phases in milliseconds, and a fork costs ~10 ms
GUARD_NONZEROS = 20_000


@dataclass(frozen=True, eq=False)
class CpRun:
    """One CP-SAT run: its status, the proven bound on the objective (a lower bound when
    minimising, an upper bound when maximising; ``inf`` / ``-inf`` when proven infeasible) and the
    solver to read values from (None when the deadline had passed and it did not run)."""

    status: Status
    bound: float
    solver: Any

    @property
    def found(self) -> bool:
        """Whether a solution can be read from `solver`."""
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass(frozen=True, eq=False)
class MilpRun:
    """One HiGHS run: its status, the proven lower bound (``inf`` when infeasible), the solution
    vector (None when there is none) and its objective value (None likewise)."""

    status: Status
    bound: float
    x: np.ndarray | None
    objective: float | None

    @property
    def found(self) -> bool:
        """Whether HiGHS returned a solution vector."""
        return self.x is not None


def _round(bound: float, integral: bool, maximize: bool = False) -> float:
    """An integer objective's bound rounded towards the proof (up when minimising), `ROUND_TOL` of noise removed."""
    if not integral or not math.isfinite(bound):
        return float(bound)
    return float(math.floor(bound + ROUND_TOL) if maximize else math.ceil(bound - ROUND_TOL))


def run_cpsat(model, deadline: float | None, seed: int = 0, workers: int = 1, work_limit: float | None = None,
              integral: bool = True, floor: float = -math.inf, **params: Any) -> CpRun:
    """Solve `model` (a ``cp_model.CpModel``) within the time left to `deadline`.

    Parameters
    ----------
    deadline : ``perf_counter`` time to stop at (None: no wall-clock limit); already passed, the
        solver does not run and the result is UNKNOWN with bound `floor`.
    seed, workers : CP-SAT's ``random_seed`` and ``num_workers``.
    work_limit : CP-SAT's deterministic time limit (``max_deterministic_time``): reproducible.
    integral : the objective takes integer values, so its bound is rounded (up when minimising).
    floor : a lower bound known before solving (minimisation); the bound returned is never below it.
    params : further ``SatParameters`` fields, set by name (e.g. ``linearization_level=2``).

    Raises `SolverError` when CP-SAT finds the model invalid (sizes beyond its 64-bit arithmetic).
    """
    from ortools.sat.python import cp_model

    maximize = _maximizes(model.proto)
    floor = math.inf if maximize and floor == -math.inf else floor
    left = time_left(deadline)
    if left is not None and left <= 0:
        return CpRun(Status.UNKNOWN, floor, None)
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = max(1, int(workers))
    if left is not None:
        solver.parameters.max_time_in_seconds = float(left)
    if work_limit is not None:
        solver.parameters.max_deterministic_time = float(work_limit)
    for name, value in params.items():
        setattr(solver.parameters, name, value)
    code = solver.solve(model)
    if code == cp_model.MODEL_INVALID:
        raise SolverError(f"CP-SAT rejected the model: {model.validate() or 'invalid'}")
    status = {cp_model.OPTIMAL: Status.OPTIMAL, cp_model.FEASIBLE: Status.FEASIBLE,
              cp_model.INFEASIBLE: Status.INFEASIBLE}.get(code, Status.UNKNOWN)
    if status == Status.INFEASIBLE:
        return CpRun(status, -math.inf if maximize else math.inf, solver)
    bound = _round(solver.best_objective_bound, integral, maximize)
    return CpRun(status, min(floor, bound) if maximize else max(floor, bound), solver)


def _maximizes(proto) -> bool:
    """Whether a CP-SAT model maximises (asked with ``has_*`` first: touching an absent objective adds one)."""
    if proto.has_objective():
        return proto.objective.scaling_factor < 0
    return proto.has_floating_point_objective() and proto.floating_point_objective.maximize


def run_milp(c, *, constraints, integrality, bounds, deadline: float | None, options: dict | None = None,
             integral: bool = False, floor: float = -math.inf) -> MilpRun:
    """Minimise ``c @ x`` with `scipy.optimize.milp` (HiGHS) within the time left to `deadline`.

    HiGHS gets the time left as its own limit; on a model of `GUARD_NONZEROS` or more it runs in a
    child process killed shortly after it (`call_with_deadline`: HiGHS can overrun its limit), and
    a run so stopped is UNKNOWN. `options` are further HiGHS options (``mip_rel_gap``,
    ``presolve``, ...); `integral` and `floor` as in `run_cpsat`. The bound is HiGHS's
    ``mip_dual_bound`` (its objective when optimal without one). Raises `SolverError` when HiGHS
    finds the problem unbounded.
    """
    left = time_left(deadline)
    if left is not None and left <= 0:
        return MilpRun(Status.UNKNOWN, floor, None, None)
    opts = {"disp": False} | (options or {})
    if left is not None:
        opts["time_limit"] = max(float(left), MIN_MILP_SECONDS)
    guard = left if _nonzeros(constraints) >= GUARD_NONZEROS else None
    done, res = call_with_deadline(_highs, guard, c, constraints, integrality, bounds, opts)
    if not done:
        return MilpRun(Status.UNKNOWN, floor, None, None)
    if res.status == 2:
        return MilpRun(Status.INFEASIBLE, math.inf, None, None)
    if res.status == 3:
        raise SolverError("HiGHS found the MILP unbounded")
    dual = getattr(res, "mip_dual_bound", None)
    if dual is None or not np.isfinite(dual):
        dual = res.fun if res.status == 0 else -math.inf
    status = Status.OPTIMAL if res.status == 0 else Status.FEASIBLE if res.x is not None else Status.UNKNOWN
    return MilpRun(status, max(floor, _round(float(dual), integral)), res.x,
                   None if res.x is None else float(res.fun))


def _nonzeros(constraints) -> int:
    """Nonzeros of the constraint matrices (a `LinearConstraint` or a sequence of them)."""
    cons = constraints if isinstance(constraints, (list, tuple)) else [constraints]
    return sum(getattr(con.A, "nnz", None) or int(np.count_nonzero(con.A)) for con in cons)


def _highs(c, constraints, integrality, bounds, options):
    """`scipy.optimize.milp` with positional arguments (for `call_with_deadline`)."""
    from scipy.optimize import milp

    return milp(c, constraints=constraints, integrality=integrality, bounds=bounds, options=options)
