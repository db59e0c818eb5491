"""Whole ImageNet-scale networks through `mapopt map`: time per stage, peak memory, validity, gains.

Run: ``python experiments/network_scale.py [--networks efficientnet-lite0 synthetic:resnet50 ...] [--pipelines full]
[--time-limit SECONDS]``

Networks by the names `mapopt.models.read_weights` knows: ``efficientnet-lite0`` (real ImageNet weights,
unpruned and at 50 %), and the seeds' networks at their real shapes with synthetic weights
(``synthetic:resnet18|resnet50|vgg16|mobilenet_v2``, 80 % magnitude-pruned: the seeds' headline
sparsity). Each setting runs in its own process, one layer at a time (so peak RSS is that setting's
own), with ``--time-limit`` seconds per stage and layer (``mapopt map --time-limit``; default none: the
default methods' own budgets). Per stage the summed wall time of that
stage over the layers; "rest" is import, mapping, simulation and the dense baseline. Targets of the
networks issue (2 cores): ResNet-50 shapes <= 10 min, VGG16 shapes <= 30 min, EfficientNet-Lite0 <= 5 min,
peak memory < 8 GiB. Records go to ``results/network_scale.jsonl`` (rerun to resume); the table to
``experiments/results/network_scale.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from mapopt.bench import run_bench
from mapopt.bench.runner import latest_by_key, read_results

ROOT = Path(__file__).resolve().parents[1]
JSONL = ROOT / "results" / "network_scale.jsonl"
MD = ROOT / "experiments" / "results" / "network_scale.md"
#: (network, sparsity): real weights unpruned and pruned, synthetic ones at the seeds' 80 %
SETTINGS = [("efficientnet-lite0", 0.0), ("efficientnet-lite0", 0.5), ("synthetic:mobilenet_v2", 0.8),
            ("synthetic:resnet18", 0.8), ("synthetic:resnet50", 0.8), ("synthetic:vgg16", 0.8)]
TARGET_MINUTES = {"efficientnet-lite0": 5, "synthetic:resnet50": 10, "synthetic:vgg16": 30}


def measure(task: dict) -> dict:
    """Map one network in this process; the report's figures, stage times and this process's peak RSS."""
    from mapopt.pipeline import map_network, parse

    pipe = parse(task["pipeline"], time_limit=task["time_limit"])
    with tempfile.TemporaryDirectory() as tmp:
        report = map_network(task["network"], pipe, task["sparsity"], workdir=tmp)
    layers = report["layers"]
    stages = {s["stage"]: 0.0 for s in layers[0]["stages"]}
    for layer in layers:
        for s in layer["stages"]:
            stages[s["stage"]] += s["wall_time"]
    biggest = max(layers, key=lambda l: l["dense"]["crossbars"])
    return {"valid": report["valid"], "exact": report["exact"], "layers": len(layers),
            "depthwise": sum(l["kind"] == "depthwise" for l in layers), "largest": biggest["name"],
            "largest_shape": biggest["shape"], "stage_seconds": stages, "wall_time": report["wall_time"],
            "gain": report["gain"], "totals": report["totals"],
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def run_task(task: dict) -> dict:
    """`measure` in a fresh process, so the peak memory is this setting's alone."""
    proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(task)], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(records: list[dict], command: str) -> str:
    lines = ["# Whole networks at ImageNet scale: time per stage and peak memory", "",
             f"Command: `{command}`; one process per setting, one layer at a time, shared 2-core machine.", "",
             "`efficientnet-lite0`: real ImageNet weights (registry package). `synthetic:*`: **synthetic weights on "
             "real shapes** (published layer shapes, seeded He-scaled normal weights, magnitude-pruned): time and "
             "memory only, no network's gains. Gains are against the dense conventional mapping on the same "
             "hardware. Stage columns: summed wall seconds of that stage over all layers; rest: import, layout, "
             "simulation and the dense baseline.", "",
             "| network | sparsity | pipeline | time limit s | layers (depthwise) | largest layer | valid and exact | "
             "stages s | "
             "rest s | wall s | target | peak RSS GiB | OU gain | crossbar gain |",
             "|---|---:|---|---:|---:|---|---|---|---:|---:|---|---:|---:|---:|"]
    for r in records:
        t = r["task"]
        if r.get("status") == "error":
            lines.append(f"| {t['network']} | {t['sparsity']} | {t['pipeline']} | {t['time_limit']} | error: "
                         f"{r['error']} ||||||||||")
            continue
        stages = ", ".join(f"{s} {v:.1f}" for s, v in r["stage_seconds"].items())
        target = TARGET_MINUTES.get(t["network"])
        met = "-" if target is None else f"<= {target} min: {'met' if r['wall_time'] <= 60 * target else 'missed'}"
        lines.append(f"| {t['network']} | {t['sparsity']} | {t['pipeline']} | {t['time_limit'] or '-'} | "
                     f"{r['layers']} ({r['depthwise']}) | "
                     f"{r['largest']} {r['largest_shape']} | {r['valid'] and r['exact']} | {stages} | "
                     f"{r['wall_time'] - sum(r['stage_seconds'].values()):.1f} | {r['wall_time']:.1f} | {met} | "
                     f"{r['peak_rss_gib']:.2f} | {r['gain']['ou_activations']:.2f}x | {r['gain']['crossbars']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", nargs="+", default=None, help="names (default: every setting)")
    ap.add_argument("--pipelines", nargs="+", default=["full"])
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per stage and layer (default none)")
    ap.add_argument("--jsonl", type=Path, default=JSONL, help="results file (resumable)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a task as JSON: measure it in this process
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return
    tasks = [{"network": n, "sparsity": s, "pipeline": p, "time_limit": args.time_limit} for n, s in SETTINGS
             for p in args.pipelines
             if args.networks is None or n in args.networks]
    run_bench(tasks, run_task, args.jsonl, jobs=1)
    records = list(latest_by_key(read_results(args.jsonl)).values())  # every setting run so far, not only these
    command = "python experiments/network_scale.py " + " ".join(sys.argv[1:] if argv is None else argv)
    MD.write_text(markdown(records, command.strip()))
    print(MD.read_text())


if __name__ == "__main__":
    main()
