"""Reuse clustering: every method's mapping computes its declared approximation exactly, the objective is the
simulator's error, exact methods are optimal per block, p-median leaders beat PRAP-PIM's rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.problems import methods
from mapopt.problems.reuse_clustering.problem import SCALES, assign, distances, reuse_error, row_blocks
from mapopt.solve import solve

PROBLEM = "reuse-clustering"


def layer(n: int = 24, m: int = 12, seed: int = 0, sparsity: float = 0.6) -> Layer:
    rng = np.random.default_rng(seed)
    w = rng.integers(-6, 7, size=(n, m))
    w[rng.random((n, m)) < sparsity] = 0
    w[:, 1] = w[:, 0]          # repeated sub-vectors, as real layers have
    w[:, 2] = 2 * w[:, 3]  # a x2 copy, which only the shift scales reuse exactly
    return Layer.from_matrix(w)


@pytest.mark.parametrize("name", sorted(methods(PROBLEM)))
@pytest.mark.parametrize("scales", ["one", "shift"])
def test_every_method_computes_its_approximation_exactly(name, scales):
    inst = Instance(layer(), preset("reuse"))
    r = solve(inst, PROBLEM, name, time_limit=5.0, scales=scales)
    assert r.report.valid and r.report.exact, r.report.violations
    assert r.objective == r.report.error["l1"] and r.bound <= r.objective
    if name == "identical":
        assert r.objective == 0


def test_row_blocks_wider_than_a_crossbar_are_split_across_crossbars():
    # 40 distinct sub-vectors x 7 adjacent slices = 280 columns of leaders: more than the 128-column crossbar
    rng = np.random.default_rng(1)
    inst = Instance(Layer.from_matrix(rng.integers(-100, 101, size=(8, 40))), preset("reuse"))
    r = solve(inst, PROBLEM, "identical")
    assert r.report.valid and r.report.exact and r.objective == 0
    assert sum(p.n_cols for p in r.mapping.placements) > inst.spec.xbar_cols


@pytest.mark.parametrize("scales", ["one", "shift"])
@pytest.mark.parametrize("seed", range(4))
def test_optimized_representatives_never_add_error_or_leaders(seed, scales):
    inst = Instance(layer(32, 24, seed=seed, sparsity=0.3), preset("reuse"))
    base = solve(inst, PROBLEM, "fasterpam", theta=0.25, scales=scales)
    free = solve(inst, PROBLEM, "fasterpam", theta=0.25, scales=scales, centers="median")
    assert free.report.valid and free.report.exact, free.report.violations
    assert free.objective == free.report.error["l1"] <= base.objective
    assert free.stats["leaders"] <= base.stats["leaders"]
    assert free.bound == 0  # the p-median bound does not hold for free representatives


def test_optimized_representatives_cut_the_error_of_a_real_block():
    rng = np.random.default_rng(3)
    w = np.rint(rng.normal(0, 30, size=(8, 64))).astype(np.int64)  # one 8-row block, 64 sub-vectors
    inst = Instance(Layer.from_matrix(np.clip(w, -127, 127)), preset("reuse"))
    base = solve(inst, PROBLEM, "auto", theta=0.25)
    free = solve(inst, PROBLEM, "auto", theta=0.25, centers="median")
    assert free.objective < base.objective and free.report.exact


def test_optimized_representatives_leave_blocks_without_leaders_alone():
    w = np.zeros((16, 8), dtype=np.int64)
    w[8:] = np.arange(1, 9)  # the first row block is all zero
    r = solve(Instance(Layer.from_matrix(w), preset("reuse")), PROBLEM, "fasterpam", centers="median")
    assert r.report.valid and r.report.exact and r.objective == r.report.error["l1"]


def brute_force(block, p, scales) -> int:
    D, alpha = distances(block.vectors, scales)
    cand = np.flatnonzero(block.vectors.any(axis=1))
    best = None
    for leaders in itertools.combinations(cand, min(p, len(cand))):
        e = reuse_error(block, assign(D, alpha, np.array(leaders)))
        best = e if best is None else min(best, e)
    return best


@pytest.mark.parametrize("exact", ["milp", "cpsat"])
def test_exact_methods_are_optimal_per_block(exact):
    inst = Instance(layer(16, 10, seed=4), preset("reuse"))
    r = solve(inst, PROBLEM, exact, theta=0.3)
    opt = sum(brute_force(b, int(np.ceil(0.3 * 10)), SCALES["one"]) for b in row_blocks(inst.layer.matrix, 8))
    assert r.objective == opt and r.status.value == "optimal"


def test_optimized_leaders_never_lose_to_prap_topnorm():
    inst = Instance(layer(64, 32, seed=5, sparsity=0.4), preset("reuse"))
    top = solve(inst, PROBLEM, "prap-topnorm", theta=0.25)
    opt = solve(inst, PROBLEM, "auto", theta=0.25)
    assert opt.objective <= top.objective
    assert opt.stats["leaders"] <= top.stats["leaders"]


def test_shift_scales_and_global_allocation_never_cost_more():
    inst = Instance(layer(48, 24, seed=6, sparsity=0.5), preset("reuse"))
    plain = solve(inst, PROBLEM, "fasterpam", theta=0.25)
    shifted = solve(inst, PROBLEM, "fasterpam", theta=0.25, scales="shift")
    assert shifted.objective <= plain.objective
    glob = solve(inst, PROBLEM, "fasterpam", theta=0.25, allocation="global")
    assert glob.report.valid and glob.stats["leaders"] <= plain.stats["leaders"] + 0


def test_fanout_reads_leaders_scaled_and_a_stored_layers_mapping_fans_out_exactly():
    from mapopt.layout import compact_mapping
    from mapopt.problems.reuse_clustering.problem import layer_mapping
    from mapopt.sim import simulate

    w = layer(n=16, m=6, sparsity=0.3)
    w_int = w.matrix.copy()
    w_int[:, 4], w_int[:, 5] = -4 * np.clip(w_int[:, 0], -7, 7), 8 * np.clip(w_int[:, 0], -7, 7)
    w_int[:, 0] = np.clip(w_int[:, 0], -7, 7)
    inst = Instance(Layer.from_matrix(w_int), preset("bitslice"))
    r = solve(inst, PROBLEM, "fasterpam", theta=0.5, scales="shift")
    fan = r.solution.fanout()
    assert set(fan.followers[:, 2].tolist()) >= {-4, 8}  # the scaled copies follow their leader
    assert fan.stored.shape == (16, r.stats["leaders"])
    stored = Layer.from_matrix(fan.stored)
    groups = [np.arange(j, min(j + 2, fan.stored.shape[1])) for j in range(0, fan.stored.shape[1], 2)]
    mapping = layer_mapping(compact_mapping(stored.matrix, inst.spec, groups), fan, 6, r.mapping.reference)
    rep = simulate(mapping, inst.layer)
    assert rep.exact and rep.error["l1"] == r.objective
