"""p-median costs: the checked cost matrix, the result record `Medians`, and the evaluation of an open set."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ...errors import SolverError
from ...result import Status


@dataclass(frozen=True, eq=False)
class Medians:
    """Open candidates (`centers`, sorted column indices of ``D``), each client's centre (`assign`,
    a column index of ``D``), the objective (opening costs included), the best proven lower bound
    and the status (`Status.OPTIMAL` when the objective meets the bound)."""

    centers: np.ndarray
    assign: np.ndarray
    objective: float
    bound: float
    status: Status

    @property
    def gap(self) -> float:
        """Relative gap ``(objective - bound) / |objective|``; 0 when proven optimal."""
        if self.objective == 0 or self.status == Status.OPTIMAL:
            return 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))


def check_costs(D, p=None, f=None) -> tuple[np.ndarray, int | None, np.ndarray | None]:
    """``D`` as int64 (integer input) or float64, the count ``p`` and the opening costs ``f``.

    Exactly one of `p` (p-median, ``1 <= p <= m``) and `f` (facility location: a scalar or one
    nonnegative cost per candidate) is given. Raises `SolverError` with a one-line message.
    """
    D = np.asarray(D)
    if D.ndim != 2 or D.shape[0] < 1 or D.shape[1] < 1:
        raise SolverError(f"D must be a nonempty 2-D cost matrix (clients x candidates), got shape {D.shape}")
    if D.dtype == bool or np.issubdtype(D.dtype, np.integer):
        D = np.asarray(D, dtype=np.int64)  # no copy when it is int64 already: no method writes into D
    elif np.issubdtype(D.dtype, np.floating):
        D = np.asarray(D, dtype=np.float64)
        if not np.all(np.isfinite(D)):
            raise SolverError("D must hold finite numbers")
    else:
        raise SolverError(f"D must hold numbers, got dtype {D.dtype}")
    n, m = D.shape
    if (p is None) == (f is None):
        raise SolverError("give either p (p-median) or f (facility location opening costs)")
    if p is not None:
        if isinstance(p, bool) or not isinstance(p, numbers.Integral) or not 1 <= p <= m:
            raise SolverError(f"p must be an integer in 1..{m} (the number of candidates), got {p!r}")
        p = int(p)
    else:
        f = np.broadcast_to(np.asarray(f), (m,))
        if not (np.issubdtype(f.dtype, np.integer) or np.issubdtype(f.dtype, np.floating)) \
                or not np.all(np.isfinite(f)) or np.any(f < 0):
            raise SolverError(f"f must be a nonnegative finite scalar or one cost per candidate ({m})")
        if np.issubdtype(f.dtype, np.floating) and D.dtype == np.int64:
            D = D.astype(np.float64)
        f = f.astype(D.dtype).copy()
    scale = max(float(D.max()), -float(D.min())) + (float(f.max()) if f is not None else 0.0)
    if D.dtype == np.int64 and scale * 4 * (n + m + 1) >= 2.0 ** 62:
        raise SolverError("integer costs too large for exact 64-bit sums; scale them down")
    return D, p, f


def is_integral(D: np.ndarray) -> bool:
    """Integer costs (int64 after `check_costs`; int32 copies inside the package path): sums are exact and
    improvements must be at least 1."""
    return np.issubdtype(D.dtype, np.integer)


def big_cost(D: np.ndarray):
    """A distance above every entry: the second-nearest distance of a client with one open centre."""
    return D.dtype.type(2 * np.abs(D).max() + 1)


def improvement_tol(D: np.ndarray, value: float) -> float:
    """Improvement threshold: exact for integer costs, relative for floats (stops cycling on rounding)."""
    return 0.0 if is_integral(D) else 1e-10 * max(1.0, abs(value))


def evaluate(D: np.ndarray, centers, f: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Each client's cheapest centre among `centers` (a column index) and the total cost."""
    centers = np.asarray(centers, dtype=np.int64)
    sub = D[:, centers]
    k = np.argmin(sub, axis=1)
    total = sub[np.arange(len(D)), k].sum() + (f[centers].sum() if f is not None else 0)
    return centers[k], total.item()


def round_bound(D: np.ndarray, bound: float) -> float:
    """Integer costs have an integer optimum, so a bound rounds up (after a margin for float error)."""
    if not math.isfinite(bound):
        return bound
    if is_integral(D):
        return float(math.ceil(bound - 1e-11 * abs(bound) - 1e-6))
    return bound - 1e-12 * abs(bound)


def result_of(D: np.ndarray, centers, f: np.ndarray | None, bound: float, tol: float = 0.0,
              evaluated: tuple | None = None) -> Medians:
    """`Medians` of the open set `centers`: OPTIMAL when its objective meets `bound` (within `tol`);
    `evaluated` is ``(assign, objective)`` when the caller has them (each client at a nearest centre)."""
    centers = np.unique(np.asarray(centers, dtype=np.int64))
    assign, obj = evaluate(D, centers, f) if evaluated is None else evaluated
    bound = min(float(bound), float(obj))
    optimal = obj <= bound + max(tol, improvement_tol(D, obj))
    return Medians(centers, assign, float(obj), float(obj) if optimal and is_integral(D) else bound,
                   Status.OPTIMAL if optimal else Status.FEASIBLE)


def trivial_bound(D: np.ndarray, f: np.ndarray | None = None) -> float:
    """``sum_i min_j D_ij`` (plus the cheapest opening): every client pays at least its cheapest candidate.
    It is 0 when every client is a candidate of cost 0 to itself."""
    return float(D.min(axis=1).sum() + (f.min() if f is not None else 0))
