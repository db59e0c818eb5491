"""Two-dimensional orthogonal bin packing without rotation (2BP|O|F): the core of pattern-block
placement and of `mapopt classic 2bp`.

Call :func:`heuristic` (fast, strong) or :func:`cpsat` (exact, with a proven bound) if you don't
care about the algorithm. Items are rectangles ``widths[i] x heights[i]`` of positive integers,
bins are ``W x H``; a packing gives each item a bin and the bottom-left corner ``(x, y)`` of its
place, with ``0 <= x <= W - w`` and ``0 <= y <= H - h``, and no two items of a bin overlap.
Items keep their orientation. In crossbar terms an item is a block in OU units (columns x rows)
and a bin a crossbar.

- Bounds (:func:`lower_bound`): the area bound, every pair of dual feasible functions applied
  to the two dimensions (Fekete & Schepers 2004; this family contains Martello & Vigo's
  large-item bounds ``L1``), and Martello & Vigo's ``L2`` argument generalised to any set of
  pairwise incompatible items.
- Constructive heuristics, multi-bin: :func:`maxrects` (Jylanki 2010), :func:`skyline`,
  :func:`shelf_ffd` (Berkey & Wang 1987's finite first fit and finite best strip).
- :func:`heuristic`: the best constructive packing over orders and rules, then a goal-driven
  large neighbourhood search that deletes the weakest bin and re-packs its items together
  with a few other bins (Wei et al. 2013's goal-driven idea, with MaxRects repacking).
- :func:`cpsat`: CP-SAT with ``add_no_overlap_2d``, one per bin (or over bins laid side by side).
- :func:`parallel_restarts`: :func:`heuristic` from several seeds with joblib.
- :func:`check_packing`: the self-check every returned packing passes.

References
----------
J.O. Berkey, P.Y. Wang, "Two-dimensional finite bin-packing algorithms", JORS 38(5) 1987.
S. Martello, D. Vigo, "Exact solution of the two-dimensional finite bin packing problem",
Management Science 44(3) 1998.
S.P. Fekete, J. Schepers, "A general framework for bounds for higher-dimensional orthogonal
packing problems", Math. Methods of OR 60 2004.
J. Carlier, F. Clautiaux, A. Moukrim, "New reduction procedures and lower bounds for the
two-dimensional bin packing problem with fixed orientation", Computers & OR 34 2007.
J. Jylanki, "A thousand ways to pack the bin", 2010.
L. Wei, W.-C. Oon, W. Zhu, A. Lim, "A goal-driven approach to the 2D bin packing and variable-
sized bin packing problems", EJOR 224(1) 2013.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..result import Status
from .bins import relabel_in_order

ORDERS = ("area", "height", "width", "perimeter", "maxside")
RULES = ("bssf", "baf", "bl")
BIN_RULES = ("first", "best")
FORMULATIONS = ("stacked", "optional")


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
        return int(self.bins.max()) + 1 if len(self.bins) else 0


# ----------------------------------------------------------------------------- validation

def check_items(widths, heights, W: int, H: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Sizes as int64 arrays and the bin as ints; raises `ValueError` on sizes no bin holds."""
    w = np.asarray(widths, dtype=np.int64).ravel()
    h = np.asarray(heights, dtype=np.int64).ravel()
    W, H = int(W), int(H)
    if len(w) != len(h):
        raise ValueError(f"widths and heights differ in length ({len(w)} and {len(h)})")
    if W < 1 or H < 1:
        raise ValueError(f"the bin must have positive sides, got {W} x {H}")
    bad = np.flatnonzero((w < 1) | (h < 1) | (w > W) | (h > H))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"item {i} ({int(w[i])} x {int(h[i])}) is empty or does not fit the {W} x {H} bin")
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
    if int((sizes.astype(np.int64) ** 2).sum()) <= 20_000_000:
        # every ordered pair of items sharing a bin, built without a loop
        k = np.repeat(sizes, sizes)
        first = np.repeat(starts, sizes)
        a = np.repeat(np.arange(len(sb)), k)
        offset = np.arange(len(a)) - np.repeat(np.cumsum(k) - k, k)
        pa, pb = order[a], order[np.repeat(first, k) + offset]
        pairs = [(pa, pb)]
    else:
        pairs = ((order[s:s + c][i:i + 2048, None], order[s:s + c][None, :])
                 for s, c in zip(starts, sizes) for i in range(0, c, 2048))
    for pa, pb in pairs:
        hit = ((x[pa] < x[pb] + w[pb]) & (x[pb] < x[pa] + w[pa]) & (y[pa] < y[pb] + h[pb]) & (y[pb] < y[pa] + h[pa])
               & (pa != pb))
        if hit.any():
            i, j = (np.broadcast_to(pa, hit.shape)[hit][0], np.broadcast_to(pb, hit.shape)[hit][0])
            raise ValueError(f"items {int(min(i, j))} and {int(max(i, j))} overlap in bin {int(bins[i])}")


def _covered_once(w, h, W: int, H: int, bins, x, y, max_cells: int = 20_000_000) -> bool:
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


# ----------------------------------------------------------------------------- lower bounds

def lower_bound(widths, heights, W: int, H: int) -> int:
    """The largest of the bounds below; each is valid for every packing.

    - area: ``ceil(sum w h / (W H))``.
    - dual feasible functions: for DFFs ``f`` of the widths and ``g`` of the heights,
      ``ceil(sum f(w) g(h) / (f(W) g(H)))``. Items in one bin with pairwise disjoint x-ranges
      sum to at most ``W`` in width, so ``f`` keeps every such sum within ``f(W)``; the packing
      class theorem of Fekete & Schepers then packs the transformed items in an
      ``f(W) x g(H)`` bin, whose area bounds them. Families: identity, ``U^e`` (Martello-Toth),
      ``u^k`` (Fekete-Schepers), ``f_CCM1`` (Carlier-Clautiaux-Moukrim) and the half-size step
      ``2 [x > C/2] + [x = C/2]``; pairing the step with another DFF gives Martello-Vigo's
      ``L1`` on the items wider (taller) than half the bin.
    - clique: items pairwise too wide and too tall to share a bin need a bin each.
    - incompatible items (Martello-Vigo's ``L2``, generalised): for a clique ``K`` and
      thresholds ``(q, p)``, the items ``T`` outside ``K`` at least ``q`` wide and ``p`` tall fit
      in a bin of ``k`` in ``K`` within at most ``W H - w_k h_k`` (``W (H - h_k)`` when
      ``W - w_k < q``, ``H (W - w_k)`` when ``H - h_k < p``, nothing when both), so
      ``|K| + ceil((area(T) - sum of those) / (W H))`` bins are needed.
    """
    w, h, W, H = check_items(widths, heights, W, H)
    if not len(w):
        return 0
    types, count = np.unique(np.column_stack([w, h]), axis=0, return_counts=True)
    tw, th = types[:, 0], types[:, 1]
    bound = math.ceil(int((w * h).sum()) / (W * H))
    bound = max(bound, _dff_bound(tw, th, count, W, H))
    clique = _clique(w, h, W, H)
    bound = max(bound, len(clique))
    big = np.flatnonzero((2 * w > W) & (2 * h > H))
    for k in (big, clique):
        bound = max(bound, _incompatible_bound(w, h, W, H, k))
    return int(bound)


def _dffs(s: np.ndarray, C: int) -> tuple[np.ndarray, np.ndarray]:
    """Values of the dual feasible functions on sizes `s` (rows: functions) and on `C`."""
    funcs = [s.copy()]
    caps = [C]
    half = np.flatnonzero(2 * s >= C)
    if len(half):
        funcs.append(np.where(2 * s > C, 2, np.where(2 * s == C, 1, 0)))
        caps.append(2)
    cand = np.unique(np.concatenate([s, C - s + 1]))
    cand = cand[(cand >= 1) & (2 * cand <= C)]
    for e in cand:  # U^e: large items fill the bin, small ones vanish
        funcs.append(np.where(s > C - e, C, np.where(s >= e, s, 0)))
        caps.append(C)
    for k in range(1, min(C, 20) + 1):  # u^(k), scaled by k C
        f = np.where(((k + 1) * s) % C == 0, k * s, ((k + 1) * s // C) * C)
        funcs.append(f)
        caps.append(k * C)
    ks = np.unique(np.concatenate([np.arange(1, min(C // 2, 60) + 1), s[2 * s <= C]]))
    for k in ks[ks >= 1]:  # f_CCM1
        f = np.where(2 * s > C, 2 * (C // k - (C - s) // k), np.where(2 * s == C, C // k, 2 * (s // k)))
        funcs.append(f)
        caps.append(2 * (C // k))
    f, c = np.array(funcs, dtype=np.int64), np.array(caps, dtype=np.int64)
    keep = c > 0
    f, c = f[keep], c[keep]
    _, first = np.unique(np.column_stack([f, c]), axis=0, return_index=True)
    return f[np.sort(first)], c[np.sort(first)]


def _dff_bound(tw: np.ndarray, th: np.ndarray, count: np.ndarray, W: int, H: int) -> int:
    fw, cw = _dffs(tw, W)
    fh, ch = _dffs(th, H)
    # exact integer products; functions whose totals could overflow int64 are dropped
    limit = 2 ** 62 // max(1, int(count.sum()))
    fw, cw = fw[cw.astype(float) * float(ch.max()) < limit], cw[cw.astype(float) * float(ch.max()) < limit]
    if not len(fw):
        return 0
    total = fw @ (fh * count[None, :]).T
    cap = cw[:, None] * ch[None, :]
    return int(((total + cap - 1) // cap).max())


def _compatible(w: np.ndarray, h: np.ndarray, W: int, H: int) -> np.ndarray:
    """Pairs that can share a bin (side by side or one above the other)."""
    return (w[:, None] + w[None, :] <= W) | (h[:, None] + h[None, :] <= H)


def _clique(w: np.ndarray, h: np.ndarray, W: int, H: int, limit: int = 3000) -> np.ndarray:
    """A greedy set of pairwise incompatible items, largest area first."""
    if len(w) > limit:
        return np.flatnonzero((2 * w > W) & (2 * h > H))
    ok = _compatible(w, h, W, H)
    clique: list[int] = []
    free = np.ones(len(w), dtype=bool)
    for i in np.lexsort((-np.maximum(w / W, h / H), -(w * h))):
        if free[i]:
            clique.append(int(i))
            free &= ~ok[i]
            free[i] = False
    return np.array(clique, dtype=np.int64)


def _incompatible_bound(w: np.ndarray, h: np.ndarray, W: int, H: int, k: np.ndarray) -> int:
    if not len(k):
        return 0
    rest = np.ones(len(w), dtype=bool)
    rest[k] = False
    rw, rh = w[rest], h[rest]
    if not len(rw):
        return len(k)
    qs, ps = np.unique(np.r_[1, rw]), np.unique(np.r_[1, rh])
    if len(qs) * len(ps) * len(rw) > 4_000_000:  # keep it cheap on huge instances
        qs, ps = qs[np.linspace(0, len(qs) - 1, 60).astype(int)], ps[np.linspace(0, len(ps) - 1, 60).astype(int)]
    area = rw * rh
    in_t = (rw[None, None, :] >= qs[:, None, None]) & (rh[None, None, :] >= ps[None, :, None])
    t_area = (in_t * area).sum(axis=2)
    kw, kh = w[k], h[k]
    side = (W - kw)[None, None, :] >= qs[:, None, None]
    above = (H - kh)[None, None, :] >= ps[None, :, None]
    cap = np.where(side & above, W * H - kw * kh, np.where(side, H * (W - kw), np.where(above, W * (H - kh), 0)))
    extra = np.maximum(0, t_area - cap.sum(axis=2))
    return int(len(k) + ((extra + W * H - 1) // (W * H)).max())


# ----------------------------------------------------------------------------- orders

def order(widths, heights, key: str = "area", W: int | None = None, H: int | None = None) -> np.ndarray:
    """Items in decreasing `key` (area, height, width, perimeter, maxside relative to the bin), ties
    broken by the other side, then index."""
    w, h = np.asarray(widths, dtype=np.int64), np.asarray(heights, dtype=np.int64)
    W = W or max(1, int(w.max(initial=1)))
    H = H or max(1, int(h.max(initial=1)))
    primary = {"area": w * h, "height": h, "width": w, "perimeter": w + h,
               "maxside": np.maximum(w * H, h * W)}.get(key)
    if primary is None:
        raise ValueError(f"order must be one of {ORDERS}, got {key!r}")
    second = w if key == "height" else h
    return np.lexsort((np.arange(len(w)), -second, -primary))


# ----------------------------------------------------------------------------- MaxRects

def _maxrects_core(w, h, W, H, seq, rule="bssf", bin_rule="first", n_bins=None):
    """Place items in `seq` order with MaxRects; open bins as needed, or with `n_bins` use that
    many and leave items that fit nowhere unplaced (bin ``-1``). Free rectangles of all bins sit
    in one array ``[bin, x, y, w, h]`` so each placement is a handful of vector operations."""
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
    bins, x, y = _maxrects_core(w, h, W, H, seq, rule, bin_rule)
    return _result(w, h, W, H, bins, x, y)


# ----------------------------------------------------------------------------- skyline

def skyline(widths, heights, W: int, H: int, order_key: str | np.ndarray = "height", rule: str = "bl",
            bin_rule: str = "first") -> Packing2D:
    """Skyline bottom-left: each bin keeps its upper contour as segments; an item goes at a
    segment's left end (or right-aligned to its right end) where its top is lowest (``bl``), or
    where it wastes least area under it (``waste``)."""
    w, h, W, H = check_items(widths, heights, W, H)
    seq = order(w, h, order_key, W, H) if isinstance(order_key, str) else np.asarray(order_key)
    if rule not in ("bl", "waste"):
        raise ValueError(f"rule must be 'bl' or 'waste', got {rule!r}")
    n = len(w)
    bins = np.full(n, -1, dtype=np.int64)
    x = np.zeros(n, dtype=np.int64)
    y = np.zeros(n, dtype=np.int64)
    lines: list[tuple[np.ndarray, np.ndarray]] = []  # per bin: segment starts, heights (ends implied)
    for i in seq:
        best = None
        for b, (xs, ys) in enumerate(lines):
            cand = _skyline_fit(xs, ys, W, H, w[i], h[i], rule)
            if cand is not None and (best is None or cand[0] < best[0]):
                best = (cand[0], b, cand[1], cand[2])
                if bin_rule == "first":
                    break
        if best is None:
            lines.append((np.array([0], dtype=np.int64), np.array([0], dtype=np.int64)))
            best = (None, len(lines) - 1, 0, 0)
        _, b, px, py = best
        bins[i], x[i], y[i] = b, px, py
        lines[b] = _skyline_add(*lines[b], W, px, py + h[i], w[i])
    return _result(w, h, W, H, bins, x, y)


def _skyline_fit(xs, ys, W, H, wi, hi, rule):
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
    ends = np.r_[xs[1:], W]
    left = xs < px
    right = ends > px + wi
    nx = np.concatenate([xs[left], [px], np.maximum(xs[right], px + wi)])
    ny = np.concatenate([ys[left], [top], ys[right]])
    nx, first = np.unique(nx, return_index=True)
    ny = ny[first]
    merge = np.r_[True, ny[1:] != ny[:-1]]
    return nx[merge], ny[merge]


# ----------------------------------------------------------------------------- shelves

def shelf_ffd(widths, heights, W: int, H: int, strip_first: bool = True) -> Packing2D:
    """Shelf packing, items by decreasing height. With `strip_first` (Berkey-Wang's finite best
    strip): first-fit decreasing height into shelves of a strip, then shelves first-fit decreasing
    into bins; otherwise (finite first fit) a new shelf opens in the first bin with room."""
    w, h, W, H = check_items(widths, heights, W, H)
    seq = order(w, h, "height", W, H)
    n = len(w)
    shelf = np.full(n, -1, dtype=np.int64)
    x = np.zeros(n, dtype=np.int64)
    used = np.zeros(0, dtype=np.int64)  # width used per shelf
    sh = np.zeros(0, dtype=np.int64)  # shelf heights
    sb = np.zeros(0, dtype=np.int64)  # bin per shelf (finite first fit)
    sy = np.zeros(0, dtype=np.int64)
    load = np.zeros(0, dtype=np.int64)  # height used per bin
    for i in seq:
        fits = np.flatnonzero(used + w[i] <= W)
        if len(fits):
            s = fits[0]
        else:
            s = len(used)
            used, sh = np.append(used, 0), np.append(sh, h[i])
            if not strip_first:
                room = np.flatnonzero(load + h[i] <= H)
                b = room[0] if len(room) else len(load)
                if b == len(load):
                    load = np.append(load, 0)
                sb, sy = np.append(sb, b), np.append(sy, load[b])
                load[b] += h[i]
        shelf[i], x[i] = s, used[s]
        used[s] += w[i]
    if strip_first:
        sb, sy = np.zeros(len(sh), dtype=np.int64), np.zeros(len(sh), dtype=np.int64)
        for s in range(len(sh)):  # shelves are already in decreasing height
            room = np.flatnonzero(load + sh[s] <= H)
            b = room[0] if len(room) else len(load)
            if b == len(load):
                load = np.append(load, 0)
            sb[s], sy[s] = b, load[b]
            load[b] += sh[s]
    return _result(w, h, W, H, sb[shelf], x, sy[shelf])


# ----------------------------------------------------------------------------- heuristic + search

def heuristic(widths, heights, W: int, H: int, seed: int = 0, time_limit: float | None = None,
              effort: int | None = None, search: bool = True, exact: bool = True) -> Packing2D:
    """The best constructive packing over orders (area, height, width, perimeter, max side),
    MaxRects rules and bin rules, skyline and shelves, on the instance and its transpose; then
    :func:`improve`, which tries to empty the weakest bin. Stops as soon as the lower bound is
    reached.

    `effort` bounds the search in item placements (default `EFFORT`), so the result depends on
    `seed` only; `time_limit` (seconds, whole call) may cut it shorter. `exact` lets the search
    repack small neighbourhoods with CP-SAT when MaxRects stalls.
    """
    start = time.perf_counter()
    w, h, W, H = check_items(widths, heights, W, H)
    lb = lower_bound(w, h, W, H)
    best = None
    for cand in _portfolio(w, h, W, H):
        if best is None or _quality(cand, w, h) < _quality(best, w, h):
            best = cand
        if best.n_bins <= lb or (time_limit is not None and time.perf_counter() - start > time_limit / 3):
            break
    best = _result(w, h, W, H, best.bins, best.x, best.y, lb)
    if not search or best.n_bins <= lb:
        return best
    left = None if time_limit is None else time_limit - (time.perf_counter() - start)
    return improve(w, h, W, H, best, seed=seed, time_limit=left, effort=effort, exact=exact)


def _portfolio(w, h, W, H):
    """Constructive packings; fewer variants on large instances."""
    large = len(w) > 400
    for transpose in (False,) if large else (False, True):
        for key in ORDERS:
            for rule in RULES:
                for bin_rule in BIN_RULES[:1] if large else BIN_RULES:
                    if transpose:
                        p = _maxrects_core(h, w, H, W, order(h, w, key, H, W), rule, bin_rule)
                        yield Packing2D(p[0], p[2], p[1], 0, Status.FEASIBLE)
                    else:
                        p = _maxrects_core(w, h, W, H, order(w, h, key, W, H), rule, bin_rule)
                        yield Packing2D(*p, 0, Status.FEASIBLE)
    for rule in ("bl", "waste"):
        yield skyline(w, h, W, H, "height", rule)
    yield shelf_ffd(w, h, W, H, True)
    yield shelf_ffd(w, h, W, H, False)


def _quality(p: Packing2D, w, h):
    """Fewer bins, then a smaller weakest bin (easier to empty)."""
    bins = relabel_in_order(p.bins)
    area = np.bincount(bins, weights=w * h)
    return (len(area), float(area.min()) if len(area) else 0.0)


#: default search effort of :func:`improve`, in item placements (about 4 s for 100 items)
EFFORT = 60_000
#: a CP-SAT repack is charged this many placements per pool item
EXACT_COST = 40
#: MaxRects attempts without progress before CP-SAT repacks join in
STALL = 500
#: the largest pool CP-SAT repacks
EXACT_POOL = 40


def improve(widths, heights, W: int, H: int, packing: Packing2D, seed: int = 0, time_limit: float | None = None,
            effort: int | None = None, exact: bool = True) -> Packing2D:
    """Goal-driven large neighbourhood search that empties the weakest bin.

    To reach ``m - 1`` bins, the least-filled bin is deleted and its items are *unpacked*. Each
    step picks a few bins (favouring those with free room), repacks their items together with
    the unpacked ones into those bins, and accepts when the unpacked area does not grow (ties
    half the time, to drift on plateaus). The repacking is MaxRects with a random order and rule;
    after `STALL` steps without progress, half the steps instead solve the repacking exactly with
    CP-SAT (maximum packed area over two or three bins, deterministic time limit). When nothing is
    left unpacked the packing is recorded and the next bin goes.

    Reference: Wei, Oon, Zhu, Lim, EJOR 224(1) 2013 (goal-driven search for 2BP).
    """
    w, h, W, H = check_items(widths, heights, W, H)
    rng = np.random.default_rng(seed)
    lb = max(int(packing.bound), lower_bound(w, h, W, H))
    budget = EFFORT if effort is None else int(effort)
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    best = _result(w, h, W, H, packing.bins, packing.x, packing.y, lb)
    area = w * h
    spent = 0
    while best.n_bins > lb and spent < budget:
        m = best.n_bins - 1
        bins, x, y = best.bins.copy(), best.x.copy(), best.y.copy()
        load = np.bincount(bins, weights=area, minlength=m + 1)
        gone = int(np.argmin(load))
        bins = np.where(bins == gone, -1, np.where(bins > gone, bins - 1, bins))
        lost = float(area[bins < 0].sum())
        stall = 0
        while lost > 0 and spent < budget:
            if deadline is not None and time.perf_counter() > deadline:
                spent = budget
                break
            stall += 1
            use_exact = exact and stall > STALL and rng.random() < 0.5
            k = int(min(m, rng.choice([2, 3] if use_exact else [1, 2, 2, 3, 3, 4])))
            load = np.bincount(bins[bins >= 0], weights=area[bins >= 0], minlength=m)
            p = (W * H - load) + 0.25 * W * H
            chosen = rng.choice(m, size=k, replace=False, p=p / p.sum())
            pool = np.flatnonzero((bins < 0) | np.isin(bins, chosen))
            if use_exact and len(pool) <= EXACT_POOL:
                spent += EXACT_COST * len(pool)
                now = np.flatnonzero(bins[pool] >= 0)
                hb = np.full(len(pool), -1, dtype=np.int64)
                hb[now] = np.searchsorted(np.sort(chosen), bins[pool][now])
                chosen = np.sort(chosen)
                pb, px, py = _repack_exact(w[pool], h[pool], W, H, k, hb, x[pool], y[pool], int(rng.integers(1 << 30)))
            else:
                spent += len(pool)
                seq = _random_order(w[pool], h[pool], W, H, rng, bins[pool] < 0)
                rule = RULES[rng.integers(len(RULES))]
                pb, px, py = _maxrects_core(w[pool], h[pool], W, H, seq, rule, "first", k)
            out = float(area[pool][pb < 0].sum())
            if out < lost or (out == lost and rng.random() < 0.5):
                stall = 0 if out < lost else stall
                bins[pool] = np.where(pb >= 0, chosen[np.maximum(pb, 0)], -1)
                x[pool], y[pool] = px, py
                lost = out
        if lost > 0:
            break
        best = _result(w, h, W, H, bins, x, y, lb)
    return best


def _repack_exact(w, h, W, H, k, hint_bins, hint_x, hint_y, seed, dtime: float = 0.5):
    """Most area of the items packed into `k` bins (CP-SAT, deterministic time `dtime`); items left
    out get bin ``-1``. The hint (the current arrangement) keeps the answer at least as good."""
    from ortools.sat.python import cp_model

    n = len(w)
    model = cp_model.CpModel()
    xs = [model.new_int_var(0, W - int(w[i]), "") for i in range(n)]
    ys = [model.new_int_var(0, H - int(h[i]), "") for i in range(n)]
    lit = [[model.new_bool_var("") for _ in range(k)] for _ in range(n)]
    for b in range(k):
        ix = [model.new_optional_fixed_size_interval_var(xs[i], int(w[i]), lit[i][b], "") for i in range(n)]
        iy = [model.new_optional_fixed_size_interval_var(ys[i], int(h[i]), lit[i][b], "") for i in range(n)]
        model.add_no_overlap_2d(ix, iy)
        model.add(sum(int(w[i] * h[i]) * lit[i][b] for i in range(n)) <= W * H)
    for i in range(n):
        model.add_at_most_one(lit[i])
        for b in range(k):
            model.add_hint(lit[i][b], bool(hint_bins[i] == b))
        if hint_bins[i] >= 0:
            model.add_hint(xs[i], int(hint_x[i]))
            model.add_hint(ys[i], int(hint_y[i]))
    model.maximize(sum(int(w[i] * h[i]) * lit[i][b] for i in range(n) for b in range(k)))
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = dtime
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return np.asarray(hint_bins), np.asarray(hint_x), np.asarray(hint_y)
    bins = np.array([next((b for b in range(k) if solver.boolean_value(lit[i][b])), -1) for i in range(n)],
                    dtype=np.int64)
    return bins, np.array([solver.value(v) for v in xs]), np.array([solver.value(v) for v in ys])


def _random_order(w, h, W, H, rng, first):
    """A decreasing order by a random key with noise; unpacked items first half of the time."""
    key = ORDERS[rng.integers(len(ORDERS))]
    base = {"area": w * h, "height": h, "width": w, "perimeter": w + h,
            "maxside": np.maximum(w * H, h * W)}[key].astype(float)
    noisy = base * rng.uniform(0.85, 1.15, len(w))
    if rng.random() < 0.5:
        return np.lexsort((-noisy, ~first))
    return np.argsort(-noisy, kind="stable")


def parallel_restarts(widths, heights, W: int, H: int, restarts: int = 8, workers: int = 1, seed: int = 0,
                      time_limit: float | None = None, effort: int | None = None,
                      backend: str = "loky") -> Packing2D:
    """:func:`heuristic` from seeds ``seed .. seed + restarts - 1`` (different random orders in
    the search), with joblib; the packing with fewest bins, earliest seed on ties."""
    from joblib import Parallel, delayed

    w, h, W, H = check_items(widths, heights, W, H)
    runs = Parallel(n_jobs=workers, backend=backend)(
        delayed(heuristic)(w, h, W, H, seed + r, time_limit, effort) for r in range(restarts))
    return min(runs, key=lambda p: p.n_bins)


# ----------------------------------------------------------------------------- CP-SAT

def cpsat(widths, heights, W: int, H: int, time_limit: float | None = 10.0, seed: int = 0, workers: int = 1,
          hint: Packing2D | None = None, formulation: str = "optional") -> Packing2D:
    """Exact model with ``add_no_overlap_2d``; the proven bound is read back from CP-SAT.

    Formulations
    ------------
    ``stacked``: bin index ``b_i`` and ``x_i``, ``y_i``; the bins lie side by side,
    item ``i`` spans ``[W b_i + x_i, W b_i + x_i + w_i)`` with ``x_i <= W - w_i``, one
    no-overlap-2D over all items.
    ``optional`` (default): an optional interval pair per (item, bin) and one no-overlap-2D per
    bin, with an area constraint per bin. On the 23 classical instances of 20-40 items that the
    heuristic leaves open it proves 18 optimal in 2.7 s mean, against 14 in 4.6 s for ``stacked``
    (10 s each; `experiments/bp2d_formulations.py`).
    Both: items sorted by decreasing area with a clique of pairwise incompatible items first in
    bins ``0, 1, ..``; item ``i`` in a bin ``<= i``; at most the heuristic's number of bins, at
    least the lower bound; the heuristic packing as a hint. ``stacked`` also opens bins in item
    order; ``optional`` only uses bin ``k`` after bin ``k - 1``. A given `hint` is checked; without
    one, the heuristic runs for a quarter of the time limit.
    """
    from ortools.sat.python import cp_model

    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    start = time.perf_counter()
    w, h, W, H = check_items(widths, heights, W, H)
    lb = lower_bound(w, h, W, H)
    n = len(w)
    if hint is None:
        hint = heuristic(w, h, W, H, seed=seed, time_limit=None if time_limit is None else time_limit / 4)
    else:
        check_packing(w, h, W, H, hint.bins, hint.x, hint.y)
    ub = hint.n_bins
    if ub <= lb or n == 0:
        return Packing2D(hint.bins, hint.x, hint.y, lb, Status.OPTIMAL)
    clique = _clique(w, h, W, H)
    rest = np.setdiff1d(np.arange(n), clique)
    perm = np.concatenate([clique, rest[np.lexsort((rest, -(w[rest] * h[rest])))]])
    nk = len(clique)
    sw, sh = w[perm], h[perm]
    # hint bins relabelled so the first-appearance order of the permuted items holds
    hb = relabel_in_order(hint.bins[perm])
    hx, hy = hint.x[perm], hint.y[perm]
    model = cp_model.CpModel()
    xs = [model.new_int_var(0, W - int(sw[i]), f"x{i}") for i in range(n)]
    ys = [model.new_int_var(0, H - int(sh[i]), f"y{i}") for i in range(n)]
    top = [min(i, ub - 1) if i >= nk else i for i in range(n)]
    if formulation == "stacked":
        b = [model.new_int_var(0, top[i], f"b{i}") for i in range(n)]
        for i in range(nk):
            model.add(b[i] == i)
        X = [model.new_int_var(0, W * ub - int(sw[i]), f"X{i}") for i in range(n)]
        xi, yi = [], []
        for i in range(n):
            model.add(X[i] == W * b[i] + xs[i])
            xi.append(model.new_fixed_size_interval_var(X[i], int(sw[i]), f"ix{i}"))
            yi.append(model.new_fixed_size_interval_var(ys[i], int(sh[i]), f"iy{i}"))
        model.add_no_overlap_2d(xi, yi)
        # bins opened in item order: b_i <= 1 + max_{j<i} b_j
        mx = b[0]
        for i in range(1, n):
            if i >= nk:
                model.add(b[i] <= mx + 1)
            nxt = model.new_int_var(0, ub - 1, f"m{i}")
            model.add_max_equality(nxt, [mx, b[i]])
            mx = nxt
        z = model.new_int_var(max(lb, nk), ub, "z")
        model.add(z == mx + 1)
        model.minimize(z)
        for i in range(n):
            model.add_hint(b[i], int(hb[i]))
            model.add_hint(X[i], int(W * hb[i] + hx[i]))
    else:
        lit = [[model.new_bool_var(f"l{i}_{k}") for k in range(top[i] + 1)] for i in range(n)]
        used = [model.new_bool_var(f"u{k}") for k in range(ub)]
        per_bin_x: list[list] = [[] for _ in range(ub)]
        per_bin_y: list[list] = [[] for _ in range(ub)]
        per_bin_a: list[list] = [[] for _ in range(ub)]
        for i in range(n):
            model.add_exactly_one(lit[i])
            for k, l in enumerate(lit[i]):
                per_bin_x[k].append(model.new_optional_fixed_size_interval_var(xs[i], int(sw[i]), l, f"ox{i}_{k}"))
                per_bin_y[k].append(model.new_optional_fixed_size_interval_var(ys[i], int(sh[i]), l, f"oy{i}_{k}"))
                per_bin_a[k].append(int(sw[i] * sh[i]) * l)
                model.add_implication(l, used[k])
        for k in range(ub):
            model.add_no_overlap_2d(per_bin_x[k], per_bin_y[k])
            model.add(sum(per_bin_a[k]) <= W * H * used[k])
            if k:
                model.add_implication(used[k], used[k - 1])
        model.add(sum(used) >= max(lb, nk))
        model.minimize(sum(used))
        for i in range(n):
            for k, l in enumerate(lit[i]):
                model.add_hint(l, k == hb[i])
        for k in range(ub):
            model.add_hint(used[k], k <= hb.max())
    for i in range(n):
        model.add_hint(xs[i], int(hx[i]))
        model.add_hint(ys[i], int(hy[i]))
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = int(workers)
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = max(0.01, float(time_limit) - (time.perf_counter() - start))
    code = solver.solve(model)
    bound = max(lb, int(math.ceil(solver.best_objective_bound - 1e-6))) if code != cp_model.UNKNOWN else lb
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Packing2D(hint.bins, hint.x, hint.y, bound, Status.FEASIBLE)
    bins = np.empty(n, dtype=np.int64)
    x = np.empty(n, dtype=np.int64)
    y = np.empty(n, dtype=np.int64)
    for i in range(n):
        if formulation == "stacked":
            bins[perm[i]] = solver.value(b[i])
        else:
            bins[perm[i]] = next(k for k, l in enumerate(lit[i]) if solver.boolean_value(l))
        x[perm[i]], y[perm[i]] = solver.value(xs[i]), solver.value(ys[i])
    found = _result(w, h, W, H, bins, x, y, bound)
    if found.n_bins > hint.n_bins:
        found = Packing2D(hint.bins, hint.x, hint.y, bound, Status.FEASIBLE)
    if code == cp_model.OPTIMAL or found.n_bins <= bound:
        return Packing2D(found.bins, found.x, found.y, found.n_bins, Status.OPTIMAL)
    return found


# ----------------------------------------------------------------------------- helpers

def _result(w, h, W, H, bins, x, y, bound: int = 0) -> Packing2D:
    """A checked packing with bins numbered 0.. by first item index."""
    bins = relabel_in_order(bins)
    check_packing(w, h, W, H, bins, x, y)
    n_bins = int(bins.max()) + 1 if len(bins) else 0
    return Packing2D(bins, x, y, int(bound), Status.OPTIMAL if n_bins <= bound else Status.FEASIBLE)
