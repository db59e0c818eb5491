"""Integer emulation of a mapping: bit-serial inputs, OU partial sums, ADC clipping.

An input vector of ``A``-bit unsigned integers is fed ``d`` bits per cycle. In each cycle
every segment's partial sum is clipped at its ADC's ``2^a - 1``, shifted and added into its
outputs. Segments whose worst partial sum provably fits their ADC cannot clip; they are
folded into one matrix and computed with a single BLAS product (``fold=True``, the default).

Three ways to compute, all bit-exact:

- folded: ``x @ (M R)``, one dense product;
- tiled (``adc="ideal", fold=False``): every OU activation's partial outputs from the
  inputs it reads (its segments merged per output, which an ideal ADC allows), then summed;
- bit-serial: every segment's partial sum in every cycle, all cycles in one sparse
  product, clipped, routed per cycle and weighted by ``2^(d k)``.

What a mode derives from a circuit (dense or regrouped matrices) is computed on first use
and kept while the circuit lives, so a circuit must not be changed once built. Bounds
from the circuit pick the narrowest exact number type: float32 for the tiled mode when
every value stays below ``2^24``, the smallest unsigned integer for bit-serial partial
sums (cells and inputs are unsigned), float64 otherwise.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import MapoptError
from ..mapping import Mapping
from .circuit import Circuit, views
from .fabric import unique_rows

ADC_MODES = ("clip", "ideal")
FLOAT32_EXACT = 2.0 ** 24  # float32 holds every integer below this exactly
DENSE_FOLD_BYTES = 1 << 28  # a folded matrix under this size is multiplied dense
CHUNK_BYTES = 1 << 23  # batch chunks keep intermediate arrays near this size (bounds memory, keeps speed)

_DERIVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CIRCUITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def execute(mapping: Mapping, inputs: np.ndarray, adc: str = "clip", fold: bool = True,
            circuit: Circuit | None = None) -> np.ndarray:
    """Outputs (batch x m, int64) of `mapping` on integer `inputs` (batch x n or n).

    ``adc="ideal"`` never clips. ``fold=False`` computes every segment per OU (the tiled
    mode, or bit-serial with clipping) instead of folding the ones that cannot clip. Without a
    `circuit`, the circuits of the mapping's parts are built on the first call and kept while
    the mapping lives.
    """
    if adc not in ADC_MODES:
        raise MapoptError(f"adc must be one of {ADC_MODES}, got {adc!r}")
    x = check_inputs(mapping, inputs)
    circuits = [circuit] if circuit is not None else part_circuits(mapping)
    if fold and len(circuits) > 1:  # the parts' folded matrices summed: one product for all of them
        which = "all" if adc == "ideal" else "safe"
        y = _product(x, _derived(circuits[0], ("parts folded", which), lambda: _summed_folds(circuits, which)))
        if adc == "clip":
            y = y + sum(_bit_serial(c, x, "unsafe", mapping.spec) for c in circuits if not _segments(c, "safe").all())
    else:
        y = sum(partial_outputs(c, x, adc, fold, mapping.spec) for c in circuits)
    if mapping.spec.offset:
        y = y - mapping.spec.offset * x.sum(axis=1, keepdims=True)
    out = np.rint(y).astype(np.int64)
    return out[0] if np.ndim(inputs) == 1 else out


def part_circuits(mapping: Mapping) -> list[Circuit]:
    """The circuits of the mapping's parts, built on the first call and kept while the mapping lives
    (repeated execution of a large mapping builds them once)."""
    if mapping not in _CIRCUITS:
        _CIRCUITS[mapping] = [c for _, c in views(mapping)]
    return _CIRCUITS[mapping]


def partial_outputs(c: Circuit, x: np.ndarray, adc: str, fold: bool, spec) -> np.ndarray:
    """What the circuit's (one part's) ADCs add into the outputs on inputs `x`, before the offset correction
    (float64, integral): the parts of a mapping sum to its outputs."""
    if adc == "ideal":
        return _folded(c, x, "all") if fold else _tiled(c, x, spec.input_bits)
    if not fold:
        return _bit_serial(c, x, "all", spec)
    y = _folded(c, x, "safe")
    if not _segments(c, "safe").all():
        y += _bit_serial(c, x, "unsafe", spec)
    return y


def check_inputs(mapping: Mapping, inputs: np.ndarray) -> np.ndarray:
    """Inputs as an integer batch, after checking shape and the unsigned ``A``-bit range."""
    x = np.atleast_2d(np.asarray(inputs))
    spec = mapping.spec
    if x.ndim != 2 or x.shape[1] != mapping.n_inputs:
        raise MapoptError(f"inputs of shape {np.shape(inputs)} do not match the layer's {mapping.n_inputs} inputs")
    if not np.issubdtype(x.dtype, np.integer):
        raise MapoptError(f"inputs must be integers, got {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > 2 ** spec.input_bits - 1):
        raise MapoptError(f"inputs must lie in 0..{2 ** spec.input_bits - 1} ({spec.input_bits}-bit unsigned)")
    return x


def _derived(c: Circuit, key: tuple, build):
    """``build()``, computed once per circuit and `key`, kept while the circuit lives."""
    store = _DERIVED.setdefault(c, {})
    if key not in store:
        store[key] = build()
    return store[key]


def _segments(c: Circuit, which: str) -> np.ndarray:
    """Mask of the segments `which` names: ``all``, ``safe`` (cannot clip) or ``unsafe``."""
    if which == "all":
        return np.ones(c.n_segments, dtype=bool)
    safe = c.seg_max <= c.seg_cap
    return safe if which == "safe" else ~safe


def _folded(c: Circuit, x: np.ndarray, which: str) -> np.ndarray:
    """``x @ (M R)`` over the segments `which` names: exact when none of them can clip."""
    return _product(x, _derived(c, ("folded", which), lambda: _for_product(_fold(c, which))))


def _fold(c: Circuit, which: str) -> sp.csr_matrix:
    """``M R`` over the segments `which` names (sparse, inputs x outputs)."""
    keep = _segments(c, which)
    return (c.M[:, keep] @ c.R[keep]).tocsr()


def _summed_folds(circuits: list[Circuit], which: str):
    """The folded matrices of a mapping's parts, summed (ready for `_product`)."""
    return _for_product(sum((_fold(c, which) for c in circuits[1:]), _fold(circuits[0], which)))


def _for_product(folded: sp.csr_matrix):
    """A folded matrix as it is multiplied: dense (BLAS) unless that would take more than `DENSE_FOLD_BYTES`
    for a mostly-zero matrix (a pruned 25088 x 4096 layer)."""
    big = 8 * np.prod(folded.shape) > DENSE_FOLD_BYTES and folded.nnz < np.prod(folded.shape) / 4
    return folded if big else folded.toarray()


def _product(x: np.ndarray, folded) -> np.ndarray:
    return np.asarray(x.astype(np.float64) @ folded)


@dataclass(frozen=True)
class _TilePlan:
    """Per (activation, output) pair ``k``: ``G[k]``, the activation's cells merged for that
    output (pairs x inputs); ``Q`` sums the pairs into outputs (outputs x pairs)."""

    G: sp.csr_matrix
    Q: sp.csr_matrix


def _tile_plan(c: Circuit, input_bits: int) -> _TilePlan:
    """Merge each activation's segments per output they route to."""
    R = c.R.tocoo()
    pair, pairs = unique_rows(c.seg_act[R.row], R.col)
    to_pair = sp.csr_matrix((R.data, (R.row, pair)), shape=(c.n_segments, len(pairs)))
    G = (c.M @ to_pair).T.tocsr()
    G.eliminate_zeros()
    Q = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 1], np.arange(len(pairs)))), shape=(c.R.shape[1], len(pairs)))
    bound = np.asarray((Q @ abs(G)).sum(axis=1)).max(initial=0) * (2 ** input_bits - 1)
    dtype = np.float32 if bound < FLOAT32_EXACT else np.float64
    return _TilePlan(G.astype(dtype), Q.astype(dtype))


def _tiled(c: Circuit, x: np.ndarray, input_bits: int) -> np.ndarray:
    """Every activation's partial outputs, then summed per output: the OU-tiled exact mode."""
    plan = _derived(c, ("tiled", input_bits), lambda: _tile_plan(c, input_bits))
    xt = _transposed(x, input_bits)
    y = np.empty((plan.Q.shape[0], xt.shape[1]))
    for part in _chunks(xt.shape[1], plan.G.shape[0] * plan.G.dtype.itemsize):
        y[:, part] = plan.Q @ (plan.G @ xt[:, part].astype(plan.G.dtype))
    return y.T


@dataclass(frozen=True)
class _SerialPlan:
    """Segments as rows of ``Mt`` (segments x inputs) with their ADC ``cap``; ``member`` sums
    them into route classes (one per output and weight), ``out`` weighs the classes' sums
    of every cycle ``k`` by ``sign * 2^shift * 2^(d k)`` into outputs."""

    Mt: sp.csr_matrix
    cap: np.ndarray
    member: sp.csr_matrix
    out: sp.csr_matrix


def _serial_plan(c: Circuit, which: str, dac_bits: int, cycles: int) -> _SerialPlan:
    """The segments `which` names, in the narrowest type that holds every partial sum exactly."""
    keep = _segments(c, which)
    Mt, R, cap = c.M[:, keep].T.tocsr(), c.R[keep].tocoo(), c.seg_cap[keep]
    values, value_of = np.unique(R.data, return_inverse=True)
    cls, classes = unique_rows(R.col, value_of)
    member = sp.csr_matrix((np.ones(len(cls)), (cls, R.row)), shape=(len(classes), len(cap)))
    weights = np.outer(values[classes[:, 1]], 2.0 ** (dac_bits * np.arange(cycles)))
    out = sp.csr_matrix((weights.ravel(), (np.repeat(classes[:, 0], cycles), np.arange(weights.size))),
                        shape=(c.R.shape[1], weights.size))
    worst = np.minimum(c.seg_max[keep], cap)
    bound = max(2 ** dac_bits - 1, cap.max(initial=0), c.seg_max[keep].max(initial=0), (member @ worst).max(initial=0))
    dtype = _partial_dtype(Mt.data, bound)
    return _SerialPlan(Mt.astype(dtype), cap.astype(dtype)[:, None], member.astype(dtype), out)


def _partial_dtype(cells: np.ndarray, bound: float) -> type:
    """The narrowest unsigned integer type holding `bound` when the cells are unsigned
    integers (they are in a valid mapping), float64 otherwise."""
    if cells.size and (cells.min() < 0 or np.any(cells != np.rint(cells))):
        return np.float64
    return next((t for t in (np.uint8, np.uint16, np.uint32) if bound <= np.iinfo(t).max), np.float64)


def _bit_serial(c: Circuit, x: np.ndarray, which: str, spec) -> np.ndarray:
    """Segments `which` names, cycle by cycle: ``d`` input bits, clip at the ADC, shift and add.

    Within a batch chunk (of bounded memory) the cycles are stacked along the batch, so
    each step is one sparse product, one clip and one routing product.
    """
    cycles, d = spec.input_cycles, spec.dac_bits
    plan = _derived(c, ("serial", which, d, cycles), lambda: _serial_plan(c, which, d, cycles))
    xt = _transposed(x, spec.input_bits)
    shifts = (d * np.arange(cycles)).astype(xt.dtype)[:, None]
    mask = xt.dtype.type(2 ** d - 1)
    n, batch = xt.shape
    y = np.empty((plan.out.shape[0], batch))
    for part in _chunks(batch, plan.Mt.shape[0] * cycles * plan.Mt.dtype.itemsize):
        bits = ((xt[:, None, part] >> shifts) & mask).astype(plan.Mt.dtype)
        partial = plan.Mt @ bits.reshape(n, -1)
        np.minimum(partial, plan.cap, out=partial)
        per_class = plan.member @ partial
        y[:, part] = plan.out @ per_class.reshape(-1, per_class.shape[1] // cycles)
    return y.T


def _transposed(x: np.ndarray, input_bits: int) -> np.ndarray:
    """Inputs as a contiguous (n x batch) array of the narrowest unsigned type holding them."""
    return np.ascontiguousarray(x.astype(np.uint8 if input_bits <= 8 else np.uint16).T)


def _chunks(batch: int, bytes_per_input: int) -> list[slice]:
    """Slices of the batch whose intermediate arrays take about `CHUNK_BYTES` each."""
    step = max(1, CHUNK_BYTES // max(1, bytes_per_input))
    return [slice(lo, lo + step) for lo in range(0, batch, step)]
