"""Exact methods for `Hypergraph` partitioning (CP-SAT and a HiGHS MILP) and minimum-cost matching.

Both models: ``x[v, j]`` vertex `v` in block `j`; ``y[e, j]`` net `e` kept by block `j`
(``y >= x`` for each pin; a single-pin net is ``x`` itself); ``n[b, j]`` OU slots with
``h n[b, j] >= sum of weights of bucket-b nets kept by j``; minimize ``sum n``. Blocks are
interchangeable, so block `j` may only open after block ``j - 1`` holds a smaller vertex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..result import Status
from .bins import relabel_in_order
from .deadline import call_with_deadline
from .partition import Hypergraph


@dataclass(frozen=True)
class ExactResult:
    """Best assignment found (or None), its OU slots, the proven lower bound and the status."""

    block: np.ndarray | None
    objective: int | None
    bound: int
    status: Status


def cpsat(hg: Hypergraph, time_limit: float | None = None, seed: int = 0, workers: int = 1,
          hint: np.ndarray | None = None, bound: int = 0, work_limit: float | None = None) -> ExactResult:
    """Solve with OR-Tools CP-SAT; `hint` is a complete assignment, `bound` a known lower bound,
    `work_limit` a deterministic time limit (reproducible, unlike wall-clock time)."""
    from ortools.sat.python import cp_model

    m, G, B = hg.n_vertices, hg.n_blocks, hg.n_buckets
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{v}_{j}") if j <= v else None for j in range(G)] for v in range(m)]
    for v in range(m):
        model.add_exactly_one(x[v][j] for j in range(min(v, G - 1) + 1))
    for j in range(G):
        col = [x[v][j] for v in range(j, m)]
        model.add(sum(col) <= hg.g)
        if j > 0:
            for v in range(j, m):
                model.add_bool_or([x[u][j - 1] for u in range(j - 1, v)] + [x[v][j].Not()])
    load = [[[] for _ in range(G)] for _ in range(B)]
    pins = hg.pins.tocsr()
    for e in range(pins.shape[0]):
        vs = pins.indices[pins.indptr[e]:pins.indptr[e + 1]]
        b, w = int(hg.bucket[e]), int(hg.weight[e])
        for j in range(G):
            xs = [x[v][j] for v in vs if x[v][j] is not None]
            if not xs:
                continue
            if len(xs) == 1:
                load[b][j].append(w * xs[0])
                continue
            y = model.new_bool_var(f"y{e}_{j}")
            for xv in xs:
                model.add_implication(xv, y)
            model.add_bool_or([y.Not(), *xs])
            load[b][j].append(w * y)
    slots = []
    for b in range(B):
        for j in range(G):
            if load[b][j]:
                n = model.new_int_var(0, int(hg.weight[hg.bucket == b].sum()), f"n{b}_{j}")
                model.add(hg.h * n >= sum(load[b][j]))
                slots.append(n)
    total = sum(slots)
    model.add(total >= bound)
    model.minimize(total)
    if hint is not None:
        for v, j in enumerate(relabel_in_order(hint)):
            for jj in range(min(v, G - 1) + 1):
                model.add_hint(x[v][jj], jj == j)
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = float(time_limit)
    if work_limit is not None:
        solver.parameters.max_deterministic_time = float(work_limit)
    code = solver.solve(model)
    status = {cp_model.OPTIMAL: Status.OPTIMAL, cp_model.FEASIBLE: Status.FEASIBLE,
              cp_model.INFEASIBLE: Status.INFEASIBLE}.get(code, Status.UNKNOWN)
    lb = max(bound, int(np.ceil(solver.best_objective_bound - 1e-6))) if status != Status.INFEASIBLE else bound
    if status not in (Status.OPTIMAL, Status.FEASIBLE):
        return ExactResult(None, None, lb, status)
    block = np.array([next(j for j in range(min(v, G - 1) + 1) if solver.value(x[v][j])) for v in range(m)])
    objective = hg.cost(block)[0]
    return ExactResult(block, objective, objective if status == Status.OPTIMAL else lb, status)


def milp(hg: Hypergraph, time_limit: float | None = None, bound: int = 0) -> ExactResult:
    """Solve the same model with scipy's HiGHS MILP (``scipy.optimize.milp``), stopped for good
    shortly after `time_limit` if HiGHS does not stop by itself."""
    from scipy.optimize import Bounds, LinearConstraint

    m, G, B = hg.n_vertices, hg.n_blocks, hg.n_buckets
    pins = hg.pins.tocoo()
    E = hg.pins.shape[0]
    nx, ny, nn = m * G, E * G, B * G
    X = lambda v, j: v * G + j  # noqa: E731
    Y = lambda e, j: nx + e * G + j  # noqa: E731
    N = lambda b, j: nx + ny + b * G + j  # noqa: E731
    rows, cols, vals, lo, hi = [], [], [], [], []

    def add(entries, low, high):
        r = len(lo)
        for c, v in entries:
            rows.append(r), cols.append(c), vals.append(v)
        lo.append(low), hi.append(high)

    for v in range(m):
        add([(X(v, j), 1) for j in range(G)], 1, 1)
    for j in range(G):
        add([(X(v, j), 1) for v in range(m)], 0, hg.g)
        if j > 0:
            for v in range(j, m):  # block j opens only after block j-1 holds a smaller vertex
                add([(X(v, j), 1)] + [(X(u, j - 1), -1) for u in range(j - 1, v)], -np.inf, 0)
    for v in range(m):
        for j in range(v + 1, G):
            add([(X(v, j), 1)], 0, 0)
    for e, v in zip(pins.row, pins.col):
        for j in range(G):
            add([(Y(e, j), 1), (X(v, j), -1)], 0, np.inf)
    for b in range(B):
        nets = np.flatnonzero(hg.bucket == b)
        for j in range(G):
            add([(N(b, j), hg.h)] + [(Y(e, j), -int(hg.weight[e])) for e in nets], 0, np.inf)
    A = sp.csr_matrix((vals, (rows, cols)), shape=(len(lo), nx + ny + nn))
    c = np.concatenate([np.zeros(nx + ny), np.ones(nn)])
    integrality = np.ones(nx + ny + nn)
    upper = np.concatenate([np.ones(nx + ny), np.full(nn, np.inf)])
    options = {"disp": False} | ({"time_limit": float(time_limit)} if time_limit is not None else {})
    done, res = call_with_deadline(_highs, time_limit, c, LinearConstraint(A, lo, hi), integrality,
                                   Bounds(np.zeros(nx + ny + nn), upper), options)
    if not done:  # HiGHS ran far past its limit and was stopped
        return ExactResult(None, None, bound, Status.UNKNOWN)
    dual = getattr(res, "mip_dual_bound", None)
    lb = max(bound, int(np.ceil(dual - 1e-6))) if dual is not None and np.isfinite(dual) else bound
    if res.x is None:
        return ExactResult(None, None, lb, Status.INFEASIBLE if res.status == 2 else Status.UNKNOWN)
    block = np.argmax(res.x[:nx].reshape(m, G), axis=1)
    objective = hg.cost(block)[0]
    optimal = res.status == 0
    return ExactResult(block, objective, objective if optimal else min(lb, objective),
                       Status.OPTIMAL if optimal else Status.FEASIBLE)


def _highs(c, constraints, integrality, bounds, options):
    """`scipy.optimize.milp` with positional arguments (for `call_with_deadline`)."""
    from scipy.optimize import milp

    return milp(c, constraints=constraints, integrality=integrality, bounds=bounds, options=options)


def min_cost_matching(cost: np.ndarray, exact: bool = True) -> list[tuple[int, int]]:
    """Pairs ``(a, b)`` covering every unit once (``b = -1``: alone, at cost ``cost[a, a]``), minimizing total cost.

    Exact: a perfect-matching MILP (HiGHS) on the complete graph, with a zero-cost dummy
    when the count is odd. Otherwise greedy: cheapest pair first.
    """
    V = len(cost)
    if not exact:
        return _greedy_matching(cost)
    from scipy.optimize import LinearConstraint, milp as highs

    odd = V % 2
    n = V + odd
    iu, ju = np.triu_indices(n, 1)
    full = np.zeros((n, n))
    full[:V, :V] = cost
    if odd:
        full[:V, V] = np.diag(cost)
    c = full[iu, ju]
    A = sp.csr_matrix((np.ones(2 * len(iu)), (np.concatenate([iu, ju]), np.tile(np.arange(len(iu)), 2))),
                      shape=(n, len(iu)))
    res = highs(c, constraints=LinearConstraint(A, 1, 1), integrality=np.ones(len(iu)), bounds=(0, 1),
                options={"disp": False})
    chosen = np.flatnonzero(res.x > 0.5)
    return [(int(iu[k]), int(ju[k]) if ju[k] < V else -1) for k in chosen]


def _greedy_matching(cost: np.ndarray) -> list[tuple[int, int]]:
    V = len(cost)
    iu, ju = np.triu_indices(V, 1)
    gain = np.diag(cost)[iu] + np.diag(cost)[ju] - cost[iu, ju]
    used, pairs = np.zeros(V, bool), []
    for k in np.argsort(-gain, kind="stable"):
        a, b = iu[k], ju[k]
        if not used[a] and not used[b]:
            used[a] = used[b] = True
            pairs.append((int(a), int(b)))
    pairs += [(int(a), -1) for a in np.flatnonzero(~used)]
    return pairs
