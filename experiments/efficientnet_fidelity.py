"""EfficientNet-Lite0 (real ImageNet weights) mapped with accuracy in the loop: output fidelity to the dense network.

Run: ``python experiments/efficientnet_fidelity.py [--eval-size 1000] [--calib-size 256] [--resolution 96]
[--time-limit 1]``

No ImageNet images reach this machine, so accuracy is *fidelity*: the share of evaluation images whose top
class (of 1,000) is the dense network's. Images are CIFAR-10 photographs from ``../shared/weights/cifar10_jpeg``
(evaluation: the test split; calibration: the train split, so the two never overlap), upscaled bilinearly to
``--resolution`` pixels and normalised as the network was trained (`mapopt.models.efficientnet`); labels are
dropped. Settings: the ``orc`` pipeline (ORC with filter grouping, lossless; ``--time-limit`` seconds per stage
and layer) on magnitude-pruned weights at each sparsity, quantized to 8 bits per output channel, every layer re-fitted under its decision (`mapopt.accuracy.map_model`; depthwise layers group by
group), against the decided weights without re-fit. Records go to ``results/efficientnet_fidelity.jsonl``
(rerun to resume), the table to ``experiments/results/efficientnet_fidelity.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.bench.runner import latest_by_key, read_results

ROOT = Path(__file__).resolve().parents[1]
JPEG = ROOT.parent / "shared" / "weights" / "cifar10_jpeg"
JSONL = ROOT / "results" / "efficientnet_fidelity.jsonl"
MD = ROOT / "experiments" / "results" / "efficientnet_fidelity.md"
SPARSITIES = (0.3, 0.5)


def inputs(split: str, size: int, resolution: int, seed: int):
    """`size` seeded, class-stratified images of a CIFAR-10 split as EfficientNet inputs, without labels."""
    import torch

    from mapopt.images import ImageSet, read_images
    from mapopt.models.efficientnet import MEAN, STD

    images = read_images(JPEG / f"cifar10_{split}_jpeg.npz", size, seed)
    x = torch.nn.functional.interpolate(torch.from_numpy(images.x).float() / 255, size=resolution, mode="bilinear",
                                        align_corners=False)
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    return ImageSet(x.numpy(), None, images.source, images.indices)


def run_task(task: dict) -> dict:
    """Map EfficientNet-Lite0 at one sparsity with re-fit; fidelity decided and re-fitted, hardware gains."""
    from mapopt.accuracy import Evaluation, map_model
    from mapopt.models.efficientnet import load_efficientnet_lite0
    from mapopt.pipeline import parse

    evaluation = Evaluation(inputs("test", task["eval_size"], task["resolution"], 0),
                            inputs("train", task["calib_size"], task["resolution"], 1), seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        report = map_model(load_efficientnet_lite0(), parse(task["pipeline"], time_limit=task["time_limit"]),
                           evaluation, tmp, task["sparsity"], per_channel=True, batchnorm=task["batchnorm"],
                           network="efficientnet-lite0")
    refits = [layer["refit"] for layer in report["layers"] if "calibration_error" in layer["refit"]]
    return {"accuracy": report["accuracy"], "gain": report["gain"], "valid": report["valid"],
            "exact": report["exact"], "wall_time": report["wall_time"], "refitted_layers": len(refits),
            "calibration_error": {k: float(np.mean([r["calibration_error"][k] for r in refits]))
                                  for k in ("decided", "refit")} if refits else None}


def markdown(records: list[dict], command: str) -> str:
    lines = ["# EfficientNet-Lite0: output fidelity with accuracy in the loop", "",
             f"Command: `{command}`; shared 2-core machine.", "",
             "Real ImageNet weights; fidelity = share of evaluation images whose top class (of 1,000) is the dense "
             "network's (no ImageNet images here: CIFAR-10 test photographs upscaled, labels dropped; calibration "
             "on train-split photographs). 8-bit per-channel quantization (sparsity 0: its fidelity alone). Magnitude "
             "pruning per layer; `decided`: the mapping's weights, `re-fit`: "
             "re-fitted under the same decision (same hardware cost). Gains against the dense mapping.", "",
             "| pipeline | time limit s | BN re-estimated | sparsity | resolution | eval / calib images | fidelity decided | "
             "fidelity re-fit | "
             "mean calibration error decided -> re-fit | OU gain | crossbar gain | valid and exact | wall s |",
             "|---|---:|---|---:|---:|---|---:|---:|---|---:|---:|---|---:|"]
    for r in records:
        t = r["task"]
        if r.get("status") == "error":
            lines.append(f"| {t['pipeline']} | {t['time_limit']} | {t.get('batchnorm', True)} | {t['sparsity']} | "
                         f"{t['resolution']} | error: "
                         f"{r['error']} ||||||||")
            continue
        a, e = r["accuracy"], r["calibration_error"]
        errors = "-" if e is None else f"{e['decided']:.4f} -> {e['refit']:.4f}"
        lines.append(f"| {t['pipeline']} | {t['time_limit']} | {t.get('batchnorm', True)} | {t['sparsity']} | "
                     f"{t['resolution']} | "
                     f"{t['eval_size']} / {t['calib_size']} "
                     f"| {a['decided']:.4f} | {a['refit']:.4f} | {errors} | {r['gain']['ou_activations']:.2f}x | "
                     f"{r['gain']['crossbars']:.2f}x | {r['valid'] and r['exact']} | {r['wall_time']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sparsities", nargs="+", type=float, default=list(SPARSITIES))
    ap.add_argument("--pipeline", default="orc")
    ap.add_argument("--eval-size", type=int, default=1000)
    ap.add_argument("--calib-size", type=int, default=256)
    ap.add_argument("--resolution", type=int, default=96)
    ap.add_argument("--time-limit", type=float, default=1.0, help="seconds per stage and layer")
    ap.add_argument("--batchnorm", action="store_true", help="re-estimate batch norms on the calibration images")
    ap.add_argument("--jsonl", type=Path, default=JSONL, help="results file (resumable)")
    args = ap.parse_args(argv)
    tasks = [{"pipeline": args.pipeline, "sparsity": s, "eval_size": args.eval_size, "calib_size": args.calib_size,
              "resolution": args.resolution, "time_limit": args.time_limit, "quantization": "per_channel",
              "batchnorm": args.batchnorm}
             for s in args.sparsities]
    run_bench(tasks, run_task, args.jsonl, jobs=1)
    records = list(latest_by_key(read_results(args.jsonl)).values())  # every setting run so far, not only these
    command = "python experiments/efficientnet_fidelity.py " + " ".join(sys.argv[1:] if argv is None else argv)
    MD.write_text(markdown(records, command.strip()))
    print(MD.read_text())


if __name__ == "__main__":
    main()
