"""A quantized DNN layer as the mapping problems see it: the layer matrix ``W`` (n x m).

Rows are inputs (wordlines) and columns outputs (filters, bitlines). A conv weight
``[K, C, R, S]`` unrolls to rows ``(c, r, s)`` in C-major order and ``K`` columns; a linear
weight ``[out, in]`` is transposed. A grouped conv (``groups`` G, weight ``[K, C/G, R, S]``)
reads all ``C*R*S`` inputs, but output ``k`` only those of its group's channels: its matrix is
block-diagonal, G blocks of ``C/G*R*S`` rows by ``K/G`` columns (a depthwise conv is the case
``C/G = 1``: each filter reads the ``R*S`` rows of its own channel). Cells outside the blocks are
structural zeros: no weight can ever sit there (`Layer.structure`). Weights are symmetric signed integers of ``B`` bits
(sign plus ``B - 1`` magnitude bits) with one scale per layer or per output channel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from .errors import MapoptError
from .hardware import HardwareSpec

KINDS = ("conv", "depthwise", "grouped", "linear")
CONV_KINDS = ("conv", "depthwise", "grouped")


@dataclass(frozen=True, eq=False)
class Layer:
    """Quantized weights of one layer, with the float weights when they are known.

    Attributes
    ----------
    name, kind : layer name and its kind, one of `KINDS` (`conv_kind` names a conv's).
    shape : weight shape in torch layout (``[K, C/groups, R, S]`` or ``[out, in]``).
    quantized : signed integers in torch layout.
    scale : float scales, shape ``(1,)`` (per layer) or ``(K,)`` (per output channel).
    weight_bits : ``B``, sign included.
    weight : the float weights (torch layout) or None; after pruning, the weights from before it.
    groups : a conv's groups (torch's ``groups``); 1 for plain convs and linear layers.
    """

    name: str
    kind: str
    quantized: np.ndarray
    scale: np.ndarray
    weight_bits: int
    weight: np.ndarray | None = None
    groups: int = 1

    def __post_init__(self) -> None:
        check_layer(self)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.quantized.shape)

    @property
    def n_inputs(self) -> int:
        return self.groups * int(np.prod(self.shape[1:]))

    @property
    def n_outputs(self) -> int:
        return int(self.shape[0])

    @cached_property
    def matrix(self) -> np.ndarray:
        """The quantized layer matrix ``W`` (n x m, int64; read-only, built once: a large layer's is hundreds of MB;
        a plain layer's is a view of its int64 weights)."""
        return _frozen(unroll(self.quantized, self.groups).astype(np.int64, copy=False))

    @property
    def float_matrix(self) -> np.ndarray | None:
        """The float layer matrix (n x m) or None when only integers are known."""
        return None if self.weight is None else unroll(self.weight, self.groups).astype(np.float64)

    @property
    def dequantized_matrix(self) -> np.ndarray:
        """``W * scale``: the float values the quantized weights stand for."""
        return self.matrix * np.broadcast_to(self.scale, (self.n_outputs,))[None, :]

    @cached_property
    def structure(self) -> np.ndarray:
        """Boolean mask (n x m) of the cells a weight may occupy: all of them but a grouped conv's off-block cells."""
        return _frozen(structure(self.shape, self.groups))

    @property
    def support(self) -> np.ndarray:
        """Boolean mask of nonzero quantized weights (n x m)."""
        return self.matrix != 0

    @property
    def sparsity(self) -> float:
        return 1.0 - float(np.count_nonzero(self.quantized)) / self.quantized.size

    def slices(self, spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray]:
        """Slice planes and signs of ``W`` under `spec`: see `slice_matrix`."""
        return slice_matrix(self.matrix, spec)

    @classmethod
    def from_weights(cls, weight: np.ndarray, name: str = "layer", weight_bits: int = 8,
                     per_channel: bool = False, kind: str | None = None, groups: int = 1) -> "Layer":
        """Quantize float weights symmetrically to `weight_bits` (round to nearest)."""
        weight = np.asarray(weight)
        if not np.issubdtype(weight.dtype, np.floating) and not np.issubdtype(weight.dtype, np.integer):
            raise MapoptError(f"layer {name}: weights must be numeric, got {weight.dtype}")
        if not np.all(np.isfinite(weight)):
            raise MapoptError(f"layer {name}: weights contain NaN or infinity")
        q, scale = quantize(weight.astype(np.float64), weight_bits, per_channel)
        return cls(name, kind or infer_kind(weight.shape, name, groups), q, scale, weight_bits,
                   weight.astype(np.float32), groups)

    def with_matrix(self, matrix: np.ndarray) -> "Layer":
        """The same layer (name, kind, shape, scale, bits) holding other integer weights, e.g. pruned ones."""
        quantized = matrix_to_weight(matrix, self.shape, self.groups).astype(self.quantized.dtype)
        return replace(self, quantized=quantized, weight=None)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, name: str = "layer", weight_bits: int = 8) -> "Layer":
        """A linear layer from an integer layer matrix ``W`` (n x m), scale 1."""
        matrix = np.asarray(matrix)
        return cls(name, "linear", matrix.T.astype(np.int64), np.ones(1), weight_bits)


def _frozen(array: np.ndarray) -> np.ndarray:
    """`array`, made read-only: a layer's cached arrays are shared by every caller."""
    array.flags.writeable = False
    return array


def infer_kind(shape: tuple[int, ...], name: str = "layer", groups: int = 1) -> str:
    """A conv kind (`conv_kind`) for 4-D weights, ``linear`` for 2-D; anything else is an error."""
    if len(shape) == 4:
        return conv_kind(shape, groups)
    if len(shape) == 2:
        return "linear"
    raise MapoptError(f"layer {name}: weights of shape {tuple(shape)} are neither conv [K,C,R,S] nor linear [out,in]")


def conv_kind(shape: tuple[int, ...], groups: int) -> str:
    """``conv`` for one group, ``depthwise`` when each group has one input channel, ``grouped`` otherwise."""
    return "conv" if groups == 1 else "depthwise" if shape[1] == 1 else "grouped"


def unroll(weight: np.ndarray, groups: int = 1) -> np.ndarray:
    """Torch-layout weights to the layer matrix: rows ``(c, r, s)`` C-major, one column per output;
    block-diagonal over a grouped conv's `groups`."""
    per_group = weight.reshape(weight.shape[0], -1).T
    if groups == 1:
        return per_group
    rows, k = per_group.shape[0], weight.shape[0] // groups
    matrix = np.zeros((groups, rows, groups, k), dtype=weight.dtype)
    g = np.arange(groups)
    matrix[g, :, g, :] = per_group.reshape(rows, groups, k).transpose(1, 0, 2)
    return matrix.reshape(groups * rows, groups * k)


def structure(shape: tuple[int, ...], groups: int = 1) -> np.ndarray:
    """The cells (n x m) a layer of torch `shape` and `groups` may hold: its diagonal blocks."""
    rows, k = int(np.prod(shape[1:])), int(shape[0]) // groups
    return np.kron(np.eye(groups, dtype=bool), np.ones((rows, k), dtype=bool))


def matrix_to_weight(matrix: np.ndarray, shape: tuple[int, ...], groups: int = 1) -> np.ndarray:
    """Invert :func:`unroll`: a layer matrix (n x m) back to torch layout `shape`.

    Rows ``(c, r, s)`` in C-major order and one column per output become conv ``[K, C, R, S]``
    (``n = C*R*S``, ``m = K``); a linear ``[out, in]`` is the transposed matrix; a grouped conv
    keeps each output's own block.

    Raises
    ------
    ValueError
        `matrix` is not ``groups * prod(shape[1:]) x shape[0]``, or holds a weight outside the blocks.
    """
    matrix = np.asarray(matrix)
    shape = tuple(int(d) for d in shape)
    expected = (groups * int(np.prod(shape[1:])), shape[0]) if len(shape) >= 2 else None
    if expected is None or matrix.shape != expected:
        raise ValueError(f"a layer matrix for weights of shape {shape} in {groups} groups must be {expected}, "
                         f"got {matrix.shape}")
    if groups > 1:
        rows, k = expected[0] // groups, shape[0] // groups
        if np.any(matrix[~structure(shape, groups)]):
            raise ValueError(f"a layer matrix of a conv in {groups} groups holds weights outside its diagonal blocks")
        g = np.arange(groups)
        matrix = matrix.reshape(groups, rows, groups, k)[g, :, g, :].transpose(1, 0, 2).reshape(rows, shape[0])
    return np.ascontiguousarray(matrix.T.reshape(shape))


def quantize(weight: np.ndarray, weight_bits: int, per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric round-to-nearest quantization to ``[-(2^(B-1)-1), 2^(B-1)-1]``.

    Returns the integers (same shape) and the scales, ``(1,)`` or one per output channel. A peak
    so small that its scale would underflow (below ``qmax`` times the smallest normal float)
    counts as zero: its channel quantizes to zeros with scale 1.
    """
    qmax = 2 ** (weight_bits - 1) - 1
    flat = np.abs(weight.reshape(weight.shape[0], -1))
    peak = flat.max(axis=1) if per_channel else np.array([flat.max(initial=0.0)])
    scale = np.where(peak >= qmax * np.finfo(np.float64).tiny, peak / qmax, 1.0)
    bshape = (-1,) + (1,) * (weight.ndim - 1)
    q = np.clip(np.rint(weight / scale.reshape(bshape)), -qmax, qmax).astype(np.int64)
    return q, scale


def slice_matrix(matrix: np.ndarray, spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray]:
    """Cut the magnitudes of an integer matrix into slice planes, most significant first.

    Returns ``planes`` (``[S, n, m]``, each within its slice's width, as uint8 up to 8-bit slices: the
    planes of a large layer are its biggest arrays) and ``sign`` (int8, -1/0/+1). Under offset encoding
    the planes hold ``q + offset`` and the sign is +1.
    """
    if spec.polarity == "offset":
        magnitude, sign = matrix + spec.offset, np.ones(matrix.shape, dtype=np.int8)
    else:
        magnitude, sign = np.abs(matrix), np.sign(matrix).astype(np.int8)
    dtype = np.uint8 if max(spec.slice_widths) <= 8 else np.uint16
    planes = np.empty((spec.n_slices,) + np.shape(matrix), dtype=dtype)
    for s, (shift, width) in enumerate(zip(spec.slice_shifts, spec.slice_widths)):
        planes[s] = (magnitude >> shift) & (2 ** width - 1)
    return planes, sign


def recombine(planes: np.ndarray, sign: np.ndarray, spec: HardwareSpec) -> np.ndarray:
    """Inverse of `slice_matrix`: the integer matrix the planes encode."""
    shifts = np.array(spec.slice_shifts)[:, None, None]
    magnitude = (planes.astype(np.int64) << shifts).sum(axis=0)
    return magnitude - spec.offset if spec.polarity == "offset" else sign * magnitude


def check_layer(layer: Layer) -> None:
    """Raise `MapoptError` naming the first inconsistency of a layer."""
    q, name = layer.quantized, layer.name
    if layer.kind not in KINDS:
        raise MapoptError(f"layer {name}: kind must be one of {KINDS}, got {layer.kind!r}")
    rank = 4 if layer.kind in CONV_KINDS else 2
    if q.ndim != rank:
        raise MapoptError(f"layer {name}: a {layer.kind} layer needs {rank}-D weights, got shape {q.shape}")
    if q.size == 0:
        raise MapoptError(f"layer {name}: weights are empty (shape {q.shape})")
    if not np.issubdtype(q.dtype, np.integer):
        raise MapoptError(f"layer {name}: quantized weights must be integers, got {q.dtype}")
    check_groups(name, layer.kind, q.shape, layer.groups)
    if not 2 <= layer.weight_bits <= 16:
        raise MapoptError(f"layer {name}: weight_bits must lie in 2..16, got {layer.weight_bits}")
    qmax = 2 ** (layer.weight_bits - 1) - 1
    if np.abs(q).max() > qmax:
        raise MapoptError(f"layer {name}: quantized weight {int(np.abs(q).max())} exceeds the {layer.weight_bits}-bit range ±{qmax}")
    if layer.scale.shape not in ((1,), (q.shape[0],)):
        raise MapoptError(f"layer {name}: scale has shape {layer.scale.shape}, expected (1,) or ({q.shape[0]},)")
    if not np.all(np.isfinite(layer.scale)) or np.any(layer.scale <= 0):
        raise MapoptError(f"layer {name}: scales must be positive and finite")
    if layer.weight is not None:
        if layer.weight.shape != q.shape:
            raise MapoptError(f"layer {name}: float weights of shape {layer.weight.shape} do not match {q.shape}")
        if not np.all(np.isfinite(layer.weight)):
            raise MapoptError(f"layer {name}: weights contain NaN or infinity")


def check_groups(name: str, kind: str, shape: tuple[int, ...], groups) -> None:
    """Raise `MapoptError` unless `groups` divides the outputs of a conv and names its `kind` (1 for a linear layer)."""
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise MapoptError(f"layer {name}: groups must be a positive integer, got {groups!r}")
    if kind == "linear" and groups != 1:
        raise MapoptError(f"layer {name}: a linear layer has 1 group, got {groups}")
    if kind in CONV_KINDS:
        if shape[0] % groups:
            raise MapoptError(f"layer {name}: {shape[0]} outputs do not split into {groups} groups")
        if kind != conv_kind(shape, groups):
            raise MapoptError(f"layer {name}: a conv of shape {list(shape)} in {groups} groups is "
                              f"{conv_kind(shape, groups)}, not {kind}")
