"""Regenerate the bundled instance files under ``instances/``: ``python experiments/make_instances.py``.

Real layers come from the trained networks in ``../shared/weights`` (magnitude-pruned, 8-bit
per-layer quantization, ORC hardware preset); ``instances/synthetic`` holds small seeded random
integer layers for exact solving. Every directory gets an ``index.json`` with its provenance.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mapopt.hardware import preset
from mapopt.importer import import_model, write_network
from mapopt.instance import Instance, instance_files
from mapopt.layer import Layer

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared" / "weights"
OUT = ROOT / "instances"
SCRIPT = "experiments/make_instances.py"
AKAMASTER = WEIGHTS / "resnet_cifar10_akamaster"

# (directory, weights file, sparsity): every conv and linear layer of each network
NETWORKS = [
    ("resnet20", AKAMASTER / "resnet20-12fca82f.th", 0.8),
    ("resnet20_s90", AKAMASTER / "resnet20-12fca82f.th", 0.9),
    ("resnet32", AKAMASTER / "resnet32-d509ac18.th", 0.8),
    ("resnet44", AKAMASTER / "resnet44-014dd654.th", 0.8),
    ("resnet8", WEIGHTS / "mlperf_tiny" / "ic_resnet8" / "pretrainedResnet_quant.tflite", 0.8),
]

SEED = 20240601
# (kind, torch-layout shape, sparsity, structure): layer matrices from 16x8 to 64x32
SYNTHETIC = [
    ("linear", (8, 16), 0.5, "unstructured"),
    ("linear", (16, 24), 0.7, "unstructured"),
    ("conv", (8, 4, 3, 3), 0.6, "unstructured"),
    ("linear", (16, 32), 0.8, "unstructured"),
    ("conv", (24, 5, 3, 3), 0.6, "kernel"),
    ("linear", (32, 64), 0.9, "unstructured"),
]


def synthetic_layer(rng: np.random.Generator, kind: str, shape: tuple[int, ...], sparsity: float,
                    structure: str) -> Layer:
    """Random 8-bit integers, small magnitudes most likely (Laplace, as in trained layers), then pruned.

    ``unstructured`` zeros ``round(sparsity * size)`` weights at random positions; ``kernel`` zeros
    that share of whole ``R x S`` kernels, as pattern and kernel pruning do.
    """
    q = np.clip(np.rint(rng.laplace(0.0, 24.0, size=shape)), -127, 127).astype(np.int64)
    q[q == 0] = rng.choice([-1, 1], size=int(np.count_nonzero(q == 0)))
    # views of q: one row per kernel, or per weight
    units = q.reshape(shape[0] * shape[1], -1) if structure == "kernel" else q.reshape(-1, 1)
    units[rng.permutation(len(units))[: round(sparsity * len(units))]] = 0
    n, m = int(np.prod(shape[1:])), shape[0]
    return Layer(f"{kind}{n}x{m}_s{round(sparsity * 100)}", kind, q, np.ones(1), 8)


def make_synthetic(out: Path) -> Path:
    """Write the synthetic layers with the ORC preset; returns the index path."""
    rng = np.random.default_rng(SEED)
    provenance = {"source": "synthetic", "generator": "numpy.random.default_rng", "seed": SEED, "script": SCRIPT}
    instances = [Instance(synthetic_layer(rng, kind, shape, s, structure), preset("orc"),
                          {"sparsity": s, "structure": structure}, provenance)
                 for kind, shape, s, structure in SYNTHETIC]
    return write_network(instances, out, "synthetic", provenance)


def main() -> None:
    for name, model, sparsity in NETWORKS:
        shutil.rmtree(OUT / name, ignore_errors=True)
        index = import_model(model, OUT / name, sparsity=sparsity, preset="orc", network=name,
                             provenance={"script": SCRIPT})
        print(f"{name}: {len(instance_files(index))} layers from {model.name} at sparsity {sparsity}")
    shutil.rmtree(OUT / "synthetic", ignore_errors=True)
    index = make_synthetic(OUT / "synthetic")
    print(f"synthetic: {len(instance_files(index))} layers")
    size = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"instances/ holds {size / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
