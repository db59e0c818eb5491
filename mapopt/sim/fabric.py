"""The crossbars as programmed: every placed cell flattened into arrays, with its OU activation.

`build_fabric` is the one place that turns a `Mapping` into cell-level arrays; validation,
execution and costing all read the `Fabric` it returns, so they cannot disagree about
which cell sits where or which activation reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mapping import Mapping, concat_int64


@dataclass(frozen=True, eq=False)
class Fabric:
    """Cell-level view of a mapping.

    ``cell_*`` arrays cover every cell of every placement's rectangle (zeros included);
    ``nz`` indexes the nonzero ones. ``act_*`` describe the OU activations (one per
    activation: crossbar, first column, rows switched on); ``cell_act`` is the activation
    reading each nonzero cell (-1: none, -2: more than one).
    """

    mapping: Mapping
    cell_xbar: np.ndarray
    cell_row: np.ndarray
    cell_col: np.ndarray
    cell_val: np.ndarray
    cell_place: np.ndarray
    cell_lcol: np.ndarray
    cell_input: np.ndarray
    nz: np.ndarray
    act_xbar: np.ndarray
    act_col0: np.ndarray
    act_nrows: np.ndarray
    act_of_entry: np.ndarray
    act_entry_row: np.ndarray
    cell_act: np.ndarray

    @property
    def n_activations(self) -> int:
        return int(self.act_xbar.shape[0])


def build_fabric(mapping: Mapping) -> Fabric:
    """Flatten the placements of `mapping` and derive (or look up) its OU activations."""
    ps = mapping.placements
    sizes = np.array([p.values.size for p in ps], dtype=np.int64)
    rows = np.array([p.n_rows for p in ps], dtype=np.int64)
    cols = np.array([p.n_cols for p in ps], dtype=np.int64)
    place = np.repeat(np.arange(len(ps)), sizes)
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    local = np.arange(int(sizes.sum())) - start
    ncols = cols[place] if len(ps) else np.zeros(0, np.int64)
    lrow, lcol = np.divmod(local, np.maximum(ncols, 1))
    head = np.array([[p.crossbar, p.row0, p.col0] for p in ps], dtype=np.int64).reshape(-1, 3)
    values = concat_int64([p.values.ravel() for p in ps])
    inputs = concat_int64([p.inputs for p in ps])
    row_start = np.cumsum(rows) - rows
    cell_input = inputs[row_start[place] + lrow] if len(ps) else np.zeros(0, np.int64)
    xbar, row, col = head[place, 0], head[place, 1] + lrow, head[place, 2] + lcol
    nz = np.flatnonzero(values != 0)
    acts = _activations(mapping, xbar, row, col, nz)
    return Fabric(mapping, xbar, row, col, values, place, lcol, cell_input, nz, *acts)


def _activations(mapping: Mapping, xbar, row, col, nz):
    """Activations of the mapping's schedule, and the activation reading each nonzero cell."""
    spec = mapping.spec
    h, w = spec.ou_rows, spec.ou_cols
    cg = col // w
    if mapping.schedule == "grid":
        tile_key, tiles = unique_rows(xbar, row // h, cg)
        entries = unique_rows(tile_key, row)[1]
        return (tiles[:, 0], tiles[:, 2] * w, np.bincount(entries[:, 0], minlength=len(tiles)),
                entries[:, 0], entries[:, 1], tile_key[nz])
    if mapping.schedule == "orc":
        live = unique_rows(xbar[nz], cg[nz], row[nz])[1]
        group_of, groups = unique_rows(live[:, 0], live[:, 1])
        first = np.searchsorted(group_of, np.arange(len(groups)))
        chunk = (np.arange(len(live)) - first[group_of]) // h
        entry_act, acts = unique_rows(group_of, chunk)
        cell_act = _lookup_rows(live, entry_act, np.stack([xbar[nz], cg[nz], row[nz]], axis=1))
        return (groups[acts[:, 0], 0], groups[acts[:, 0], 1] * w, np.bincount(entry_act, minlength=len(acts)),
                entry_act, live[:, 2], cell_act)
    listed = mapping.activations
    counts = np.diff(listed.ptr)
    entry_act = np.repeat(np.arange(len(listed)), counts)
    e_xbar, e_cg, e_row = listed.crossbar[entry_act], listed.col0[entry_act] // w, listed.rows
    keys = np.stack([e_xbar, e_cg, e_row], axis=1)
    cell_keys = np.stack([xbar[nz], cg[nz], row[nz]], axis=1)
    cell_act = _lookup_rows(keys, entry_act, cell_keys)
    return listed.crossbar, listed.col0, counts, entry_act, listed.rows, cell_act


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
