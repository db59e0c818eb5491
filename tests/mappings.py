"""Hand-built mappings shared by the simulator tests: a tiny example worked out on paper, and
listed schedules that pack each column group's live rows in a shuffled order."""

from __future__ import annotations

import numpy as np

from mapopt.hardware import HardwareSpec
from mapopt.layer import Layer
from mapopt.mapping import Activations, Mapping, Placement
from mapopt.sim import build_fabric

# 16x8 crossbars, 4x4 OUs, 2-bit cells, 4-bit weights: a 3-bit magnitude in slices (1, 2),
# shifts (2, 0); 4-bit inputs fed 1 bit per cycle, so 4 input cycles.
TINY = HardwareSpec(xbar_rows=16, xbar_cols=8, ou_rows=4, ou_cols=4, cell_bits=2, weight_bits=4,
                    dac_bits=1, input_bits=4, adc_bits=4)


def sparse_layer(n: int, m: int, sparsity: float, seed: int) -> Layer:
    """A random 8-bit layer with about `sparsity` of its entries zero."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, size=(n, m))
    w[rng.random((n, m)) < sparsity] = 0
    return Layer.from_matrix(w)


def tiny_matrix() -> np.ndarray:
    """20 x 2: output 0 is +3 on inputs 0..9 (slices 0|3), output 1 is -5 on even inputs (slices 1|1)."""
    w = np.zeros((20, 2), dtype=np.int64)
    w[:10, 0] = 3
    w[0::2, 1] = -5
    return w


def tiny_layer() -> Layer:
    return Layer.from_matrix(tiny_matrix(), name="tiny", weight_bits=4)


def tiny_listed() -> Mapping:
    """The tiny layer placed by hand on two crossbars, both polarities side by side, rows packed.

    Crossbar 0 holds inputs 0..15: positive columns 0..3 (out0 s0, out0 s1, out1 s0, out1 s1),
    negative columns 4..7 in the same order. Crossbar 1 holds inputs 19, 18, 17, 16 (reversed)
    on rows 4..7, all eight columns in one placement. Six activations, listed by hand.
    """
    w = tiny_matrix()
    pos, neg = np.maximum(w, 0), np.maximum(-w, 0)

    def cells(mag: np.ndarray) -> np.ndarray:  # (rows, 4): out0 s0, out0 s1, out1 s0, out1 s1
        return np.stack([mag[:, 0] >> 2, mag[:, 0] & 3, mag[:, 1] >> 2, mag[:, 1] & 3], axis=1)

    def targets(sign: int, col0: int = 0) -> np.ndarray:
        return np.array([[col0 + 0, 0, 2, sign], [col0 + 1, 0, 0, sign], [col0 + 2, 1, 2, sign], [col0 + 3, 1, 0, sign]])

    top, low = np.arange(16), np.array([19, 18, 17, 16])
    slices = np.array([0, 1, 0, 1])
    placements = (
        Placement(0, 0, 0, top, cells(pos[top]), slices, targets(1)),
        Placement(0, 0, 4, top, cells(neg[top]), slices, targets(-1)),
        Placement(1, 4, 0, low, np.hstack([cells(pos[low]), cells(neg[low])]), np.tile(slices, 2),
                  np.vstack([targets(1), targets(-1, 4)])),
    )
    listed = [(0, 0, [0, 2, 4, 6]), (0, 0, [1, 3, 5, 7]), (0, 0, [8, 9]),   # out0 +3 on inputs 0..9
              (0, 4, [0, 4, 8, 12]), (0, 4, [2, 6, 10, 14]),              # out1 -5 on even inputs < 16
              (1, 4, [5, 7])]                                             # inputs 18, 16 on rows 5, 7
    return Mapping(TINY, 20, 2, placements, "listed", activations(listed))


def activations(listed: list[tuple[int, int, list[int]]]) -> Activations:
    """`Activations` from ``(crossbar, col0, rows)`` triples."""
    ptr = np.concatenate([[0], np.cumsum([len(r) for _, _, r in listed])]).astype(np.int64)
    rows = np.array([r for _, _, rs in listed for r in rs], dtype=np.int64)
    return Activations(np.array([x for x, _, _ in listed], dtype=np.int64),
                       np.array([c for _, c, _ in listed], dtype=np.int64), ptr, rows)


def packed_listed(mapping: Mapping, rng: np.random.Generator) -> Mapping:
    """`mapping` with a listed schedule: per (crossbar, OU column group) its live rows, shuffled,
    in chunks of at most ``h`` (sometimes fewer, so activations are not all full)."""
    spec = mapping.spec
    fab = build_fabric(mapping.replace(schedule="orc"))
    live = np.unique(np.stack([fab.cell_xbar, fab.cell_col // spec.ou_cols, fab.cell_row], axis=1), axis=0)
    listed = []
    for x, g in np.unique(live[:, :2], axis=0):
        rows = rng.permutation(live[(live[:, 0] == x) & (live[:, 1] == g), 2])
        size = int(rng.integers(max(1, spec.ou_rows // 2), spec.ou_rows + 1))
        listed += [(int(x), int(g) * spec.ou_cols, rows[i:i + size].tolist()) for i in range(0, len(rows), size)]
    return mapping.replace(schedule="listed", activations=activations(listed))
