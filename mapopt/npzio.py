"""The one file family of mapopt: ``.npz`` arrays plus a JSON ``meta`` entry, never pickled.

Instances and solutions both use it. Reading checks the format name and version and
turns every way a file can be broken into one `InstanceError` line naming the file.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import InstanceError

FORMAT_VERSION = 1
MAX_ARRAY_BYTES = 2 ** 32  # no layer or mapping comes near 4 GiB; a header claiming more is corrupt


def write_npz(path: str | Path, fmt: str, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays and ``meta`` (tagged with `fmt` and the version) atomically to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"format": fmt, "version": FORMAT_VERSION, **meta}, sort_keys=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(header), **arrays)
        os.replace(tmp, path)
    finally:  # a failed write leaves nothing behind
        tmp.unlink(missing_ok=True)
    return path


def read_npz(path: str | Path, fmt: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a file written by `write_npz` as format `fmt`; returns ``(meta, arrays)``."""
    path = Path(path)
    if not path.is_file():
        raise InstanceError(f"{path}: no such file")
    try:
        _check_headers(path)
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except InstanceError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError, zlib.error, NotImplementedError) as exc:
        raise InstanceError(f"{path}: not a readable .npz file ({_first_line(exc)})") from None
    if "meta" not in arrays:
        raise InstanceError(f"{path}: missing the 'meta' entry")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as exc:
        raise InstanceError(f"{path}: 'meta' is not valid JSON ({exc.msg})") from None
    check_header(path, meta, fmt, FORMAT_VERSION)
    return meta, arrays


def check_header(path: str | Path, doc, fmt: str, version: int, kind: str = "file") -> None:
    """Raise `InstanceError` unless the JSON document `doc` is a dict tagged with `fmt` and `version`;
    `kind` (``file`` or ``index``) names it in the message."""
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise InstanceError(f"{path}: expected a {fmt} {kind}, found format {found!r}")
    if doc.get("version") != version:
        label = "format" if kind == "file" else kind
        raise InstanceError(f"{path}: {label} version {doc.get('version')!r} is not supported (expected {version})")


def _check_headers(path: Path) -> None:
    """Refuse object arrays (pickles) and absurd sizes from the ``.npy`` headers, before any data is read."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as fh:
                version = np.lib.format.read_magic(fh)
                shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)(fh)
            if dtype.hasobject:
                raise InstanceError(f"{path}: entry '{name}' holds pickled objects, which mapopt never loads")
            if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > MAX_ARRAY_BYTES:
                raise InstanceError(f"{path}: entry '{name}' declares shape {shape}, beyond {MAX_ARRAY_BYTES >> 30} GiB")


def require(path: Path, meta: dict, key: str, kind: type | tuple[type, ...]):
    """``meta[key]`` checked for presence and type, else a one-line `InstanceError`."""
    if key not in meta:
        raise InstanceError(f"{path}: meta field '{key}' is missing")
    value = meta[key]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InstanceError(f"{path}: meta field '{key}' has the wrong type ({type(value).__name__})")
    return value


def array(path: Path, arrays: dict, key: str, ndim: int, kind: str) -> np.ndarray:
    """``arrays[key]`` checked for presence, rank and dtype kind (``'i'`` integer, ``'f'`` float)."""
    if key not in arrays:
        raise InstanceError(f"{path}: array '{key}' is missing")
    a = arrays[key]
    if a.ndim != ndim:
        raise InstanceError(f"{path}: array '{key}' has {a.ndim} dimensions, expected {ndim}")
    ok = np.issubdtype(a.dtype, np.integer) if kind == "i" else np.issubdtype(a.dtype, np.floating)
    if not ok:
        raise InstanceError(f"{path}: array '{key}' has dtype {a.dtype}, expected {'integer' if kind == 'i' else 'float'}")
    if kind == "f" and not np.all(np.isfinite(a)):
        raise InstanceError(f"{path}: array '{key}' contains NaN or infinity")
    return a


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
