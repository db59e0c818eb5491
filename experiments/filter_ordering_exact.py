"""Filter ordering, heuristics against exact solvers on sub-instances of real layers.

Run: ``python experiments/filter_ordering_exact.py [--time-limit 60] [--jobs 2]`` (full), or
``python experiments/filter_ordering_exact.py --quick`` (10 s, 16 to 32 filters).

Sub-instances take the first ``k`` filters (all rows) of real conv layers at 80 % sparsity
(``instances/``; by default the largest of ResNet-20 and of ResNet-8, 64 filters x 576 rows),
for ``k`` in 16, 24, 32, 48, 64 (as far as the layer has filters), under three group sizes at ``h = 9``: ``g = 2`` (``orc`` preset), ``g = 4``
(``orc`` with 4-bit cells, slices 3 + 4, and an 8-bit ADC so 9 rows of 4-bit cells read
unclipped), ``g = 8`` (``orc`` with one crossbar set per slice). Every heuristic (natural,
sort, greedy, matching, local-search, anneal, multistart, lns, and mtkahypar when installed)
and both exact methods (``cpsat``, ``milp``) run through `mapopt.solve` (so every mapping
is validated and executed bit-exactly by the simulator) with ``--time-limit`` seconds and
one worker; sub-instances and methods run in parallel (``--jobs``).

The best proven bound of a sub-instance is the largest bound any method reports (the cheap
bounds, or CP-SAT's and HiGHS's proven bounds); the optimum is known where some grouping
reaches it. Tables: each method's objective, gap to the best bound and to the optimum,
time; and where CP-SAT stops proving optimality. Results go to
``results/filter_ordering/exact[_quick].jsonl`` (resumable), tables to ``exact[_quick].md``,
``.json``, ``.csv``, figures to ``exact[_quick]_*.png``; the markdown is also copied to
``experiments/results/filter_ordering/`` (only when ``--out`` is the default).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.instance import Instance, read_instance
from mapopt.layer import Layer
from mapopt.solve import solve

from filter_ordering_layers import spec_for  # the same hardware per g as the layers study

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "filter_ordering"
COMMITTED = ROOT / "experiments" / "results" / "filter_ordering"
PROBLEM = "filter-ordering"

HEURISTICS = ["natural", "sort", "greedy", "matching", "local-search", "anneal", "multistart", "lns", "mtkahypar"]
EXACT = ["cpsat", "milp"]
# the largest conv layers (64 filters x 576 rows); --layers takes others, e.g. the 32-filter
# instances/resnet20/layer2.0.conv2.npz and instances/resnet8/model.conv2d_4.Conv2D.npz
LAYERS = ["instances/resnet20/layer3.0.conv2.npz", "instances/resnet8/model.conv2d_7.Conv2D.npz"]
SIZES = [16, 24, 32, 48, 64]
QUICK = {"time_limit": 10.0, "sizes": [16, 24, 32], "layers": LAYERS}


def sub_layer(layer: Layer, k: int) -> Layer:
    """The first `k` filters of `layer` (all rows), with their scales and float weights."""
    scale = layer.scale if layer.scale.shape == (1,) else layer.scale[:k]
    weight = None if layer.weight is None else layer.weight[:k]
    return Layer(f"{layer.name}[:{k}]", layer.kind, layer.quantized[:k], scale, layer.weight_bits, weight)


def run_task(task: dict) -> dict:
    layer = sub_layer(read_instance(ROOT / task["file"]).layer, task["k"])
    inst = Instance(layer, spec_for(task["g"]))
    r = solve(inst, PROBLEM, task["method"], time_limit=task["time_limit"], seed=task["seed"], workers=task["workers"])
    s = r.summary()
    return {"objective": s["objective"], "bound": s["bound"], "status": s["status"], "wall_time": s["wall_time"],
            "valid": s["valid"], "exact": s["exact"], "crossbars": (s["cost"] or {}).get("crossbars"),
            "rows": r.stats.get("rows"),
            "n": layer.n_inputs, "m": layer.n_outputs}


# ----------------------------------------------------------------------------------------------- report

def instances_of(records: list[dict]) -> list[dict]:
    """One entry per sub-instance: its methods' records, best bound, best objective, optimum if known."""
    out: dict[tuple, dict] = {}
    for r in records:
        t = r["task"]
        key = (t["layer"], t["k"], t["g"])
        e = out.setdefault(key, {"layer": t["layer"], "k": t["k"], "g": t["g"], "methods": {}})
        e["methods"][t["method"]] = r
    for e in out.values():
        ok = [r for r in e["methods"].values() if r.get("status") != "error" and r.get("objective") is not None]
        e["best_bound"] = max((r["bound"] for r in ok), default=None)
        e["best_objective"] = min((r["objective"] for r in ok), default=None)
        e["optimum"] = e["best_objective"] if ok and e["best_objective"] == e["best_bound"] else None
    return sorted(out.values(), key=lambda e: (e["g"], e["layer"], e["k"]))


def gap(obj, ref) -> float | None:
    return None if obj is None or ref is None or obj == 0 else 100.0 * (obj - ref) / obj


def fmt(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(insts: list[dict], methods: list[str], args, command: str) -> str:
    lines = ["# Filter ordering: heuristics against exact solvers on sub-instances of real layers", "",
             f"Command: `{command}`", "",
             f"First k filters (all rows) of real conv layers at 80 % sparsity; h = 9; time limit {args.time_limit} s "
             f"per method, {args.workers} worker(s); seed {args.seed}. Objective = OU activations per input vector "
             "(simulator count; every mapping validated and executed bit-exactly). `bound` = best proven lower bound "
             "over all methods; `opt` = the optimum where some grouping reaches that bound. Gap = (objective - "
             "reference) / objective, in %.", ""]
    bad = [(e["layer"], e["k"], e["g"], m) for e in insts for m, r in e["methods"].items()
           if r.get("status") != "error" and not (r.get("valid") and r.get("exact"))]
    errors = [(e["layer"], e["k"], e["g"], m, r.get("error")) for e in insts for m, r in e["methods"].items()
              if r.get("status") == "error"]
    lines += [f"Invalid or inexact mappings: {len(bad)}{' ' + str(bad[:5]) if bad else ''}. "
              f"Failed runs: {len(errors)}{' ' + str(errors[:3]) if errors else ''}.", ""]
    # summary per g and method
    lines += ["## Summary per g and method", "",
              "mean gap to the best bound; `at opt` = sub-instances where the method reaches the known optimum, of "
              "those with a known optimum; `best` = sub-instances where it matches the best objective found.", "",
              "| g | method | n | mean gap to bound % | max gap to bound % | at opt | best | mean time s | max time s |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in sorted({e["g"] for e in insts}):
        es = [e for e in insts if e["g"] == g]
        for m in methods:
            rs = [(e, e["methods"].get(m)) for e in es]
            rs = [(e, r) for e, r in rs if r is not None and r.get("status") != "error" and r.get("objective") is not None]
            if not rs:
                continue
            gaps = [gap(r["objective"], e["best_bound"]) for e, r in rs]
            known = [(e, r) for e, r in rs if e["optimum"] is not None]
            lines.append(f"| {g} | {m} | {len(rs)} | {np.mean(gaps):.2f} | {max(gaps):.2f} | "
                         f"{sum(r['objective'] == e['optimum'] for e, r in known)}/{len(known)} | "
                         f"{sum(r['objective'] == e['best_objective'] for e, r in rs)}/{len(rs)} | "
                         f"{np.mean([r['wall_time'] for _, r in rs]):.2f} | {max(r['wall_time'] for _, r in rs):.2f} |")
    # where CP-SAT stops proving
    lines += ["", "## Where CP-SAT (and HiGHS) stop proving optimality", "",
              "| g | layer | k | cpsat status | cpsat obj | cpsat bound | cpsat gap % | cpsat s | milp status | "
              "milp obj | milp bound | milp s | best obj | best bound | proven gap % |",
              "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for e in insts:
        c, mi = e["methods"].get("cpsat", {}), e["methods"].get("milp", {})
        lines.append(f"| {e['g']} | {e['layer']} | {e['k']} | {c.get('status', '-')} | {c.get('objective', '-')} | "
                     f"{c.get('bound', '-')} | {fmt(gap(c.get('objective'), c.get('bound')))} | "
                     f"{fmt(c.get('wall_time'))} | {mi.get('status', '-')} | {mi.get('objective', '-')} | "
                     f"{mi.get('bound', '-')} | {fmt(mi.get('wall_time'))} | {e['best_objective']} | {e['best_bound']} | "
                     f"{fmt(gap(e['best_objective'], e['best_bound']))} |")
    lines += ["", "Largest k CP-SAT proves optimal (all sizes up to it proven), per g and layer:", ""]
    for g in sorted({e["g"] for e in insts}):
        for layer in sorted({e["layer"] for e in insts}):
            es = [e for e in insts if e["g"] == g and e["layer"] == layer]
            proven = [e["k"] for e in es if e["methods"].get("cpsat", {}).get("status") == "optimal"]
            first_fail = min((e["k"] for e in es if e["methods"].get("cpsat", {}).get("status") != "optimal"),
                             default=None)
            lines.append(f"- g = {g}, {layer}: proven optimal at k = {sorted(proven) or 'none'}; "
                         f"first unproven k = {first_fail if first_fail is not None else 'none (all proven)'}")
    # full objective / gap / time tables
    for g in sorted({e["g"] for e in insts}):
        es = [e for e in insts if e["g"] == g]
        lines += ["", f"## g = {g}: objective (gap to best bound %, gap to optimum % where known) and time", ""]
        lines += ["| layer | k | " + " | ".join(methods) + " | bound | opt |",
                  "|---|---:|" + "|".join(["---:"] * (len(methods) + 2)) + "|"]
        for e in es:
            cells = []
            for m in methods:
                r = e["methods"].get(m)
                if r is None or r.get("status") == "error" or r.get("objective") is None:
                    cells.append("-" if r is None else "err")
                    continue
                go = gap(r["objective"], e["optimum"]) if e["optimum"] is not None else None
                cells.append(f"{r['objective']} ({fmt(gap(r['objective'], e['best_bound']))}"
                             f"{'; ' + fmt(go) if go is not None else ''}) {r['wall_time']:.1f}s")
            lines.append(f"| {e['layer']} | {e['k']} | " + " | ".join(cells) +
                         f" | {e['best_bound']} | {e['optimum'] if e['optimum'] is not None else '-'} |")
    return "\n".join(lines)


def figures(insts: list[dict], methods: list[str], out: Path, stem: str) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (pip install 'mapopt[plots]'): no figures", file=sys.stderr)
        return []
    gs = sorted({e["g"] for e in insts})
    layers = sorted({e["layer"] for e in insts})
    fig, axes = plt.subplots(len(layers), len(gs), figsize=(5 * len(gs), 3.6 * len(layers)), squeeze=False)
    for i, layer in enumerate(layers):
        for j, g in enumerate(gs):
            ax = axes[i][j]
            es = [e for e in insts if e["g"] == g and e["layer"] == layer]
            ks = [e["k"] for e in es]
            for m in methods:
                ys = [gap(e["methods"].get(m, {}).get("objective"), e["best_bound"]) for e in es]
                if any(y is not None for y in ys):
                    ax.plot(ks, [np.nan if y is None else y for y in ys], marker="o", ms=3, label=m)
            ax.set_title(f"{layer}, g = {g}", fontsize=8)
            ax.set_xlabel("filters k")
            ax.set_ylabel("gap to best bound (%)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    p = out / f"{stem}_gaps.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


def write_csv(records: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["layer", "k", "g", "method", "status", "objective", "bound", "wall_time", "valid", "exact",
                    "crossbars", "rows"])
        for r in records:
            t = r["task"]
            w.writerow([t["layer"], t["k"], t["g"], t["method"], r.get("status"), r.get("objective"), r.get("bound"),
                        r.get("wall_time"), r.get("valid"), r.get("exact"), r.get("crossbars"), r.get("rows")])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 s per method, k in 16/24/32")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per method (default 60; quick 10)")
    ap.add_argument("--sizes", nargs="+", type=int, default=None)
    ap.add_argument("--layers", nargs="+", default=None, help="instance files (relative to the repository)")
    ap.add_argument("--g", nargs="+", type=int, default=[2, 4, 8])
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="workers per solver (CP-SAT threads, joblib starts)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = QUICK["time_limit"] if args.quick else 60.0
    sizes = args.sizes or (QUICK["sizes"] if args.quick else SIZES)
    layers = args.layers or (QUICK["layers"] if args.quick else LAYERS)
    methods = args.methods or [*HEURISTICS, *EXACT]
    try:
        import mtkahypar  # noqa: F401
    except ImportError:
        methods = [m for m in methods if m != "mtkahypar"]
        print("mtkahypar not installed: method skipped", file=sys.stderr)
    stem = "exact_quick" if args.quick else "exact"
    tasks = []
    for f in layers:
        layer = read_instance(ROOT / f).layer
        for g in args.g:
            for k in sizes:
                if k > layer.n_outputs:
                    continue
                for m in methods:
                    tasks.append({"file": f, "layer": layer.name, "k": k, "g": g, "method": m,
                                  "time_limit": args.time_limit, "seed": args.seed, "workers": args.workers})
    # long exact runs first, so the parallel tail is short
    tasks.sort(key=lambda t: (t["method"] not in EXACT, -t["k"]))
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records = run_bench(tasks, run_task, args.out / f"{stem}.jsonl", jobs=args.jobs)
    print(f"{len(tasks)} tasks in {time.perf_counter() - start:.1f} s (this call)", file=sys.stderr)
    insts = instances_of(records)
    command = "python experiments/filter_ordering_exact.py " + " ".join(sys.argv[1:] if argv is None else argv)
    md = markdown(insts, methods, args, command.strip())
    (args.out / f"{stem}.md").write_text(md + "\n")
    (args.out / f"{stem}.json").write_text(json.dumps(
        [{k: v for k, v in e.items() if k != "methods"} |
         {"methods": {m: {f: r.get(f) for f in ("status", "objective", "bound", "wall_time", "valid", "exact",
                                                 "crossbars", "rows", "error")}
                      for m, r in e["methods"].items()}} for e in insts], indent=1) + "\n")
    write_csv(records, args.out / f"{stem}.csv")
    figs = figures(insts, methods, args.out, stem)
    if args.out.resolve() == OUT.resolve():  # a run elsewhere (--out) leaves the committed tables alone
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / f"{stem}.md", COMMITTED / f"{stem}.md")
    print(md)
    print("wrote", ", ".join(str(p) for p in [args.out / f"{stem}.md", args.out / f"{stem}.json",
                                               args.out / f"{stem}.csv", *figs]))


if __name__ == "__main__":
    main()
