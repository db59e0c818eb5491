"""Weight recovery around a filter grouping: restore pruned weights for free, prune rows under a budget.

Both need the float weights from before pruning (`Layer.weight`). Free recovery restores a
pruned weight when every crossbar set its slices land in already keeps that row for its
group, so OU slots and crossbars do not change. Budgeted pruning drops the rows of each
(group, set) that spill into a last, partly filled OU slot, cheapest first; with
nondecreasing marginal costs per (group, set) and one slot saved per step, the global
greedy is exact for a fixed grouping.
"""

from __future__ import annotations

import numpy as np

from ...errors import SolverError
from ...instance import Instance
from ...layout import crossbar_sets


def float_matrix(inst: Instance) -> np.ndarray:
    """The float layer matrix from before pruning, or a `SolverError` saying recovery needs it."""
    if inst.layer.weight is None:
        raise SolverError(f"layer {inst.name}: weight recovery needs the float weights, which this instance lacks")
    return inst.layer.float_matrix


def set_values(matrix: np.ndarray, inst: Instance) -> list[np.ndarray]:
    """Per crossbar set, the signed integer part of each weight that set stores (n x m)."""
    spec = inst.spec
    out = []
    for cset in crossbar_sets(matrix, spec):
        shifts, signs = cset.columns[0, :, 1], cset.columns[0, :, 2]
        out.append((cset.values * (signs * (1 << shifts))[None, None, :]).sum(axis=2))
    return out


def kept_rows(matrix: np.ndarray, inst: Instance, block: np.ndarray) -> list[np.ndarray]:
    """Per crossbar set, ``K[r, o]``: row `r` is kept by output `o`'s group (n x m bool)."""
    onehot = np.eye(block.max() + 1, dtype=np.int64)[block]  # m x G
    return [((vals != 0).astype(np.int64) @ onehot @ onehot.T) > 0 for vals in set_values(matrix, inst)]


def free_recovery(inst: Instance, matrix: np.ndarray, block: np.ndarray) -> tuple[np.ndarray, dict]:
    """`matrix` with every pruned weight restored that needs no new row in any set; and its statistics."""
    w0 = float_matrix(inst)
    scale = np.broadcast_to(inst.layer.scale, (inst.layer.n_outputs,))
    qmax = 2 ** (inst.layer.weight_bits - 1) - 1
    q0 = np.clip(np.rint(w0 / scale[None, :]), -qmax, qmax).astype(np.int64)
    candidate = (matrix == 0) & (q0 != 0)
    extra = np.where(candidate, q0, 0)
    blocked = np.zeros(matrix.shape, dtype=bool)
    for kept, vals in zip(kept_rows(matrix, inst, block), set_values(extra, inst)):
        blocked |= (vals != 0) & ~kept
    free = candidate & ~blocked
    recovered = matrix + np.where(free, q0, 0)
    pruned_mass = np.abs(w0[candidate]).sum()
    return recovered, {
        "recovered_weights": int(free.sum()),
        "recovered_mass": float(np.abs(w0[free]).sum() / pruned_mass) if pruned_mass else 0.0,
        "error_before": relative_error(inst, matrix), "error_after": relative_error(inst, recovered),
    }


def relative_error(inst: Instance, matrix: np.ndarray) -> float:
    """``||W0 - scale * Q||_F / ||W0||_F``: the layer-output error for white inputs."""
    w0 = float_matrix(inst)
    scale = np.broadcast_to(inst.layer.scale, (inst.layer.n_outputs,))
    return float(np.linalg.norm(w0 - matrix * scale[None, :]) / max(np.linalg.norm(w0), 1e-30))


def budget_prune(inst: Instance, matrix: np.ndarray, block: np.ndarray, budget: float) -> tuple[np.ndarray, dict]:
    """Drop whole OU slots' worth of rows per (group, set), cheapest first, while the added squared
    error stays within ``budget x ||W0||^2``; returns the pruned matrix and statistics."""
    w0 = float_matrix(inst)
    scale = np.broadcast_to(inst.layer.scale, (inst.layer.n_outputs,))
    h, allowance = inst.spec.ou_rows, budget * float((w0 ** 2).sum())
    marginals = []  # (cost, step, set, group, rows, outputs)
    groups = [np.flatnonzero(block == j) for j in range(block.max() + 1)]
    values = set_values(matrix, inst)
    for b, vals in enumerate(values):
        for j, outs in enumerate(groups):
            sub = vals[:, outs]
            rows = np.flatnonzero((sub != 0).any(axis=1))
            if not len(rows):
                continue
            cost = ((sub[rows] * scale[outs][None, :]) ** 2).sum(axis=1)
            order = rows[np.argsort(cost, kind="stable")]
            cost = np.sort(cost, kind="stable")
            first = len(rows) % h or h
            cuts = [0, first] + list(range(first + h, len(rows) + 1, h))
            for step, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
                marginals.append((float(cost[lo:hi].sum()), step, b, j, order[lo:hi]))
    marginals.sort(key=lambda t: (t[0], t[1]))
    pruned, spent, saved = matrix.copy(), 0.0, 0
    for cost, _, b, j, rows in marginals:
        if spent + cost > allowance:
            break
        spent += cost
        saved += 1
        pruned[np.ix_(rows, groups[j])] -= values[b][np.ix_(rows, groups[j])]
    return pruned, {"slots_saved": saved, "error_spent": spent / max(float((w0 ** 2).sum()), 1e-30)}
