"""Instance files: one quantized layer and the hardware it is mapped onto, plus a network index.

An instance file is a ``mapopt-instance`` member of the npz family (`mapopt.npzio`):
arrays ``quantized`` (torch layout, the smallest integer type that holds ``B`` bits),
``scale`` (float64, one per layer or per output channel) and, when known, ``weight``
(float32); its JSON meta holds the layer's name, kind, groups (a conv's; 1 when absent), shape,
bit width, quantization, sparsity, the hardware (`HardwareSpec.to_dict`), solver parameters and provenance.

A network is a directory of instance files with an ``index.json`` listing them in layer
order. `instance_files` turns a file, an index or a directory into the list of files to read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InstanceError
from .hardware import HardwareSpec
from .layer import CONV_KINDS, KINDS, Layer
from .npzio import array, check_header, read_npz, require, write_npz

INSTANCE_FORMAT = "mapopt-instance"
INDEX_FORMAT = "mapopt-network"
INDEX_VERSION = 1
INDEX_NAME = "index.json"
MAX_WEIGHTS = 2 ** 28  # far beyond any real layer (ResNet-50 has 2**21), yet a size numpy can allocate
QUANTIZATIONS = ("per_layer", "per_channel")


@dataclass(frozen=True, eq=False)
class Instance:
    """One mapping problem's data: a quantized layer, the hardware, solver parameters, provenance.

    The layer's bit width must not exceed the hardware's, or its slices would lose bits.
    """

    layer: Layer
    spec: HardwareSpec
    params: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layer.weight_bits > self.spec.weight_bits:
            raise InstanceError(f"layer {self.layer.name}: {self.layer.weight_bits}-bit weights do not fit "
                                f"hardware that stores {self.spec.weight_bits}-bit weights")

    @property
    def name(self) -> str:
        return self.layer.name


def _int_dtype(weight_bits: int) -> type:
    """Smallest signed integer type holding ``B``-bit symmetric weights (``B <= 16``)."""
    return np.int8 if weight_bits <= 8 else np.int16


def write_instance(path: str | Path, inst: Instance) -> Path:
    """Write `inst` to `path` (atomically); returns the path."""
    layer = inst.layer
    meta = {
        "name": layer.name,
        "kind": layer.kind,
        "groups": layer.groups,
        "shape": list(layer.shape),
        "weight_bits": layer.weight_bits,
        "quantization": "per_layer" if layer.scale.shape == (1,) else "per_channel",
        "sparsity": layer.sparsity,
        "hardware": inst.spec.to_dict(),
        "params": inst.params,
        "provenance": inst.provenance,
    }
    arrays = {"quantized": layer.quantized.astype(_int_dtype(layer.weight_bits)),
              "scale": layer.scale.astype(np.float64)}
    if layer.weight is not None:
        arrays["weight"] = layer.weight.astype(np.float32)
    return write_npz(path, INSTANCE_FORMAT, meta, arrays)


def read_instance(path: str | Path) -> Instance:
    """Read and check an instance file; every defect is one `InstanceError` line naming the file."""
    path = Path(path)
    meta, arrays = read_npz(path, INSTANCE_FORMAT)
    name = require(path, meta, "name", str)
    kind = require(path, meta, "kind", str)
    if kind not in KINDS:
        raise InstanceError(f"{path}: meta field 'kind' must be one of {KINDS}, got {kind!r}")
    shape = _check_shape(path, require(path, meta, "shape", list), kind)
    groups = require(path, meta, "groups", int) if "groups" in meta else 1  # files before grouped convs: 1
    weight_bits = require(path, meta, "weight_bits", int)
    if not 2 <= weight_bits <= 16:
        raise InstanceError(f"{path}: meta field 'weight_bits' must lie in 2..16, got {weight_bits}")
    quantized = array(path, arrays, "quantized", len(shape), "i")
    scale = array(path, arrays, "scale", 1, "f").astype(np.float64)
    weight = array(path, arrays, "weight", len(shape), "f") if "weight" in arrays else None
    for key, a in (("quantized", quantized), ("weight", weight)):
        if a is not None and list(a.shape) != shape:
            raise InstanceError(f"{path}: array '{key}' has shape {list(a.shape)}, but meta field 'shape' is {shape}")
    quantization = require(path, meta, "quantization", str)
    expected = 1 if quantization == "per_layer" else shape[0]
    if quantization not in QUANTIZATIONS or scale.shape != (expected,):
        raise InstanceError(f"{path}: meta field 'quantization' is {quantization!r} but array 'scale' has "
                            f"shape {list(scale.shape)} (expected per_layer (1,) or per_channel ({shape[0]},))")
    hardware = require(path, meta, "hardware", dict)
    try:
        spec = HardwareSpec.from_dict(hardware)
    except (TypeError, ValueError) as exc:  # HardwareError, or a wrongly typed setting
        raise InstanceError(f"{path}: meta field 'hardware': {exc}") from None
    params, provenance = require(path, meta, "params", dict), require(path, meta, "provenance", dict)
    try:
        inst = Instance(Layer(name, kind, quantized.astype(np.int64), scale, weight_bits, weight, groups), spec,
                        params, provenance)
    except ValueError as exc:  # check_layer's MapoptError, or the Instance check
        raise InstanceError(f"{path}: {exc}") from None
    sparsity = require(path, meta, "sparsity", (int, float))
    if not np.isclose(sparsity, inst.layer.sparsity, rtol=0, atol=1e-9):
        raise InstanceError(f"{path}: meta field 'sparsity' is {sparsity} but the weights have sparsity "
                            f"{inst.layer.sparsity}")
    return inst


def _check_shape(path: Path, shape: list, kind: str) -> list[int]:
    """The meta shape, checked for rank, positive integer sizes and a sane total before any use."""
    rank = 4 if kind in CONV_KINDS else 2
    if len(shape) != rank or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise InstanceError(f"{path}: meta field 'shape' must be {rank} positive integers for a {kind} layer, got {shape}")
    if np.prod(shape, dtype=object) > MAX_WEIGHTS:
        raise InstanceError(f"{path}: meta field 'shape' {shape} declares more than 2**28 weights")
    return shape


def write_index(directory: str | Path, network: str, files: list[str | Path], provenance: dict) -> Path:
    """Write ``directory/index.json`` listing the instance `files` in layer order; returns its path.

    Each file is read back (and so checked) for its layer's name, shape and sparsity; paths are
    stored relative to `directory`, with ``/`` separators, so the folder can be moved.
    """
    directory = Path(directory)
    layers = []
    for file in map(Path, files):
        layer = read_instance(file).layer
        layers.append({"name": layer.name, "file": Path(os.path.relpath(file, directory)).as_posix(),
                       "shape": list(layer.shape), "sparsity": layer.sparsity})
    head = json.dumps({"format": INDEX_FORMAT, "version": INDEX_VERSION, "network": network,
                       "provenance": provenance}, indent=1)
    # one line per layer keeps a 44-layer index readable
    text = head[:-2] + ',\n "layers": [\n' + ",\n".join("  " + json.dumps(e) for e in layers) + "\n ]\n}\n"
    path = directory / INDEX_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def read_index(path: str | Path) -> dict:
    """Read and check a network index; every defect is one `InstanceError` line naming the file."""
    path = Path(path)
    try:
        index = json.loads(path.read_text())
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read the index ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InstanceError(f"{path}: index is not valid JSON ({exc})") from None
    check_header(path, index, INDEX_FORMAT, INDEX_VERSION, "index")
    _field(f"{path}:", index, "network", str)
    _field(f"{path}:", index, "provenance", dict)
    for i, entry in enumerate(_field(f"{path}:", index, "layers", list)):
        where = f"{path}: layers[{i}]"
        if not isinstance(entry, dict):
            raise InstanceError(f"{where} is a {type(entry).__name__}, not an object")
        _field(where, entry, "name", str)
        file = _field(where, entry, "file", str)
        if not file or Path(file).is_absolute():
            raise InstanceError(f"{where} field 'file' must be a relative path, got {file!r}")
        _field(where, entry, "shape", list)
        _field(where, entry, "sparsity", (int, float))
    return index


def _field(where: str, d: dict, key: str, kind: type | tuple[type, ...]):
    """``d[key]`` checked for presence and JSON type (a bool is no number), else an `InstanceError`."""
    if key not in d:
        raise InstanceError(f"{where} field '{key}' is missing")
    if not isinstance(d[key], kind) or isinstance(d[key], bool):
        raise InstanceError(f"{where} field '{key}' has the wrong type ({type(d[key]).__name__})")
    return d[key]


def instance_files(path: str | Path) -> list[Path]:
    """The instance files `path` stands for, in layer order.

    A directory with ``index.json`` gives the files the index lists; one without gives its
    ``*.npz`` files sorted by name; an index file gives its files; an ``.npz`` file gives itself.
    """
    path = Path(path)
    if path.is_dir():
        if (path / INDEX_NAME).is_file():
            return instance_files(path / INDEX_NAME)
        files = sorted(path.glob("*.npz"))
        if not files:
            raise InstanceError(f"{path}: directory holds neither {INDEX_NAME} nor .npz instance files")
        return files
    if not path.is_file():
        raise InstanceError(f"{path}: no such file or directory")
    if path.suffix == ".npz":
        return [path]
    if path.suffix != ".json":
        raise InstanceError(f"{path}: not an instance (.npz), a network index (.json) or a directory")
    files = [path.parent / entry["file"] for entry in read_index(path)["layers"]]
    folder = path.parent.resolve()
    for i, file in enumerate(files):
        if not file.resolve().is_relative_to(folder):
            raise InstanceError(f"{path}: layers[{i}] lists {file}, outside the index's folder")
        if not file.is_file():
            raise InstanceError(f"{path}: layers[{i}] lists {file}, which does not exist")
    return files
