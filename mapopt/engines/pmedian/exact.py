"""Exact p-median: a start, the Lagrangian bound and reduction, then HiGHS or CP-SAT on the sparsified
strong formulation of the cheaper solutions (the package docstring states the method)."""

from __future__ import annotations

import logging
import math

import numpy as np

from ...result import Status
from ..deadline import DeadlinePassed, checked, deadline_of, expired, time_left
from ..solver import run_cpsat, run_milp
from .bounds import Dual, dual_fits, lagrangian
from .costs import Medians, check_costs, evaluate, improvement_tol, is_integral, result_of, round_bound, trivial_bound
from .greedy import greedy_centers
from .reduction import PROBE_MIN_PAIRS, REDUCE_PER_PAIR, probe, reduce_pairs
from .restricted import FULL_LIST_ENTRIES, Restricted, initial_k
from .swap import SWAP_PASSES, init_centers, swap_search

log = logging.getLogger(__name__)

#: subgradient steps before an exact solve
DUAL_ITER = 1000
#: shares of the time left that the subgradient ascent and the probing may take before the model is solved
DUAL_SHARE, PROBE_SHARE = 0.2, 0.3
#: HiGHS stops at this relative gap (its default 1e-4 would leave float-cost optima unproven)
MIP_REL_GAP = 1e-9
#: seconds per (client, candidate) pair of building the restricted model, which no deadline stops (sorting
#: each client's candidates and indexing ``n x m`` arrays: measured 4.7e-8 s at 5,000 x 5,000, doubled)
RESTRICTED_PER_PAIR = 1e-7


def share(deadline: float | None, fraction: float) -> float | None:
    """The deadline after `fraction` of the time left to `deadline` (None: no limit)."""
    left = time_left(deadline)
    return deadline_of(None if left is None else fraction * left)


def _fits(deadline: float | None, seconds: float) -> bool:
    """Whether `seconds` of work fit in the time left to `deadline`."""
    left = time_left(deadline)
    return left is None or left >= seconds


def exact_solve(D: np.ndarray, p: int | None, f: np.ndarray | None, backend: str, deadline: float | None,
                seed: int, workers: int, hint, neighbours: int | None, dual: Dual | None = None,
                max_entries: int | None = None) -> Medians:
    """Exact solve: a start, the Lagrangian bound and reduction, then `backend` on the sparsified model
    of the cheaper solutions, widening lists until the answer is proven or `deadline` passes. With
    `max_entries`, a model larger than that is not solved (the start and the bound are returned); so
    is a phase no deadline can stop (the dual's first step, the reduction, the model's construction)
    whose estimated time exceeds the time left."""
    if hint is None:
        hint = swap_search(D, greedy_centers(D, p, f, deadline), f, seed, SWAP_PASSES, deadline)
    else:
        hint = init_centers(D, p, f, hint, seed)
    best, best_obj = np.sort(hint), evaluate(D, hint, f)[1]
    if dual is None:
        if not dual_fits(D, deadline):
            return result_of(D, best, f, round_bound(D, trivial_bound(D, f)))
        dual = lagrangian(D, p, f, best_obj, best, DUAL_ITER, share(deadline, DUAL_SHARE))
        if dual.best_set is not None and best_obj > dual.bound + improvement_tol(D, best_obj):
            # the dual's open set, improved by swaps, often beats the start (a better cut-off for the reduction)
            other = swap_search(D, dual.best_set, f, seed, SWAP_PASSES, deadline)
            if evaluate(D, other, f)[1] < best_obj:
                best, best_obj = np.sort(other), evaluate(D, other, f)[1]
    if dual.best_set is not None and dual.best_obj < best_obj:
        best, best_obj = dual.best_set, dual.best_obj
    bound = max(dual.bound, round_bound(D, trivial_bound(D, f)))
    tol = 0.0 if is_integral(D) else 1e-8 * max(1.0, abs(float(best_obj)))
    upper = best_obj  # the reduction keeps what may beat it, so a proven bound is min(upper, model bound)
    if best_obj > bound + tol and not _fits(deadline, REDUCE_PER_PAIR * D.size):
        return result_of(D, best, f, bound, tol)
    reduced = None if best_obj <= bound + tol else reduce_pairs(D, p, f, dual, upper)
    if reduced is None:  # no cheaper solution exists
        return result_of(D, best, f, max(bound, float(upper)) if best_obj > bound + tol else bound, tol)
    allowed, fixed = reduced
    if int(allowed.sum()) >= PROBE_MIN_PAIRS:
        fixed = probe(D, p, f, allowed, fixed, dual.lam, upper, share(deadline, PROBE_SHARE))
        allowed &= (fixed != 0)[None, :]
        if not allowed.any(axis=1).all() or (p is not None and ((fixed == 1).sum() > p or (fixed != 0).sum() < p)):
            return result_of(D, best, f, max(bound, float(upper)), tol)  # no cheaper solution exists
    if not _fits(deadline, RESTRICTED_PER_PAIR * D.size):
        return result_of(D, best, f, bound, tol)
    full = neighbours is None and int(allowed.sum()) <= FULL_LIST_ENTRIES
    model = Restricted(D, p, f, D.shape[1] if full else initial_k(D, best, f, neighbours), allowed, fixed)
    log.debug("%s: reduced to %d pairs, %d free candidates", backend, int(allowed.sum()), int((fixed != 0).sum()))
    while (max_entries is None or model.entries <= max_entries) and not expired(deadline):
        if backend == "milp":
            centers, rbound, solved, stol = _milp_restricted(model, deadline)
        else:
            centers, rbound, solved, stol = _cpsat_restricted(model, deadline, seed, workers, best, upper)
        tol = max(tol, stol)
        # a model bound at upper (integers: above upper - 1) means no cheaper solution exists
        at_upper = rbound >= float(upper) - (0.5 if is_integral(D) else tol)
        bound = max(bound, float(upper) if at_upper else round_bound(D, rbound))
        if centers is not None:
            obj = evaluate(D, centers, f)[1]
            if obj < best_obj:
                best, best_obj = np.sort(centers), obj
        log.debug("%s: %d entries, bound %s, solved %s", backend, model.entries, rbound, solved)
        if best_obj <= bound + tol or not solved or centers is None or not model.widen(centers):
            break
    return result_of(D, best, f, bound, tol)


def _milp_restricted(model: Restricted, deadline: float | None):
    """HiGHS on the restricted model: open set (or None), proven bound (inf when infeasible: no cheaper
    solution), whether it finished, and the tolerance of its optimality (relative gap `MIP_REL_GAP`)."""
    from scipy.optimize import Bounds, LinearConstraint

    c, A, lo, hi, vlo, vhi = model.matrices()
    m = model.D.shape[1]
    integrality = np.zeros(len(c))
    integrality[:m] = 1
    run = run_milp(c, constraints=LinearConstraint(A, lo, hi), integrality=integrality, bounds=Bounds(vlo, vhi),
                   deadline=deadline, options={"presolve": True, "mip_rel_gap": MIP_REL_GAP})
    if run.status == Status.INFEASIBLE:
        return None, math.inf, True, 0.0
    if run.x is None:
        return None, run.bound, False, 0.0
    tol = 0.0 if is_integral(model.D) else 2 * MIP_REL_GAP * max(1.0, abs(run.objective))
    centers = np.flatnonzero(run.x[:m] > 0.5)
    if model.p is not None and len(centers) != model.p:  # rounding noise; keep the start
        return None, run.bound, False, 0.0
    return centers, run.bound, run.status == Status.OPTIMAL, tol


def _scale(model: Restricted) -> float:
    """Integer costs stay; floats are scaled by a power of two and floored (so the bound stays valid)."""
    if is_integral(model.D):
        return 1.0
    vals = np.abs(np.concatenate([model.cost, model.zcost, model.f if model.f is not None else []]))
    top = float(vals.max()) if len(vals) else 1.0
    return 2.0 ** math.floor(math.log2((2.0 ** 50) / (max(top, 1e-300) * (len(model.D) + model.D.shape[1] + 1))))


def _cpsat_restricted(model: Restricted, deadline: float | None, seed: int, workers: int, hint: np.ndarray,
                      upper: float):
    """CP-SAT on the restricted model, with a complete hint and the cut ``cost < upper``: open set, bound
    (inf when infeasible), whether it finished, and the rounding tolerance of float costs. Gives up
    (no solution, no bound) when `deadline` passes while the model is built."""
    n, m = model.D.shape
    scale = _scale(model)
    tol = 0.0 if scale == 1.0 else (n + m + 1) / scale
    try:
        cm, y = _cp_model(model, scale, hint, upper, deadline)
    except DeadlinePassed:
        return None, -math.inf, False, tol
    # the LP of x <= y is what proves p-median optima; at the default level 1 the bound stalls
    run = run_cpsat(cm, deadline, seed, workers, integral=False, linearization_level=2)
    if run.status == Status.INFEASIBLE:
        return None, math.inf, True, 0.0
    if not run.found:
        return None, -math.inf, False, tol
    centers = np.flatnonzero([run.solver.value(v) for v in y])
    return centers, run.bound / scale, run.status == Status.OPTIMAL, tol


def _cp_model(model: Restricted, scale: float, hint: np.ndarray, upper: float, deadline: float | None):
    """The CP-SAT model of `model` with costs scaled by `scale`, and its ``y`` literals; raises
    `DeadlinePassed` when `deadline` passes while it is built."""
    from ortools.sat.python import cp_model

    D, n, m = model.D, len(model.D), model.D.shape[1]
    cost = np.floor(model.cost * scale).astype(np.int64)
    zcost = np.floor(model.zcost * scale).astype(np.int64)
    fcost = None if model.f is None else np.floor(model.f * scale).astype(np.int64)
    cm = cp_model.CpModel()
    y = [cm.new_bool_var(f"y{j}") for j in range(m)]
    x = [cm.new_bool_var(f"x{e}") for e in checked(range(model.entries), deadline)]
    z = {int(i): cm.new_bool_var(f"z{i}") for i in model.zrow}
    starts = np.searchsorted(model.row, np.arange(n + 1))
    for i in checked(range(n), deadline):
        cm.add_exactly_one(x[starts[i]:starts[i + 1]] + ([z[i]] if i in z else []))
    for e in checked(range(model.entries), deadline):
        cm.add_implication(x[e], y[int(model.col[e])])
    for j in np.flatnonzero(model.fixed >= 0):
        cm.add(y[j] == int(model.fixed[j]))
    if model.p is not None:
        cm.add(cp_model.LinearExpr.sum(y) == model.p)
    else:
        cm.add(cp_model.LinearExpr.sum(y) >= 1)
    terms = x + [z[int(i)] for i in model.zrow] + (y if fcost is not None else [])
    coeffs = np.concatenate([cost, zcost] + ([fcost] if fcost is not None else [])).tolist()
    objective = cp_model.LinearExpr.weighted_sum(terms, coeffs)
    cm.minimize(objective)
    # only cheaper solutions matter (the reduction removed the rest)
    cut = upper - 1 if is_integral(D) else upper - 1e-9 * max(1.0, abs(upper))
    cm.add(objective <= int(math.floor(cut * scale)))
    # a complete hint: the open set, each client's kept centre or its catch-all
    is_open = np.zeros(m, dtype=bool)
    is_open[hint] = True
    assign, _ = evaluate(D, hint, model.f)
    for j in range(m):
        cm.add_hint(y[j], bool(is_open[j]))
    chosen = np.zeros(model.entries, dtype=bool)
    pick = model.col == assign[model.row]
    first = np.unique(model.row[pick], return_index=True)[1]
    chosen[np.flatnonzero(pick)[first]] = True
    covered = np.zeros(n, dtype=bool)
    covered[model.row[chosen]] = True
    for e in checked(range(model.entries), deadline):
        cm.add_hint(x[e], bool(chosen[e]))
    for i, v in z.items():
        cm.add_hint(v, not covered[i])
    return cm, y


def milp(D, p: int | None, time_limit: float | None = None, hint=None, neighbours: int | None = None, *,
         f=None) -> Medians:
    """Exact p-median (or facility location, with `f`) by HiGHS on the reduced, sparsified strong formulation.

    `hint` (candidate indices) replaces the greedy + FasterPAM start; `neighbours` fixes the first
    list length (default: every pair the Lagrangian reduction keeps, when at most
    `FULL_LIST_ENTRIES`, else twice the rank of each client's centre in the start). On the time
    limit (model building included) the best solution and the proven bound are returned with status FEASIBLE.
    """
    D, p, f = check_costs(D, p, f)
    return exact_solve(D, p, f, "milp", deadline_of(time_limit), 0, 1, hint, neighbours)


def cpsat(D, p: int | None, time_limit: float | None = None, seed: int = 0, workers: int = 1, hint=None,
          neighbours: int | None = None, *, f=None) -> Medians:
    """Exact p-median (or facility location) by CP-SAT on the same model as `milp`, with a complete hint.

    Float costs are scaled by a power of two and floored, so the bound stays valid; OPTIMAL then means
    within ``(n + m + 1) / scale`` of the bound.
    """
    D, p, f = check_costs(D, p, f)
    return exact_solve(D, p, f, "cpsat", deadline_of(time_limit), seed, workers, hint, neighbours)
