"""The exact 2BP model in CP-SAT: ``add_no_overlap_2d`` per bin (``optional``) or over bins side by side
(``stacked``), with the heuristic's packing as a hint."""

from __future__ import annotations

import logging

import numpy as np

from ...result import Status
from ..bins import relabel_in_order
from ..deadline import DeadlinePassed, checked, deadline_of, time_left
from ..solver import run_cpsat
from .bounds import greedy_clique, lower_bound
from .search import heuristic
from .validation import Packing2D, check_items, check_packing, result_of

log = logging.getLogger(__name__)

FORMULATIONS = ("stacked", "optional")
#: without a hint, the heuristic gets this share of the time limit
HINT_SHARE = 0.25
#: seconds to build the model per item-bin pair (``optional``: a literal, two optional intervals, a term, an
#: implication, a hint) or per item (``stacked``: intervals and the chain of maxima); measured with 300 items
#: in 40 bins on a loaded 2-core machine (8e-5 and 1.8e-4 s)
BUILD_SECONDS = {"optional": 8e-5, "stacked": 2e-4}
#: the most item-bin pairs (``optional``) or items (``stacked``) a model may hold: beyond, gigabytes of
#: Python objects and a model CP-SAT cannot close anyway
MAX_LITERALS = 2_000_000


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
    one, the heuristic runs for `HINT_SHARE` of the time limit (all of it when no model could be built).

    The time limit covers the whole call: the model is not built when its estimated building time
    (`BUILD_SECONDS`) exceeds the time left or it would hold more than `MAX_LITERALS`
    item-bin pairs, and building stops when the limit passes; the hint then comes back, status
    FEASIBLE, with the lower bound.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    deadline = deadline_of(time_limit)
    w, h, W, H = check_items(widths, heights, W, H)
    lb = lower_bound(w, h, W, H)
    n = len(w)
    kset = greedy_clique(w, h, W, H)
    nk = len(kset)
    if hint is None:
        # the smallest model worth building has lb + 1 bins; when even it cannot be, the heuristic gets all the time
        budget = None if time_limit is None else (1 - HINT_SHARE) * time_limit
        share = HINT_SHARE if _buildable(_tops(n, nk, lb + 1), formulation, budget) else 1.0
        hint = heuristic(w, h, W, H, seed=seed, time_limit=None if time_limit is None else share * time_limit)
    else:
        check_packing(w, h, W, H, hint.bins, hint.x, hint.y)
    ub = hint.n_bins
    if ub <= lb or n == 0:
        return Packing2D(hint.bins, hint.x, hint.y, lb, Status.OPTIMAL)
    unproven = Packing2D(hint.bins, hint.x, hint.y, lb, Status.FEASIBLE)
    top = _tops(n, nk, ub)
    if not _buildable(top, formulation, time_left(deadline)):
        log.info("2BP model of %d items in up to %d bins not built (%s s left)", n, ub, time_left(deadline))
        return unproven
    rest = np.setdiff1d(np.arange(n), kset)
    perm = np.concatenate([kset, rest[np.lexsort((rest, -(w[rest] * h[rest])))]])
    sw, sh = w[perm], h[perm]
    # hint bins relabelled so the first-appearance order of the permuted items holds
    hb = relabel_in_order(hint.bins[perm])
    build = _stacked if formulation == "stacked" else _optional
    try:
        model, bin_of, xs, ys = build(sw, sh, W, H, ub, lb, nk, top.tolist(), hb, hint.x[perm], hint.y[perm], deadline)
    except DeadlinePassed:
        return unproven
    run = run_cpsat(model, deadline, seed, workers, floor=lb)
    if not run.found:
        return unproven
    bound = int(run.bound)
    bins = np.empty(n, dtype=np.int64)
    x = np.empty(n, dtype=np.int64)
    y = np.empty(n, dtype=np.int64)
    for i in range(n):
        bins[perm[i]] = bin_of(run.solver, i)
        x[perm[i]], y[perm[i]] = run.solver.value(xs[i]), run.solver.value(ys[i])
    found = result_of(w, h, W, H, bins, x, y, bound)
    if found.n_bins > hint.n_bins:
        found = Packing2D(hint.bins, hint.x, hint.y, bound, Status.FEASIBLE)
    if run.status == Status.OPTIMAL or found.n_bins <= bound:
        return Packing2D(found.bins, found.x, found.y, found.n_bins, Status.OPTIMAL)
    return found


def _tops(n: int, nk: int, ub: int) -> np.ndarray:
    """The last bin each item (clique first) may use with `ub` bins: clique item ``i`` bin ``i``, others ``<= i``."""
    i = np.arange(n)
    return np.where(i >= nk, np.minimum(i, ub - 1), i)


def _buildable(top: np.ndarray, formulation: str, seconds: float | None) -> bool:
    """Whether the model with these `top` bins holds at most `MAX_LITERALS` item-bin pairs and is built in `seconds`."""
    pairs = len(top) if formulation == "stacked" else int((top + 1).sum())
    return pairs <= MAX_LITERALS and (seconds is None or BUILD_SECONDS[formulation] * pairs <= seconds)


def _stacked(sw, sh, W, H, ub, lb, nk, top, hb, hx, hy, deadline):
    """The ``stacked`` model of items `sw` x `sh` (clique first) with its hint: ``(model, bin reader, xs, ys)``;
    raises `DeadlinePassed` when `deadline` passes while it is built."""
    from ortools.sat.python import cp_model

    n = len(sw)
    model = cp_model.CpModel()
    xs = [model.new_int_var(0, W - int(sw[i]), f"x{i}") for i in range(n)]
    ys = [model.new_int_var(0, H - int(sh[i]), f"y{i}") for i in range(n)]
    b = [model.new_int_var(0, top[i], f"b{i}") for i in range(n)]
    for i in range(nk):
        model.add(b[i] == i)
    X = [model.new_int_var(0, W * ub - int(sw[i]), f"X{i}") for i in range(n)]
    xi, yi = [], []
    for i in checked(range(n), deadline):
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
    _hint_corners(model, xs, ys, hx, hy)
    return model, lambda solver, i: solver.value(b[i]), xs, ys


def _optional(sw, sh, W, H, ub, lb, nk, top, hb, hx, hy, deadline):
    """The ``optional`` model (an optional interval pair per item and bin), as `_stacked`."""
    from ortools.sat.python import cp_model

    n = len(sw)
    model = cp_model.CpModel()
    xs = [model.new_int_var(0, W - int(sw[i]), f"x{i}") for i in range(n)]
    ys = [model.new_int_var(0, H - int(sh[i]), f"y{i}") for i in range(n)]
    lit = [[model.new_bool_var(f"l{i}_{k}") for k in range(top[i] + 1)] for i in range(n)]
    used = [model.new_bool_var(f"u{k}") for k in range(ub)]
    per_bin_x: list[list] = [[] for _ in range(ub)]
    per_bin_y: list[list] = [[] for _ in range(ub)]
    per_bin_a: list[list] = [[] for _ in range(ub)]
    for i in checked(range(n), deadline, every=1):
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
    _hint_corners(model, xs, ys, hx, hy)
    return model, lambda solver, i: next(k for k, l in enumerate(lit[i]) if solver.boolean_value(l)), xs, ys


def _hint_corners(model, xs, ys, hx, hy) -> None:
    """Hint every item's corner."""
    for i in range(len(xs)):
        model.add_hint(xs[i], int(hx[i]))
        model.add_hint(ys[i], int(hy[i]))
