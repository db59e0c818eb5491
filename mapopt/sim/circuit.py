"""The mapped computation as linear algebra over OU column segments.

A segment is one physical column inside one OU activation: the bitline current an ADC
converts. ``M`` (inputs x segments) holds the programmed cell values, ``R`` (segments x
outputs) routes each converted partial sum to its outputs with ``sign * 2^shift``. The
layer the mapping computes with an ideal ADC is ``M @ R`` (minus the offset correction).
"""

from __future__ import annotations

from dataclasses import dataclass

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from .fabric import Fabric, Part, build_fabric, parts, unique_rows


@dataclass(frozen=True, eq=False)
class Circuit:
    """Segments of a fabric: matrices, ADC capacities and worst-case partial sums.

    Only nonzero cells read by exactly one activation, with a valid input and column,
    enter; `validate` reports the others. ``seg_mixed`` marks segments whose cells come
    from columns with different targets (an ADC cannot split one bitline's current).
    """

    M: sp.csr_matrix
    R: sp.csr_matrix
    seg_act: np.ndarray
    seg_col: np.ndarray
    seg_xbar: np.ndarray
    seg_slice: np.ndarray
    seg_cap: np.ndarray
    seg_max: np.ndarray
    seg_mixed: np.ndarray
    seg_targets: np.ndarray
    offset: int

    @property
    def n_segments(self) -> int:
        return int(self.seg_act.shape[0])

    def effective_matrix(self) -> np.ndarray:
        """The integer layer matrix the mapping computes when no partial sum clips (n x m)."""
        w = (self.M @ self.R).toarray()
        return np.rint(w).astype(np.int64) - self.offset


def views(mapping) -> Iterator[tuple[Fabric, Circuit]]:
    """The fabric and circuit of each part of `mapping` in turn (one part unless it is large)."""
    for part in parts(mapping):
        fab = build_fabric(mapping, part)
        yield fab, build_circuit(fab)


def build_circuit(fab: Fabric) -> Circuit:
    """Group the fabric's usable nonzero cells by (activation, physical column)."""
    mapping, spec = fab.mapping, fab.mapping.spec
    n, m = mapping.n_inputs, mapping.n_outputs
    slices, signature, targets = column_table(mapping, fab.part)
    ok = np.flatnonzero((fab.cell_act >= 0) & (fab.cell_input >= 0) & (fab.cell_input < n))
    gcol = fab.cell_gcol[ok] - (mapping.table.starts[2][fab.part.first] if len(fab.cell_gcol) else 0)
    seg_of, segs = unique_rows(fab.cell_act[ok], fab.cell_xbar[ok], fab.cell_col[ok])
    nseg = len(segs)
    first_gcol = np.zeros(nseg, dtype=np.int64)
    first_gcol[seg_of[::-1]] = gcol[::-1]
    seg_mixed = np.zeros(nseg, dtype=bool)
    np.logical_or.at(seg_mixed, seg_of, signature[gcol] != signature[first_gcol[seg_of]])
    vals = fab.cell_val[ok].astype(np.float64)
    M = sp.csr_matrix((vals, (fab.cell_input[ok], seg_of)), shape=(n, nseg))
    M.sum_duplicates()
    seg_slices = np.clip(slices[first_gcol], 0, spec.n_slices - 1)
    caps = spec.adc_caps()[seg_slices]
    seg_max = np.bincount(seg_of, weights=vals, minlength=nseg) * (2 ** spec.dac_bits - 1)
    good_t = (targets[:, 1] >= 0) & (targets[:, 1] < m) & (targets[:, 2] >= 0) & (targets[:, 2] < 62)
    t = targets[good_t]
    T = sp.csr_matrix((t[:, 3] * np.exp2(t[:, 2]), (t[:, 0], t[:, 1])), shape=(len(slices), m))
    pick = sp.csr_matrix((np.ones(nseg), (np.arange(nseg), first_gcol)), shape=(nseg, len(slices)))
    R = (pick @ T).tocsr()
    n_targets = np.bincount(targets[:, 0], minlength=len(slices))[first_gcol]
    return Circuit(M, R, segs[:, 0], segs[:, 2], segs[:, 1], seg_slices, caps, seg_max, seg_mixed, n_targets,
                   spec.offset)


def column_table(mapping, part: Part) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every column of the `part`'s placements, numbered from 0 in table order: its slice, a signature of its
    set of targets (equal sets, equal signatures), and the targets as rows ``(column, output, shift, sign)``."""
    t = mapping.table
    col_start = t.starts[2] - t.starts[2][part.first] if part.first < len(t) else t.starts[2]
    n_cols = int(t.header[part.first:part.stop, 4].sum())
    rows = t.targets_of(part.first, part.stop)
    p, col = rows[:, 0], rows[:, 1]
    # a target naming a column outside its own placement is dropped here (validate reports
    # it); offset into the column numbering it would land on a neighbouring placement's column
    inside = (col >= 0) & (col < t.header[p, 4])
    targets = np.column_stack([col_start[p] + col, rows[:, 2:]])[inside]
    targets = targets[np.lexsort(targets.T[::-1])]
    triple = unique_rows(*targets[:, 1:].T)[0] if len(targets) else np.zeros(0, np.int64)
    per_col = np.bincount(targets[:, 0], minlength=n_cols)
    rank = np.arange(len(targets)) - (np.cumsum(per_col) - per_col)[targets[:, 0]]
    sets = np.full((n_cols, int(per_col.max(initial=0))), -1, dtype=np.int64)
    sets[targets[:, 0], rank] = triple
    if sets.shape[1] <= 1:  # one target per column at most: the target itself is the signature
        signature = sets[:, 0] if sets.shape[1] else np.full(n_cols, -1, dtype=np.int64)
    else:
        signature = np.unique(sets, axis=0, return_inverse=True)[1].ravel()
    first_col = int(t.starts[2][part.first]) if part.first < len(t) else 0
    return t.col_slice[first_col:first_col + n_cols].astype(np.int64), signature, targets
