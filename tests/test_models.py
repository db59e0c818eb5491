"""Tests for mapopt.models: weight readers (torch, TFLite, Keras h5) and magnitude pruning."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import RESNET20, WEIGHTS, real_file
from mapopt.models import (
    MissingDependency,
    ModelFileError,
    load_torch_file,
    magnitude_prune,
    read_weights,
    state_dict_weights,
)

try:
    import torch
except ImportError:  # torch is an optional extra; the pruning and TFLite tests still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (optional extra mapopt[torch])")

TFLITE = WEIGHTS / "mlperf_tiny" / "ic_resnet8" / "pretrainedResnet_quant.tflite"
KERAS_H5 = WEIGHTS / "mlperf_tiny" / "ic_resnet8" / "pretrainedResnet.h5"


class Unsafe:
    """A custom class: pickling an instance must be refused by weights_only loading."""


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, bias=False),
        torch.nn.BatchNorm2d(4),
        torch.nn.Conv2d(4, 5, 1),
        torch.nn.Flatten(),
        torch.nn.Linear(5, 2),
    )


EXPECTED = [("0", "conv", (4, 3, 3, 3)), ("2", "conv", (5, 4, 1, 1)), ("4", "linear", (2, 5))]


def assert_matches_model(layers, model: torch.nn.Module) -> None:
    assert [(l.name, l.kind, l.weight.shape) for l in layers] == EXPECTED
    for layer in layers:
        expected = model.state_dict()[f"{layer.name}.weight"].numpy()
        assert layer.weight.dtype == np.float32
        np.testing.assert_array_equal(layer.weight, expected)
        assert layer.quantized is None and layer.scale is None


# ---- torch round trips ------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize(
    ("filename", "wrap"),
    [
        ("bare.pt", lambda sd: sd),
        ("checkpoint.th", lambda sd: {"state_dict": sd, "best_prec1": 91.0, "epoch": 3}),
        ("dataparallel.pth", lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}}),
        ("lightning.ckpt", lambda sd: {"model": sd}),
    ],
)
def test_torch_file_round_trip(tmp_path, filename, wrap):
    model = tiny_model()
    path = tmp_path / filename
    torch.save(wrap(model.state_dict()), path)
    assert_matches_model(read_weights(path), model)
    assert_matches_model(load_torch_file(path), model)


@needs_torch
def test_state_dict_weights_from_module_and_dict():
    model = tiny_model()
    assert_matches_model(state_dict_weights(model), model)
    assert_matches_model(state_dict_weights({"state_dict": model.state_dict()}), model)
    wrapped = torch.nn.DataParallel(model)  # keys gain a "module." prefix
    assert_matches_model(state_dict_weights(wrapped), model)


def test_importing_models_does_not_import_torch():
    code = "import sys, mapopt.models, mapopt.models.weights; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@needs_torch
def test_missing_torch_raises_missing_dependency(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    torch.save(tiny_model().state_dict(), path)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingDependency) as info:
        read_weights(path)
    assert str(info.value) == (
        "reading torch files needs torch: pip install torch==2.13.0 (or pip install 'mapopt[torch]')"
    )


def test_missing_h5py_raises_missing_dependency(tmp_path, monkeypatch):
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingDependency, match="pip install h5py"):
        read_weights(path)


# ---- bad input --------------------------------------------------------------------------------

def assert_file_error(path: Path, match: str) -> None:
    with pytest.raises(ModelFileError, match=match) as info:
        read_weights(path)
    message = str(info.value)
    assert path.name in message
    assert "\n" not in message


@needs_torch
def test_nan_weights(tmp_path):
    state = tiny_model().state_dict()
    state["2.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan_model.pt"
    torch.save(state, path)
    assert_file_error(path, "layer '2' has NaN or infinite weights")


@needs_torch
def test_inf_weights_in_state_dict():
    state = tiny_model().state_dict()
    state["4.weight"][1, 1] = float("inf")
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        state_dict_weights(state)


@needs_torch
def test_torch_save_of_custom_object_is_refused(tmp_path):
    path = tmp_path / "payload.pt"
    torch.save({"state_dict": tiny_model().state_dict(), "extra": Unsafe()}, path)
    assert_file_error(path, r"refused by torch.load\(weights_only=True\)")


@needs_torch
def test_plain_pickle_payload_is_refused(tmp_path):
    path = tmp_path / "payload.pth"
    path.write_bytes(pickle.dumps(Unsafe()))
    assert_file_error(path, r"refused by torch.load\(weights_only=True\)")


@needs_torch
def test_garbage_torch_file(tmp_path):
    path = tmp_path / "garbage.th"
    path.write_bytes(b"this is not a torch file")
    assert_file_error(path, "not a torch weights file")


@needs_torch
def test_torch_file_without_conv_or_linear(tmp_path):
    path = tmp_path / "bn_only.pt"
    torch.save(torch.nn.BatchNorm2d(3).state_dict(), path)
    assert_file_error(path, "no conv or linear weights found")


@needs_torch
def test_torch_file_holding_a_tensor_not_a_dict(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3, 3), path)
    assert_file_error(path, "holds a Tensor, not a state dict")


def test_unknown_extension(tmp_path):
    path = tmp_path / "model.caffemodel"
    path.write_bytes(b"\x00" * 16)
    assert_file_error(path, "unknown weight file extension '.caffemodel'")


def test_missing_file(tmp_path):
    assert_file_error(tmp_path / "absent.th", "no such file")


def test_tflite_without_identifier(tmp_path):
    path = tmp_path / "fake.tflite"
    path.write_bytes(b"\x00" * 64)
    assert_file_error(path, "not a TFLite flatbuffer")


def test_h5_that_is_not_hdf5(tmp_path):
    pytest.importorskip("h5py")
    path = tmp_path / "fake.h5"
    path.write_bytes(b"not hdf5 at all" * 10)
    assert_file_error(path, "not an HDF5 file")


# ---- pruning ----------------------------------------------------------------------------------

def random_layers(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(8, 3, 3, 3)).astype(np.float32), rng.normal(size=(7, 13)), rng.normal(size=5)]


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_layer_pruning_exact_sparsity(sparsity):
    layers = random_layers()
    pruned = magnitude_prune(layers, sparsity)
    for before, after in zip(layers, pruned):
        zeroed = after == 0
        assert zeroed.sum() == round(sparsity * before.size)
        assert after.shape == before.shape and after.dtype == before.dtype
        np.testing.assert_array_equal(after[~zeroed], before[~zeroed])
        if zeroed.any() and (~zeroed).any():
            assert np.abs(before[zeroed]).max() <= np.abs(before[~zeroed]).min()


def test_global_pruning_uses_one_threshold():
    small = np.full((4, 4), 0.01) + np.linspace(0, 0.001, 16).reshape(4, 4)
    large = np.linspace(1.0, 2.0, 20).reshape(4, 5)
    pruned = magnitude_prune([small, large], 0.5, scope="global")
    total_zeros = sum(int((p == 0).sum()) for p in pruned)
    assert total_zeros == round(0.5 * (small.size + large.size))
    assert (pruned[0] == 0).all()  # every small weight falls below the single threshold
    assert (pruned[1] == 0).sum() == total_zeros - small.size
    kept = np.concatenate([np.abs(b[a != 0]) for a, b in zip(pruned, [small, large])])
    cut = np.concatenate([np.abs(b[a == 0]) for a, b in zip(pruned, [small, large])])
    assert cut.max() <= kept.min()
    per_layer = magnitude_prune([small, large], 0.5, scope="layer")
    assert (per_layer[0] == 0).sum() == 8  # differs from global: each layer loses half


def test_pruning_ties_are_deterministic():
    ties = [np.ones((3, 4)), np.ones(6)]
    first = magnitude_prune(ties, 0.5)
    assert (first[0].reshape(-1)[:6] == 0).all() and (first[0].reshape(-1)[6:] == 1).all()
    glob = magnitude_prune(ties, 0.5, scope="global")
    assert (glob[0].reshape(-1)[:9] == 0).all() and (glob[1] == 1).all() and (glob[0].reshape(-1)[9:] == 1).all()
    for _ in range(3):
        again = magnitude_prune(ties, 0.5)
        assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_pruning_does_not_modify_input():
    layers = random_layers(1)
    layers.append(np.asfortranarray(np.random.default_rng(2).normal(size=(6, 4))))
    copies = [l.copy() for l in layers]
    for scope in ("layer", "global"):
        pruned = magnitude_prune(layers, 0.6, scope=scope)
        assert all(np.array_equal(a, b) for a, b in zip(layers, copies))
        assert all(p is not l for p, l in zip(pruned, layers))
        assert (pruned[-1] == 0).any()


@pytest.mark.parametrize(("sparsity", "scope"), [(-0.1, "layer"), (1.5, "global"), (0.5, "filter")])
def test_pruning_rejects_bad_arguments(sparsity, scope):
    with pytest.raises(ValueError):
        magnitude_prune(random_layers(), sparsity, scope=scope)


def test_pruning_rejects_nan():
    with pytest.raises(ValueError, match="finite"):
        magnitude_prune([np.array([1.0, np.nan])], 0.5)


# ---- Keras h5 (synthetic) ---------------------------------------------------------------------

def test_keras_h5_layout_and_order(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(3)
    conv = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)  # kh, kw, Cin, Cout
    dense = rng.normal(size=(4, 6)).astype(np.float32)  # in, out
    path = tmp_path / "tiny.h5"
    with h5py.File(path, "w") as f:
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [b"conv2d_9", b"batch_normalization", b"dense_1"]
        for name, kernel in ((b"conv2d_9", conv), (b"dense_1", dense)):
            g = mw.create_group(name.decode())
            g.attrs["weight_names"] = [name + b"/kernel:0", name + b"/bias:0"]
            g[f"{name.decode()}/kernel:0"] = kernel
            g[f"{name.decode()}/bias:0"] = np.zeros(kernel.shape[-1], np.float32)
        bn = mw.create_group("batch_normalization")
        bn.attrs["weight_names"] = [b"batch_normalization/gamma:0"]
        bn["batch_normalization/gamma:0"] = np.ones(4, np.float32)
        f["optimizer_weights/conv2d_9/kernel:0"] = conv
    layers = read_weights(path)
    assert [(l.name, l.kind) for l in layers] == [("conv2d_9", "conv"), ("dense_1", "linear")]
    np.testing.assert_array_equal(layers[0].weight, conv.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(layers[1].weight, dense.T)


def _keras_file(path, kernel) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        g = f.create_group("model_weights").create_group("conv")
        f["model_weights"].attrs["layer_names"] = [b"conv"]
        g.attrs["weight_names"] = [b"conv/kernel:0"]
        g["conv/kernel:0"] = kernel


def test_keras_h5_strings_and_truncated_files_are_one_line_errors(tmp_path):
    pytest.importorskip("h5py")
    _keras_file(tmp_path / "text.h5", np.array([[b"a", b"b"], [b"c", b"d"]]))
    with pytest.raises(ModelFileError, match="weights must be real numbers"):
        read_weights(tmp_path / "text.h5")
    _keras_file(tmp_path / "whole.h5", np.ones((3, 3, 2, 4), np.float32))
    data = (tmp_path / "whole.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.h5"):
        read_weights(tmp_path / "cut.h5")


@needs_torch
@pytest.mark.parametrize("weight, message", [("complex", "real numbers"), ("empty", "has no weights")])
def test_torch_weights_that_are_no_real_numbers_or_none_are_refused(tmp_path, weight, message):
    import torch

    tensor = torch.randn(4, 3, 3, 3, dtype=torch.complex64) if weight == "complex" else torch.zeros(0, 3, 3, 3)
    torch.save({"conv.weight": tensor}, tmp_path / "w.pt")
    with pytest.raises(ModelFileError, match=message):
        read_weights(tmp_path / "w.pt")


# ---- real files -------------------------------------------------------------------------------

@needs_torch
def test_real_resnet20():
    layers = read_weights(real_file(RESNET20))
    assert len(layers) == 20
    assert [l.kind for l in layers] == ["conv"] * 19 + ["linear"]
    assert sum(l.weight.size for l in layers) == 268_336
    assert layers[0].name == "conv1" and layers[0].weight.shape == (16, 3, 3, 3)
    assert layers[1].name == "layer1.0.conv1"
    assert layers[-1].name == "linear" and layers[-1].weight.shape == (10, 64)
    assert all(l.weight.shape[2:] == (3, 3) for l in layers[:-1])
    assert not any(l.name.startswith("module.") for l in layers)


def test_real_tflite_int8():
    layers = read_weights(real_file(TFLITE))
    assert [l.kind for l in layers] == ["conv"] * 9 + ["linear"]
    kernels = [l.weight.shape[2:] for l in layers[:9]]
    assert kernels.count((3, 3)) == 7 and kernels.count((1, 1)) == 2
    assert sum(l.weight.size for l in layers) == 77_360
    assert layers[0].weight.shape == (16, 3, 3, 3) and layers[-1].weight.shape == (10, 64)
    assert layers[0].name == "model.conv2d.Conv2D" and layers[-1].name == "model.dense.MatMul"
    for layer in layers:
        assert layer.quantized.shape == layer.weight.shape
        assert layer.quantized.min() >= -128 and layer.quantized.max() <= 127
        assert layer.scale.shape == (layer.weight.shape[0],) and (layer.scale > 0).all()
        expected = layer.quantized * layer.scale.reshape((-1,) + (1,) * (layer.weight.ndim - 1))
        np.testing.assert_allclose(layer.weight, expected, rtol=1e-6)


def test_real_tflite_truncated(tmp_path):
    data = real_file(TFLITE).read_bytes()
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: len(data) // 2])
    assert_file_error(path, "malformed TFLite flatbuffer")


def test_real_keras_h5_agrees_with_tflite():
    pytest.importorskip("h5py")
    h5_layers = read_weights(real_file(KERAS_H5))
    tfl_layers = read_weights(real_file(TFLITE))
    assert [l.name for l in h5_layers] == [f"conv2d_{i}" if i else "conv2d" for i in range(9)] + ["dense"]
    assert [l.weight.shape for l in h5_layers] == [l.weight.shape for l in tfl_layers]
    # the dense layer has no BatchNorm to fold, so it equals the int8 one up to half a quantization step
    dense_h5, dense_tfl = h5_layers[-1], tfl_layers[-1]
    assert np.abs(dense_h5.weight - dense_tfl.weight).max() <= dense_tfl.scale.max() / 2 + 1e-6
    # convs differ only by the folded BatchNorm: a per-output-channel factor
    for a, b in zip(h5_layers[:9], tfl_layers[:9]):
        x, y = a.weight.reshape(len(a.weight), -1), b.weight.reshape(len(b.weight), -1)
        corr = [abs(np.corrcoef(u, v)[0, 1]) for u, v in zip(x, y)]
        assert min(corr) > 0.99
