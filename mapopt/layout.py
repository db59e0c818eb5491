"""Where weight slices go: logical columns, the conventional im2col layout and the compacted ORC layout.

Each polarity gets its own crossbar set (positive and negative magnitudes under a
differential pair, one set under offset encoding). With ``adjacent`` slices an output's
``S`` slices sit in neighbouring columns, so an OU column group of ``w`` columns serves
``g = w / S`` outputs; with ``per_crossbar`` every slice gets its own crossbar set and a
group serves ``g = w`` outputs.

- `conventional_mapping`: outputs in a column order, rows in natural order, tiled onto
  crossbars (the ``dense`` and ``orc`` baselines); a grouped conv's crossbar column holds only
  the rows of its outputs' groups (the diagonal blocks, not the structural zeros between them).
- `compact_mapping`: outputs in given groups; each group's live rows (a nonzero in any of
  its columns) are stored contiguously, ``h`` rows per OU slot, slots stacked into
  crossbar lanes with an input index (OU-based row compression with compaction, as in
  SRE/ORC). Its OU activations are listed, one per slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import MapoptError
from .hardware import HardwareSpec
from .layer import slice_matrix
from .mapping import Activations, Mapping, PlacementTable, concat_int64


@dataclass(frozen=True)
class CrossbarSet:
    """The logical columns one crossbar set holds: ``values[:, o]`` are output ``o``'s ``k`` columns
    (``n x m x k``), ``columns[o]`` their ``(output, shift, sign, slice)`` rows (``m x k x 4``)."""

    values: np.ndarray
    columns: np.ndarray

    def group(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell values (n x len*k) and column rows of `outputs`, side by side in that order."""
        n, _, k = self.values.shape
        return self.values[:, outputs].reshape(n, len(outputs) * k), self.columns[outputs].reshape(-1, 4)


def outputs_per_group(spec: HardwareSpec) -> int:
    """Outputs that share one OU column group, ``g``: ``w / S`` adjacent (at least 1), ``w`` per crossbar."""
    return max(1, spec.ou_cols // spec.n_slices) if spec.slice_layout == "adjacent" else spec.ou_cols


def crossbar_sets(matrix: np.ndarray, spec: HardwareSpec) -> list[CrossbarSet]:
    """The crossbar sets of an integer layer matrix: one per polarity, times one per slice if per crossbar."""
    planes, sign = slice_matrix(matrix, spec)
    polarities = [(1, sign > 0), (-1, sign < 0)] if spec.polarity == "differential" else [(1, np.ones_like(sign, bool))]
    shifts, S, m = np.array(spec.slice_shifts), spec.n_slices, matrix.shape[1]
    slices = [np.arange(S)] if spec.slice_layout == "adjacent" else [np.array([s]) for s in range(S)]
    sets = []
    for pol, mask in polarities:
        for slc in slices:
            values = (planes[slc] * mask[None]).transpose(1, 2, 0)
            columns = np.stack(np.broadcast_arrays(np.arange(m)[:, None], shifts[slc][None, :],
                                                   np.full((m, len(slc)), pol), slc[None, :]), axis=-1)
            sets.append(CrossbarSet(values, columns))
    return sets


def conventional_mapping(matrix: np.ndarray, spec: HardwareSpec, schedule: str = "grid",
                         column_order: np.ndarray | None = None, meta: dict | None = None,
                         groups: int = 1) -> Mapping:
    """Tile the logical columns of `matrix` (n x m integers) onto crossbars, one placement per crossbar.

    With `groups` (a grouped conv's, `mapopt.layer.Layer.groups`) a column of crossbars holds only the rows
    its outputs' groups read (their diagonal blocks), not every row.
    """
    n, m = matrix.shape
    order = check_order(column_order, m)
    k = 1 if spec.slice_layout == "per_crossbar" else spec.n_slices
    per_xbar = spec.xbar_cols - spec.xbar_cols % k
    if per_xbar <= 0:
        raise MapoptError(f"a {spec.xbar_cols}-column crossbar cannot hold the {k} slices of one weight")
    h = spec.xbar_rows
    by_set: dict[int, list] = {}  # crossbars numbered set by set, then column by column, then row by row
    for c0 in range(0, m, per_xbar // k):  # one column of crossbars at a time: only its rows are sliced
        outputs = order[c0:c0 + per_xbar // k]
        readable = _group_rows(np.unique(outputs // (m // groups)), n // groups)
        for s, cset in enumerate(crossbar_sets(matrix[np.ix_(readable, outputs)], spec)):
            block, cols = cset.group(np.arange(len(outputs)))
            cols = np.column_stack([outputs[cols[:, 0]], cols[:, 1:]])
            by_set.setdefault(s, []).append((readable, block, cols))
    runs, xbar = [], 0
    for s in sorted(by_set):
        for readable, block, cols in by_set[s]:
            lengths = np.diff(np.append(np.arange(0, len(readable), h), len(readable)))
            where = np.column_stack([xbar + np.arange(len(lengths)), np.zeros((len(lengths), 2), np.int64)])
            runs.append(Run(readable, lengths, block, cols[:, 3], np.column_stack([np.arange(len(cols)), cols[:, :3]]),
                            where))
            xbar += len(lengths)
    return Mapping(spec, n, m, run_table(runs), schedule, meta=dict(meta or {}))


def _group_rows(groups: np.ndarray, rows: int) -> np.ndarray:
    """The rows of `groups` of a block-diagonal matrix whose blocks have `rows` rows each, in order."""
    return (groups[:, None] * rows + np.arange(rows)[None, :]).ravel()


def check_order(column_order, m: int) -> np.ndarray:
    """`column_order` as a permutation of ``range(m)`` (natural order when None)."""
    order = np.arange(m) if column_order is None else np.asarray(column_order, dtype=np.int64)
    if order.shape != (m,) or not np.array_equal(np.sort(order), np.arange(m)):
        raise MapoptError(f"column order must be a permutation of the {m} outputs")
    return order


def lane_width(spec: HardwareSpec) -> int:
    """Columns one group occupies in the compact layout: its ``g x k`` columns rounded up to whole OUs."""
    k = 1 if spec.slice_layout == "per_crossbar" else spec.n_slices
    return math.ceil(outputs_per_group(spec) * k / spec.ou_cols) * spec.ou_cols


@dataclass(frozen=True, eq=False)
class Block:
    """Cells placed as one rectangle: the input driving each row, the cell values (rows x cols),
    and each column's ``(output, shift, sign, slice)``. `targets` (rows ``(column, output, shift,
    sign)``), when given, replace the one target per column (a column shared by several outputs)."""

    inputs: np.ndarray
    values: np.ndarray
    columns: np.ndarray
    targets: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Run:
    """Blocks that share their columns, stacked row-wise in `values`: block ``i`` is the next
    ``lengths[i]`` rows, driven by the matching `inputs`, placed at ``where[i] = (crossbar, row0, col0)``.
    `targets` rows ``(column, output, shift, sign)`` hold for every block of the run."""

    inputs: np.ndarray
    lengths: np.ndarray
    values: np.ndarray
    col_slice: np.ndarray
    targets: np.ndarray
    where: np.ndarray


def place_blocks(spec: HardwareSpec, n: int, m: int, blocks: list[Block], where: np.ndarray,
                 meta: dict | None = None) -> Mapping:
    """Put block `i` at ``where[i] = (crossbar, row0, col0)``; each chunk of ``h`` rows and ``w`` columns
    of a block is one listed OU activation (``col0`` must be a multiple of ``w``)."""
    runs = []
    for block, at in zip(blocks, np.asarray(where, dtype=np.int64).reshape(-1, 3)):
        targets = np.column_stack([np.arange(len(block.columns)), block.columns[:, :3]]) \
            if block.targets is None else block.targets
        runs.append(Run(np.asarray(block.inputs, dtype=np.int64), np.array([len(block.inputs)]), block.values,
                        block.columns[:, 3], targets, at[None]))
    return place_runs(spec, n, m, runs, meta)


def place_runs(spec: HardwareSpec, n: int, m: int, runs: list[Run], meta: dict | None = None) -> Mapping:
    """The mapping of runs of blocks, as one placement table; each chunk of ``h`` rows and ``w`` columns of
    a block is one listed OU activation. Built from arrays, never an object per block, so a layer of
    millions of OU slots maps in bounded memory."""
    table = run_table(runs)
    return Mapping(spec, n, m, table, "listed", _block_activations(table.header, spec.ou_rows, spec.ou_cols),
                   meta=dict(meta or {}))


def run_table(runs: list[Run]) -> PlacementTable:
    """The placement table of runs of blocks, one placement per block, built from arrays."""
    runs = [r for r in runs if len(r.lengths)]
    k = np.array([len(r.lengths) for r in runs], dtype=np.int64)
    c = np.array([r.values.shape[1] for r in runs], dtype=np.int64)
    lengths = concat_int64([r.lengths for r in runs])
    where = np.concatenate([r.where for r in runs]).astype(np.int64) if runs else np.zeros((0, 3), np.int64)
    header = np.column_stack([where, lengths, np.repeat(c, k)])
    # every block repeats its run's targets: the table's largest array, built by one gather, in 32 bits
    per_run = np.array([len(r.targets) for r in runs], dtype=np.int64)
    own = _concat([r.targets for r in runs], np.int32, (0, 4))
    block_rows = np.repeat(per_run, k)
    start = np.repeat(np.repeat(np.cumsum(per_run) - per_run, k), block_rows)
    at = start + np.arange(int(block_rows.sum())) - np.repeat(np.cumsum(block_rows) - block_rows, block_rows)
    targets = np.column_stack([np.repeat(np.arange(len(header), dtype=np.int32), block_rows), own[at]])
    return PlacementTable(header, _concat([r.inputs for r in runs], np.int32),
                          _concat([r.values.ravel() for r in runs],
                                  np.result_type(*[r.values for r in runs]) if runs else np.int64),
                          _concat([np.tile(r.col_slice, len(r.lengths)) for r in runs], np.int8), targets)


def _concat(parts: list[np.ndarray], dtype, empty: tuple = (0,)) -> np.ndarray:
    """The parts joined as one array of `dtype` (`empty`-shaped when there are none)."""
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(empty, dtype)


def _block_activations(header: np.ndarray, h: int, w: int) -> Activations:
    """One activation per ``h x w`` chunk of every placement, rows outer, columns inner."""
    x, r0, c0, r, c = header.T
    nr, nc = -(-r // h), -(-c // w)
    per = nr * nc
    place = np.repeat(np.arange(len(header)), per)
    k = np.arange(len(place)) - np.repeat(np.cumsum(per) - per, per)
    rk, ck = k // nc[place], k % nc[place]
    start = r0[place] + rk * h
    count = np.minimum(h, r[place] - rk * h)
    ptr = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
    rows = np.repeat(start, count) + np.arange(int(ptr[-1])) - np.repeat(ptr[:-1], count)
    return Activations(x[place], c0[place] + ck * w, ptr, rows.astype(np.int32))


def compact_mapping(matrix: np.ndarray, spec: HardwareSpec, groups: list[np.ndarray],
                    slots: dict[tuple[int, int], list[np.ndarray]] | None = None, shared_lanes: bool = False,
                    meta: dict | None = None) -> Mapping:
    """Each group's live rows stored contiguously in OU slots of at most ``h`` rows, slots filling crossbar lanes.

    A group holds at most ``g`` outputs; every output must be in exactly one group.
    `slots` gives, per (crossbar set, group), the rows of its slots one after another and how many
    each slot has (bit-slice packing chooses them); by default the live rows are cut into chunks of ``h`` in order. With
    `shared_lanes` all sets fill one sequence of crossbars (a per-column shift makes that
    possible) instead of one crossbar set each.
    """
    n, m = matrix.shape
    g = outputs_per_group(spec)
    check_groups(groups, m, g)
    h, lw = spec.ou_rows, lane_width(spec)
    lanes, per_lane = spec.xbar_cols // lw, spec.xbar_rows // h
    if lanes == 0:
        raise MapoptError(f"a group of {g} outputs needs {lw} columns; the crossbar has {spec.xbar_cols}")
    runs, xbar_base, slot = [], 0, 0
    for s, cset in enumerate(crossbar_sets(matrix, spec)):
        for j, outputs in enumerate(groups):
            values, cols = cset.group(np.asarray(outputs, dtype=np.int64))
            if slots is None:
                rows = np.flatnonzero(values.any(axis=1))
                lengths = np.diff(np.append(np.arange(0, len(rows), h), len(rows)))
            else:
                rows, lengths = (np.asarray(a, dtype=np.int64) for a in slots[s, j])
                if np.any(lengths > h):
                    raise MapoptError(f"a slot of {int(lengths.max())} rows exceeds the OU height {h}")
            ids = slot + np.arange(len(lengths))
            lane = ids // per_lane
            where = np.column_stack([xbar_base + lane // lanes, (ids % per_lane) * h, (lane % lanes) * lw])
            runs.append(Run(rows, lengths, values[rows], cols[:, 3],
                            np.column_stack([np.arange(len(cols)), cols[:, :3]]), where))
            slot += len(lengths)
        if not shared_lanes:
            xbar_base, slot = xbar_base + math.ceil(slot / (per_lane * lanes)), 0
    return place_runs(spec, n, m, runs, meta)


def check_groups(groups: list[np.ndarray], m: int, g: int) -> None:
    """Raise `MapoptError` unless `groups` partition ``range(m)`` into groups of at most `g`."""
    sizes = [len(x) for x in groups]
    flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in groups]) if groups else np.zeros(0, np.int64)
    if max(sizes, default=0) > g or not np.array_equal(np.sort(flat), np.arange(m)):
        raise MapoptError(f"groups must partition the {m} outputs into groups of at most {g}")
