"""The crossbars as programmed: every nonzero cell flattened into arrays, with its OU activation.

`build_fabric` is the one place that turns a `Mapping` into cell-level arrays; validation,
execution and costing all read the `Fabric` it returns, so they cannot disagree about
which cell sits where or which activation reads it. Only nonzero cells get a row of arrays:
a zero cell adds no current, so the placements' rectangles are enough to count, overlap and
schedule them (a 25088 x 4096 layer has about 8 times more zero cells than nonzero ones).

A large mapping is viewed in parts (`parts`): ranges of placements on disjoint ranges of
crossbars. Every rule and count but the layer's function and the totals is local to a
crossbar, so each part is checked and costed on its own, a few million cells at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mapping import Mapping, PlacementTable

#: cells (zeros included) a part of a mapping holds at most, unless one crossbar holds more
PART_CELLS = 1 << 24


@dataclass(frozen=True)
class Part:
    """Placements ``first`` to ``stop`` (exclusive), alone on crossbars ``lo`` to ``hi`` (exclusive; None:
    unbounded), so activations are assigned to parts by their crossbar."""

    first: int
    stop: int
    lo: int | None = None
    hi: int | None = None

    def holds(self, crossbar: np.ndarray) -> np.ndarray:
        """Mask of the crossbars in this part's range."""
        inside = np.ones(np.shape(crossbar), dtype=bool)
        if self.lo is not None:
            inside &= crossbar >= self.lo
        if self.hi is not None:
            inside &= crossbar < self.hi
        return inside


def parts(mapping: Mapping, cells: int | None = None) -> list[Part]:
    """The mapping's parts of about `cells` cells each (`PART_CELLS`), cut where the crossbar changes.
    Placements not sorted by crossbar (no solver writes them so) make one part."""
    cells = PART_CELLS if cells is None else cells
    head = mapping.table.header
    whole = [Part(0, len(head))]
    sizes = head[:, 3] * head[:, 4]
    if sizes.sum() <= cells or np.any(np.diff(head[:, 0]) < 0):
        return whole
    change = np.flatnonzero(np.diff(head[:, 0])) + 1  # where a part may begin
    filled = np.concatenate([[0], np.cumsum(sizes)])
    cuts = [0]
    while filled[-1] - filled[cuts[-1]] > cells:
        fits = np.searchsorted(filled, filled[cuts[-1]] + cells, side="right") - 1  # placements before it fit
        k = np.searchsorted(change, fits, side="right")
        if k and change[k - 1] > cuts[-1]:
            cuts.append(int(change[k - 1]))
        elif k < len(change):  # one crossbar alone holds more: it is a part of its own
            cuts.append(int(change[k]))
        else:
            break
    bounds = [None] + [int(head[c, 0]) for c in cuts[1:]] + [None]
    return [Part(a, b, lo, hi) for a, b, lo, hi in zip(cuts, cuts[1:] + [len(head)], bounds, bounds[1:])]


@dataclass(frozen=True, eq=False)
class Fabric:
    """Cell-level view of a mapping.

    ``cell_*`` arrays cover every nonzero cell of every placement, in the table's order;
    ``n_cells`` counts all cells of the placements' rectangles, zeros included. ``act_*``
    describe the OU activations (one per activation: crossbar, first column, rows switched
    on); under the ``orc`` and ``listed`` schedules ``act_of_entry`` and ``act_entry_row``
    name each (activation, row) it switches on through the input index (None under ``grid``,
    whose activations switch on row ranges). ``cell_act`` is the activation reading each
    nonzero cell (-1: none, -2: more than one).
    """

    mapping: Mapping
    part: Part
    cell_xbar: np.ndarray
    cell_row: np.ndarray
    cell_col: np.ndarray
    cell_val: np.ndarray
    cell_place: np.ndarray
    cell_lcol: np.ndarray
    cell_input: np.ndarray
    n_cells: int
    act_xbar: np.ndarray
    act_col0: np.ndarray
    act_nrows: np.ndarray
    act_of_entry: np.ndarray | None
    act_entry_row: np.ndarray | None
    cell_act: np.ndarray

    @property
    def n_activations(self) -> int:
        return int(self.act_xbar.shape[0])

    @property
    def cell_gcol(self) -> np.ndarray:
        """Each nonzero cell's column in the table's global column numbering."""
        return self.mapping.table.starts[2][self.cell_place] + self.cell_lcol


def build_fabric(mapping: Mapping, part: Part | None = None) -> Fabric:
    """Flatten the nonzero cells of `mapping` (of one `part` of it) and derive (or look up) its OU activations.
    Placements keep their numbers in the whole mapping."""
    t = mapping.table
    part = part if part is not None else Part(0, len(t))
    rows, cols = t.header[:, 3], t.header[:, 4]
    row_start, value_start, _ = t.starts
    v0 = int(value_start[part.first]) if part.first < len(t) else len(t.values)
    v1 = int(value_start[part.stop]) if part.stop < len(t) else len(t.values)
    flat = np.flatnonzero(t.values[v0:v1]) + v0
    place = np.searchsorted(value_start + rows * cols, flat, side="right")
    lrow, lcol = np.divmod(flat - value_start[place], np.maximum(cols[place], 1))
    head = t.header[place]
    xbar, row, col = head[:, 0], head[:, 1] + lrow, head[:, 2] + lcol
    cell_input = t.inputs[row_start[place] + lrow].astype(np.int64)
    values = t.values[flat].astype(np.int64)
    acts = _activations(mapping, t, part, xbar, row, col)
    cells = int((rows * cols)[part.first:part.stop].sum())
    return Fabric(mapping, part, xbar, row, col, values, place, lcol, cell_input, cells, *acts)


def _activations(mapping: Mapping, t: PlacementTable, part: Part, xbar, row, col):
    """Activations of the mapping's schedule, and the activation reading each nonzero cell."""
    spec = mapping.spec
    h, w = spec.ou_rows, spec.ou_cols
    cg = col // w
    if mapping.schedule == "grid":
        tiles, nrows = _grid_tiles(t.header[part.first:part.stop], h, w)
        cell_act = _lookup_rows(tiles, np.arange(len(tiles)), np.stack([xbar, row // h, cg], axis=1))
        return tiles[:, 0], tiles[:, 2] * w, nrows, None, None, cell_act
    if mapping.schedule == "orc":
        live = unique_rows(xbar, cg, row)[1]
        group_of, groups = unique_rows(live[:, 0], live[:, 1])
        first = np.searchsorted(group_of, np.arange(len(groups)))
        chunk = (np.arange(len(live)) - first[group_of]) // h
        entry_act, acts = unique_rows(group_of, chunk)
        cell_act = _lookup_rows(live, entry_act, np.stack([xbar, cg, row], axis=1))
        return (groups[acts[:, 0], 0], groups[acts[:, 0], 1] * w, np.bincount(entry_act, minlength=len(acts)),
                entry_act, live[:, 2], cell_act)
    listed = mapping.activations
    mine = np.flatnonzero(part.holds(listed.crossbar))  # activations keep their numbers in the whole list
    counts = np.diff(listed.ptr)
    entry_act = np.repeat(mine, counts[mine])
    entry_row = listed.rows[np.repeat(listed.ptr[mine], counts[mine])
                            + np.arange(len(entry_act)) - np.repeat(np.cumsum(counts[mine]) - counts[mine], counts[mine])]
    keys = np.stack([listed.crossbar[entry_act], listed.col0[entry_act] // w, entry_row], axis=1)
    cell_act = _lookup_rows(keys, entry_act, np.stack([xbar, cg, row], axis=1))
    return listed.crossbar[mine], listed.col0[mine], counts[mine], entry_act, entry_row, cell_act


def _grid_tiles(header: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Every aligned ``h x w`` tile a placement touches, as ``(crossbar, row tile, column group)``
    rows (sorted), and how many of its rows placements cover (their union).

    A placement is cut into pieces, one per tile, each a range of rows; overlapping pieces of one
    tile count their shared rows once."""
    x, r0, c0, r, c = header[(header[:, 3] > 0) & (header[:, 4] > 0)].T
    band_lo, band_hi = r0 // h, (r0 + r - 1) // h
    cg_lo, cg_hi = c0 // w, (c0 + c - 1) // w
    nb, nc = band_hi - band_lo + 1, cg_hi - cg_lo + 1
    place = np.repeat(np.arange(len(x)), nb * nc)
    k = np.arange(len(place)) - np.repeat(np.cumsum(nb * nc) - nb * nc, nb * nc)
    band, group = band_lo[place] + k // nc[place], cg_lo[place] + k % nc[place]
    lo = np.maximum(r0[place], band * h)
    hi = np.minimum(r0[place] + r[place], (band + 1) * h)
    tile_of, tiles = unique_rows(x[place], band, group)
    return tiles, _union_lengths(tile_of, lo, hi, len(tiles))


def _union_lengths(group: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the length of the union of its half-open intervals ``[lo, hi)``."""
    order = np.lexsort((lo, group))
    base = int(lo.min(initial=0))
    g, lo, hi = group[order], lo[order] - base, hi[order] - base
    span = int(hi.max(initial=0)) + 1
    reach = np.maximum.accumulate(hi + g * span) - g * span  # furthest end so far within the group
    before = np.concatenate([[np.iinfo(np.int64).min], reach[:-1]])
    before[np.flatnonzero(np.diff(g)) + 1] = np.iinfo(np.int64).min  # a group's first interval
    new = hi - np.maximum(lo, before)
    return np.bincount(g, weights=np.maximum(new, 0), minlength=n_groups).astype(np.int64)


def unique_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of integer columns, sorted, and the index of each input row.

    Rows are packed into one int64 key (mixed radix), which sorts far faster than
    ``np.unique(axis=0)``.
    """
    cols = [np.asarray(c, dtype=np.int64).ravel() for c in columns]
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for c in cols:
        low = int(c.min(initial=0))
        key = key * (int(c.max(initial=0)) - low + 1) + (c - low)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse.ravel(), np.stack([c[first] for c in cols], axis=1).reshape(-1, len(cols))


def _lookup_rows(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query row, the value of the matching key row: -1 if none, -2 if several."""
    if len(keys) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    allk = np.concatenate([keys, queries])
    inv, uniq = unique_rows(*allk.T)
    kid, qid = inv[:len(keys)], inv[len(keys):]
    count = np.bincount(kid, minlength=len(uniq))
    value = np.full(len(uniq), -1, dtype=np.int64)
    value[kid] = values
    out = value[qid]
    out[count[qid] > 1] = -2
    return out
