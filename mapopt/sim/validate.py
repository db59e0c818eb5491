"""Structural and functional checks of a mapping against its layer.

`validate` returns every broken rule as a `Violation` (which rule, where, what), never a
bare bool: a solver bug shows up as the cell or column it broke. The functional rules
compare the matrix the crossbars compute with the quantized layer (or the approximation
the mapping declares) and emulate bit-serial execution with ADC clipping on probe inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..hardware import HardwareSpec
from ..layer import Layer
from ..mapping import SCHEDULES, Mapping
from .circuit import Circuit, build_circuit
from .execute import execute
from .fabric import Fabric, build_fabric, unique_rows

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
    """All violations of `mapping` as a mapping of `layer` (empty when it is valid)."""
    out = shape_violations(mapping, layer)
    if out:
        return out
    fab = fabric if fabric is not None else build_fabric(mapping)
    c = circuit if circuit is not None else build_circuit(fab)
    out = _placement_rules(mapping) + _cell_rules(fab) + _activation_rules(fab) + _segment_rules(c)
    reference = layer.matrix if mapping.reference is None else mapping.reference
    return out + _function_rules(mapping, c, reference, probes, seed)


def shape_violations(mapping: Mapping, layer: Layer) -> list[Violation]:
    """Array shapes that keep the mapping from being read at all (checked before anything else)."""
    if (mapping.n_inputs, mapping.n_outputs) != (layer.n_inputs, layer.n_outputs):
        return [Violation("shape", f"mapping is {mapping.n_inputs}x{mapping.n_outputs}, "
                                   f"layer {layer.name} is {layer.n_inputs}x{layer.n_outputs}")]
    if mapping.reference is not None and mapping.reference.shape != (layer.n_inputs, layer.n_outputs):
        return [Violation("shape", f"declared reference has shape {mapping.reference.shape}")]
    if mapping.schedule not in SCHEDULES or (mapping.schedule == "listed") != (mapping.activations is not None):
        return [Violation("shape", f"schedule {mapping.schedule!r} and listed activations do not agree")]
    out = []
    for i, p in enumerate(mapping.placements):
        arrays = (p.inputs, p.values, p.col_slice, p.targets)
        if p.values.ndim != 2 or p.inputs.shape != (p.n_rows,) or p.col_slice.shape != (p.n_cols,) \
                or p.targets.ndim != 2 or p.targets.shape[1] != 4 \
                or not all(np.issubdtype(a.dtype, np.integer) for a in arrays):
            out.append(Violation("shape", f"placement {i} has inconsistent array shapes or non-integer arrays",
                                 {"placement": i}))
    acts = mapping.activations
    # build_fabric indexes the rows through ptr, so broken pointers must be caught before it runs
    if acts is not None and not _listed_arrays_ok(acts):
        out.append(Violation("shape", "listed activations have inconsistent arrays (crossbar, col0, ptr, rows)"))
    return out


def _listed_arrays_ok(acts) -> bool:
    arrays = (acts.crossbar, acts.col0, acts.ptr, acts.rows)
    return all(a.ndim == 1 and np.issubdtype(a.dtype, np.integer) for a in arrays) \
        and acts.col0.shape == acts.crossbar.shape and acts.ptr.shape == (len(acts.crossbar) + 1,) \
        and acts.ptr[0] == 0 and acts.ptr[-1] == len(acts.rows) and not np.any(np.diff(acts.ptr) < 0)


def _placement_rules(mapping: Mapping) -> list[Violation]:
    spec, out = mapping.spec, []
    cell_max = 2 ** spec.cell_bits - 1
    for i, p in enumerate(mapping.placements):
        where = {"placement": i}
        if p.crossbar < 0 or p.row0 < 0 or p.col0 < 0 or p.row0 + p.n_rows > spec.xbar_rows \
                or p.col0 + p.n_cols > spec.xbar_cols:
            out.append(Violation("bounds", f"placement {i} ({p.n_rows}x{p.n_cols} at crossbar {p.crossbar}, "
                                           f"{p.row0},{p.col0}) leaves the {spec.xbar_rows}x{spec.xbar_cols} crossbar", where))
        bad = np.argwhere((p.values < 0) | (p.values > cell_max))
        if len(bad):
            r, col = bad[0]
            out.append(Violation("value_range", f"placement {i} has {len(bad)} cells outside 0..{cell_max}, "
                                                f"first at ({r},{col}) = {p.values[r, col]}", {**where, "cell": [int(r), int(col)]}))
        live = p.values.any(axis=1)
        bad = np.flatnonzero(live & ((p.inputs < 0) | (p.inputs >= mapping.n_inputs)))
        if len(bad):
            out.append(Violation("inputs", f"placement {i} row {bad[0]} is driven by input {p.inputs[bad[0]]}, "
                                           f"outside 0..{mapping.n_inputs - 1}", {**where, "row": int(bad[0])}))
        bad = np.flatnonzero((p.col_slice < 0) | (p.col_slice >= spec.n_slices))
        if len(bad):
            out.append(Violation("slice", f"placement {i} column {bad[0]} holds slice {p.col_slice[bad[0]]} "
                                          f"of {spec.n_slices}", {**where, "column": int(bad[0])}))
        out += _target_rules(mapping, i, p)
    return out


def _target_rules(mapping: Mapping, i: int, p) -> list[Violation]:
    t, where = p.targets, {"placement": i}
    bad = np.flatnonzero((t[:, 0] < 0) | (t[:, 0] >= p.n_cols) | (t[:, 1] < 0) | (t[:, 1] >= mapping.n_outputs)
                         | (t[:, 2] < 0) | (t[:, 2] > 40) | (np.abs(t[:, 3]) != 1))
    out = []
    if len(bad):
        out.append(Violation("target", f"placement {i} target {tuple(int(v) for v in t[bad[0]])} is not "
                                       f"(column, output < {mapping.n_outputs}, shift >= 0, sign ±1)", {**where, "target": int(bad[0])}))
    orphan = np.setdiff1d(np.flatnonzero(p.values.any(axis=0)), t[:, 0])
    if len(orphan):
        out.append(Violation("target", f"placement {i} column {orphan[0]} holds cells but feeds no output",
                             {**where, "column": int(orphan[0])}))
    return out


def _cell_rules(fab: Fabric) -> list[Violation]:
    out = []
    # group by the (crossbar, row, column) triple itself: a packed key would alias a cell
    # outside the crossbar (reported under "bounds") with a real cell and invent an overlap
    cell_of, _ = unique_rows(fab.cell_xbar, fab.cell_row, fab.cell_col)
    count = np.bincount(cell_of, minlength=1)
    if np.any(count > 1):
        k = int(np.flatnonzero(count > 1)[0])
        cell = int(np.flatnonzero(cell_of == k)[0])
        out.append(Violation("overlap", f"{int((count > 1).sum())} cells are placed twice, first crossbar "
                                        f"{fab.cell_xbar[cell]} cell ({fab.cell_row[cell]},{fab.cell_col[cell]})",
                             {"crossbar": int(fab.cell_xbar[cell]), "cell": [int(fab.cell_row[cell]), int(fab.cell_col[cell])]}))
    out += _row_conflicts(fab)
    return out


def _row_conflicts(fab: Fabric) -> list[Violation]:
    """A wordline carries one input: per crossbar row without an input index, per row and OU
    column group with one (``orc`` and ``listed`` schedules index each group's rows)."""
    spec, nz = fab.mapping.spec, fab.nz
    width = spec.xbar_cols if fab.mapping.schedule == "grid" else spec.ou_cols
    _, rows = unique_rows(fab.cell_xbar[nz], fab.cell_row[nz], fab.cell_col[nz] // width, fab.cell_input[nz])
    conflict = np.flatnonzero(np.all(rows[1:, :3] == rows[:-1, :3], axis=1))
    if not len(conflict):
        return []
    x, r, c, a = rows[conflict[0]]
    b = rows[conflict[0] + 1, 3]
    scope = "" if width == spec.xbar_cols else f" in OU column group {c}"
    return [Violation("row_conflict", f"crossbar {x} row {r}{scope} is driven by inputs {a} and {b}",
                      {"crossbar": int(x), "row": int(r)})]


def _activation_rules(fab: Fabric) -> list[Violation]:
    mapping, out = fab.mapping, []
    spec = mapping.spec
    if mapping.schedule == "listed":
        acts = mapping.activations  # its arrays are consistent: shape_violations checked them
        bad = np.flatnonzero((acts.col0 % spec.ou_cols != 0) | (acts.col0 < 0) | (acts.col0 >= spec.xbar_cols)
                             | (np.diff(acts.ptr) > spec.ou_rows) | (acts.crossbar < 0))
        if len(bad):
            a = int(bad[0])
            out.append(Violation("alignment", f"activation {a} (crossbar {acts.crossbar[a]}, column {acts.col0[a]}, "
                                              f"{acts.ptr[a + 1] - acts.ptr[a]} rows) is not an aligned "
                                              f"{spec.ou_rows}x{spec.ou_cols} OU", {"activation": a}))
        pairs = np.stack([fab.act_of_entry, fab.act_entry_row], axis=1)
        if len(np.unique(pairs, axis=0)) != len(pairs) or np.any((acts.rows < 0) | (acts.rows >= spec.xbar_rows)):
            out.append(Violation("alignment", "an activation lists a row twice or a row outside the crossbar"))
    for code, what in ((-1, "no OU activation reads"), (-2, "more than one OU activation reads")):
        bad = np.flatnonzero(fab.cell_act == code)
        if len(bad):
            cell = fab.nz[bad[0]]
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


def _function_rules(mapping: Mapping, c: Circuit, reference: np.ndarray, probes: int, seed: int) -> list[Violation]:
    out = []
    mapped = c.effective_matrix()
    diff = np.argwhere(mapped != reference)
    if len(diff):
        i, o = diff[0]
        got = mapped[i, o]
        out.append(Violation("function", f"{len(diff)} weights differ from the layer, first input {i} output {o}: "
                                         f"mapped {got}, expected {reference[i, o]}", {"input": int(i), "output": int(o)}))
    if probes > 0:
        x = _probe_inputs(mapping, probes, seed)
        got = execute(mapping, x, adc="clip", circuit=c)
        want = x @ reference
        bad = np.argwhere(got != want)
        if len(bad):
            b, o = bad[0]
            out.append(Violation("execution", f"bit-serial execution with ADC clipping differs on {len(bad)} outputs "
                                              f"of {probes} probe inputs, first probe {b} output {o}: {got[b, o]} != {want[b, o]}",
                                 {"probe": int(b), "output": int(o)}))
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
