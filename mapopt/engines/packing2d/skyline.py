"""Skyline packing over many bins: each bin keeps its upper contour as segments."""

from __future__ import annotations

import numpy as np

from ..deadline import CHECK_EVERY, expired
from .orders import order
from .validation import Packing2D, check_items, result_of


def skyline(widths, heights, W: int, H: int, order_key: str | np.ndarray = "height", rule: str = "bl",
            bin_rule: str = "first") -> Packing2D:
    """Skyline bottom-left: each bin keeps its upper contour as segments; an item goes at a
    segment's left end (or right-aligned to its right end) where its top is lowest (``bl``), or
    where it wastes least area under it (``waste``)."""
    w, h, W, H = check_items(widths, heights, W, H)
    seq = order(w, h, order_key, W, H) if isinstance(order_key, str) else np.asarray(order_key)
    if rule not in ("bl", "waste"):
        raise ValueError(f"rule must be 'bl' or 'waste', got {rule!r}")
    return result_of(w, h, W, H, *skyline_core(w, h, W, H, seq, rule, bin_rule))


def skyline_core(w, h, W, H, seq, rule="bl", bin_rule="first", deadline: float | None = None):
    """Place items in `seq` order on skylines (`skyline`); ``(bins, x, y)``, or None when `deadline` passes first.
    Only bins whose lowest segment leaves room for the item are tried (no other can hold it)."""
    n = len(w)
    bins = np.full(n, -1, dtype=np.int64)
    x = np.zeros(n, dtype=np.int64)
    y = np.zeros(n, dtype=np.int64)
    lines: list[tuple[np.ndarray, np.ndarray]] = []  # per bin: segment starts, heights (ends implied)
    low = np.zeros(n, dtype=np.int64)  # per bin: its lowest segment
    for t, i in enumerate(seq):
        if t % CHECK_EVERY == 0 and expired(deadline):
            return None
        best = None
        for b in np.flatnonzero(low[:len(lines)] + h[i] <= H):
            xs, ys = lines[b]
            cand = _skyline_fit(xs, ys, W, H, w[i], h[i], rule)
            if cand is not None and (best is None or cand[0] < best[0]):
                best = (cand[0], int(b), cand[1], cand[2])
                if bin_rule == "first":
                    break
        if best is None:
            lines.append((np.array([0], dtype=np.int64), np.array([0], dtype=np.int64)))
            best = (None, len(lines) - 1, 0, 0)
        _, b, px, py = best
        bins[i], x[i], y[i] = b, px, py
        lines[b] = _skyline_add(*lines[b], W, px, py + h[i], w[i])
        low[b] = lines[b][1].min()
    return bins, x, y


def _skyline_fit(xs, ys, W, H, wi, hi, rule):
    """The best place for a `wi` x `hi` item on the skyline ``(xs, ys)`` by `rule`: ``(key, x, y)``, or None."""
    ends = np.r_[xs[1:], W]
    starts = np.unique(np.r_[xs, ends - wi])
    starts = starts[(starts >= 0) & (starts + wi <= W)]
    if not len(starts):
        return None
    cover = (xs[None, :] < starts[:, None] + wi) & (ends[None, :] > starts[:, None])
    top = np.where(cover, ys[None, :], -1).max(axis=1)
    ok = top + hi <= H
    if not ok.any():
        return None
    if rule == "bl":
        key = (top + hi) * (W + 1) + starts
    else:
        under = np.minimum(ends[None, :], starts[:, None] + wi) - np.maximum(xs[None, :], starts[:, None])
        waste = (np.where(cover, (top[:, None] - ys[None, :]) * under, 0)).sum(axis=1)
        key = (waste * (H + 1) + top) * (W + 1) + starts
    key = np.where(ok, key, np.iinfo(np.int64).max)
    j = int(np.argmin(key))
    return int(key[j]), int(starts[j]), int(top[j])


def _skyline_add(xs, ys, W, px, top, wi):
    """The skyline after an item of width `wi` at `px` raises it to `top` (equal neighbours merged)."""
    ends = np.r_[xs[1:], W]
    left = xs < px
    right = ends > px + wi
    nx = np.concatenate([xs[left], [px], np.maximum(xs[right], px + wi)])
    ny = np.concatenate([ys[left], [top], ys[right]])
    nx, first = np.unique(nx, return_index=True)
    ny = ny[first]
    merge = np.r_[True, ny[1:] != ny[:-1]]
    return nx[merge], ny[merge]

