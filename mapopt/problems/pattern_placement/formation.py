"""Block formations: which kernels share a block (rows, columns) before placement.

- ``kernel-grouped`` (the seed's kernel reordering): per input channel, kernels with the same
  pattern, ``g`` at a time; each block holds one pattern's rows (4 of 9).
- ``kernel-merged``: those blocks, then pairs with the same filters in different channels
  stacked when their rows fit one OU.
- ``mixed``: per input channel, the kernels left after pruning, ``g`` at a time in filter
  order (patterns mixed: the union of their rows, at most ``R S``).
- ``grouped``: filters grouped once for all channels (the filter-ordering engine on the
  pruned support); each group's live rows over all channels form one tall block.
"""

from __future__ import annotations

import numpy as np

from ...layout import Block, crossbar_sets, outputs_per_group

FORMATIONS = ("kernel-grouped", "kernel-merged", "mixed", "grouped")


def per_channel(matrix: np.ndarray, spec, kernel_rows: int, assignment: np.ndarray, by_pattern: bool) -> list[Block]:
    """Blocks of up to ``g`` kernels of one channel (and, `by_pattern`, of one pattern), per crossbar set."""
    g, blocks = outputs_per_group(spec), []
    for cset in crossbar_sets(matrix, spec):
        live = cset.values.any(axis=2)  # rows x filters
        for c in range(matrix.shape[0] // kernel_rows):
            rows = np.arange(c * kernel_rows, (c + 1) * kernel_rows)
            present = np.flatnonzero(live[rows].any(axis=0))
            keys = assignment[present, c] if by_pattern else np.zeros(len(present), dtype=np.int64)
            for key in np.unique(keys):
                members = present[keys == key]
                for i in range(0, len(members), g):
                    values, cols = cset.group(members[i:i + g])
                    used = rows[values[rows].any(axis=1)]
                    blocks.append(Block(used, values[used], cols))
    return blocks


def merge_pairs(blocks: list[Block], h: int) -> list[Block]:
    """Stack blocks with identical columns two at a time when their rows fit one OU (largest with smallest)."""
    by_cols: dict[bytes, list[int]] = {}
    for i, b in enumerate(blocks):
        by_cols.setdefault(b.columns.tobytes(), []).append(i)
    out = []
    for members in by_cols.values():
        members = sorted(members, key=lambda i: -blocks[i].values.shape[0])
        lo, hi = 0, len(members) - 1
        while lo <= hi:
            a = blocks[members[lo]]
            if lo < hi and a.values.shape[0] + blocks[members[hi]].values.shape[0] <= h:
                b = blocks[members[hi]]
                out.append(Block(np.concatenate([a.inputs, b.inputs]), np.vstack([a.values, b.values]), a.columns))
                hi -= 1
            else:
                out.append(a)
            lo += 1
    return out


def grouped(matrix: np.ndarray, spec, groups: list[np.ndarray]) -> list[Block]:
    """One block per crossbar set and filter group: the group's live rows over all channels."""
    blocks = []
    for cset in crossbar_sets(matrix, spec):
        for outputs in groups:
            values, cols = cset.group(np.asarray(outputs, dtype=np.int64))
            live = np.flatnonzero(values.any(axis=1))
            if len(live):
                blocks.append(Block(live, values[live], cols))
    return blocks
