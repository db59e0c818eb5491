"""ONNX graphs: the weights of every Conv, Gemm and MatMul node, named by the node, in graph order.

Weights come from the graph's initializers and Constant nodes, as floats or as integers with their
scales: behind a DequantizeLinear (QDQ graphs) or inside QLinearConv / QLinearMatMul, symmetric
per-tensor or per-output-channel. A Conv whose only consumer is a BatchNormalization has the norm
folded in (into the scales of integer weights, so the integers stay). Gemm's ``transB`` and
MatMul's ``[in, out]`` layout become torch's ``[out, in]``. A Conv's ``group`` makes it grouped or
depthwise. onnx is an optional extra (``mapopt[onnx]``), imported here only; external data files are
never read.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .weights import MissingDependency, ModelFileError, NamedWeight, check_layers, layer_from_array, sanitize_name

ONNX_MISSING = "reading ONNX files needs onnx: pip install 'mapopt[onnx]' (or pip install onnx)"


def read_onnx(path: str | Path) -> list[NamedWeight]:
    """The conv and linear layers of an ONNX model file (see the module docstring)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise MissingDependency(ONNX_MISSING) from None
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf and onnx raise several types for a file that is not a model
        raise ModelFileError(f"{path}: not an ONNX model ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:160]})") from None
    graph = model.graph
    try:
        constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    constants[node.output[0]] = numpy_helper.to_array(value)
    except Exception as exc:  # a tensor whose data does not match its declared type or shape
        raise ModelFileError(f"{path}: unreadable tensor ({' '.join(str(exc).split())[:160]})") from None
    return check_layers(str(path), _Graph(graph, constants, str(path)).layers())


class _Graph:
    """One graph's nodes with their constant inputs; `layers` walks the weight nodes in order."""

    def __init__(self, graph, constants: dict[str, np.ndarray], source: str) -> None:
        self.nodes, self.constants, self.source = list(graph.node), constants, source
        self.dequantized = {n.output[0]: n for n in self.nodes if n.op_type == "DequantizeLinear"}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)

    def layers(self) -> list[NamedWeight]:
        out = []
        for node in self.nodes:
            reader = {"Conv": self._conv, "QLinearConv": self._conv, "Gemm": self._linear, "MatMul": self._linear,
                      "QLinearMatMul": self._linear}.get(node.op_type)
            layer = reader(node) if reader else None
            if layer is not None:
                out.append(layer)
        return out

    def _name(self, node) -> str:
        return sanitize_name(node.name or node.output[0])

    def _attribute(self, node, name: str, default):
        from onnx import helper

        found = next((a for a in node.attribute if a.name == name), None)
        return default if found is None else helper.get_attribute_value(found)

    def _weight(self, node, name: str, out_axis: int, quantized: tuple | None = None) -> tuple | None:
        """A weight input as ``(float weights, integers or None, per-output scales or None)``, in the file's
        layout (outputs along `out_axis`); None when the graph computes it (no weight). `quantized`: the names of
        a QLinear* node's weight ``(scale, zero point)`` inputs."""
        if quantized is not None:
            q = self.constants.get(name)
            scale, zero = (self.constants.get(n) for n in quantized)
            return None if q is None else self._integers(node, q, scale, zero, out_axis, out_axis)
        if name in self.constants:
            return self.constants[name].astype(np.float64, copy=False), None, None
        dq = self.dequantized.get(name)
        if dq is None or dq.input[0] not in self.constants:
            return None
        zero = self.constants.get(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else None
        return self._integers(node, self.constants[dq.input[0]], self.constants.get(dq.input[1]), zero,
                              int(self._attribute(dq, "axis", 1)), out_axis)

    def _integers(self, node, q: np.ndarray, scale, zero, axis: int, out_axis: int):
        """Float weights, integers and per-output scales of int8 weights `q` scaled along `axis`."""
        if scale is None or q.dtype != np.int8:
            raise ModelFileError(f"{self.source}: node {self._name(node)!r}: quantized weights are read as int8 "
                                 f"with constant scales, got {q.dtype}")
        if zero is not None and np.any(zero != 0):
            raise ModelFileError(f"{self.source}: node {self._name(node)!r}: weights with a nonzero zero point "
                                 "(asymmetric) are not read; mapopt's layers are symmetric")
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if scale.size > 1 and (axis % q.ndim != out_axis or scale.size != q.shape[out_axis]):
            raise ModelFileError(f"{self.source}: node {self._name(node)!r}: {scale.size} scales along axis {axis} "
                                 f"of weights {list(q.shape)}; mapopt reads one scale per output")
        shape = [1] * q.ndim
        shape[out_axis] = -1
        return q * scale.reshape(shape), q, scale

    def _conv(self, node) -> NamedWeight | None:
        qlinear = node.op_type == "QLinearConv"
        found = self._weight(node, node.input[3] if qlinear else node.input[1], 0,
                             (node.input[4], node.input[5]) if qlinear else None)
        if found is None:
            return None
        weight, q, scale = found
        groups = int(self._attribute(node, "group", 1))
        if weight.ndim != 4:
            raise ModelFileError(f"{self.source}: node {self._name(node)!r}: only 2-D convolutions are read, got "
                                 f"weights of shape {list(weight.shape)}")
        fold = self._norm_after(node)
        if fold is not None:
            weight = weight * fold[:, None, None, None]
            if q is not None:
                scale = np.broadcast_to(scale, (weight.shape[0],)) * fold
        return self._named(node, weight, q, scale, groups)

    def _norm_after(self, node) -> np.ndarray | None:
        """Per-channel factor ``gamma / sqrt(var + eps)`` of a BatchNormalization that alone reads `node`."""
        users = self.consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "BatchNormalization":
            return None
        norm = users[0]
        gamma, var = self.constants.get(norm.input[1]), self.constants.get(norm.input[4])
        if gamma is None or var is None:
            return None
        return np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + self._attribute(norm, "epsilon", 1e-5))

    def _linear(self, node) -> NamedWeight | None:
        transposed = node.op_type == "Gemm" and bool(self._attribute(node, "transB", 0))
        if node.op_type == "QLinearMatMul":
            found = self._weight(node, node.input[3], 1, (node.input[4], node.input[5]))
        else:
            found = self._weight(node, node.input[1], 0 if transposed else 1)
            if node.op_type == "Gemm" and self._attribute(node, "transA", 0):
                raise ModelFileError(f"{self.source}: node {self._name(node)!r}: Gemm with transA is not read")
        if found is None:
            return None
        weight, q, scale = found
        if weight.ndim != 2:
            return None  # a batched MatMul of activations, or attention: no weight layer
        alpha = float(self._attribute(node, "alpha", 1.0)) if node.op_type == "Gemm" else 1.0
        if not transposed:  # [in, out] -> [out, in]
            weight, q = weight.T, None if q is None else q.T
        return self._named(node, weight * alpha, q, None if scale is None else scale * alpha)

    def _named(self, node, weight: np.ndarray, q, scale, groups: int = 1) -> NamedWeight:
        layer = layer_from_array(self._name(node), np.ascontiguousarray(weight, dtype=np.float32), self.source, groups)
        if q is None:
            return layer
        scale = np.broadcast_to(np.asarray(scale, np.float32), (weight.shape[0],)).copy()
        return replace(layer, quantized=np.ascontiguousarray(q, np.int16), scale=scale)
