"""Re-fit under a decision: exact recovery, never worse than the decided weights, masks kept, and the
re-fitted layer mapped and validated under the same grouping."""

from __future__ import annotations

import numpy as np
import pytest

from mapopt.errors import MapoptError
from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.problems.filter_ordering.problem import Grouping
from mapopt.models.bitsparse import projection_table
from mapopt.refit import LayerStats, Tie, prune_obs, refit, refit_tied, saliency, to_allowed, to_grid
from mapopt.solve import apply, solve


def stats_of(x: np.ndarray, y: np.ndarray) -> LayerStats:
    return LayerStats(x.T @ x, x.T @ y, float((y ** 2).sum()), len(x))


def test_full_rank_rows_and_the_true_support_recover_the_weights_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12))
    truth = rng.normal(size=(12, 5)) * (rng.random((12, 5)) < 0.5)
    fitted = refit(stats_of(x, x @ truth), truth != 0, damping=0.0)
    assert np.allclose(fitted, truth, atol=1e-9)
    assert stats_of(x, x @ truth).error(fitted) < 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_refit_never_raises_the_calibration_error_and_keeps_the_mask(seed):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.normal(size=(300, 20)), 0)  # post-ReLU inputs: correlated, nonnegative
    dense = rng.normal(size=(20, 6))
    decided = dense * (np.abs(dense) > np.quantile(np.abs(dense), 0.7))
    free = decided != 0
    free[rng.random(free.shape) < 0.2] = True  # a decision may free more than the decided support
    stats = stats_of(x, x @ dense)
    fitted = refit(stats, free, damping=0.0)
    assert np.all(fitted[~free] == 0)
    assert stats.error(fitted) <= stats.error(decided) + 1e-12
    assert stats.error(fitted) == pytest.approx(np.sum((x @ dense - x @ fitted) ** 2) / np.sum((x @ dense) ** 2))


def test_outputs_with_the_same_free_rows_share_one_solve_and_match_solving_alone():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 8))
    y = rng.normal(size=(100, 3))
    free = np.zeros((8, 3), dtype=bool)
    free[:5, :2] = True
    free[2:, 2] = True
    both = refit(stats_of(x, y), free)
    alone = refit(stats_of(x, y[:, 2:]), free[:, 2:])
    assert np.allclose(both[:, 2:], alone)


def test_bad_masks_and_damping_are_one_line_errors():
    s = stats_of(np.eye(3), np.ones((3, 2)))
    with pytest.raises(MapoptError, match="masks"):
        refit(s, np.ones((2, 2), bool))
    with pytest.raises(MapoptError, match="damping"):
        refit(s, np.ones((3, 2), bool), damping=-1)


def test_to_grid_rounds_and_clips_to_the_signed_range():
    q = to_grid(np.array([[0.26, -0.74], [100.0, -100.0]]), np.array([0.5, 0.25]), weight_bits=4)
    assert q.tolist() == [[1, -3], [7, -7]]


def test_the_groups_kept_rows_are_free_and_the_refitted_layer_maps_under_the_same_groups():
    rng = np.random.default_rng(3)
    w = rng.integers(-60, 61, size=(40, 8))
    w[rng.random(w.shape) < 0.8] = 0
    inst = Instance(Layer.from_matrix(w), preset("orc"))
    decided = solve(inst, "filter-ordering", "local-search", seed=0)
    grouping = decided.solution
    positive, negative = grouping.free(w, inst.spec)
    for g in grouping.groups:
        assert np.array_equal(positive[:, g].any(axis=1), (w[:, g] > 0).any(axis=1))
        assert np.array_equal(negative[:, g].all(axis=1), (w[:, g] < 0).any(axis=1))
    assert np.all(positive[w > 0]) and np.all(negative[w < 0])
    values = rng.integers(-60, 61, size=w.shape)
    filled = np.where((values > 0) & positive | (values < 0) & negative, values, 0)  # any values the masks allow
    again = apply(Instance(inst.layer.with_matrix(filled), inst.spec), "filter-ordering", grouping.refitted(filled, inst.spec))
    assert again.report.valid and again.report.exact
    assert again.objective <= decided.objective  # no row the grouping did not keep anyway


def test_sign_constrained_refit_keeps_each_cells_allowed_sign():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 10))
    dense = rng.normal(size=(10, 4))
    positive, negative = rng.random((10, 4)) < 0.6, rng.random((10, 4)) < 0.6
    stats = stats_of(x, x @ dense)
    fitted = refit(stats, positive, negative, damping=0.0)
    assert not np.any((fitted > 0) & ~positive) and not np.any((fitted < 0) & ~negative)
    assert stats.error(fitted) < 1.0  # better than all zeros, the one point every mask allows


def test_apply_refuses_another_problems_decision():
    inst = Instance(Layer.from_matrix(np.eye(4, dtype=np.int64)), preset("orc"))
    with pytest.raises(MapoptError, match="Grouping"):
        apply(inst, "filter-ordering", object())
    assert isinstance(apply(inst, "filter-ordering", Grouping((np.arange(2), np.arange(2, 4)))).solution, Grouping)


@pytest.mark.parametrize("seed", range(3))
def test_obs_pruning_removes_the_sparsity_and_beats_magnitude_on_the_output(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 30)) * rng.uniform(0.1, 3, size=30)  # inputs of very different scales
    dense = rng.normal(size=(30, 5))
    stats = stats_of(x, x @ dense)
    pruned = prune_obs(stats, 0.5, block=10, damping=0.0)
    assert np.all((pruned == 0).sum(axis=0) == 15)
    magnitude = dense * (np.abs(dense) >= np.median(np.abs(dense), axis=0))
    assert stats.error(pruned) < stats.error(magnitude)
    assert stats.error(pruned) <= stats.error(refit(stats, magnitude != 0, damping=0.0)) * 1.5
    assert np.allclose(prune_obs(stats, 0.0, damping=0.0), dense)  # nothing removed: the least-squares weights


def test_pattern_placement_frees_the_cells_its_blocks_hold_and_maps_refitted_values_in_place():
    rng = np.random.default_rng(5)
    weight = rng.normal(size=(8, 4, 3, 3))
    inst = Instance(Layer.from_weights(weight, "conv"), preset("pattern"))
    decided = solve(inst, "pattern-placement", "kernel-grouped", seed=0)
    placement = decided.solution
    positive, negative = placement.free(placement.matrix, inst.spec)
    assert np.all(positive[placement.matrix > 0]) and np.all(negative[placement.matrix < 0])
    kernels = (positive | negative).reshape(4, 9, 8)  # (channel, position, filter)
    for k in range(8):
        for c in range(4):
            p = placement.assignment[k, c]
            allowed = kernels[c, :, k]
            assert not allowed.any() if p < 0 else not allowed[~placement.patterns[p]].any()  # patterns kept
    values = rng.integers(-100, 101, size=positive.shape)
    filled = np.where((values > 0) & positive | (values < 0) & negative, values, 0)
    again = apply(Instance(inst.layer.with_matrix(filled), inst.spec), "pattern-placement",
                  placement.refitted(filled, inst.spec))
    assert again.report.valid and again.report.exact, again.report.violations
    assert again.objective <= decided.objective and np.array_equal(again.mapping.reference, filled)


def test_tied_refit_recovers_shared_vectors_and_never_raises_the_error():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 8))
    leader = rng.normal(size=4)
    truth = np.zeros((8, 3))
    truth[:4, 0], truth[:4, 1], truth[4:, 2] = leader, 2 * leader, rng.normal(size=4)
    ties = [Tie(np.arange(4), np.zeros(4), np.array([0, 1]), np.array([1.0, 2.0])),
            Tie(np.arange(4, 8), np.zeros(4), np.array([2]), np.array([1.0]))]
    stats = stats_of(x, x @ truth)
    values = refit_tied(stats, ties, sweeps=3, damping=0.0)
    assert np.allclose(values[0], leader) and np.allclose(values[1], truth[4:, 2])
    noisy = stats_of(x, x @ (truth + rng.normal(size=truth.shape)))  # no tied matrix fits: the error only falls
    start = [rng.normal(size=4), rng.normal(size=4)]
    tied = [Tie(t.rows, v, t.outputs, t.scales) for t, v in zip(ties, start)]

    def matrix(vals):
        w = np.zeros((8, 3))
        for t, v in zip(ties, vals):
            w[np.ix_(t.rows, t.outputs)] += np.outer(v, t.scales)
        return w

    errors = [noisy.error(matrix(refit_tied(noisy, tied, sweeps=k, damping=0.0))) for k in range(4)]
    assert all(a >= b - 1e-12 for a, b in zip(errors, errors[1:])) and errors[-1] < errors[0]


def test_rows_chosen_by_saliency_keep_each_groups_row_counts_and_take_the_most_salient():
    rng = np.random.default_rng(7)
    w = rng.integers(-60, 61, size=(30, 6))
    w[rng.random(w.shape) < 0.7] = 0
    inst = Instance(Layer.from_matrix(w), preset("orc"))
    grouping = solve(inst, "filter-ordering", "local-search").solution
    worth = (rng.random(w.shape), rng.random(w.shape))
    chosen, kept = grouping.free_by(worth, w, inst.spec), grouping.free(w, inst.spec)
    for new, old, value in zip(chosen, kept, worth):
        for g in grouping.groups:
            rows = np.flatnonzero(new[:, g].any(axis=1))
            assert len(rows) == old[:, g].any(axis=1).sum() and new[np.ix_(rows, g)].all()
            others = np.setdiff1d(np.arange(30), rows)
            assert not len(others) or value[rows][:, g].sum(axis=1).min() >= value[others][:, g].sum(axis=1).max()


def test_saliency_is_the_obs_cost_of_each_weight_split_by_sign():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(200, 6))
    stats = stats_of(x, x @ rng.normal(size=(6, 2)))
    pos, neg = saliency(stats, damping=0.0)
    w = np.linalg.solve(stats.hessian, stats.cross)
    i, j = 2, 1
    mask = np.ones((6, 2), dtype=bool)
    mask[i, j] = False
    alone = refit(stats, mask, damping=0.0)  # the best fit without weight (i, j)
    assert (pos + neg)[i, j] == pytest.approx((stats.error(alone) - stats.error(w)) * stats.target, rel=1e-6)
    assert np.all((pos > 0) <= (w > 0)) and np.all((neg > 0) <= (w < 0))


@pytest.mark.parametrize("seed", range(4))
def test_projected_refit_keeps_values_allowed_and_signs_free_and_beats_projecting_each_weight(seed):
    """Values with at most one nonzero 2-bit slice of 7 magnitude bits: the compensated projection stays on them,
    never takes a sign its cell may not, and leaves less output error than the nearest allowed value of each
    weight alone."""
    spec = preset("bitslice", weight_bits=8)
    allowed = np.unique(projection_table(spec, 1))
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.normal(size=(400, 24)), 0)
    dense = rng.normal(size=(24, 8)) * 20
    positive, negative = rng.random(dense.shape) < 0.8, rng.random(dense.shape) < 0.8
    stats, scale = stats_of(x, x @ dense), rng.uniform(0.5, 2.0, 8)
    fitted = refit(stats, positive, negative)
    projected = to_allowed(stats, fitted, positive, negative, scale, allowed)
    assert np.isin(np.abs(projected), allowed).all()
    assert not ((projected > 0) & ~positive).any() and not ((projected < 0) & ~negative).any()
    alone = np.sign(fitted) * projection_table(spec, 1)[np.clip(np.rint(np.abs(fitted / scale)), 0, 127).astype(int)]
    assert stats.error(projected * scale) < stats.error(alone * scale)
