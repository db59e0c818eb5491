"""Hypothesis strategies shared by the tests: valid hardware specs, integer matrices, layers."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mapopt.hardware import POLARITIES, SLICE_LAYOUTS, HardwareSpec
from mapopt.layer import Layer


@st.composite
def hardware_specs(draw, weight_bits: int | None = None) -> HardwareSpec:
    """Any valid spec: both polarities, uniform or drawn (non-uniform) slice widths, per-slice ADCs."""
    bits = weight_bits or draw(st.integers(2, 16))
    polarity = draw(st.sampled_from(POLARITIES))
    cell_bits = draw(st.integers(1, 4))
    magnitude = bits - 1 if polarity == "differential" else bits
    widths: list[int] = []
    if draw(st.booleans()):  # else () asks for uniform slices
        while sum(widths) < magnitude:
            widths.append(draw(st.integers(1, min(cell_bits, magnitude - sum(widths)))))
    n_slices = len(widths) or math.ceil(magnitude / cell_bits)
    xbar_rows, xbar_cols = draw(st.integers(1, 512)), draw(st.integers(1, 512))
    input_bits = draw(st.integers(1, 16))
    adc = st.integers(1, 16)
    return HardwareSpec(
        xbar_rows=xbar_rows, xbar_cols=xbar_cols,
        ou_rows=draw(st.integers(1, xbar_rows)), ou_cols=draw(st.integers(1, xbar_cols)),
        cell_bits=cell_bits, weight_bits=bits, slice_widths=tuple(widths),
        slice_layout=draw(st.sampled_from(SLICE_LAYOUTS)), polarity=polarity,
        dac_bits=draw(st.integers(1, input_bits)), input_bits=input_bits,
        adc_bits=draw(adc | st.tuples(*[adc] * n_slices)),
    )


def int_matrices(weight_bits: int, shape=hnp.array_shapes(min_dims=2, max_dims=2, max_side=12)):
    """Integer arrays within the symmetric ``B``-bit range."""
    qmax = 2 ** (weight_bits - 1) - 1
    return hnp.arrays(np.int64, shape, elements=st.integers(-qmax, qmax))


@st.composite
def layers(draw, max_bits: int = 16) -> Layer:
    """A conv or linear layer with per-layer or per-channel scales, with or without float weights."""
    bits = draw(st.integers(2, max_bits))
    kind = draw(st.sampled_from(["conv", "linear"]))
    dims = 4 if kind == "conv" else 2
    shape = draw(hnp.array_shapes(min_dims=dims, max_dims=dims, max_side=6))
    q = draw(int_matrices(bits, shape))
    n_scales = draw(st.sampled_from([1, shape[0]]))
    scale = draw(hnp.arrays(np.float64, n_scales, elements=st.floats(1e-6, 1e3)))
    weight = (q * scale.reshape((-1,) + (1,) * (dims - 1))).astype(np.float32) if draw(st.booleans()) else None
    return Layer(draw(st.text(min_size=1, max_size=12)), kind, q, scale, bits, weight)
