"""Pattern pruning + pattern block placement on the 3x3 conv layers of ResNet-20/32/44 and ResNet-8.

    python experiments/pattern_layers.py [--jobs 2] [--networks resnet20 resnet32 resnet44 resnet8]
        [--removed 0.3 0.6625] [--pmedian-networks resnet20] [--pmedian-limit 4] [--no-accuracy]

Hardware ``preset('pattern')``: 512x512 crossbars, OU 9x8, 4-bit cells, 8-bit weights in two
adjacent slices (4 filters per OU column group), 1-bit DAC, 8 input cycles.

Per layer (the unpruned float weights of ``instances/<net>``, quantized to 8 bits per layer,
``Layer.from_weights``), one ``Instance(layer, preset('pattern'))``:

- ``dense``: baseline ``dense`` of the unpruned layer (the conventional mapping);
- pattern-placement ``kernel-grouped`` (seed-style), ``kernel-merged``, ``mixed``, ``grouped``,
  ``auto`` with the frequency (PatDNN) pattern selection, 8 patterns of 4 entries, at
  ``removed`` 0.3 (the issue's reference) and 0.6625 (the seed's ~85 % sparsity:
  ``1 - (1 - 0.6625) * 4 / 9 = 0.85``);
- on ``--pmedian-networks`` also ``auto`` with the p-median selection (time limit
  ``--pmedian-limit`` s, which also bounds auto's CP-SAT placement).

Every count is the simulator's cost report (``solve`` validates and executes each mapping
bit-exactly). Bounds: ``r.bound`` (activation bound per input vector) and
``r.solution['crossbar_bound']`` of ``auto`` (max of auto's placement bound, which is a bound for
the chosen formation's blocks only, and ``ceil(activation bound / units per crossbar)``).

Accuracy: ResNet-20 top-1 on the 1000-image CIFAR-10 set with every 3x3 conv replaced by the
auto mapping's reference (``reference * scale``), no fine-tuning, for each selection and ``removed``.

Writes ``results/pattern/layers.jsonl`` (one record per layer and setting), ``results/pattern/layers.json``
(summaries) and ``results/pattern/accuracy.json``; tables in ``experiments/results/pattern/*.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mapopt.bench import resume_records  # noqa: E402
from mapopt.hardware import preset  # noqa: E402
from mapopt.instance import Instance, instance_files, read_instance  # noqa: E402
from mapopt.layer import Layer  # noqa: E402
from mapopt.solve import solve  # noqa: E402

METHODS = ("kernel-grouped", "kernel-merged", "mixed", "grouped", "auto")
SIMPLE = ("kernel-grouped", "kernel-merged", "mixed")
OUT_JSON = ROOT / "results" / "pattern"
OUT_MD = ROOT / "experiments" / "results" / "pattern"
MODEL = ROOT.parent / "shared" / "weights" / "resnet_cifar10_akamaster" / "resnet20-12fca82f.th"


def cost_record(r) -> dict:
    c = r.report.cost
    return {"crossbars": c.crossbars, "ou_activations": c.ou_activations, "cells": c.cells,
            "energy_pj": float(c.energy_pj["total"]), "valid": bool(r.report.valid), "exact": bool(r.report.exact),
            "wall": round(r.wall_time, 3)}


def run_layer(task: tuple) -> dict:
    """Every mapping of one layer at one ``removed``; the ResNet-20 references for the accuracy run."""
    net, file, removed, pmedian, pm_limit, keep_refs = task
    t0 = time.perf_counter()
    src = read_instance(file)
    inst = Instance(Layer.from_weights(src.layer.weight, src.name), preset("pattern"))
    rec = {"network": net, "layer": src.name, "shape": list(src.layer.shape), "removed": removed}
    rec["dense"] = cost_record(solve(inst, "baseline", "dense"))
    refs = {}
    scale = np.broadcast_to(inst.layer.scale, (inst.layer.n_outputs,))
    runs = [(m, "frequency", None) for m in METHODS] + ([("auto", "pmedian", pm_limit)] if pmedian else [])
    for m, sel, limit in runs:
        r = solve(inst, "pattern-placement", m, time_limit=limit, removed=removed, selection=sel)
        d = cost_record(r)
        d.update(bound=int(r.bound), crossbar_bound=int(r.stats["crossbar_bound"]),
                 placement_bound=int(r.stats["placement_bound"]), formation=r.stats["formation"],
                 kept_weight=float(r.stats["kept_weight"]), sparsity=float(r.stats["sparsity"]),
                 index_bits=int(r.stats["index_bits"]), blocks=int(r.stats["blocks"]))
        rec[m if sel == "frequency" else f"{m}-{sel}"] = d
        if keep_refs and m == "auto":
            refs[sel] = (r.mapping.reference * scale[None, :]).astype(np.float32)
    rec["time"] = round(time.perf_counter() - t0, 2)
    return {"record": rec, "refs": refs, "shape": tuple(src.layer.shape)}


def conv3x3_files(net: str) -> list[Path]:
    out = []
    for f in instance_files(ROOT / "instances" / net):
        shape = read_instance(f).layer.shape
        if len(shape) == 4 and shape[2] == 3 and shape[3] == 3:
            out.append(f)
    return out


def fmt(x, nd=2):
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def summarize(records: list[dict], nets: list[str], settings: list[float]) -> tuple[list[dict], list[str]]:
    """Per network and removed: totals per method, ratios vs dense, bounds, target checks."""
    rows, md = [], []
    md.append("# Pattern pruning + placement on ResNet 3x3 conv layers (`preset('pattern')`)\n")
    md.append("Counts from the simulator's cost report, summed over a network's 3x3 conv layers; OU activations "
              "per input vector (8 input cycles); energy in uJ per input vector (`energy_pj['total']`). "
              "Ratio = dense / method. Frequency (PatDNN) selection, 8 patterns of 4 entries. "
              "`act LB` = sum of `r.bound`, `xbar LB` = sum of auto's `crossbar_bound`.\n")
    keys = ["dense", *METHODS]
    for removed in settings:
        md.append(f"\n## removed = {removed}\n")
        md.append("| network | layers | sparsity | method | crossbars | x | OU act | x | cells | x | energy uJ | x | all valid+exact |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for net in nets:
            recs = [r for r in records if r["network"] == net and r["removed"] == removed]
            if not recs:
                continue
            dense = {k: sum(r["dense"][k] for r in recs) for k in ("crossbars", "ou_activations", "cells", "energy_pj")}
            nz = sum(r["auto"]["sparsity"] * np.prod(r["shape"]) for r in recs) / sum(np.prod(r["shape"]) for r in recs)
            summary = {"network": net, "removed": removed, "layers": len(recs), "sparsity": float(nz), "methods": {}}
            for k in keys:
                tot = {q: sum(r[k][q] for r in recs) for q in ("crossbars", "ou_activations", "cells", "energy_pj")}
                ok = all(r[k]["valid"] and r[k]["exact"] for r in recs)
                ratio = {q: dense[q] / tot[q] for q in tot}
                summary["methods"][k] = {**tot, "ratio": ratio, "valid_exact": ok}
                md.append(f"| {net} | {len(recs)} | {nz:.3f} | {k} | {tot['crossbars']} | {ratio['crossbars']:.2f} | "
                          f"{tot['ou_activations']} | {ratio['ou_activations']:.2f} | {tot['cells']} | "
                          f"{ratio['cells']:.2f} | {tot['energy_pj'] / 1e6:.3f} | {ratio['energy_pj']:.2f} | {ok} |")
            act_lb = sum(r["auto"]["bound"] for r in recs)
            xb_lb = sum(r["auto"]["crossbar_bound"] for r in recs)
            summary.update(act_bound=act_lb, crossbar_bound=xb_lb)
            md.append(f"| {net} | | | bound | {xb_lb} | {dense['crossbars'] / xb_lb:.2f} | {act_lb} | "
                      f"{dense['ou_activations'] / act_lb:.2f} | | | | | |")
            # targets per layer
            over_xb = [r["layer"] for r in recs if r["auto"]["crossbars"] > r["auto"]["crossbar_bound"] + 1]
            not_below = [f"{r['layer']} (auto {r['auto']['ou_activations']} vs {min(SIMPLE, key=lambda s: r[s]['ou_activations'])} "
                         f"{min(r[s]['ou_activations'] for s in SIMPLE)})"
                         for r in recs if r["auto"]["ou_activations"] >= min(r[s]["ou_activations"] for s in SIMPLE)]
            grouped_not_below = [r["layer"] for r in recs
                                 if r["grouped"]["ou_activations"] >= min(r[s]["ou_activations"] for s in SIMPLE)]
            formations = {}
            for r in recs:
                formations[r["auto"]["formation"]] = formations.get(r["auto"]["formation"], 0) + 1
            summary.update(layers_over_crossbar_bound_plus1=over_xb, auto_not_below_simple=not_below,
                           grouped_not_below_simple=grouped_not_below, auto_formations=formations,
                           auto_gap_act=sum(r["auto"]["ou_activations"] for r in recs) / act_lb,
                           auto_gap_xbar=sum(r["auto"]["crossbars"] for r in recs) / xb_lb)
            rows.append(summary)
    md.append("\n## Targets and gaps (auto, frequency selection)\n")
    md.append("| network | removed | auto act / act LB | auto xbars / xbar LB | layers with xbars > LB+1 | "
              "auto formations | layers where auto OU act >= best simple (kg, km, mixed) | grouped not below |")
    md.append("|---|---|---|---|---|---|---|---|")
    for s in rows:
        md.append(f"| {s['network']} | {s['removed']} | {s['auto_gap_act']:.3f} | {s['auto_gap_xbar']:.3f} | "
                  f"{', '.join(s['layers_over_crossbar_bound_plus1']) or 'none'} | "
                  f"{', '.join(f'{k}:{v}' for k, v in sorted(s['auto_formations'].items()))} | "
                  f"{'; '.join(s['auto_not_below_simple']) or 'none'} | {', '.join(s['grouped_not_below_simple']) or 'none'} |")
    for removed in settings:
        sel = [s for s in rows if s["removed"] == removed and s["network"] in ("resnet20", "resnet32", "resnet44")]
        if len(sel) == 3:
            d = {q: sum(s["methods"]["dense"][q] for s in sel) for q in ("cells", "crossbars", "ou_activations")}
            for k in ("kernel-grouped", "auto"):
                a = {q: sum(s["methods"][k][q] for s in sel) for q in d}
                md.append(f"\nResNet-20/32/44 together, removed {removed}, {k}: cells {d['cells']}/{a['cells']} = "
                          f"{d['cells'] / a['cells']:.2f}x, crossbars {d['crossbars']}/{a['crossbars']} = "
                          f"{d['crossbars'] / a['crossbars']:.2f}x, OU act {d['ou_activations']}/{a['ou_activations']} = "
                          f"{d['ou_activations'] / a['ou_activations']:.2f}x (target at ~85 %: >= 4x cells and crossbars).")
    return rows, md


def per_layer_md(records: list[dict], net: str, removed: float, pmedian: bool) -> list[str]:
    recs = [r for r in records if r["network"] == net and r["removed"] == removed]
    md = [f"\n## {net}, removed = {removed}: OU activations per layer (crossbars in brackets)\n"]
    head = "| layer | shape | dense | " + " | ".join(METHODS) + " | act LB | xbar LB | auto formation |"
    if pmedian:
        head += " auto-pmedian | kept freq | kept pmed |"
    md += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in recs:
        line = (f"| {r['layer']} | {'x'.join(map(str, r['shape']))} | {r['dense']['ou_activations']} ({r['dense']['crossbars']}) | "
                + " | ".join(f"{r[m]['ou_activations']} ({r[m]['crossbars']})" for m in METHODS)
                + f" | {r['auto']['bound']} | {r['auto']['crossbar_bound']} | {r['auto']['formation']} |")
        if pmedian and "auto-pmedian" in r:
            p = r["auto-pmedian"]
            line += f" {p['ou_activations']} ({p['crossbars']}) | {r['auto']['kept_weight']:.4f} | {p['kept_weight']:.4f} |"
        md.append(line)
    if pmedian and all("auto-pmedian" in r for r in recs):
        tot = lambda k, q: sum(r[k][q] for r in recs)  # noqa: E731
        # kept share of the whole network's squared weight needs the layer norms: report the mean and the totals
        md.append(f"| total | | {tot('dense', 'ou_activations')} ({tot('dense', 'crossbars')}) | "
                  + " | ".join(f"{tot(m, 'ou_activations')} ({tot(m, 'crossbars')})" for m in METHODS)
                  + f" | {tot('auto', 'bound')} | {tot('auto', 'crossbar_bound')} | | "
                  f"{tot('auto-pmedian', 'ou_activations')} ({tot('auto-pmedian', 'crossbars')}) | "
                  f"mean {np.mean([r['auto']['kept_weight'] for r in recs]):.4f} | "
                  f"mean {np.mean([r['auto-pmedian']['kept_weight'] for r in recs]):.4f} |")
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--networks", nargs="+", default=["resnet20", "resnet32", "resnet44", "resnet8"])
    ap.add_argument("--removed", nargs="+", type=float, default=[0.3, 0.6625])
    ap.add_argument("--pmedian-networks", nargs="*", default=["resnet20"])
    ap.add_argument("--pmedian-limit", type=float, default=4.0)
    ap.add_argument("--no-accuracy", action="store_true")
    args = ap.parse_args()
    OUT_JSON.mkdir(parents=True, exist_ok=True)
    OUT_MD.mkdir(parents=True, exist_ok=True)
    jsonl = OUT_JSON / "layers.jsonl"
    done = {}
    for rec in resume_records(jsonl, keyed=False) if jsonl.exists() else []:
        done[(rec["network"], rec["layer"], rec["removed"])] = rec
    tasks, files = [], {}
    for net in args.networks:
        files[net] = conv3x3_files(net)
        for removed in args.removed:
            for f in files[net]:
                keep = net == "resnet20" and not args.no_accuracy
                name = read_instance(f).name
                if (net, name, removed) in done and not keep:
                    continue
                tasks.append((net, str(f), removed, net in args.pmedian_networks, args.pmedian_limit, keep))
    # big layers first for balance
    tasks.sort(key=lambda t: -os.path.getsize(t[1]) - (1e9 if t[3] else 0))
    refs: dict[tuple, dict] = {}
    shapes: dict[str, tuple] = {}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, jsonl.open("a") as out:
        for res in pool.map(run_layer, tasks, chunksize=1):
            rec = res["record"]
            key = (rec["network"], rec["layer"], rec["removed"])
            if key not in done:
                out.write(json.dumps(rec) + "\n")
                out.flush()
            done[key] = rec
            if res["refs"]:
                refs[(rec["layer"], rec["removed"])] = res["refs"]
                shapes[rec["layer"]] = res["shape"]
            print(f"[{time.perf_counter() - start:6.0f}s] {rec['network']} {rec['layer']} removed={rec['removed']} "
                  f"{rec['time']}s auto={rec['auto']['ou_activations']}/{rec['auto']['crossbars']}", flush=True)
    order = {net: [read_instance(f).name for f in files[net]] for net in args.networks}
    records = [done[(net, name, removed)] for removed in args.removed for net in args.networks
               for name in order[net] if (net, name, removed) in done]
    rows, md = summarize(records, args.networks, args.removed)
    for net in args.pmedian_networks:
        if net in args.networks:
            md.append(f"\n# Per layer: {net}\n")
            for removed in args.removed:
                md += per_layer_md(records, net, removed, True)
    (OUT_JSON / "layers.json").write_text(json.dumps(rows, indent=1))
    (OUT_MD / "layers.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))

    if args.no_accuracy or "resnet20" not in args.networks or not MODEL.is_file():
        return
    import torch

    from mapopt.layer import matrix_to_weight
    from mapopt.models.cifar import load_resnet, load_samples, top1, with_weights
    torch.set_num_threads(2)
    model, (images, labels) = load_resnet(MODEL), load_samples()
    base = top1(model, images, labels)
    acc = [{"setting": "unpruned float", "top1": base, "relative": 1.0}]
    r20 = [r for r in records if r["network"] == "resnet20"]
    for removed in args.removed:
        for sel in ("frequency", "pmedian"):
            layers = [name for name in order["resnet20"] if sel in refs.get((name, removed), {})]
            if len(layers) != len(order["resnet20"]):
                continue
            w = {name: matrix_to_weight(refs[(name, removed)][sel], shapes[name]) for name in layers}
            a = top1(with_weights(model, w), images, labels)
            key = "auto" if sel == "frequency" else "auto-pmedian"
            kept = [r[key]["kept_weight"] for r in r20 if r["removed"] == removed]
            spars = [r[key]["sparsity"] for r in r20 if r["removed"] == removed]
            acc.append({"setting": f"removed {removed}, {sel}", "top1": a, "relative": a / base,
                        "mean_kept_weight": float(np.mean(kept)), "mean_sparsity": float(np.mean(spars))})
            print(acc[-1], flush=True)
    (OUT_JSON / "accuracy.json").write_text(json.dumps(acc, indent=1))
    lines = ["# ResNet-20 top-1 on the 1000-image CIFAR-10 set, pattern-pruned (8 patterns of 4), no fine-tuning\n",
             "Every 3x3 conv replaced by the auto mapping's reference (8-bit per-layer quantized, pattern-pruned); "
             "the 1x1/linear layers stay float.\n",
             "| setting | top-1 | relative | mean kept squared weight per layer | mean layer sparsity |", "|---|---|---|---|---|"]
    for a in acc:
        lines.append(f"| {a['setting']} | {a['top1']:.3f} | {a['relative']:.3f} | "
                     f"{fmt(a.get('mean_kept_weight', ''), 4)} | {fmt(a.get('mean_sparsity', ''), 3)} |")
    (OUT_MD / "accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
