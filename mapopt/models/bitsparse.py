"""Orchestrated bit-sparse patterns: project weights onto values with at most `k` nonzero slices (or bits).

SME's first step, as a per-magnitude table lookup: every magnitude goes to the nearest value
(ties toward zero) whose slice decomposition under the hardware has at most `k` nonzero
slices. Fewer nonzero slices means sparser planes, so fewer kept rows and smaller partial sums.
"""

from __future__ import annotations

import numpy as np

from ..errors import MapoptError
from ..hardware import HardwareSpec

UNITS = ("slice", "bit")


def nonzero_parts(values: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Number of nonzero parts of each value cut into fields of `widths` (most significant first)."""
    shifts = np.cumsum((0,) + tuple(widths[::-1]))[:-1][::-1]
    return sum(((values >> s) & ((1 << w) - 1)) != 0 for s, w in zip(shifts, widths))


def projection_table(spec: HardwareSpec, k: int, unit: str = "slice") -> np.ndarray:
    """``table[v]``: the nearest magnitude to `v` with at most `k` nonzero slices (or bits)."""
    if unit not in UNITS:
        raise MapoptError(f"unit must be one of {UNITS}, got {unit!r}")
    if k < 0:
        raise MapoptError(f"k must be nonnegative, got {k}")
    if spec.polarity != "differential":
        raise MapoptError("bit-sparse projection needs differential polarity (magnitudes are sliced)")
    widths = spec.slice_widths if unit == "slice" else (1,) * spec.magnitude_bits
    values = np.arange(2 ** spec.magnitude_bits)
    allowed = values[nonzero_parts(values, widths) <= k]
    pos = np.clip(np.searchsorted(allowed, values), 1, len(allowed) - 1) if len(allowed) > 1 else np.zeros_like(values)
    lo, hi = allowed[pos - 1] if len(allowed) > 1 else allowed[pos], allowed[pos]
    return np.where(values - lo <= hi - values, lo, hi)


def project(matrix: np.ndarray, spec: HardwareSpec, k: int, unit: str = "slice") -> np.ndarray:
    """The integer matrix with every magnitude projected (signs kept)."""
    table = projection_table(spec, k, unit)
    return np.sign(matrix) * table[np.abs(matrix)]
