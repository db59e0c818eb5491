"""Classical benchmark formats driving mapopt's engines, so each engine meets published optima.

`solve_classic(kind, path, method, time_limit, seed)` reads a file of the given kind and
returns a JSON-able summary; `KINDS` lists the kinds and their methods.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import InstanceError, SolverError

#: kind -> module with ``METHODS``, ``read(path)`` and ``solve(instance, method, time_limit, seed) -> dict``
KINDS = {"vbp": "mapopt.classic.vbp", "2bp": "mapopt.classic.bp2d", "pmed": "mapopt.classic.pmed"}


def read_text(path: Path) -> str:
    """A benchmark file's text; an unreadable file is one `InstanceError` line naming it."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceError(f"{path}: cannot read ({exc})") from None


def solve_classic(kind: str, path: str | Path, method: str = "auto", time_limit: float | None = None,
                  seed: int = 0) -> dict:
    """Read `path` as a `kind` instance and solve it with `method`."""
    if kind not in KINDS:
        raise SolverError(f"unknown classic kind {kind!r}; choose from {', '.join(KINDS)}")
    module = importlib.import_module(KINDS[kind])
    if method not in module.METHODS:
        raise SolverError(f"classic {kind} has no method {method!r}; choose from {', '.join(module.METHODS)}")
    return module.solve(module.read(path), method, time_limit, seed)
