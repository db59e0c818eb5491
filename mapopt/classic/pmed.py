"""OR-Library uncapacitated p-median instances (Beasley 1985), solved by `mapopt.engines.pmedian`.

Format: ``n m p`` (vertices, edges, medians), then ``m`` lines ``i j cost`` (undirected edge,
1-based vertices). When an edge appears more than once the last occurrence counts (the
convention under which the published optima hold; taking the minimum gives values below
them). The cost matrix is the all-pairs shortest-path distance; every vertex is both a client
and a candidate median. Known optima are read from a ``pmedopt.txt`` beside the file (lines
``pmedK value``), as distributed with the instances.

J. E. Beasley, "A note on solving large p-median problems", European Journal of Operational
Research 21 (1985) 270-273; "OR-Library: distributing test problems by electronic mail",
Journal of the Operational Research Society 41 (1990) 1069-1072.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engines import pmedian
from ..errors import InstanceError
from . import read_text

METHODS = pmedian.METHODS
#: seconds for the exact methods and ``auto`` when no time limit is given
DEFAULT_TIME_LIMIT = 60.0
#: the most vertices: the all-pairs distance matrix is dense, ``n x n`` (200 MB of int64 at 5,000), and the
#: engine keeps a few matrices of that size; OR-Library's largest instance has 900
MAX_VERTICES = 5_000


@dataclass(frozen=True, eq=False)
class PmedInstance:
    name: str
    distances: np.ndarray
    p: int
    edges: int
    duplicates: int
    optimum: float | None = None

    @property
    def n(self) -> int:
        return len(self.distances)


def parse(text: str, name: str, optimum: float | None = None) -> PmedInstance:
    """Parse OR-Library p-median text; a malformed file is one `InstanceError` line naming it."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    tokens = text.split()
    if len(tokens) < 3:
        raise InstanceError(f"{name}: not an OR-Library p-median file (header 'n m p' missing)")
    try:
        n, m, p = (int(t) for t in tokens[:3])
        body = np.array([float(t) for t in tokens[3:3 + 3 * m]], dtype=np.float64)
    except ValueError as exc:
        raise InstanceError(f"{name}: not an OR-Library p-median file ({exc})") from None
    if n < 1 or m < 0 or not 1 <= p <= n:
        raise InstanceError(f"{name}: header needs n >= 1 vertices, m >= 0 edges and 1 <= p <= n, got {n} {m} {p}")
    if n > MAX_VERTICES:
        raise InstanceError(f"{name}: {n} vertices exceed the limit of {MAX_VERTICES} "
                            "(the all-pairs distance matrix is dense)")
    if len(body) != 3 * m:
        raise InstanceError(f"{name}: header announces {m} edges, file holds {len(body) // 3}")
    edges = body.reshape(m, 3)
    i, j, cost = edges[:, 0], edges[:, 1], edges[:, 2]
    if np.any(i != np.round(i)) or np.any(j != np.round(j)) or np.any((i < 1) | (i > n) | (j < 1) | (j > n)):
        raise InstanceError(f"{name}: edge endpoints must be vertices 1..{n}")
    if not np.all(np.isfinite(cost)) or np.any(cost < 0):
        raise InstanceError(f"{name}: edge costs must be finite and nonnegative")
    i, j = i.astype(np.int64) - 1, j.astype(np.int64) - 1
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a * n + b
    # the last occurrence of an edge wins: the first one in reversed order
    _, last = np.unique(key[::-1], return_index=True)
    last = m - 1 - last
    edge = last[a[last] != b[last]]  # self-loops never shorten a path
    # sparse: an explicit 0 stays an edge of cost 0; each vertex pair appears once, so nothing is summed
    graph = coo_matrix((cost[edge], (a[edge], b[edge])), shape=(n, n)).tocsr()
    dist = shortest_path(graph, method="D", directed=False)
    if not np.all(np.isfinite(dist)):
        raise InstanceError(f"{name}: the graph is disconnected, so some vertex reaches no median")
    if np.all(cost == np.round(cost)):
        dist = np.round(dist).astype(np.int64)
    return PmedInstance(name, dist, p, m, m - len(last), optimum)


def known_optima(folder: str | Path) -> dict[str, float]:
    """``{name: optimum}`` from ``folder/pmedopt.txt`` (empty when the file is missing or unreadable)."""
    path = Path(folder) / "pmedopt.txt"
    out: dict[str, float] = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                continue  # the header line
    return out


def read(path: str | Path) -> PmedInstance:
    path = Path(path)
    text = read_text(path)
    return parse(text, path.stem, known_optima(path.parent).get(path.stem))


def solve(inst: PmedInstance, method: str, time_limit: float | None = None, seed: int = 0) -> dict:
    """Solve with `method`; returns objective, bound, status, the known optimum and its gap, time, medians."""
    start = time.perf_counter()
    if time_limit is None and method in ("milp", "cpsat", "auto"):
        time_limit = DEFAULT_TIME_LIMIT
    res = pmedian.solve(inst.distances, inst.p, method, time_limit, seed)
    wall = time.perf_counter() - start
    integral = inst.distances.dtype == np.int64

    def num(v: float):
        return int(round(v)) if integral and float(v).is_integer() else float(v)

    opt = inst.optimum
    return {"instance": inst.name, "method": method, "objective": num(res.objective), "bound": num(res.bound),
            "status": res.status.value, "gap": round(res.gap, 9), "optimum": None if opt is None else num(opt),
            "gap_to_optimum": None if opt is None or not opt else round((res.objective - opt) / opt, 9),
            "n": inst.n, "p": inst.p, "edges": inst.edges, "duplicate_edges": inst.duplicates,
            "time_limit": time_limit, "seed": seed, "wall_time": round(wall, 6),
            "medians": (res.centers + 1).tolist()}
