"""One small depthwise classifier written as torch, ONNX, Keras HDF5 and TFLite files, for the readers' tests.

`Net` holds per-channel int8 weights and scales in torch layout (each output channel reaches ±127, so float
formats quantize back to the same integers); each writer stores them in its format's own layout. The TFLite
writer builds the flatbuffer with the ``flatbuffers`` package (a dev dependency), with only the schema fields
mapopt reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (name, torch-layout shape, groups): conv, depthwise, pointwise, depthwise with multiplier 2, dense
LAYERS = [("stem", (8, 3, 3, 3), 1), ("dw1", (8, 1, 3, 3), 8), ("pw1", (16, 8, 1, 1), 1),
          ("dw2", (32, 1, 3, 3), 16), ("fc", (10, 32), 1)]


@dataclass
class Net:
    q: list[np.ndarray]
    scale: list[np.ndarray]

    @property
    def weights(self) -> list[np.ndarray]:
        return [(q * s.reshape((-1,) + (1,) * (q.ndim - 1))).astype(np.float32) for q, s in zip(self.q, self.scale)]


def make_net(seed: int = 0) -> Net:
    rng = np.random.default_rng(seed)
    qs, scales = [], []
    for _, shape, _ in LAYERS:
        q = rng.integers(-127, 128, size=shape)
        q.reshape(shape[0], -1)[:, 0] = 127  # every channel's peak is 127: per-channel scales come back
        qs.append(q.astype(np.int8))
        scales.append(rng.uniform(0.005, 0.02, shape[0]).astype(np.float32))
    return Net(qs, scales)


def torch_module(net: Net):
    import torch

    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.ReLU(),
                          nn.Conv2d(8, 16, 1, bias=False), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, padding=1, groups=16, bias=False), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10, bias=False))
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for m, w in zip(layers, net.weights):
            m.weight.copy_(torch.as_tensor(w))
    return model


def write_onnx(net: Net, path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, x = [], [], "x"
    for (name, shape, groups), w in zip(LAYERS, net.weights):
        if len(shape) == 2:
            nodes += [helper.make_node("GlobalAveragePool", [x], ["pool"]),
                      helper.make_node("Flatten", ["pool"], ["flat"]),
                      helper.make_node("Gemm", ["flat", f"{name}_w"], ["y"], name=name, transB=1)]
        else:
            pad = shape[2] // 2
            nodes += [helper.make_node("Conv", [x, f"{name}_w"], [f"{name}_c"], name=name, group=groups,
                                       pads=[pad] * 4),
                      helper.make_node("Relu", [f"{name}_c"], [f"{name}_r"])]
            x = f"{name}_r"
        inits.append(numpy_helper.from_array(w, f"{name}_w"))
    graph = helper.make_graph(nodes, "dwnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    onnx.save(helper.make_model(graph), str(path))


def write_keras_h5(net: Net, path) -> None:
    import h5py

    names = {"stem": ("conv2d", "kernel"), "dw1": ("depthwise_conv2d", "depthwise_kernel"),
             "pw1": ("conv2d_1", "kernel"), "dw2": ("depthwise_conv2d_1", "depthwise_kernel"),
             "fc": ("dense", "kernel")}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [names[n][0].encode() for n, _, _ in LAYERS]
        for (name, shape, groups), w in zip(LAYERS, net.weights):
            layer, kernel = names[name]
            if kernel == "depthwise_kernel":  # [C*M, 1, kh, kw] -> (kh, kw, C, M)
                array = w[:, 0].transpose(1, 2, 0).reshape(shape[2], shape[3], groups, shape[0] // groups)
            else:
                array = w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T
            g = root.create_group(layer)
            g.attrs["weight_names"] = [f"{layer}/{kernel}:0".encode()]
            g[f"{layer}/{kernel}:0"] = array


CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED = 3, 4, 9


def write_tflite(net: Net, path) -> None:
    """A TFLite flatbuffer holding each layer as an operator with an input tensor and an int8 weight tensor."""
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def vector(values, dtype):
        return b.CreateNumpyVector(np.asarray(values, dtype=dtype))

    def table(fields):
        """fields: (slot, kind, value) with kind 'offset', 'int32', 'uint32' or 'int8'."""
        b.StartObject(max(slot for slot, _, _ in fields) + 1)
        for slot, kind, value in fields:
            {"offset": b.PrependUOffsetTRelativeSlot, "int32": b.PrependInt32Slot, "uint32": b.PrependUint32Slot,
             "int8": b.PrependInt8Slot}[kind](slot, value, 0)
        return b.EndObject()

    def offsets(items):
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    buffers, tensors, operators, channels = [table([(0, "offset", vector([], np.uint8))])], [], [], 3
    codes = sorted({CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED})
    for (name, shape, groups), q, scale in zip(LAYERS, net.q, net.scale):
        if len(shape) == 2:
            opcode, stored, in_shape = FULLY_CONNECTED, q, [1, shape[1]]
        elif groups > 1:
            opcode, stored, in_shape = DEPTHWISE_CONV_2D, q[:, 0].transpose(1, 2, 0)[None], [1, 8, 8, channels]
        else:
            opcode, stored, in_shape = CONV_2D, q.transpose(0, 2, 3, 1), [1, 8, 8, channels]
        buffers.append(table([(0, "offset", vector(stored.astype(np.int8).reshape(-1).view(np.uint8), np.uint8))]))
        quant = table([(2, "offset", vector(scale, np.float32)), (3, "offset", vector(np.zeros(len(scale)), np.int64)),
                       (6, "int32", 3 if opcode == DEPTHWISE_CONV_2D else 0)])
        tensors.append(table([(0, "offset", vector(in_shape, np.int32)), (1, "int8", 9), (2, "uint32", 0),
                              (3, "offset", b.CreateString(f"model/{name}/act"))]))
        tensors.append(table([(0, "offset", vector(stored.shape, np.int32)), (1, "int8", 9),
                              (2, "uint32", len(buffers) - 1), (4, "offset", quant),
                              (3, "offset", b.CreateString(f"model/bn_{name}/FusedBatchNormV3;model/{name}/"
                                                           + ("depthwise" if groups > 1 else "Conv2D")))]))
        operators.append(table([(0, "uint32", codes.index(opcode)),
                                (1, "offset", vector([len(tensors) - 2, len(tensors) - 1], np.int32))]))
        channels = shape[0]
    subgraph = table([(0, "offset", offsets(tensors)), (3, "offset", offsets(operators))])
    opcodes = [table([(0, "int8", c), (3, "int32", c)]) for c in codes]
    model = table([(1, "offset", offsets(opcodes)), (2, "offset", offsets([subgraph])),
                   (4, "offset", offsets(buffers))])
    b.Finish(model, file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
