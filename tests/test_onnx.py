"""ONNX import: layouts, batch-norm folding, quantized weights (QDQ and QLinear*), and refusals by name."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mapopt.models import ModelFileError, read_weights  # noqa: E402

RNG = np.random.default_rng(5)


def save(path, nodes, initializers, inputs=("x",), output="y"):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in inputs],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_conv_with_batch_norm_folded_then_gemm_and_matmul_in_torch_layout(tmp_path):
    w = RNG.normal(size=(8, 3, 3, 3)).astype(np.float32)
    gamma, var = RNG.uniform(0.5, 2, 8).astype(np.float32), RNG.uniform(0.5, 2, 8).astype(np.float32)
    zeros = np.zeros(8, np.float32)
    fc, head = RNG.normal(size=(10, 8)).astype(np.float32), RNG.normal(size=(10, 4)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="stem/conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["b"], epsilon=1e-3),
             helper.make_node("GlobalAveragePool", ["b"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "bias"], ["g"], name="fc", transB=1, alpha=0.5),
             helper.make_node("MatMul", ["g", "head"], ["y"], name="head")]
    path = save(tmp_path / "net.onnx", nodes, {"w": w, "gamma": gamma, "beta": zeros, "mean": zeros, "var": var,
                                               "fc": fc, "bias": np.zeros(10, np.float32), "head": head})
    layers = read_weights(path)
    assert [(layer.name, layer.kind) for layer in layers] == [("stem.conv", "conv"), ("fc", "linear"), ("head", "linear")]
    np.testing.assert_allclose(layers[0].weight, w * (gamma / np.sqrt(var + 1e-3))[:, None, None, None], rtol=1e-6)
    np.testing.assert_allclose(layers[1].weight, 0.5 * fc, rtol=1e-6)
    np.testing.assert_allclose(layers[2].weight, head.T, rtol=1e-6)


def test_quantized_weights_keep_their_integers_and_per_channel_scales(tmp_path):
    q = RNG.integers(-127, 128, size=(4, 2, 3, 3)).astype(np.int8)
    scale = RNG.uniform(0.01, 0.1, 4).astype(np.float32)
    qm = RNG.integers(-127, 128, size=(4, 6)).astype(np.int8)  # [in, out] for QLinearMatMul
    mscale = RNG.uniform(0.01, 0.1, 6).astype(np.float32)
    one, zero8 = np.array(1.0, np.float32), np.array(0, np.int8)
    nodes = [helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["w"], axis=0),
             helper.make_node("Conv", ["x", "w"], ["c"], name="qdq_conv"),
             helper.make_node("QLinearMatMul", ["a", "one", "z", "qm", "mscale", "mzero", "one", "z"], ["y"],
                              name="qlinear_fc")]
    path = save(tmp_path / "q.onnx", nodes, {"q": q, "scale": scale, "zero": np.zeros(4, np.int8), "qm": qm,
                                             "mscale": mscale, "mzero": np.zeros(6, np.int8), "one": one, "z": zero8},
                inputs=("x", "a"))
    conv, fc = read_weights(path)
    np.testing.assert_array_equal(conv.quantized, q)
    np.testing.assert_allclose(conv.scale, scale)
    np.testing.assert_allclose(conv.weight, q * scale[:, None, None, None], rtol=1e-6)
    np.testing.assert_array_equal(fc.quantized, qm.T)
    np.testing.assert_allclose(fc.weight, (qm * mscale).T, rtol=1e-6)


@pytest.mark.parametrize("case, message", [("grouped", "do not split into 3 groups"),
                                           ("asymmetric", "nonzero zero point"), ("garbage", "not an ONNX model")])
def test_what_mapopt_cannot_read_is_refused_by_name(tmp_path, case, message):
    w = RNG.normal(size=(4, 1, 3, 3)).astype(np.float32)
    if case == "grouped":
        path = save(tmp_path / "g.onnx", [helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=3)], {"w": w})
    elif case == "asymmetric":
        path = save(tmp_path / "a.onnx", [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["w"]),
                                          helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
                    {"q": np.ones((4, 1, 3, 3), np.int8), "s": np.array(0.1, np.float32), "z": np.array(3, np.int8)})
    else:
        path = tmp_path / "junk.onnx"
        path.write_bytes(b"\x08\x07junk")
    with pytest.raises(ModelFileError, match=message):
        read_weights(path)
