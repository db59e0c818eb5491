"""Tests for mapopt.layer: quantization, unroll order, bit slicing and the layer checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import hardware_specs, int_matrices

from mapopt.errors import MapoptError
from mapopt.hardware import preset
from mapopt.layer import Layer, infer_kind, quantize, recombine, slice_matrix


@given(st.data())
def test_slice_then_recombine_is_identity(data):
    spec = data.draw(hardware_specs())
    matrix = data.draw(int_matrices(spec.weight_bits))
    planes, sign = slice_matrix(matrix, spec)
    assert planes.shape == (spec.n_slices,) + matrix.shape
    widths = np.array(spec.slice_widths)[:, None, None]
    assert np.all(planes >= 0) and np.all(planes < 2 ** widths)
    np.testing.assert_array_equal(recombine(planes, sign, spec), matrix)
    if spec.polarity == "differential":
        np.testing.assert_array_equal(sign, np.sign(matrix))
    else:
        assert np.all(sign == 1)


def test_non_uniform_slices_most_significant_first():
    spec = preset("bitslice")  # slices (1, 2, 2, 2) of a 7-bit magnitude
    planes, sign = slice_matrix(np.array([[-87, 0], [127, 1]]), spec)
    assert spec.slice_shifts == (6, 4, 2, 0)
    np.testing.assert_array_equal(planes[:, 0, 0], [1, 1, 1, 3])  # 87 = 64 + 16 + 4 + 3
    np.testing.assert_array_equal(planes[:, 1, 0], [1, 3, 3, 3])
    np.testing.assert_array_equal(sign, [[-1, 0], [1, 1]])


def test_offset_encoding_stores_shifted_unsigned_values():
    spec = preset("orc", polarity="offset")  # 8 magnitude bits: 4 slices of 2
    planes, sign = slice_matrix(np.array([[-127, 0, 127]]), spec)
    stored = (planes << np.array(spec.slice_shifts)[:, None, None]).sum(axis=0)
    np.testing.assert_array_equal(stored, [[0, 127, 254]])
    assert np.all(sign == 1)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, max_side=6),
                  elements=st.floats(-1e3, 1e3)),
       st.integers(2, 16), st.booleans())
def test_quantize_is_symmetric_round_to_nearest(weight, bits, per_channel):
    q, scale = quantize(weight, bits, per_channel)
    qmax = 2 ** (bits - 1) - 1
    assert q.shape == weight.shape and np.abs(q).max() <= qmax
    assert scale.shape == ((weight.shape[0],) if per_channel else (1,)) and np.all(scale > 0)
    s = scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    assert np.all(np.abs(q * s - weight) <= s / 2 * (1 + 1e-9))
    peak = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
    hit = np.abs(q.reshape(q.shape[0], -1)).max(axis=1) == qmax
    live = peak >= qmax * np.finfo(np.float64).tiny  # smaller peaks would underflow the scale: zeros
    if per_channel:
        assert np.all(hit[live]) and not np.any(q[~live])
    else:
        assert hit.any() == live.any()


def test_subnormal_weights_quantize_to_zero_with_a_positive_scale():
    q, scale = quantize(np.array([[5e-324, -1e-310]]), 8)
    assert np.all(q == 0) and np.all(scale > 0)


def test_per_channel_scales_follow_each_output():
    weight = np.array([[1.0, -0.5], [0.01, 0.02]])
    q, scale = quantize(weight, 8, per_channel=True)
    np.testing.assert_allclose(scale, [1 / 127, 0.02 / 127])
    np.testing.assert_array_equal(q, [[127, -64], [64, 127]])
    q_layer, _ = quantize(weight, 8)
    np.testing.assert_array_equal(q_layer[1], [1, 3])  # a per-layer scale crushes the small channel


def test_conv_unrolls_to_c_major_rows():
    K, C, R, S = 2, 3, 2, 2
    q = np.arange(K * C * R * S).reshape(K, C, R, S) - 12
    layer = Layer("conv", "conv", q, np.ones(1), 8)
    W = layer.matrix
    assert W.shape == (C * R * S, K) and (layer.n_inputs, layer.n_outputs) == (C * R * S, K)
    for k, c, r, s in np.ndindex(K, C, R, S):
        assert W[(c * R + r) * S + s, k] == q[k, c, r, s]


def test_linear_matrix_is_the_transpose():
    q = np.array([[1, 2, 3], [-4, 0, 6]])
    layer = Layer("fc", "linear", q, np.array([0.5, 2.0]), 4)
    np.testing.assert_array_equal(layer.matrix, q.T)
    np.testing.assert_array_equal(layer.dequantized_matrix, q.T * [0.5, 2.0])
    np.testing.assert_array_equal(layer.support, q.T != 0)
    assert layer.sparsity == pytest.approx(1 / 6)


def test_from_weights_keeps_floats_and_infers_kind():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    layer = Layer.from_weights(weight, "c", per_channel=True)
    assert layer.kind == "conv" and layer.scale.shape == (4,) and layer.weight.dtype == np.float32
    err = np.abs(layer.dequantized_matrix - layer.float_matrix)
    assert np.all(err <= layer.scale[None, :] / 2 + 1e-7)
    assert Layer.from_weights(weight[:, :, 0, 0], "fc").kind == "linear"


def test_from_matrix_round_trip():
    W = np.array([[1, 0, -3], [0, 5, 0]])
    layer = Layer.from_matrix(W, "m", weight_bits=4)
    np.testing.assert_array_equal(layer.matrix, W)
    assert layer.kind == "linear" and layer.weight is None and layer.float_matrix is None


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_rejected(bad):
    weight = np.ones((2, 3))
    weight[1, 2] = bad
    with pytest.raises(MapoptError, match="NaN or infinity"):
        Layer.from_weights(weight, "fc")
    with pytest.raises(MapoptError, match="NaN or infinity"):
        Layer("fc", "linear", np.ones((2, 3), int), np.ones(1), 8, weight)


GOOD = dict(name="l", kind="linear", quantized=np.ones((2, 3), dtype=np.int64), scale=np.ones(1), weight_bits=8)


@pytest.mark.parametrize(("change", "message"), [
    (dict(kind="pool"), "kind must be one of"),
    (dict(kind="conv"), "needs 4-D weights"),
    (dict(quantized=np.ones((2, 3, 1))), "needs 2-D weights"),
    (dict(quantized=np.ones((0, 3), dtype=np.int64)), "empty"),
    (dict(quantized=np.ones((2, 3))), "must be integers"),
    (dict(quantized=np.full((2, 3), 128)), "exceeds the 8-bit range"),
    (dict(weight_bits=1), "weight_bits must lie in 2..16"),
    (dict(weight_bits=17), "weight_bits must lie in 2..16"),
    (dict(scale=np.ones(3)), "scale has shape"),
    (dict(scale=np.array([0.0])), "positive and finite"),
    (dict(scale=np.array([np.nan])), "positive and finite"),
    (dict(weight=np.ones((3, 2), dtype=np.float32)), "do not match"),
])
def test_inconsistent_layers_rejected(change, message):
    with pytest.raises(MapoptError, match=message) as info:
        Layer(**{**GOOD, **change})
    assert "\n" not in str(info.value) and str(info.value).startswith("layer l:")


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), (1, 2, 3, 4, 5)])
def test_infer_kind_rejects_other_ranks(shape):
    with pytest.raises(MapoptError, match="neither conv"):
        infer_kind(shape, "x")
    with pytest.raises(MapoptError, match="neither conv"):
        Layer.from_weights(np.ones(shape), "x")
