"""Every method of every problem through the real command line, on one bundled layer.

Run: ``python experiments/cli_methods.py [--layer instances/resnet20/layer2.1.conv1.npz] [--time-limit 10]``

The layer (80 % sparse ResNet-20, float weights kept) is written once per problem with that
problem's hardware preset, then ``mapopt solve FILE --problem P --method M --json`` runs for each
method. The table gives status, objective, the simulator's figure for that objective
(``cost.ou_activations``, or ``error.l1`` for reuse clustering), bound, valid, exact and wall time;
``match`` says objective == simulator figure. Writes ``experiments/results/cli_methods.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from mapopt.hardware import preset
from mapopt.instance import Instance, read_instance, write_instance
from mapopt.layer import Layer
from mapopt.problems import methods, objective_kind

ROOT = Path(__file__).resolve().parents[1]
#: problem -> hardware preset of its instance
PRESETS = {"baseline": "orc", "filter-ordering": "orc", "bitslice-packing": "bitslice",
           "pattern-placement": "pattern", "reuse-clustering": "reuse"}


def instance_for(src: Instance, problem: str) -> Instance:
    """The layer under `problem`'s preset; pattern pruning and reuse start from the unpruned weights."""
    layer = src.layer
    if problem in ("pattern-placement", "reuse-clustering"):
        layer = Layer.from_weights(layer.weight, layer.name)
    return Instance(layer, preset(PRESETS[problem]))


def run(path: Path, problem: str, method: str, time_limit: float) -> dict:
    cmd = [sys.executable, "-m", "mapopt.cli", "solve", str(path), "--problem", problem, "--method", method,
           "--time-limit", str(time_limit), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout)


def figure(res: dict, problem: str):
    """The simulator's figure that `problem`'s objective must equal."""
    if objective_kind(problem) == "error_l1":
        return res["error"]["l1"]
    return res["cost"]["ou_activations"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layer", type=Path, default=ROOT / "instances" / "resnet20" / "layer2.1.conv1.npz")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "cli_methods.md")
    args = ap.parse_args(argv)
    src = read_instance(args.layer)
    lines = ["# Every method through `mapopt solve --json`", "",
             f"Command: `python experiments/cli_methods.py {' '.join(sys.argv[1:])}`".rstrip(), "",
             f"Layer `{src.name}` ({args.layer.relative_to(ROOT) if args.layer.is_relative_to(ROOT) else args.layer}), "
             f"time limit {args.time_limit} s. `figure` = the simulator's `cost.ou_activations` "
             "(reuse clustering: its L1 error); `match` = objective equals it.", "",
             "| problem | preset | method | status | objective | figure | match | bound | valid | exact | wall s |",
             "|---|---|---|---|---:|---:|---|---:|---|---|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for problem, name in PRESETS.items():
            path = write_instance(Path(tmp) / f"{problem}.npz", instance_for(src, problem))
            for method in methods(problem):
                res = run(path, problem, method, args.time_limit)
                if "error" in res and "status" not in res:
                    lines.append(f"| {problem} | {name} | {method} | error: {res['error']} | | | | | | | |")
                    continue
                fig = figure(res, problem)
                lines.append(f"| {problem} | {name} | {method} | {res['status']} | {res['objective']} | {fig} | "
                             f"{res['objective'] == fig} | {res['bound']} | {res['valid']} | {res['exact']} | "
                             f"{res['wall_time']:.2f} |")
                print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
