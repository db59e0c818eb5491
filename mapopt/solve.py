"""The one entry point to every solver: run a method, map its decision, then validate and cost the mapping.

`solve` holds the contract of ``DESIGN.md``: whatever the method, its decision becomes a mapping
through the problem's `to_mapping`, the mapping goes through the simulator, and the objective
the method claims must equal what the simulator measures (OU activations per input vector, or
the approximation's L1 error for reuse clustering). A disagreement, or a bound above the
objective, is reported as a violation, never hidden. The status is decided here, once: optimal
exactly when the proven bound meets the objective.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .errors import SolverError
from .instance import Instance
from .mapping import Mapping
from .problems import Registry, get_method, get_problem
from .problems.contract import Params, Run
from .result import SolveResult, Status
from .sim import Report, Violation, hardware_violations, simulate


def solve(inst: Instance, problem: str, method: str = "auto", time_limit: float | None = None, seed: int = 0,
          workers: int = 1, **params) -> SolveResult:
    """Solve `inst` as `problem` with `method`; the result carries the typed decision and the simulator's report.
    The time limit covers the method and the mapping of its decision."""
    result = decide(inst, problem, method, time_limit, seed, workers, **params)
    if result.mapping is not None:
        result.report = simulate(result.mapping, inst.layer, seed=seed)
        wrong = []
        counted = _measured(result.report, get_problem(problem).objective)
        if counted != result.objective:
            wrong.append(Violation("objective", f"{method} reports objective {result.objective}, "
                                                f"the simulator counts {counted}"))
        if result.bound is not None and result.objective is not None and result.bound > result.objective:
            wrong.append(Violation("bound", f"{method} proves bound {result.bound} above its objective "
                                            f"{result.objective}"))
        if wrong:
            result.report = replace(result.report, valid=False, violations=[*result.report.violations, *wrong])
    return result


def decide(inst: Instance, problem: str, method: str = "auto", time_limit: float | None = None, seed: int = 0,
           workers: int = 1, **params) -> SolveResult:
    """Run `method` and map its decision, without the simulator's check (`solve` adds it; benchmarks time this)."""
    if time_limit is not None and not time_limit > 0:
        raise SolverError(f"time limit must be positive, got {time_limit}")
    if workers < 1:
        raise SolverError(f"workers must be at least 1, got {workers}")
    if seed < 0:
        raise SolverError(f"seed must be a non-negative integer, got {seed}")
    spec, chosen = get_problem(problem), check_params(problem, method, params)
    fn = get_method(problem, method).fn
    start = time.perf_counter()
    out = fn(inst, chosen, Run.starting(time_limit, seed, workers))
    mapping = None
    if out.decision is not None:
        mapping = out.mapping if out.mapping is not None else spec.to_mapping(inst, out.decision)
        mapping = mapping.replace(meta={"problem": problem, "method": method, **mapping.meta})
    return SolveResult(out.objective, out.bound, status_of(out.objective, out.bound), method, mapping,
                       out.decision, time.perf_counter() - start,
                       {"time_limit": time_limit, "workers": workers, **chosen.to_dict()}, seed, stats=out.stats)


def apply(inst: Instance, problem: str, decision, seed: int = 0) -> SolveResult:
    """A decision made elsewhere (e.g. kept while weights were re-fitted), mapped and validated like a method's;
    its objective is what the simulator counts (method ``given``, no bound)."""
    spec = get_problem(problem)
    if not isinstance(decision, spec.decision):
        raise SolverError(f"{problem} takes a {spec.decision.__name__} decision, got {type(decision).__name__}")
    start = time.perf_counter()
    mapping = spec.to_mapping(inst, decision)
    mapping = mapping.replace(meta={"problem": problem, "method": "given", **mapping.meta})
    report = simulate(mapping, inst.layer, seed=seed)
    objective = _measured(report, spec.objective)
    return SolveResult(objective, None, status_of(objective, None), "given", mapping, decision,
                       time.perf_counter() - start, {}, seed, report)


def status_of(objective, bound) -> Status:
    """Optimal exactly when the bound meets the objective; feasible with an objective; unknown without one."""
    if objective is None:
        return Status.UNKNOWN
    return Status.OPTIMAL if bound is not None and bound == objective else Status.FEASIBLE


def check_params(problem: str, method: str, params: dict | Params) -> Params:
    """The parameters of `problem` for `method`, checked (else a one-line `SolverError`)."""
    get_method(problem, method)
    cls = get_problem(problem).params
    if isinstance(params, cls):
        return params
    return cls.of(params, f"{problem}/{method}")


def _measured(report, kind: str):
    """The simulator's figure a problem's objective must equal."""
    if report.cost is None:
        return None
    return report.cost.ou_activations if kind == "ou_activations" else report.error["l1"]


def check_solution(mapping: Mapping, inst: Instance, exact: bool = False, seed: int = 0) -> Report:
    """A solution judged against the instance it claims to solve, trusting nothing it declares about itself:
    `simulate` on the instance's weights, plus a violation for each hardware field that differs from the
    instance's (`mapopt.sim.hardware_violations`) and for a declared approximation (a reference other than the
    layer) that the problem it names cannot make, or any approximation when `exact`."""
    report = simulate(mapping, inst.layer, seed=seed)
    extra = hardware_violations(mapping, inst.spec)
    reference = mapping.reference
    if reference is not None and not (reference.shape == inst.layer.matrix.shape
                                      and np.array_equal(reference, inst.layer.matrix)):
        problem = mapping.meta.get("problem")
        if exact:
            extra.append(Violation("approximation", "the solution declares an approximation of the layer; "
                                                    "--exact takes only mappings of the layer itself"))
        elif not (isinstance(problem, str) and problem in Registry.modules and get_problem(problem).approximates):
            extra.append(Violation("approximation", f"the solution declares an approximation of the layer, but "
                                                    f"names {'no problem' if problem is None else repr(problem)} "
                                                    "whose decisions may approximate"))
    if not extra:
        return report
    return replace(report, valid=False, exact=report.exact and all(v.rule != "approximation" for v in extra),
                   violations=[*extra, *report.violations])
