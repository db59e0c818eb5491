"""ResNet-20 through whole-network pipelines: relative top-1 next to the hardware gains.

Run: ``python experiments/pipeline_accuracy.py [--jobs 2]``

Each setting maps the akamaster ResNet-20 checkpoint with `mapopt.pipeline.map_network`, saving
every layer's mapping; the network is then evaluated on the 1000-image CIFAR-10 set with each
layer's weights replaced by what its mapping computes (``mapping.reference``, or the instance's
quantized matrix where the mapping declares no approximation) times the layer's scale.
Settings: ``full`` (group + pack) at 50 % and 80 % magnitude sparsity, ``pattern`` (pattern
pruning, 30 % of kernels removed), ``reuse`` (FasterPAM, theta 0.5), and reuse composed with
packing and grouping at 80 %: ``reuse,pack`` and ``prap`` (reuse, group, pack) at theta 0.25 and
0.5, and ``prap`` with lossless identical reuse. Writes
``experiments/results/pipeline_accuracy.md`` and ``results/pipeline_accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from mapopt.instance import read_instance
from mapopt.layer import matrix_to_weight
from mapopt.mapping import load_mapping
from mapopt.models.cifar import load_resnet, load_samples, top1, with_weights
from mapopt.pipeline import map_network, parse

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT.parent / "shared" / "weights" / "resnet_cifar10_akamaster" / "resnet20-12fca82f.th"
#: (label, pipeline, magnitude sparsity at import, stage methods, stage parameters)
SETTINGS = [("full, 50 % sparse", "full", 0.5, {}, {}), ("full, 80 % sparse", "full", 0.8, {}, {}),
            ("pattern, 30 % of kernels removed", "pattern", 0.0, {}, {}),
            ("reuse, theta 0.5", "reuse", 0.0, {}, {"reuse": {"theta": 0.5}}),
            ("reuse,pack, 80 %, theta 0.25", "reuse,pack", 0.8, {}, {}),
            ("prap, 80 %, theta 0.25", "prap", 0.8, {}, {}),
            ("prap, 80 %, theta 0.5", "prap", 0.8, {}, {"reuse": {"theta": 0.5}}),
            ("prap, 80 %, identical reuse", "prap", 0.8, {"reuse": "identical"}, {})]


def mapped_weights(report: dict, workdir: Path) -> dict[str, np.ndarray]:
    """Float weights each layer's saved mapping computes, by layer name."""
    out = {}
    for layer in report["layers"]:
        inst = read_instance(workdir / f"{layer['name']}.npz")
        mapping = load_mapping(layer["mapping"])
        matrix = mapping.reference if mapping.reference is not None else inst.layer.matrix
        scale = np.broadcast_to(inst.layer.scale, (inst.layer.n_outputs,))
        out[layer["name"]] = matrix_to_weight(matrix * scale[None, :], inst.layer.shape).astype(np.float32)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if not MODEL.is_file():
        sys.exit(f"skipped: {MODEL} is not available")
    model, (images, labels) = load_resnet(MODEL), load_samples()
    baseline = top1(model, images, labels)
    rows = []
    for label, spec, sparsity, methods, params in SETTINGS:
        with tempfile.TemporaryDirectory() as tmp:
            report = map_network(MODEL, parse(spec, methods, params=params), sparsity, args.jobs,
                                 workdir=Path(tmp) / "inst", save=Path(tmp) / "maps")
            acc = top1(with_weights(model, mapped_weights(report, Path(tmp) / "inst")), images, labels)
        rows.append({"setting": label, "pipeline": spec, "sparsity": sparsity, "top1": acc, "relative": acc / baseline,
                     "hardware": report["hardware"], "valid": report["valid"], "exact": report["exact"], "gain": report["gain"],
                     "l1": sum(layer["error"].get("l1", 0) for layer in report["layers"]),
                     "totals": report["totals"], "wall_time": report["wall_time"]})
        print(f"{label}: top-1 {acc:.3f}, OU gain {report['gain']['ou_activations']:.2f}x", flush=True)
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "pipeline_accuracy.json").write_text(json.dumps({"baseline": baseline, "rows": rows}, indent=1))
    lines = ["# ResNet-20 through whole-network pipelines: accuracy next to hardware gains", "",
             f"Command: `python experiments/pipeline_accuracy.py {' '.join(sys.argv[1:])}`".rstrip(), "",
             f"1000-image CIFAR-10 set, float top-1 {baseline:.3f}; no fine-tuning. Gains are dense / pipeline, "
             "summed over all 20 layers (each pipeline's own hardware preset); `valid and exact`: every layer's mapping passed validation and bit-exact execution.", "",
             "| setting | hardware | top-1 | relative | L1 error | OU activations gain | crossbars gain | energy gain | valid and exact | wall s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {r['setting']} | {r['hardware']} | {r['top1']:.3f} | {r['relative']:.3f} | {r['l1']} | {r['gain']['ou_activations']:.2f}x | "
              f"{r['gain']['crossbars']:.2f}x | {r['gain']['energy']:.2f}x | {r['valid'] and r['exact']} | "
              f"{r['wall_time']:.1f} |" for r in rows]
    (ROOT / "experiments" / "results" / "pipeline_accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
