"""Shelf packings (Berkey & Wang 1987): items by decreasing height in shelves, shelves in bins; and
next-fit shelves, linear in the items, the construction that always finishes in time."""

from __future__ import annotations

import numpy as np

from ..deadline import CHECK_EVERY, expired
from .orders import order
from .validation import Packing2D, check_items, result_of


def shelf_ffd(widths, heights, W: int, H: int, strip_first: bool = True) -> Packing2D:
    """Shelf packing, items by decreasing height. With `strip_first` (Berkey-Wang's finite best
    strip): first-fit decreasing height into shelves of a strip, then shelves first-fit decreasing
    into bins; otherwise (finite first fit) a new shelf opens in the first bin with room."""
    w, h, W, H = check_items(widths, heights, W, H)
    return result_of(w, h, W, H, *shelf_core(w, h, W, H, strip_first))


def shelf_core(w, h, W, H, strip_first: bool = True, deadline: float | None = None):
    """`shelf_ffd`'s ``(bins, x, y)``, or None when `deadline` passes first."""
    seq = order(w, h, "height", W, H)
    n = len(w)
    shelf = np.full(n, -1, dtype=np.int64)
    x = np.zeros(n, dtype=np.int64)
    shelves = _FirstFit(W, n)  # room left on each shelf (width)
    sh = np.zeros(n, dtype=np.int64)  # shelf heights
    sb = np.zeros(n, dtype=np.int64)  # bin per shelf
    sy = np.zeros(n, dtype=np.int64)  # bottom of each shelf in its bin
    bins = _FirstFit(H, n)  # room left in each bin (height)
    for t, i in enumerate(seq.tolist()):
        if t % CHECK_EVERY == 0 and expired(deadline):
            return None
        s = shelves.first(int(w[i]))
        if s < 0:
            s = shelves.open()
            sh[s] = h[i]
            if not strip_first:  # finite first fit: the shelf goes to a bin at once
                sb[s], sy[s] = _stack(bins, int(h[i]), H)
        shelf[i], x[i] = s, W - shelves.room[s]
        shelves.take(s, int(w[i]))
    if strip_first:  # shelves are already in decreasing height
        for s in range(shelves.count):
            if s % CHECK_EVERY == 0 and expired(deadline):
                return None
            sb[s], sy[s] = _stack(bins, int(sh[s]), H)
    return sb[shelf], x, sy[shelf]


def _stack(bins: _FirstFit, height: int, H: int) -> tuple[int, int]:
    """Put a shelf of `height` in the first bin with room (a new one if none): its bin and bottom."""
    b = bins.first(height)
    if b < 0:
        b = bins.open()
    bottom = H - int(bins.room[b])
    bins.take(b, height)
    return b, bottom


class _FirstFit:
    """Rooms of up to `size` containers of capacity `cap`, opened in order, with a first-fit query in
    ``O(size / B + B)`` vectorized steps: the maximum room of each block of `B` containers narrows the search."""

    B = 256

    def __init__(self, cap: int, size: int):
        self.cap, self.count = cap, 0
        self.room = np.zeros(size, dtype=np.int64)
        self.block = np.zeros(-(-size // self.B), dtype=np.int64)

    def first(self, need: int) -> int:
        """The first open container with at least `need` room, or -1."""
        blocks = np.flatnonzero(self.block >= need)
        if not len(blocks):
            return -1
        lo = int(blocks[0]) * self.B
        return lo + int(np.argmax(self.room[lo:lo + self.B] >= need))

    def open(self) -> int:
        """Open the next container (full capacity); its index."""
        c = self.count
        self.count += 1
        self.room[c] = self.cap
        self.block[c // self.B] = max(self.block[c // self.B], self.cap)
        return c

    def take(self, c: int, amount: int) -> None:
        """Use `amount` of container `c`'s room."""
        self.room[c] -= amount
        lo = c - c % self.B
        self.block[c // self.B] = self.room[lo:lo + self.B].max()


def next_fit_shelves(w, h, W, H):
    """Next-fit decreasing height (Coffman, Garey, Johnson, Tarjan 1980) with shelves next-fit into bins:
    ``(bins, x, y)`` in one pass over the items, so it finishes in time whatever the instance."""
    n = len(w)
    bins = np.empty(n, dtype=np.int64)
    x = np.empty(n, dtype=np.int64)
    y = np.empty(n, dtype=np.int64)
    b, sx, sy, top = 0, 0, 0, 0  # current bin, next x on the shelf, shelf bottom, shelf top
    for i in order(w, h, "height", W, H).tolist():
        wi, hi = int(w[i]), int(h[i])
        if sx + wi > W:  # a new shelf on top, or in a new bin
            sx, sy = 0, top
        if sy + hi > H:
            b, sx, sy = b + 1, 0, 0
        if sx == 0:
            top = sy + hi  # the first item of a shelf is its tallest
        bins[i], x[i], y[i] = b, sx, sy
        sx += wi
    return bins, x, y
