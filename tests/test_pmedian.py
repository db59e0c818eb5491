"""p-median / facility location engine against enumeration, its local optima and bounds, and the OR-Library reader and CLI."""

import itertools
import json

import numpy as np
import pytest

from helpers import mapopt, one_line_error
from mapopt.classic import pmed
from mapopt.engines import pmedian as pm
from mapopt.errors import InstanceError, SolverError
from mapopt.result import Status

def brute_pmedian(D, p):
    return min(D[:, list(c)].min(axis=1).sum() for c in itertools.combinations(range(D.shape[1]), p))


def brute_fl(D, f):
    m = D.shape[1]
    return min(D[:, list(c)].min(axis=1).sum() + f[list(c)].sum()
               for r in range(1, m + 1) for c in itertools.combinations(range(m), r))


def instance(seed, kind):
    """Small instances: integer or float costs, square with a zero diagonal (clustering) or rectangular."""
    rng = np.random.default_rng(seed)
    if kind == "points":
        pts = rng.integers(0, 20, size=(9, 2))
        return np.abs(pts[:, None, :] - pts[None, :, :]).sum(axis=2), 3
    if kind == "int":
        return rng.integers(0, 60, size=(10, 7)), 2
    return rng.random((8, 8)) * 10, 3


KINDS = ["points", "int", "float"]


def check(D, res, f=None):
    """The result is a consistent solution: assign points at open centres, objective is its cost."""
    assert set(res.assign.tolist()) <= set(res.centers.tolist())
    assert np.array_equal(res.assign, res.centers[np.argmin(D[:, res.centers], axis=1)]) or \
        np.allclose(D[np.arange(len(D)), res.assign], D[:, res.centers].min(axis=1))
    cost = D[np.arange(len(D)), res.assign].sum() + (0 if f is None else f[res.centers].sum())
    assert res.objective == pytest.approx(cost, rel=1e-12, abs=1e-9)
    assert res.bound <= res.objective + 1e-9


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_methods_reach_the_enumerated_optimum_and_bounds_stay_below(kind, seed):
    D, p = instance(seed, kind)
    opt = brute_pmedian(D, p)
    for method in pm.METHODS:
        res = pm.solve(D, p, method, seed=seed)
        check(D, res)
        assert len(res.centers) == p
        assert res.objective >= opt - 1e-9 and res.bound <= opt + 1e-9, method
        if method in ("milp", "cpsat", "auto"):
            assert res.status == Status.OPTIMAL and res.objective == pytest.approx(opt), method
    assert pm.lp_bound(D, p) <= opt + 1e-9
    assert pm.lagrangian_bound(D, p) <= opt + 1e-9
    assert pm.trivial_bound(np.asarray(D)) <= opt + 1e-9


@pytest.mark.parametrize("kind", KINDS)
def test_sparsified_models_widen_their_lists_until_the_proof_holds(kind):
    D, p = instance(5, kind)
    opt = brute_pmedian(D, p)
    for solver in (pm.milp, pm.cpsat):
        res = solver(D, p, neighbours=1)  # one candidate per client plus a catch-all at first
        assert res.status == Status.OPTIMAL and res.objective == pytest.approx(opt)


def improving_swap(D, centers, f=None):
    """Brute force: the best objective over every single swap (and, with opening costs, add and drop)."""
    base = pm.evaluate(D, centers, f)[1]
    others = [j for j in range(D.shape[1]) if j not in centers]
    moves = [[c for c in centers if c != out] + [x] for out in centers for x in others]
    if f is not None:
        moves += [list(centers) + [x] for x in others]
        moves += [[c for c in centers if c != out] for out in centers if len(centers) > 1]
    return min((pm.evaluate(D, np.array(mv), f)[1] for mv in moves), default=base) < base - 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_fasterpam_is_never_worse_than_its_start_and_ends_in_a_swap_local_optimum(seed):
    rng = np.random.default_rng(seed)
    D = rng.integers(0, 100, size=(14, 11)) if seed % 2 else rng.random((12, 12))
    p = 2 + seed % 3
    start = np.sort(rng.choice(D.shape[1], size=p, replace=False))
    res = pm.fasterpam(D, p, init=start, seed=seed)
    check(D, res)
    assert res.objective <= pm.evaluate(D, start)[1] + 1e-12
    assert not improving_swap(D, res.centers)
    for init in ("greedy", "random"):
        assert not improving_swap(D, pm.fasterpam(D, p, init=init, seed=seed).centers)
    alt = pm.alternate(D, p, init=start)
    assert alt.objective <= pm.evaluate(D, start)[1] + 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_facility_location_matches_enumeration_and_its_local_search_is_local_optimal(seed):
    rng = np.random.default_rng(seed)
    D = rng.integers(0, 40, size=(9, 7)) if seed % 2 else rng.random((9, 7)) * 5
    f = rng.integers(0, 30, size=7) if seed % 2 else rng.random(7) * 4
    opt = brute_fl(D, f)
    for method in ("greedy", "fasterpam", "lagrangian", "milp", "cpsat", "auto"):
        res = pm.facility_location(D, f, method, seed=seed)
        check(D, res, f)
        assert res.objective >= opt - 1e-9 and res.bound <= opt + 1e-9, method
        if method in ("milp", "cpsat", "auto"):
            assert res.status == Status.OPTIMAL and res.objective == pytest.approx(opt), method
    res = pm.fasterpam(D, None, init=[0], f=f, seed=seed)
    assert not improving_swap(D, res.centers, f)
    assert pm.lp_bound(D, None, f=f) <= opt + 1e-9


def test_same_seed_same_result_and_large_integer_costs():
    rng = np.random.default_rng(7)
    D = rng.integers(0, 10**12, size=(30, 25))
    for method in ("fasterpam", "lagrangian", "auto", "cpsat"):
        a, b = pm.solve(D, 4, method, seed=3), pm.solve(D, 4, method, seed=3)
        assert np.array_equal(a.centers, b.centers) and a.objective == b.objective and a.bound == b.bound
    res = pm.solve(D, 4, "auto", seed=3)
    assert res.status == Status.OPTIMAL
    assert res.objective == float(D[:, res.centers].min(axis=1).sum())
    r1 = pm.fasterpam(D, 4, init="random", seed=11)
    r2 = pm.fasterpam(D, 4, init="random", seed=11)
    assert np.array_equal(r1.centers, r2.centers)


def test_bad_arguments_are_one_line_errors():
    D = np.arange(12.0).reshape(3, 4)
    for args in [(D, 0), (D, 5), (D, 2.5), (np.array([1.0, 2.0]), 1), (np.full((2, 2), np.nan), 1)]:
        with pytest.raises(SolverError):
            pm.solve(*args)
    with pytest.raises(SolverError):
        pm.solve(D, 2, "nope")
    with pytest.raises(SolverError):
        pm.fasterpam(D, 2, init=[0, 0])
    with pytest.raises(SolverError):
        pm.facility_location(D, -1.0)


TINY = """5 6 2
1 2 10
2 3 3
3 4 4
4 5 6
1 5 7
2 3 5
"""


def test_pmed_reader_takes_the_last_duplicate_edge_and_shortest_paths():
    inst = pmed.parse(TINY, "tiny")
    assert inst.n == 5 and inst.p == 2 and inst.duplicates == 1
    d = inst.distances
    assert d.dtype == np.int64 and np.array_equal(d, d.T) and not d.diagonal().any()
    assert d[1, 2] == 5            # the last of "2 3 3" and "2 3 5" counts
    assert d[0, 1] == 10 and d[0, 3] == 13  # 1-2 direct; 1-5-4
    res = pmed.solve(inst, "auto")
    assert res["objective"] == brute_pmedian(d, 2) == res["bound"] and res["status"] == "optimal"


def test_classic_pmed_cli_prints_objective_and_bound_and_reports_bad_files(tmp_path):
    path = tmp_path / "pmedT.txt"
    path.write_text(TINY)
    (tmp_path / "pmedopt.txt").write_text("Data file   Optimal solution value\npmedT 21\n")
    res = json.loads(mapopt("classic", "pmed", path, "--method", "milp", "--json").stdout)
    opt = brute_pmedian(pmed.read(path).distances, 2)
    assert res["objective"] == res["bound"] == opt and res["optimum"] == 21 and res["status"] == "optimal"
    path.write_text("5 6 2\n1 2 10\n2 9 3\n")
    assert "pmedT" in one_line_error(mapopt("classic", "pmed", path, ok=False))


@pytest.mark.parametrize("text", ["", "5 1\n", "3 1 5\n1 2 1\n", "3 1 1\n1 4 1\n", "3 1 1\n1 2 -1\n",
                                  "3 1 1\n1 2 1\n", "2 1 1\n1 2 x\n"])
def test_malformed_pmed_files_raise_instance_errors(text):
    with pytest.raises(InstanceError):
        pmed.parse(text, "bad")
