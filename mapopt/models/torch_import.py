"""Conv and linear weights from torch state dicts, checkpoints and modules.

torch is an optional extra, imported inside the functions. Files are loaded
with ``torch.load(weights_only=True)``, which never unpickles arbitrary objects.

A module knows each conv's groups. A state dict does not: a conv with one input channel per filter
right after a layer of ``C`` outputs, ``C`` dividing its own, is read as depthwise in ``C`` groups
(MobileNet, EfficientNet), and logged; other grouped convs need the module (`state_dict_weights`
of it) or an ONNX export.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mapopt.models.weights import MissingDependency, ModelFileError, NamedWeight, check_layers, layer_from_array

logger = logging.getLogger(__name__)

TORCH_MISSING = "reading torch files needs torch: pip install torch==2.13.0 (or pip install 'mapopt[torch]')"


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependency(TORCH_MISSING) from None
    return torch


def _state_dict(obj: Any, torch: Any) -> Mapping | None:
    """The state dict inside ``obj``: itself, ``obj['state_dict']``, ``obj['model']``, or a module's."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if not isinstance(obj, Mapping):
        return None
    for key in ("state_dict", "model"):
        inner = obj.get(key)
        if isinstance(inner, (Mapping, torch.nn.Module)):
            return _state_dict(inner, torch)
    return obj


def state_dict_weights(obj: Any, source: str = "state dict") -> list[NamedWeight]:
    """Conv (4-D ``*.weight``) and linear (2-D ``*.weight``) layers of a state dict, in its order.

    Parameters
    ----------
    obj : Mapping or torch.nn.Module
        A state dict, a checkpoint dict holding one under ``'state_dict'``
        (or ``'model'``), or a module. A leading ``module.`` (DataParallel)
        is stripped from names; BatchNorm and other tensors are skipped.
    source : str
        What to name in error messages (the file, when read from one).

    A module's convs keep their groups; in a plain state dict depthwise convs are inferred (see the
    module docstring).

    Raises
    ------
    ModelFileError
        No conv or linear weights, or NaN/inf weights.
    """
    torch = _torch()
    state = _state_dict(obj, torch)
    if state is None:
        raise ModelFileError(f"{source}: holds a {type(obj).__name__}, not a state dict, checkpoint or module")
    known = _module_groups(obj, torch)
    layers = []
    for key, value in state.items():
        if not (isinstance(key, str) and key.endswith(".weight") and isinstance(value, torch.Tensor)):
            continue
        name = key.removeprefix("module.").removesuffix(".weight")
        if value.is_complex():
            raise ModelFileError(f"{source}: layer {name!r}: weights must be real numbers, got dtype {value.dtype}")
        weight = value.detach().to("cpu", torch.float32).numpy()
        groups = known.get(name) if known is not None else _inferred_groups(name, weight, layers)
        layer = layer_from_array(name, weight, source, groups or 1)
        if layer is not None:
            layers.append(layer)
    return check_layers(source, layers)


def _module_groups(obj: Any, torch: Any) -> dict[str, int] | None:
    """Groups of each conv of a module, by layer name; None when `obj` is no module."""
    if not isinstance(obj, torch.nn.Module):
        return None
    return {name.removeprefix("module."): m.groups for name, m in obj.named_modules()
            if isinstance(m, torch.nn.modules.conv._ConvNd)}


def _inferred_groups(name: str, weight, before: list) -> int:
    """Depthwise groups ``C`` for a ``[K, 1, R, S]`` weight after a layer of ``C`` outputs, ``C`` dividing ``K``
    (one filter or a channel multiplier's worth per input channel); 1 otherwise."""
    channels = before[-1].weight.shape[0] if before else 0
    if weight.ndim != 4 or weight.shape[1] != 1 or channels < 2 or weight.shape[0] % channels:
        return 1
    logger.info("%s: one input channel per filter after a layer of %d outputs: read as depthwise", name, channels)
    return int(channels)


def load_torch_file(path: str | Path) -> list[NamedWeight]:
    """Read a torch state dict or checkpoint file with ``weights_only=True`` and return its layers."""
    torch = _torch()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported (global: GLOBAL \S+|operand \d+)", str(exc))
        detail = f" ({found.group(0)})" if found else ""
        raise ModelFileError(f"{path}: holds pickled objects, not only tensors; "
                             f"refused by torch.load(weights_only=True){detail}") from None
    except Exception as exc:  # torch raises many types for a bad file; all mean the same to the user
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelFileError(f"{path}: not a torch weights file ({type(exc).__name__}: {detail})") from None
    return state_dict_weights(obj, source=str(path))
