"""Top-1 accuracy of the akamaster CIFAR-10 ResNets with some layers' weights replaced.

Call :func:`relative_accuracy` with a ``.th`` file and ``{layer name: float weights}``
(torch layout; :func:`mapopt.layer.matrix_to_weight` turns a layer matrix back into one). It reports the
network's top-1 on the 1000 JPEG-recompressed CIFAR-10 test images in
``../shared/weights/cifar10_samples/`` before and after the replacement. JPEG artifacts cost
about 10 points, so only the ratio (``relative``) means something; it is no CIFAR-10 accuracy.

The network is the CIFAR ResNet of He et al. (2016, section 4.2) as trained by Idelbayev
("Proper ResNet Implementation for CIFAR10/CIFAR100 in PyTorch", GitHub
``akamaster/pytorch_resnet_cifar10``): a 3x3 conv with 16 filters, three stages of
``n = (depth - 2) / 6`` basic blocks of widths 16/32/64 (stride 2 opening stages 2 and 3),
global average pooling and ``Linear(64, 10)``. Shortcuts are option A: the identity is
subsampled (``x[:, :, ::2, ::2]``) and zero-padded in channels, so they have no weights.
Module names equal the checkpoint's keys without ``module.``, which are the names
:func:`mapopt.models.read_weights` gives the layers ("conv1", "layer1.0.conv1", "linear").

torch is an optional extra, imported when a network or the images are first needed.
"""

from __future__ import annotations

import copy
import functools
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mapopt.models.weights import MissingDependency, ModelFileError

logger = logging.getLogger(__name__)

TORCH_MISSING = "evaluating CIFAR-10 networks needs torch: pip install torch==2.13.0 (or pip install 'mapopt[torch]')"
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "cifar10_samples" / "cifar10_test_jpeg1000.npz"
# the normalization the akamaster networks were trained with (ImageNet statistics)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
WIDTHS = (16, 32, 64)
N_CLASSES = 10


def require_torch() -> Any:
    """The torch module, or `MissingDependency` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise MissingDependency(TORCH_MISSING) from None
    return torch


@functools.cache
def _modules() -> tuple[type, type]:
    """The block and network classes, defined on first use so that importing this module needs no torch."""
    torch = require_torch()
    nn, F = torch.nn, torch.nn.functional

    class BasicBlock(nn.Module):
        """Two 3x3 conv + BN; an option-A shortcut (subsample, zero-pad channels) where the shape changes."""

        def __init__(self, in_planes: int, planes: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.pad = planes - in_planes
            self.subsample = stride != 1 or in_planes != planes

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

        def shortcut(self, x):
            """What the block adds to ``bn2(conv2(...))``: `x`, subsampled and zero-padded where the shape changes."""
            if not self.subsample:
                return x
            # akamaster pads planes // 4 on both sides: half the missing channels each side
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    class CifarResNet(nn.Module):
        """ResNet-(6n+2) for 32x32 CIFAR images: conv1, layer1..3 of n blocks, average pool, linear."""

        def __init__(self, depth: int) -> None:
            super().__init__()
            self.depth = depth
            n = (depth - 2) // 6
            self.conv1 = nn.Conv2d(3, WIDTHS[0], 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(WIDTHS[0])
            in_planes = WIDTHS[0]
            for stage, planes in enumerate(WIDTHS, start=1):
                blocks = []
                for b in range(n):
                    blocks.append(BasicBlock(in_planes, planes, 2 if (stage > 1 and b == 0) else 1))
                    in_planes = planes
                setattr(self, f"layer{stage}", nn.Sequential(*blocks))
            self.linear = nn.Linear(WIDTHS[-1], N_CLASSES)

        def forward(self, x):
            for run, _, _ in self.segments():
                x = run(x)
            return x

        def segments(self) -> list:
            """The network as a chain of parts (stem, every block, head), so a pass can start from any part's
            cached input (`calibration.Cursor`): each a callable, the conv and linear layers it holds, and the
            layers whose batch-normed output joins a skip connection, ``{name: (skip, norm)}`` (``skip``: the
            part's input -> the tensor added)."""
            parts = [(lambda x: F.relu(self.bn1(self.conv1(x))), ["conv1"], {})]
            for stage in (1, 2, 3):
                for i, block in enumerate(getattr(self, f"layer{stage}")):
                    name = f"layer{stage}.{i}"
                    parts.append((block, [f"{name}.conv1", f"{name}.conv2"], {f"{name}.conv2": (block.shortcut, block.bn2)}))
            parts.append((lambda x: self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1)), ["linear"], {}))
            return parts

    return BasicBlock, CifarResNet


def cifar_resnet(depth: int) -> Any:
    """An untrained akamaster CIFAR-10 ResNet of the given depth (20, 32, 44, 56, 110, ...: ``6n + 2``).

    Raises
    ------
    ValueError
        `depth` is not ``6n + 2`` with ``n >= 1``.
    MissingDependency
        torch is not installed.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, ...), got {depth!r}")
    return _modules()[1](depth)


def _checkpoint_state(path: Path, torch: Any) -> dict:
    """The state dict of an akamaster checkpoint, keys without ``module.``, loaded without unpickling objects."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean the same here
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelFileError(f"{path}: not a torch checkpoint readable with weights_only=True "
                             f"({type(exc).__name__}: {detail})") from None
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping):
        raise ModelFileError(f"{path}: holds a {type(obj).__name__}, not a checkpoint with a state dict")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def load_resnet(path: str | Path) -> Any:
    """Load an akamaster checkpoint (``{'state_dict': ..., 'best_prec1': ...}``) into a ResNet in eval mode.

    The depth is read from the state dict (the number of blocks in ``layer1``).

    Raises
    ------
    ModelFileError
        The file is missing, not a torch checkpoint, or its tensors do not fit a CIFAR ResNet.
    MissingDependency
        torch is not installed.
    """
    torch = require_torch()
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    state = _checkpoint_state(path, torch)
    blocks = {k.split(".")[1] for k in state if k.startswith("layer1.")}
    if not blocks:
        raise ModelFileError(f"{path}: no 'layer1.*' tensors; not an akamaster CIFAR ResNet checkpoint")
    model = cifar_resnet(6 * len(blocks) + 2)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ModelFileError(f"{path}: tensors do not fit a ResNet-{model.depth} ({detail})") from None
    logger.info("loaded ResNet-%d from %s", model.depth, path)
    return model.eval()


def load_samples(path: str | Path | None = None, limit: int | None = None) -> tuple[Any, Any]:
    """CIFAR-10 test images as a normalized float32 tensor ``[N, 3, 32, 32]`` and int64 labels ``[N]``.

    Parameters
    ----------
    path : npz file with ``x`` (uint8 ``[N, 32, 32, 3]`` RGB) and ``y`` (class indices);
        default the 1000 JPEG-recompressed test images (100 per class) in ``../shared``.
        Read with ``allow_pickle=False``.
    limit : keep the first `limit` images (the file is sorted by class: take all for balance).

    Pixels are scaled to ``[0, 1]`` and normalized per channel with `MEAN` and `STD`.
    """
    torch = require_torch()
    path = Path(path) if path is not None else SAMPLES
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file (the CIFAR-10 samples live in ../shared/weights/cifar10_samples)")
    with np.load(path, allow_pickle=False) as data:
        if "x" not in data.files or "y" not in data.files:
            raise ModelFileError(f"{path}: expected arrays 'x' and 'y', found {sorted(data.files)}")
        x, y = data["x"], data["y"]
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8 or y.shape != (x.shape[0],):
        raise ModelFileError(f"{path}: expected uint8 x [N, 32, 32, 3] and y [N], got x {x.dtype} {x.shape}, y {y.shape}")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    images = x.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    images = (images - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(y.astype(np.int64))


def top1(model: Any, images: Any, labels: Any, batch: int = 250) -> float:
    """Fraction of `images` whose highest logit is at their label (`model` is put in eval mode)."""
    torch = require_torch()
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images, at least one: got {len(images)} images, {len(labels)} labels")
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            logits = model(images[start:start + batch])
            correct += int((logits.argmax(dim=1) == labels[start:start + batch]).sum())
    return correct / len(images)


def with_weights(model: Any, replacements: Mapping[str, np.ndarray]) -> Any:
    """A deep copy of `model` whose conv and linear weights named in `replacements` are replaced.

    Parameters
    ----------
    model : the network; left unchanged.
    replacements : layer name (as `read_weights` names it, e.g. ``"layer1.0.conv1"``) to float
        weights in torch layout (conv ``[K, C, R, S]``, linear ``[out, in]``). Biases and
        BatchNorm are kept.

    Raises
    ------
    KeyError
        A name that is no conv or linear layer of `model`.
    ValueError
        Weights of the wrong shape, or not finite.
    """
    torch = require_torch()
    layers = {name: m for name, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    for name, weight in replacements.items():
        if name not in layers:
            raise KeyError(f"{name!r} is no conv or linear layer of the model (it has {', '.join(layers)})")
        shape = tuple(layers[name].weight.shape)
        if np.shape(weight) != shape:
            raise ValueError(f"layer {name}: replacement weights have shape {np.shape(weight)}, expected {shape}")
        if not np.all(np.isfinite(weight)):
            raise ValueError(f"layer {name}: replacement weights contain NaN or infinity")
    copied = copy.deepcopy(model)
    modules = dict(copied.named_modules())
    with torch.no_grad():
        for name, weight in replacements.items():
            target = modules[name].weight
            target.copy_(torch.as_tensor(np.asarray(weight), dtype=target.dtype))
    return copied


def relative_accuracy(model_path: str | Path, replacements: Mapping[str, np.ndarray],
                      samples: tuple[Any, Any] | None = None) -> dict[str, float]:
    """Top-1 of a checkpoint before and after replacing layer weights, and their ratio.

    Parameters
    ----------
    model_path : akamaster ``.th`` checkpoint.
    replacements : see :func:`with_weights`.
    samples : ``(images, labels)`` from :func:`load_samples`; default the 1000 JPEG images.

    Returns
    -------
    dict
        ``baseline`` and ``modified`` top-1 (fractions), ``relative = modified / baseline``.
    """
    images, labels = samples if samples is not None else load_samples()
    model = load_resnet(model_path)
    baseline = top1(model, images, labels)
    modified = top1(with_weights(model, replacements), images, labels)
    return {"baseline": baseline, "modified": modified,
            "relative": modified / baseline if baseline > 0 else float("nan")}
