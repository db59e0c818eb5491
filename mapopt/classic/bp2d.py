"""Two-dimensional bin packing instances (Berkey & Wang, Martello & Vigo), solved by
`mapopt.engines.packing2d`, the engine that places pattern blocks on crossbars.

Format: ``n``, then ``W H``, then ``n`` lines ``id w h``. Items keep their orientation
(2BP|O|F). When the instance folder's parent holds ``bks_classes01-04_per_instance.csv``, the
best-known upper bound of the instance is reported next to the result.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engines import packing2d
from ..errors import InstanceError
from . import read_text

METHODS = ("maxrects", "skyline", "shelf", "heuristic", "cpsat", "auto")
#: CP-SAT's default time limit, seconds
DEFAULT_SECONDS = 10.0
BKS_FILE = "bks_classes01-04_per_instance.csv"


@dataclass(frozen=True)
class Bp2dInstance:
    name: str
    widths: np.ndarray
    heights: np.ndarray
    W: int
    H: int
    best_known: int | None = None


def parse(text: str, name: str, best_known: int | None = None) -> Bp2dInstance:
    """Parse 2BP text; a malformed file, or one beyond the engine's limits (`packing2d.MAX_SIDE`,
    `packing2d.MAX_ITEMS`), is one `InstanceError` line naming it."""
    try:
        tokens = [int(t) for t in text.split()]
        n, W, H = tokens[0], tokens[1], tokens[2]
    except (ValueError, IndexError) as exc:
        raise InstanceError(f"{name}: not a 2BP file ({exc})") from None
    if n > packing2d.MAX_ITEMS:
        raise InstanceError(f"{name}: {n} items exceed the limit of {packing2d.MAX_ITEMS}")
    if n < 0 or len(tokens) != 3 + 3 * n:
        raise InstanceError(f"{name}: expected {n} item lines of 'id w h', found {(len(tokens) - 3) / 3:g}")
    ws, hs = tokens[4::3], tokens[5::3]  # Python integers until they are known to fit int64
    if W <= 0 or H <= 0 or min(ws + hs, default=1) <= 0:
        raise InstanceError(f"{name}: bin and item sizes must be positive")
    for field, value in (("bin width", W), ("bin height", H)):
        if value > packing2d.MAX_SIDE:
            raise InstanceError(f"{name}: {field} {value} exceeds the limit of {packing2d.MAX_SIDE}")
    if max(ws, default=0) > W or max(hs, default=0) > H:
        raise InstanceError(f"{name}: an item is larger than the {W}x{H} bin")
    return Bp2dInstance(name, np.array(ws, dtype=np.int64), np.array(hs, dtype=np.int64), W, H, best_known)


def best_known(folder: Path) -> dict[str, int]:
    """Best-known bin counts by instance name, from the benchmark's csv next to the instance folder."""
    path = folder.parent / BKS_FILE
    if not path.exists():
        return {}
    with path.open() as f:
        return {row["instance"]: int(row["ub_best_known"]) for row in csv.DictReader(f)}


def read(path: str | Path) -> Bp2dInstance:
    path = Path(path)
    text = read_text(path)
    return parse(text, path.name, best_known(path.parent).get(path.name))


def pack(inst: Bp2dInstance, method: str, time_limit: float | None = None, seed: int = 0) -> packing2d.Packing2D:
    """The packing of `method`, checked by the engine's self-check."""
    w, h, W, H = inst.widths, inst.heights, inst.W, inst.H
    if method == "maxrects":
        p = packing2d.maxrects(w, h, W, H)
    elif method == "skyline":
        p = packing2d.skyline(w, h, W, H)
    elif method == "shelf":
        p = packing2d.shelf_ffd(w, h, W, H)
    elif method == "heuristic":
        p = packing2d.heuristic(w, h, W, H, seed=seed, time_limit=time_limit)
    else:
        p = packing2d.cpsat(w, h, W, H, time_limit if time_limit is not None else DEFAULT_SECONDS, seed)
    packing2d.check_packing(w, h, W, H, p.bins, p.x, p.y)
    return p


def solve(inst: Bp2dInstance, method: str, time_limit: float | None = None, seed: int = 0) -> dict:
    """Pack with `method`; returns bins, lower bound, status, the best-known count and time."""
    start = time.perf_counter()
    p = pack(inst, method, time_limit, seed)
    lb = max(int(p.bound), packing2d.lower_bound(inst.widths, inst.heights, inst.W, inst.H))
    return {"instance": inst.name, "method": method, "bins": p.n_bins, "lower_bound": lb,
            "status": "optimal" if p.n_bins <= lb else p.status.value, "best_known": inst.best_known,
            "items": int(len(inst.widths)), "bin": [inst.W, inst.H],
            "wall_time": round(time.perf_counter() - start, 6)}
