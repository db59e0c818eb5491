"""Integer emulation of a mapping: bit-serial inputs, OU partial sums, ADC clipping.

An input vector of ``A``-bit unsigned integers is fed ``d`` bits per cycle. In each cycle
every segment's partial sum is clipped at its ADC's ``2^a - 1``, shifted and added into its
outputs. Segments whose worst partial sum provably fits their ADC cannot clip; they are
folded into one matrix and computed with a single BLAS product (``fold=True``, the default).
"""

from __future__ import annotations

import numpy as np

from ..errors import MapoptError
from ..mapping import Mapping
from .circuit import Circuit, build_circuit
from .fabric import build_fabric

ADC_MODES = ("clip", "ideal")


def execute(mapping: Mapping, inputs: np.ndarray, adc: str = "clip", fold: bool = True,
            circuit: Circuit | None = None) -> np.ndarray:
    """Outputs (batch x m, int64) of `mapping` on integer `inputs` (batch x n or n).

    ``adc="ideal"`` never clips. ``fold=False`` computes every segment per OU (the tiled
    mode) instead of folding the ones that cannot clip.
    """
    if adc not in ADC_MODES:
        raise MapoptError(f"adc must be one of {ADC_MODES}, got {adc!r}")
    x = check_inputs(mapping, inputs)
    c = circuit if circuit is not None else build_circuit(build_fabric(mapping))
    clip = adc == "clip"
    safe = (c.seg_max <= c.seg_cap) if (fold or not clip) else np.zeros(c.n_segments, dtype=bool)
    if fold and clip:
        y = _folded(c, x, safe)
        if not safe.all():
            y += _bit_serial(c, x, ~safe, mapping.spec)
    elif fold:
        y = _folded(c, x, np.ones(c.n_segments, dtype=bool))
    elif clip:
        y = _bit_serial(c, x, np.ones(c.n_segments, dtype=bool), mapping.spec)
    else:
        y = _tiled(c, x)
    y -= c.offset * x.sum(axis=1, keepdims=True)
    out = np.rint(y).astype(np.int64)
    return out[0] if np.ndim(inputs) == 1 else out


def check_inputs(mapping: Mapping, inputs: np.ndarray) -> np.ndarray:
    """Inputs as a float64 batch, after checking shape and the unsigned ``A``-bit range."""
    x = np.atleast_2d(np.asarray(inputs))
    spec = mapping.spec
    if x.ndim != 2 or x.shape[1] != mapping.n_inputs:
        raise MapoptError(f"inputs of shape {np.shape(inputs)} do not match the layer's {mapping.n_inputs} inputs")
    if not np.issubdtype(x.dtype, np.integer):
        raise MapoptError(f"inputs must be integers, got {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > 2 ** spec.input_bits - 1):
        raise MapoptError(f"inputs must lie in 0..{2 ** spec.input_bits - 1} ({spec.input_bits}-bit unsigned)")
    return x.astype(np.float64)


def _folded(c: Circuit, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``x @ (M R)`` over the segments in `keep`: exact when none of them can clip."""
    w = (c.M[:, keep] @ c.R[keep]).toarray() if not keep.all() else (c.M @ c.R).toarray()
    return x @ w


def _tiled(c: Circuit, x: np.ndarray) -> np.ndarray:
    """Every segment's partial sum on the whole input, then routed: the OU-tiled exact mode."""
    partial = (c.M.T @ x.T).T
    return (c.R.T @ partial.T).T


def _bit_serial(c: Circuit, x: np.ndarray, keep: np.ndarray, spec) -> np.ndarray:
    """Segments in `keep`, cycle by cycle: ``d`` input bits, clip at the ADC, shift and add."""
    Mt, R, cap = c.M[:, keep].T.tocsr(), c.R[keep].T.tocsr(), c.seg_cap[keep]
    xi = x.astype(np.int64)
    mask = 2 ** spec.dac_bits - 1
    y = np.zeros((x.shape[0], c.R.shape[1]))
    for k in range(spec.input_cycles):
        chunk = ((xi >> (spec.dac_bits * k)) & mask).astype(np.float64)
        partial = np.minimum(Mt @ chunk.T, cap[:, None])
        y += (R @ partial).T * 2.0 ** (spec.dac_bits * k)
    return y
