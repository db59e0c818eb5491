"""Tests for mapopt.hardware: impossible settings, presets, serialization, cost laws."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from strategies import hardware_specs

from mapopt.errors import HardwareError
from mapopt.hardware import PRESETS, CostLaws, HardwareSpec, check_hardware, design, preset, read_hardware


@pytest.mark.parametrize(("settings", "message"), [
    (dict(ou_rows=129), "larger than the crossbar"),
    (dict(ou_cols=200), "larger than the crossbar"),
    (dict(xbar_rows=0), "xbar_rows must be a positive integer"),
    (dict(xbar_cols=-128), "xbar_cols must be a positive integer"),
    (dict(ou_rows=0), "ou_rows must be a positive integer"),
    (dict(cell_bits=0), "cell_bits must be a positive integer"),
    (dict(dac_bits=-1), "dac_bits must be a positive integer"),
    (dict(xbar_rows=128.0), "xbar_rows must be a positive integer"),
    (dict(ou_cols=True), "ou_cols must be a positive integer"),
    (dict(slice_widths=(2, 2, 2)), "add up to 6 bits"),
    (dict(slice_widths=(1, 2, 2, 2), polarity="offset"), "add up to 7 bits"),
    (dict(slice_widths=(3, 4)), "does not fit a 2-bit cell"),
    (dict(slice_widths=(0, 1, 2, 2, 2)), "must be positive"),
    (dict(adc_bits=(3, 3)), "2 ADC resolutions given for 4 slices"),
    (dict(adc_bits=0), "ADC resolutions must lie in 1..16"),
    (dict(adc_bits=(1, 3, 3, 17)), "ADC resolutions must lie in 1..16"),
    (dict(weight_bits=1), "weight_bits must be between 2 and 16"),
    (dict(weight_bits=17), "weight_bits must be between 2 and 16"),
    (dict(input_bits=4, dac_bits=8), "exceeds input_bits"),
    (dict(input_bits=32), "input_bits must be at most 16"),
    (dict(polarity="ternary"), "polarity must be one of"),
    (dict(slice_layout="diagonal"), "slice_layout must be one of"),
])
def test_impossible_settings_rejected(settings, message):
    with pytest.raises(HardwareError, match=message) as info:
        HardwareSpec(**settings)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_and_round_trip(name):
    spec = preset(name)
    assert spec.name == name
    check_hardware(spec)
    assert sum(spec.slice_widths) == spec.magnitude_bits
    d = spec.to_dict()
    assert HardwareSpec.from_dict(json.loads(json.dumps(d))) == spec  # the name brings back the cost laws


def test_preset_values_from_the_seeds():
    bitslice = preset("bitslice")
    assert bitslice.slice_widths == (1, 2, 2, 2) and bitslice.adc_bits == (1, 3, 3, 3)
    assert bitslice.slice_shifts == (6, 4, 2, 0) and bitslice.adc_for_slice(0) == 1
    assert list(bitslice.adc_caps()) == [1, 7, 7, 7]
    orc = preset("orc")
    assert orc.slice_widths == (1, 2, 2, 2) and orc.n_polarities == 2 and orc.offset == 0
    assert (orc.xbar_rows, orc.ou_rows, orc.ou_cols, orc.input_cycles) == (128, 9, 8, 8)
    assert preset("pattern").costs.array_pj(72) == 4.8
    assert preset("orc", polarity="offset").offset == 127


def test_unknown_preset_and_settings_rejected():
    with pytest.raises(HardwareError, match="unknown hardware preset 'isaac'"):
        preset("isaac")
    with pytest.raises(HardwareError, match="unknown hardware settings: colour"):
        HardwareSpec.from_dict({**preset("orc").to_dict(), "colour": "red"})
    with pytest.raises(HardwareError, match="larger than the crossbar"):
        preset("orc", ou_rows=256)


@given(hardware_specs())
def test_to_dict_from_dict_round_trip(spec):
    d = json.loads(json.dumps(spec.to_dict()))
    assert HardwareSpec.from_dict(d) == spec


def test_replace_rederives_uniform_slices():
    spec = preset("orc").replace(cell_bits=4)
    assert spec.slice_widths == (3, 4)
    assert preset("orc").replace(polarity="offset").slice_widths == (2, 2, 2, 2)


def test_adc_cost_law_grows_with_resolution():
    costs = CostLaws()
    assert costs.adc_pj(6) == 1.20 and costs.adc_um2(8) == 1200.0
    energies = [costs.adc_pj(b) for b in range(1, 17)]
    assert all(a < b for a, b in zip(energies, energies[1:]))
    assert costs.dac_pj(3) == pytest.approx(4 * costs.dac_pj(1))


def test_a_design_is_a_preset_with_settings_overridden_at_the_layers_weight_width():
    spec = design("bitslice", {"ou_rows": 16, "adc_bits": [2, 4, 4, 4]}, weight_bits=8)
    assert (spec.ou_rows, spec.adc_bits, spec.slice_widths, spec.name) == (16, (2, 4, 4, 4), (1, 2, 2, 2), "bitslice")
    assert design("orc", {"cell_bits": 1}, weight_bits=8).slice_widths == (1,) * 7  # widths follow the cells
    assert design("orc") == preset("orc")


@pytest.mark.parametrize("overrides, message", [
    ({"weight_bits": 4}, "layers' quantization"),
    ({"ou_rowz": 4}, "unknown hardware settings: ou_rowz"),
    ({"xbar_rows": 10 ** 9}, "at most 8192"),
    ({"ou_rows": 0}, "positive integer"),
    ({"polarity": "both"}, "polarity must be one of"),
])
def test_impossible_designs_are_one_line_errors(overrides, message):
    with pytest.raises(HardwareError, match=message):
        design("orc", overrides)


def test_hardware_files_in_json_and_toml(tmp_path):
    (tmp_path / "hw.json").write_text(json.dumps({"preset": "reuse", "ou_rows": 4}))
    (tmp_path / "hw.toml").write_text('ou_cols = 4\nadc_bits = 8\n')
    assert read_hardware(tmp_path / "hw.json") == ("reuse", {"ou_rows": 4})
    assert read_hardware(tmp_path / "hw.toml") == (None, {"ou_cols": 4, "adc_bits": 8})
    (tmp_path / "bad.toml").write_text("ou_cols = = 4")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "hw.yaml").write_text("ou_rows: 4")
    for name, message in (("bad.toml", "not valid TOML"), ("list.json", "expected an object"),
                          ("hw.yaml", ".json or .toml"), ("missing.json", "no such hardware file")):
        with pytest.raises(HardwareError, match=message):
            read_hardware(tmp_path / name)
