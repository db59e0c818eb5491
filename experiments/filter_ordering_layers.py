"""Filter ordering on real layers: OU activations and crossbars against dense, ORC and the lower bound.

Run: ``python experiments/filter_ordering_layers.py [--jobs 2] [--time-limit 2] [--validate]``.

Every conv layer of ResNet-20/32/44 (CIFAR-10, akamaster weights) and of the MLPerf-Tiny
ResNet-8, magnitude-pruned to 80 % and 90 % (bundled ``instances/`` where present, the
other networks imported on the fly from ``../shared/weights`` into
``results/filter_ordering/cache/``), is mapped under three group sizes at ``h = 9``:

- ``g = 2``: the ``orc`` preset (2-bit cells, four adjacent slices, OU 9 x 8);
- ``g = 4``: ``orc`` with 4-bit cells (slices 3 + 4 bits, adjacent) and an 8-bit ADC
  (9 rows of 4-bit cells sum to 135, beyond the preset's 6 bits; the ADC does not change OUs);
- ``g = 8``: ``orc`` with one crossbar set per slice (``per_crossbar``).

Per layer: ``dense`` (conventional mapping, every OU tile fires) and ``orc`` (row-tiled ORC
in natural filter order) from the baseline problem; ``natural`` (compact ORC layout, natural
order), the heuristics ``greedy``, ``matching``, ``local-search``, ``multistart``,
``anneal`` and ``mtkahypar`` (when installed; its raw partition is reported as
``mtkahypar-raw``), and the combined lower bound (`slot_bound`). Each method runs with
``--time-limit`` seconds, one worker; layers run in parallel (``--jobs``, joblib). The same
is repeated on a control whose quantized entries (and float weights, alike) are shuffled
within each layer with a fixed seed: same sparsity, no structure.

OU activations are the simulator's count (`mapopt.sim.cost`) of each method's mapping,
checked against the objective the method claims; ``--validate`` also runs the full
validation and bit-exact execution of every mapping (slower). Results go to
``results/filter_ordering/layers.jsonl`` (resumable: rerun to finish an interrupted run),
tables to ``layers.md``, ``layers_totals.json``, ``layers.csv``, figures to ``layers_*.png``;
the markdown table is also copied to ``experiments/results/filter_ordering/layers.md`` (only when
``--out`` is the default).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench, summary_table
from mapopt.engines import partition_search as search
from mapopt.hardware import preset
from mapopt.instance import Instance, instance_files, read_instance
from mapopt.layer import Layer
from mapopt.solve import decide
from mapopt.problems.filter_ordering import methods as fo
from mapopt.problems.contract import Run
from mapopt.problems.filter_ordering.problem import hypergraph, outcome, scale, slot_bound, to_mapping
from mapopt.sim import cost, simulate

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared" / "weights"
AKAMASTER = WEIGHTS / "resnet_cifar10_akamaster"
OUT = ROOT / "results" / "filter_ordering"
COMMITTED = ROOT / "experiments" / "results" / "filter_ordering"
SEED = 20240601

# (network, sparsity) -> bundled instance directory, or the weights file to import
NETWORKS = {
    ("resnet20", 0.8): ROOT / "instances" / "resnet20",
    ("resnet20", 0.9): ROOT / "instances" / "resnet20_s90",
    ("resnet32", 0.8): ROOT / "instances" / "resnet32",
    ("resnet32", 0.9): AKAMASTER / "resnet32-d509ac18.th",
    ("resnet44", 0.8): ROOT / "instances" / "resnet44",
    ("resnet44", 0.9): AKAMASTER / "resnet44-014dd654.th",
    ("resnet8", 0.8): ROOT / "instances" / "resnet8",
    ("resnet8", 0.9): WEIGHTS / "mlperf_tiny" / "ic_resnet8" / "pretrainedResnet_quant.tflite",
}
HEURISTICS = ["greedy", "matching", "local-search", "multistart", "anneal", "mtkahypar"]
BASELINES = ["dense", "orc"]


def spec_for(g: int):
    """The hardware giving `g` filters per OU column group at h = 9 (see the module docstring)."""
    if g == 2:
        return preset("orc")
    if g == 4:
        return preset("orc").replace(cell_bits=4, adc_bits=8)
    if g == 8:
        return preset("orc").replace(slice_layout="per_crossbar")
    raise ValueError(f"no hardware for g = {g}; choose 2, 4 or 8")


def shuffled(layer: Layer, seed: int) -> Layer:
    """The layer with its quantized entries (and float weights, by the same permutation) shuffled."""
    rng = np.random.default_rng([seed, zlib.crc32(layer.name.encode())])
    perm = rng.permutation(layer.quantized.size)
    q = layer.quantized.ravel()[perm].reshape(layer.shape)
    w = None if layer.weight is None else layer.weight.ravel()[perm].reshape(layer.shape)
    return Layer(layer.name, layer.kind, q, layer.scale, layer.weight_bits, w)


def network_dir(network: str, sparsity: float) -> Path | None:
    """The instance directory of a network at a sparsity, importing it first if needed (None: no weights)."""
    source = NETWORKS[(network, sparsity)]
    if source.is_dir():
        return source
    out = OUT / "cache" / f"{network}_s{round(sparsity * 100)}"
    if (out / "index.json").is_file():
        return out
    if not source.is_file():
        print(f"skipping {network} at sparsity {sparsity}: {source} is absent", file=sys.stderr)
        return None
    from mapopt.importer import import_model

    shutil.rmtree(out, ignore_errors=True)
    import_model(source, out, sparsity=sparsity, preset="orc", network=f"{network}_s{round(sparsity * 100)}",
                 provenance={"script": "experiments/filter_ordering_layers.py"})
    print(f"imported {network} at sparsity {sparsity} into {out.relative_to(ROOT)}", file=sys.stderr)
    return out


def make_tasks(networks: list[str], sparsities: list[float], gs: list[int], controls: list[str],
               methods: list[str], time_limit: float, seed: int) -> list[dict]:
    tasks = []
    for net in networks:
        for s in sparsities:
            d = network_dir(net, s)
            if d is None:
                continue
            for f in instance_files(d):
                layer = read_instance(f).layer
                if layer.kind != "conv":
                    continue
                for g in gs:
                    for control in controls:
                        tasks.append({"network": net, "sparsity": s, "file": os.path.relpath(f, ROOT),
                                      "layer": layer.name, "g": g, "control": control, "methods": methods,
                                      "time_limit": time_limit, "seed": seed})
    return tasks


def run_task(task: dict, validate: bool = False) -> dict:
    """All methods on one (layer, g, control): objective, crossbars, kept rows and time per method."""
    layer = read_instance(ROOT / task["file"]).layer
    if task["control"] == "shuffled":
        layer = shuffled(layer, task["seed"])
    inst = Instance(layer, spec_for(task["g"]))
    tl, seed = task["time_limit"], task["seed"]
    out = {}

    def record(name, mapping, objective, seconds, **extra):
        c = cost(mapping)
        if c.ou_activations != objective:
            raise AssertionError(f"{name}: objective {objective} but the simulator counts {c.ou_activations}")
        out[name] = {"ous": int(objective), "crossbars": int(c.crossbars), "time": round(seconds, 4), **extra}
        if validate:
            rep = simulate(mapping, inst.layer, seed=seed)
            out[name].update(valid=rep.valid, exact=rep.exact)

    for name in BASELINES:
        t = time.perf_counter()
        r = decide(inst, "baseline", name, time_limit=tl, seed=seed)
        record(name, r.mapping, r.objective, time.perf_counter() - t)
    t = time.perf_counter()
    hg = hypergraph(inst)
    lb = slot_bound(hg)
    bound_time = time.perf_counter() - t
    k = scale(inst)
    # the bound is computed once per layer and handed to every builder
    for name in ["natural", *task["methods"]]:
        if name == "mtkahypar":
            # the registered method's two steps, timed apart: Mt-KaHyPar, then the swap descent
            from mapopt.engines.partition_mtkahypar import available, mtkahypar_blocks

            if not available():
                continue
            t = time.perf_counter()
            raw = mtkahypar_blocks(hg, seed, 1, tl, preset="deterministic")
            raw_time = time.perf_counter() - t
            if raw is None:
                print(f"mtkahypar: no partition within {tl} s; skipped", file=sys.stderr)
                continue
            r = outcome(inst, hg, raw, k * lb)
            record("mtkahypar-raw", to_mapping(inst, r.decision), r.objective, raw_time, rows=int(hg.cost(raw)[1]))
            t = time.perf_counter()
            block = search.local_search(hg, raw, seed, None if tl is None else max(0.0, tl - raw_time))
            polish = time.perf_counter() - t
            r = outcome(inst, hg, block, k * lb)
            record(name, to_mapping(inst, r.decision), r.objective, raw_time + polish, rows=int(hg.cost(block)[1]),
                   polish_time=round(polish, 4))
            continue
        build = getattr(fo, name.replace("-", "_"))
        t = time.perf_counter()
        block, _ = build(hg, Run.starting(tl, seed, 1), lb)
        seconds = time.perf_counter() - t
        r = outcome(inst, hg, block, k * lb)
        record(name, to_mapping(inst, r.decision), r.objective, seconds, rows=int(hg.cost(block)[1]))
    return {"n": inst.layer.n_inputs, "m": inst.layer.n_outputs, "bound": int(k * lb),
            "bound_time": round(bound_time, 4), "results": out}


def _run_plain(task):
    return run_task(task, False)


def _run_validated(task):
    return run_task(task, True)


# ----------------------------------------------------------------------------------------------- report

def totals(records: list[dict]) -> list[dict]:
    """Network totals per (network, sparsity, g, control)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("status") == "error":
            continue
        t = r["task"]
        groups.setdefault((t["network"], t["sparsity"], t["g"], t["control"]), []).append(r)
    rows = []
    for (net, s, g, control), rs in groups.items():
        names = list(rs[0]["results"])
        heur = [h for h in HEURISTICS if h in names]
        row = {"network": net, "sparsity": s, "g": g, "control": control, "layers": len(rs),
               "bound": sum(r["bound"] for r in rs), "bound_time": sum(r["bound_time"] for r in rs)}
        for name in names:
            row[name] = sum(r["results"][name]["ous"] for r in rs)
            row[f"{name}_xbars"] = sum(r["results"][name]["crossbars"] for r in rs)
            row[f"{name}_time"] = round(sum(r["results"][name]["time"] for r in rs), 3)
        best = [min(heur, key=lambda h: (r["results"][h]["ous"], r["results"][h]["crossbars"])) for r in rs]
        row["best"] = sum(r["results"][h]["ous"] for r, h in zip(rs, best))
        row["best_xbars"] = sum(r["results"][h]["crossbars"] for r, h in zip(rs, best))
        row["best_wins"] = {h: best.count(h) for h in heur}
        others = [h for h in heur if h != "mtkahypar"]
        if "mtkahypar" in names and others:
            # layers where mtkahypar beats every other heuristic (the target: none)
            row["mtkahypar_only_best_layers"] = sum(
                r["results"]["mtkahypar"]["ous"] < min(r["results"][h]["ous"] for h in others) for r in rs)
        rows.append(row)
    return rows


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f}" if b else "-"


def markdown(rows: list[dict], records: list[dict], args) -> str:
    heur = [h for h in HEURISTICS if rows and h in rows[0]]
    lines = ["# Filter ordering on real layers", "",
             f"Command: `python experiments/filter_ordering_layers.py {' '.join(sys.argv[1:])}`".rstrip(), "",
             f"Conv layers only; h = 9; time limit {args.time_limit} s per method, one worker each; seed {args.seed}. "
             "OU activations per input vector (simulator count), summed over the layers of a network. "
             "`orc` = ORC in natural filter order, row-tiled (baseline problem); `natural` = compact ORC layout in "
             "natural order; `best` = per layer the best heuristic; `gap` = (best - bound) / best; "
             "`vs nat` = OU reduction of `best` (and of `mtkahypar`) against `natural`; "
             "ACR = crossbars(dense) / crossbars(method); OU ratio = OUs(dense) / OUs(method).", ""]
    head = ["network", "sparsity", "g", "control", "layers", "dense", "orc", "natural", *heur, "best", "bound",
            "gap %", "best vs nat %", "mtk vs nat %", "ACR orc", "ACR nat", "ACR best", "OU ratio orc",
            "OU ratio best"]
    lines += ["## Totals", "", "| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * (len(head) - 4)) + "|"]
    for r in rows:
        mtk = r.get("mtkahypar")
        cells = [r["network"], f"{r['sparsity']:.0%}", str(r["g"]), r["control"], str(r["layers"]), str(r["dense"]),
                 str(r["orc"]), str(r["natural"]), *[str(r[h]) for h in heur], str(r["best"]), str(r["bound"]),
                 pct(r["best"] - r["bound"], r["best"]), pct(r["natural"] - r["best"], r["natural"]),
                 pct(r["natural"] - mtk, r["natural"]) if mtk else "-",
                 f"{r['dense_xbars'] / r['orc_xbars']:.2f}", f"{r['dense_xbars'] / r['natural_xbars']:.2f}",
                 f"{r['dense_xbars'] / r['best_xbars']:.2f}", f"{r['dense'] / r['orc']:.2f}",
                 f"{r['dense'] / r['best']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Crossbars (totals)", ""]
    xhead = ["network", "sparsity", "g", "control", "dense", "orc", "natural", *heur, "best"]
    lines += ["| " + " | ".join(xhead) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * (len(xhead) - 4)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join([r["network"], f"{r['sparsity']:.0%}", str(r["g"]), r["control"],
                                        *[str(r[f"{n}_xbars"]) for n in ["dense", "orc", "natural", *heur, "best"]]]) + " |")
    lines += ["", "## Time (s, summed over layers)", ""]
    names = ["natural", *heur] + (["mtkahypar-raw"] if rows and "mtkahypar-raw" in rows[0] else [])
    thead = ["network", "sparsity", "g", "control", "bound", *names]
    lines += ["| " + " | ".join(thead) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * (len(thead) - 4)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join([r["network"], f"{r['sparsity']:.0%}", str(r["g"]), r["control"],
                                        f"{r['bound_time']:.2f}", *[f"{r[f'{n}_time']:.2f}" for n in names]]) + " |")
    lines += ["", "## Which heuristic is best per layer (ties: first in list order)", ""]
    whead = ["network", "sparsity", "g", "control", *heur]
    lines += ["| " + " | ".join(whead) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * len(heur)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join([r["network"], f"{r['sparsity']:.0%}", str(r["g"]), r["control"],
                                        *[str(r["best_wins"].get(h, 0)) for h in heur]]) + " |")
    lines += ["", "## All networks, by g, sparsity and control", ""]
    flat = []
    for r in records:
        if r.get("status") == "error":
            continue
        for name, v in r["results"].items():
            flat.append({"g": r["task"]["g"], "sparsity": r["task"]["sparsity"], "control": r["task"]["control"],
                         "method": name, "ous": v["ous"], "crossbars": v["crossbars"], "time": v["time"]})
    lines += [summary_table(flat, group_by=("g", "sparsity", "control", "method"),
                            columns=("ous", "crossbars", "time"), stats=("sum",)), ""]
    errors = [r for r in records if r.get("status") == "error"]
    if errors:
        lines += [f"{len(errors)} tasks failed, e.g. {errors[0]['error']}", ""]
    return "\n".join(lines)


def figures(rows: list[dict], out: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (pip install 'mapopt[plots]'): no figures", file=sys.stderr)
        return []
    paths = []
    heur = [h for h in HEURISTICS if rows and h in rows[0]]
    for control in ("original", "shuffled"):
        sel = [r for r in rows if r["control"] == control]
        if not sel:
            continue
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=False)
        for ax, g in zip(axes, (2, 4, 8)):
            rs = [r for r in sel if r["g"] == g]
            labels = [f"{r['network']}\n{r['sparsity']:.0%}" for r in rs]
            series = ["orc", "natural", *heur, "bound"]
            x = np.arange(len(rs))
            width = 0.8 / len(series)
            for i, s in enumerate(series):
                ax.bar(x + i * width, [r["natural"] / r[s] for r in rs], width, label=s)
            ax.set_xticks(x + 0.4 - width / 2, labels, fontsize=7)
            ax.axhline(1.0, color="k", lw=0.5)
            ax.set_title(f"g = {g}")
            ax.set_ylabel("OU activations: natural / method")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"Filter ordering, {control} weights (higher is better; 'bound' = the lower bound's ratio)")
        fig.tight_layout()
        p = out / f"layers_ou_{control}.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    orig = {(r["network"], r["sparsity"], r["g"]): r for r in rows if r["control"] == "original"}
    shuf = {(r["network"], r["sparsity"], r["g"]): r for r in rows if r["control"] == "shuffled"}
    keys = [k for k in orig if k in shuf]
    if keys:
        x = np.arange(len(keys))
        ax.bar(x - 0.2, [100 * (orig[k]["natural"] - orig[k]["best"]) / orig[k]["natural"] for k in keys], 0.4,
               label="original")
        ax.bar(x + 0.2, [100 * (shuf[k]["natural"] - shuf[k]["best"]) / shuf[k]["natural"] for k in keys], 0.4,
               label="shuffled control")
        ax.set_xticks(x, [f"{k[0]} {k[1]:.0%} g{k[2]}" for k in keys], rotation=70, fontsize=7)
        ax.set_ylabel("OU reduction of best heuristic vs natural (%)")
        ax.legend()
        fig.tight_layout()
        p = out / "layers_gain_vs_control.png"
        fig.savefig(p, dpi=120)
        paths.append(p)
    plt.close(fig)
    return paths


def write_csv(records: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["network", "sparsity", "layer", "g", "control", "n", "m", "bound", "method", "ous", "crossbars",
                    "rows", "time"])
        for r in records:
            if r.get("status") == "error":
                continue
            t = r["task"]
            for name, v in r["results"].items():
                w.writerow([t["network"], t["sparsity"], t["layer"], t["g"], t["control"], r["n"], r["m"], r["bound"],
                            name, v["ous"], v["crossbars"], v.get("rows", ""), v["time"]])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="parallel layers (joblib processes)")
    ap.add_argument("--time-limit", type=float, default=2.0, help="seconds per method and layer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--networks", nargs="+", default=["resnet20", "resnet32", "resnet44", "resnet8"])
    ap.add_argument("--sparsities", nargs="+", type=float, default=[0.8, 0.9])
    ap.add_argument("--g", nargs="+", type=int, default=[2, 4, 8])
    ap.add_argument("--controls", nargs="+", default=["original", "shuffled"], choices=["original", "shuffled"])
    ap.add_argument("--methods", nargs="+", default=HEURISTICS, choices=HEURISTICS)
    ap.add_argument("--validate", action="store_true", help="also validate and execute every mapping (slower)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = make_tasks(args.networks, args.sparsities, args.g, args.controls, args.methods, args.time_limit, args.seed)
    if not tasks:
        print("no layers to run (is ../shared/weights absent and instances/ empty?)", file=sys.stderr)
        return
    start = time.perf_counter()
    records = run_bench(tasks, _run_validated if args.validate else _run_plain,
                        args.out / ("layers_validated.jsonl" if args.validate else "layers.jsonl"), jobs=args.jobs)
    print(f"{len(tasks)} tasks in {time.perf_counter() - start:.1f} s (this call)", file=sys.stderr)
    rows = totals(records)
    md = markdown(rows, records, args)
    (args.out / "layers.md").write_text(md + "\n")
    (args.out / "layers_totals.json").write_text(json.dumps(rows, indent=1) + "\n")
    write_csv(records, args.out / "layers.csv")
    figs = figures(rows, args.out)
    if args.out.resolve() == OUT.resolve():  # a run elsewhere (--out) leaves the committed tables alone
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "layers.md", COMMITTED / "layers.md")
    print(md)
    print("wrote", ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in
                             [args.out / "layers.md", args.out / "layers_totals.json", args.out / "layers.csv", *figs]))


if __name__ == "__main__":
    main()
