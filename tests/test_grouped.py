"""Grouped and depthwise convolutions: the block-diagonal layer matrix, every method mapping it, the simulator
computing the grouped conv itself, and the same network read alike from torch, ONNX, Keras and TFLite files."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from test_conformance import CASES, HARDWARE, needs

from mapopt.errors import MapoptError
from mapopt.hardware import preset
from mapopt.instance import Instance, read_instance, write_instance
from mapopt.layer import Layer, matrix_to_weight, structure
from mapopt.problems import get_problem
from mapopt.sim import cost, execute
from mapopt.solve import solve

from helpers import mapopt
from model_files import LAYERS, make_net, torch_module, write_keras_h5, write_onnx, write_tflite

RNG = np.random.default_rng(11)


def grouped_weight(k: int, c: int, groups: int, size: int = 3, density: float = 0.6) -> np.ndarray:
    return RNG.normal(size=(k, c // groups, size, size)) * (RNG.random((k, c // groups, size, size)) < density)


def grouped_conv(image: np.ndarray, q: np.ndarray, groups: int) -> np.ndarray:
    """Reference grouped conv (stride 1, zero padding keeping the size) by its definition: positions x outputs."""
    k, per_group, r, s = q.shape
    padded = np.pad(image, ((0, 0), (r // 2, r // 2), (s // 2, s // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (r, s), axis=(1, 2))  # C x H x W x R x S
    out = np.zeros(image.shape[1:] + (k,), dtype=np.int64)
    for o in range(k):
        g = o // (k // groups)
        out[..., o] = np.einsum("chwrs,crs->hw", windows[g * per_group:(g + 1) * per_group], q[o])
    return out.reshape(-1, k)


def im2col(image: np.ndarray, r: int, s: int) -> np.ndarray:
    """Rows ``(c, r, s)`` C-major per output position, the order of `mapopt.layer.unroll`."""
    padded = np.pad(image, ((0, 0), (r // 2, r // 2), (s // 2, s // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (r, s), axis=(1, 2))
    return windows.transpose(1, 2, 0, 3, 4).reshape(image.shape[1] * image.shape[2], -1)


@pytest.mark.parametrize("k, c, groups, kind", [(12, 12, 12, "depthwise"), (24, 12, 12, "depthwise"),
                                                 (16, 8, 4, "grouped"), (6, 4, 1, "conv")])
def test_layer_matrix_is_block_diagonal_and_the_weights_come_back(k, c, groups, kind):
    layer = Layer.from_weights(grouped_weight(k, c, groups), "g", groups=groups)
    assert layer.kind == kind and layer.n_inputs == c * 9 and layer.matrix.shape == (c * 9, k)
    rows, cols = c // groups * 9, k // groups
    for o in range(k):  # output o reads only its own group's rows
        g = o // cols
        np.testing.assert_array_equal(layer.matrix[g * rows:(g + 1) * rows, o], layer.quantized[o].reshape(-1))
    assert not layer.matrix[~layer.structure].any() and layer.structure.sum() == k * rows
    np.testing.assert_array_equal(matrix_to_weight(layer.matrix, layer.shape, groups), layer.quantized)
    if groups > 1:
        stray = layer.matrix.copy()
        stray[np.argwhere(~layer.structure)[0][0], np.argwhere(~layer.structure)[0][1]] = 1
        with pytest.raises(ValueError, match="outside its diagonal blocks"):
            layer.with_matrix(stray)


@pytest.mark.parametrize("kind, shape, groups, message", [
    ("conv", (8, 1, 3, 3), 8, "is depthwise, not conv"), ("depthwise", (8, 2, 3, 3), 4, "is grouped, not depthwise"),
    ("grouped", (6, 2, 3, 3), 4, "do not split into 4 groups"), ("linear", (4, 6), 2, "a linear layer has 1 group"),
    ("conv", (4, 3, 3, 3), 0, "groups must be a positive integer")])
def test_kind_and_groups_must_agree(kind, shape, groups, message):
    with pytest.raises(MapoptError, match=message):
        Layer("bad", kind, np.ones(shape, dtype=np.int64), np.ones(1), 8, None, groups)


def test_instance_files_keep_groups(tmp_path):
    inst = Instance(Layer.from_weights(grouped_weight(16, 8, 4), "g", groups=4), preset("orc"))
    back = read_instance(write_instance(tmp_path / "g.npz", inst)).layer
    assert (back.kind, back.groups) == ("grouped", 4)
    np.testing.assert_array_equal(back.matrix, inst.layer.matrix)


def depthwise_instance(problem: str, groups: int) -> Instance:
    """A pruned depthwise (groups = channels) or grouped conv with float weights, on the problem's hardware."""
    weight = grouped_weight(16, 8, groups) if groups < 8 else grouped_weight(16, 8, 8)
    return Instance(Layer.from_weights(weight, "dw", groups=groups), preset(HARDWARE[problem]))


@pytest.mark.parametrize("problem,name", CASES)
@pytest.mark.parametrize("groups", [8, 2])
def test_every_method_maps_a_grouped_layer_exactly(problem, name, groups):
    needs(problem, name)
    inst = depthwise_instance(problem, groups)
    r = solve(inst, problem, name, time_limit=1.0, seed=1)
    assert r.report.valid and r.report.exact, r.report.violations
    measured = r.report.cost.ou_activations if get_problem(problem).objective == "ou_activations" \
        else r.report.error["l1"]
    assert r.objective == measured and r.bound <= r.objective
    computed = inst.layer.matrix if r.mapping.reference is None else r.mapping.reference
    assert not computed[~inst.layer.structure].any(), "a weight where the grouped conv has none"
    image = RNG.integers(0, 2 ** inst.spec.input_bits, size=(8, 5, 5))
    y = execute(r.mapping, im2col(image, 3, 3))
    q = matrix_to_weight(computed, inst.layer.shape, groups)
    np.testing.assert_array_equal(y, grouped_conv(image, q, groups))


def test_the_dense_baseline_holds_only_the_diagonal_blocks():
    """256 depthwise 3x3 filters (2304 x 256): a crossbar column of 32 filters (4 slices each, 128 columns)
    holds their 288 rows, 3 crossbars of 128 rows, per polarity: 8 x 3 x 2 = 48, not 18 x 8 x 2 = 288."""
    layer = Layer.from_weights(grouped_weight(256, 256, 256, density=1.0), "dw", groups=256)
    spec = preset("orc")
    dense = solve(Instance(layer, spec), "baseline", "dense")
    assert dense.report.valid and dense.report.exact
    assert cost(dense.mapping).crossbars == 48
    assert layer.matrix.shape == (2304, 256) and spec.xbar_rows == 128 and spec.n_slices == 4


@pytest.fixture(scope="module")
def net_files(tmp_path_factory):
    """The same depthwise classifier as .onnx, .h5 and .tflite, and as a torch state dict when torch is there."""
    pytest.importorskip("onnx")
    pytest.importorskip("h5py")
    pytest.importorskip("flatbuffers")
    folder, net = tmp_path_factory.mktemp("net"), make_net()
    files = {"onnx": folder / "net.onnx", "keras": folder / "net.h5", "tflite": folder / "net.tflite"}
    write_onnx(net, files["onnx"])
    write_keras_h5(net, files["keras"])
    write_tflite(net, files["tflite"])
    try:
        import torch
    except ImportError:
        return files
    files["torch"] = folder / "net.pt"
    torch.save(torch_module(net).state_dict(), files["torch"])
    return files


def test_the_same_network_from_every_format_gives_the_same_layers_and_totals(net_files, tmp_path):
    reports = {}
    for fmt, path in net_files.items():
        layers = json.loads(mapopt("inspect", path, "--json").stdout)["layers"]
        assert [(l["kind"], l["groups"], l["shape"]) for l in layers] == \
            [("linear" if len(s) == 2 else "conv" if g == 1 else "depthwise", g, list(s)) for _, s, g in LAYERS]
        mapopt("import", path, "--out", tmp_path / fmt, "--per-channel")
        reports[fmt] = json.loads(mapopt("map", tmp_path / fmt, "--pipeline", "full", "--json").stdout)
    totals = {fmt: (r["totals"], r["dense"]) for fmt, r in reports.items()}
    assert all(t == totals["onnx"] for t in totals.values()), totals
    assert all(l["valid"] and l["exact"] for r in reports.values() for l in r["layers"])


def test_an_onnx_depthwise_classifier_maps_like_its_torch_twin(net_files):
    torch = pytest.importorskip("torch")
    onnx_report = json.loads(mapopt("map", net_files["onnx"], "--pipeline", "full", "--sparsity", "0.5",
                                    "--json").stdout)
    torch_report = json.loads(mapopt("map", net_files["torch"], "--pipeline", "full", "--sparsity", "0.5",
                                     "--json").stdout)
    assert (onnx_report["totals"], onnx_report["dense"]) == (torch_report["totals"], torch_report["dense"])
    assert [(l["kind"], l["groups"]) for l in onnx_report["layers"]] == \
        [(l["kind"], l["groups"]) for l in torch_report["layers"]] == \
        [("linear" if len(s) == 2 else "conv" if g == 1 else "depthwise", g) for _, s, g in LAYERS]
    # the simulated depthwise layer computes what torch's grouped conv does with the same integers
    from mapopt.importer import import_model

    index = import_model(net_files["onnx"], net_files["onnx"].parent / "imported")
    inst = read_instance(index.parent / "dw2.npz")
    r = solve(inst, "filter-ordering", "auto")
    image = RNG.integers(0, 2, size=(1, 16, 6, 6))
    expected = torch.nn.functional.conv2d(torch.as_tensor(image, dtype=torch.float64),
                                          torch.as_tensor(inst.layer.quantized, dtype=torch.float64),
                                          padding=1, groups=inst.layer.groups)
    np.testing.assert_array_equal(execute(r.mapping, im2col(image[0], 3, 3)),
                                  expected[0].numpy().reshape(32, -1).T.astype(np.int64))


def test_tflite_layers_are_named_by_their_op_not_a_fused_batch_norm(net_files):
    from mapopt.models import read_weights

    names = [layer.name for layer in read_weights(net_files["tflite"])]
    assert names[:2] == ["model.stem.Conv2D", "model.dw1.depthwise"]


def test_keras_layers_mapopt_cannot_map_are_listed_not_dropped_silently(tmp_path, caplog):
    h5py = pytest.importorskip("h5py")
    from mapopt.models import read_weights

    path = tmp_path / "conv1d.h5"
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [b"conv1d", b"dense"]
        for name, shape in (("conv1d", (3, 4, 8)), ("dense", (8, 2))):
            g = root.create_group(name)
            g.attrs["weight_names"] = [f"{name}/kernel:0".encode()]
            g[f"{name}/kernel:0"] = np.ones(shape, np.float32)
    with caplog.at_level(logging.WARNING):
        layers = read_weights(path)
    assert [l.name for l in layers] == ["dense"]
    assert "'conv1d' skipped: a 3-D kernel" in caplog.text


@pytest.mark.parametrize("group, message", [(4, "6 outputs do not split into 4 groups"),
                                            (0, "groups must be a positive integer, got 0")])
def test_a_grouped_conv_whose_groups_do_not_divide_its_outputs_is_refused(tmp_path, group, message):
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    from mapopt.models import ModelFileError, read_weights

    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="g", group=group)], "g", [], [],
                              [numpy_helper.from_array(np.ones((6, 2, 3, 3), np.float32), "w")])
    onnx.save(helper.make_model(graph), str(tmp_path / "g.onnx"))
    with pytest.raises(ModelFileError, match=message):
        read_weights(tmp_path / "g.onnx")


def test_structure_of_a_plain_layer_is_everything():
    assert structure((4, 3, 3, 3)).all() and structure((4, 3, 3, 3)).shape == (27, 4)
