"""Set-partitioning LP bound for `Hypergraph` partitioning, by column generation.

Call `set_partition_bound` for a lower bound on OU slots far stronger than the sorted-maximum, degree and
matching bounds at ``g >= 4`` (and, where the LP is nearly integral, a proven optimum).

Columns are groups ``S`` of at most ``g`` vertices with their exact cost ``c(S) = sum_b ceil(L_b(S) / h)``
(the ceilings stay in). The master LP is ``min c x`` subject to every vertex covered once and at most ``G``
groups (``x >= 0``). With duals ``pi`` (cover rows) and ``mu <= 0`` (group count) every partition costs at
least ``sum pi + G mu + G min(0, min_S rc(S))``, ``rc(S) = c(S) - pi(S) - mu`` (`lagrangian_bound`; the
derivation is in ``formulations/filter_ordering.md``), so the bound is valid at any iteration as long as the
minimum reduced cost is bounded from below exactly: by pricing every group where they are few
(`MAX_ENUMERATED`, more when time allows), else by CP-SAT's proven bound on the pricing problem.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .deadline import DeadlinePassed, checked, deadline_of, expired, time_left
from .partition import Hypergraph, check_blocks

#: groups of at most `g` vertices up to which every group is costed once and priced at every iteration (exact
#: pricing; 64 vertices at g = 4 are 679,121 groups, costed in about a second)
MAX_ENUMERATED = 1_500_000
#: groups up to which they are enumerated when the time left allows (`SECONDS_PER_GROUP`): 32 vertices at g = 8
#: are 15 million (about 0.5 GB)
LARGE_ENUMERATED = 16_000_000
#: seconds to list and cost one group (measured: 15 million groups of 32 filters at g = 8 in 13 s on 2 cores);
#: a large enumeration needs twice its estimate to be left, so that pricing iterations follow
SECONDS_PER_GROUP = 1e-6
#: groups costed per chunk (memory: chunk x g x words of 8 bytes)
CHUNK = 65_536
#: reduced costs below this are negative (HiGHS's dual feasibility tolerance is 1e-7)
RC_TOL = 1e-6
#: columns added per pricing round at most (the most negative ones)
ADD_PER_ROUND = 64
#: scale of the dual values in the integer CP-SAT pricing objective (rounded up: its bound stays valid)
CP_SCALE = 1_000_000
#: absolute gap at which HiGHS stops a MILP over columns: costs are integers, so an incumbent less than one above
#: the bound is optimal (the default 1e-6 keeps branching to lift a bound of 657.2 to 658)
INTEGER_GAP = 0.99
#: deterministic time one CP-SAT pricing call may take at most (so a seed fixes the result without a limit)
CP_WORK = 20.0


class GroupCost:
    """Exact OU slots and kept rows of many groups at once: each vertex's nets as bits, a net of weight `w`
    as `w` bits, each bucket in whole 64-bit words, so a group's rows are popcounts of an OR."""

    def __init__(self, hg: Hypergraph):
        self.h, self.g, self.m = hg.h, hg.g, hg.n_vertices
        pins = hg.pins.tocsc()
        words, spans = [], []
        for b in range(hg.n_buckets):
            nets = np.flatnonzero(hg.bucket == b)
            w = hg.weight[nets]
            width = 64 * max(1, math.ceil(int(w.sum()) / 64))
            bits = np.zeros((self.m + 1, width), dtype=bool)  # row m: the empty padding vertex
            start = np.concatenate([[0], np.cumsum(w)[:-1]])
            sub = pins[nets].tocoo()
            for k in range(int(w.max(initial=0))):  # net e fills bits start[e] .. start[e] + w[e] - 1
                take = w[sub.row] > k
                bits[sub.col[take], start[sub.row[take]] + k] = True
            packed = np.packbits(bits, axis=1, bitorder="little").view(np.uint64)
            spans.append(packed.shape[1])
            words.append(packed)
        self.bits = np.concatenate(words, axis=1)
        self.starts = np.concatenate([[0], np.cumsum(spans)[:-1]])

    def rows(self, groups: np.ndarray, deadline: float | None = None) -> np.ndarray:
        """Kept rows per bucket of each group (``k x buckets``); `groups` is ``k x g``, padded with -1. Raises
        `DeadlinePassed` when `deadline` passes (looked at between chunks of `CHUNK` groups)."""
        out = []
        for at in checked(range(0, len(groups), CHUNK), deadline, every=1):
            union = np.bitwise_or.reduce(self.bits[groups[at:at + CHUNK]], axis=1)
            out.append(np.add.reduceat(np.bitwise_count(union).astype(np.int64), self.starts, axis=1))
        return np.concatenate(out) if out else np.zeros((0, len(self.starts)), dtype=np.int64)

    def slots(self, groups: np.ndarray, deadline: float | None = None) -> np.ndarray:
        """OU slots of each group."""
        return -(-self.rows(groups, deadline) // self.h).sum(axis=1)


def all_groups(m: int, g: int) -> np.ndarray:
    """Every group of 1 to `g` of `m` vertices, ascending, as rows padded with -1 (``k x g``)."""
    dtype = np.int16 if m < 2 ** 15 else np.int64
    parts = []
    for size in range(1, min(g, m) + 1):
        flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(m), size)), dtype=dtype)
        rows = flat.reshape(-1, size)
        parts.append(np.concatenate([rows, np.full((len(rows), g - size), -1, dtype)], axis=1))
    return np.concatenate(parts) if parts else np.zeros((0, g), dtype)


def count_groups(m: int, g: int) -> int:
    return sum(math.comb(m, k) for k in range(1, min(g, m) + 1))


def pricing(m: int, g: int, time_limit: float | None = None) -> str:
    """How `set_partition_bound` prices `m` vertices in groups of `g` within `time_limit` seconds: ``"exact"``
    (every group enumerated: up to `MAX_ENUMERATED`, or `LARGE_ENUMERATED` when the time allows), ``"halved"``
    (groups of ``ceil(g / 2)`` enumerated, half their bound) or ``"search"`` (greedy and swaps, CP-SAT bounding
    the reduced costs)."""
    count = count_groups(m, g)
    if count <= MAX_ENUMERATED or (count <= LARGE_ENUMERATED and (
            time_limit is None or 2 * count * SECONDS_PER_GROUP <= time_limit)):
        return "exact"
    half = math.ceil(g / 2)
    return "halved" if half >= 3 and count_groups(m, half) <= MAX_ENUMERATED else "search"


def lagrangian_bound(pi: np.ndarray, mu: float, n_blocks: int, rc_min: float) -> float:
    """``sum pi + G mu + G min(0, rc_min)`` with ``mu <= 0``: no partition costs less, for any duals, when
    `rc_min` is at most every group's reduced cost ``c(S) - pi(S) - mu``."""
    return float(pi.sum()) + n_blocks * min(mu, 0.0) + n_blocks * min(0.0, rc_min)


@dataclass(frozen=True)
class SetPartitionBound:
    """The proven `bound` (OU slots), the last master LP value `lp`, the best grouping found (`block`, None if
    none beat the start) and its cost, whether pricing proved the LP optimal (`lp_optimal`), iterations and
    columns generated."""

    bound: int
    lp: float
    block: np.ndarray | None
    objective: int | None
    lp_optimal: bool
    iterations: int
    columns: int


class _Columns:
    """The restricted master's columns: groups (sorted, padded) with their costs, without duplicates."""

    def __init__(self, g: int):
        self.g, self.groups, self.cost, self.seen = g, [], [], set()

    def add(self, groups: np.ndarray, costs: np.ndarray) -> int:
        added = 0
        for grp, c in zip(groups, costs):
            key = tuple(sorted(int(v) for v in grp if v >= 0))
            if key and key not in self.seen:
                self.seen.add(key)
                self.groups.append(key)
                self.cost.append(int(c))
                added += 1
        return added

    def matrix(self, m: int) -> sp.csr_matrix:
        cols = np.repeat(np.arange(len(self.groups)), [len(k) for k in self.groups])
        rows = np.fromiter(itertools.chain.from_iterable(self.groups), dtype=np.int64)
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, len(self.groups)))


def _padded(groups, g: int) -> np.ndarray:
    out = np.full((len(groups), g), -1, dtype=np.int64)
    for i, grp in enumerate(groups):
        out[i, :len(grp)] = grp
    return out


def _master(cols: _Columns, m: int, G: int, deadline: float | None):
    """Restricted master LP (HiGHS): value, cover duals, group-count dual (<= 0) and the solution; None when
    `deadline` passes first."""
    from scipy.optimize import linprog

    A = cols.matrix(m)
    left = time_left(deadline)
    res = linprog(np.array(cols.cost, dtype=float), A_ub=np.ones((1, A.shape[1])), b_ub=[G], A_eq=A,
                  b_eq=np.ones(m), bounds=(0, None), method="highs",
                  options={} if left is None else {"time_limit": max(left, 1e-3)})
    if res.status != 0:  # the start makes it feasible, and costs are nonnegative: only the time limit
        return None
    return float(res.fun), np.asarray(res.eqlin.marginals), min(0.0, float(res.ineqlin.marginals[0])), res.x


def set_partition_bound(hg: Hypergraph, start: np.ndarray, time_limit: float | None = None, seed: int = 0,
                        integer: bool = True, bound: int = 0) -> SetPartitionBound:
    """A lower bound on OU slots from the set-partitioning LP, by column generation from the groups of `start`
    (a block assignment) and the singletons; with `integer`, the best grouping a HiGHS MILP over the columns finds.

    Pricing enumerates every group while there are at most `MAX_ENUMERATED` (exact: the LP bound, and with
    `integer` a proven optimum where the groups a cheaper partition could use are few). Above that, with groups
    of half the size enumerable (``ceil(g / 2) >= 3``), the bound is half that of the problem with groups of
    ``ceil(g / 2)`` and twice the blocks: a group's slots are at least the mean of its two halves'. Otherwise a
    greedy and swap search prices, and CP-SAT bounds the most negative reduced cost when it finds no column (the
    Lagrangian bound). `time_limit` covers everything; the result is never below `bound`, a bound known before.
    """
    deadline = deadline_of(time_limit)
    start = check_blocks(hg, start)
    m, g, G = hg.n_vertices, hg.g, hg.n_blocks
    groups = [np.flatnonzero(start == j) for j in range(G)]
    groups = [grp for grp in groups if len(grp)]
    half = math.ceil(g / 2)
    kind = pricing(m, g, time_left(deadline))
    if kind == "halved":
        relaxed = Hypergraph(hg.pins, hg.weight, hg.bucket, hg.n_buckets, half, hg.h)
        halves = [part for grp in groups for part in (grp[:half], grp[half:]) if len(part)]
        res = column_generation(relaxed, halves, 2 * G, deadline, seed, integer=False)
        if not res.iterations:
            return _nothing(bound)
        return SetPartitionBound(max(bound, math.ceil(res.bound / 2 - 1e-9)), res.lp / 2, None, None, False,
                                 res.iterations, res.columns)
    return column_generation(hg, groups, G, deadline, seed, integer, bound, enumerate_all=kind == "exact")


def _nothing(bound: int) -> SetPartitionBound:
    return SetPartitionBound(bound, math.nan, None, None, False, 0, 0)


def column_generation(hg: Hypergraph, start: list[np.ndarray], blocks: int, deadline: float | None = None,
                      seed: int = 0, integer: bool = True, bound: int = 0,
                      enumerate_all: bool | None = None) -> SetPartitionBound:
    """Column generation on the set-partitioning LP with at most `blocks` groups, from the groups `start` (at
    most `blocks` of at most ``g``: the master is feasible) and the singletons; see `set_partition_bound`.
    `enumerate_all`: price by enumerating every group (default: while there are at most `MAX_ENUMERATED`)."""
    m, g = hg.n_vertices, hg.g
    if len(start) > blocks or any(len(grp) > g for grp in start):
        raise ValueError(f"the start must have at most {blocks} groups of at most {g}")
    try:
        if enumerate_all is None:
            enumerate_all = count_groups(m, g) <= MAX_ENUMERATED
        state = _State(hg, deadline, seed, enumerate_all)
    except DeadlinePassed:
        return _nothing(bound)
    cols = _Columns(g)
    initial = _padded(list(start) + [[v] for v in range(m)], g)
    cols.add(initial, state.costs.slots(initial))
    best_cost = int(sum(cols.cost[:len(start)]))
    lb, lp, it, proven, pi, mu = float(bound), math.inf, 0, False, None, 0.0
    while not expired(deadline):
        it += 1
        master = _master(cols, m, blocks, deadline)
        if master is None:
            break
        lp, pi, mu, _ = master
        try:
            new, newc, rc_lb = state.price(pi, mu)
        except DeadlinePassed:
            break
        if rc_lb is not None:
            lb = max(lb, lagrangian_bound(pi, mu, blocks, rc_lb))
            proven = rc_lb >= -RC_TOL - (0 if state.every is not None else g / CP_SCALE)
        if proven or math.ceil(lb - 1e-6) >= best_cost or not len(new) or not cols.add(new, newc):
            break
    final = int(math.ceil(lb - 1e-6))
    block, objective = None, None
    if integer and pi is not None and final < best_cost and not expired(deadline):
        found = _integer(state, cols, m, blocks, best_cost, final, pi, mu, deadline)
        if found is not None:
            grouping, cost, optimal = found
            if grouping is not None:
                block, objective = np.empty(m, dtype=np.int64), cost
                for j, grp in enumerate(grouping):
                    block[list(grp)] = j
            if optimal:
                final = max(final, cost)
    return SetPartitionBound(final, lp, block, objective, proven, it, len(cols.groups))


class _State:
    """Pricing state: the group costs, and every group with its cost when they are few enough."""

    def __init__(self, hg: Hypergraph, deadline: float | None, seed: int, enumerate_all: bool):
        self.hg, self.deadline, self.seed = hg, deadline, seed
        self.costs = GroupCost(hg)
        self.every = self.every_cost = None
        if enumerate_all:
            self.every = all_groups(hg.n_vertices, hg.g)
            self.every_cost = self.costs.slots(self.every, deadline).astype(np.int32)
        self.cp = None

    def reduced(self, groups: np.ndarray, costs: np.ndarray, pi: np.ndarray, mu: float) -> np.ndarray:
        ext = np.concatenate([pi, [0.0]])
        rc = costs - mu - ext[groups[:, 0]]
        for k in range(1, groups.shape[1]):
            rc -= ext[groups[:, k]]
        return rc

    def price(self, pi: np.ndarray, mu: float):
        """Columns of negative reduced cost (at most `ADD_PER_ROUND`), their costs, and a proven lower bound
        on every column's reduced cost (None: none proven)."""
        if self.every is not None:
            rc = self.reduced(self.every, self.every_cost, pi, mu)
            pick = np.flatnonzero(rc < -RC_TOL)
            if len(pick) > ADD_PER_ROUND:
                pick = pick[np.argpartition(rc[pick], ADD_PER_ROUND)[:ADD_PER_ROUND]]
            pick = pick[np.argsort(rc[pick], kind="stable")]
            return self.every[pick], self.every_cost[pick], float(rc.min())
        groups, costs = _greedy_columns(self.costs, pi, mu)
        if len(groups):
            return groups, costs, None
        return self.price_exact(pi, mu)

    def price_exact(self, pi, mu):
        """CP-SAT on the pricing problem: its best column if negative, and its proven bound."""
        if self.cp is None:
            self.cp = _PricingModel(self.hg, self.deadline)
        grp, bound = self.cp.solve(pi, mu, self.deadline, self.seed)
        if grp is None or not len(grp):
            return np.zeros((0, self.hg.g), np.int64), np.zeros(0, np.int64), bound
        groups = _padded([grp], self.hg.g)
        costs = self.costs.slots(groups)
        rc = self.reduced(groups, costs, pi, mu)
        keep = rc < -RC_TOL
        return groups[keep], costs[keep], bound


def _greedy_columns(costs: GroupCost, pi: np.ndarray, mu: float):
    """Heuristic pricing: from every vertex, add the vertex lowering the reduced cost most, up to `g`; then
    best single swaps from the best of them. Every negative group met, most negative first."""
    m, g = costs.m, costs.g
    ext = np.concatenate([pi, [0.0]])
    members = np.full((m, g), -1, dtype=np.int64)
    members[:, 0] = np.arange(m)
    found = [members.copy()]
    for k in range(1, g):
        trial = np.repeat(members, m, axis=0)
        trial[:, k] = np.tile(np.arange(m), m)
        rc = costs.slots(trial) - ext[trial].sum(axis=1) - mu
        rc[(trial[:, :k] == trial[:, k:k + 1]).any(axis=1)] = np.inf
        best = rc.reshape(m, m).argmin(axis=1)
        members = trial.reshape(m, m, g)[np.arange(m), best]
        found.append(members.copy())
    groups = np.concatenate(found)
    rc = costs.slots(groups) - ext[groups].sum(axis=1) - mu
    order = np.argsort(rc, kind="stable")[:ADD_PER_ROUND]
    polished = [_swap_descent(costs, groups[i].copy(), ext, mu) for i in order[:4]]
    groups = np.concatenate([np.array(polished), groups[order]]) if polished else groups[order]
    c = costs.slots(groups)
    rc = c - ext[groups].sum(axis=1) - mu
    keep = np.argsort(rc, kind="stable")
    keep = keep[rc[keep] < -RC_TOL]
    return groups[keep], c[keep]


def _swap_descent(costs: GroupCost, grp: np.ndarray, ext: np.ndarray, mu: float) -> np.ndarray:
    """Best replacement of one member (or an empty place) by an outside vertex, until none lowers the reduced
    cost."""
    m, g = costs.m, costs.g
    rc_now = float(costs.slots(grp[None])[0] - ext[grp].sum() - mu)
    while True:
        trial = np.repeat(grp[None], g * (m + 1), axis=0)
        trial[np.arange(len(trial)), np.repeat(np.arange(g), m + 1)] = np.tile(np.arange(-1, m), g)
        inside = np.array([(row[row >= 0][:, None] == row[row >= 0][None, :]).sum() > (row >= 0).sum()
                           for row in trial])
        rc = costs.slots(trial) - ext[trial].sum(axis=1) - mu
        rc[inside | ((trial >= 0).sum(axis=1) == 0)] = np.inf
        k = int(np.argmin(rc))
        if rc[k] >= rc_now - 1e-9:
            return grp
        grp, rc_now = trial[k], float(rc[k])


class _PricingModel:
    """The pricing problem in CP-SAT, built once: ``z_v`` vertex in the group, ``y_e >= z_v`` for the pins of
    net `e`, ``h n_b >= weighted kept rows of bucket b``, ``1 <= sum z <= g``; the objective (reduced cost,
    duals rounded up to ``1 / CP_SCALE``: a lower bound on the true one) is set per call."""

    def __init__(self, hg: Hypergraph, deadline: float | None):
        from ortools.sat.python import cp_model

        self.model = model = cp_model.CpModel()
        m = hg.n_vertices
        self.z = [model.new_bool_var(f"z{v}") for v in range(m)]
        model.add(sum(self.z) <= hg.g)
        model.add(sum(self.z) >= 1)
        pins = hg.pins.tocsr()
        load = [[] for _ in range(hg.n_buckets)]
        for e in checked(range(pins.shape[0]), deadline):
            vs = pins.indices[pins.indptr[e]:pins.indptr[e + 1]]
            w = int(hg.weight[e])
            if len(vs) == 1:
                load[hg.bucket[e]].append(w * self.z[vs[0]])
                continue
            y = model.new_bool_var(f"y{e}")
            for v in vs:
                model.add_implication(self.z[v], y)
            load[hg.bucket[e]].append(w * y)
        self.n = []
        for b in range(hg.n_buckets):
            if load[b]:
                total = int(hg.weight[hg.bucket == b].sum())
                n = model.new_int_var(0, math.ceil(total / hg.h), f"n{b}")
                model.add(hg.h * n >= sum(load[b]))
                self.n.append(n)

    def solve(self, pi: np.ndarray, mu: float, deadline: float | None, seed: int):
        """``(group or None, proven lower bound on the minimum reduced cost)``."""
        from .solver import run_cpsat

        up = np.ceil(np.asarray(pi) * CP_SCALE).astype(np.int64)
        self.model.minimize(CP_SCALE * sum(self.n) - sum(int(p) * z for p, z in zip(up, self.z) if p))
        run = run_cpsat(self.model, deadline, seed, 1, CP_WORK if deadline is None else None, integral=True)
        bound = None if not math.isfinite(run.bound) else run.bound / CP_SCALE - mu
        if not run.found:
            return None, bound
        grp = [v for v, z in enumerate(self.z) if run.solver.value(z)]
        return grp, bound


def _integer(state: _State, cols: _Columns, m: int, G: int, best_cost: int, lower: int, pi, mu, deadline):
    """``(groups, cost, optimal)`` when a HiGHS MILP finds a grouping cheaper than `best_cost` or proves the best
    optimal (groups None: the start is), or meets `lower`; None otherwise. Without every group priced, one MILP over the generated
    columns. With them, that MILP in `FIRST_MILP_SHARE` of the time left (its incumbent is what counts), then MILPs
    over the columns and the groups of smallest reduced cost, until one holds every
    group whose reduced cost leaves room below the incumbent (`_room`): its optimum is the global one."""
    first = deadline if state.every is None or deadline is None else deadline_of(FIRST_MILP_SHARE * time_left(deadline))
    found = _milp_over(list(cols.groups), list(cols.cost), m, G, first)
    best = None
    if found is not None and found[1] < best_cost:
        best, best_cost = (found[0], found[1], False), found[1]
    if state.every is None:
        return best
    rc = state.reduced(state.every, state.every_cost, pi, mu)
    while not expired(deadline):
        if best is not None and best_cost <= lower:  # the incumbent meets the bound
            return best[0], best_cost, True
        extra, complete = _room(rc, pi, mu, G, best_cost, ROOM_PER_VERTEX * m, CHEAPEST_PER_VERTEX * m)
        groups, costs, seen = list(cols.groups), list(cols.cost), set(cols.seen)
        keys = [tuple(int(v) for v in state.every[i] if v >= 0) for i in extra]
        inc = [] if best is None else [tuple(sorted(int(v) for v in grp)) for grp in best[0]]
        inc_cost = state.costs.slots(_padded(inc, cols.g)).tolist() if inc else []
        more = list(zip(keys, state.every_cost[extra].tolist())) + list(zip(inc, inc_cost))
        for key, c in more:  # the incumbent's groups too: HiGHS starts from it and only has to prove it
            if key not in seen:
                seen.add(key)
                groups.append(key)
                costs.append(int(c))
        found = _milp_over(groups, costs, m, G, deadline, proving=complete)
        if found is None:
            return best
        if found[2]:  # nothing cheaper than the incumbent lies outside these columns
            if found[1] < best_cost:
                return found
            return (None, best_cost, True) if best is None else (best[0], best_cost, True)
        if found[1] >= best_cost:  # the cheapest columns hold nothing better: the gap stays open
            return best
        best, best_cost = found, found[1]
    return best


#: share of the time left the MILP over the generated columns gets when every group is priced: it finds a good
#: incumbent early and then branches long to prove it over those columns only (64 filters at g = 4: 659 found,
#: 3.8 s in all), while the MILP over the columns that may beat it proves the optimum (658, 3.5 s)
FIRST_MILP_SHARE = 0.3
#: columns per vertex a MILP that proves the optimum (every column that may beat the incumbent) takes at most
ROOM_PER_VERTEX = 400
#: columns per vertex (those of smallest reduced cost) a MILP looking for a better incumbent takes
CHEAPEST_PER_VERTEX = 60


def _room(rc: np.ndarray, pi, mu, G: int, upper: int, most: int, cheapest: int) -> tuple[np.ndarray, bool]:
    """Indices of the enumerated groups (reduced costs `rc`) that a partition cheaper than `upper` may use, and
    True; when they are more than `most`, the `cheapest` of smallest reduced cost, and False. A partition costs
    ``sum pi + G mu + sum of its columns' reduced costs`` at least, so a column in one cheaper than `upper` has
    reduced cost at most ``upper - 1 - sum pi - G mu`` less the other columns' (each at least the minimum, or 0)."""
    slack = upper - 1 - float(pi.sum()) - G * mu - (G - 1) * min(0.0, float(rc.min())) + 1e-6
    extra = np.flatnonzero(rc <= slack)
    if len(extra) <= most:
        return extra, True
    return extra[np.argpartition(rc[extra], cheapest)[:cheapest]], False


def _milp_over(groups, costs, m: int, G: int, deadline, proving: bool = False):
    """``(groups chosen, cost, proven optimal over these columns)`` of the set-partitioning MILP (HiGHS), None
    when it finds nothing in time."""
    from scipy.optimize import LinearConstraint

    from ..result import Status
    from .solver import run_milp

    sub = _Columns(0)
    sub.groups = groups
    A = sp.vstack([sub.matrix(m), sp.csr_matrix(np.ones((1, len(groups))))]).tocsr()
    lo = np.concatenate([np.ones(m), [0]])
    hi = np.concatenate([np.ones(m), [G]])
    with warnings.catch_warnings():  # scipy passes HiGHS's mip_abs_gap on verbatim, warning that it does
        warnings.filterwarnings("ignore", message="Unrecognized options", category=RuntimeWarning)
        run = run_milp(np.array(costs, dtype=float), constraints=LinearConstraint(A, lo, hi),
                       integrality=np.ones(len(groups)), bounds=(0, 1), deadline=deadline,
                       options={"mip_rel_gap": 0.0, "mip_abs_gap": INTEGER_GAP}, integral=True)
    if run.x is None:
        return None
    chosen = np.flatnonzero(run.x > 0.5)
    return [groups[i] for i in chosen], int(sum(costs[i] for i in chosen)), proving and run.status == Status.OPTIMAL
