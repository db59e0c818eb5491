"""The conventional im2col layout: every weight slice in a fixed logical column, tiled onto crossbars.

Each polarity gets its own crossbar set (positive and negative magnitudes under a
differential pair, one set under offset encoding). With ``adjacent`` slices an output's
``S`` slices sit in neighbouring columns, so an OU column group of ``w`` columns serves
``w / S`` outputs; with ``per_crossbar`` every slice gets its own crossbar set and a group
serves ``w`` outputs. Outputs go in `column_order` (natural order by default): that order
is what filter ordering optimizes. Rows are inputs in natural order, tiled by crossbar rows.
"""

from __future__ import annotations

import numpy as np

from .errors import MapoptError
from .hardware import HardwareSpec
from .layer import slice_matrix
from .mapping import Mapping, Placement


def outputs_per_group(spec: HardwareSpec) -> int:
    """Outputs that share one OU column group, ``g``: ``w / S`` adjacent, ``w`` per crossbar."""
    return max(1, spec.ou_cols // spec.n_slices) if spec.slice_layout == "adjacent" else spec.ou_cols


def logical_columns(matrix: np.ndarray, spec: HardwareSpec, order: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per crossbar set: the logical columns' cell values (n x L) and their ``(output, shift, sign, slice)`` rows.

    Within a set, columns follow `order`; an output's slices, when adjacent, go most
    significant first.
    """
    planes, sign = slice_matrix(matrix, spec)
    polarities = [(1, sign > 0), (-1, sign < 0)] if spec.polarity == "differential" else [(1, np.ones_like(sign, bool))]
    shifts = np.array(spec.slice_shifts)
    S = spec.n_slices
    sets = []
    for pol, mask in polarities:
        signed = planes * mask[None]
        if spec.slice_layout == "adjacent":
            values = signed[:, :, order].transpose(1, 2, 0).reshape(matrix.shape[0], -1)
            slc = np.tile(np.arange(S), len(order))
            out = np.repeat(order, S)
            sets.append((values, np.column_stack([out, shifts[slc], np.full(len(out), pol), slc])))
        else:
            for s in range(S):
                meta = np.column_stack([order, np.full(len(order), shifts[s]), np.full(len(order), pol),
                                        np.full(len(order), s)])
                sets.append((signed[s][:, order], meta))
    return sets


def conventional_mapping(matrix: np.ndarray, spec: HardwareSpec, schedule: str = "grid",
                         column_order: np.ndarray | None = None, meta: dict | None = None) -> Mapping:
    """Tile the logical columns of `matrix` (n x m integers) onto crossbars, one placement per crossbar."""
    n, m = matrix.shape
    order = np.arange(m) if column_order is None else np.asarray(column_order, dtype=np.int64)
    if sorted(order.tolist()) != list(range(m)):
        raise MapoptError(f"column order must be a permutation of the {m} outputs")
    per_xbar = spec.xbar_cols - spec.xbar_cols % (spec.n_slices if spec.slice_layout == "adjacent" else 1)
    if per_xbar <= 0:
        raise MapoptError(f"a {spec.xbar_cols}-column crossbar cannot hold the {spec.n_slices} slices of one weight")
    placements, xbar = [], 0
    for values, cols in logical_columns(matrix, spec, order):
        for c0 in range(0, values.shape[1], per_xbar):
            block, bcols = values[:, c0:c0 + per_xbar], cols[c0:c0 + per_xbar]
            targets = np.column_stack([np.arange(len(bcols)), bcols[:, :3]])
            for r0 in range(0, n, spec.xbar_rows):
                rows = np.arange(r0, min(n, r0 + spec.xbar_rows))
                placements.append(Placement(xbar, 0, 0, rows, block[rows], bcols[:, 3].copy(), targets))
                xbar += 1
    return Mapping(spec, n, m, tuple(placements), schedule, meta=dict(meta or {}))
