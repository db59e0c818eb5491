"""Vector bin packing instances in VPSolver's ``.vbp`` format, solved by `mapopt.engines.vector_packing`.

Format: ``d``, the ``d`` capacities, the number of item types ``m``, then ``m`` lines of
``d`` sizes and a demand. Items are expanded by demand; there is no cardinality limit.
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
        capacity = np.array(tokens[1:1 + d], dtype=np.int64)
        m = tokens[1 + d]
        body = np.array(tokens[2 + d:2 + d + m * (d + 1)], dtype=np.int64).reshape(m, d + 1)
    except (ValueError, IndexError) as exc:
        raise InstanceError(f"{name}: not a .vbp file ({exc})") from None
    if d < 1 or len(capacity) != d or np.any(capacity <= 0) or np.any(body < 0):
        raise InstanceError(f"{name}: .vbp header or sizes are invalid")
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
    (LP bound and rounding); ``auto`` runs it for half the time limit, then CP-SAT for the rest."""
    start = time.perf_counter()
    s, c = inst.sizes, inst.capacity
    lb = vp.lower_bound(s, c)
    status = "feasible"
    if method in ("ffd", "bfd"):
        bins = vp.first_fit(s, c, None, vp.order(s, c, "sum"), best=method == "bfd")
    elif method == "bin-centric":
        bins = vp.bin_centric(s, c, None)
    else:
        bins = vp.heuristic(s, c)
        limit = time_limit if time_limit is not None else 10.0
        if method in ("lp", "auto") and len(bins) and bins.max() + 1 > lb:
            res = column_generation(s, c, None, limit / 2 if method == "auto" else limit, bins)
            bins, lb = res.bins, max(lb, res.bound)
        if method in ("cpsat", "auto") and len(bins) and bins.max() + 1 > lb:
            left = limit - (time.perf_counter() - start)
            if left > 0.1:
                res = vp.cpsat(s, c, None, left, seed, 1, bins)
                bins, lb, status = res.bins, max(lb, res.bound), res.status.value
    n_bins = int(bins.max()) + 1 if len(bins) else 0
    if n_bins <= lb:
        status = "optimal"
    return {"instance": inst.name, "method": method, "bins": n_bins, "lower_bound": int(lb), "status": status,
            "items": int(len(s)), "dimensions": int(s.shape[1]), "wall_time": round(time.perf_counter() - start, 6)}
