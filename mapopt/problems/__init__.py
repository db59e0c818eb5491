"""The mapping problems and their methods, by name: the registry `mapopt.solve` dispatches on.

A problem module registers each method with `method(problem, name)`. A method takes an
`Instance` plus ``time_limit``, ``seed``, ``workers`` and its own keyword parameters, and
returns a `SolveResult` whose mapping the simulator then validates and costs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import SolverError

#: problem name -> module that registers its methods when imported
_MODULES = {
    "baseline": "mapopt.problems.baseline.methods",
    "filter-ordering": "mapopt.problems.filter_ordering.methods",
    "bitslice-packing": "mapopt.problems.bitslice_packing.methods",
    "pattern-placement": "mapopt.problems.pattern_placement.methods",
    "reuse-clustering": "mapopt.problems.reuse_clustering.methods",
}

#: what a problem's objective is, as the simulator measures it (default: OU activations per input vector)
OBJECTIVES = {"reuse-clustering": "error_l1"}


@dataclass(frozen=True)
class Method:
    """A registered solver: its function, whether it can prove optimality, and a one-line summary."""

    problem: str
    name: str
    fn: Callable
    exact: bool
    summary: str


_REGISTRY: dict[str, dict[str, Method]] = {}


def method(problem: str, name: str, exact: bool = False) -> Callable:
    """Decorator registering `fn` as method `name` of `problem`; its docstring's first line is its summary."""
    def register(fn: Callable) -> Callable:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _REGISTRY.setdefault(problem, {})[name] = Method(problem, name, fn, exact, summary)
        return fn
    return register


def problems() -> tuple[str, ...]:
    return tuple(_MODULES)


def methods(problem: str) -> dict[str, Method]:
    """The methods of `problem` by name (importing its module on first use)."""
    if problem not in _MODULES:
        raise SolverError(f"unknown problem {problem!r}; choose from {', '.join(_MODULES)}")
    importlib.import_module(_MODULES[problem])
    return _REGISTRY[problem]


def objective_kind(problem: str) -> str:
    """``ou_activations`` or ``error_l1``: which simulator figure a problem's objective must equal."""
    return OBJECTIVES.get(problem, "ou_activations")


def get_method(problem: str, name: str) -> Method:
    """One method of one problem, or a `SolverError` listing the choices."""
    table = methods(problem)
    if name not in table:
        raise SolverError(f"problem {problem!r} has no method {name!r}; choose from {', '.join(table)}")
    return table[name]
