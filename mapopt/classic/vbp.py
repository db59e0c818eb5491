"""Vector bin packing instances in VPSolver's ``.vbp`` format, solved by `mapopt.engines.vector_packing`.

Format: ``d``, the ``d`` capacities, the number of item types ``m``, then ``m`` lines of
``d`` sizes and a demand. Items are expanded by demand (at most `MAX_ITEMS` in all); there is no
cardinality limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engines import vector_packing as vp
from ..engines.vector_packing_lp import column_generation
from ..errors import InstanceError
from . import read_text

METHODS = ("ffd", "bfd", "bin-centric", "heuristic", "lp", "cpsat", "auto")
#: the most items after expanding demands: the constructions are quadratic Python loops over items
#: (10^4 items take seconds each); the published benchmarks have at most about a thousand
MAX_ITEMS = 10_000
#: the largest capacity: the sizes of `MAX_ITEMS` items then sum far inside int64 (10^16)
MAX_CAPACITY = 10**12
#: seconds the exact methods get when no time limit is given
DEFAULT_SECONDS = 10.0
#: CP-SAT runs after the heuristic and the LP only with at least this many seconds left (less proves nothing)
MIN_CPSAT_SECONDS = 0.1


@dataclass(frozen=True)
class VbpInstance:
    name: str
    sizes: np.ndarray
    capacity: np.ndarray


def parse(text: str, name: str) -> VbpInstance:
    """Parse ``.vbp`` text; a malformed file is one `InstanceError` line naming it."""
    try:
        tokens = [int(t) for t in text.split()]
        d = tokens[0]
        cap = tokens[1:1 + d]
        m = tokens[1 + d]
        rows = tokens[2 + d:2 + d + m * (d + 1)]
        if d < 1 or m < 0 or len(cap) != d or len(rows) != m * (d + 1):
            raise ValueError("header or item lines missing")
    except (ValueError, IndexError) as exc:
        raise InstanceError(f"{name}: not a .vbp file ({exc})") from None
    if min(cap) <= 0 or min(rows, default=0) < 0:
        raise InstanceError(f"{name}: .vbp header or sizes are invalid")
    if max(cap) > MAX_CAPACITY:
        raise InstanceError(f"{name}: capacity {max(cap)} exceeds the limit of {MAX_CAPACITY}")
    items = sum(rows[d::d + 1])
    if items > MAX_ITEMS:
        raise InstanceError(f"{name}: demands total {items} items, above the limit of {MAX_ITEMS}")
    capacity = np.array(cap, dtype=np.int64)
    if max(rows, default=0) > MAX_CAPACITY:
        raise InstanceError(f"{name}: an item exceeds the bin capacity")
    body = np.array(rows, dtype=np.int64).reshape(m, d + 1)
    sizes = np.repeat(body[:, :d], body[:, d], axis=0)
    if np.any(sizes > capacity[None, :]):
        raise InstanceError(f"{name}: an item exceeds the bin capacity")
    return VbpInstance(name, sizes, capacity)


def read(path: str | Path) -> VbpInstance:
    path = Path(path)
    text = read_text(path)
    return parse(text, path.stem)


def solve(inst: VbpInstance, method: str, time_limit: float | None = None, seed: int = 0) -> dict:
    """Pack with `method`; returns bins, lower bound, status and time. ``lp`` is column generation
    (LP bound and rounding); ``auto`` runs it for half the time limit, then CP-SAT for the rest. The
    time limit (`DEFAULT_SECONDS` for the exact methods when none is given) covers the whole call."""
    start = time.perf_counter()
    s, c = inst.sizes, inst.capacity
    lb = vp.lower_bound(s, c)
    status = "feasible"
    if method in ("ffd", "bfd"):
        bins = vp.first_fit(s, c, None, vp.order(s, c, "sum"), best=method == "bfd")
    elif method == "bin-centric":
        bins = vp.bin_centric(s, c, None)
    else:
        limit = time_limit if time_limit is not None else DEFAULT_SECONDS
        timed = time_limit is not None or method != "heuristic"
        bins = vp.heuristic(s, c, deadline=start + limit if timed else None)
        if method in ("lp", "auto") and len(bins) and bins.max() + 1 > lb:
            left = max(0.0, limit - (time.perf_counter() - start))
            res = column_generation(s, c, None, min(limit / 2, left) if method == "auto" else left, bins)
            bins, lb = res.bins, max(lb, res.bound)
        if method in ("cpsat", "auto") and len(bins) and bins.max() + 1 > lb:
            left = limit - (time.perf_counter() - start)
            if left > MIN_CPSAT_SECONDS:
                res = vp.cpsat(s, c, None, left, seed, 1, bins)
                bins, lb, status = res.bins, max(lb, res.bound), res.status.value
    n_bins = int(bins.max()) + 1 if len(bins) else 0
    if n_bins <= lb:
        status = "optimal"
    return {"instance": inst.name, "method": method, "bins": n_bins, "lower_bound": int(lb), "status": status,
            "items": int(len(s)), "dimensions": int(s.shape[1]), "wall_time": round(time.perf_counter() - start, 6)}
