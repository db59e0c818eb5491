"""Conv and dense kernels from a Keras 2 HDF5 file (whole model or ``save_weights``).

h5py is optional and imported here only. Kernels are read from
``model_weights/<layer>/<layer>/kernel:0`` in the model's layer order;
optimizer slots (``optimizer_weights/``) are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mapopt.models.weights import MissingDependency, ModelFileError, NamedWeight, check_layers, layer_from_array

H5PY_MISSING = "reading Keras .h5 files needs h5py: pip install 'mapopt[keras]' (or pip install h5py)"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_h5(path: str | Path) -> list[NamedWeight]:
    """Read 4-D conv kernels ``(kh, kw, Cin, Cout)`` as ``[Cout, Cin, kh, kw]`` and
    2-D dense kernels ``(in, out)`` as ``[out, in]``, named by Keras layer name."""
    try:
        import h5py
    except ImportError:
        raise MissingDependency(H5PY_MISSING) from None
    path = Path(path)
    if not h5py.is_hdf5(path):
        raise ModelFileError(f"{path}: not an HDF5 file")
    try:
        return check_layers(str(path), _kernels(path, h5py))
    except (OSError, KeyError, RuntimeError) as exc:  # h5py's errors for a truncated or damaged file
        raise ModelFileError(f"{path}: cannot read HDF5 ({' '.join(str(exc).split())[:160]})") from None


def _kernels(path: Path, h5py) -> list:
    """The kernels of every layer the file lists, in torch layout."""
    layers = []
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        names = [_text(n) for n in root.attrs.get("layer_names", list(root.keys()))]
        for layer_name in names:
            group = root.get(layer_name)
            if not isinstance(group, h5py.Group):
                continue
            weight_names = [_text(w) for w in group.attrs.get("weight_names", [])]
            for kernel in (w for w in weight_names if w.split("/")[-1] == "kernel:0"):
                data = group.get(kernel)
                if not isinstance(data, h5py.Dataset):
                    raise ModelFileError(f"{path}: layer {layer_name!r} lists {kernel!r} but the file lacks it")
                array = np.asarray(data)
                torch_layout = {4: (3, 2, 0, 1), 2: (1, 0)}.get(array.ndim)
                if torch_layout is not None:
                    layers.append(layer_from_array(layer_name, array.transpose(torch_layout).copy(), str(path)))
    return layers
