"""Top-1 against sparsity with accuracy in the loop: magnitude pruning, re-fit under each layer's decision,
pruning by output error (OBS) before the re-fit, and rows chosen by output error at the grouping's row counts
(obs-rows: equal OU activations), for each pipeline, beside its hardware gain.

Run: ``python experiments/accuracy_refit.py [--networks resnet20 resnet44] [--eval-size N]``

Each point is one `mapopt.accuracy.map_model` run on an akamaster CIFAR-10 ResNet (``../shared/weights``):
the layers pruned at the sparsity (first and last layer kept: ``keep_ends``), mapped through the pipeline
with its default stage methods, each re-fitted on 1,024 calibration images from the train split
(seeded, class-stratified), batch norm re-estimated on them, and top-1 measured on the test split
(all 10,000 images unless ``--eval-size``): ``float`` (dense), ``decided`` (the pruned or approximated
weights, nothing re-fitted) and ``refit``; relative = mapped / float. Gains are dense / mapped on the same
hardware, of the re-fitted mapping (what the accuracy belongs to). A layer whose decision leaves no weight
free (pattern's linear layer, mapped conventionally) is only batch-norm re-estimated; the column
"re-fitted layers" counts the others.

Records go to ``results/accuracy_refit.jsonl`` (rerun to resume; ``--pipelines``, ``--sparsities`` and
``--prunings`` select points); the table, of every point in that file, to
``experiments/results/accuracy_refit.md``. Skips, with a message, when ``../shared`` is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from mapopt.bench import read_results, run_bench
from mapopt.bench.runner import latest_by_key

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared" / "weights"
DATA = WEIGHTS / "cifar10_jpeg"
CHECKPOINTS = {"resnet20": "resnet20-12fca82f.th", "resnet32": "resnet32-d509ac18.th",
               "resnet44": "resnet44-014dd654.th"}
JSONL = ROOT / "results" / "accuracy_refit.jsonl"
MD = ROOT / "experiments" / "results" / "accuracy_refit.md"
#: (pipeline, sparsities, prunings, stage parameters): the grouping pipelines over a sparsity sweep, the others
#: at their seed's setting (pattern: seed 003's 8 patterns of 4 entries, 30 % of kernels removed; reuse: PRAP's
#: theta 0.25 and seed 004's headline 0.5)
SETTINGS = [("orc", (0.5, 0.7, 0.75, 0.8, 0.9), ("magnitude", "obs", "obs-rows"), {}),
            ("bitslice", (0.8,), ("magnitude", "obs"), {}),
            ("pattern", (0.0,), ("magnitude",), {}),
            ("reuse", (0.0,), ("magnitude",), {}),
            ("prap", (0.8,), ("magnitude",), {}),
            ("reuse", (0.0,), ("magnitude",), {"reuse": {"theta": 0.5}}),
            ("prap", (0.8,), ("magnitude",), {"reuse": {"theta": 0.5}})]
CALIBRATION = 1024


def run_point(task: dict) -> dict:
    """One network, pipeline, sparsity and pruning: accuracy and gains."""
    from mapopt.accuracy import Evaluation, map_model
    from mapopt.images import read_images
    from mapopt.models.cifar import load_resnet
    from mapopt.pipeline import parse

    evaluation = Evaluation(read_images(DATA / "cifar10_test_jpeg.npz", task["eval_size"]),
                            read_images(DATA / "cifar10_train_jpeg.npz", CALIBRATION))
    model = load_resnet(WEIGHTS / "resnet_cifar10_akamaster" / CHECKPOINTS[task["network"]])
    with tempfile.TemporaryDirectory() as tmp:
        report = map_model(model, parse(task["pipeline"], params=task.get("params")), evaluation, tmp,
                           task["sparsity"], task["prune"], keep_ends=True)
    refitted = sum("stage" in layer["refit"] for layer in report["layers"])
    return {"accuracy": {k: report["accuracy"][k] for k in ("metric", "float", "decided", "refit", "seconds")},
            "gain": report["gain"], "valid": report["valid"], "exact": report["exact"],
            "refitted_layers": refitted, "layers": len(report["layers"]), "wall_time": report["wall_time"]}


def markdown(records: list[dict], command: str) -> str:
    """One table per network."""
    ok = [r for r in records if r.get("status") != "error"]
    images = {r["task"]["eval_size"] for r in records}
    lines = ["# Accuracy in the loop: top-1 against sparsity, beside the hardware", "",
             f"Points from runs of `python experiments/accuracy_refit.py` (the last: `{command}`); "
             f"{sum(r['wall_time'] for r in ok):.0f} s in all on a shared 2-core machine.", "",
             "Calibration: 1,024 train-split images (seeded, class-stratified); evaluation: "
             f"{'the whole test split' if images == {None} else f'{images.pop()} test-split images'} "
             "(JPEG-recompressed, so only relative top-1 means something). First and last layer unpruned. "
             "decided = the pruned (or approximated) weights; re-fit = least squares under the decision on the "
             "calibration images, then batch norm re-estimated on them; relative = / float. Gains: dense / "
             "mapped, of the re-fitted mapping, on the pipeline's hardware. Re-fitted layers: those whose decision "
             "leaves weights free (the others are only batch-norm re-estimated). Wall time: the whole run, three "
             "evaluations on the test images included; map + re-fit: without them (import, calibration capture, "
             "mapping, re-fit, batch-norm re-estimation).", ""]
    order = {p: i for i, (p, *_) in enumerate(SETTINGS)}
    prunings = ("magnitude", "obs", "obs-rows")
    records = sorted(records, key=lambda r: (order[r["task"]["pipeline"]], str(r["task"].get("params", "")),
                                             r["task"]["sparsity"], prunings.index(r["task"]["prune"])))
    for network in sorted({r["task"]["network"] for r in records}, key=lambda n: list(CHECKPOINTS).index(n)):
        lines += [f"## {network}", "", "| pipeline | pruning | sparsity | top-1 float | decided (rel.) | re-fit (rel.) | "
                  "OU gain | crossbar gain | energy gain | valid and exact | re-fitted layers | map + re-fit s | wall s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
        for r in records:
            t = r["task"]
            if t["network"] != network:
                continue
            setting = " ".join([t["pipeline"], *(f"{st}.{k}={v}" for st, kv in t.get("params", {}).items()
                                                 for k, v in kv.items())])
            head = f"| {setting} | {t['prune']} | {t['sparsity']:.2f} |"
            if r.get("status") == "error":
                lines.append(f"{head} error: {r['error']} ||||||||||")
                continue
            a, g = r["accuracy"], r["gain"]
            lines.append(f"{head} {a['float']:.4f} | {a['decided']:.4f} ({a['decided'] / a['float']:.3f}) | "
                         f"{a['refit']:.4f} ({a['refit'] / a['float']:.3f}) | {g['ou_activations']:.2f}x | "
                         f"{g['crossbars']:.2f}x | {g['energy']:.2f}x | {r['valid'] and r['exact']} | "
                         f"{r['refitted_layers']}/{r['layers']} | {a['seconds']['mapping_and_refit']:.0f} | "
                         f"{r['wall_time']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", nargs="+", default=["resnet20", "resnet44"], choices=sorted(CHECKPOINTS))
    ap.add_argument("--eval-size", type=int, default=None, help="test images (default: all 10,000)")
    ap.add_argument("--pipelines", nargs="+", help="only these pipelines (default: all of SETTINGS)")
    ap.add_argument("--sparsities", nargs="+", type=float, help="only these sparsities of the sweeps")
    ap.add_argument("--prunings", nargs="+", choices=("magnitude", "obs", "obs-rows"), help="only these prunings")
    ap.add_argument("--jsonl", type=Path, default=JSONL, help="results file (resumable)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"skipped: {DATA} is absent")
    tasks = [{"network": n, "pipeline": p, "sparsity": s, "prune": prune, "eval_size": args.eval_size,
              **({"params": params} if params else {})}
             for n in args.networks for p, sparsities, prunings, params in SETTINGS for s in sparsities for prune in prunings
             if (args.pipelines is None or p in args.pipelines) and (args.prunings is None or prune in args.prunings)
             and (args.sparsities is None or len(sparsities) == 1 or s in args.sparsities)]
    run_bench(tasks, run_point, args.jsonl, jobs=1, progress=True)
    # every point measured so far, earlier selections included; a point retried after an error keeps its last record
    records = list(latest_by_key(read_results(args.jsonl)).values())
    command = "python experiments/accuracy_refit.py " + " ".join(sys.argv[1:] if argv is None else argv)
    MD.parent.mkdir(parents=True, exist_ok=True)
    MD.write_text(markdown(records, command.strip()))
    print(MD.read_text())


if __name__ == "__main__":
    main()
