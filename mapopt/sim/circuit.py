"""The mapped computation as linear algebra over OU column segments.

A segment is one physical column inside one OU activation: the bitline current an ADC
converts. ``M`` (inputs x segments) holds the programmed cell values, ``R`` (segments x
outputs) routes each converted partial sum to its outputs with ``sign * 2^shift``. The
layer the mapping computes with an ideal ADC is ``M @ R`` (minus the offset correction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .fabric import Fabric, unique_rows


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


def build_circuit(fab: Fabric) -> Circuit:
    """Group the fabric's usable nonzero cells by (activation, physical column)."""
    mapping, spec = fab.mapping, fab.mapping.spec
    n, m = mapping.n_inputs, mapping.n_outputs
    cols, col_of_place, targets = column_table(mapping)
    nz = fab.nz
    gcol = col_of_place[fab.cell_place[nz]] + fab.cell_lcol[nz]
    act = fab.cell_act
    ok = (act >= 0) & (fab.cell_input[nz] >= 0) & (fab.cell_input[nz] < n)
    cells = nz[ok]
    seg_of, segs = unique_rows(act[ok], fab.cell_xbar[cells], fab.cell_col[cells])
    nseg = len(segs)
    first_gcol = np.zeros(nseg, dtype=np.int64)
    first_gcol[seg_of[::-1]] = gcol[ok][::-1]
    signature = cols["signature"]
    seg_mixed = np.zeros(nseg, dtype=bool)
    np.logical_or.at(seg_mixed, seg_of, signature[gcol[ok]] != signature[first_gcol[seg_of]])
    vals = fab.cell_val[cells].astype(np.float64)
    M = sp.csr_matrix((vals, (fab.cell_input[cells], seg_of)), shape=(n, nseg))
    M.sum_duplicates()
    slices = np.clip(cols["slice"][first_gcol], 0, spec.n_slices - 1)
    caps = spec.adc_caps()[slices]
    seg_max = np.bincount(seg_of, weights=vals, minlength=nseg) * (2 ** spec.dac_bits - 1)
    good_t = (targets[:, 1] >= 0) & (targets[:, 1] < m) & (targets[:, 2] >= 0) & (targets[:, 2] < 62)
    t = targets[good_t]
    T = sp.csr_matrix((t[:, 3] * np.exp2(t[:, 2]), (t[:, 0], t[:, 1])), shape=(len(cols["slice"]), m))
    pick = sp.csr_matrix((np.ones(nseg), (np.arange(nseg), first_gcol)), shape=(nseg, len(cols["slice"])))
    R = (pick @ T).tocsr()
    n_targets = np.bincount(targets[:, 0], minlength=len(cols["slice"]))[first_gcol]
    return Circuit(M, R, segs[:, 0], segs[:, 2], segs[:, 1], slices, caps, seg_max, seg_mixed, n_targets,
                   spec.offset)


def column_table(mapping) -> tuple[dict, np.ndarray, np.ndarray]:
    """Every placement column numbered globally: its slice, a target-set signature, and
    the targets as rows ``(global column, output, shift, sign)``."""
    ps = mapping.placements
    ncols = np.array([p.n_cols for p in ps], dtype=np.int64)
    col_of_place = np.cumsum(ncols) - ncols
    slices = np.concatenate([p.col_slice for p in ps]).astype(np.int64) if ps else np.zeros(0, np.int64)
    # a target naming a column outside its own placement is dropped here (validate reports
    # it); offset into the global numbering it would land on a neighbouring placement's column
    inside = [(p.targets[:, 0] >= 0) & (p.targets[:, 0] < p.n_cols) for p in ps]
    parts = [np.column_stack([p.targets[ok, 0] + col_of_place[i], p.targets[ok, 1:]])
             for i, (p, ok) in enumerate(zip(ps, inside)) if ok.any()]
    targets = np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 4), np.int64)
    groups: dict[int, list] = {}
    for row in targets[np.lexsort(targets.T[::-1])].tolist():
        groups.setdefault(row[0], []).append(tuple(row[1:]))
    ids: dict[tuple, int] = {}
    signature = np.array([ids.setdefault(tuple(groups.get(c, ())), len(ids)) for c in range(len(slices))],
                         dtype=np.int64)
    return {"slice": slices, "signature": signature}, col_of_place, targets
