"""Conv, depthwise and dense kernels from a Keras 2 HDF5 file (whole model or ``save_weights``).

h5py is optional and imported here only. Kernels are read from
``model_weights/<layer>/<layer>/<kernel>:0`` in the model's layer order: ``kernel`` (Conv2D, Dense;
a Conv2D's ``groups`` from the model config when the file has one), ``depthwise_kernel``
(DepthwiseConv2D, and the first half of a SeparableConv2D) and ``pointwise_kernel``. Kernels of
other ranks (Conv1D, Conv3D) are skipped with a warning naming them; optimizer slots
(``optimizer_weights/``) are ignored.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mapopt.models.weights import MissingDependency, ModelFileError, NamedWeight, check_layers, layer_from_array

logger = logging.getLogger(__name__)

H5PY_MISSING = "reading Keras .h5 files needs h5py: pip install 'mapopt[keras]' (or pip install h5py)"
#: kernel names read, with the suffix their layer name gets when a layer has more than one
KERNELS = {"kernel:0": "", "depthwise_kernel:0": ".depthwise", "pointwise_kernel:0": ".pointwise"}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_h5(path: str | Path) -> list[NamedWeight]:
    """Read 4-D conv kernels ``(kh, kw, Cin/groups, Cout)`` as ``[Cout, Cin/groups, kh, kw]``, depthwise kernels
    ``(kh, kw, C, M)`` as ``[C*M, 1, kh, kw]`` in ``C`` groups and 2-D dense kernels ``(in, out)`` as ``[out, in]``,
    named by Keras layer name."""
    try:
        import h5py
    except ImportError:
        raise MissingDependency(H5PY_MISSING) from None
    path = Path(path)
    if not h5py.is_hdf5(path):
        raise ModelFileError(f"{path}: not an HDF5 file")
    try:
        return check_layers(str(path), _kernels(path, h5py))
    except (OSError, KeyError, RuntimeError) as exc:  # h5py's errors for a truncated or damaged file
        raise ModelFileError(f"{path}: cannot read HDF5 ({' '.join(str(exc).split())[:160]})") from None


def _kernels(path: Path, h5py) -> list:
    """The kernels of every layer the file lists, in torch layout."""
    layers = []
    with h5py.File(path, "r") as f:
        groups = _config_groups(f.attrs.get("model_config"))
        root = f["model_weights"] if "model_weights" in f else f
        names = [_text(n) for n in root.attrs.get("layer_names", list(root.keys()))]
        for layer_name in names:
            group = root.get(layer_name)
            if not isinstance(group, h5py.Group):
                continue
            weight_names = [_text(w) for w in group.attrs.get("weight_names", [])]
            kernels = [w for w in weight_names if w.split("/")[-1] in KERNELS]
            for kernel in kernels:
                data = group.get(kernel)
                if not isinstance(data, h5py.Dataset):
                    raise ModelFileError(f"{path}: layer {layer_name!r} lists {kernel!r} but the file lacks it")
                kind = kernel.split("/")[-1]
                name = layer_name + (KERNELS[kind] if len(kernels) > 1 else "")
                layer = _layer(name, np.asarray(data), kind, groups.get(layer_name, 1), str(path))
                if layer is None:
                    logger.warning("%s: layer %r skipped: a %d-D %s is no 2-D conv or dense kernel",
                                   path, name, np.ndim(data), kind.removesuffix(":0"))
                else:
                    layers.append(layer)
    return layers


def _layer(name: str, array: np.ndarray, kind: str, groups: int, source: str) -> NamedWeight | None:
    """One Keras kernel in torch layout; None for ranks other than 2 and 4."""
    if kind == "depthwise_kernel:0" and array.ndim == 4:  # (kh, kw, C, M) -> [C*M, 1, kh, kw]
        kh, kw, channels, multiplier = array.shape
        weight = array.reshape(kh, kw, channels * multiplier, 1).transpose(2, 3, 0, 1)
        return layer_from_array(name, weight.copy(), source, channels)
    torch_layout = {4: (3, 2, 0, 1), 2: (1, 0)}.get(array.ndim)
    if torch_layout is None:
        return None
    return layer_from_array(name, array.transpose(torch_layout).copy(), source, groups)


def _config_groups(config) -> dict[str, int]:
    """Each Conv2D's ``groups`` from a whole-model file's JSON config (empty without one)."""
    try:
        layers = json.loads(_text(config))["config"]["layers"] if config is not None else []
        return {layer["config"]["name"]: int(layer["config"].get("groups", 1)) for layer in layers}
    except (ValueError, KeyError, TypeError):
        return {}
