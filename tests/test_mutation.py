"""Mutation test of mapopt.sim.validate: corrupt valid mappings in every way the validator knows,
and require that each corruption is flagged with a rule that names it.

Each mutation is a real change (never a value set to itself, never a target of an empty column
retargeted), drawn from a seeded generator over dense, ORC and listed mappings of several layers
and crossbar specs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mappings import packed_listed, tiny_layer, tiny_listed, tiny_matrix

from mapopt.hardware import HardwareSpec, preset
from mapopt.instance import read_instance
from mapopt.layout import conventional_mapping
from mapopt.mapping import Activations, Mapping
from mapopt.sim import RULES, build_circuit, build_fabric, validate

N_MUTATIONS = 1200
SEED = 20240611
BUNDLED = Path(__file__).resolve().parents[1] / "instances"

SMALL = HardwareSpec(xbar_rows=16, xbar_cols=16, ou_rows=4, ou_cols=4, cell_bits=2, weight_bits=8,
                     dac_bits=1, input_bits=8, adc_bits=6)
OFFSET = HardwareSpec(xbar_rows=32, xbar_cols=24, ou_rows=3, ou_cols=6, cell_bits=3, weight_bits=8,
                      slice_widths=(2, 3, 3), slice_layout="per_crossbar", polarity="offset",
                      dac_bits=2, input_bits=6, adc_bits=(5, 6, 6))


def _bases() -> list[tuple[str, Mapping, object]]:
    layers = {name: read_instance(BUNDLED / path).layer for name, path in (
        ("lin16x8", "synthetic/linear16x8_s50.npz"), ("conv36x8", "synthetic/conv36x8_s60.npz"),
        ("r20conv1", "resnet20/conv1.npz"), ("r8dense", "resnet8/model.dense.MatMul.npz"))}
    rng = np.random.default_rng(SEED)
    bases = []
    for name, layer in layers.items():
        w = layer.matrix
        bases.append((f"{name}/orc/grid", conventional_mapping(w, preset("orc")), layer))
        bases.append((f"{name}/small/orc", conventional_mapping(w, SMALL, "orc"), layer))
        bases.append((f"{name}/small/listed", packed_listed(conventional_mapping(w, SMALL), rng), layer))
    bases.append(("lin16x8/offset/grid", conventional_mapping(layers["lin16x8"].matrix, OFFSET), layers["lin16x8"]))
    bases.append(("conv36x8/reuse/orc", conventional_mapping(layers["conv36x8"].matrix, preset("reuse"), "orc"),
                  layers["conv36x8"]))
    reference = tiny_matrix()
    reference[4, 1] = -1  # declared approximation: the cells of input 4, output 1 now say -1
    tiny = tiny_listed()
    p = tiny.placements[1]
    values = p.values.copy()
    values[4, 2:] = [0, 1]
    approx = tiny.replace(placements=(tiny.placements[0], replace(p, values=values), tiny.placements[2]),
                          reference=reference)
    bases += [("tiny/listed", tiny, tiny_layer()), ("tiny/listed+reference", approx, tiny_layer())]
    return bases


BASES = _bases()


# ---- helpers ----------------------------------------------------------------------------------

def with_placement(m: Mapping, i: int, **changes) -> Mapping:
    ps = list(m.placements)
    ps[i] = replace(ps[i], **changes)
    return m.replace(placements=tuple(ps))


def live_placements(m: Mapping) -> list[int]:
    return [i for i, p in enumerate(m.placements) if p.values.any()]


def pick_live_cell(m: Mapping, rng) -> tuple[int, int, int]:
    i = int(rng.choice(live_placements(m)))
    r, c = np.argwhere(m.placements[i].values != 0)[rng.integers(np.count_nonzero(m.placements[i].values))]
    return i, int(r), int(c)


def other_than(old: int, lo: int, hi: int, rng) -> int:
    """A value in ``lo..hi`` other than `old` (which lies in that range)."""
    v = int(rng.integers(lo, hi))
    return v + 1 if v >= old else v


def fingerprint(m: Mapping) -> tuple:
    arrays = [a for p in m.placements for a in (p.inputs, p.values, p.col_slice, p.targets)]
    if m.activations is not None:
        arrays += [m.activations.crossbar, m.activations.col0, m.activations.ptr, m.activations.rows]
    if m.reference is not None:
        arrays.append(m.reference)
    return (m.spec, tuple((p.crossbar, p.row0, p.col0) for p in m.placements),
            tuple((a.shape, np.asarray(a).tobytes()) for a in arrays))


def listed_without(acts: Activations, a: int) -> Activations:
    counts = np.delete(np.diff(acts.ptr), a)
    rows = np.delete(acts.rows, np.arange(acts.ptr[a], acts.ptr[a + 1]))
    return Activations(np.delete(acts.crossbar, a), np.delete(acts.col0, a),
                       np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), rows)


# ---- mutations: each returns (mutated mapping, rules that may flag it) or None if it does not apply

def value_out_of_range(m, layer, rng):
    i = int(rng.integers(len(m.placements)))
    p = m.placements[i]
    values = p.values.copy()
    r, c = rng.integers(p.n_rows), rng.integers(p.n_cols)
    cell_max = 2 ** m.spec.cell_bits - 1
    values[r, c] = rng.choice([-1, -int(rng.integers(2, 9)), cell_max + 1, cell_max + int(rng.integers(2, 9))])
    return with_placement(m, i, values=values), {"value_range"}


def value_changed(m, layer, rng):
    i = int(rng.integers(len(m.placements)))
    p = m.placements[i]
    values = p.values.copy()
    r, c = rng.integers(p.n_rows), rng.integers(p.n_cols)
    values[r, c] = other_than(int(values[r, c]), 0, 2 ** m.spec.cell_bits - 1, rng)
    # a new nonzero cell may sit where no activation reads or in a column with no target
    return with_placement(m, i, values=values), {"function", "coverage", "target"}


def value_zeroed(m, layer, rng):
    i, r, c = pick_live_cell(m, rng)
    values = m.placements[i].values.copy()
    values[r, c] = 0
    return with_placement(m, i, values=values), {"function"}


def moved_out_of_bounds(m, layer, rng):
    i = int(rng.integers(len(m.placements)))
    p, spec, k = m.placements[i], m.spec, int(rng.integers(1, 4))
    how = rng.integers(5)
    change = [dict(crossbar=-k), dict(row0=-k), dict(col0=-k), dict(row0=spec.xbar_rows - p.n_rows + k),
              dict(col0=spec.xbar_cols - p.n_cols + k)][how]
    return with_placement(m, i, **change), {"bounds"}


def duplicated(m, layer, rng):
    p = m.placements[int(rng.integers(len(m.placements)))]
    return m.replace(placements=m.placements + (replace(p),)), {"overlap"}


def shifted_onto_another(m, layer, rng):
    if len(m.placements) < 2:
        return None
    i, j = rng.choice(len(m.placements), size=2, replace=False)
    a, b, spec = m.placements[i], m.placements[j], m.spec
    r_lo, r_hi = max(0, a.row0 - b.n_rows + 1), min(spec.xbar_rows - b.n_rows, a.row0 + a.n_rows - 1)
    c_lo, c_hi = max(0, a.col0 - b.n_cols + 1), min(spec.xbar_cols - b.n_cols, a.col0 + a.n_cols - 1)
    if r_lo > r_hi or c_lo > c_hi:
        return None
    return with_placement(m, int(j), crossbar=a.crossbar, row0=int(rng.integers(r_lo, r_hi + 1)),
                          col0=int(rng.integers(c_lo, c_hi + 1))), {"overlap"}


def input_changed(m, layer, rng):
    i, r, _ = pick_live_cell(m, rng)
    inputs = m.placements[i].inputs.copy()
    inputs[r] = other_than(int(inputs[r]), 0, m.n_inputs - 1, rng)
    return with_placement(m, i, inputs=inputs), {"function", "row_conflict"}


def input_out_of_range(m, layer, rng):
    i, r, _ = pick_live_cell(m, rng)
    inputs = m.placements[i].inputs.copy()
    inputs[r] = rng.choice([-1, -int(rng.integers(2, 50)), m.n_inputs, m.n_inputs + int(rng.integers(1, 50))])
    return with_placement(m, i, inputs=inputs), {"inputs"}


def _live_target(m, rng) -> tuple[int, int]:
    """A placement and the index of one of its targets whose column holds a nonzero cell."""
    i = int(rng.choice(live_placements(m)))
    p = m.placements[i]
    live = np.flatnonzero(p.values[:, p.targets[:, 0]].any(axis=0))
    return i, int(rng.choice(live))


def target_output_changed(m, layer, rng):
    i, t = _live_target(m, rng)
    targets = m.placements[i].targets.copy()
    targets[t, 1] = other_than(int(targets[t, 1]), 0, m.n_outputs - 1, rng)
    return with_placement(m, i, targets=targets), {"function", "column_mix"}


def target_shift_changed(m, layer, rng):
    i, t = _live_target(m, rng)
    targets = m.placements[i].targets.copy()
    targets[t, 2] = other_than(int(targets[t, 2]), 0, 20, rng)
    return with_placement(m, i, targets=targets), {"function", "column_mix"}


def target_sign_flipped(m, layer, rng):
    i, t = _live_target(m, rng)
    targets = m.placements[i].targets.copy()
    targets[t, 3] *= -1
    return with_placement(m, i, targets=targets), {"function", "column_mix"}


def target_removed(m, layer, rng):
    i, t = _live_target(m, rng)
    return with_placement(m, i, targets=np.delete(m.placements[i].targets, t, axis=0)), {"target", "function"}


def slice_out_of_range(m, layer, rng):
    i = int(rng.integers(len(m.placements)))
    p = m.placements[i]
    col_slice = p.col_slice.copy()
    col_slice[rng.integers(p.n_cols)] = rng.choice([-1, -3, m.spec.n_slices, m.spec.n_slices + 2])
    return with_placement(m, i, col_slice=col_slice), {"slice"}


def _read_activations(m):
    """The fabric of `m` and the activation reading each of its nonzero cells."""
    fab = build_fabric(m)
    return fab, fab.cell_act


def activation_dropped(m, layer, rng):
    if m.schedule != "listed":
        return None
    _, cell_act = _read_activations(m)
    a = int(rng.choice(np.unique(cell_act[cell_act >= 0])))
    return m.replace(activations=listed_without(m.activations, a)), {"coverage"}


def activation_row_duplicated(m, layer, rng):
    if m.schedule != "listed":
        return None
    fab, cell_act = _read_activations(m)
    cell = int(rng.integers(len(fab.cell_val)))
    a = int(cell_act[cell])
    acts, w = m.activations, m.spec.ou_cols
    row = int(fab.cell_row[cell])
    same = np.flatnonzero((acts.crossbar == acts.crossbar[a]) & (acts.col0 // w == acts.col0[a] // w))
    same = same[same != a]
    if len(same) and rng.random() < 0.5:  # into another activation of the same column group
        b = int(rng.choice(same))
        rows = np.insert(acts.rows, acts.ptr[b + 1], row)
        ptr = acts.ptr + (np.arange(len(acts.ptr)) > b)
        dup = Activations(acts.crossbar, acts.col0, ptr, rows)
    else:  # into an activation of its own
        dup = Activations(np.append(acts.crossbar, acts.crossbar[a]), np.append(acts.col0, acts.col0[a]),
                          np.append(acts.ptr, acts.ptr[-1] + 1), np.append(acts.rows, row))
    return m.replace(activations=dup), {"coverage"}


def activation_unaligned(m, layer, rng):
    if m.schedule != "listed" or m.spec.ou_cols == 1:
        return None
    acts = m.activations
    col0 = acts.col0.copy()
    col0[rng.integers(len(col0))] += rng.integers(1, m.spec.ou_cols)
    return m.replace(activations=replace(acts, col0=col0)), {"alignment"}


def adc_lowered(m, layer, rng):
    c = build_circuit(build_fabric(m))
    spec = m.spec
    peaks = [c.seg_max[c.seg_slice == s].max(initial=0) for s in range(spec.n_slices)]
    candidates = [s for s in range(spec.n_slices) if peaks[s] >= 2]
    if not candidates:
        return None
    s = int(rng.choice(candidates))
    need = math.ceil(math.log2(peaks[s] + 1))  # a resolution below this clips the largest partial sum
    adc = [spec.adc_for_slice(k) for k in range(spec.n_slices)]
    adc[s] = int(rng.integers(1, need))
    return m.replace(spec=spec.replace(adc_bits=tuple(adc))), {"adc_range"}


def reference_changed(m, layer, rng):
    reference = (layer.matrix if m.reference is None else m.reference).copy()
    i, o = rng.integers(reference.shape[0]), rng.integers(reference.shape[1])
    reference[i, o] += rng.choice([-1, 1]) * rng.integers(1, 6)
    return m.replace(reference=reference), {"function"}


MUTATIONS = (value_out_of_range, value_changed, value_zeroed, moved_out_of_bounds, duplicated,
             shifted_onto_another, input_changed, input_out_of_range, target_output_changed,
             target_shift_changed, target_sign_flipped, target_removed, slice_out_of_range,
             activation_dropped, activation_row_duplicated, activation_unaligned, adc_lowered,
             reference_changed)


# ---- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("label, mapping, layer", BASES, ids=[b[0] for b in BASES])
def test_bases_are_valid(label, mapping, layer):
    assert validate(mapping, layer) == []


def test_expected_rules_exist():
    for mutate in MUTATIONS:
        m, expected = mutate(BASES[-1][1], BASES[-1][2], np.random.default_rng(0))
        assert expected <= set(RULES), mutate.__name__


def test_every_corruption_is_flagged():
    rng = np.random.default_rng(SEED)
    done, caught, missed = Counter(), 0, []
    total = 0
    while total < N_MUTATIONS:
        label, base, layer = BASES[total % len(BASES)]
        mutate = MUTATIONS[rng.integers(len(MUTATIONS))]
        result = mutate(base, layer, rng)
        if result is None:
            continue
        mutated, expected = result
        assert fingerprint(mutated) != fingerprint(base), f"{mutate.__name__} on {label} changed nothing"
        flagged = {v.rule for v in validate(mutated, layer)}
        total += 1
        done[mutate.__name__] += 1
        if flagged & expected:
            caught += 1
        else:
            missed.append(f"{mutate.__name__} on {label}: flagged {sorted(flagged)}, expected one of {sorted(expected)}")
    assert set(done) == {f.__name__ for f in MUTATIONS}
    assert min(done.values()) >= 20, done
    assert caught == total and not missed, "\n".join(missed[:20])
