"""Helpers shared by the packing engines."""

from __future__ import annotations

import numpy as np


def relabel_in_order(bins: np.ndarray) -> np.ndarray:
    """Bins numbered 0.. in order of first appearance, so equal packings compare equal."""
    if not len(bins):
        return bins.astype(np.int64)
    _, first, inverse = np.unique(bins, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.ravel()]
