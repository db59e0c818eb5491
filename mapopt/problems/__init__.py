"""The mapping problems and their methods, by name: the registry `mapopt.solve` dispatches on.

Each problem implements the contract of `mapopt.problems.contract` (parameters, decision,
`to_mapping`) and registers its methods with `method`; its module is imported on first use.
"""

from __future__ import annotations

import importlib

from ..errors import SolverError
from .contract import Method, Problem, Registry


def problems() -> tuple[str, ...]:
    return tuple(Registry.modules)


def get_problem(name: str) -> Problem:
    """A problem's declarations (importing its module on first use), or a `SolverError` listing the choices."""
    if name not in Registry.modules:
        raise SolverError(f"unknown problem {name!r}; choose from {', '.join(Registry.modules)}")
    importlib.import_module(Registry.modules[name] + ".methods")
    return Registry.problems[name]


def methods(problem: str) -> dict[str, Method]:
    """The methods of `problem` by name."""
    get_problem(problem)
    return Registry.methods[problem]


def objective_kind(problem: str) -> str:
    """``ou_activations`` or ``error_l1``: which simulator figure a problem's objective must equal."""
    return get_problem(problem).objective


def get_method(problem: str, name: str) -> Method:
    """One method of one problem, or a `SolverError` listing the choices."""
    table = methods(problem)
    if name not in table:
        raise SolverError(f"problem {problem!r} has no method {name!r}; choose from {', '.join(table)}")
    return table[name]
