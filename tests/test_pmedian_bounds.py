"""p-median bounds against enumeration (every bound at most the optimum, equal where the theory says so), the
kmedoids fast path and its fallback (valid local optima, deterministic), time limits, and reuse blocks whose
zero or repeated sub-vectors send FasterPAM to the square matrix."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from mapopt.engines import pmedian as pm
from mapopt.engines.pmedian import bounds, peer
from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.problems.reuse_clustering.problem import SCALES, distances
from mapopt.solve import solve


def brute(D, p):
    return min(D[:, list(c)].min(axis=1).sum() for c in itertools.combinations(range(D.shape[1]), p))


def instance(seed: int, kind: str):
    """Small instances: points (square, zero diagonal, symmetric), reuse blocks (square, zero diagonal,
    asymmetric with shift scales), rectangular integers, square floats."""
    rng = np.random.default_rng(seed)
    if kind == "points":
        pts = rng.integers(0, 30, size=(10, 2))
        return np.abs(pts[:, None, :] - pts[None, :, :]).sum(axis=2)
    if kind in ("reuse-one", "reuse-shift"):
        v = rng.integers(-5, 6, size=(10, 4))
        v[rng.random(v.shape) < 0.4] = 0
        v[3] = 2 * v[5]
        return distances(v, SCALES[kind.split("-")[1]])[0]
    if kind == "int":
        return rng.integers(0, 60, size=(11, 8))
    return rng.random((9, 9)) * 10


KINDS = ["points", "reuse-one", "reuse-shift", "int", "float"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(4))
def test_every_bound_is_at_most_the_enumerated_optimum(kind, seed):
    D = instance(seed, kind)
    m = D.shape[1]
    for p in (1, 2, 3, m - 1, m):
        opt = brute(D, p)
        Dc, _, _ = pm.check_costs(D, p)
        centers = np.sort(np.random.default_rng(seed).choice(m, size=p, replace=False))
        values = {"center": bounds.center_bound(Dc, p, None, centers),
                  "center-clustering": bounds.center_bound(Dc, p, None, centers, clustering=peer.clustering(Dc)),
                  "cheap": bounds.cheap_bound(Dc, p, None, centers),
                  "lagrangian": pm.lagrangian_bound(D, p),
                  "lp": pm.lp_bound(D, p)}
        for method in pm.METHODS:
            res = pm.solve(D, p, method, seed=seed)
            values[method] = res.bound
            assert res.objective >= opt - 1e-9, (method, p)
        for name, value in values.items():
            assert value <= opt + 1e-9, (name, p, value, opt)
        # the LP of the strong formulation is integral at p = 1 and p = m, and the Lagrangian dual equals it
        if p in (1, m):
            assert values["lp"] == pytest.approx(opt, abs=1e-6), p
        if p == m:
            assert values["center"] == pytest.approx(opt) and values["lagrangian"] == pytest.approx(opt)
        # the exact methods prove the optimum
        assert values["milp"] == pytest.approx(opt) and values["auto"] == pytest.approx(opt)


@pytest.mark.parametrize("seed", range(3))
def test_the_centre_bound_at_an_optimal_set_reads_the_best_additions(seed):
    """At lam = the solution's distances, rho_j is the change of adding j: the bound is the cost plus the p
    most negative additions, and never above the cost itself."""
    D = instance(seed, "points")
    p = 3
    best = min(itertools.combinations(range(D.shape[1]), p), key=lambda c: D[:, list(c)].min(axis=1).sum())
    dn = D[:, list(best)].min(axis=1)
    add = np.array([np.minimum(D[:, j] - dn, 0).sum() for j in range(D.shape[1])])
    expect = dn.sum() + np.sort(add)[:p].sum()
    assert expect <= bounds.center_bound(D, p, None, list(best)) <= dn.sum()
    # a centre's own multiplier raised to its second-smallest cost never lowers the value
    assert expect <= bounds.center_bound(D, p, None, list(best), clustering=True) <= dn.sum()


def without_package(monkeypatch):
    monkeypatch.setattr(peer, "_kmedoids", None)


@pytest.mark.parametrize("use_package", [True, False])
@pytest.mark.parametrize("kind", ["points", "reuse-shift"])
def test_fasterpam_either_path_is_a_deterministic_swap_local_optimum(monkeypatch, use_package, kind):
    if use_package and not peer.available():
        pytest.skip("kmedoids not installed")
    if not use_package:
        without_package(monkeypatch)
    for seed in range(3):
        D = instance(seed, kind)
        p = 3
        assert peer.fits(pm.check_costs(D, p)[0], p, None) == use_package
        for init in ("auto", "greedy", "random"):
            a = pm.fasterpam(D, p, init=init, seed=seed)
            b = pm.fasterpam(D, p, init=init, seed=seed)
            assert np.array_equal(a.centers, b.centers) and a.objective == b.objective
            assert len(a.centers) == p and a.objective == pm.evaluate(D, a.centers)[1]
            assert np.array_equal(D[np.arange(len(D)), a.assign], D[:, a.centers].min(axis=1))
            assert a.bound <= brute(D, p) <= a.objective
            base = a.objective  # no single swap improves
            for out, x in itertools.product(a.centers, np.setdiff1d(np.arange(D.shape[1]), a.centers)):
                swapped = np.append(a.centers[a.centers != out], x)
                assert pm.evaluate(D, swapped)[1] >= base


def test_the_package_path_is_never_worse_than_an_explicit_start():
    if not peer.available():
        pytest.skip("kmedoids not installed")
    D = instance(5, "points")
    start = np.array([0, 1, 2])
    res = pm.fasterpam(D, 3, init=start)
    assert res.objective <= pm.evaluate(D, start)[1]


def test_contract_check_rejects_what_the_package_would_get_wrong():
    if not peer.available():
        pytest.skip("kmedoids not installed")
    D = instance(0, "points")
    assert peer.fits(D, 3, None)
    assert not peer.fits(D[:, :8], 3, None)                     # rectangular
    assert not peer.fits(D + np.eye(len(D), dtype=D.dtype), 3, None)  # nonzero diagonal
    neg = D.copy()
    neg[0, 1] = -1
    assert not peer.fits(neg, 3, None)                          # negative cost
    assert not peer.fits(D, None, np.ones(len(D)))               # facility location
    assert not peer.fits(D, 1, None)                            # one median


def test_time_limits_hold_for_the_bounds_and_methods():
    rng = np.random.default_rng(0)
    pts = rng.random((700, 2))
    D = np.abs(pts[:, None, :] - pts[None, :, :]).sum(axis=2)
    for limit in (0.2, 0.5):
        t = time.perf_counter()
        pm.lagrangian_bound(D, 20, max_iter=100_000, time_limit=limit)
        assert time.perf_counter() - t < limit + 0.5
        for method in ("lagrangian", "auto", "fasterpam"):
            t = time.perf_counter()
            res = pm.solve(D, 20, method, time_limit=limit)
            assert time.perf_counter() - t < limit + 1.0, method
            assert res.bound <= res.objective


def reuse_layer(seed: int) -> Layer:
    rng = np.random.default_rng(seed)
    w = rng.integers(-6, 7, size=(16, 24))
    w[rng.random(w.shape) < 0.5] = 0
    w[:, 1] = w[:, 0]                 # a repeated sub-vector in every block
    w[:8, 5] = 0                      # a zero sub-vector in the first block
    w[:, 7] = -2 * np.clip(w[:, 6], -3, 3)
    return Layer.from_matrix(w)


@pytest.mark.parametrize("use_package", [True, False])
@pytest.mark.parametrize("scales", ["one", "shift"])
def test_reuse_fasterpam_with_zero_and_repeated_sub_vectors_is_valid_and_costed_by_the_simulator(
        monkeypatch, use_package, scales):
    if use_package and not peer.available():
        pytest.skip("kmedoids not installed")
    if not use_package:
        without_package(monkeypatch)
    inst = Instance(reuse_layer(1), preset("reuse"))
    a = solve(inst, "reuse-clustering", "fasterpam", theta=0.25, scales=scales, seed=2)
    b = solve(inst, "reuse-clustering", "fasterpam", theta=0.25, scales=scales, seed=2)
    exact = solve(inst, "reuse-clustering", "milp", theta=0.25, scales=scales)
    assert a.report.valid and a.report.exact and a.objective == a.report.error["l1"]
    assert a.objective == b.objective and a.stats["leaders"] == b.stats["leaders"]
    assert a.stats["leaders"] <= exact.stats["leaders"]
    assert a.bound <= exact.objective <= a.objective


def test_the_package_path_gives_the_same_medians_in_32_and_64_bits():
    """Costs small enough are searched in an int32 copy; scaling them past that limit (64-bit search) changes
    neither the medians nor, scaled back, the objective and bound."""
    if not peer.available():
        pytest.skip("kmedoids not installed")
    D = instance(3, "points")
    big = D * (2 ** 31 // (4 * len(D) * int(D.max())) + 1)
    for seed in range(3):
        small, large = pm.fasterpam(D, 3, seed=seed), pm.fasterpam(big, 3, seed=seed)
        assert np.array_equal(small.centers, large.centers)
        k = big.max() // D.max()
        assert large.objective == k * small.objective and large.bound == k * small.bound
