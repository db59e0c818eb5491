"""The problem contract, held for every registered method of every problem: a new method gets all of it
by being registered.

For each (problem, method): the mapping is valid and exact (against the declared approximation),
the objective equals the simulator's count, the bound is at most the objective, the status is
optimal exactly when they meet, the decision is the problem's type and alone rebuilds the mapping,
the same seed gives the same result, a bad parameter is a one-line error naming it, and the time
limit holds (with a tolerance generous enough for a loaded 2-core machine; `experiments/time_limits.py`
measures it precisely).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mapopt.errors import SolverError
from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.problems import get_problem, methods, problems
from mapopt.result import Status
from mapopt.sim import cost
from mapopt.solve import solve

from helpers import mapopt

#: the time limit every method gets here, and the slack a loaded CI machine may add to it
LIMIT = 2.0
SLACK = 3 * LIMIT + 2.0
HARDWARE = {"baseline": "orc", "filter-ordering": "orc", "bitslice-packing": "bitslice",
            "pattern-placement": "pattern", "reuse-clustering": "reuse"}
CASES = [(p, m) for p in problems() for m in methods(p)]


def instance(problem: str) -> Instance:
    """A small pruned conv layer (float weights kept, for pattern pruning and recovery) on the problem's hardware."""
    rng = np.random.default_rng(7)
    weight = rng.normal(size=(20, 6, 3, 3)) * (rng.random((20, 6, 3, 3)) > 0.6)
    return Instance(Layer.from_weights(weight, "conv"), preset(HARDWARE[problem]))


def needs(problem: str, name: str) -> None:
    if name == "mtkahypar":
        pytest.importorskip("mtkahypar", reason="method mtkahypar needs the optional package mtkahypar")


def test_cases_cover_every_method_the_command_line_lists():
    listed = sum(len(mapopt("solve", "-", "--problem", p, "--method", "list").stdout.splitlines()) for p in problems())
    assert listed == len(CASES) > 30


@pytest.mark.parametrize("problem,name", CASES)
def test_method_keeps_the_contract(problem, name):
    needs(problem, name)
    inst = instance(problem)
    r = solve(inst, problem, name, time_limit=LIMIT, seed=3)
    rep = r.report
    assert rep.valid and rep.exact, rep.violations
    measured = rep.cost.ou_activations if get_problem(problem).objective == "ou_activations" else rep.error["l1"]
    assert r.objective == measured
    assert r.bound is not None and r.bound <= r.objective
    assert (r.status == Status.OPTIMAL) == (r.bound == r.objective)
    assert isinstance(r.solution, get_problem(problem).decision)
    # the decision alone, whichever method made it, rebuilds the mapping and says what it approximates
    rebuilt = get_problem(problem).to_mapping(inst, r.solution)
    assert cost(rebuilt).to_dict() == rep.cost.to_dict()
    assert (r.solution.reference is None) == (r.mapping.reference is None)
    assert r.wall_time <= SLACK, f"{problem}/{name} ran {r.wall_time:.1f} s under a {LIMIT} s limit"


@pytest.mark.parametrize("problem,name", CASES)
def test_same_seed_same_result(problem, name):
    needs(problem, name)
    inst = instance(problem)
    a, b = (solve(inst, problem, name, seed=5) for _ in range(2))
    assert (a.objective, a.bound, a.status) == (b.objective, b.bound, b.status)
    assert a.report.cost.to_dict() == b.report.cost.to_dict()
    assert a.stats == b.stats


def bad_values(problem: str) -> list[tuple[str, object]]:
    """Per parameter, a value of the wrong type or outside its choices or range; an unknown name always."""
    out = [("no_such_parameter", 1)]
    for f in dataclasses.fields(get_problem(problem).params):
        m = f.metadata
        if m["choices"]:
            out.append((f.name, "nonsense"))
        elif m["kind"] in (int, float):
            out += [(f.name, "abc"), (f.name, float("nan"))]
            if m["low"] is not None:
                out.append((f.name, m["low"] - 1))
        elif m["kind"] is bool:
            out.append((f.name, "maybe"))
        else:
            out.append((f.name, [[]]))
    return out


@pytest.mark.parametrize("problem,name", CASES)
def test_bad_parameters_are_one_line_errors_naming_them(problem, name):
    inst = instance(problem)
    for key, value in bad_values(problem):
        with pytest.raises(SolverError) as err:
            solve(inst, problem, name, **{key: value})
        message = str(err.value)
        assert key in message and "\n" not in message, message


def test_bad_parameters_fail_on_the_command_line_in_one_line(tmp_path):
    from mapopt.instance import write_instance

    path = write_instance(tmp_path / "layer.npz", instance("reuse-clustering"))
    for param in ("theta=abc", "theta=0", "scales=huge"):
        proc = mapopt("solve", path, "--problem", "reuse-clustering", "--param", param, ok=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and param.split("=")[0] in proc.stderr
