"""Int8 conv and fully connected weights from a TFLite flatbuffer, in pure Python.

Only the few schema fields needed are read (``tensorflow/lite/schema/schema.fbs``):
the weight tensor (input 1) of every CONV_2D, DEPTHWISE_CONV_2D and
FULLY_CONNECTED operator, its int8 data and its per-channel scales, and for a depthwise
conv the channels of its input (its groups). A layer is named by the op its weight tensor
serves (``model/conv2d_1/Conv2D``), not by a batch norm fused into it. This avoids depending
on the ``tflite`` or ``tensorflow`` packages.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from mapopt.layer import conv_kind
from mapopt.models.weights import ModelFileError, NamedWeight, check_layers, sanitize_name

CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED = 3, 4, 9
INT8 = 9
# schema field indices
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 1, 2, 4
SUBGRAPH_TENSORS, SUBGRAPH_OPERATORS = 0, 3
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 1, 2, 3, 4
QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DIMENSION = 2, 3, 6
OPERATOR_OPCODE_INDEX, OPERATOR_INPUTS = 0, 1
OPCODE_DEPRECATED_BUILTIN, OPCODE_BUILTIN = 0, 3
BUFFER_DATA = 0
#: the last part of a TensorFlow op name that computes a layer (a weight tensor's name lists every op fused into it)
LAYER_OPS = re.compile(r"(Conv2D(_\d+)?|depthwise|MatMul)$")


class _Table:
    """A flatbuffer table: reads scalar, vector, string and sub-table fields by index."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        if not 0 <= self.vtable < len(buf):  # struct would read a negative offset from the end
            raise ValueError(f"vtable offset {self.vtable} outside the file")
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, index: int) -> int:
        """Absolute position of a field, or 0 when it is absent (holds its default)."""
        entry = 4 + 2 * index
        if entry >= self.vtable_size:
            return 0
        offset = struct.unpack_from("<H", self.buf, self.vtable + entry)[0]
        return self.pos + offset if offset else 0

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        at = self._field(index)
        return struct.unpack_from("<" + fmt, self.buf, at)[0] if at else default

    def _vector(self, index: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) when absent."""
        at = self._field(index)
        if not at:
            return 0, 0
        start = at + struct.unpack_from("<I", self.buf, at)[0]
        return start + 4, struct.unpack_from("<I", self.buf, start)[0]

    def array(self, index: int, dtype: str) -> np.ndarray:
        start, length = self._vector(index)
        return np.frombuffer(self.buf, dtype=np.dtype(dtype).newbyteorder("<"), count=length, offset=start)

    def tables(self, index: int) -> list[_Table]:
        start, length = self._vector(index)
        return [_Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0])
                for p in range(start, start + 4 * length, 4)]

    def table(self, index: int) -> _Table | None:
        at = self._field(index)
        return _Table(self.buf, at + struct.unpack_from("<I", self.buf, at)[0]) if at else None

    def string(self, index: int) -> str:
        return bytes(self.array(index, "u1")).decode("utf-8", errors="replace")


def layer_name(tensor_name: str) -> str:
    """The op a weight tensor serves, from its ``;``-separated fused names (the first when none is a layer op)."""
    parts = tensor_name.split(";")
    return sanitize_name(next((p for p in parts if LAYER_OPS.search(p)), parts[0]))


def _layer(tensor: _Table, buffers: list[_Table], opcode: int, source: str, channels: int) -> NamedWeight:
    """Convert one int8 weight tensor to torch layout with its per-output scales; `channels`: the op's input
    channels (a depthwise conv's groups)."""
    name = layer_name(tensor.string(TENSOR_NAME))
    shape = tuple(int(d) for d in tensor.array(TENSOR_SHAPE, "i4"))
    if tensor.scalar(TENSOR_TYPE, "b") != INT8:
        raise ModelFileError(f"{source}: weight tensor {name!r} is not int8 (only int8 TFLite weights are read)")
    q = buffers[tensor.scalar(TENSOR_BUFFER, "I")].array(BUFFER_DATA, "i1")
    if q.size != int(np.prod(shape)):
        raise ModelFileError(f"{source}: weight tensor {name!r} has {q.size} bytes of data for shape {shape}")
    q = q.astype(np.int16).reshape(shape)
    # TFLite layouts: conv [O, H, W, I], depthwise [1, H, W, C*M], FC [out, in]
    q = {CONV_2D: lambda a: a.transpose(0, 3, 1, 2), DEPTHWISE_CONV_2D: lambda a: a.transpose(3, 0, 1, 2),
         FULLY_CONNECTED: lambda a: a}[opcode](q)
    quant = tensor.table(TENSOR_QUANTIZATION)
    scale = quant.array(QUANT_SCALE, "f4") if quant else np.empty(0, np.float32)
    zero = quant.array(QUANT_ZERO_POINT, "i8") if quant else np.empty(0, np.int64)
    if scale.size not in (1, q.shape[0]) or np.any(zero != 0):
        raise ModelFileError(f"{source}: weight tensor {name!r} lacks symmetric per-tensor or per-output scales")
    scale = np.broadcast_to(scale, (q.shape[0],)).astype(np.float32)
    weight = (q * scale.reshape((-1,) + (1,) * (q.ndim - 1))).astype(np.float32)
    groups = channels if opcode == DEPTHWISE_CONV_2D else 1
    if groups < 1 or q.shape[0] % groups:
        raise ModelFileError(f"{source}: depthwise weight tensor {name!r} has {q.shape[0]} outputs for {channels} "
                             "input channels")
    kind = "linear" if opcode == FULLY_CONNECTED else conv_kind(q.shape, groups)
    return NamedWeight(name=name, kind=kind, weight=weight, quantized=np.ascontiguousarray(q), scale=scale,
                       groups=groups)


def read_tflite(path: str | Path) -> list[NamedWeight]:
    """Read the int8 conv, depthwise conv and FC weights of every subgraph, in operator order.

    ``weight`` is ``quantized * scale``; ``quantized`` holds the int8 values
    (as int16) and ``scale`` the per-output-channel scales.
    """
    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFileError(f"{path}: not a TFLite flatbuffer (missing 'TFL3' identifier)")
    try:
        model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
        codes = [max(c.scalar(OPCODE_DEPRECATED_BUILTIN, "b"), c.scalar(OPCODE_BUILTIN, "i"))
                 for c in model.tables(MODEL_OPERATOR_CODES)]
        buffers = model.tables(MODEL_BUFFERS)
        layers, seen = [], set()
        for g, subgraph in enumerate(model.tables(MODEL_SUBGRAPHS)):
            tensors = subgraph.tables(SUBGRAPH_TENSORS)
            for op in subgraph.tables(SUBGRAPH_OPERATORS):
                opcode = codes[op.scalar(OPERATOR_OPCODE_INDEX, "I")]
                inputs = op.array(OPERATOR_INPUTS, "i4")
                if opcode in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) and (g, inputs[1]) not in seen:
                    seen.add((g, inputs[1]))
                    channels = tensors[inputs[0]].array(TENSOR_SHAPE, "i4")
                    layers.append(_layer(tensors[inputs[1]], buffers, opcode, str(path),
                                         int(channels[-1]) if len(channels) else 0))
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{path}: malformed TFLite flatbuffer ({exc})") from None
    return check_layers(str(path), layers)
