"""Trained conv and linear weights, read from the files users actually have.

Call :func:`read_weights` with a path; it picks the reader from the file
extension and returns the layers in file order, each in torch layout
(conv ``[K, C, R, S]``, linear ``[out, in]``). This module imports numpy only;
the torch, TFLite and Keras readers are imported when a file needs them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapopt.errors import MapoptError
from mapopt.layer import conv_kind

logger = logging.getLogger(__name__)

TORCH_SUFFIXES = frozenset({".th", ".pt", ".pth", ".ckpt"})
#: every extension `read_weights` reads
WEIGHT_SUFFIXES = TORCH_SUFFIXES | {".tflite", ".h5", ".hdf5", ".onnx"}
#: networks known by name: real weights from a registry package, and synthetic weights on real shapes
#: (`mapopt.models.shapes`)
EFFICIENTNET = "efficientnet-lite0"
SYNTHETIC = "synthetic:"


class ModelFileError(MapoptError):
    """A weight file is missing, malformed, or holds no usable weights; the message names the file."""


class MissingDependency(RuntimeError):
    """An optional package needed for this file type is not installed; the message says what to install."""


@dataclass(frozen=True)
class NamedWeight:
    """One conv or linear layer's weights.

    Attributes
    ----------
    name : str
        Layer name as in the file, e.g. ``"layer1.0.conv1"``.
    kind : str
        ``"conv"``, ``"depthwise"``, ``"grouped"`` or ``"linear"`` (`mapopt.layer.KINDS`).
    weight : np.ndarray
        float32, conv ``[K, C/groups, R, S]`` or linear ``[out, in]``.
    quantized : np.ndarray or None
        Integer weights of the same shape when the file stores integers
        (TFLite int8), so that ``weight == quantized * scale`` per output.
    scale : np.ndarray or None
        Per-output-channel scales, shape ``[K]``, matching ``quantized``.
    groups : int
        A conv's groups (``C / weight.shape[1]``); 1 for plain convs and linear layers.
    """

    name: str
    kind: str
    weight: np.ndarray
    quantized: np.ndarray | None = None
    scale: np.ndarray | None = None
    groups: int = 1


def layer_from_array(name: str, weight: np.ndarray, source: str = "weights", groups: int = 1) -> NamedWeight | None:
    """Classify an array in torch layout by rank: 4-D is a conv (of `groups`), 2-D is linear, anything else is
    skipped; weights that are no real numbers, or none at all, are a `ModelFileError` naming `source`."""
    if weight.ndim not in (2, 4):
        return None
    kind = "linear" if weight.ndim == 2 else conv_kind(weight.shape, groups)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ModelFileError(f"{source}: layer {name!r}: groups must be a positive integer, got {groups!r}")
    if weight.shape[0] % groups:
        raise ModelFileError(f"{source}: layer {name!r}: {weight.shape[0]} outputs do not split into {groups} groups")
    if np.iscomplexobj(weight) or not (np.issubdtype(weight.dtype, np.number) or weight.dtype == bool):
        raise ModelFileError(f"{source}: layer {name!r}: weights must be real numbers, got dtype {weight.dtype}")
    if weight.size == 0:
        raise ModelFileError(f"{source}: layer {name!r} has no weights (shape {list(weight.shape)})")
    return NamedWeight(name=name, kind=kind, weight=np.asarray(weight, dtype=np.float32), groups=groups)


def sanitize_name(name: str) -> str:
    """Turn a file's tensor or layer name into a dotted identifier (``a/b:0`` -> ``a.b_0``)."""
    dotted = re.sub(r"[/\\]+", ".", name.strip())
    return re.sub(r"[^0-9A-Za-z_.]+", "_", dotted).strip("._") or "layer"


def check_layers(source: str, layers: list[NamedWeight]) -> list[NamedWeight]:
    """Reject an empty result or non-finite weights with a one-line :class:`ModelFileError`."""
    if not layers:
        raise ModelFileError(f"{source}: no conv or linear weights found")
    for layer in layers:
        if not np.isfinite(layer.weight).all():
            raise ModelFileError(f"{source}: layer {layer.name!r} has NaN or infinite weights")
    return layers


def is_named(source: str | Path) -> bool:
    """Whether `source` names a network rather than a file: ``efficientnet-lite0`` or ``synthetic:<network>``."""
    text = str(source)
    return (text == EFFICIENTNET or text.startswith(SYNTHETIC)) and not Path(text).exists()


def source_file(source: str | Path) -> Path | None:
    """The file holding `source`'s weights: itself, the registry package's file of a named network, or None for
    synthetic weights (drawn, not stored)."""
    if not is_named(source):
        return Path(source)
    if str(source) == EFFICIENTNET:
        from mapopt.models.efficientnet import weights_path

        return Path(weights_path())
    return None


def read_weights(path: str | Path) -> list[NamedWeight]:
    """Read the conv and linear layers of a trained network, in file order.

    Parameters
    ----------
    path : str or Path
        A torch state dict or checkpoint (``.th``, ``.pt``, ``.pth``,
        ``.ckpt``), a TFLite flatbuffer (``.tflite``), a Keras HDF5 file (``.h5``) or an ONNX model
        (``.onnx``); or a network's name: ``efficientnet-lite0`` (ImageNet-trained, from its registry
        package) or ``synthetic:resnet18|resnet50|vgg16|mobilenet_v2`` (synthetic weights on real
        shapes, seed 0: `mapopt.models.shapes`).

    Returns
    -------
    list of NamedWeight

    Raises
    ------
    ModelFileError
        The file is missing, has an unknown extension, is not what its
        extension says, holds no conv or linear weights, or holds NaN/inf.
    MissingDependency
        The reader for this file type needs torch, h5py or onnx, which is not installed.
    """
    if is_named(path) and source_file(path) is None:
        from mapopt.models.shapes import NETWORKS, synthetic_weights

        network = str(path).removeprefix(SYNTHETIC)
        if network not in NETWORKS:
            raise ModelFileError(f"{path}: no such network; synthetic weights on real shapes exist for "
                                 + ", ".join(SYNTHETIC + n for n in NETWORKS))
        return synthetic_weights(network)
    path = source_file(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    if suffix in TORCH_SUFFIXES:
        from mapopt.models.torch_import import load_torch_file as reader
    elif suffix == ".tflite":
        from mapopt.models.tflite import read_tflite as reader
    elif suffix in (".h5", ".hdf5"):
        from mapopt.models.keras_h5 import read_keras_h5 as reader
    elif suffix == ".onnx":
        from mapopt.models.onnx_import import read_onnx as reader
    else:
        known = ", ".join(sorted(WEIGHT_SUFFIXES))
        raise ModelFileError(f"{path}: unknown weight file extension {suffix!r} (expected one of {known})")
    layers = reader(path)
    logger.info("read %d layers (%d weights) from %s", len(layers), sum(l.weight.size for l in layers), path)
    return layers
