"""Filter ordering: the proven gap with the old bounds and with the set-partitioning bound, on real layers.

Run: ``python experiments/filter_ordering_bounds.py [--networks resnet20 resnet20_s90] [--gs 2 4 8]
[--heuristic-seconds 2] [--colgen-seconds 30]``.

Every conv layer of the bundled instance directories (``instances/<network>``) and a synthetic 576 x 64
8-bit layer with 80 % of its entries zero (uniform, seed 0) is grouped at ``g = 2, 4, 8`` with the hardware
of ``experiments/filter_ordering_layers.py`` (``h = 9``). Per layer, in one run:

- ``best``: the multi-start grouping (`best_heuristic`, ``--heuristic-seconds``), or the set-partitioning
  MILP's grouping when cheaper;
- ``old``: the bound every method reported before (`slot_bound`: sorted maximum, degree, matching);
- ``new``: the set-partitioning bound (`set_partition_bound`, ``--colgen-seconds``), at least ``old``;
- ``gap = (best - bound) / best`` for each, and the times.

All figures in OU slots (the objective divided by input cycles x OUs across a lane, the same factor for every
grouping of a layer). One process, one layer at a time. Rows go to ``results/filter_ordering/bounds.jsonl``
(resumable); the table to ``experiments/results/filter_ordering/bounds.md``.

``--cli`` also writes the g = 4 instances of ResNet-20 layer3.0.conv2 (576 x 64) and of the synthetic layer to
``results/filter_ordering/`` and runs ``mapopt solve FILE --problem filter-ordering --method M --json`` on them
for ``cpsat``, ``milp`` and ``auto`` (default time limit), recording objective, bound and time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mapopt.engines.partition_colgen import pricing, set_partition_bound
from mapopt.instance import Instance, instance_files, read_instance, write_instance
from mapopt.layer import Layer
from mapopt.problems.contract import Run
from mapopt.problems.filter_ordering.methods import best_heuristic
from mapopt.problems.filter_ordering.problem import hypergraph, slot_bound

sys.path.insert(0, str(Path(__file__).resolve().parent))
from filter_ordering_layers import spec_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "filter_ordering" / "bounds.jsonl"
TABLE = ROOT / "experiments" / "results" / "filter_ordering" / "bounds.md"


def synthetic() -> Layer:
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, size=(576, 64))
    w[rng.random((576, 64)) < 0.8] = 0
    return Layer.from_matrix(w, name="synthetic576x64_s80")


def layers(networks: list[str]):
    for net in networks:
        for f in instance_files(ROOT / "instances" / net):
            layer = read_instance(f).layer
            if layer.kind == "conv":
                yield net, layer
    yield "synthetic", synthetic()


def measure(layer: Layer, g: int, heuristic_seconds: float, colgen_seconds: float) -> dict:
    hg = hypergraph(Instance(layer, spec_for(g)))
    t = time.perf_counter()
    block, _ = best_heuristic(hg, Run.starting(heuristic_seconds))
    t_heur = time.perf_counter() - t
    t = time.perf_counter()
    old = slot_bound(hg, heuristic_seconds)
    t_old = time.perf_counter() - t
    best = hg.cost(block)[0]
    t = time.perf_counter()
    res = set_partition_bound(hg, block, colgen_seconds, bound=old) if g > 1 and best > old else None
    t_new = time.perf_counter() - t
    new = old if res is None else res.bound
    if res is not None and res.objective is not None:
        best = min(best, res.objective)
    return {"filters": hg.n_vertices, "rows": layer.matrix.shape[0], "best": best, "old": old, "new": new,
            "pricing": pricing(hg.n_vertices, g), "lp_optimal": bool(res is not None and res.lp_optimal),
            "t_heuristic": round(t_heur, 2), "t_old": round(t_old, 2), "t_new": round(t_new, 2)}


def cli_runs() -> list[dict]:
    """``mapopt solve`` at g = 4 on two 576 x 64 layers, each exact method and auto, as the issue asks."""
    out = []
    for name, layer in [("resnet20/layer3.0.conv2", read_instance(ROOT / "instances" / "resnet20" /
                                                                  "layer3.0.conv2.npz").layer),
                        ("synthetic576x64_s80", synthetic())]:
        path = OUT.parent / f"{name.replace('/', '_')}_g4.npz"
        write_instance(path, Instance(layer, spec_for(4)))
        for method in ("cpsat", "milp", "auto"):
            cmd = [str(Path(sys.executable).parent / "mapopt"), "solve", str(path), "--problem", "filter-ordering",
                   "--method", method, "--json"]
            t = time.perf_counter()
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            out.append({"layer": name, "method": method, "objective": res["objective"], "bound": res["bound"],
                        "status": res["status"], "wall": round(time.perf_counter() - t, 1)})
            print(out[-1], flush=True)
    return out


def cli_table(runs: list[dict]) -> str:
    lines = ["", "## `mapopt solve LAYER --problem filter-ordering --method M --json` at g = 4", "",
             "OU activations (the CLI's objective), default time limit; wall = the whole command.", "",
             "| layer | method | objective | bound | gap % | status | wall (s) |", "|---|---|---:|---:|---:|---|---:|"]
    for r in runs:
        lines.append(f"| {r['layer']} | {r['method']} | {r['objective']} | {r['bound']} | "
                     f"{gap(r['objective'], r['bound']):.1f} | {r['status']} | {r['wall']} |")
    return "\n".join(lines) + "\n"


def gap(best: int, bound: int) -> float:
    return 100.0 * (best - bound) / best if best else 0.0


def table(rows: list[dict], args) -> str:
    lines = ["# Filter ordering: proven gap, old bounds against the set-partitioning bound", "",
             f"Command: `python experiments/filter_ordering_bounds.py --networks {' '.join(args.networks)} "
             f"--gs {' '.join(map(str, args.gs))} --heuristic-seconds {args.heuristic_seconds} "
             f"--colgen-seconds {args.colgen_seconds}{' --cli' if args.cli else ''}`", "",
             "OU slots (h = 9; g = 2: `orc`, g = 4: `orc` with 4-bit cells, g = 8: `orc` per crossbar). `best`: the "
             "multi-start grouping or the set-partitioning MILP's when cheaper; `old`: the sorted-maximum, degree "
             "and matching bounds (what methods reported before); `new`: the set-partitioning bound by column "
             "generation (`exact`: every group of at most g priced; `halved`: half the bound with groups of g/2); "
             "gap = (best - bound) / best. `proven` counts layers with best = new bound. 2 CPU cores, one process.",
             "", "## Totals", "",
             "| network | g | layers | pricing | best | old bound | gap old % | new bound | gap new % | proven | "
             "worst gap new % | time new (s, sum) |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = sorted({(r["network"], r["g"]) for r in rows}, key=lambda k: (k[0] == "synthetic", k[0], k[1]))
    for net, g in keys:
        sel = [r for r in rows if r["network"] == net and r["g"] == g]
        best, old, new = (sum(r[k] for r in sel) for k in ("best", "old", "new"))
        kinds = "/".join(sorted({r["pricing"] for r in sel}))
        lines.append(f"| {net} | {g} | {len(sel)} | {kinds} | {best} | {old} | {gap(best, old):.1f} | {new} | "
                     f"{gap(best, new):.1f} | {sum(r['best'] == r['new'] for r in sel)} | "
                     f"{max(gap(r['best'], r['new']) for r in sel):.1f} | {sum(r['t_new'] for r in sel):.1f} |")
    lines += ["", "## Per layer", "",
              "| network | layer | filters | g | pricing | best | old | gap old % | new | gap new % | LP proven | "
              "time heuristic (s) | time new (s) |",
              "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["network"] == "synthetic", r["network"], r["g"], r["order"])):
        lines.append(f"| {r['network']} | {r['layer']} | {r['filters']} | {r['g']} | {r['pricing']} | {r['best']} | "
                     f"{r['old']} | {gap(r['best'], r['old']):.1f} | {r['new']} | {gap(r['best'], r['new']):.1f} | "
                     f"{'yes' if r['lp_optimal'] else 'no'} | {r['t_heuristic']} | {r['t_new']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+", default=["resnet20", "resnet20_s90"])
    ap.add_argument("--gs", nargs="+", type=int, default=[2, 4, 8])
    ap.add_argument("--heuristic-seconds", type=float, default=2.0)
    ap.add_argument("--colgen-seconds", type=float, default=30.0)
    ap.add_argument("--cli", action="store_true", help="also run mapopt solve at g = 4 on two 576 x 64 layers")
    args = ap.parse_args()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if OUT.is_file():
        for line in OUT.read_text().splitlines():
            r = json.loads(line)
            done[(r["network"], r["layer"], r["g"], r["heuristic_seconds"], r["colgen_seconds"])] = r
    rows = []
    for order, (net, layer) in enumerate(layers(args.networks)):
        for g in args.gs:
            key = (net, layer.name, g, args.heuristic_seconds, args.colgen_seconds)
            if key not in done:
                r = {"network": net, "layer": layer.name, "g": g, "order": order,
                     "heuristic_seconds": args.heuristic_seconds, "colgen_seconds": args.colgen_seconds,
                     **measure(layer, g, args.heuristic_seconds, args.colgen_seconds)}
                with OUT.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                done[key] = r
                print(f"{net} {layer.name} g={g}: best {r['best']} old {r['old']} new {r['new']} "
                      f"({r['t_new']} s)", flush=True)
            rows.append(done[key])
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(table(rows, args) + (cli_table(cli_runs()) if args.cli else ""))
    print(TABLE.read_text())


if __name__ == "__main__":
    main()
