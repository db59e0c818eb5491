"""Tests for mapopt.sim: exact execution, validation verdicts and OU-exact costs of mappings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mappings import TINY, packed_listed, sparse_layer, tiny_layer, tiny_listed, tiny_matrix
from strategies import hardware_specs, layers

from mapopt.hardware import HardwareSpec, preset
from mapopt.instance import instance_files, read_instance
from mapopt.layer import Layer
from mapopt.layout import conventional_mapping
from mapopt.sim import build_circuit, build_fabric, cost, execute, fabric, simulate, validate

BUNDLED = Path(__file__).resolve().parents[1] / "instances"
MODES = [(adc, fold) for adc in ("clip", "ideal") for fold in (True, False)]


def bundled(network: str, picks: tuple[int, ...]) -> list[Layer]:
    files = instance_files(BUNDLED / network)
    return [read_instance(files[i]).layer for i in picks]


REAL = {f"resnet20[{i}]": layer for i, layer in zip((0, 1, 7, 19), bundled("resnet20", (0, 1, 7, 19)))}
REAL |= {f"resnet8[{i}]": layer for i, layer in zip((0, 5, 9), bundled("resnet8", (0, 5, 9)))}


def inputs(spec: HardwareSpec, n: int, batch: int = 5, seed: int = 0) -> np.ndarray:
    """Random unsigned inputs, the first at full scale (the largest partial sums)."""
    x = np.random.default_rng(seed).integers(0, 2 ** spec.input_bits, size=(batch, n), dtype=np.int64)
    x[0] = 2 ** spec.input_bits - 1
    return x


def ideal(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` in Python integers: no overflow, no rounding."""
    return (x.astype(object) @ w.astype(object)).astype(np.int64)


def can_clip(mapping) -> bool:
    c = build_circuit(build_fabric(mapping))
    return bool(np.any(c.seg_max > c.seg_cap))


def assert_exact_in_every_mode(mapping, w: np.ndarray, x: np.ndarray) -> int:
    """Every (adc, fold) mode that cannot clip reproduces ``x @ w``; returns how many ran."""
    want, clips, ran = ideal(x, w), can_clip(mapping), 0
    for adc, fold in MODES:
        if adc == "clip" and clips:
            continue
        got = execute(mapping, x, adc=adc, fold=fold)
        assert got.dtype == np.int64 and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=f"adc={adc} fold={fold}")
        ran += 1
    return ran


# ---- exact execution ------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["grid", "orc"])
@pytest.mark.parametrize("name", list(REAL))
def test_bundled_layers_execute_exactly(name, schedule):
    layer = REAL[name]
    for spec in (preset("orc"), preset("reuse"), preset("orc", slice_layout="per_crossbar", dac_bits=2, adc_bits=8)):
        mapping = conventional_mapping(layer.matrix, spec, schedule)
        assert not can_clip(mapping)
        assert assert_exact_in_every_mode(mapping, layer.matrix, inputs(spec, layer.n_inputs)) == 4
        one = inputs(spec, layer.n_inputs, batch=1, seed=3)[0]  # a single vector gives a single output
        np.testing.assert_array_equal(execute(mapping, one), ideal(one[None], layer.matrix)[0])


@pytest.mark.parametrize("schedule", ["grid", "orc"])
@pytest.mark.parametrize("polarity, layout, widths", [
    ("differential", "adjacent", (1, 2, 2, 2)), ("differential", "per_crossbar", (2, 1, 2, 2)),
    ("offset", "adjacent", (2, 2, 1, 2, 1)), ("offset", "per_crossbar", (1, 1, 2, 2, 2))])
def test_uneven_slices_both_polarities(polarity, layout, widths, schedule):
    spec = HardwareSpec(xbar_rows=32, xbar_cols=24, ou_rows=5, ou_cols=6, cell_bits=2, weight_bits=8,
                        slice_widths=widths, slice_layout=layout, polarity=polarity, dac_bits=3,
                        input_bits=7, adc_bits=8)
    layer = REAL["resnet20[0]"]
    mapping = conventional_mapping(layer.matrix, spec, schedule)
    assert assert_exact_in_every_mode(mapping, layer.matrix, inputs(spec, layer.n_inputs)) == 4
    assert validate(mapping, layer) == []


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_layers_execute_exactly(data):
    layer = data.draw(layers(max_bits=12))
    spec = data.draw(hardware_specs(weight_bits=data.draw(st.integers(layer.weight_bits, 16))))
    # keep the number of placements small; adjacent slices need a crossbar as wide as a weight
    spec = spec.replace(xbar_rows=max(spec.xbar_rows, 8), xbar_cols=max(spec.xbar_cols, 2 * spec.n_slices))
    x = inputs(spec, layer.n_inputs, batch=3, seed=data.draw(st.integers(0, 9)))
    for schedule in ("grid", "orc"):
        mapping = conventional_mapping(layer.matrix, spec, schedule)
        ran = assert_exact_in_every_mode(mapping, layer.matrix, x)
        rules = {v.rule for v in validate(mapping, layer)}
        if ran == 4:
            assert rules == set()
        else:  # the only thing that may go wrong with a conventional mapping is its ADC
            assert "adc_range" in rules and rules <= {"adc_range", "execution"}


def test_listed_by_hand_executes_exactly():
    mapping, layer = tiny_listed(), tiny_layer()
    assert validate(mapping, layer) == []
    x = inputs(TINY, 20, batch=16)
    assert assert_exact_in_every_mode(mapping, tiny_matrix(), x) == 4


def test_declared_reference_is_what_validation_compares():
    mapping, layer = tiny_listed(), tiny_layer()
    p = mapping.placements[0]
    values = p.values.copy()
    values[8, 1] = 0  # drop the weight of input 8, output 0 (+3, all in the low slice)
    approx = mapping.replace(placements=(replace(p, values=values),) + mapping.placements[1:])
    assert {v.rule for v in validate(approx, layer)} == {"function", "execution"}
    reference = tiny_matrix()
    reference[8, 0] = 0
    declared = approx.replace(reference=reference)
    assert validate(declared, layer) == []
    report = simulate(declared, layer)
    assert report.valid and report.exact
    x = inputs(TINY, 20)
    np.testing.assert_array_equal(execute(declared, x), ideal(x, reference))


@pytest.mark.parametrize("name", ["resnet20[1]", "resnet8[5]", "resnet8[9]"])
def test_packed_listed_executes_exactly(name):
    layer, spec = REAL[name], preset("orc")
    mapping = packed_listed(conventional_mapping(layer.matrix, spec), np.random.default_rng(1))
    assert validate(mapping, layer) == []
    assert assert_exact_in_every_mode(mapping, layer.matrix, inputs(spec, layer.n_inputs)) == 4


def reference_clip(mapping, x: np.ndarray) -> np.ndarray:
    """A slow, independent emulation in Python integers: per activation and physical column, per
    input cycle, sum the cells' ``value * input bits``, clip at the column's ADC, shift and add."""
    spec, fab = mapping.spec, build_fabric(mapping)
    segments: dict[tuple, list[int]] = {}
    for cell in range(len(fab.cell_val)):
        segments.setdefault((int(fab.cell_act[cell]), int(fab.cell_xbar[cell]), int(fab.cell_col[cell])), []).append(cell)
    out = [[0] * mapping.n_outputs for _ in x]
    for cells in segments.values():
        p = mapping.placements[fab.cell_place[cells[0]]]
        col = fab.cell_lcol[cells[0]]
        cap = 2 ** spec.adc_for_slice(int(p.col_slice[col])) - 1
        for b, xb in enumerate(x.tolist()):
            for k in range(spec.input_cycles):
                bits = [(v >> (spec.dac_bits * k)) & (2 ** spec.dac_bits - 1) for v in xb]
                partial = min(cap, sum(int(fab.cell_val[c]) * bits[fab.cell_input[c]] for c in cells))
                for _, o, shift, sign in p.targets[p.targets[:, 0] == col].tolist():
                    out[b][o] += sign * partial << (shift + spec.dac_bits * k)
    return np.array([[v - spec.offset * sum(xb) for v in row] for row, xb in zip(out, x.tolist())], dtype=np.int64)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_clipping_matches_a_slow_emulation(data):
    layer = data.draw(layers(max_bits=8))
    spec = data.draw(hardware_specs(weight_bits=data.draw(st.integers(layer.weight_bits, 10))))
    bits = min(spec.input_bits, 6)
    spec = spec.replace(xbar_rows=max(spec.xbar_rows, 8), xbar_cols=max(spec.xbar_cols, 2 * spec.n_slices),
                        input_bits=bits, dac_bits=min(spec.dac_bits, bits))
    x = inputs(spec, layer.n_inputs, batch=2, seed=data.draw(st.integers(0, 9)))
    for schedule in ("grid", "orc"):
        mapping = conventional_mapping(layer.matrix, spec, schedule)
        want = reference_clip(mapping, x)
        for fold in (True, False):
            np.testing.assert_array_equal(execute(mapping, x, adc="clip", fold=fold), want)


def test_tiny_clipping_by_hand():
    """A 2-bit ADC on the top slice under ORC: the OUs over inputs {0,2,4,6} and {8,10,12,14} of
    output 1 (-5 = 1|1) each sum 4 ones per cycle at full scale and read 3; losing 1 at shift 2
    in each of the two OUs, over cycles weighing 1+2+4+8, costs 2 * 4 * 15 = 120."""
    narrow = TINY.replace(adc_bits=(2, 4))
    x = np.full((1, 20), 15)
    dense = conventional_mapping(tiny_matrix(), narrow, "grid")  # tiles hold at most 2 top-slice ones
    orc = conventional_mapping(tiny_matrix(), narrow, "orc")
    for fold in (True, False):
        np.testing.assert_array_equal(execute(dense, x, fold=fold), [[450, -750]])
        np.testing.assert_array_equal(execute(orc, x, fold=fold), [[450, -630]])
        np.testing.assert_array_equal(execute(orc, x, adc="ideal", fold=fold), [[450, -750]])


# ---- simulate on the presets -----------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["grid", "orc"])
@pytest.mark.parametrize("preset_name", ["orc", "reuse"])
@pytest.mark.parametrize("name", list(REAL))
def test_simulate_valid_on_presets(name, preset_name, schedule):
    layer = REAL[name]
    mapping = conventional_mapping(layer.matrix, preset(preset_name), schedule)
    report = simulate(mapping, layer)
    assert report.violations == [] and report.valid and report.exact
    direct = cost(mapping)
    assert report.cost == direct
    assert direct.ou_activations == direct.activations_per_cycle * mapping.spec.input_cycles
    assert all(r <= a for r, a in zip(direct.adc_bits_required, direct.adc_bits))


@pytest.mark.parametrize("schedule", ["grid", "orc"])
@pytest.mark.parametrize("name", ["resnet20[1]", "resnet20[7]", "resnet8[0]"])
def test_bitslice_top_slice_clips(name, schedule):
    layer, spec = REAL[name], preset("bitslice")  # 1-bit ADC on the 1-bit top slice
    mapping = conventional_mapping(layer.matrix, spec, schedule)
    report = simulate(mapping, layer)
    rules = {v.rule for v in report.violations}
    assert not report.valid and "adc_range" in rules
    assert "function" not in rules  # the mapped matrix is right; only the ADC reads it wrong
    assert report.cost.adc_bits_required[0] > spec.adc_for_slice(0) == 1
    x = inputs(spec, layer.n_inputs)
    want = ideal(x, layer.matrix)
    np.testing.assert_array_equal(execute(mapping, x, adc="ideal"), want)
    for fold in (True, False):
        clipped = execute(mapping, x, adc="clip", fold=fold)
        assert not np.array_equal(clipped, want)
        np.testing.assert_array_equal(clipped[0], execute(mapping, x[0], adc="clip", fold=fold))
    np.testing.assert_array_equal(execute(mapping, x, fold=True), execute(mapping, x, fold=False))


# ---- costs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [preset("orc"), preset("reuse"), preset("bitslice"), preset("pattern"),
                                  preset("orc", slice_layout="per_crossbar", polarity="offset")],
                         ids=["orc", "reuse", "bitslice", "pattern", "offset"])
@pytest.mark.parametrize("name", list(REAL))
def test_orc_never_costs_more_than_dense(name, spec):
    layer = REAL[name]
    dense, orc = (cost(conventional_mapping(layer.matrix, spec, s)) for s in ("grid", "orc"))
    assert orc.ou_activations <= dense.ou_activations
    for c in (dense, orc):
        assert c.ou_activations == c.activations_per_cycle * spec.input_cycles
        assert c.cycles <= c.ou_activations and c.cycles % spec.input_cycles == 0
    assert (orc.crossbars, orc.cells, orc.cells_placed) == (dense.crossbars, dense.cells, dense.cells_placed)
    assert dense.cells == np.count_nonzero(layer.slices(spec)[0])  # one nonzero cell per nonzero slice plane entry
    if spec.polarity == "differential" and layer.sparsity > 0.5:
        assert orc.ou_activations < dense.ou_activations


def test_tiny_example_by_hand():
    """TINY: 20 inputs over crossbars of 16 rows, 2 polarities -> 4 crossbars of 4 logical columns.

    grid: 4 + 1 tiles per polarity = 10 activations. orc: positive 10 live rows on crossbar 0
    -> 3 OUs, none on crossbar 1; negative 8 even rows < 16 -> 2 OUs, rows 16 and 18 -> 1 OU:
    6 activations. Four 1-bit input cycles. Nonzero cells: 10 (+3 = 0|3) + 2 x 10 (-5 = 1|1).
    ADC need: grid, top slice 2 ones per tile -> 2 bits, low slice 4 x 3 = 12 -> 4 bits;
    orc, top slice 4 ones per OU -> 3 bits, low slice 12 -> 4 bits.
    """
    layer = tiny_layer()
    dense = conventional_mapping(tiny_matrix(), TINY, "grid")
    orc = conventional_mapping(tiny_matrix(), TINY, "orc")
    d, o = cost(dense), cost(orc)
    assert (d.activations_per_cycle, d.ou_activations, d.cycles) == (10, 40, 16)
    assert (o.activations_per_cycle, o.ou_activations, o.cycles) == (6, 24, 12)
    for c in (d, o):
        assert (c.crossbars, c.cells, c.cells_placed) == (4, 30, 160)
        assert c.adc_bits == [4, 4]
    assert d.adc_bits_required == [2, 4] and o.adc_bits_required == [3, 4]
    # rows switched on: every row of every tile (grid) against the live rows only (orc)
    assert d.energy_pj["dac"] == pytest.approx(4 * 40 * TINY.costs.dac_pj(1))
    assert o.energy_pj["dac"] == pytest.approx(4 * 20 * TINY.costs.dac_pj(1))
    assert d.energy_pj["index"] == 0 and o.energy_pj["index"] > 0
    # a 2-bit ADC on the top slice suffices for the dense tiles but not for the ORC OUs
    narrow = TINY.replace(adc_bits=(2, 4))
    assert validate(dense.replace(spec=narrow), layer) == []
    assert "adc_range" in {v.rule for v in validate(orc.replace(spec=narrow), layer)}
    for mapping in (dense, orc):
        assert validate(mapping, layer) == []


def test_tiny_listed_cost_by_hand():
    c = cost(tiny_listed())
    assert (c.crossbars, c.cells, c.cells_placed) == (2, 30, 16 * 4 * 2 + 4 * 8)
    assert (c.activations_per_cycle, c.ou_activations, c.cycles) == (6, 24, 5 * 4)
    assert c.adc_bits_required == [3, 4]
    assert c.energy_pj["dac"] == pytest.approx(4 * 20 * TINY.costs.dac_pj(1))  # 20 rows listed


# ---- validation corner cases (regressions) ---------------------------------------------------

def test_out_of_bounds_placement_is_no_overlap():
    mapping, layer = conventional_mapping(tiny_matrix(), TINY), tiny_layer()
    p = mapping.placements[0]
    moved = mapping.replace(placements=(replace(p, col0=6),) + mapping.placements[1:])
    assert {v.rule for v in validate(moved, layer)} == {"bounds"}


def test_target_outside_its_placement_does_not_leak_into_the_next():
    mapping, layer = tiny_listed(), tiny_layer()
    p0, p1 = mapping.placements[:2]
    # local column 6 of a 4-column placement: would be column 2 of placement 1 in a global count
    targets = np.vstack([p0.targets, [[6, 0, 0, 1]]])
    bad = mapping.replace(placements=(replace(p0, targets=targets),) + mapping.placements[1:])
    assert p1.values[:, 2].any()
    assert {v.rule for v in validate(bad, layer)} == {"target"}
    np.testing.assert_array_equal(build_circuit(build_fabric(bad)).effective_matrix(), tiny_matrix())


@pytest.mark.parametrize("ptr", [[0, 4, 3, 10, 14, 18, 22], [0, 4, 8, 10, 14, 18], [1, 4, 8, 10, 14, 18, 22],
                                 [0, 4, 8, 10, 14, 18, 23]])
def test_inconsistent_listed_arrays_are_a_violation(ptr):
    mapping, layer = tiny_listed(), tiny_layer()
    bad = mapping.replace(activations=replace(mapping.activations, ptr=np.array(ptr)))
    assert [v.rule for v in validate(bad, layer)] == ["shape"]
    report = simulate(bad, layer)
    assert not report.valid and report.cost is None


def test_non_integer_cells_are_a_violation():
    mapping, layer = tiny_listed(), tiny_layer()
    p = mapping.placements[0]
    bad = mapping.replace(placements=(replace(p, values=p.values + 0.5),) + mapping.placements[1:])
    assert [v.rule for v in validate(bad, layer)] == ["shape"]


@pytest.mark.parametrize("schedule", ["grid", "orc", "listed"])
def test_a_mapping_simulated_in_parts_reports_what_it_does_whole(monkeypatch, schedule):
    """Parts of a few cells each (crossbar ranges) give the same cost, validity and broken rules as one part,
    for a valid mapping, one that lost weights and one that holds a placement twice."""
    layer = sparse_layer(300, 40, 0.6, seed=3)
    spec = preset("orc")
    mapping = conventional_mapping(layer.matrix, spec, "grid" if schedule == "grid" else "orc")
    if schedule == "listed":
        mapping = packed_listed(mapping, np.random.default_rng(0))
    p = mapping.placements[1]
    values = p.values.copy()
    values[values > 0] = 0  # weights lost: function and execution differ
    ps = mapping.placements
    broken = [mapping.replace(placements=(ps[0], replace(p, values=values)) + ps[2:]),
              mapping.replace(placements=ps[:1] + ps[:1] + ps[1:])]  # placement 0 twice
    for m in [mapping] + broken:
        whole = simulate(m, layer)
        monkeypatch.setattr(fabric, "PART_CELLS", 2000)
        assert len(fabric.parts(m)) > 2
        split = simulate(m, layer)
        monkeypatch.undo()
        assert split.valid == whole.valid and split.exact == whole.exact
        assert {v.rule for v in split.violations} == {v.rule for v in whole.violations}
        a, b = split.cost.to_dict(), whole.cost.to_dict()
        for key in ("energy_pj", "area_um2"):
            assert a.pop(key) == pytest.approx(b.pop(key))
        assert a == b
    assert simulate(mapping, layer).valid and not simulate(broken[0], layer).exact
    x = np.random.default_rng(1).integers(0, 2 ** spec.input_bits, size=(5, layer.n_inputs))
    monkeypatch.setattr(fabric, "PART_CELLS", 2000)
    split = {(adc, fold): execute(mapping, x, adc=adc, fold=fold) for adc in ("clip", "ideal") for fold in (True, False)}
    monkeypatch.undo()
    whole = mapping.replace()  # a new mapping: its circuits are built anew, in one part
    for (adc, fold), y in split.items():
        np.testing.assert_array_equal(y, execute(whole, x, adc=adc, fold=fold))
    assert "overlap" in {v.rule for v in simulate(broken[1], layer).violations}
