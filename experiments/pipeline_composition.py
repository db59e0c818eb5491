"""Composed pipelines (reuse or pattern pruning, then grouping and packing) against each stage alone.

Run: ``python experiments/pipeline_composition.py [--networks resnet20 resnet32] [--jobs 2]``

Every setting maps the bundled 80 %-pruned instances (``instances/<network>``) with
`mapopt.pipeline.map_network` (default stage methods; reuse: FasterPAM, theta 0.25 unless the
setting says otherwise) onto one hardware preset, so settings on the same preset compare:

- ``bitslice`` (ADC 1/3 b): ``full`` (group, pack; lossless), ``reuse,pack``, ``prap`` (reuse,
  group, pack) at theta 0.25 and 0.5 and with identical (lossless) reuse, and ``reuse`` alone,
  whose banded layout ignores the ADC limits (the simulator rejects it: the row shows why pack
  is needed);
- ``orc`` (ADC 6 b): ``orc`` (group), ``reuse`` alone, ``reuse,group``;
- ``reuse`` (PRAP-PIM's hardware): ``reuse`` alone, ``reuse,group``;
- pattern pruning (30 % of kernels removed) placed by its own stage on ``pattern`` hardware, and
  handed to ``group,pack`` on ``bitslice`` hardware.

Records (network totals, gains against dense, summed L1 error, mean stage gaps) go to
``results/pipeline_composition.jsonl`` via `mapopt.bench.run_bench` (rerun to resume); the table to
``experiments/results/pipeline_composition.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mapopt.bench import run_bench
from mapopt.pipeline import map_network, parse

ROOT = Path(__file__).resolve().parents[1]
JSONL = ROOT / "results" / "pipeline_composition.jsonl"
MD = ROOT / "experiments" / "results" / "pipeline_composition.md"
#: (hardware preset, pipeline, stage methods, stage parameters)
SETTINGS = [
    ("bitslice", "full", {}, {}),
    ("bitslice", "reuse,pack", {}, {}),
    ("bitslice", "prap", {}, {}),
    ("bitslice", "prap", {}, {"reuse": {"theta": 0.5}}),
    ("bitslice", "prap", {"reuse": "identical"}, {}),
    ("bitslice", "reuse", {}, {}),
    ("orc", "orc", {}, {}),
    ("orc", "reuse", {}, {}),
    ("orc", "reuse,group", {}, {}),
    ("reuse", "reuse", {}, {}),
    ("reuse", "reuse,group", {}, {}),
    ("pattern", "pattern", {}, {}),
    ("bitslice", "pattern,group,pack", {}, {}),
]


def run_task(task: dict) -> dict:
    """Map one network through one setting; its totals, gains, error and stage gaps."""
    pipe = parse(task["pipeline"], task["methods"], params=task["params"], hardware=task["hardware"])
    report = map_network(ROOT / "instances" / task["network"], pipe)
    layers = report["layers"]
    gaps = {}
    for i, stage in enumerate(pipe.stages):
        values = [layer["stages"][i]["gap"] for layer in layers if layer["stages"][i]["gap"] is not None]
        gaps[stage] = sum(values) / len(values) if values else None
    return {"valid": report["valid"], "exact": report["exact"], "totals": report["totals"],
            "gain": report["gain"], "l1": sum(layer["error"].get("l1", 0) for layer in layers),
            "invalid_layers": sum(not layer["valid"] for layer in layers), "layers": len(layers),
            "mean_gap": gaps, "wall_time": report["wall_time"]}


def label(task: dict) -> str:
    """The setting as a user would type it."""
    extra = [f"--method {k}={v}" for k, v in task["methods"].items()]
    extra += [f"--param {s}.{k}={v}" for s, kv in task["params"].items() for k, v in kv.items()]
    return " ".join([task["pipeline"], *extra])


def markdown(records: list[dict], command: str) -> str:
    """One table per network: settings grouped by hardware preset."""
    seconds = sum(r.get("wall_time", 0.0) for r in records)
    lines = ["# Composed pipelines against their stages alone", "", f"Command: `{command}`; {seconds:.0f} s of mapping "
             "(sum over settings) on a shared 2-core machine.", "",
             "Bundled 80 %-pruned instances; default stage methods (group: local-search, pack: heuristic, reuse: "
             "FasterPAM theta 0.25, per-block allocation, scale 1). Totals per input vector over all layers; gains "
             "are dense / setting on the same hardware; L1 = summed |W' - W| of the declared approximation "
             "(0: the mapping computes the pruned layer itself); mean gap = each stage's gap to its own bound, "
             "averaged over layers; invalid = layers the simulator rejects (then OU figures are not a mapping's).", ""]
    for network in dict.fromkeys(r["task"]["network"] for r in records):
        lines += [f"## {network}", "", "| hardware | pipeline | valid and exact | invalid layers | OU activations | "
                  "OU gain | crossbars | energy gain | L1 error | mean stage gaps | wall s |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
        for r in records:
            if r["task"]["network"] != network:
                continue
            if r.get("status") == "error":
                lines.append(f"| {r['task']['hardware']} | {label(r['task'])} | error: {r['error']} |||||||||")
                continue
            gaps = ", ".join(f"{s} {g:.3f}" for s, g in r["mean_gap"].items() if g is not None)
            lines.append(f"| {r['task']['hardware']} | {label(r['task'])} | {r['valid'] and r['exact']} | "
                         f"{r['invalid_layers']}/{r['layers']} | {r['totals']['ou_activations']} | "
                         f"{r['gain']['ou_activations']:.2f}x | {r['totals']['crossbars']} | "
                         f"{r['gain']['energy']:.2f}x | {r['l1']} | {gaps} | {r['wall_time']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", nargs="+", default=["resnet20", "resnet32"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--jsonl", type=Path, default=JSONL, help="results file (resumable)")
    args = ap.parse_args(argv)
    tasks = [{"network": n, "hardware": hw, "pipeline": spec, "methods": m, "params": p}
             for n in args.networks for hw, spec, m, p in SETTINGS]
    records = run_bench(tasks, run_task, args.jsonl, jobs=args.jobs)
    command = "python experiments/pipeline_composition.py " + " ".join(sys.argv[1:] if argv is None else argv)
    MD.write_text(markdown(records, command.strip()))
    print(MD.read_text())


if __name__ == "__main__":
    main()
