"""2BP items and packings: the size checks every method starts with, and the self-check every packing passes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SolverError
from ...result import Status
from ..bins import relabel_in_order

#: the largest bin side: keeps every product the engine forms within int64 (the skyline's waste key is
#: about ``(W H)^2``, 10^16 here; an area total at most `MAX_ITEMS` ``W H``, 10^14); crossbars are 10^2-10^3 OUs
MAX_SIDE = 10_000
#: the most items: each construction is a Python loop over items, and search and bounds keep a few arrays of
#: ``n`` entries; 10^6 items already take seconds per construction
MAX_ITEMS = 1_000_000
#: `check_packing` counts coverage on the bins' grids up to this many cells (80 MB of int32), else tests pairs
GRID_CELLS = 20_000_000
#: `check_packing` forms all same-bin pairs at once up to this many, else in chunks of `PAIR_CHUNK` rows
PAIR_ENTRIES, PAIR_CHUNK = 20_000_000, 2048


@dataclass(frozen=True, eq=False)
class Packing2D:
    """Bin and bottom-left corner of each item, the proven lower bound and the status."""

    bins: np.ndarray
    x: np.ndarray
    y: np.ndarray
    bound: int
    status: Status

    @property
    def n_bins(self) -> int:
        """Bins used (bins are numbered 0..)."""
        return int(self.bins.max()) + 1 if len(self.bins) else 0


def check_items(widths, heights, W: int, H: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Sizes as int64 arrays and the bin as ints; raises `SolverError` (a `ValueError`) in one line on
    sizes no bin holds, a bin side above `MAX_SIDE` or more than `MAX_ITEMS` items."""
    W, H = int(W), int(H)
    if W < 1 or H < 1:
        raise SolverError(f"the bin must have positive sides, got {W} x {H}")
    if max(W, H) > MAX_SIDE:
        raise SolverError(f"the {W} x {H} bin has a side above {MAX_SIDE}, the most the 2D packing engine "
                          "takes (its products must stay within 64-bit integers)")
    try:
        w = np.asarray(widths, dtype=np.int64).ravel()
        h = np.asarray(heights, dtype=np.int64).ravel()
    except OverflowError:
        raise SolverError(f"an item size does not fit the {W} x {H} bin (it is beyond 64-bit integers)") from None
    if len(w) != len(h):
        raise SolverError(f"widths and heights differ in length ({len(w)} and {len(h)})")
    if len(w) > MAX_ITEMS:
        raise SolverError(f"{len(w)} items are more than the {MAX_ITEMS} the 2D packing engine takes")
    bad = np.flatnonzero((w < 1) | (h < 1) | (w > W) | (h > H))
    if len(bad):
        i = int(bad[0])
        raise SolverError(f"item {i} ({int(w[i])} x {int(h[i])}) is empty or does not fit the {W} x {H} bin")
    return w, h, W, H


def check_packing(widths, heights, W: int, H: int, bins, x, y) -> None:
    """Raise `ValueError` naming the first item outside its bin or pair of overlapping items.

    Coverage counts on each bin's grid (corner differences, two cumulative sums) prove a packing
    free of overlaps in time linear in items and cells; only when a cell is covered twice, or the
    grids would be too large, interval tests over every pair of items sharing a bin (in chunks when
    the bins are crowded) find the pair to name.
    """
    w, h, W, H = check_items(widths, heights, W, H)
    bins, x, y = (np.asarray(a, dtype=np.int64).ravel() for a in (bins, x, y))
    if not (len(bins) == len(x) == len(y) == len(w)):
        raise ValueError("bins, x and y must give one value per item")
    out = np.flatnonzero((bins < 0) | (x < 0) | (y < 0) | (x + w > W) | (y + h > H))
    if len(out):
        i = int(out[0])
        raise ValueError(f"item {i} at ({int(x[i])}, {int(y[i])}) in bin {int(bins[i])} is not inside a bin")
    if not len(w) or _covered_once(w, h, W, H, bins, x, y):
        return
    order = np.argsort(bins, kind="stable")
    sb = bins[order]
    starts = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1]])
    sizes = np.diff(np.r_[starts, len(sb)])
    if int((sizes.astype(np.int64) ** 2).sum()) <= PAIR_ENTRIES:
        # every ordered pair of items sharing a bin, built without a loop
        k = np.repeat(sizes, sizes)
        first = np.repeat(starts, sizes)
        a = np.repeat(np.arange(len(sb)), k)
        offset = np.arange(len(a)) - np.repeat(np.cumsum(k) - k, k)
        pa, pb = order[a], order[np.repeat(first, k) + offset]
        pairs = [(pa, pb)]
    else:
        pairs = ((order[s:s + c][i:i + PAIR_CHUNK, None], order[s:s + c][None, :])
                 for s, c in zip(starts, sizes) for i in range(0, c, PAIR_CHUNK))
    for pa, pb in pairs:
        hit = ((x[pa] < x[pb] + w[pb]) & (x[pb] < x[pa] + w[pa]) & (y[pa] < y[pb] + h[pb]) & (y[pb] < y[pa] + h[pa])
               & (pa != pb))
        if hit.any():
            i, j = (np.broadcast_to(pa, hit.shape)[hit][0], np.broadcast_to(pb, hit.shape)[hit][0])
            raise ValueError(f"items {int(min(i, j))} and {int(max(i, j))} overlap in bin {int(bins[i])}")


def _covered_once(w, h, W: int, H: int, bins, x, y, max_cells: int = GRID_CELLS) -> bool:
    """True when no grid cell of any bin is covered by two items; False when one is, or the grids of
    the used bins would exceed `max_cells` (the caller then tests pairs)."""
    used, b = np.unique(bins, return_inverse=True)
    if len(used) * (W + 1) * (H + 1) > max_cells:
        return False
    cover = np.zeros((len(used), H + 1, W + 1), dtype=np.int32)
    for dy, dx, sign in ((0, 0, 1), (0, w, -1), (h, 0, -1), (h, w, 1)):
        np.add.at(cover, (b, y + dy, x + dx), sign)
    np.cumsum(cover, axis=1, out=cover)
    np.cumsum(cover, axis=2, out=cover)
    return int(cover.max()) <= 1


def result_of(w, h, W, H, bins, x, y, bound: int = 0) -> Packing2D:
    """A checked packing with bins numbered 0.. by first item index."""
    bins = relabel_in_order(bins)
    check_packing(w, h, W, H, bins, x, y)
    n_bins = int(bins.max()) + 1 if len(bins) else 0
    return Packing2D(bins, x, y, int(bound), Status.OPTIMAL if n_bins <= bound else Status.FEASIBLE)
