"""Set-partitioning bound by column generation: group costs, the Lagrangian bound and every pricing path
against brute force over all groupings, optimality where the LP is integral, time limit, determinism."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import mapopt.engines.partition_colgen as colgen
from mapopt.engines.partition import Hypergraph
from mapopt.engines.partition_colgen import (GroupCost, all_groups, count_groups, lagrangian_bound,
                                             set_partition_bound)


def random_hypergraph(seed: int, m: int = 8, g: int = 4, h: int = 3, buckets: int = 2) -> Hypergraph:
    rng = np.random.default_rng(seed)
    supports = [rng.random((rng.integers(5, 20), m)) < rng.uniform(0.15, 0.5) for _ in range(buckets)]
    return Hypergraph.from_supports(supports, g, h)


def partitions(m: int, max_blocks: int, g: int):
    """Every partition of ``range(m)`` into at most `max_blocks` blocks of at most `g`, as block arrays."""
    block = np.zeros(m, dtype=np.int64)

    def grow(v, used, sizes):
        if v == m:
            yield block.copy()
            return
        for j in range(min(used + 1, max_blocks)):
            if j < used and sizes[j] == g:
                continue
            block[v] = j
            sizes[j] = sizes[j] + 1 if j < used else 1
            yield from grow(v + 1, max(used, j + 1), sizes)
            sizes[j] -= 1

    yield from grow(0, 0, [0] * max_blocks)


def brute_force(hg: Hypergraph) -> int:
    return min(hg.cost(b)[0] for b in partitions(hg.n_vertices, hg.n_blocks, hg.g))


def group_slots(hg: Hypergraph, group) -> int:
    """A group's OU slots from the hypergraph itself (the group as block 0 of a two-block assignment)."""
    block = np.ones(hg.n_vertices, dtype=np.int64)
    block[list(group)] = 0
    L = np.zeros((hg.n_buckets,), dtype=np.int64)
    pins = hg.pins.toarray().astype(bool)
    kept = pins[:, list(group)].any(axis=1)
    np.add.at(L, hg.bucket[kept], hg.weight[kept])
    return int(np.ceil(L / hg.h).sum())


def full_lp(hg: Hypergraph) -> tuple[float, np.ndarray]:
    """The set-partitioning LP over every group (at most ``G`` of them), solved directly."""
    groups = all_groups(hg.n_vertices, hg.g)
    costs = np.array([group_slots(hg, [v for v in grp if v >= 0]) for grp in groups], dtype=float)
    A = np.zeros((hg.n_vertices, len(groups)))
    for k, grp in enumerate(groups):
        A[grp[grp >= 0], k] = 1
    res = linprog(costs, A_ub=np.ones((1, len(groups))), b_ub=[hg.n_blocks], A_eq=A, b_eq=np.ones(hg.n_vertices),
                  bounds=(0, None), method="highs")
    return float(res.fun), res.x


def start_of(hg: Hypergraph) -> np.ndarray:
    return np.arange(hg.n_vertices) // hg.g


def test_group_costs_equal_the_hypergraph_cost():
    hg = random_hypergraph(1, m=9, g=4)
    groups = all_groups(9, 4)
    assert len(groups) == count_groups(9, 4)
    got = GroupCost(hg).slots(groups)
    assert [group_slots(hg, [v for v in grp if v >= 0]) for grp in groups] == got.tolist()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(-3, 0))
def test_lagrangian_bound_holds_for_any_duals(seed, mu):
    """Any duals, the exact minimum reduced cost: never above the optimum."""
    hg = random_hypergraph(seed, m=8, g=4)
    rng = np.random.default_rng(seed)
    pi = rng.uniform(0, 8, hg.n_vertices)
    groups = all_groups(8, 4)
    costs = GroupCost(hg).slots(groups)
    rc = costs - np.concatenate([pi, [0]])[groups].sum(axis=1) - mu
    assert lagrangian_bound(pi, mu, hg.n_blocks, float(rc.min())) <= brute_force(hg) + 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([(8, 2), (8, 4), (7, 3), (9, 4)]))
def test_bound_is_the_lp_bound_below_the_optimum_and_proves_it_where_the_lp_is_integral(seed, size):
    m, g = size
    hg = random_hypergraph(seed, m=m, g=g)
    opt = brute_force(hg)
    lp, x = full_lp(hg)
    res = set_partition_bound(hg, start_of(hg))
    assert not res.lp_optimal or abs(res.lp - lp) < 1e-6  # else it stopped where the bound met the start
    assert int(np.ceil(lp - 1e-6)) <= res.bound <= opt
    if np.allclose(x, np.round(x), atol=1e-7):
        assert res.bound == opt
    if res.block is not None:
        assert hg.cost(res.block)[0] == res.objective >= opt
        assert np.bincount(res.block).max() <= g and res.block.max() < hg.n_blocks


def test_integer_solve_proves_optima():
    """Exact pricing, then the MILP over every column that could beat the incumbent: the optimum, proven."""
    proven = 0
    for seed in range(8):
        hg = random_hypergraph(seed, m=8, g=4)
        opt = brute_force(hg)
        res = set_partition_bound(hg, start_of(hg))
        assert res.bound <= opt
        best = min(hg.cost(start_of(hg))[0], res.objective or np.inf)
        assert best >= opt
        proven += res.bound == opt == best
    assert proven == 8


def test_integer_solve_in_rounds_of_cheapest_columns_stays_valid(monkeypatch):
    """Few columns per MILP: rounds over the cheapest columns, each incumbent tightening the room, until one
    holds every column a cheaper grouping could use; the bound never passes the optimum."""
    monkeypatch.setattr(colgen, "ROOM_PER_VERTEX", 1)
    monkeypatch.setattr(colgen, "CHEAPEST_PER_VERTEX", 1)
    for seed in range(10):
        hg = random_hypergraph(seed, m=9, g=3, h=2)
        opt = brute_force(hg)
        res = set_partition_bound(hg, start_of(hg))
        assert res.bound <= opt
        assert res.block is None or hg.cost(res.block)[0] == res.objective >= opt


def test_cpsat_pricing_bound_is_valid_and_reaches_the_lp(monkeypatch):
    """With no group enumerated: greedy and swap pricing, then CP-SAT's proven bound on the reduced costs."""
    monkeypatch.setattr(colgen, "MAX_ENUMERATED", 0)
    monkeypatch.setattr(colgen, "LARGE_ENUMERATED", 0)
    calls, proven = [], 0
    solve = colgen._PricingModel.solve
    monkeypatch.setattr(colgen._PricingModel, "solve", lambda self, *a: calls.append(1) or solve(self, *a))
    for seed in range(6):
        hg = random_hypergraph(seed, m=8, g=4, h=2)
        lp, _ = full_lp(hg)
        res = set_partition_bound(hg, start_of(hg))
        assert not res.lp_optimal or abs(res.lp - lp) < 1e-6
        assert int(np.ceil(lp - 1e-6)) <= res.bound <= brute_force(hg)
        assert res.block is None or hg.cost(res.block)[0] == res.objective
        proven += res.lp_optimal
    assert calls and proven


@pytest.mark.parametrize("seed", range(4))
def test_halved_bound_is_valid(seed, monkeypatch):
    """Groups of 6 not enumerated, groups of 3 are: half the bound of groups of 3 and twice the blocks."""
    monkeypatch.setattr(colgen, "MAX_ENUMERATED", count_groups(8, 3))
    monkeypatch.setattr(colgen, "LARGE_ENUMERATED", count_groups(8, 3))
    hg = random_hypergraph(seed, m=8, g=6)
    assert colgen.pricing(8, 6) == "halved"
    res = set_partition_bound(hg, start_of(hg))
    assert res.columns > 0 and 0 < res.bound <= brute_force(hg)


def test_bound_beats_the_known_bounds_on_a_sparse_layer():
    from mapopt.engines.partition import lower_bound, matching_bound

    rng = np.random.default_rng(7)
    hg = Hypergraph.from_supports([rng.random((72, 24)) < 0.2, rng.random((72, 24)) < 0.2], 4, 9)
    res = set_partition_bound(hg, start_of(hg))
    old = max(lower_bound(hg), matching_bound(hg))
    assert res.bound > old and res.lp_optimal


def test_time_limit_is_kept_and_a_passed_deadline_keeps_the_known_bound():
    rng = np.random.default_rng(3)
    hg = Hypergraph.from_supports([rng.random((300, 64)) < 0.2, rng.random((300, 64)) < 0.2], 4, 9)
    t = time.perf_counter()
    res = set_partition_bound(hg, start_of(hg), time_limit=0.3, bound=5)
    assert time.perf_counter() - t < 0.3 + 0.5
    assert res.bound >= 5
    assert set_partition_bound(hg, start_of(hg), time_limit=0.0, bound=5).bound == 5


def test_same_seed_same_result():
    hg = random_hypergraph(5, m=12, g=4)
    a, b = set_partition_bound(hg, start_of(hg), seed=3), set_partition_bound(hg, start_of(hg), seed=3)
    assert (a.bound, a.lp, a.objective, a.iterations, a.columns) == (b.bound, b.lp, b.objective, b.iterations,
                                                                     b.columns)
    assert (a.block is None and b.block is None) or np.array_equal(a.block, b.block)


def test_large_enumerations_run_only_when_the_time_allows(monkeypatch):
    monkeypatch.setattr(colgen, "MAX_ENUMERATED", 100)
    assert colgen.pricing(8, 4) == "exact" and colgen.pricing(8, 4, time_limit=1.0) == "exact"
    monkeypatch.setattr(colgen, "SECONDS_PER_GROUP", 1.0)
    assert colgen.pricing(8, 4, time_limit=1.0) == "search" and colgen.pricing(8, 4) == "exact"


def test_start_must_fit_the_blocks():
    hg = random_hypergraph(0, m=8, g=4)
    with pytest.raises(ValueError):
        colgen.column_generation(hg, [np.arange(5), np.arange(5, 8)], hg.n_blocks)
