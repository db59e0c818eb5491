"""Pattern placement: pruning keeps one pattern per kernel, every method's mapping is valid and exact
against the pruned layer, formations compare as the seed predicts, bounds hold."""

from __future__ import annotations

import numpy as np
import pytest

from mapopt.errors import MapoptError, SolverError
from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.models.pattern import candidates, pattern_prune
from mapopt.problems import methods
from mapopt.solve import solve

PROBLEM = "pattern-placement"


def conv_instance(k: int = 16, c: int = 12, seed: int = 0) -> Instance:
    rng = np.random.default_rng(seed)
    return Instance(Layer.from_weights(rng.normal(size=(k, c, 3, 3)), "conv"), preset("pattern"))


def test_candidates_are_all_patterns_of_the_size():
    masks = candidates(9, 4)
    assert masks.shape == (126, 9) and np.all(masks.sum(axis=1) == 4)
    assert len({m.tobytes() for m in masks}) == 126


@pytest.mark.parametrize("selection", ["frequency", "pmedian"])
def test_pruning_keeps_one_pattern_per_kernel_and_removes_the_weakest(selection):
    w = np.random.default_rng(1).normal(size=(8, 6, 3, 3))
    pp = pattern_prune(w, n_patterns=4, entries=4, removed=0.25, selection=selection)
    assert pp.patterns.shape == (4, 9)
    kept = (pp.weight != 0).reshape(48, 9)
    assign = pp.assignment.ravel()
    assert (assign < 0).sum() == 12 and not kept[assign < 0].any()
    for k in np.flatnonzero(assign >= 0):
        assert np.array_equal(kept[k], pp.patterns[assign[k]])  # exactly its pattern (weights are nonzero)
    # each kept kernel has the best of the chosen patterns
    sal = (w.reshape(48, 9) ** 2) @ pp.patterns.T.astype(float)
    assert np.allclose(sal[assign >= 0, assign[assign >= 0]], sal[assign >= 0].max(axis=1))


def test_pmedian_selection_keeps_at_least_as_much_weight_as_the_frequency_rule():
    w = np.random.default_rng(2).normal(size=(16, 16, 3, 3))
    freq = pattern_prune(w, 6, 4, selection="frequency")
    opt = pattern_prune(w, 6, 4, selection="pmedian")
    assert opt.kept >= freq.kept - 1e-12
    assert opt.selection_bound <= opt.selection_loss + 1e-6


@pytest.mark.parametrize("name", sorted(methods(PROBLEM)))
def test_every_method_is_valid_and_exact_against_the_pruned_layer(name):
    inst = conv_instance()
    r = solve(inst, PROBLEM, name, time_limit=5.0)
    assert r.report.valid and r.report.exact, r.report.violations
    assert r.objective == r.report.cost.ou_activations and r.bound <= r.objective
    assert r.mapping.reference is not None
    assert r.stats["crossbars"] == r.report.cost.crossbars >= r.stats["crossbar_bound"]


def test_formations_order_as_expected_and_auto_takes_the_best():
    inst = conv_instance(32, 16, seed=3)
    res = {m: solve(inst, PROBLEM, m) for m in ("kernel-grouped", "kernel-merged", "mixed", "grouped", "auto")}
    assert res["kernel-merged"].objective <= res["kernel-grouped"].objective
    best = min((r.report.cost.crossbars, r.objective) for m, r in res.items() if m != "auto")
    assert (res["auto"].report.cost.crossbars, res["auto"].objective) <= best


def test_pattern_placement_rejects_linear_layers_and_bad_parameters():
    rng = np.random.default_rng(0)
    with pytest.raises(SolverError, match="conv"):
        solve(Instance(Layer.from_weights(rng.normal(size=(8, 8)), "fc"), preset("pattern")), PROBLEM, "mixed")
    with pytest.raises(MapoptError, match="removed"):
        solve(conv_instance(), PROBLEM, "mixed", removed=1.5)
