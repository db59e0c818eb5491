"""Filter ordering at scale: constructions keep their deadlines, g = 2 is proven optimal past the old limits,
the wide search narrows above `WIDE_BLOCKS` without losing determinism or its start's quality."""

from __future__ import annotations

import time

import numpy as np

from mapopt.engines.deadline import deadline_of
from mapopt.engines.partition import Hypergraph, check_blocks
from mapopt.engines.partition_search import SwapSearch, greedy, natural, random_blocks, recursive_matching
from mapopt.hardware import HardwareSpec, preset
from mapopt.instance import Instance
from mapopt.problems.contract import Run
from mapopt.problems.filter_ordering import methods as fo
from mapopt.problems.filter_ordering.problem import hypergraph, scale
from mapopt.solve import solve
from mappings import sparse_layer

PROBLEM = "filter-ordering"


def test_greedy_keeps_its_deadline_on_a_large_hypergraph():
    """1024 filters: the full construction takes seconds; cut at its deadline, the rest in index order."""
    rng = np.random.default_rng(0)
    hg = Hypergraph.from_supports([rng.random((6000, 1024)) < 0.1], g=2, h=9)
    start = time.perf_counter()
    check_blocks(hg, greedy(hg, deadline_of(0.2)))  # a valid grouping, cut short
    assert time.perf_counter() - start < 1.5
    assert np.array_equal(greedy(hg, deadline_of(0.0)), natural(hg))  # nothing built in time: index order


def test_g2_is_proven_optimal_past_the_old_matching_limits():
    """320 filters (the matching MILP stopped at 300, the matching start went greedy above 160): auto and
    matching reach the matching bound, which is exact at g = 2."""
    inst = Instance(sparse_layer(288, 320, 0.8, seed=7), preset("orc"))
    assert hypergraph(inst).g == 2
    auto, matching = solve(inst, PROBLEM, "auto"), solve(inst, PROBLEM, "matching")
    assert auto.report.valid and auto.report.exact
    assert auto.objective == auto.bound == matching.objective == auto.report.cost.ou_activations
    hg = hypergraph(inst)
    block, lb = fo.auto(hg, Run(), 0)  # no bound given: the proven matching is its own
    assert lb == hg.cost(block)[0] == auto.objective // scale(inst)


def test_narrow_search_is_deterministic_and_never_worse_than_the_matching():
    """g = 4 with 40 blocks (> WIDE_BLOCKS): auto descends from the matching only; same seed, same grouping."""
    spec = HardwareSpec(xbar_rows=64, xbar_cols=64, ou_rows=4, ou_cols=4, cell_bits=7, adc_bits=10)
    inst = Instance(sparse_layer(96, 160, 0.8, seed=3), spec)
    hg = hypergraph(inst)
    assert hg.g == 4 and hg.n_blocks > fo.WIDE_BLOCKS
    a, b = solve(inst, PROBLEM, "auto", seed=5), solve(inst, PROBLEM, "auto", seed=5)
    assert [g.tolist() for g in a.solution.groups] == [g.tolist() for g in b.solution.groups]
    assert a.report.valid and a.report.exact
    block, _ = fo.auto(hg, Run(seed=5), 0)
    assert hg.cost(block) <= hg.cost(recursive_matching(hg)[0])


def test_neighbour_pairs_cover_each_block_k_times_and_every_pair_when_few():
    rng = np.random.default_rng(1)
    hg = Hypergraph.from_supports([rng.random((300, 100)) < 0.2], g=2, h=9)  # 50 blocks
    state = SwapSearch(hg, random_blocks(hg, 0))
    pairs = state.neighbour_pairs(4)
    assert (pairs[:, 0] < pairs[:, 1]).all() and len(np.unique(pairs, axis=0)) == len(pairs)
    assert np.array_equal(pairs, pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))])
    assert (np.bincount(pairs.ravel(), minlength=state.G) >= 4).all()
    everything = state.neighbour_pairs(state.G - 1)
    assert len(everything) == state.G * (state.G - 1) // 2
