"""Tests for mapopt.mapping: the save/load round trip and the rejection of malformed mapping files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mappings import TINY, tiny_listed, tiny_matrix
from strategies import hardware_specs, layers

from mapopt.errors import InstanceError
from mapopt.hardware import preset
from mapopt.instance import Instance, write_instance
from mapopt.layer import Layer
from mapopt.layout import conventional_mapping
from mapopt.mapping import Mapping, load_mapping, save_mapping


def assert_same(a: Mapping, b: Mapping) -> None:
    assert (a.spec, a.n_inputs, a.n_outputs, a.schedule, a.meta) == (b.spec, b.n_inputs, b.n_outputs, b.schedule, b.meta)
    assert a.spec.costs == b.spec.costs
    assert len(a.placements) == len(b.placements)
    for p, q in zip(a.placements, b.placements):
        assert (p.crossbar, p.row0, p.col0) == (q.crossbar, q.row0, q.col0)
        for name in ("inputs", "values", "col_slice", "targets"):
            x, y = getattr(p, name), getattr(q, name)
            assert x.shape == y.shape and np.issubdtype(y.dtype, np.integer), name
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert (a.activations is None) == (b.activations is None)
    if a.activations is not None:
        for name in ("crossbar", "col0", "ptr", "rows"):
            np.testing.assert_array_equal(getattr(a.activations, name), getattr(b.activations, name), err_msg=name)
    assert (a.reference is None) == (b.reference is None)
    if a.reference is not None:
        np.testing.assert_array_equal(a.reference, b.reference)


json_values = st.integers(-2 ** 40, 2 ** 40) | st.text(max_size=6) | st.lists(st.integers(0, 9), max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_round_trip_conventional(tmp_path, data):
    layer = data.draw(layers(max_bits=10))
    spec = data.draw(hardware_specs(weight_bits=data.draw(st.integers(layer.weight_bits, 12))))
    spec = spec.replace(xbar_rows=max(spec.xbar_rows, 8), xbar_cols=max(spec.xbar_cols, 2 * spec.n_slices))
    meta = data.draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    mapping = conventional_mapping(layer.matrix, spec, data.draw(st.sampled_from(["grid", "orc"])), meta=meta)
    if data.draw(st.booleans()):
        mapping = mapping.replace(reference=layer.matrix[::-1].copy())
    path = save_mapping(tmp_path / "m.npz", mapping)
    assert_same(mapping, load_mapping(path))


@pytest.mark.parametrize("name", ["orc", "bitslice", "pattern"])
def test_round_trip_keeps_preset_cost_laws(tmp_path, name):
    mapping = conventional_mapping(tiny_matrix(), preset(name, input_bits=6), "orc")
    back = load_mapping(save_mapping(tmp_path / "m.npz", mapping))
    assert_same(mapping, back)
    assert back.spec.name == name


def test_round_trip_listed_with_reference(tmp_path):
    reference = tiny_matrix()
    reference[3, 0] = 1  # a declared approximation
    mapping = tiny_listed().replace(reference=reference, meta={"method": "by hand", "seed": 7, "groups": [0, 1]})
    back = load_mapping(save_mapping(tmp_path / "listed.npz", mapping))
    assert_same(mapping, back)
    assert back.schedule == "listed" and len(back.activations) == 6


def test_round_trip_no_placements(tmp_path):
    mapping = Mapping(TINY, 20, 2, ())
    assert_same(mapping, load_mapping(save_mapping(tmp_path / "empty.npz", mapping)))


# ---- malformed files ----------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path) -> Path:
    mapping = tiny_listed().replace(reference=tiny_matrix())
    return save_mapping(tmp_path / "good.npz", mapping)


def rewrite(src: Path, dst: Path, drop: tuple = (), **arrays) -> Path:
    """A copy of the npz file `src` at `dst` with some arrays replaced or dropped."""
    with np.load(src, allow_pickle=False) as data:
        content = {k: data[k] for k in data.files if k not in drop}
    content.update(arrays)
    np.savez(dst, **content)
    return dst


def header(saved: Path) -> np.ndarray:
    with np.load(saved) as data:
        return data["placement"].copy()


def expect_error(path: Path, match: str) -> None:
    with pytest.raises(InstanceError) as info:
        load_mapping(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert match in message, message


def test_header_rows_inconsistent(saved, tmp_path):
    h = header(saved)
    h[0, 3] += 1  # one row more than the arrays hold
    expect_error(rewrite(saved, tmp_path / "bad.npz", placement=h), "inconsistent with the placement header")


def test_header_cols_inconsistent(saved, tmp_path):
    h = header(saved)
    h[2, 4] -= 1
    expect_error(rewrite(saved, tmp_path / "bad.npz", placement=h), "inconsistent with the placement header")


def test_header_negative_size(saved, tmp_path):
    h = header(saved)
    h[0, 3], h[1, 3] = -h[0, 3], h[1, 3] + 2 * h[0, 3]  # sums still match, a size is negative
    expect_error(rewrite(saved, tmp_path / "bad.npz", placement=h), "inconsistent with the placement header")


def test_values_too_short(saved, tmp_path):
    with np.load(saved) as data:
        values = data["values"][:-1]
    expect_error(rewrite(saved, tmp_path / "bad.npz", values=values), "inconsistent with the placement header")


def test_header_wrong_width(saved, tmp_path):
    expect_error(rewrite(saved, tmp_path / "bad.npz", placement=header(saved)[:, :4]), "need 5 columns")


def test_target_of_missing_placement(saved, tmp_path):
    with np.load(saved) as data:
        targets = data["targets"].copy()
    targets[-1, 0] = 3  # there are 3 placements: the target would silently vanish
    expect_error(rewrite(saved, tmp_path / "bad.npz", targets=targets), "names a placement outside")


def test_listed_pointer_inconsistent(saved, tmp_path):
    with np.load(saved) as data:
        ptr = data["act_ptr"].copy()
    ptr[2] = ptr[1] - 1
    expect_error(rewrite(saved, tmp_path / "bad.npz", act_ptr=ptr), "listed activation arrays are inconsistent")


def test_listed_array_missing(saved, tmp_path):
    expect_error(rewrite(saved, tmp_path / "bad.npz", drop=("act_rows",)), "'act_rows' is missing")


def test_float_values(saved, tmp_path):
    with np.load(saved) as data:
        values = data["values"].astype(np.float64)
    expect_error(rewrite(saved, tmp_path / "bad.npz", values=values), "'values' has dtype float64")


def test_pickle_payload(saved, tmp_path):
    payload = np.array([{"evil": 1}, None], dtype=object)
    expect_error(rewrite(saved, tmp_path / "bad.npz", values=payload), "pickled objects")


def test_wrong_format(tmp_path):
    q = np.array([[3, 0], [0, -1]])
    path = write_instance(tmp_path / "inst.npz", Instance(Layer("fc", "linear", q, np.ones(1), 8), preset("orc")))
    expect_error(path, "expected a mapopt-mapping file")


def test_not_a_zip(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file")
    expect_error(path, "not a readable .npz file")


def test_bad_schedule(saved, tmp_path):
    with np.load(saved) as data:
        meta = str(data["meta"]).replace('"schedule": "listed"', '"schedule": "zigzag"')
    expect_error(rewrite(saved, tmp_path / "bad.npz", meta=np.array(meta)), "schedule must be one of")


def test_bad_hardware(saved, tmp_path):
    with np.load(saved) as data:
        meta = str(data["meta"]).replace('"ou_rows": 4', '"ou_rows": 40')
    expect_error(rewrite(saved, tmp_path / "bad.npz", meta=np.array(meta)), "bad hardware settings")


def test_missing_file(tmp_path):
    expect_error(tmp_path / "absent.npz", "no such file")


def test_saved_file_is_plain_npz(saved):
    with zipfile.ZipFile(saved) as archive:
        assert {"meta.npy", "placement.npy", "values.npy", "act_ptr.npy", "reference.npy"} <= set(archive.namelist())
