"""ResNet-20 top-1 on the 1000-image CIFAR-10 set after magnitude pruning, and after filter ordering with
free weight recovery (and with budgeted row pruning), at the same OU activations as the grouping found.

    python experiments/filter_ordering_accuracy.py [--sparsity 0.5 0.7 0.8] [--method multistart]

Writes results/filter_ordering/accuracy.json and experiments/results/filter_ordering/accuracy.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mapopt.importer import import_model  # noqa: E402
from mapopt.instance import instance_files, read_instance  # noqa: E402
from mapopt.layer import matrix_to_weight  # noqa: E402
from mapopt.models.cifar import load_resnet, load_samples, top1, with_weights  # noqa: E402
from mapopt.solve import solve  # noqa: E402

MODEL = ROOT.parent / "shared" / "weights" / "resnet_cifar10_akamaster" / "resnet20-12fca82f.th"


def network_weights(files, method: str, params: dict) -> tuple[dict, dict]:
    """Dequantized float weights of every layer as mapped (reference) and the summed statistics."""
    weights, totals = {}, {"ou_activations": 0, "recovered_weights": 0, "recovered_mass": [], "valid": True}
    for f in files:
        inst = read_instance(f)
        r = solve(inst, "filter-ordering", method, **params)
        totals["valid"] &= bool(r.report.valid and r.report.exact)
        totals["ou_activations"] += r.objective
        totals["recovered_weights"] += r.stats.get("recovered_weights", 0)
        if "recovered_mass" in r.stats:
            totals["recovered_mass"].append(r.stats["recovered_mass"])
        matrix = r.mapping.reference if r.mapping.reference is not None else inst.layer.matrix
        scale = np.broadcast_to(inst.layer.scale, (inst.layer.n_outputs,))
        weights[inst.name] = matrix_to_weight(matrix * scale[None, :], inst.layer.shape).astype(np.float32)
    totals["recovered_mass"] = float(np.mean(totals["recovered_mass"])) if totals["recovered_mass"] else 0.0
    return weights, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.5, 0.7, 0.8])
    parser.add_argument("--method", default="multistart")
    parser.add_argument("--budget", type=float, default=0.002, help="budgeted row pruning (fraction of ||W||^2)")
    args = parser.parse_args()
    if not MODEL.is_file():
        sys.exit(f"skipped: {MODEL} is not available")
    model, (images, labels) = load_resnet(MODEL), load_samples()
    baseline = top1(model, images, labels)
    rows = []
    for s in args.sparsity:
        with tempfile.TemporaryDirectory() as tmp:
            files = instance_files(import_model(MODEL, tmp, sparsity=s, preset="orc"))
            for label, params in (("pruned", {}), ("free recovery", {"recovery": "free"}),
                                  ("budget + free recovery", {"recovery": "free", "budget": args.budget})):
                weights, tot = network_weights(files, args.method, params)
                acc = top1(with_weights(model, weights), images, labels)
                rows.append({"sparsity": s, "variant": label, "top1": acc, "relative": acc / baseline, **tot})
                print(f"sparsity {s:.2f} {label:24s} top1 {acc:.3f} (relative {acc / baseline:.3f}) "
                      f"OU {tot['ou_activations']} recovered {tot['recovered_weights']} valid {tot['valid']}", flush=True)
    out = ROOT / "results" / "filter_ordering"
    out.mkdir(parents=True, exist_ok=True)
    (out / "accuracy.json").write_text(json.dumps({"baseline": baseline, "rows": rows}, indent=1))
    lines = [f"ResNet-20, 1000-image CIFAR-10 set, float baseline top-1 {baseline:.3f}; method {args.method}, "
             f"g = 2, h = 9 (orc preset)", "",
             "| sparsity | variant | top-1 | relative | OU activations | recovered weights | mean recovered mass | valid |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['sparsity']:.2f} | {r['variant']} | {r['top1']:.3f} | {r['relative']:.3f} | {r['ou_activations']} | "
              f"{r['recovered_weights']} | {r['recovered_mass']:.3f} | {r['valid']} |" for r in rows]
    md = ROOT / "experiments" / "results" / "filter_ordering"
    md.mkdir(parents=True, exist_ok=True)
    (md / "accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
