"""The contract every problem implements: parameters, decisions, methods and what a method returns.

A problem declares once

- its parameters, a frozen `Params` dataclass whose fields carry defaults, types and ranges
  (`param`); a wrong type or value is a one-line `SolverError` naming the parameter;
- its decision, a typed solution that names the structural choice (which filters share a
  group, which rows share an activation, ...) and exposes ``reference``: the matrix the
  mapping computes when the decision approximates the layer, else None;
- `to_mapping`, which turns a decision into the `Mapping` the simulator validates and costs.

A method is a function ``(inst, params, run) -> Outcome`` registered with `method`; it returns
its decision, the objective it claims and the lower bound it proves, and `mapopt.solve.solve`
does the rest (mapping, status, the simulator's check). Methods call each other by name
through `call`, never positionally.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..engines.deadline import deadline_of, expired, time_left
from ..errors import SolverError


def param(default, doc: str, *, choices: tuple | None = None, low: float | None = None, high: float | None = None,
          low_open: bool = False, high_open: bool = False, kind: type | None = None):
    """A parameter field: its default, a one-line meaning, and the values it accepts (choices or a range).
    `kind` is the type values are coerced to (default: the default's type), or a function that converts a
    value or raises ValueError; a None default accepts None."""
    meta = {"doc": doc, "choices": choices, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "kind": kind or type(default)}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Params:
    """Base of every problem's parameters: values are coerced to their declared type and checked on creation."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))

    @classmethod
    def of(cls, given: dict | None, problem: str = "") -> "Params":
        """Parameters from a ``{name: value}`` dict (strings from the command line are parsed); an unknown
        name is a one-line error listing the accepted ones."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(given or {}) - set(names))
        if unknown:
            raise SolverError(f"{problem or cls.__name__} takes no parameter {', '.join(unknown)}"
                              f" (it takes: {', '.join(names) or 'none'})")
        return cls(**(given or {}))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def describe(cls) -> list[str]:
        """One line per parameter: name, default, accepted values and meaning (``--method list``)."""
        lines = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            accepted = ("one of " + ", ".join(map(str, m["choices"]))) if m["choices"] else _range_text(m)
            lines.append(f"{f.name}={f.default!r} ({accepted}): {m['doc']}")
        return lines


def _kind_text(kind) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false"}
    return names.get(kind) or (kind.__doc__ or kind.__name__).strip().splitlines()[0].rstrip(".")


def _range_text(m) -> str:
    if m["kind"] not in (int, float):
        return _kind_text(m["kind"])
    lo = "-inf" if m["low"] is None else m["low"]
    hi = "inf" if m["high"] is None else m["high"]
    return f"{m['kind'].__name__} in {'(' if m['low_open'] else '['}{lo}, {hi}{')' if m['high_open'] else ']'}"


def _checked(f: dataclasses.Field, value):
    """`value` as the field's type, within its choices or range; else a one-line `SolverError`."""
    m = f.metadata
    if not m or (value is None and f.default is None):
        return value
    kind = m["kind"]
    if m["choices"] is not None and kind is str:
        if value not in m["choices"]:
            raise SolverError(f"parameter {f.name} must be one of {', '.join(map(str, m['choices']))}; got {value!r}")
        return value
    try:
        value = _coerce(value, kind)
    except (TypeError, ValueError):
        raise SolverError(f"parameter {f.name} must be {_kind_text(kind)}; got {value!r}") from None
    lo, hi = m["low"], m["high"]
    if (lo is not None and (value < lo or (m["low_open"] and value == lo))) or \
            (hi is not None and (value > hi or (m["high_open"] and value == hi))):
        raise SolverError(f"parameter {f.name} must be {_range_text(m)}; got {value!r}")
    return value


def _coerce(value, kind: type):
    """`value` as `kind`: strings are parsed, floats must be finite, integers whole, booleans spelled out."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(value)
    if isinstance(value, bool):
        raise TypeError(value)
    if kind is int:
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, numbers.Real) or not math.isfinite(number) or int(number) != number:
            raise ValueError(value)
        return int(number)
    if kind is float:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return number
    if isinstance(kind, type):
        if not isinstance(value, kind):
            raise TypeError(value)
        return value
    return kind(value)


@dataclass(frozen=True)
class Run:
    """How a method runs: its deadline (a ``perf_counter`` time, None: no limit), seed and workers."""

    deadline: float | None = None
    seed: int = 0
    workers: int = 1

    @classmethod
    def starting(cls, time_limit: float | None, seed: int = 0, workers: int = 1) -> "Run":
        return cls(deadline_of(time_limit), seed, workers)

    def left(self, floor: float = 0.0) -> float | None:
        """Seconds until the deadline, at least `floor` (None: no limit)."""
        return time_left(self.deadline, floor)

    def expired(self) -> bool:
        return expired(self.deadline)

    def share(self, fraction: float) -> "Run":
        """The same run with `fraction` of the time left (the whole of it without a limit)."""
        left = self.left()
        return self if left is None else dataclasses.replace(self, deadline=deadline_of(fraction * left))


@dataclass
class Outcome:
    """What a method returns: its decision, the objective it claims for it, the lower bound it proves,
    statistics for the report (counts, the settings it chose), and the decision's mapping when the method
    built it to count its objective (it must be what `Problem.to_mapping` makes of the decision; the
    conformance suite checks that), so it is not built twice."""

    decision: Any
    objective: float
    bound: float
    stats: dict = field(default_factory=dict)
    mapping: Any = None


@dataclass(frozen=True)
class Problem:
    """A problem's declarations: parameters, decision type, what its objective measures, its mapping."""

    name: str
    params: type[Params]
    decision: type
    to_mapping: Callable
    objective: str = "ou_activations"  # or "error_l1": which simulator figure the objective must equal
    approximates: bool = True  # whether its decisions may declare an approximation of the layer (a reference)


@dataclass(frozen=True)
class Method:
    """A registered solver: its function, whether it can prove optimality, and a one-line summary."""

    problem: str
    name: str
    fn: Callable
    exact: bool
    summary: str


class Registry:
    """Problems and their methods by name; problem modules fill it when imported."""

    modules: ClassVar[dict[str, str]] = {
        "baseline": "mapopt.problems.baseline",
        "filter-ordering": "mapopt.problems.filter_ordering",
        "bitslice-packing": "mapopt.problems.bitslice_packing",
        "pattern-placement": "mapopt.problems.pattern_placement",
        "reuse-clustering": "mapopt.problems.reuse_clustering",
    }
    problems: ClassVar[dict[str, Problem]] = {}
    methods: ClassVar[dict[str, dict[str, Method]]] = {}


def register_problem(problem: Problem) -> Problem:
    Registry.problems[problem.name] = problem
    Registry.methods.setdefault(problem.name, {})
    return problem


def method(problem: str, name: str, exact: bool = False) -> Callable:
    """Decorator registering ``fn(inst, params, run) -> Outcome`` as method `name` of `problem`; its
    docstring's first line is its summary."""
    def register(fn: Callable) -> Callable:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        Registry.methods.setdefault(problem, {})[name] = Method(problem, name, fn, exact, summary)
        return fn
    return register


def call(problem: str, name: str, inst, params: Params, run: Run) -> Outcome:
    """Run method `name` of `problem` (how methods call each other)."""
    from . import get_method

    return get_method(problem, name).fn(inst, params, run)


@dataclass(frozen=True)
class NoParams(Params):
    """The parameters of a problem that takes none."""
