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
from .mapping import Activations, Mapping, Placement


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
    by_set: dict[int, list] = {}  # crossbars numbered set by set, then column by column, then row by row
    for c0 in range(0, m, per_xbar // k):  # one column of crossbars at a time: only its rows are sliced
        outputs = order[c0:c0 + per_xbar // k]
        readable = _group_rows(np.unique(outputs // (m // groups)), n // groups)
        for s, cset in enumerate(crossbar_sets(matrix[np.ix_(readable, outputs)], spec)):
            block, cols = cset.group(np.arange(len(outputs)))
            cols = np.column_stack([outputs[cols[:, 0]], cols[:, 1:]])
            targets = np.column_stack([np.arange(len(cols)), cols[:, :3]])
            h = spec.xbar_rows
            by_set.setdefault(s, []).extend((readable[r0:r0 + h], block[r0:r0 + h], cols[:, 3].copy(), targets)
                                            for r0 in range(0, len(readable), h))
    cells = (c for s in sorted(by_set) for c in by_set[s])
    placements = [Placement(xbar, 0, 0, *c) for xbar, c in enumerate(cells)]
    return Mapping(spec, n, m, tuple(placements), schedule, meta=dict(meta or {}))


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


def place_blocks(spec: HardwareSpec, n: int, m: int, blocks: list[Block], where: np.ndarray,
                 meta: dict | None = None) -> Mapping:
    """Put block `i` at ``where[i] = (crossbar, row0, col0)``; each chunk of ``h`` rows and ``w`` columns
    of a block is one listed OU activation (``col0`` must be a multiple of ``w``)."""
    h, w = spec.ou_rows, spec.ou_cols
    placements, acts = [], []
    for block, (xbar, row0, col0) in zip(blocks, np.asarray(where, dtype=np.int64).reshape(-1, 3)):
        r, c = block.values.shape
        targets = np.column_stack([np.arange(c), block.columns[:, :3]]) if block.targets is None else block.targets
        placements.append(Placement(int(xbar), int(row0), int(col0), np.asarray(block.inputs, dtype=np.int64),
                                    block.values, block.columns[:, 3].copy(), targets))
        acts += [(xbar, col0 + c0, row0 + r0, min(h, r - r0)) for r0 in range(0, r, h) for c0 in range(0, c, w)]
    a = np.array(acts, dtype=np.int64).reshape(-1, 4)
    ptr = np.concatenate([[0], np.cumsum(a[:, 3])])
    rows = np.concatenate([np.arange(r, r + k) for r, k in zip(a[:, 2], a[:, 3])]) if len(a) else np.zeros(0, np.int64)
    return Mapping(spec, n, m, tuple(placements), "listed", Activations(a[:, 0], a[:, 1], ptr, rows.astype(np.int64)),
                   meta=dict(meta or {}))


def compact_mapping(matrix: np.ndarray, spec: HardwareSpec, groups: list[np.ndarray],
                    slots: dict[tuple[int, int], list[np.ndarray]] | None = None, shared_lanes: bool = False,
                    meta: dict | None = None) -> Mapping:
    """Each group's live rows stored contiguously in OU slots of at most ``h`` rows, slots filling crossbar lanes.

    A group holds at most ``g`` outputs; every output must be in exactly one group.
    `slots` gives, per (crossbar set, group), the rows of each slot (bit-slice packing
    chooses them); by default the live rows are cut into chunks of ``h`` in order. With
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
    blocks, where, xbar_base, slot = [], [], 0, 0
    for s, cset in enumerate(crossbar_sets(matrix, spec)):
        for j, outputs in enumerate(groups):
            values, cols = cset.group(np.asarray(outputs, dtype=np.int64))
            live = np.flatnonzero(values.any(axis=1))
            chunks = slots[s, j] if slots is not None else [live[r0:r0 + h] for r0 in range(0, len(live), h)]
            for rows in chunks:
                if len(rows) > h:
                    raise MapoptError(f"a slot of {len(rows)} rows exceeds the OU height {h}")
                lane = slot // per_lane
                blocks.append(Block(np.asarray(rows, dtype=np.int64), values[rows], cols))
                where.append((xbar_base + lane // lanes, (slot % per_lane) * h, (lane % lanes) * lw))
                slot += 1
        if not shared_lanes:
            xbar_base, slot = xbar_base + math.ceil(slot / (per_lane * lanes)), 0
    return place_blocks(spec, n, m, blocks, np.array(where).reshape(-1, 3), meta)


def check_groups(groups: list[np.ndarray], m: int, g: int) -> None:
    """Raise `MapoptError` unless `groups` partition ``range(m)`` into groups of at most `g`."""
    sizes = [len(x) for x in groups]
    flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in groups]) if groups else np.zeros(0, np.int64)
    if max(sizes, default=0) > g or not np.array_equal(np.sort(flat), np.arange(m)):
        raise MapoptError(f"groups must partition the {m} outputs into groups of at most {g}")
