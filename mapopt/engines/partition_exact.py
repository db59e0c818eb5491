"""Exact methods for `Hypergraph` partitioning (CP-SAT and a HiGHS MILP) and minimum-cost matching.

Both models: ``x[v, j]`` vertex `v` in block `j`; ``y[e, j]`` net `e` kept by block `j`
(``y >= x`` for each pin; a single-pin net is ``x`` itself); ``n[b, j]`` OU slots with
``h n[b, j] >= sum of weights of bucket-b nets kept by j``; minimize ``sum n``. Blocks are
interchangeable, so block `j` may only open after block ``j - 1`` holds a smaller vertex.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..result import Status
from .bins import relabel_in_order
from .deadline import CHECK_EVERY, DeadlinePassed, checked, deadline_of, expired
from .partition import Hypergraph
from .solver import run_cpsat, run_milp


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
    `work_limit` a deterministic time limit (reproducible, unlike wall-clock time). `time_limit` covers
    building the model too: when it passes first, the result is UNKNOWN with bound `bound`."""
    deadline = deadline_of(time_limit)
    try:
        model, x = _cp_model(hg, bound, hint, deadline)
    except DeadlinePassed:
        return ExactResult(None, None, bound, Status.UNKNOWN)
    run = run_cpsat(model, deadline, seed, workers, work_limit, floor=bound)
    lb = int(run.bound) if math.isfinite(run.bound) else bound
    if not run.found:
        return ExactResult(None, None, lb, run.status)
    G = hg.n_blocks
    block = np.array([next(j for j in range(min(v, G - 1) + 1) if run.solver.value(x[v][j]))
                      for v in range(hg.n_vertices)])
    objective = hg.cost(block)[0]
    return ExactResult(block, objective, objective if run.status == Status.OPTIMAL else lb, run.status)


def _cp_model(hg: Hypergraph, bound: int, hint: np.ndarray | None, deadline: float | None):
    """The CP-SAT model and its ``x[v][j]`` literals; raises `DeadlinePassed` when `deadline` passes first."""
    from ortools.sat.python import cp_model

    m, G, B = hg.n_vertices, hg.n_blocks, hg.n_buckets
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{v}_{j}") if j <= v else None for j in range(G)] for v in checked(range(m), deadline)]
    for v in range(m):
        model.add_exactly_one(x[v][j] for j in range(min(v, G - 1) + 1))
    for j in range(G):
        col = [x[v][j] for v in range(j, m)]
        model.add(sum(col) <= hg.g)
        if j > 0:
            for v in checked(range(j, m), deadline):
                model.add_bool_or([x[u][j - 1] for u in range(j - 1, v)] + [x[v][j].Not()])
    load = [[[] for _ in range(G)] for _ in range(B)]
    pins = hg.pins.tocsr()
    for e in checked(range(pins.shape[0]), deadline):
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
        for j in checked(range(G), deadline):
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
    return model, x


def milp(hg: Hypergraph, time_limit: float | None = None, bound: int = 0) -> ExactResult:
    """Solve the same model with scipy's HiGHS MILP (``scipy.optimize.milp``), stopped for good
    shortly after `time_limit` (building the model included) if HiGHS does not stop by itself."""
    from scipy.optimize import Bounds, LinearConstraint

    deadline = deadline_of(time_limit)
    try:
        c, A, lo, hi = _milp_model(hg, deadline)
    except DeadlinePassed:
        return ExactResult(None, None, bound, Status.UNKNOWN)
    m, G = hg.n_vertices, hg.n_blocks
    nx, nn = m * G, hg.n_buckets * G
    integrality = np.ones(len(c))
    upper = np.concatenate([np.ones(len(c) - nn), np.full(nn, np.inf)])
    run = run_milp(c, constraints=LinearConstraint(A, lo, hi), integrality=integrality,
                   bounds=Bounds(np.zeros(len(c)), upper), deadline=deadline, integral=True, floor=bound)
    lb = int(run.bound) if math.isfinite(run.bound) else bound
    if run.x is None:  # infeasible, out of time, or stopped by the hard deadline
        return ExactResult(None, None, lb, run.status)
    block = np.argmax(run.x[:nx].reshape(m, G), axis=1)
    objective = hg.cost(block)[0]
    optimal = run.status == Status.OPTIMAL
    return ExactResult(block, objective, objective if optimal else min(lb, objective),
                       Status.OPTIMAL if optimal else Status.FEASIBLE)


def _milp_model(hg: Hypergraph, deadline: float | None):
    """Objective, constraint matrix and row bounds of the MILP (variables ``x``, ``y``, ``n``); raises
    `DeadlinePassed` when `deadline` passes while its rows are listed."""
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
        if r % CHECK_EVERY == 0 and expired(deadline):
            raise DeadlinePassed
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
    return np.concatenate([np.zeros(nx + ny), np.ones(nn)]), A, lo, hi
