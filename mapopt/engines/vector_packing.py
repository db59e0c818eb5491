"""Vector bin packing with a cardinality limit: the core of bit-slice packing and of `mapopt classic vbp`.

Items are nonnegative integer vectors (``n x D``); a bin holds items whose sum stays within
`capacity` in every dimension and at most `cardinality` items. Identical items are
grouped into types for the exact model. In crossbar terms an item is a kept row of one
column group of one slice plane, a dimension a column, a bin an OU activation.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..result import Status
from .bins import relabel_in_order
from .deadline import CHECK_EVERY, DeadlinePassed, checked, deadline_of, expired, time_left
from .solver import run_cpsat

log = logging.getLogger(__name__)

ORDERS = ("sum", "max", "lex")
#: the greedy clique bound compares items pairwise only up to this many (an ``n x n`` test)
CLIQUE_ITEMS = 3000
#: DSatur joins the heuristic's portfolio only up to this many items (it is quadratic in Python)
DSATUR_ITEMS = 2000
#: building the CP-SAT model costs about this many seconds per (item type, bin) pair (a variable, its terms
#: in the rows of its bin, a hint: measured 3e-5 s on 1.8 million pairs, 3,000 items, on a loaded 2-core machine)
SECONDS_PER_PAIR = 3e-5
#: the most (item type, bin) pairs a CP-SAT model may hold: beyond, gigabytes of Python objects
MAX_PAIRS = 2_000_000


@dataclass(frozen=True, eq=False)
class Packing:
    """Bin of each item, the proven lower bound and the status."""

    bins: np.ndarray
    bound: int
    status: Status

    @property
    def n_bins(self) -> int:
        return int(self.bins.max()) + 1 if len(self.bins) else 0


def check_items(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Items and capacities as int64 arrays and the cardinality (``n`` when unlimited); raises on an item no bin holds."""
    sizes = np.asarray(sizes, dtype=np.int64)
    sizes = sizes.reshape(len(sizes), -1) if sizes.ndim != 2 else sizes
    capacity = np.broadcast_to(np.asarray(capacity, dtype=np.int64), (sizes.shape[1],))
    if np.any(sizes < 0) or np.any(sizes > capacity[None, :]):
        raise ValueError("an item exceeds the bin capacity or has a negative size")
    if cardinality is None:
        return sizes, capacity, max(len(sizes), 1)
    if int(cardinality) < 1:
        raise ValueError(f"cardinality must be positive, got {cardinality}")
    return sizes, capacity, int(cardinality)


def lower_bound(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None = None) -> int:
    """``max(ceil(n / K), Martello-Toth L2 per dimension, a clique of pairwise incompatible items)``."""
    sizes, capacity, k = check_items(sizes, capacity, cardinality)
    if not len(sizes):
        return 0
    per_dim = [_l2(sizes[:, d], int(capacity[d])) for d in range(sizes.shape[1])]
    return max([math.ceil(len(sizes) / k), _clique(sizes, capacity, k)] + per_dim)


def _clique(sizes: np.ndarray, capacity: np.ndarray, k: int, limit: int = CLIQUE_ITEMS) -> int:
    """Greedy clique of items no two of which share a bin (largest first): each needs its own bin."""
    if len(sizes) > limit or k == 1:
        return len(sizes) if k == 1 else 0
    rel = (sizes / np.maximum(capacity, 1)[None, :]).sum(axis=1)
    joins = np.ones(len(sizes), dtype=bool)  # items conflicting with every clique member so far
    size = 0
    for i in np.argsort(-rel, kind="stable"):
        if joins[i]:
            size += 1
            joins &= (sizes + sizes[i] > capacity).any(axis=1)
    return size


def _l2(s: np.ndarray, c: int) -> int:
    """Martello-Toth L2 for one dimension: large items need their own bins; medium ones leave room for small ones."""
    s = s[s > 0]
    if not len(s):
        return 0
    best = math.ceil(s.sum() / c)
    for k in np.unique(np.concatenate([[0], s[s <= c // 2]])):
        big, mid = s > c - k, (s <= c - k) & (s > c / 2)
        small = (s <= c / 2) & (s >= k)
        room = mid.sum() * c - s[mid].sum()
        best = max(best, int(big.sum() + mid.sum() + max(0, math.ceil((s[small].sum() - room) / c))))
    return best


def order(sizes: np.ndarray, capacity: np.ndarray, key: str) -> np.ndarray:
    """Item order for a decreasing fit: by relative size sum, relative maximum, or lexicographically."""
    rel = sizes / np.maximum(capacity, 1)[None, :]
    if key == "sum":
        return np.lexsort((-rel.max(axis=1), -rel.sum(axis=1)))
    if key == "max":
        return np.lexsort((-rel.sum(axis=1), -rel.max(axis=1)))
    if key == "lex":
        return np.lexsort(-sizes.T[::-1]) if sizes.shape[1] else np.arange(len(sizes))
    raise ValueError(f"order must be one of {ORDERS}, got {key!r}")


def first_fit(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None, items: np.ndarray,
              best: bool = False, deadline: float | None = None) -> np.ndarray | None:
    """Place `items` in order into the first (or, with `best`, the fullest) bin with room; open bins as
    needed. None when `deadline` passes first."""
    sizes, capacity, k = check_items(sizes, capacity, cardinality)
    bins = np.full(len(sizes), -1, dtype=np.int64)
    room = np.empty((len(sizes), sizes.shape[1]), dtype=np.int64)  # one bin per item at most; -1 once full
    count = np.zeros(len(sizes), dtype=np.int64)
    scale, opened = np.maximum(capacity, 1), 0
    for t, i in enumerate(items):
        if t % CHECK_EVERY == 0 and expired(deadline):
            return None
        fits = (room[:opened] >= sizes[i]).all(axis=1)
        if best and opened:
            b = int(np.where(fits, ((capacity - room[:opened]) / scale).sum(axis=1), -1.0).argmax())
        else:
            b = int(fits.argmax()) if opened else 0
        if not opened or not fits[b]:
            b, opened = opened, opened + 1
            room[b] = capacity
        bins[i] = b
        room[b] -= sizes[i]
        count[b] += 1
        if count[b] == k:
            room[b] = -1
    return bins


def bin_centric(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None, weights: str = "demand",
                deadline: float | None = None) -> np.ndarray | None:
    """Fill one bin at a time with the fitting item of largest weighted dot product with the residual
    (Panigrahy et al.'s bin-centric rule); dimensions weighted by total demand or equally. None when
    `deadline` passes first."""
    sizes, capacity, k = check_items(sizes, capacity, cardinality)
    rel = sizes / np.maximum(capacity, 1)[None, :]
    w = rel.sum(axis=0) + 1e-9 if weights == "demand" else np.ones(sizes.shape[1])
    bins = np.full(len(sizes), -1, dtype=np.int64)
    free = np.ones(len(sizes), dtype=bool)
    b = 0
    while free.any():
        if expired(deadline):
            return None
        residual, count = np.ones(sizes.shape[1]), 0
        while count < k:
            cand = (free & (rel <= residual + 1e-12).all(axis=1)).nonzero()[0]
            if not len(cand):
                break
            i = cand[(rel[cand] @ (w * residual) + 1e-9 * rel[cand].sum(axis=1)).argmax()]
            bins[i], free[i] = b, False
            residual = residual - rel[i]
            count += 1
        b += 1
    return bins


def dsatur(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None,
           deadline: float | None = None) -> np.ndarray | None:
    """Colouring by saturation degree when any two items sharing a nonzero dimension conflict
    (e.g. a 1-bit ADC): a bin is a colour class of at most `cardinality` items. None when `deadline`
    passes first."""
    sizes, capacity, k = check_items(sizes, capacity, cardinality)
    nz = sizes > 0
    conflict = (nz.astype(np.int64) @ nz.T.astype(np.int64)) > 0
    np.fill_diagonal(conflict, False)
    n = len(sizes)
    bins = np.full(n, -1, dtype=np.int64)
    count: list[int] = []
    degree = conflict.sum(axis=1)
    for t in range(n):
        if t % CHECK_EVERY == 0 and expired(deadline):
            return None
        free = bins < 0
        seen = [len(set(bins[conflict[i] & ~free])) if free[i] else -1 for i in range(n)]
        i = max(np.flatnonzero(free), key=lambda v: (seen[v], degree[v], -v))
        used = set(bins[conflict[i] & (bins >= 0)])
        b = next((c for c in range(len(count)) if c not in used and count[c] < k), len(count))
        if b == len(count):
            count.append(0)
        bins[i] = b
        count[b] += 1
    return bins


def exclusive(sizes: np.ndarray, capacity: np.ndarray) -> bool:
    """True when two items sharing a nonzero dimension never fit together (packing is colouring)."""
    if not len(sizes):
        return False
    nz = np.where(sizes > 0, sizes, np.iinfo(np.int64).max)
    return bool(np.all(2 * nz.min(axis=0) > capacity))


def empty_weakest(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None, bins: np.ndarray,
                  deadline: float | None = None) -> np.ndarray:
    """Try to empty bins, least loaded first, by moving their items (largest first) into other bins,
    until none empties or `deadline` passes."""
    sizes, capacity, k = check_items(sizes, capacity, cardinality)
    bins = relabel_in_order(bins.copy())
    improved = True
    while improved:
        improved = False
        nb = bins.max() + 1 if len(bins) else 0
        load = np.zeros((nb, sizes.shape[1]), dtype=np.int64)
        np.add.at(load, bins, sizes)
        count = np.bincount(bins, minlength=nb)
        fill = (load / np.maximum(capacity, 1)).sum(axis=1) + count / k
        for b in np.argsort(fill, kind="stable"):
            if expired(deadline):
                return bins
            trial, tload, tcount = bins.copy(), load.copy(), count.copy()
            members = np.flatnonzero(bins == b)
            members = members[np.argsort(-sizes[members].sum(axis=1), kind="stable")]
            ok = True
            for i in members:
                fits = np.flatnonzero(np.all(tload + sizes[i] <= capacity, axis=1) & (tcount < k))
                fits = fits[fits != b]
                if not len(fits):
                    ok = False
                    break
                c = fits[np.argmax((tload[fits] / np.maximum(capacity, 1)).sum(axis=1))]
                trial[i] = c
                tload[c] += sizes[i]
                tcount[c] += 1
            if ok:
                bins = relabel_in_order(trial)
                improved = True
                break
    return bins


def next_fit(sizes: np.ndarray, capacity: np.ndarray, k: int, items: np.ndarray) -> np.ndarray:
    """Next fit: `items` in order into the last bin opened, or a new one; one pass, so it always finishes in time."""
    bins = np.empty(len(sizes), dtype=np.int64)
    load, count, b = np.zeros(sizes.shape[1], dtype=np.int64), 0, 0
    for i in items:
        if count == k or np.any(load + sizes[i] > capacity):
            load, count, b = np.zeros_like(load), 0, b + 1
        bins[i] = b
        load += sizes[i]
        count += 1
    return bins


def first_fit_all(instances: list[np.ndarray], capacities: np.ndarray, cardinality: int, open_bins: int = 8,
                  batch: int = 512) -> list[np.ndarray]:
    """First fit over the last `open_bins` bins opened (1: next fit), items in their given order, on many
    instances at once and in lockstep: step ``t`` places item ``t`` of every instance, so the time grows with
    the longest instance rather than with how many there are (the 4096 subproblems of a 25088 x 4096 layer
    in seconds). Instances share their item dimension."""
    lengths = np.array([len(x) for x in instances], dtype=np.int64)
    out = [np.zeros(0, np.int64)] * len(instances)
    by_length = np.argsort(-lengths, kind="stable")
    for chunk in np.array_split(by_length, max(1, -(-len(instances) // batch))):
        chunk = chunk[lengths[chunk] > 0]  # longest first: the instances still running at step t are a prefix
        if not len(chunk):
            continue
        items = np.concatenate([instances[i] for i in chunk]).astype(np.int64)
        items = items.reshape(len(items), -1)
        start = np.cumsum(lengths[chunk]) - lengths[chunk]
        cap = np.asarray(capacities)[chunk][:, None]
        room = np.zeros((len(chunk), open_bins, items.shape[1]), dtype=np.int64)
        count = np.full((len(chunk), open_bins), cardinality, dtype=np.int64)  # no bin open yet: all full
        ids = np.zeros((len(chunk), open_bins), dtype=np.int64)
        opened = np.zeros(len(chunk), dtype=np.int64)
        bins = np.empty(len(items), dtype=np.int64)
        running = np.searchsorted(-lengths[chunk], -np.arange(int(lengths[chunk[0]])), side="left")
        for t, a in enumerate(running):  # a: how many instances have an item t
            at, rows = start[:a] + t, np.arange(a)
            size = items[at]
            fits = (room[:a] >= size[:, None, :]).all(axis=2) & (count[:a] < cardinality)
            slot = np.where(fits, ids[:a], np.iinfo(np.int64).max).argmin(axis=1)  # the oldest bin that fits
            new = ~fits[rows, slot]
            if new.any():  # open a bin in the slot of the oldest one
                fresh = rows[new]
                slot[new] = opened[fresh] % open_bins
                ids[fresh, slot[new]] = opened[fresh]
                room[fresh, slot[new]] = cap[fresh]
                count[fresh, slot[new]] = 0
                opened[fresh] += 1
            room[rows, slot] -= size
            count[rows, slot] += 1
            bins[at] = ids[rows, slot]
        for k, i in enumerate(chunk):
            out[i] = bins[start[k]:start[k] + lengths[i]]
    return out


def heuristic(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None = None,
              orders: tuple[str, ...] = ORDERS, improve: bool = True, deadline: float | None = None) -> np.ndarray:
    """The best of first- and best-fit decreasing over `orders` (and DSatur when packing is colouring),
    then emptying of weak bins, stopping early at the lower bound. With `deadline`, constructions stop
    when it passes (next fit by the first order when none finished) and so does the emptying."""
    sizes, capacity, k = check_items(sizes, capacity, cardinality)
    lb = lower_bound(sizes, capacity, k)
    chunks = np.arange(len(sizes)) // k
    if chunks.max(initial=-1) + 1 <= lb and _fits(sizes, capacity, chunks):
        return chunks
    best = None
    small = exclusive(sizes, capacity) and len(sizes) <= DSATUR_ITEMS
    candidates = [lambda: dsatur(sizes, capacity, k, deadline)] if small else []
    candidates += [lambda o=o, b=b: first_fit(sizes, capacity, k, order(sizes, capacity, o), b, deadline)
                   for o in orders for b in (False, True)]
    candidates += [lambda w=w: bin_centric(sizes, capacity, k, w, deadline) for w in ("demand", "equal")]
    for make in candidates:
        bins = make()
        if bins is None:
            break
        if best is None or bins.max() < best.max():
            best = bins
        if best.max() + 1 <= lb:
            return relabel_in_order(best)
    if best is None:
        best = next_fit(sizes, capacity, k, order(sizes, capacity, orders[0]))
    return empty_weakest(sizes, capacity, k, best, deadline) if improve else relabel_in_order(best)


def cpsat(sizes: np.ndarray, capacity: np.ndarray, cardinality: int | None = None, time_limit: float | None = 10.0,
          seed: int = 0, workers: int = 1, hint: np.ndarray | None = None) -> Packing:
    """Exact model over item types: ``y[t, b]`` copies of type `t` in bin `b`, bins used in order.

    The time limit covers the whole call (the heuristic start, when no `hint` is given, included); a
    model of more than `MAX_PAIRS` (type, bin) pairs, or one too large to build in the time left, is
    not built, and building stops when the limit passes: the start then comes back, FEASIBLE.
    """
    deadline = deadline_of(time_limit)
    sizes, capacity, k = check_items(sizes, capacity, cardinality)
    lb = lower_bound(sizes, capacity, k)
    start = hint if hint is not None else heuristic(sizes, capacity, k, deadline=deadline)
    ub = int(start.max()) + 1 if len(start) else 0
    if ub <= lb:
        return Packing(relabel_in_order(start), lb, Status.OPTIMAL)
    unproven = Packing(relabel_in_order(start), lb, Status.FEASIBLE)
    types, of_type, demand = np.unique(sizes, axis=0, return_inverse=True, return_counts=True)
    of_type = of_type.ravel()
    pairs, left = len(types) * ub, time_left(deadline)
    if pairs > MAX_PAIRS or (left is not None and SECONDS_PER_PAIR * pairs > left):
        log.info("vector packing model of %d (type, bin) pairs not built (limit %d, %s s left)", pairs, MAX_PAIRS, left)
        return unproven
    try:
        model, y = _cp_model(types, of_type, demand, capacity, k, ub, lb, start, deadline)
    except DeadlinePassed:
        return unproven
    run = run_cpsat(model, deadline, seed, workers, floor=lb)
    if not run.found:
        return Packing(relabel_in_order(start), int(run.bound) if run.status == Status.UNKNOWN else lb,
                       Status.FEASIBLE)
    bound = int(run.bound)
    bins = np.empty(len(sizes), dtype=np.int64)
    for t in range(len(types)):
        members = np.flatnonzero(of_type == t)
        slots = np.repeat(np.arange(ub), [run.solver.value(y[t][b]) for b in range(ub)])
        bins[members] = slots
    bins = relabel_in_order(bins)
    if bins.max() > start.max():
        bins = relabel_in_order(start)
    status = Status.OPTIMAL if bins.max() + 1 <= bound or run.status == Status.OPTIMAL else Status.FEASIBLE
    return Packing(bins, max(bound, bins.max() + 1) if status == Status.OPTIMAL else bound, status)


def _cp_model(types, of_type, demand, capacity, k: int, ub: int, lb: int, start: np.ndarray, deadline: float | None):
    """The model over item types and its ``y[t][b]`` variables, hinted by `start`; raises `DeadlinePassed`
    when `deadline` passes while it is built."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    used = [model.new_bool_var(f"u{b}") for b in range(ub)]
    y = [[model.new_int_var(0, int(min(demand[t], k)), f"y{t}_{b}") for b in range(ub)] for t in range(len(types))]
    for t in range(len(types)):
        model.add(sum(y[t]) == int(demand[t]))
    for b in checked(range(ub), deadline, every=1):
        for d in range(types.shape[1]):
            terms = [int(types[t, d]) * y[t][b] for t in range(len(types)) if types[t, d]]
            if terms:
                model.add(sum(terms) <= int(capacity[d]) * used[b])
        model.add(sum(y[t][b] for t in range(len(types))) <= k * used[b])
        if b:
            model.add_implication(used[b], used[b - 1])
    for b in range(lb):
        model.add(used[b] == 1)
    model.minimize(sum(used))
    hint_counts = np.zeros((len(types), ub), dtype=np.int64)
    np.add.at(hint_counts, (of_type, relabel_in_order(start)), 1)
    for t in range(len(types)):
        for b in range(ub):
            model.add_hint(y[t][b], int(hint_counts[t, b]))
    for b in range(ub):
        model.add_hint(used[b], bool(hint_counts[:, b].any()))
    return model, y


def _fits(sizes: np.ndarray, capacity: np.ndarray, bins: np.ndarray) -> bool:
    """Whether every bin's load stays within capacity."""
    load = np.zeros((int(bins.max()) + 1 if len(bins) else 0, sizes.shape[1]), dtype=np.int64)
    np.add.at(load, bins, sizes)
    return bool(np.all(load <= capacity[None, :]))


