"""Turn a trained network into a directory of instance files with an index.

Call `import_model` with a weights file (torch ``.th``/``.pt``, ``.tflite``, Keras ``.h5``, ``.onnx``);
for a module or state dict already in Python, pass ``state_dict_weights(obj)`` to
`import_weights`. Each conv and linear layer is magnitude-pruned, quantized and written as
``<layer name>.npz`` beside an ``index.json`` (see `mapopt.instance`).
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import replace
from pathlib import Path

import numpy as np

from .errors import MapoptError
from .hardware import design
from .instance import Instance, write_index, write_instance
from .layer import Layer
from .models import ModelFileError, NamedWeight, magnitude_prune, read_weights
from .models.weights import sanitize_name, source_file
from .provenance import sha256

logger = logging.getLogger(__name__)

PRUNE_SCOPES = ("layer", "global")
STORED_INT_BITS = 8  # NamedWeight.quantized comes only from int8 TFLite tensors


def import_model(model: str | Path, out_dir: str | Path, sparsity: float = 0.0, preset: str = "orc",
                 scope: str = "layer", weight_bits: int = 8, per_channel: bool = False,
                 network: str | None = None, provenance: dict | None = None, keep_ends: bool = False,
                 overrides: dict | None = None) -> Path:
    """Read a weights file (or a network named as `read_weights` knows them) and write one instance file per conv
    and linear layer; returns the index path.

    `network` defaults to the file's stem; `provenance` (e.g. the script that ran the import) is
    added to the file's name and SHA-256 (synthetic weights say so instead). See `import_weights` for the
    other parameters.
    """
    model = Path(model)
    try:
        weights = read_weights(model)
    except ModelFileError as exc:  # one line naming the file already; give it mapopt's error type
        raise MapoptError(str(exc)) from None
    stored = source_file(model)
    origin = {"source": stored.name, "sha256": sha256(stored)} if stored is not None else \
        {"source": str(model), "weights": "synthetic weights on real shapes (mapopt.models.shapes, seed 0)"}
    provenance = {**origin, **(provenance or {})}
    return import_weights(weights, out_dir, sparsity, preset, scope, weight_bits, per_channel,
                          network or model.stem, provenance, keep_ends, overrides)


def import_weights(weights: list[NamedWeight], out_dir: str | Path, sparsity: float = 0.0,
                   preset: str = "orc", scope: str = "layer", weight_bits: int = 8,
                   per_channel: bool = False, network: str = "network",
                   provenance: dict | None = None, keep_ends: bool = False, overrides: dict | None = None) -> Path:
    """Prune, quantize and write `weights` as instance files in `out_dir`; returns the index path.

    Parameters
    ----------
    weights : layers in network order, e.g. from `read_weights` or `state_dict_weights`.
    out_dir : directory for ``<layer name>.npz`` files and ``index.json`` (created if needed).
    sparsity : fraction in ``[0, 1)`` of weights magnitude-pruned (`magnitude_prune`); rounding
        to integers may zero a few more.
    preset, overrides : hardware preset and settings overriding it (`mapopt.hardware.design`), at each
        layer's weight width.
    scope : ``"layer"`` prunes each layer to `sparsity`; ``"global"`` uses one threshold for all.
    weight_bits, per_channel : quantization of float weights (symmetric, round to nearest).
        Weights the file stores as integers (TFLite int8) keep their integers and scales;
        pruning zeros the same positions in both.
    network, provenance : recorded in the index; `provenance` also in every instance file.
    keep_ends : leave the first and the last layer unpruned (small, and the ones accuracy is most sensitive to).
    """
    if not isinstance(sparsity, numbers.Real) or not 0.0 <= sparsity < 1.0:
        raise MapoptError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    if scope not in PRUNE_SCOPES:
        raise MapoptError(f"prune scope must be one of {PRUNE_SCOPES}, got {scope!r}")
    params = {"sparsity": float(sparsity), "prune_scope": scope, **({"keep_ends": True} if keep_ends else {})}
    ends = {0, len(weights) - 1} if keep_ends else set()
    middle = magnitude_prune([w.weight for i, w in enumerate(weights) if i not in ends], sparsity, scope)[::-1]
    pruned = [w.weight if i in ends else middle.pop() for i, w in enumerate(weights)]
    layers = [_layer(w, p, weight_bits, per_channel) for w, p in zip(weights, pruned)]
    instances = [Instance(layer, design(preset, overrides, layer.weight_bits), params, provenance or {})
                 for layer in layers]
    return write_network(instances, out_dir, network, {**(provenance or {}), **params})


def _layer(named: NamedWeight, pruned: np.ndarray, weight_bits: int, per_channel: bool) -> Layer:
    """The quantized `Layer` of one pruned weight tensor, keeping the float weights from before pruning
    (what weight recovery restores and what errors are measured against)."""
    if named.quantized is None:
        q = Layer.from_weights(pruned, named.name, weight_bits, per_channel, named.kind, named.groups)
        return replace(q, weight=np.asarray(named.weight, dtype=np.float32))
    quantized = np.where(pruned == 0, 0, named.quantized).astype(np.int64)
    return Layer(named.name, named.kind, quantized, np.asarray(named.scale, dtype=np.float64),
                 STORED_INT_BITS, np.asarray(named.weight, dtype=np.float32), named.groups)


def write_network(instances: list[Instance], out_dir: str | Path, network: str, provenance: dict) -> Path:
    """Write each instance as ``out_dir/<sanitized layer name>.npz`` and the index; returns the index path."""
    out_dir = Path(out_dir)
    files = [out_dir / f"{sanitize_name(inst.name)}.npz" for inst in instances]
    if len(set(files)) != len(files):
        clash = next(f for f in files if files.count(f) > 1)
        raise MapoptError(f"{out_dir}: two layers would both be written to {clash.name}; rename one")
    for inst, file in zip(instances, files):
        write_instance(file, inst)
    logger.info("wrote %d instance files of %s to %s", len(files), network, out_dir)
    return write_index(out_dir, network, files, provenance)
