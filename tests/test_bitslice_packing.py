"""Bit-slice packing: every method through the simulator (ADC clipping included), the packing engine
against enumeration and its bounds, the bit-sparse projection, and the classical VBP reader and CLI."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import mapopt, one_line_error
from mapopt.engines import vector_packing as vp
from mapopt.engines.vector_packing_lp import column_generation
from mapopt.errors import InstanceError, SolverError
from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.models.bitsparse import nonzero_parts, project, projection_table
from mapopt.problems import methods
from mapopt.solve import solve

PROBLEM = "bitslice-packing"
def dense_layer(n: int, m: int, seed: int, sparsity: float = 0.3) -> Layer:
    rng = np.random.default_rng(seed)
    w = np.clip(np.rint(rng.laplace(scale=30, size=(n, m))), -127, 127).astype(np.int64)
    w[rng.random((n, m)) < sparsity] = 0
    return Layer.from_matrix(w)


@pytest.mark.parametrize("name", sorted(methods(PROBLEM)))
def test_every_method_is_valid_and_exact_under_adc_clipping(name):
    inst = Instance(dense_layer(60, 16, seed=1), preset("bitslice"))
    r = solve(inst, PROBLEM, name, time_limit=2.0)
    assert r.report.valid and r.report.exact, r.report.violations
    assert r.objective == r.report.cost.ou_activations
    assert r.bound <= r.objective
    # the conventional mapping of the same layer clips: packing is what makes it exact
    naive = solve(inst, "baseline", "orc")
    assert any(v.rule == "adc_range" for v in naive.report.violations)


@pytest.mark.parametrize("params", [{"grouping": "ordered"}, {"adc": "energy"}, {"share_crossbars": True},
                                    {"max_slices": 2}])
def test_options_keep_the_mapping_valid(params):
    inst = Instance(dense_layer(45, 24, seed=2), preset("bitslice"))
    r = solve(inst, PROBLEM, "heuristic", **params)
    assert r.report.valid and r.report.exact, r.report.violations
    assert r.objective == r.report.cost.ou_activations and r.bound <= r.objective
    if "max_slices" in params:
        assert r.mapping.reference is not None and r.stats["projection_error"] > 0
    if params.get("share_crossbars"):
        assert r.report.cost.crossbars <= solve(inst, PROBLEM, "heuristic").report.cost.crossbars


def test_adc_choice_never_costs_more_energy_than_the_fixed_one_by_its_own_estimate():
    inst = Instance(dense_layer(60, 16, seed=3), preset("bitslice"))
    fixed, chosen = solve(inst, PROBLEM, "heuristic"), solve(inst, PROBLEM, "heuristic", adc="energy")
    assert chosen.report.valid and len(chosen.stats["adc_bits"]) == 4
    assert chosen.report.cost.energy_pj["total"] <= fixed.report.cost.energy_pj["total"] * 1.02


def test_a_cell_beyond_its_adc_is_a_clear_error():
    inst = Instance(dense_layer(20, 8, seed=4, sparsity=0.0), preset("bitslice", adc_bits=(1, 1, 3, 3)))
    with pytest.raises(SolverError, match="slice 1"):
        solve(inst, PROBLEM, "ffd")


def test_packing_needs_per_crossbar_slices():
    with pytest.raises(SolverError, match="per_crossbar"):
        solve(Instance(dense_layer(20, 8, seed=5), preset("orc")), PROBLEM, "ffd")


def brute_force_bins(sizes, cap, k) -> int:
    n = len(sizes)
    for nb in range(1, n + 1):
        for assign in itertools.product(range(nb), repeat=n):
            if assign[0] != 0:
                continue
            load = np.zeros((nb, sizes.shape[1]), dtype=np.int64)
            np.add.at(load, np.array(assign), sizes)
            if np.all(load <= cap) and np.bincount(assign, minlength=nb).max() <= k:
                return nb
    return n


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 3), st.sampled_from([1, 3, 7]))
def test_engine_bounds_heuristics_and_cpsat_against_enumeration(seed, k, cap):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, min(cap, 3) + 1, size=(int(rng.integers(1, 7)), 3))
    opt = brute_force_bins(sizes, cap, k)
    lb = vp.lower_bound(sizes, cap, k)
    assert lb <= opt
    for bins in (vp.heuristic(sizes, cap, k), vp.dsatur(sizes, np.full(3, cap), k), vp.bin_centric(sizes, cap, k)):
        load = np.zeros((bins.max() + 1, 3), dtype=np.int64)
        np.add.at(load, bins, sizes)
        assert np.all(load <= cap) and np.bincount(bins).max() <= k and bins.max() + 1 >= opt
    exact = vp.cpsat(sizes, cap, k, time_limit=10)
    assert exact.status.value == "optimal" and exact.n_bins == opt and exact.bound == opt


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 4), st.sampled_from([3, 7]))
def test_column_generation_brackets_the_optimum(seed, k, cap):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, cap + 1, size=(int(rng.integers(1, 7)), 2))
    opt = brute_force_bins(sizes, cap, k)
    res = column_generation(sizes, cap, k, time_limit=10)
    load = np.zeros((res.bins.max() + 1, 2), dtype=np.int64)
    np.add.at(load, res.bins, sizes)
    assert np.all(load <= cap) and np.bincount(res.bins).max() <= k
    assert res.bound <= opt <= res.bins.max() + 1


def test_column_generation_proves_and_packs_exact_triplets():
    # 15 bins each cut into three items that fill it exactly in both dimensions: the optimum is 15
    rng = np.random.default_rng(0)
    a = rng.integers(1, 40, size=(15, 2, 2))
    sizes = np.concatenate([a[:, 0], a[:, 1], 100 - a[:, 0] - a[:, 1]])
    res = column_generation(sizes, 100, None, time_limit=20)
    assert res.bound == 15
    assert res.bins.max() + 1 <= vp.heuristic(sizes, 100).max() + 1
    again = column_generation(sizes, 100, None, time_limit=20)
    assert np.array_equal(again.bins, res.bins)


def test_projection_keeps_at_most_k_nonzero_slices_and_is_nearest():
    spec = preset("bitslice")
    for k in (1, 2, 3):
        table = projection_table(spec, k)
        values = np.arange(128)
        assert np.all(nonzero_parts(table, spec.slice_widths) <= k)
        allowed = values[nonzero_parts(values, spec.slice_widths) <= k]
        nearest = np.abs(values[:, None] - allowed[None, :]).min(axis=1)
        assert np.array_equal(np.abs(values - table), nearest)
    q = np.array([[-127, 5], [0, 77]])
    assert np.array_equal(np.sign(project(q, spec, 1)), np.sign(q))


def vbp_text(sizes, cap) -> str:
    lines = [str(len(cap)), " ".join(map(str, cap)), str(len(sizes))] + [" ".join(map(str, s)) + " 1" for s in sizes]
    return "\n".join(lines) + "\n"


def test_classic_vbp_cli_reaches_the_optimum_of_a_small_instance(tmp_path):
    sizes, cap = [[6, 1], [5, 5], [4, 4], [3, 6], [2, 2], [5, 1]], [10, 10]
    path = tmp_path / "tiny.vbp"
    path.write_text(vbp_text(sizes, cap))
    res = json.loads(mapopt("classic", "vbp", path, "--method", "auto", "--json").stdout)
    assert res["bins"] == brute_force_bins(np.array(sizes), np.array(cap), 6) == res["lower_bound"]
    path.write_text("3\n10 10\n")
    assert "tiny" in one_line_error(mapopt("classic", "vbp", path, ok=False))


@pytest.mark.parametrize("name", ["dsatur", "heuristic"])
def test_an_all_zero_column_group_packs_to_nothing(name):
    w = np.random.default_rng(2).integers(-100, 101, size=(18, 16))
    w[:, :8] = 0  # the first group of 8 columns holds no rows at all
    r = solve(Instance(Layer.from_matrix(w), preset("bitslice")), "bitslice-packing", name)
    assert r.report.valid and r.report.exact and r.objective == r.report.cost.ou_activations


def test_an_empty_vbp_instance_needs_no_bins():
    from mapopt.classic.vbp import parse, solve as solve_vbp

    inst = parse("2\n10 10\n0\n", "empty")
    for method in ("ffd", "heuristic", "lp", "auto"):
        res = solve_vbp(inst, method)
        assert (res["bins"], res["lower_bound"], res["status"]) == (0, 0, "optimal")


def test_vbp_reader_rejects_oversized_items():
    from mapopt.classic.vbp import parse

    with pytest.raises(InstanceError, match="exceeds"):
        parse(vbp_text([[11, 1]], [10, 10]), "x")


def test_lockstep_first_fit_packs_every_instance_as_first_fit_over_its_last_bins_would():
    """`first_fit_all` on 50 instances at once: one open bin gives next fit, unboundedly many first fit,
    each instance exactly as packed alone; every packing keeps capacity and cardinality."""
    rng = np.random.default_rng(0)
    instances = [rng.integers(0, 3, size=(int(rng.integers(0, 40)), 4)) for _ in range(50)]
    caps = rng.integers(3, 8, size=50)
    nf = vp.first_fit_all(instances, caps, 5, open_bins=1, batch=7)
    ff = vp.first_fit_all(instances, caps, 5, open_bins=10 ** 4, batch=7)
    few = vp.first_fit_all(instances, caps, 5, open_bins=3, batch=7)
    for x, c, a, b, bins in zip(instances, caps, nf, ff, few):
        items = np.arange(len(x))
        np.testing.assert_array_equal(a, vp.next_fit(x, np.full(4, c), 5, items) if len(x) else a)
        np.testing.assert_array_equal(b, vp.first_fit(x, np.full(4, c), 5, items) if len(x) else b)
        for k in np.unique(bins):
            assert (bins == k).sum() <= 5 and np.all(x[bins == k].sum(axis=0) <= c)
