"""Magnitude pruning: zero the smallest-|w| weights, per layer or with one global threshold."""

from __future__ import annotations

import numpy as np


def magnitude_prune(weights: list[np.ndarray], sparsity: float, scope: str = "layer") -> list[np.ndarray]:
    """Zero the ``round(sparsity * size)`` weights of smallest magnitude.

    Parameters
    ----------
    weights : list of np.ndarray
        Layer weights, any shapes; they are not modified.
    sparsity : float
        Fraction in ``[0, 1]`` of weights to zero.
    scope : {"layer", "global"}
        ``"layer"`` zeros the ``round(sparsity * layer.size)`` smallest entries
        of each layer (entries already zero rank first); ``"global"`` ranks
        all weights of all layers together and zeros the smallest
        ``round(sparsity * total size)``, so layers with small weights lose more.

    Returns
    -------
    list of np.ndarray
        Pruned copies, same shapes and dtypes. Ties in magnitude are broken by
        position (stable sort over layers in order, then C order), so the
        result is deterministic.

    Raises
    ------
    ValueError
        ``sparsity`` outside ``[0, 1]``, an unknown ``scope``, or non-finite weights.
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    pruned = [np.array(w, copy=True, order="C") for w in weights]
    if any(not np.isfinite(w).all() for w in pruned):
        raise ValueError("magnitude_prune needs finite weights (found NaN or inf)")
    if scope == "layer":
        for w in pruned:
            flat = w.reshape(-1)  # a view: the copies are C-contiguous
            flat[np.argsort(np.abs(flat), kind="stable")[: round(sparsity * flat.size)]] = 0
        return pruned
    if not pruned:
        return pruned
    magnitudes = np.concatenate([np.abs(w).reshape(-1).astype(np.float64) for w in pruned])
    mask = np.zeros(magnitudes.size, dtype=bool)
    mask[np.argsort(magnitudes, kind="stable")[: round(sparsity * magnitudes.size)]] = True
    bounds = np.cumsum([0] + [w.size for w in pruned])
    for w, start, stop in zip(pruned, bounds[:-1], bounds[1:]):
        w.reshape(-1)[mask[start:stop]] = 0
    return pruned
