"""Item orders for the 2BP constructions: decreasing by a key, deterministic or (in the search) noisy."""

from __future__ import annotations

import numpy as np

ORDERS = ("area", "height", "width", "perimeter", "maxside")
#: the search's random orders multiply each key by a factor drawn from ``1 -+ NOISE``, and put the unpacked
#: items first with probability `UNPACKED_FIRST`
NOISE, UNPACKED_FIRST = 0.15, 0.5


def _keys(w: np.ndarray, h: np.ndarray, W: int, H: int) -> dict[str, np.ndarray]:
    """Each order's key (max side relative to the bin)."""
    return {"area": w * h, "height": h, "width": w, "perimeter": w + h, "maxside": np.maximum(w * H, h * W)}


def order(widths, heights, key: str = "area", W: int | None = None, H: int | None = None) -> np.ndarray:
    """Items in decreasing `key` (area, height, width, perimeter, maxside relative to the bin), ties
    broken by the other side, then index."""
    w, h = np.asarray(widths, dtype=np.int64), np.asarray(heights, dtype=np.int64)
    W = W or max(1, int(w.max(initial=1)))
    H = H or max(1, int(h.max(initial=1)))
    primary = _keys(w, h, W, H).get(key)
    if primary is None:
        raise ValueError(f"order must be one of {ORDERS}, got {key!r}")
    second = w if key == "height" else h
    return np.lexsort((np.arange(len(w)), -second, -primary))


def random_order(w, h, W, H, rng, first):
    """A decreasing order by a random key with noise; unpacked items (`first`) first half of the time."""
    key = ORDERS[rng.integers(len(ORDERS))]
    noisy = _keys(w, h, W, H)[key].astype(float) * rng.uniform(1 - NOISE, 1 + NOISE, len(w))
    if rng.random() < UNPACKED_FIRST:
        return np.lexsort((-noisy, ~first))
    return np.argsort(-noisy, kind="stable")
