"""Tests for mapopt.models.cifar: the layer-matrix inverse, and top-1 of the akamaster ResNet-20."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import RESNET20
from mapopt.layer import Layer, matrix_to_weight, unroll
from mapopt.models import read_weights
from mapopt.models.cifar import SAMPLES

try:
    import torch
except ImportError:  # torch is an optional extra; the matrix tests still run
    torch = None

# ResNet-20 scores 80.4 % on these 1000 JPEG-recompressed images (91.7 % on the clean test set);
# JPEG artifacts cost about 10 points (../shared/weights/cifar10_samples/PROVENANCE.md)
BASELINE_MIN = 0.78


@given(st.sampled_from([(5, 3, 3, 3), (4, 2, 1, 5), (7, 11), (1, 1, 1, 1), (3, 1)]), st.integers(0, 2**32 - 1))
def test_matrix_to_weight_inverts_unroll(shape, seed):
    weight = np.random.default_rng(seed).normal(size=shape)
    matrix = unroll(weight)
    assert matrix.shape == (int(np.prod(shape[1:])), shape[0])
    back = matrix_to_weight(matrix, shape)
    assert back.shape == shape and np.array_equal(back, weight)
    assert np.array_equal(unroll(back), matrix)


def test_matrix_to_weight_of_a_layer_matrix():
    layer = Layer.from_weights(np.random.default_rng(0).normal(size=(6, 4, 3, 3)), "conv", 8)
    assert np.array_equal(matrix_to_weight(layer.matrix, layer.shape), layer.quantized)


def test_matrix_to_weight_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"must be \(36, 6\)"):
        matrix_to_weight(np.zeros((6, 36)), (6, 4, 3, 3))


@pytest.fixture(scope="module")
def resnet20():
    """ResNet-20, its layers as read_weights names them, and the 1000 test images."""
    if torch is None:
        pytest.skip("torch is not installed (optional extra mapopt[torch])")
    for path in (RESNET20, SAMPLES):
        if not path.is_file():
            pytest.skip(f"real weights or images not available: {path} is absent (shared/weights not checked out)")
    from mapopt.models.cifar import load_resnet, load_samples, top1
    model = load_resnet(RESNET20)
    images, labels = load_samples()
    return model, read_weights(RESNET20), images, labels, top1(model, images, labels)


def test_resnet20_baseline(resnet20):
    model, layers, images, labels, baseline = resnet20
    assert images.shape == (1000, 3, 32, 32) and np.bincount(labels.numpy()).tolist() == [100] * 10
    assert model.depth == 20
    assert baseline > BASELINE_MIN, f"ResNet-20 top-1 {baseline:.3f} on the 1000 JPEG images"


def test_resnet20_layer_names_match_the_importer(resnet20):
    model, layers, *_ = resnet20
    names = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert names == [w.name for w in layers]
    for w in layers:
        assert np.array_equal(model.get_submodule(w.name).weight.detach().numpy(), w.weight)


def test_resnet20_dequantized_8bit_keeps_accuracy(resnet20):
    from mapopt.models.cifar import top1, with_weights
    model, layers, images, labels, baseline = resnet20
    replacements = {}
    for w in layers:
        layer = Layer.from_weights(w.weight, w.name, 8, kind=w.kind)
        replacements[w.name] = matrix_to_weight(layer.dequantized_matrix, layer.shape)
    quantized = top1(with_weights(model, replacements), images, labels)
    assert abs(quantized - baseline) <= 0.02, f"8-bit top-1 {quantized:.3f} against {baseline:.3f}"
    # the original is untouched
    assert np.array_equal(model.conv1.weight.detach().numpy(), layers[0].weight)


def test_resnet20_zero_weights_collapse(resnet20):
    from mapopt.models.cifar import relative_accuracy
    model, layers, images, labels, baseline = resnet20
    result = relative_accuracy(RESNET20, {w.name: np.zeros_like(w.weight) for w in layers}, (images, labels))
    assert result["baseline"] == baseline
    assert result["modified"] < 0.2
    assert result["relative"] == pytest.approx(result["modified"] / baseline)


def test_with_weights_rejects_unknown_names_and_shapes(resnet20):
    from mapopt.models.cifar import with_weights
    model, *_ = resnet20
    with pytest.raises(KeyError, match="bn1"):
        with_weights(model, {"bn1": np.zeros(16)})
    with pytest.raises(ValueError, match=r"expected \(16, 3, 3, 3\)"):
        with_weights(model, {"conv1": np.zeros((16, 3, 3))})
