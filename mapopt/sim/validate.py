"""Structural and functional checks of a mapping against its layer.

`validate` returns every broken rule as a `Violation` (which rule, where, what), never a
bare bool: a solver bug shows up as the cell or column it broke. The functional rules
compare the matrix the crossbars compute with the quantized layer (or the approximation
the mapping declares) and emulate bit-serial execution with ADC clipping on probe inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..hardware import HardwareSpec
from ..layer import Layer
from ..mapping import SCHEDULES, Mapping, PlacementTable
from .circuit import Circuit, build_circuit, views
from .execute import partial_outputs
from .fabric import Fabric, unique_rows

RULES = ("shape", "value_range", "bounds", "overlap", "row_conflict", "inputs", "slice", "target",
         "alignment", "coverage", "column_mix", "adc_range", "function", "execution", "objective", "hardware",
         "approximation")


@dataclass(frozen=True)
class Violation:
    """One broken rule: its name, a one-line message, and where (indices) it happened."""

    rule: str
    message: str
    where: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def validate(mapping: Mapping, layer: Layer, probes: int = 4, seed: int = 0,
             fabric: Fabric | None = None, circuit: Circuit | None = None) -> list[Violation]:
    """All violations of `mapping` as a mapping of `layer` (empty when it is valid). A given `fabric` (and
    `circuit`) must view the whole mapping; without one the mapping is checked part by part."""
    out = shape_violations(mapping, layer)
    if out:
        return out
    check = Check(mapping, layer, probes, seed)
    for fab, c in ([(fabric, circuit if circuit is not None else build_circuit(fabric))] if fabric is not None
                   else views(mapping)):
        check.add(fab, c)
    return check.violations()


class Check:
    """Validation of a mapping one part at a time: the table's and the schedule's rules once, each part's
    cell, coverage and segment rules as it comes, then the layer's function over the sum of the parts."""

    def __init__(self, mapping: Mapping, layer: Layer, probes: int = 4, seed: int = 0):
        self.mapping = mapping
        self.reference = layer.matrix if mapping.reference is None else mapping.reference
        self.found = _table_rules(mapping) + _listed_rules(mapping)
        self.probes = _probe_inputs(mapping, probes, seed) if probes > 0 else None
        self.mapped = None  # the sum of the parts' matrices (sparse)
        self.outputs = 0.0

    def add(self, fab: Fabric, c: Circuit) -> None:
        """Check one part."""
        self.found += _cell_rules(fab) + _coverage_rules(fab) + _segment_rules(c)
        self.mapped = c.M @ c.R if self.mapped is None else self.mapped + c.M @ c.R
        if self.probes is not None:
            self.outputs = self.outputs + partial_outputs(c, self.probes, "clip", True, self.mapping.spec)

    def violations(self) -> list[Violation]:
        """Everything found, and the function rules over all parts."""
        return self.found + self._function_rules()

    def _function_rules(self) -> list[Violation]:
        out, reference, offset = [], self.reference, self.mapping.spec.offset
        diff = _differences(self.mapped, reference, offset)
        if len(diff):
            i, o, got = diff[0]
            out.append(Violation("function", f"{len(diff)} weights differ from the layer, first input {i} output {o}: "
                                             f"mapped {got}, expected {reference[i, o]}", {"input": int(i), "output": int(o)}))
        if self.probes is not None:
            x = self.probes
            got = np.rint(self.outputs - offset * x.sum(axis=1, keepdims=True)).astype(np.int64)
            want = x @ reference
            bad = np.argwhere(got != want)
            if len(bad):
                b, o = bad[0]
                out.append(Violation("execution", f"bit-serial execution with ADC clipping differs on {len(bad)} "
                                                  f"outputs of {len(x)} probe inputs, first probe {b} output {o}: "
                                                  f"{got[b, o]} != {want[b, o]}", {"probe": int(b), "output": int(o)}))
        return out


def _differences(mapped, reference: np.ndarray, offset: int) -> np.ndarray:
    """Rows ``(input, output, mapped value)`` where the mapped matrix (sparse, before the offset correction;
    None for no cells) differs from `reference`, in row-major order. Compared sparsely unless an offset
    makes every entry nonzero."""
    n, m = reference.shape
    if mapped is None:
        mapped = sp.csr_matrix((n, m))
    if offset:
        effective = np.rint(mapped.toarray()).astype(np.int64) - offset
        bad = np.argwhere(effective != reference)
        return np.column_stack([bad, effective[bad[:, 0], bad[:, 1]]]) if len(bad) else np.zeros((0, 3), np.int64)
    csr = sp.csr_matrix(mapped)
    csr.sum_duplicates()  # canonical: entries in row-major order, so the keys below are sorted
    coo = csr.tocoo()
    got = np.rint(coo.data).astype(np.int64)
    key = (coo.row.astype(np.int64) * m + coo.col)[got != 0]
    want = np.flatnonzero(reference)
    if np.array_equal(key, want) and np.array_equal(got[got != 0], reference.flat[key]):
        return np.zeros((0, 3), np.int64)
    every = np.union1d(key, want)
    value = np.zeros(len(every), dtype=np.int64)
    value[np.searchsorted(every, key)] = got[got != 0]
    bad = value != reference.flat[every]
    return np.column_stack([every[bad] // m, every[bad] % m, value[bad]])


def shape_violations(mapping: Mapping, layer: Layer) -> list[Violation]:
    """Array shapes that keep the mapping from being read at all (checked before anything else)."""
    if (mapping.n_inputs, mapping.n_outputs) != (layer.n_inputs, layer.n_outputs):
        return [Violation("shape", f"mapping is {mapping.n_inputs}x{mapping.n_outputs}, "
                                   f"layer {layer.name} is {layer.n_inputs}x{layer.n_outputs}")]
    if mapping.reference is not None and mapping.reference.shape != (layer.n_inputs, layer.n_outputs):
        return [Violation("shape", f"declared reference has shape {mapping.reference.shape}")]
    if mapping.schedule not in SCHEDULES or (mapping.schedule == "listed") != (mapping.activations is not None):
        return [Violation("shape", f"schedule {mapping.schedule!r} and listed activations do not agree")]
    out = _table_shape(mapping.placements) if isinstance(mapping.placements, PlacementTable) \
        else _placement_shapes(mapping.placements)
    acts = mapping.activations
    # build_fabric indexes the rows through ptr, so broken pointers must be caught before it runs
    if acts is not None and not _listed_arrays_ok(acts):
        out.append(Violation("shape", "listed activations have inconsistent arrays (crossbar, col0, ptr, rows)"))
    return out


def _placement_shapes(placements) -> list[Violation]:
    out = []
    for i, p in enumerate(placements):
        arrays = (p.inputs, p.values, p.col_slice, p.targets)
        if p.values.ndim != 2 or p.inputs.shape != (p.n_rows,) or p.col_slice.shape != (p.n_cols,) \
                or p.targets.ndim != 2 or p.targets.shape[1] != 4 \
                or not all(np.issubdtype(a.dtype, np.integer) for a in arrays):
            out.append(Violation("shape", f"placement {i} has inconsistent array shapes or non-integer arrays",
                                 {"placement": i}))
    return out


def _table_shape(t: PlacementTable) -> list[Violation]:
    arrays = (t.header, t.inputs, t.values, t.col_slice, t.targets)
    ok = all(np.issubdtype(a.dtype, np.integer) for a in arrays) and t.header.ndim == 2 \
        and t.header.shape[1] == 5 and t.targets.ndim == 2 and t.targets.shape[1] == 5 \
        and all(a.ndim == 1 for a in arrays[1:4])
    if ok:
        rows, cols = t.header[:, 3], t.header[:, 4]
        ok = not np.any(t.header[:, 3:] < 0) and rows.sum() == len(t.inputs) and cols.sum() == len(t.col_slice) \
            and (rows * cols).sum() == len(t.values) and not np.any((t.targets[:, 0] < 0) | (t.targets[:, 0] >= len(t)))
    return [] if ok else [Violation("shape", "the placement table's arrays are inconsistent with its header")]


def _listed_arrays_ok(acts) -> bool:
    arrays = (acts.crossbar, acts.col0, acts.ptr, acts.rows)
    return all(a.ndim == 1 and np.issubdtype(a.dtype, np.integer) for a in arrays) \
        and acts.col0.shape == acts.crossbar.shape and acts.ptr.shape == (len(acts.crossbar) + 1,) \
        and acts.ptr[0] == 0 and acts.ptr[-1] == len(acts.rows) and not np.any(np.diff(acts.ptr) < 0)


def _first(rule: str, bad: np.ndarray, message, where) -> list[Violation]:
    """One violation of `rule` for the first of the `bad` indices, saying how many there are."""
    if not len(bad):
        return []
    more = f" ({len(bad) - 1} more)" if len(bad) > 1 else ""
    return [Violation(rule, message(int(bad[0])) + more, where(int(bad[0])))]


def _table_rules(mapping: Mapping) -> list[Violation]:
    """Bounds, cell values, slices and targets of every placement, over the flat table."""
    t, spec = mapping.table, mapping.spec
    x, r0, c0, r, c = t.header.T
    _, value_start, col_start = t.starts
    cell_max = 2 ** spec.cell_bits - 1
    out = _first("bounds", np.flatnonzero((x < 0) | (r0 < 0) | (c0 < 0) | (r0 + r > spec.xbar_rows)
                                        | (c0 + c > spec.xbar_cols)),
                 lambda i: f"placement {i} ({r[i]}x{c[i]} at crossbar {x[i]}, {r0[i]},{c0[i]}) leaves the "
                           f"{spec.xbar_rows}x{spec.xbar_cols} crossbar", lambda i: {"placement": i})
    bad = np.flatnonzero((t.values < 0) | (t.values > cell_max))
    place = np.searchsorted(value_start + r * c, bad, side="right")
    out += _first("value_range", bad,
                  lambda k: f"placement {place[0]} has a cell outside 0..{cell_max}: "
                            f"{divmod(int(k - value_start[place[0]]), int(c[place[0]]))} = {t.values[k]}",
                  lambda k: {"placement": int(place[0])})
    bad = np.flatnonzero((t.col_slice < 0) | (t.col_slice >= spec.n_slices))
    place = np.searchsorted(col_start + c, bad, side="right")
    out += _first("slice", bad, lambda k: f"placement {place[0]} column {k - col_start[place[0]]} holds slice "
                                          f"{t.col_slice[k]} of {spec.n_slices}",
                  lambda k: {"placement": int(place[0]), "column": int(k - col_start[place[0]])})
    p, col, output, shift, sign = t.targets.T
    return out + _first("target", np.flatnonzero((col < 0) | (col >= c[p]) | (output < 0)
                                                 | (output >= mapping.n_outputs) | (shift < 0) | (shift > 40)
                                                 | (np.abs(sign) != 1)),
                        lambda k: f"placement {p[k]} target {tuple(int(v) for v in t.targets[k, 1:])} is not "
                                  f"(column, output < {mapping.n_outputs}, shift >= 0, sign ±1)",
                        lambda k: {"placement": int(p[k]), "target": int(k)})


def _listed_rules(mapping: Mapping) -> list[Violation]:
    """Listed activations are aligned OUs that switch on each row of their crossbar once."""
    if mapping.schedule != "listed":
        return []
    spec, acts = mapping.spec, mapping.activations  # its arrays are consistent: shape_violations checked them
    counts = np.diff(acts.ptr)
    out = _first("alignment", np.flatnonzero((acts.col0 % spec.ou_cols != 0) | (acts.col0 < 0)
                                            | (acts.col0 >= spec.xbar_cols) | (counts > spec.ou_rows)
                                            | (acts.crossbar < 0)),
                 lambda a: f"activation {a} (crossbar {acts.crossbar[a]}, column {acts.col0[a]}, {counts[a]} rows) "
                           f"is not an aligned {spec.ou_rows}x{spec.ou_cols} OU", lambda a: {"activation": a})
    entry_act = np.repeat(np.arange(len(acts)), counts)
    if len(unique_rows(entry_act, acts.rows)[1]) != len(entry_act) \
            or np.any((acts.rows < 0) | (acts.rows >= spec.xbar_rows)):
        out.append(Violation("alignment", "an activation lists a row twice or a row outside the crossbar"))
    return out


def _cell_rules(fab: Fabric) -> list[Violation]:
    """Inputs, fed columns, overlaps and wordline conflicts of one part's cells."""
    mapping, t = fab.mapping, fab.mapping.table
    bad = np.flatnonzero((fab.cell_input < 0) | (fab.cell_input >= mapping.n_inputs))
    p_of, r0 = fab.cell_place, t.header[:, 1]
    out = _first("inputs", bad,
                 lambda k: f"placement {p_of[k]} row {fab.cell_row[k] - r0[p_of[k]]} is driven by input "
                           f"{fab.cell_input[k]}, outside 0..{mapping.n_inputs - 1}",
                 lambda k: {"placement": int(p_of[k]), "row": int(fab.cell_row[k] - r0[p_of[k]])})
    mine = t.targets_of(fab.part.first, fab.part.stop)
    fed = t.starts[2][mine[:, 0]] + mine[:, 1]
    out += _first("target", np.flatnonzero(~np.isin(fab.cell_gcol, fed)),
                  lambda k: f"placement {p_of[k]} column {fab.cell_lcol[k]} holds cells but feeds no output",
                  lambda k: {"placement": int(p_of[k]), "column": int(fab.cell_lcol[k])})
    return out + _overlaps(t.header[fab.part.first:fab.part.stop]) + _row_conflicts(fab)


def _overlaps(header: np.ndarray) -> list[Violation]:
    """Cells placed twice: per crossbar row, the column ranges of the placements covering it must not meet.
    Rows are keyed by the (crossbar, row) pair itself, so a cell outside the crossbar ("bounds") aliases none."""
    x, r0, c0, r, c = header[(header[:, 3] > 0) & (header[:, 4] > 0)].T
    place = np.repeat(np.arange(len(x)), r)
    row = r0[place] + np.arange(len(place)) - np.repeat(np.cumsum(r) - r, r)
    line, _ = unique_rows(x[place], row)
    order = np.lexsort((c0[place], line))
    line, lo, hi, place = line[order], c0[place][order], (c0 + c)[place][order], place[order]
    base = int(lo.min(initial=0))
    span = int(hi.max(initial=0)) - base + 1
    reach = np.maximum.accumulate(hi - base + line * span) - line * span + base
    clash = np.flatnonzero((line[1:] == line[:-1]) & (lo[1:] < reach[:-1])) + 1
    if not len(clash):
        return []
    k = int(clash[0])
    xbar, cell_row, cell_col = int(x[place[k]]), int(row[order][k]), int(lo[k])
    return [Violation("overlap", f"cells are placed twice on {len(clash)} crossbar rows, first crossbar {xbar} "
                                 f"cell ({cell_row},{cell_col})", {"crossbar": xbar, "cell": [cell_row, cell_col]})]


def _row_conflicts(fab: Fabric) -> list[Violation]:
    """A wordline carries one input: per crossbar row without an input index, per row and OU
    column group with one (``orc`` and ``listed`` schedules index each group's rows)."""
    spec = fab.mapping.spec
    width = spec.xbar_cols if fab.mapping.schedule == "grid" else spec.ou_cols
    _, rows = unique_rows(fab.cell_xbar, fab.cell_row, fab.cell_col // width, fab.cell_input)
    conflict = np.flatnonzero(np.all(rows[1:, :3] == rows[:-1, :3], axis=1))
    if not len(conflict):
        return []
    x, r, c, a = rows[conflict[0]]
    b = rows[conflict[0] + 1, 3]
    scope = "" if width == spec.xbar_cols else f" in OU column group {c}"
    return [Violation("row_conflict", f"crossbar {x} row {r}{scope} is driven by inputs {a} and {b}",
                      {"crossbar": int(x), "row": int(r)})]


def _coverage_rules(fab: Fabric) -> list[Violation]:
    """Every nonzero cell of one part is read by exactly one activation."""
    out = []
    for code, what in ((-1, "no OU activation reads"), (-2, "more than one OU activation reads")):
        bad = np.flatnonzero(fab.cell_act == code)
        if len(bad):
            cell = bad[0]
            out.append(Violation("coverage", f"{what} {len(bad)} nonzero cells, first crossbar {fab.cell_xbar[cell]} "
                                             f"cell ({fab.cell_row[cell]},{fab.cell_col[cell]})",
                                 {"crossbar": int(fab.cell_xbar[cell]), "cell": [int(fab.cell_row[cell]), int(fab.cell_col[cell])]}))
    return out


def _segment_rules(c: Circuit) -> list[Violation]:
    out = []
    mixed = np.flatnonzero(c.seg_mixed)
    if len(mixed):
        s = int(mixed[0])
        out.append(Violation("column_mix", f"{len(mixed)} OU columns sum cells meant for different outputs, first "
                                           f"crossbar {c.seg_xbar[s]} column {c.seg_col[s]}",
                             {"crossbar": int(c.seg_xbar[s]), "column": int(c.seg_col[s])}))
    over = np.flatnonzero(c.seg_max > c.seg_cap)
    if len(over):
        s = int(over[np.argmax(c.seg_max[over] - c.seg_cap[over])])
        out.append(Violation("adc_range", f"{len(over)} OU columns can exceed their ADC; worst crossbar {c.seg_xbar[s]} "
                                          f"column {c.seg_col[s]}: partial sum up to {int(c.seg_max[s])} > {int(c.seg_cap[s])}",
                             {"crossbar": int(c.seg_xbar[s]), "column": int(c.seg_col[s])}))
    return out


def _probe_inputs(mapping: Mapping, probes: int, seed: int) -> np.ndarray:
    """All-ones-at-full-scale first (the largest partial sums), then random inputs."""
    top = 2 ** mapping.spec.input_bits - 1
    rng = np.random.default_rng(seed)
    x = rng.integers(0, top + 1, size=(probes, mapping.n_inputs), dtype=np.int64)
    x[0] = top
    return x


def hardware_violations(mapping: Mapping, hardware: HardwareSpec) -> list[Violation]:
    """Where the crossbars `mapping` declares differ from `hardware` (an instance's): one violation per field.
    Every field must match, cost laws (named by the preset) included, except that a slice's columns may be
    read by an ADC of fewer bits than the hardware's (a coarser reading of the same array), never more."""
    ours, theirs = mapping.spec.to_dict(), hardware.to_dict()
    out = [Violation("hardware", f"hardware {key} is {ours[key]!r} in the solution, {theirs[key]!r} in the instance",
                     {"field": key}) for key in theirs if key != "adc_bits" and ours.get(key) != theirs[key]]
    if mapping.spec.n_slices == hardware.n_slices:
        above = [s for s in range(hardware.n_slices) if mapping.spec.adc_for_slice(s) > hardware.adc_for_slice(s)]
        if above:
            out.append(Violation("hardware", f"ADC bits {theirs['adc_bits']!r} of the instance are exceeded in slices "
                                             f"{above} (the solution reads {ours['adc_bits']!r})", {"field": "adc_bits"}))
    return out
