"""MaxRects (Jylanki 2010) over many bins: free rectangles of all bins in one array, each placement a
handful of vector operations."""

from __future__ import annotations

import numpy as np

from ..deadline import CHECK_EVERY, expired
from .orders import order
from .validation import Packing2D, check_items, result_of

RULES = ("bssf", "baf", "bl")
BIN_RULES = ("first", "best")


def maxrects_core(w, h, W, H, seq, rule="bssf", bin_rule="first", n_bins=None, deadline: float | None = None):
    """Place items in `seq` order with MaxRects; open bins as needed, or with `n_bins` use that
    many and leave items that fit nowhere unplaced (bin ``-1``). Free rectangles of all bins sit
    in one array ``[bin, x, y, w, h]`` so each placement is a handful of vector operations.
    Returns ``(bins, x, y)``, or None when `deadline` passes first."""
    n = len(w)
    bins = np.full(n, -1, dtype=np.int64)
    x = np.zeros(n, dtype=np.int64)
    y = np.zeros(n, dtype=np.int64)
    fixed = n_bins is not None
    k = int(n_bins) if fixed else 0
    free = np.array([[b, 0, 0, W, H] for b in range(k)], dtype=np.int64).reshape(-1, 5)
    seq = np.asarray(seq, dtype=np.int64)
    # the narrowest and lowest item still to come: smaller free rectangles are useless
    sw = np.minimum.accumulate(w[seq][::-1])[::-1]
    sh = np.minimum.accumulate(h[seq][::-1])[::-1]
    for t, i in enumerate(seq):
        if t % CHECK_EVERY == 0 and expired(deadline):
            return None
        wi, hi = w[i], h[i]
        fw, fh = free[:, 3], free[:, 4]
        fit = np.flatnonzero((fw >= wi) & (fh >= hi))
        if len(fit):
            f = free[fit]
            if rule == "bssf":
                dx, dy = f[:, 3] - wi, f[:, 4] - hi
                keys = (np.maximum(dx, dy), np.minimum(dx, dy))
            elif rule == "baf":
                dx, dy = f[:, 3] - wi, f[:, 4] - hi
                keys = (np.minimum(dx, dy), f[:, 3] * f[:, 4])
            elif rule == "bl":
                keys = (f[:, 1], f[:, 2] + hi)
            else:
                raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
            if bin_rule == "first":
                keys = keys + (f[:, 0],)
            elif bin_rule != "best":
                raise ValueError(f"bin_rule must be one of {BIN_RULES}, got {bin_rule!r}")
            j = fit[np.lexsort(keys)[0]]
            b, px, py = free[j, 0], free[j, 1], free[j, 2]
        elif fixed:
            continue
        else:
            b, px, py = k, 0, 0
            free = np.vstack([free, [[k, 0, 0, W, H]]])
            k += 1
        bins[i], x[i], y[i] = b, px, py
        free = _split(free, b, px, py, wi, hi, sw[t + 1] if t + 1 < n else W + 1,
                      sh[t + 1] if t + 1 < n else H + 1)
    return bins, x, y


def _split(free, b, px, py, pw, ph, minw, minh):
    """Cut the placed rectangle out of bin `b`'s free rectangles; keep the maximal useful ones."""
    fb, fx, fy, fw, fh = free.T
    inter = (fb == b) & (fx < px + pw) & (fx + fw > px) & (fy < py + ph) & (fy + fh > py)
    r = free[inter]
    rb, rx, ry, rw, rh = r.T
    right, top = np.full_like(rx, px + pw), np.full_like(ry, py + ph)
    pieces = np.concatenate([
        np.column_stack([rb, rx, ry, px - rx, rh])[px > rx],
        np.column_stack([rb, right, ry, rx + rw - right, rh])[rx + rw > right],
        np.column_stack([rb, rx, ry, rw, py - ry])[py > ry],
        np.column_stack([rb, rx, top, rw, ry + rh - top])[ry + rh > top],
    ])
    keep = free[~inter]
    keep = keep[(keep[:, 3] >= minw) & (keep[:, 4] >= minh)]
    pieces = pieces[(pieces[:, 3] >= minw) & (pieces[:, 4] >= minh)]
    if len(pieces):
        same = keep[keep[:, 0] == b]
        cand = np.vstack([same, pieces])
        px_, py_, pw_, ph_ = pieces[:, 1:2], pieces[:, 2:3], pieces[:, 3:4], pieces[:, 4:5]
        cx, cy, cw, ch = cand[None, :, 1], cand[None, :, 2], cand[None, :, 3], cand[None, :, 4]
        inside = (px_ >= cx) & (py_ >= cy) & (px_ + pw_ <= cx + cw) & (py_ + ph_ <= cy + ch)
        # a piece is dropped if inside another; of equal pieces the first is kept
        idx = np.arange(len(pieces))[:, None] + len(same)
        cols = np.arange(len(cand))[None, :]
        equal = (px_ == cx) & (py_ == cy) & (pw_ == cw) & (ph_ == ch)
        drop = (inside & ~equal) | (equal & (cols < idx))
        pieces = pieces[~drop.any(axis=1)]
        keep = np.vstack([keep, pieces])
    return keep


def maxrects(widths, heights, W: int, H: int, order_key: str | np.ndarray = "area", rule: str = "bssf",
             bin_rule: str = "first") -> Packing2D:
    """MaxRects (Jylanki 2010) over as many bins as needed.

    Parameters
    ----------
    order_key : one of `ORDERS`, or an explicit permutation of the items.
    rule : ``bssf`` (best short side fit), ``baf`` (best area fit) or ``bl`` (bottom-left).
    bin_rule : ``first`` (the first bin with a fitting free rectangle, the rule inside it) or
        ``best`` (the rule over all bins).
    """
    w, h, W, H = check_items(widths, heights, W, H)
    seq = order(w, h, order_key, W, H) if isinstance(order_key, str) else np.asarray(order_key)
    bins, x, y = maxrects_core(w, h, W, H, seq, rule, bin_rule)
    return result_of(w, h, W, H, bins, x, y)

