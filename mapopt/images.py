"""Image sets for calibration and evaluation: which images, from which file, decoded how.

Two file layouts are read, both with ``np.load(..., allow_pickle=False)``:

- the JPEG layout of ``../shared/weights/cifar10_jpeg/``: ``jpeg`` (all files' bytes concatenated),
  ``offsets`` (``N + 1``), optional ``y``; decoded with Pillow (an optional extra), only the images chosen;
- the generic layout: ``x`` (``N x H x W x C`` or ``N x C x H x W``, uint8 pixels or float model
  inputs), optional ``y`` (class indices).

A subset is drawn by `choose`: seeded and, with labels, class-stratified, so calibration and
evaluation sets are reproducible and balanced. Every `ImageSet` says which images it holds
(`describe`), so a report can name them.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MapoptError
from .models.weights import MissingDependency

PILLOW_MISSING = "decoding JPEG image sets needs Pillow: pip install Pillow (or pip install 'mapopt[accuracy]')"
#: a channel axis holds at most this many channels (gray, RGB, RGBA); it tells NCHW from NHWC
MAX_CHANNELS = 4


class ImageFileError(MapoptError):
    """An image file is missing or malformed; the message names the file."""


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images ``N x C x H x W`` (uint8 pixels or float model inputs), their labels (None: unlabeled),
    the file they came from and their indices in it."""

    x: np.ndarray
    y: np.ndarray | None
    source: str
    indices: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def describe(self) -> dict:
        """The file, the count, whether labelled, and a digest of the chosen indices (to compare two runs' images)."""
        digest = hashlib.sha256(np.ascontiguousarray(self.indices, dtype=np.int64).tobytes()).hexdigest()[:16]
        return {"file": self.source, "images": len(self), "labels": self.y is not None, "indices_sha256": digest}


def choose(n: int, size: int | None, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Sorted indices of `size` of `n` images (all when None): a seeded draw, class-stratified when `labels`
    are given (classes take turns, each in its own seeded order)."""
    if size is None or size >= n:
        return np.arange(n)
    if size < 1:
        raise MapoptError(f"an image set needs at least one image, got size {size}")
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.permutation(n)[:size])
    classes = np.unique(labels)
    rank = np.empty(n, dtype=np.int64)  # the turn at which each image is drawn within its class
    for c in classes:
        members = np.flatnonzero(labels == c)
        rank[members[rng.permutation(len(members))]] = np.arange(len(members))
    return np.sort(np.lexsort((np.searchsorted(classes, labels), rank))[:size])


def read_images(path: str | Path, size: int | None = None, seed: int = 0) -> ImageSet:
    """`size` images of a file (all when None), drawn by `choose`; see the module docstring for the layouts."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: no such image file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ImageFileError(f"{path}: not a readable .npz image file ({exc})") from None
    with data:
        labels = _labels(path, data)
        if "jpeg" in data.files:
            return _jpeg_set(path, data, labels, size, seed)
        if "x" not in data.files:
            raise ImageFileError(f"{path}: expected array 'x' (or 'jpeg' and 'offsets'), found {sorted(data.files)}")
        x = _array(path, data, "x")
        if labels is not None and len(labels) != len(x):
            raise ImageFileError(f"{path}: {len(x)} images but {len(labels)} labels")
        chosen = _choose(path, len(x), size, labels, seed)
        return ImageSet(_nchw(path, x[chosen]), None if labels is None else labels[chosen], str(path), chosen)


def _choose(path: Path, n: int, size: int | None, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """`choose` on a file's `n` images; a file without any is an error naming it."""
    if n < 1:
        raise ImageFileError(f"{path}: holds no images")
    return choose(n, size, labels, seed)


def _array(path: Path, data, key: str) -> np.ndarray:
    """Array `key` of an open ``.npz``; object arrays (which would need pickle) are refused."""
    try:
        return data[key]
    except ValueError as exc:
        raise ImageFileError(f"{path}: array {key!r} cannot be read without pickle ({exc})") from None


def _labels(path: Path, data) -> np.ndarray | None:
    if "y" not in data.files:
        return None
    y = _array(path, data, "y")
    if y.ndim != 1 or y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
        raise ImageFileError(f"{path}: 'y' must be nonnegative integer class indices, one per image "
                             f"(got {y.dtype} {y.shape})")
    return y.astype(np.int64)


def _nchw(path: Path, x: np.ndarray) -> np.ndarray:
    """`x` as ``N x C x H x W``: uint8 pixels kept, floats as float32 (finite)."""
    if x.ndim != 4:
        raise ImageFileError(f"{path}: 'x' must be N x H x W x C or N x C x H x W, got shape {x.shape}")
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise ImageFileError(f"{path}: 'x' must hold uint8 pixels or floats, got {x.dtype}")
    if x.dtype.kind == "f":
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise ImageFileError(f"{path}: 'x' holds NaN or infinite values")
    last, second = x.shape[-1] <= MAX_CHANNELS, x.shape[1] <= MAX_CHANNELS
    if last == second:
        raise ImageFileError(f"{path}: cannot tell the channel axis of 'x' {x.shape} (at most {MAX_CHANNELS} "
                             "channels, on axis 1 or 3)")
    if last:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


def _jpeg_set(path: Path, data, labels: np.ndarray | None, size: int | None, seed: int) -> ImageSet:
    if "offsets" not in data.files:
        raise ImageFileError(f"{path}: a JPEG image file needs 'offsets' beside 'jpeg'")
    blob, offsets = _array(path, data, "jpeg"), _array(path, data, "offsets")
    n = len(offsets) - 1
    if blob.dtype != np.uint8 or offsets.ndim != 1 or n < 0 or offsets[0] != 0 or offsets[-1] != len(blob) \
            or np.any(np.diff(offsets) <= 0):
        raise ImageFileError(f"{path}: 'offsets' must rise from 0 to the length of 'jpeg' (uint8 bytes)")
    if labels is not None and len(labels) != n:
        raise ImageFileError(f"{path}: {n} images but {len(labels)} labels")
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependency(PILLOW_MISSING) from None
    chosen = _choose(path, n, size, labels, seed)
    images = []
    for i in chosen:
        try:
            images.append(np.asarray(Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")))
        except OSError as exc:
            raise ImageFileError(f"{path}: image {i} is no readable JPEG ({exc})") from None
    if len({im.shape for im in images}) > 1:
        raise ImageFileError(f"{path}: the images differ in size ({sorted({im.shape for im in images})[:2]})")
    x = np.stack(images).transpose(0, 3, 1, 2)
    return ImageSet(np.ascontiguousarray(x), None if labels is None else labels[chosen], str(path), chosen)
