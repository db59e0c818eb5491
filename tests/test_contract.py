"""The contract's own machinery: parameters are coerced and checked once, `solve` decides the status and
reports what a method gets wrong, methods call each other by name, runs share their time."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np
import pytest

from mapopt.errors import SolverError
from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.problems import get_problem
from mapopt.problems.contract import Outcome, Params, Registry, Run, call, method, param
from mapopt.problems.filter_ordering.problem import Grouping
from mapopt.result import Status
from mapopt.solve import solve


@dataclass(frozen=True)
class Example(Params):
    share: float = param(0.5, "a fraction", low=0.0, high=1.0, low_open=True)
    count: int = param(3, "a count", low=1)
    mode: str = param("a", "a mode", choices=("a", "b"))
    flag: bool = param(False, "a switch")


def test_params_parse_command_line_strings_and_check_ranges():
    p = Example.of({"share": "0.25", "count": "4", "mode": "b", "flag": "true"})
    assert (p.share, p.count, p.mode, p.flag) == (0.25, 4, "b", True)
    assert Example.of({"count": 2.0}).count == 2 and isinstance(Example.of({"count": 2.0}).count, int)
    for given, words in [({"share": "abc"}, "share must be a number"), ({"share": 0}, "share must be float in (0.0"),
                         ({"count": 2.5}, "count must be an integer"), ({"count": 0}, "count must be int in [1"),
                         ({"mode": "c"}, "mode must be one of a, b"), ({"flag": "maybe"}, "flag must be true or false"),
                         ({"share": float("inf")}, "share must be a number"), ({"other": 1}, "takes no parameter other")]:
        with pytest.raises(SolverError, match=re.escape(words)):
            Example.of(given)


def test_describe_lists_every_parameter_with_default_and_range():
    lines = Example.describe()
    assert [line.split("=")[0] for line in lines] == ["share", "count", "mode", "flag"]
    assert "(float in (0.0, 1.0])" in lines[0] and "one of a, b" in lines[2]


def test_run_shares_what_is_left():
    assert Run().share(0.5) == Run() and Run().left() is None and not Run().expired()
    run = Run.starting(10.0)
    half = run.share(0.5)
    assert 4.9 < half.left() <= 5.0 and half.deadline < run.deadline
    past = Run.starting(1e-6)
    time.sleep(0.01)
    assert past.expired() and past.left() == 0.0


def small() -> Instance:
    rng = np.random.default_rng(0)
    return Instance(Layer.from_weights(rng.normal(size=(8, 4, 3, 3)) * (rng.random((8, 4, 3, 3)) > 0.5)),
                    preset("orc"))


@pytest.fixture
def liar():
    """A filter-ordering method that claims a wrong objective and a bound above it (removed afterwards)."""
    @method("filter-ordering", "liar")
    def run(inst, params, run):
        """Natural order, with a made-up objective and bound."""
        groups = tuple(np.arange(i, min(i + 2, 8)) for i in range(0, 8, 2))
        return Outcome(Grouping(groups), objective=5, bound=7)
    yield "liar"
    del Registry.methods["filter-ordering"]["liar"]


def test_solve_reports_a_wrong_objective_and_a_bound_above_it_never_clips(liar):
    r = solve(small(), "filter-ordering", liar)
    kinds = {v.rule for v in r.report.violations}
    assert not r.report.valid and {"objective", "bound"} <= kinds
    assert r.bound == 7 and r.objective == 5 and r.status == Status.FEASIBLE


def test_status_is_optimal_exactly_when_the_bound_meets_the_objective():
    inst = small()
    for name in ("natural", "cpsat"):
        r = solve(inst, "filter-ordering", name)
        assert (r.status == Status.OPTIMAL) == (r.bound == r.objective)
    assert solve(inst, "filter-ordering", "cpsat").status == Status.OPTIMAL  # 8 filters: proven


def test_methods_call_each_other_by_name_and_share_the_decision_type():
    inst = small()
    fo = get_problem("filter-ordering")
    out = call("filter-ordering", "greedy", inst, fo.params(), Run())
    assert isinstance(out.decision, fo.decision)
    packed = solve(Instance(inst.layer, preset("bitslice")), "bitslice-packing", "heuristic",
                   groups=[g.tolist() for g in out.decision.groups])
    assert [g.tolist() for g in packed.solution.groups] == [g.tolist() for g in out.decision.groups]
    with pytest.raises(SolverError, match="groups"):
        solve(Instance(inst.layer, preset("bitslice")), "bitslice-packing", "heuristic", groups=[[]])
