"""The Mapping IR: the one output every solver produces and the simulator's only input.

A mapping is a list of placements. Each puts a block of programmed cell values on one
crossbar at ``(row0, col0)``, says which input drives each of its rows, which slice each
column holds (that picks the column's ADC), and where each column's partial sum goes:
targets ``(column, output, shift, sign)``, more than one per column under reuse. OU
activations are derived from the placements by a schedule (``grid``: every aligned
``h x w`` tile a placement touches, the conventional mapping; ``orc``: per aligned
column group, the rows holding a nonzero, in chunks of ``h``) or listed explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import InstanceError
from .hardware import HardwareSpec
from .npzio import array, read_npz, require, write_npz

SCHEDULES = ("grid", "orc", "listed")
FORMAT = "mapopt-mapping"


@dataclass(frozen=True, eq=False)
class Placement:
    """A block of cells on one crossbar.

    Attributes
    ----------
    crossbar, row0, col0 : where the block's top-left cell sits.
    inputs : ``(r,)`` the layer input driving each row.
    values : ``(r, c)`` programmed cell values (unsigned, at most ``cell_bits``).
    col_slice : ``(c,)`` the slice index (most significant first) each column holds.
    targets : ``(t, 4)`` rows ``(local column, output, shift, sign)``.
    """

    crossbar: int
    row0: int
    col0: int
    inputs: np.ndarray
    values: np.ndarray
    col_slice: np.ndarray
    targets: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.values.shape[1])


@dataclass(frozen=True, eq=False)
class PlacementTable(Sequence):
    """Placements as flat arrays, the form the simulator reads and mapping files store.

    ``header`` rows are ``(crossbar, row0, col0, rows, cols)``; every placement's inputs, values
    (row-major) and column slices follow one another; ``targets`` rows are ``(placement, column,
    output, shift, sign)``. It reads as a sequence of `Placement` views, so a mapping of millions of
    OU slots (a 25088 x 4096 layer) needs no Python object per slot.
    """

    header: np.ndarray
    inputs: np.ndarray
    values: np.ndarray
    col_slice: np.ndarray
    targets: np.ndarray

    @classmethod
    def of(cls, placements) -> "PlacementTable":
        """The table of a sequence of placements (itself when it is one)."""
        if isinstance(placements, PlacementTable):
            return placements
        ps = list(placements)
        header = np.array([[p.crossbar, p.row0, p.col0, p.n_rows, p.n_cols] for p in ps], dtype=np.int64)
        targets = [np.column_stack([np.full(len(p.targets), i), p.targets]) for i, p in enumerate(ps)]
        return cls(header.reshape(-1, 5), concat_int64([p.inputs for p in ps]),
                   np.concatenate([p.values.ravel() for p in ps]) if ps else np.zeros(0, np.int64),
                   concat_int64([p.col_slice for p in ps]),
                   np.concatenate(targets).astype(np.int64) if ps else np.zeros((0, 5), np.int64))

    @cached_property
    def starts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each placement's rows, values and columns begin in the flat arrays."""
        rows, cols = self.header[:, 3], self.header[:, 4]
        return tuple(np.cumsum(a) - a for a in (rows, rows * cols, cols))

    @cached_property
    def _by_placement(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.targets[:, 0], kind="stable")
        return order, np.searchsorted(self.targets[order, 0], np.arange(len(self) + 1))

    def targets_of(self, first: int, stop: int) -> np.ndarray:
        """The target rows of placements `first` to `stop` (exclusive)."""
        order, bounds = self._by_placement
        return self.targets[order[bounds[first]:bounds[stop]]]

    def __len__(self) -> int:
        return int(self.header.shape[0])

    def __add__(self, other) -> tuple:
        """Joined with other placements, as a tuple (as a tuple of placements would be)."""
        return tuple(self) + tuple(other)

    def __radd__(self, other) -> tuple:
        return tuple(other) + tuple(self)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        x, r0, c0, r, c = (int(v) for v in self.header[i])
        rs, vs, cs = (int(a[i]) for a in self.starts)
        return Placement(x, r0, c0, self.inputs[rs:rs + r], self.values[vs:vs + r * c].reshape(r, c),
                         self.col_slice[cs:cs + c], self.targets_of(i, i + 1)[:, 1:])


@dataclass(frozen=True, eq=False)
class Activations:
    """Explicitly listed OU activations: activation ``a`` switches on rows
    ``rows[ptr[a]:ptr[a+1]]`` of crossbar ``crossbar[a]`` and the ``w`` columns from ``col0[a]``."""

    crossbar: np.ndarray
    col0: np.ndarray
    ptr: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.crossbar.shape[0])


@dataclass(frozen=True, eq=False)
class Mapping:
    """Placements of one layer on crossbars of `spec`, with their OU schedule.

    `reference` is the integer layer matrix the mapping declares it computes when that is
    an approximation of the layer (reuse clustering); None means the layer itself.
    """

    spec: HardwareSpec
    n_inputs: int
    n_outputs: int
    placements: tuple[Placement, ...] | PlacementTable
    schedule: str = "grid"
    activations: Activations | None = None
    reference: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @cached_property
    def table(self) -> PlacementTable:
        """The placements as one `PlacementTable` (built once)."""
        return PlacementTable.of(self.placements)

    def replace(self, **changes) -> "Mapping":
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)


def save_mapping(path: str | Path, mapping: Mapping) -> Path:
    """Write `mapping` to one ``.npz`` file of the mapopt family."""
    t = mapping.table
    arrays = {"placement": t.header, "inputs": t.inputs, "values": t.values, "col_slice": t.col_slice,
              "targets": t.targets}
    if mapping.activations is not None:
        acts = mapping.activations
        arrays.update(act_crossbar=acts.crossbar, act_col0=acts.col0, act_ptr=acts.ptr, act_rows=acts.rows)
    if mapping.reference is not None:
        arrays["reference"] = mapping.reference
    meta = {"hardware": mapping.spec.to_dict(), "n_inputs": mapping.n_inputs, "n_outputs": mapping.n_outputs,
            "schedule": mapping.schedule, "info": mapping.meta}
    return write_npz(path, FORMAT, meta, arrays)


def load_mapping(path: str | Path) -> Mapping:
    """Read a mapping written by `save_mapping`; malformed files give one `InstanceError` line."""
    path = Path(path)
    meta, arrays = read_npz(path, FORMAT)
    try:
        spec = HardwareSpec.from_dict(require(path, meta, "hardware", dict))
    except (ValueError, TypeError) as exc:
        raise InstanceError(f"{path}: bad hardware settings ({exc})") from None
    schedule = require(path, meta, "schedule", str)
    if schedule not in SCHEDULES:
        raise InstanceError(f"{path}: schedule must be one of {SCHEDULES}, got {schedule!r}")
    header = array(path, arrays, "placement", 2, "i")
    inputs, values = array(path, arrays, "inputs", 1, "i"), array(path, arrays, "values", 1, "i")
    col_slice, targets = array(path, arrays, "col_slice", 1, "i"), array(path, arrays, "targets", 2, "i")
    if header.shape[1:] != (5,) or targets.shape[1:] != (5,):
        raise InstanceError(f"{path}: arrays 'placement' and 'targets' need 5 columns")
    rows, cols = header[:, 3], header[:, 4]
    if np.any(header[:, 3:] < 0) or rows.sum() != len(inputs) or (rows * cols).sum() != len(values) \
            or cols.sum() != len(col_slice):
        raise InstanceError(f"{path}: placement arrays are inconsistent with the placement header")
    if np.any((targets[:, 0] < 0) | (targets[:, 0] >= len(header))):
        # such a target would belong to no placement and silently vanish
        raise InstanceError(f"{path}: array 'targets' names a placement outside 0..{len(header) - 1}")
    placements = PlacementTable(header, inputs, values, col_slice, targets)
    activations = None
    if schedule == "listed":
        activations = Activations(*(array(path, arrays, k, 1, "i") for k in ("act_crossbar", "act_col0", "act_ptr", "act_rows")))
        ptr = activations.ptr
        if activations.col0.shape != activations.crossbar.shape or ptr.shape != (len(activations) + 1,) \
                or ptr[0] != 0 or ptr[-1] != len(activations.rows) or np.any(np.diff(ptr) < 0):
            raise InstanceError(f"{path}: listed activation arrays are inconsistent "
                                f"(act_ptr must rise from 0 to len(act_rows), one entry per activation plus one)")
    reference = array(path, arrays, "reference", 2, "i") if "reference" in arrays else None
    return Mapping(spec, int(require(path, meta, "n_inputs", int)), int(require(path, meta, "n_outputs", int)),
                   placements, schedule, activations, reference, meta.get("info", {}))


def concat_int64(parts: list[np.ndarray]) -> np.ndarray:
    """The parts joined as one int64 array (empty when there are none)."""
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
