"""The 2BP heuristic: the best of a portfolio of constructions, then a goal-driven large neighbourhood
search that empties the weakest bin (Wei et al. 2013), within a time limit that covers every phase."""

from __future__ import annotations

import numpy as np

from ...result import Status
from ..bins import relabel_in_order
from ..deadline import deadline_of, expired
from ..solver import run_cpsat
from .bounds import lower_bound
from .maxrects import BIN_RULES, RULES, maxrects_core
from .orders import ORDERS, order, random_order
from .shelves import next_fit_shelves, shelf_core
from .skyline import skyline_core
from .validation import Packing2D, check_items, result_of

#: default search effort of :func:`improve`, in item placements (about 4 s for 100 items)
EFFORT = 60_000
#: a CP-SAT repack is charged this many placements per pool item
EXACT_COST = 40
#: MaxRects attempts without progress before CP-SAT repacks join in
STALL = 500
#: the largest pool CP-SAT repacks
EXACT_POOL = 40
#: CP-SAT's deterministic time for one repack: enough to close two or three bins of a few dozen items
REPACK_WORK = 0.5
#: above this many items the portfolio drops the transposed instance and the "best bin" rule
LARGE = 400
#: the portfolio starts no construction after this share of the time limit (the search gets the rest)
PORTFOLIO_SHARE = 1 / 3
#: seconds per item a timed heuristic keeps for its fallbacks when no construction finished: first-fit
#: shelves (about 10 us per item measured, doubled), then next-fit shelves and the final check (linear, ~2 us)
SHELF_PER_ITEM, NEXT_FIT_PER_ITEM = 2e-5, 5e-6
#: a bin's chance to join a repack grows with its free area plus this share of a bin (full bins stay possible)
ROOM_BONUS = 0.25
#: bins one repack takes, drawn uniformly from these (MaxRects; CP-SAT repacks take two or three)
REPACK_BINS, EXACT_BINS = (1, 2, 2, 3, 3, 4), (2, 3)
#: after a stall, this share of the steps repacks with CP-SAT; a repack as good as before is kept with
#: probability `TIE_KEEP` (to drift on plateaus)
EXACT_SHARE, TIE_KEEP = 0.5, 0.5


def heuristic(widths, heights, W: int, H: int, seed: int = 0, time_limit: float | None = None,
              effort: int | None = None, search: bool = True, exact: bool = True) -> Packing2D:
    """The best constructive packing over orders (area, height, width, perimeter, max side),
    MaxRects rules and bin rules, skyline and shelves, on the instance and its transpose; then
    :func:`improve`, which tries to empty the weakest bin. Stops as soon as the lower bound is
    reached.

    `effort` bounds the search in item placements (default `EFFORT`), so the result depends on
    `seed` only; `time_limit` (seconds, whole call) may cut it shorter. Constructions start within
    the first `PORTFOLIO_SHARE` of it and are abandoned when one would run past it; when none
    finished, first-fit shelves give the packing, or next-fit shelves (linear time) when even they
    would not finish. `exact` lets the search repack small neighbourhoods with CP-SAT when MaxRects stalls.
    """
    deadline = deadline_of(time_limit)
    last = deadline_of(None if time_limit is None else PORTFOLIO_SHARE * time_limit)  # no construction starts later
    w, h, W, H = check_items(widths, heights, W, H)
    lb = lower_bound(w, h, W, H)
    best = None
    for cand in _portfolio(w, h, W, H, _before(deadline, (SHELF_PER_ITEM + NEXT_FIT_PER_ITEM) * len(w))):
        if cand is None:
            break
        if best is None or _quality(cand, w, h) < _quality(best, w, h):
            best = cand
        if best.n_bins <= lb or expired(last):
            break
    if best is None:
        p = shelf_core(w, h, W, H, True, _before(deadline, NEXT_FIT_PER_ITEM * len(w)))
        best = Packing2D(*(next_fit_shelves(w, h, W, H) if p is None else p), 0, Status.FEASIBLE)
    best = result_of(w, h, W, H, best.bins, best.x, best.y, lb)
    if not search or best.n_bins <= lb:
        return best
    return _improve(w, h, W, H, best, lb, seed, deadline, effort, exact)


def _before(deadline: float | None, seconds: float) -> float | None:
    """`seconds` before `deadline` (None: no limit)."""
    return None if deadline is None else deadline - seconds


def _portfolio(w, h, W, H, deadline: float | None):
    """Constructive packings, fewer variants on large instances; None when `deadline` stopped one."""
    large = len(w) > LARGE
    for transpose in (False,) if large else (False, True):
        for key in ORDERS:
            for rule in RULES:
                for bin_rule in BIN_RULES[:1] if large else BIN_RULES:
                    if transpose:
                        p = maxrects_core(h, w, H, W, order(h, w, key, H, W), rule, bin_rule, deadline=deadline)
                        yield None if p is None else Packing2D(p[0], p[2], p[1], 0, Status.FEASIBLE)
                    else:
                        p = maxrects_core(w, h, W, H, order(w, h, key, W, H), rule, bin_rule, deadline=deadline)
                        yield None if p is None else Packing2D(*p, 0, Status.FEASIBLE)
    for rule in ("bl", "waste"):
        p = skyline_core(w, h, W, H, order(w, h, "height", W, H), rule, deadline=deadline)
        yield None if p is None else Packing2D(*p, 0, Status.FEASIBLE)
    for strip_first in (True, False):
        p = shelf_core(w, h, W, H, strip_first, deadline)
        yield None if p is None else Packing2D(*p, 0, Status.FEASIBLE)


def _quality(p: Packing2D, w, h):
    """Fewer bins, then a smaller weakest bin (easier to empty)."""
    bins = relabel_in_order(p.bins)
    area = np.bincount(bins, weights=w * h)
    return (len(area), float(area.min()) if len(area) else 0.0)


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
    lb = max(int(packing.bound), lower_bound(w, h, W, H))
    return _improve(w, h, W, H, packing, lb, seed, deadline_of(time_limit), effort, exact)


def _improve(w, h, W, H, packing: Packing2D, lb: int, seed: int, deadline: float | None, effort: int | None,
             exact: bool) -> Packing2D:
    """`improve` on checked items with the lower bound `lb` known, until `deadline`."""
    rng = np.random.default_rng(seed)
    budget = EFFORT if effort is None else int(effort)
    best = result_of(w, h, W, H, packing.bins, packing.x, packing.y, lb)
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
            if expired(deadline):
                spent = budget
                break
            stall += 1
            use_exact = exact and stall > STALL and rng.random() < EXACT_SHARE
            k = int(min(m, rng.choice(EXACT_BINS if use_exact else REPACK_BINS)))
            load = np.bincount(bins[bins >= 0], weights=area[bins >= 0], minlength=m)
            p = (W * H - load) + ROOM_BONUS * W * H
            chosen = rng.choice(m, size=k, replace=False, p=p / p.sum())
            pool = np.flatnonzero((bins < 0) | np.isin(bins, chosen))
            if use_exact and len(pool) <= EXACT_POOL:
                spent += EXACT_COST * len(pool)
                now = np.flatnonzero(bins[pool] >= 0)
                hb = np.full(len(pool), -1, dtype=np.int64)
                hb[now] = np.searchsorted(np.sort(chosen), bins[pool][now])
                chosen = np.sort(chosen)
                pb, px, py = _repack_exact(w[pool], h[pool], W, H, k, hb, x[pool], y[pool], int(rng.integers(1 << 30)),
                                           deadline)
            else:
                spent += len(pool)
                seq = random_order(w[pool], h[pool], W, H, rng, bins[pool] < 0)
                rule = RULES[rng.integers(len(RULES))]
                pb, px, py = maxrects_core(w[pool], h[pool], W, H, seq, rule, "first", k)
            out = float(area[pool][pb < 0].sum())
            if out < lost or (out == lost and rng.random() < TIE_KEEP):
                stall = 0 if out < lost else stall
                bins[pool] = np.where(pb >= 0, chosen[np.maximum(pb, 0)], -1)
                x[pool], y[pool] = px, py
                lost = out
        if lost > 0:
            break
        best = result_of(w, h, W, H, bins, x, y, lb)
    return best


def _repack_exact(w, h, W, H, k, hint_bins, hint_x, hint_y, seed, deadline: float | None):
    """Most area of the items packed into `k` bins (CP-SAT, deterministic time `REPACK_WORK`, never past
    `deadline`); items left out get bin ``-1``. The hint (the current arrangement) keeps the answer at
    least as good."""
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
    run = run_cpsat(model, deadline, seed, work_limit=REPACK_WORK)
    if not run.found:
        return np.asarray(hint_bins), np.asarray(hint_x), np.asarray(hint_y)
    solver = run.solver
    bins = np.array([next((b for b in range(k) if solver.boolean_value(lit[i][b])), -1) for i in range(n)],
                    dtype=np.int64)
    return bins, np.array([solver.value(v) for v in xs]), np.array([solver.value(v) for v in ys])



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

