"""Every timed engine keeps its limit on instances large enough that model building, bounds or
constructions alone used to run past it. The tolerance is generous (3 x limit + 2 s: loaded 2-core
machines); precise figures come from `experiments/time_limits.py`."""

import time

import numpy as np
import pytest

from mapopt.classic import vbp
from mapopt.engines import packing2d as p2
from mapopt.engines import pmedian as pm
from mapopt.engines import vector_packing as vp
from mapopt.engines.partition import Hypergraph
from mapopt.engines.partition_exact import cpsat as partition_cpsat, milp as partition_milp
from mapopt.result import Status

LIMIT = 1.0


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    wall = time.perf_counter() - start
    assert wall < 3 * LIMIT + 2, f"{fn.__name__} took {wall:.1f} s under a {LIMIT} s limit"
    return out


@pytest.mark.parametrize("method", ["heuristic", "cpsat"])
def test_2bp_on_a_hundred_thousand_items_keeps_its_limit(method):
    rng = np.random.default_rng(0)
    w, h = rng.integers(1, 11, 100_000), rng.integers(1, 11, 100_000)
    p = timed(getattr(p2, method), w, h, 10, 10, time_limit=LIMIT)
    p2.check_packing(w, h, 10, 10, p.bins, p.x, p.y)
    assert p.bound == p2.lower_bound(w, h, 10, 10) <= p.n_bins and p.status == Status.FEASIBLE


def points(n, seed=0):
    pts = np.random.default_rng(seed).integers(0, 1000, size=(n, 2))
    return np.abs(pts[:, None, :] - pts[None, :, :]).sum(axis=2)


@pytest.mark.parametrize("method", ["auto", "milp", "cpsat", "lagrangian"])
def test_pmedian_exact_paths_keep_their_limit(method):
    D = points(1500)
    res = timed(pm.solve, D, 20, method, LIMIT)
    assert res.bound <= res.objective == pm.evaluate(D, res.centers)[1] and len(res.centers) == 20


def test_pmedian_with_no_time_left_still_answers_with_a_valid_bound():
    D = points(300, seed=1)
    res = pm.solve(D, 10, "auto", 0.0)
    assert len(res.centers) == 10 and pm.trivial_bound(D) <= res.bound <= res.objective


def test_vbp_at_its_item_limit_keeps_its_limit():
    rng = np.random.default_rng(2)
    lines = "".join(f"{a} {b} 50\n" for a, b in rng.integers(1, 60, size=(vbp.MAX_ITEMS // 50, 2)))
    inst = vbp.parse(f"2\n100 100\n{vbp.MAX_ITEMS // 50}\n{lines}", "many")
    res = timed(vbp.solve, inst, "auto", LIMIT)
    assert res["lower_bound"] <= res["bins"]
    packing = timed(vp.cpsat, inst.sizes, inst.capacity, None, LIMIT)
    assert packing.bound <= packing.n_bins and np.bincount(packing.bins).max() > 1


@pytest.mark.parametrize("solve", [partition_cpsat, partition_milp])
def test_partition_models_give_up_building_at_the_limit(solve):
    rng = np.random.default_rng(3)
    hg = Hypergraph.from_supports([rng.random((1024, 512)) < 0.05], g=8, h=9)
    res = timed(solve, hg, time_limit=LIMIT / 2, bound=7)
    assert res.bound >= 7 and res.status in (Status.UNKNOWN, Status.FEASIBLE, Status.OPTIMAL)
