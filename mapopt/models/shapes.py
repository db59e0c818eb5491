"""The seeds' ImageNet networks at their real layer shapes, with synthetic weights, for scale and speed.

No pretrained ResNet-18/50, VGG16 or MobileNet-v2 weights reach this machine, so `synthetic_weights` draws
each layer's weights (normal, He-scaled, seeded) on the conv and linear shapes written down here from the
published architectures, named as torchvision names them. Results on them are "synthetic weights on real
shapes": they measure time, memory and the mapping of real layer sizes, never a network's gains on trained
weights.

- ResNet-18/50 (He et al. 2016, table 1): a 7x7/2 stem of 64, four stages of basic blocks (2, 2, 2, 2) or
  bottlenecks (3, 4, 6, 3; 1x1, 3x3, 1x1 with expansion 4) of widths 64-512, a 1x1 projection shortcut
  (``downsample.0``) where the shape changes, ``fc`` to 1000 classes.
- VGG16 (Simonyan & Zisserman 2015, configuration D): thirteen 3x3 convs (64, 64, 128, 128, 256 x 3,
  512 x 6; ``features.<index>``) and three fully connected layers 25088-4096-4096-1000 (``classifier.0/3/6``).
- MobileNet-v2 (Sandler et al. 2018, table 2): a 3x3/2 stem of 32, seventeen inverted residual blocks
  (expansion, outputs, repeats) = (1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3),
  (6, 320, 1), each a 1x1 expansion (none at expansion 1), a 3x3 depthwise conv and a 1x1 projection; a 1x1
  conv to 1280 and ``classifier.1`` to 1000 classes.
"""

from __future__ import annotations

import numpy as np

from mapopt.models.weights import NamedWeight, layer_from_array

#: (name, torch-layout shape, groups) of a network's conv and linear layers
Shapes = list[tuple[str, tuple[int, ...], int]]


def resnet(depth: int) -> Shapes:
    """ResNet-18 or ResNet-50 (torchvision names)."""
    bottleneck, blocks = {18: (False, (2, 2, 2, 2)), 50: (True, (3, 4, 6, 3))}[depth]
    shapes, inputs = [("conv1", (64, 3, 7, 7), 1)], 64
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        outputs = 4 * width if bottleneck else width
        for b in range(count):
            name = f"layer{stage}.{b}"
            if bottleneck:
                shapes += [(f"{name}.conv1", (width, inputs, 1, 1), 1), (f"{name}.conv2", (width, width, 3, 3), 1),
                           (f"{name}.conv3", (outputs, width, 1, 1), 1)]
            else:
                shapes += [(f"{name}.conv1", (width, inputs, 3, 3), 1), (f"{name}.conv2", (width, width, 3, 3), 1)]
            if inputs != outputs:
                shapes.append((f"{name}.downsample.0", (outputs, inputs, 1, 1), 1))
            inputs = outputs
    return shapes + [("fc", (1000, inputs), 1)]


def vgg16() -> Shapes:
    """VGG16, configuration D (torchvision names: `features` indices count the ReLU and pooling layers)."""
    shapes, inputs, index = [], 3, 0
    for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(count):
            shapes.append((f"features.{index}", (width, inputs, 3, 3), 1))
            inputs, index = width, index + 2
        index += 1  # the max pool
    return shapes + [("classifier.0", (4096, 512 * 7 * 7), 1), ("classifier.3", (4096, 4096), 1),
                     ("classifier.6", (1000, 4096), 1)]


def mobilenet_v2() -> Shapes:
    """MobileNet-v2 (torchvision names), its depthwise convs in as many groups as channels."""
    shapes, inputs, index = [("features.0.0", (32, 3, 3, 3), 1)], 32, 1
    for expansion, outputs, repeats in ((1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3),
                                        (6, 320, 1)):
        for _ in range(repeats):
            hidden, conv = inputs * expansion, f"features.{index}.conv"
            if expansion == 1:
                shapes += [(f"{conv}.0.0", (hidden, 1, 3, 3), hidden), (f"{conv}.1", (outputs, hidden, 1, 1), 1)]
            else:
                shapes += [(f"{conv}.0.0", (hidden, inputs, 1, 1), 1), (f"{conv}.1.0", (hidden, 1, 3, 3), hidden),
                           (f"{conv}.2", (outputs, hidden, 1, 1), 1)]
            inputs, index = outputs, index + 1
    return shapes + [(f"features.{index}.0", (1280, inputs, 1, 1), 1), ("classifier.1", (1000, 1280), 1)]


NETWORKS = {"resnet18": lambda: resnet(18), "resnet50": lambda: resnet(50), "vgg16": vgg16,
            "mobilenet_v2": mobilenet_v2}


def synthetic_weights(network: str, seed: int = 0) -> list[NamedWeight]:
    """Seeded normal weights with He scaling (std ``sqrt(2 / fan-in)``) on `network`'s layer shapes."""
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; known: {', '.join(NETWORKS)}")
    rng = np.random.default_rng(seed)
    layers = []
    for name, shape, groups in NETWORKS[network]():
        weight = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / np.prod(shape[1:])))
        layers.append(layer_from_array(name, weight, network, groups))
    return layers
