"""Pattern pruning of ``R x S`` kernels: choose a small pattern set, give every kernel one pattern, remove weak kernels.

A pattern is a set of `entries` positions of the kernel. Kernel saliency for a pattern is
the squared weight it keeps. The pattern set is chosen either by PatDNN's frequency rule
(each kernel votes for the pattern of its largest entries; the most voted win) or
optimally as a p-median over the candidate patterns (clients = kernels, cost = squared
weight lost), solved by `mapopt.engines.pmedian`. Connectivity pruning then removes the
kernels keeping the least weight. Works on float weights ``[K, C, R, S]`` (numpy only).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import MapoptError

SELECTIONS = ("frequency", "pmedian")


@dataclass(frozen=True)
class PatternPruning:
    """The result: pattern set (``P x R*S`` bool), pattern of each kernel (``K x C``, -1 removed),
    the pruned weights and the share of squared weight kept."""

    patterns: np.ndarray
    assignment: np.ndarray
    weight: np.ndarray
    kept: float
    selection_loss: float
    selection_bound: float


def candidates(positions: int, entries: int) -> np.ndarray:
    """Every pattern of `entries` positions out of `positions` (``C(9, 4) = 126`` for 3x3 kernels), as masks."""
    if not 0 < entries <= positions:
        raise MapoptError(f"a pattern needs 1..{positions} entries, got {entries}")
    combos = np.array(list(itertools.combinations(range(positions), entries)))
    masks = np.zeros((len(combos), positions), dtype=bool)
    masks[np.repeat(np.arange(len(combos)), entries), combos.ravel()] = True
    return masks


def pattern_prune(weight: np.ndarray, n_patterns: int = 8, entries: int = 4, removed: float = 0.0,
                  selection: str = "frequency", seed: int = 0, time_limit: float | None = None) -> PatternPruning:
    """Pattern-prune conv weights ``[K, C, R, S]`` (see the module docstring)."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise MapoptError(f"pattern pruning needs conv weights [K, C, R, S], got shape {weight.shape}")
    if selection not in SELECTIONS:
        raise MapoptError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if not 0.0 <= removed < 1.0:
        raise MapoptError(f"removed must be a fraction in [0, 1), got {removed}")
    K, C, R, S = weight.shape
    kernels = (weight.reshape(K * C, R * S)) ** 2
    cands = candidates(R * S, entries)
    kept_by = kernels @ cands.T.astype(np.float64)          # kernels x candidates
    loss = kernels.sum(axis=1, keepdims=True) - kept_by
    if selection == "frequency":
        chosen, bound = _frequency(kernels, cands, n_patterns), 0.0
    else:
        chosen, bound = _pmedian(loss, n_patterns, seed, time_limit)
    best = np.argmax(kept_by[:, chosen], axis=1)
    kept = kept_by[np.arange(K * C), chosen[best]]
    assignment = best.astype(np.int64)
    if removed > 0:
        drop = np.argsort(kept, kind="stable")[:int(round(removed * K * C))]
        assignment[drop] = -1
    masks = np.where(assignment[:, None] >= 0, cands[chosen][np.maximum(assignment, 0)], False)
    pruned = (weight.reshape(K * C, R * S) * masks).reshape(weight.shape)
    total = kernels.sum()
    return PatternPruning(cands[chosen], assignment.reshape(K, C), pruned,
                          float((pruned ** 2).sum() / total) if total else 1.0,
                          float(loss[np.arange(K * C), chosen[best]].sum()), float(bound))


def _frequency(kernels: np.ndarray, cands: np.ndarray, n_patterns: int) -> np.ndarray:
    """PatDNN's rule: each kernel votes for the candidate it keeps most of; the most voted patterns win."""
    votes = np.bincount(np.argmax(kernels @ cands.T.astype(np.float64), axis=1), minlength=len(cands))
    return np.sort(np.argsort(-votes, kind="stable")[:n_patterns])


def _pmedian(loss: np.ndarray, n_patterns: int, seed: int, time_limit: float | None) -> tuple[np.ndarray, float]:
    """The pattern set losing least squared weight: a p-median with candidates as facilities."""
    from ..engines import pmedian

    res = pmedian.solve(loss, n_patterns, "auto", time_limit, seed)
    return np.sort(np.asarray(res.centers)), float(res.bound)
