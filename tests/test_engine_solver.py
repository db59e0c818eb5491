"""The exact-solver runner: CP-SAT's and HiGHS's statuses translated once, the proven bound read back
unclipped, and a deadline already passed answered without calling the solver."""

import math
import time

import numpy as np
import pytest
from ortools.sat.python import cp_model
from scipy.optimize import Bounds, LinearConstraint

from mapopt.engines import solver
from mapopt.engines.solver import run_cpsat, run_milp
from mapopt.errors import SolverError
from mapopt.result import Status


def tiny(sense="min"):
    """x + y over integers 0..5 with x + 2y >= 3: minimum 2, maximum 10."""
    model = cp_model.CpModel()
    x, y = model.new_int_var(0, 5, "x"), model.new_int_var(0, 5, "y")
    model.add(x + 2 * y >= 3)
    (model.minimize if sense == "min" else model.maximize)(x + y)
    return model, x, y


def test_cpsat_optimum_and_bound_of_a_tiny_model():
    model, x, y = tiny()
    run = run_cpsat(model, time.perf_counter() + 10)
    assert run.status == Status.OPTIMAL and run.found and run.bound == 2
    assert run.solver.value(x) + run.solver.value(y) == 2
    up, _, _ = tiny("max")
    assert run_cpsat(up, None).bound == 10  # maximising: the bound is an upper bound


def test_cpsat_bound_is_never_lowered_to_the_objective():
    model, _, _ = tiny()
    assert run_cpsat(model, None, floor=7).bound == 7  # a known bound above the optimum passes up as it is


def test_cpsat_infeasible_and_invalid_models():
    model, x, _ = tiny()
    model.add(x >= 6)
    run = run_cpsat(model, None)
    assert run.status == Status.INFEASIBLE and run.bound == math.inf and not run.found
    bad = cp_model.CpModel()
    z = bad.new_int_var(0, 2**62, "z")
    bad.add(4 * z <= 10)  # 4 z can overflow 64 bits: CP-SAT rejects the model
    with pytest.raises(SolverError, match="CP-SAT rejected the model"):
        run_cpsat(bad, None)


def test_cpsat_float_objective_rounds_its_bound_only_when_integral():
    model = cp_model.CpModel()
    x = model.new_int_var(3, 10, "x")
    model.minimize(0.5 * x)
    assert run_cpsat(model, None, integral=False).bound == pytest.approx(1.5)
    assert run_cpsat(model, None).bound == 2


def test_a_passed_deadline_gives_unknown_without_solving():
    model, _, _ = tiny()
    run = run_cpsat(model, time.perf_counter() - 1, floor=1)
    assert run.status == Status.UNKNOWN and run.bound == 1 and run.solver is None and not run.found
    c, cons, integrality, bounds = milp_tiny()
    run = run_milp(c, constraints=cons, integrality=integrality, bounds=bounds, deadline=time.perf_counter() - 1,
                   floor=1)
    assert run.status == Status.UNKNOWN and run.bound == 1 and run.x is None


def milp_tiny(rhs=3.0):
    """The same model for HiGHS: min x + y, x + 2y >= rhs, integers 0..5."""
    return np.ones(2), LinearConstraint([[1, 2]], rhs, np.inf), np.ones(2), Bounds(0, 5)


def test_milp_optimum_infeasibility_and_integral_bound():
    c, cons, integrality, bounds = milp_tiny()
    run = run_milp(c, constraints=cons, integrality=integrality, bounds=bounds, deadline=time.perf_counter() + 10,
                   integral=True)
    assert run.status == Status.OPTIMAL and run.bound == 2 and run.objective == 2 and run.x[0] + 2 * run.x[1] >= 3
    c, cons, integrality, bounds = milp_tiny(rhs=20)
    run = run_milp(c, constraints=cons, integrality=integrality, bounds=bounds, deadline=None)
    assert run.status == Status.INFEASIBLE and run.bound == math.inf and run.x is None


def test_milp_in_a_killable_child_process_gives_the_same_answer(monkeypatch):
    monkeypatch.setattr(solver, "GUARD_NONZEROS", 0)  # every model runs under call_with_deadline
    c, cons, integrality, bounds = milp_tiny()
    run = run_milp(c, constraints=cons, integrality=integrality, bounds=bounds, deadline=time.perf_counter() + 10)
    assert run.status == Status.OPTIMAL and run.bound == pytest.approx(2) and run.objective == pytest.approx(2)
