"""The `kmedoids` package's FasterPAM (Schubert and Rousseeuw 2021, compiled Rust) as an optional fast path.

`kmedoids` (GPL-3.0-or-later, optional extra ``mapopt[kmedoids]``) is used only where it is
installed and its contract fits (`fits`): a p-median (no opening costs) on a square matrix whose
client ``i`` is candidate ``i`` (``D[i, i] = 0``) and whose costs are nonnegative; the package
forces a medoid's own client to it at cost 0, which is exact only then. Its swap rule is the one
of `swap.swap_search` (eager first-improving swap, nearest and second-nearest distances), so a
result is a swap local optimum as ours is; what it returns is re-evaluated on ``D`` by the caller.
Measured against the own numpy search (`experiments/results/pmed/classic.md`) it is 5-40x faster
at the same quality; without the package the own search runs.
"""

from __future__ import annotations

import numpy as np

try:  # optional peer
    import kmedoids as _kmedoids
except ImportError:  # pragma: no cover - depends on the environment
    _kmedoids = None
try:  # its compiled entry points (a submodule the package imports only inside its functions)
    from kmedoids import kmedoids as _cores
except ImportError:  # pragma: no cover - depends on the environment
    _cores = None

#: ``init`` names mapped to the package's: its BUILD is the greedy add of `greedy.greedy_centers`
INITS = {"greedy": "build", "random": "random"}


def available() -> bool:
    """Whether the `kmedoids` package is importable."""
    return _kmedoids is not None


def clustering(D: np.ndarray) -> bool:
    """Whether client ``i`` is candidate ``i``: square, zero diagonal, nonnegative costs."""
    return D.shape[0] == D.shape[1] and not np.any(np.diagonal(D)) and D.min() >= 0


def fits(D: np.ndarray, p: int | None, f: np.ndarray | None) -> bool:
    """Whether the package is installed and `D` meets its contract: a `clustering` p-median, ``2 <= p < n``."""
    return _kmedoids is not None and f is None and p is not None and 2 <= p < len(D) and clustering(D)


def swaps(D: np.ndarray, p: int, init, seed: int, max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FasterPAM by the package from `init` (``"greedy"``, ``"random"`` or ``p`` candidate indices): the
    medoids, each client's position in them, and the matrix the search read (`D`, or an int32 copy where
    every sum stays exact in 32 bits). The caller has checked `fits`.

    A random start is drawn by ``numpy.random.default_rng(seed)`` and handed to the package's compiled
    seeded search directly (its Python wrapper builds a ``RandomState``, 0.08 ms per call, more than the
    whole search on a 100 x 100 matrix); the public function stands in where that entry point is missing."""
    if isinstance(init, str) and init == "random":
        start = np.random.default_rng(seed).choice(len(D), size=p, replace=False).astype(np.uintp)
    elif isinstance(init, str):
        start = None
    else:
        start = np.asarray(init).astype(np.uintp)
    if D.dtype == np.int64 and 4 * len(D) * max(int(D.max()), 1) < 2 ** 31:
        D = D.astype(np.int32)  # half the memory traffic: 512 x 512 in 1.5 ms instead of 2.9 ms; sums stay exact
    if start is None:
        start = _kmedoids.pam_build(D, p).medoids.astype(np.uintp)
    core = getattr(_cores, f"_rand_fasterpam_{CORES.get(D.dtype.str, '')}", None)
    if core is not None:
        _, labels, medoids, *_ = core(D, start, max_iter, int(seed))
    else:  # pragma: no cover - other package versions (seeded through the public function)
        res = _kmedoids.fasterpam(D, start, max_iter=max_iter, random_state=int(seed), n_cpu=1)
        medoids, labels = res.medoids, res.labels
    return np.asarray(medoids, dtype=np.int64), np.asarray(labels, dtype=np.int64), D


#: the package's compiled entry points by matrix dtype
CORES = {np.dtype(np.int32).str: "i32", np.dtype(np.int64).str: "i64", np.dtype(np.float64).str: "f64"}
