"""2BP lower bounds: area, dual feasible functions (Fekete & Schepers 2004), cliques of incompatible
items, and Martello & Vigo's ``L2`` generalised; each work-bounded so large instances stay cheap."""

from __future__ import annotations

import math

import numpy as np

from .validation import check_items

#: items are compared pairwise (the greedy clique) only up to this many; beyond, the items larger than half
#: the bin in both sides form the clique (they are pairwise incompatible by themselves)
CLIQUE_ITEMS = 3000
#: the generalised L2 tries at most this many width and height thresholds each when the thresholds times the
#: items exceed `THRESHOLD_ENTRIES` (4M: tens of ms)
THRESHOLD_STEPS, THRESHOLD_ENTRIES = 60, 4_000_000
#: dual feasible functions per side are thinned so that functions x item types stays within `DFF_ENTRIES`
#: (160 MB of int64) and the pairing product, functions^2 x types, within `DFF_WORK` (about 0.3 s)
DFF_ENTRIES, DFF_WORK = 20_000_000, 250_000_000
#: ``u^(k)`` functions are tried for k up to this; ``f_CCM1`` for every k up to `CCM_STEPS` (and item sizes)
UK_STEPS, CCM_STEPS = 20, 60


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
    kset = greedy_clique(w, h, W, H)
    bound = max(bound, len(kset))
    big = np.flatnonzero((2 * w > W) & (2 * h > H))
    for k in (big, kset):
        bound = max(bound, _incompatible_bound(w, h, W, H, k))
    return int(bound)


def _dffs(s: np.ndarray, C: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Values of the dual feasible functions on sizes `s` (rows: functions) and on `C`; the ``U^e`` and
    ``f_CCM1`` families are thinned evenly when all would exceed `limit` functions."""
    funcs = [s.copy()]
    caps = [C]
    half = np.flatnonzero(2 * s >= C)
    if len(half):
        funcs.append(np.where(2 * s > C, 2, np.where(2 * s == C, 1, 0)))
        caps.append(2)
    cand = np.unique(np.concatenate([s, C - s + 1]))
    cand = cand[(cand >= 1) & (2 * cand <= C)]
    ks = np.unique(np.concatenate([np.arange(1, min(C // 2, CCM_STEPS) + 1), s[2 * s <= C]]))
    ks = ks[ks >= 1]
    room = limit - len(funcs) - min(C, UK_STEPS)
    if len(cand) + len(ks) > room:
        cand, ks = _thin(cand, max(1, room // 2)), _thin(ks, max(1, room - room // 2))
    for e in cand:  # U^e: large items fill the bin, small ones vanish
        funcs.append(np.where(s > C - e, C, np.where(s >= e, s, 0)))
        caps.append(C)
    for k in range(1, min(C, UK_STEPS) + 1):  # u^(k), scaled by k C
        f = np.where(((k + 1) * s) % C == 0, k * s, ((k + 1) * s // C) * C)
        funcs.append(f)
        caps.append(k * C)
    for k in ks:  # f_CCM1
        f = np.where(2 * s > C, 2 * (C // k - (C - s) // k), np.where(2 * s == C, C // k, 2 * (s // k)))
        funcs.append(f)
        caps.append(2 * (C // k))
    f, c = np.array(funcs, dtype=np.int64), np.array(caps, dtype=np.int64)
    keep = c > 0
    f, c = f[keep], c[keep]
    _, first = np.unique(np.column_stack([f, c]), axis=0, return_index=True)
    return f[np.sort(first)], c[np.sort(first)]


def _thin(values: np.ndarray, count: int) -> np.ndarray:
    """At most `count` of the sorted `values`, evenly spread, the first and last kept."""
    if len(values) <= count:
        return values
    return np.unique(values[np.linspace(0, len(values) - 1, count).astype(int)])


def _dff_bound(tw: np.ndarray, th: np.ndarray, count: np.ndarray, W: int, H: int) -> int:
    """The best DFF pair's bound ``max ceil(sum f(w) g(h) / (f(W) g(H)))`` over item types ``(tw, th)``."""
    limit = max(1, min(DFF_ENTRIES // len(tw), math.isqrt(DFF_WORK // len(tw))))
    fw, cw = _dffs(tw, W, limit)
    fh, ch = _dffs(th, H, limit)
    # exact integer products; functions whose totals could overflow int64 are dropped
    limit = 2 ** 62 // max(1, int(count.sum()))
    fw, cw = fw[cw.astype(float) * float(ch.max()) < limit], cw[cw.astype(float) * float(ch.max()) < limit]
    if not len(fw):
        return 0
    total = fw @ (fh * count[None, :]).T
    cap = cw[:, None] * ch[None, :]
    return int(((total + cap - 1) // cap).max())


def compatible(w: np.ndarray, h: np.ndarray, W: int, H: int) -> np.ndarray:
    """Pairs that can share a bin (side by side or one above the other)."""
    return (w[:, None] + w[None, :] <= W) | (h[:, None] + h[None, :] <= H)


def greedy_clique(w: np.ndarray, h: np.ndarray, W: int, H: int, limit: int = CLIQUE_ITEMS) -> np.ndarray:
    """A greedy set of pairwise incompatible items, largest area first."""
    if len(w) > limit:
        return np.flatnonzero((2 * w > W) & (2 * h > H))
    ok = compatible(w, h, W, H)
    clique: list[int] = []
    free = np.ones(len(w), dtype=bool)
    for i in np.lexsort((-np.maximum(w / W, h / H), -(w * h))):
        if free[i]:
            clique.append(int(i))
            free &= ~ok[i]
            free[i] = False
    return np.array(clique, dtype=np.int64)


def _incompatible_bound(w: np.ndarray, h: np.ndarray, W: int, H: int, k: np.ndarray) -> int:
    """The generalised ``L2`` for the clique `k` (see `lower_bound`), maximised over thresholds ``(q, p)``.
    Sums over items are products of ``thresholds x items`` indicator matrices: exact in float64, whose
    integers are exact below 2^53 (areas total at most ``MAX_ITEMS W H`` = 10^14)."""
    if not len(k):
        return 0
    rest = np.ones(len(w), dtype=bool)
    rest[k] = False
    rw, rh = w[rest], h[rest]
    if not len(rw):
        return len(k)
    qs, ps = np.unique(np.r_[1, rw]), np.unique(np.r_[1, rh])
    if len(qs) * len(ps) * len(rw) > THRESHOLD_ENTRIES:  # keep it cheap on huge instances
        qs = np.unique(qs[np.linspace(0, len(qs) - 1, THRESHOLD_STEPS).astype(int)])
        ps = np.unique(ps[np.linspace(0, len(ps) - 1, THRESHOLD_STEPS).astype(int)])
    wide = (rw[None, :] >= qs[:, None]).astype(np.float64)   # q x items: at least q wide
    tall = (rh[None, :] >= ps[:, None]).astype(np.float64)   # p x items: at least p tall
    t_area = np.rint(wide @ (tall * (rw * rh)[None, :]).T)   # q x p: area of the items in T
    kw, kh = w[k], h[k]
    side = ((W - kw)[None, :] >= qs[:, None]).astype(np.float64)   # q x k: a T item fits beside k
    above = ((H - kh)[None, :] >= ps[:, None]).astype(np.float64)  # p x k: a T item fits above k
    both, beside, over = (W * H - kw * kh).astype(float), (H * (W - kw)).astype(float), (W * (H - kh)).astype(float)
    cap = np.rint(side @ (above * both).T + side @ ((1 - above) * beside).T + (1 - side) @ (above * over).T)
    extra = np.maximum(0, t_area.astype(np.int64) - cap.astype(np.int64))
    return int(len(k) + ((extra + W * H - 1) // (W * H)).max())
