"""Trained weights from torch, TFLite and Keras files, and magnitude pruning.

Start with :func:`read_weights` (any supported file) and :func:`magnitude_prune`.
torch and h5py are optional and imported only when a file needs them.
"""

from mapopt.models.pruning import magnitude_prune
from mapopt.models.torch_import import load_torch_file, state_dict_weights
from mapopt.models.weights import MissingDependency, ModelFileError, NamedWeight, read_weights

__all__ = [
    "MissingDependency",
    "ModelFileError",
    "NamedWeight",
    "load_torch_file",
    "magnitude_prune",
    "read_weights",
    "state_dict_weights",
]
