"""Top-1 of the akamaster CIFAR-10 ResNets after 8-bit quantization and magnitude pruning (no fine-tuning).

Run: ``python experiments/accuracy_pruning.py [--out results/accuracy_pruning.json]``.

Each network is scored on the 1000 JPEG-recompressed CIFAR-10 test images in
``../shared/weights/cifar10_samples`` (100 per class; JPEG costs about 10 points, so compare
rows with the baseline, not with published accuracies) with every conv and linear layer replaced by

- ``float``: the trained weights (baseline);
- ``q8``: 8-bit symmetric per-layer quantization, as `mapopt.importer` writes instances;
- ``q8_per_channel``: the same with one scale per output channel;
- ``p50_q8`` ... ``p90_q8``: per-layer magnitude pruning to 50 / 70 / 80 / 90 %, then ``q8``;
  80 and 90 % are exactly the layers of the bundled instances (``experiments/make_instances.py``);
- ``p80_q8_keep_ends``, ``p90_q8_keep_ends``: the same with the first conv and the final
  linear layer left unpruned (the usual practice; they hold 0.4 % of ResNet-20's weights).

The weights each row evaluates are the instance's ``dequantized_matrix`` turned back into torch
layout. Writes the JSON and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mapopt.importer import sha256
from mapopt.layer import Layer, matrix_to_weight
from mapopt.models import magnitude_prune, read_weights
from mapopt.models.cifar import SAMPLES, load_resnet, load_samples, top1, with_weights

ROOT = Path(__file__).resolve().parents[1]
AKAMASTER = ROOT.parent / "shared" / "weights" / "resnet_cifar10_akamaster"
NETWORKS = [("resnet20", AKAMASTER / "resnet20-12fca82f.th"),
            ("resnet32", AKAMASTER / "resnet32-d509ac18.th"),
            ("resnet44", AKAMASTER / "resnet44-014dd654.th")]
# name: (sparsity, per_channel, prune the first conv and the linear layer)
VARIANTS = {
    "q8": (0.0, False, True),
    "q8_per_channel": (0.0, True, True),
    "p50_q8": (0.5, False, True),
    "p70_q8": (0.7, False, True),
    "p80_q8": (0.8, False, True),
    "p90_q8": (0.9, False, True),
    "p80_q8_keep_ends": (0.8, False, False),
    "p90_q8_keep_ends": (0.9, False, False),
}
WEIGHT_BITS = 8


def replacements(layers, sparsity: float, per_channel: bool, prune_ends: bool) -> tuple[dict, float]:
    """Dequantized weights of the pruned, quantized layers (torch layout) and their overall sparsity."""
    prunable = [i for i in range(len(layers)) if prune_ends or 0 < i < len(layers) - 1]
    pruned = [w.weight for w in layers]
    for i, p in zip(prunable, magnitude_prune([layers[i].weight for i in prunable], sparsity, "layer")):
        pruned[i] = p
    out, zeros = {}, 0
    for w, p in zip(layers, pruned):
        layer = Layer.from_weights(p, w.name, WEIGHT_BITS, per_channel, w.kind)
        out[w.name] = matrix_to_weight(layer.dequantized_matrix, layer.shape)
        zeros += layer.quantized.size - np.count_nonzero(layer.quantized)
    return out, zeros / sum(w.weight.size for w in layers)


def run(out: Path) -> dict:
    images, labels = load_samples()
    rows = []
    for network, path in NETWORKS:
        start = time.perf_counter()
        model, layers = load_resnet(path), read_weights(path)
        row = {"network": network, "file": path.name, "sha256": sha256(path), "layers": len(layers),
               "weights": sum(w.weight.size for w in layers), "top1": {"float": top1(model, images, labels)},
               "sparsity": {"float": 0.0}}
        for name, (sparsity, per_channel, prune_ends) in VARIANTS.items():
            weights, achieved = replacements(layers, sparsity, per_channel, prune_ends)
            row["top1"][name] = top1(with_weights(model, weights), images, labels)
            row["sparsity"][name] = achieved
        row["relative"] = {k: v / row["top1"]["float"] for k, v in row["top1"].items()}
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    result = {
        "experiment": "experiments/accuracy_pruning.py",
        "samples": {"file": str(SAMPLES.relative_to(ROOT.parent)), "sha256": sha256(SAMPLES), "images": len(labels),
                    "note": "JPEG-recompressed CIFAR-10 test images: relative accuracy only"},
        "quantization": f"{WEIGHT_BITS}-bit symmetric, round to nearest; per layer unless named per_channel",
        "pruning": "magnitude, per layer (mapopt.models.magnitude_prune), no fine-tuning",
        "variants": {k: {"sparsity": s, "per_channel": pc, "prune_first_and_last": pe}
                     for k, (s, pc, pe) in VARIANTS.items()},
        "environment": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads()},
        "results": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def table(result: dict) -> str:
    columns = ["float", *VARIANTS]
    lines = ["| network | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in result["results"]:
        cells = [f"{100 * row['top1'][c]:.1f}" for c in columns]
        lines.append(f"| {row['network']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"top-1 in % on {result['samples']['images']} JPEG CIFAR-10 test images; "
                 f"achieved sparsity (all layers) of {result['results'][0]['network']}:")
    lines.append(", ".join(f"{c}: {100 * result['results'][0]['sparsity'][c]:.1f}%" for c in columns))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "accuracy_pruning.json")
    args = parser.parse_args()
    print(table(run(args.out)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
