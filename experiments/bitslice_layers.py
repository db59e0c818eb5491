"""Bit-slice packing on real ResNet layers: dense, per-crossbar, squeeze-out and optimized packing.

Run: ``python experiments/bitslice_layers.py [--jobs 2] [--auto-limit 5] [--networks ...]``.

Hardware: ``preset('bitslice')`` (128 x 128 crossbars, OU 9 x 8, 2-bit cells, 8-bit weights
in slices ``[1, 2, 2, 2]`` most significant first, ADC ``[1, 3, 3, 3]`` bits, 1-bit DAC,
8 input cycles, ``per_crossbar``: one crossbar set per slice plane and polarity, groups of
8 columns). Plane 0 is the most significant slice (the 1-bit ADC).

Layers: every conv and linear layer of ResNet-20/32/44 (CIFAR-10) and the MLPerf-Tiny ResNet-8
from ``instances/`` in three variants:

- ``pruned``: the bundled instances (80 % magnitude-pruned, 8-bit per-layer quantization);
- ``unpruned``: ``Layer.from_weights(inst.layer.weight)``: the float weights before pruning,
  quantized to 8 bits (the issue's reference setting);
- ``magnitude`` (ResNet-20 only by default): the unpruned magnitudes ``|w|`` quantized the same
  way, so every weight is nonnegative and each slice plane is ONE crossbar set (no
  positive/negative split). The issue's reference numbers (dense 3718 OUs per plane,
  FFD 892 / 4022 / 7179 / 8020) are reproduced by this variant, conv layers only: they count
  the planes of ``|q|`` and ignore the differential pair (see the report).

Mappings per layer (OU activations per input cycle; per input vector = x 8):

- ``dense-adjacent``: baseline ``dense`` on ``preset('bitslice').replace(slice_layout='adjacent')``
  (a weight's four slices side by side, every OU tile fires). Its 9-row OUs overflow the
  1/3-bit ADCs: the simulator reports ``adc_range`` violations; the count is what matters;
- ``dense-per-crossbar``: baseline ``dense`` on the preset (grid schedule, no squeeze-out); its
  9-row OUs clip too (a 2-bit plane's 9 cells sum to up to 27 > 7), also reported;
- ``squeeze``: filter-ordering ``natural`` (compact ORC layout, natural filter order) on
  ``preset('bitslice', adc_bits=6)`` (nothing clips: 9 x 3 = 27 <= 63): squeeze-out alone,
  no ADC-aware packing;
- bit-slice packing methods ``ffd``, ``bfd``, ``dsatur``, ``bin-centric``, ``heuristic``,
  ``auto`` (``--auto-limit`` seconds per layer) with natural grouping, and ``heuristic`` with
  ``grouping='ordered'`` and/or ``share_crossbars=True``. ``auto`` runs on every pruned layer but
  on unpruned layers only of ``--auto-unpruned-networks`` (ResNet-20 by default): its time
  limit did not bound the heuristic hint and the CP-SAT model building when these tables were
  made (78.5 CPU s summed over ResNet-20's 20 unpruned layers, `results/bitslice/layers.md`). The ``magnitude`` variant runs the
  baselines and the five heuristics only.

Times are CPU seconds of the worker process (``time.process_time``; CP-SAT runs one worker):
the machine these runs shared had other jobs on it, so wall times are inflated (kept in the
records as ``pack_time``).

Per layer also: the packing lower bound per plane for the natural grouping (``vp.lower_bound``:
cardinality, Martello-Toth L2 per column, clique) and the issue's "simple" bound
``max(ceil(L / h), max_j ceil(column sum_j / capacity))``. ``pack_cpu`` (``pack_time``) is the CPU
(wall) time of ``mapopt.solve.decide`` (the method and its mapping) (packing and mapping); ``sim_time`` the CPU time of the
simulator's validation, bit-exact execution and costing of the mapping (the steps of
`mapopt.sim.simulate`).
All counts are the simulator's.

Sweeps (ResNet-20 by default, ``--sweep-networks``; method ``--sweep-method``, default ``heuristic``):

- ADC resolution: slices 1-3 at ``a = 1..6`` bits with the top slice at 1 bit, and the top slice
  at ``a = 2..6`` with the others at 3 bits; activations and ADC energy (simulator
  ``energy_pj['adc']``) per plane; plus ``adc='energy'`` (the method's own choice);
- bit-sparse projection ``max_slices`` in {1, 2, 3}: activations and ``projection_error``.

Results: ``results/bitslice/layers.jsonl`` and ``sweeps.jsonl`` (resumable), tables
``layers.md`` / ``layers.json``, figures ``layers_*.png``; the markdown is copied to
``experiments/results/bitslice/layers.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.engines import vector_packing as vp
from mapopt.errors import MapoptError
from mapopt.hardware import preset
from mapopt.instance import Instance, instance_files, read_instance
from mapopt.layer import Layer
from mapopt.solve import decide
from mapopt.problems.bitslice_packing.problem import natural_groups, subproblems
from mapopt.sim import approximation_error, build_circuit, build_fabric, cost, validate
from mapopt.sim.validate import shape_violations

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bitslice"
COMMITTED = ROOT / "experiments" / "results" / "bitslice"
NETWORKS = ["resnet20", "resnet32", "resnet44", "resnet8"]
VARIANTS = ["pruned", "unpruned", "magnitude"]
PACKERS = ["ffd", "bfd", "dsatur", "bin-centric", "heuristic", "auto"]
# name -> (bit-slice method, extra parameters)
VARIANT_METHODS = {
    "heuristic+ordered": ("heuristic", {"grouping": "ordered"}),
    "heuristic+share": ("heuristic", {"share_crossbars": True}),
    "heuristic+ordered+share": ("heuristic", {"grouping": "ordered", "share_crossbars": True}),
}
BASELINES = ["dense-adjacent", "dense-per-crossbar", "squeeze"]
NATURAL = PACKERS  # natural grouping: the per-plane packing bound applies
REFERENCE = {"dense": 3718, "squeeze": (3590, 3685), "ffd": [892, 4022, 7179, 8020],
             "simple_bound": [892, 3957, 6666, 7302]}
ADC_SETTINGS = [(1, a, a, a) for a in range(1, 7)] + [(a, 3, 3, 3) for a in range(2, 7)]
MAX_SLICES = [1, 2, 3]


# ----------------------------------------------------------------------------------------------- layers

def load_layer(file: str, variant: str) -> Layer:
    """The layer of an instance file in one of the variants (see the module docstring)."""
    layer = read_instance(ROOT / file).layer
    if variant == "pruned":
        return layer
    if layer.weight is None:
        raise MapoptError(f"{file}: no float weights stored, cannot build the {variant} variant")
    w = np.abs(layer.weight) if variant == "magnitude" else layer.weight
    # same quantization as the instance (ResNet-8 from TFLite is per channel)
    return Layer.from_weights(w, layer.name, layer.weight_bits, per_channel=layer.scale.shape != (1,), kind=layer.kind)


def measure(mapping, layer: Layer, seed: int = 0) -> tuple[dict, float]:
    """Validate, execute and cost `mapping` (the steps of `mapopt.sim.simulate`, CPU-timed), plus per-plane figures."""
    t = time.process_time()
    violations = shape_violations(mapping, layer)
    if violations:
        raise AssertionError(f"{layer.name}: mapping has the wrong shape: {violations[0]}")
    fab = build_fabric(mapping)
    circ = build_circuit(fab)
    violations = validate(mapping, layer, 4, seed, fabric=fab, circuit=circ)
    c = cost(mapping, fab, circ)
    approximation_error(mapping, layer)
    seconds = time.process_time() - t  # CPU time: the machine is shared, wall time is not reproducible
    spec = mapping.spec
    exact = not any(v.rule in ("function", "execution") for v in violations)
    out = {"acts": c.activations_per_cycle, "ou_activations": c.ou_activations, "xbars": c.crossbars,
           "valid": not violations, "exact": exact, "violations": dict(Counter(v.rule for v in violations)),
           "energy_pj": c.energy_pj["total"], "energy_adc_pj": c.energy_pj["adc"], "area_adc_um2": c.area_um2["adc"],
           "adc_bits": c.adc_bits, "adc_bits_required": c.adc_bits_required}
    # per plane: the slice of each activation's segments (unique under per_crossbar)
    act_slice = np.full(fab.n_activations, -1, dtype=np.int64)
    act_slice[circ.seg_act] = circ.seg_slice
    mixed = np.zeros(fab.n_activations, dtype=bool)
    mixed[circ.seg_act] = act_slice[circ.seg_act] != circ.seg_slice
    adc_pj = np.array([spec.costs.adc_pj(spec.adc_for_slice(s)) for s in range(spec.n_slices)])
    out["adc_planes_pj"] = [round(float(spec.input_cycles * adc_pj[s] * np.count_nonzero(circ.seg_slice == s)), 4)
                            for s in range(spec.n_slices)]
    if spec.slice_layout == "per_crossbar" and not mixed.any():
        out["planes"] = [int(np.count_nonzero(act_slice == s)) for s in range(spec.n_slices)]
        xb = {s: np.unique(fab.act_xbar[act_slice == s]) for s in range(spec.n_slices)}
        shared = len(np.unique(np.concatenate(list(xb.values())))) < sum(len(v) for v in xb.values())
        out["xbar_planes"] = None if shared else [int(len(xb[s])) for s in range(spec.n_slices)]
    else:
        out["planes"], out["xbar_planes"] = None, None
    return out, seconds


def plane_bounds(layer: Layer, spec) -> tuple[list[int], list[int], float]:
    """Per plane (activations per cycle, natural grouping): the packing bound and the simple bound."""
    t = time.perf_counter()
    strong, simple = np.zeros(spec.n_slices, dtype=np.int64), np.zeros(spec.n_slices, dtype=np.int64)
    for sub in subproblems(layer.matrix, spec, natural_groups(layer.n_outputs, spec.ou_cols)):
        if not len(sub.sizes):
            continue
        strong[sub.slice_index] += vp.lower_bound(sub.sizes, sub.capacity, spec.ou_rows)
        simple[sub.slice_index] += max(math.ceil(len(sub.sizes) / spec.ou_rows),
                                       int(np.ceil(sub.sizes.sum(axis=0) / sub.capacity).max()))
    return strong.tolist(), simple.tolist(), time.perf_counter() - t


def method_of(problem: str, name: str):
    """A method as a function of the instance and its options: it runs and maps, without the simulator."""
    return lambda inst, **options: decide(inst, problem, name, **options)


def run_layer(task: dict) -> dict:
    """Every mapping of one layer in one variant (see the module docstring)."""
    layer = load_layer(task["file"], task["variant"])
    spec = preset("bitslice")
    seed = task["seed"]
    results = {}

    def record(name, fn, inst, **params):
        t, cpu = time.perf_counter(), time.process_time()
        r = fn(inst, **params)
        pack, pack_cpu = time.perf_counter() - t, time.process_time() - cpu
        m, sim = measure(r.mapping, layer, seed)
        m.update(pack_time=round(pack, 4), pack_cpu=round(pack_cpu, 4), sim_time=round(sim, 4), objective=int(r.objective),
                 objective_ok=int(r.objective) == m["ou_activations"],
                 bound=None if r.bound is None else int(r.bound), status=getattr(r.status, "value", str(r.status)))
        if "adc_bits" in r.stats:
            m["chosen_adc_bits"] = r.stats["adc_bits"]
        results[name] = m

    record("dense-adjacent", method_of("baseline", "dense"), Instance(layer, spec.replace(slice_layout="adjacent")),
           seed=seed)
    record("dense-per-crossbar", method_of("baseline", "dense"), Instance(layer, spec), seed=seed)
    record("squeeze", method_of("filter-ordering", "natural"), Instance(layer, preset("bitslice", adc_bits=6)),
           seed=seed)
    inst = Instance(layer, spec)
    for name in task["methods"]:
        limit = task["auto_limit"] if name == "auto" else None
        record(name, method_of("bitslice-packing", name), inst, time_limit=limit, seed=seed)
    for name in task["variant_methods"]:
        base, params = VARIANT_METHODS[name]
        record(name, method_of("bitslice-packing", base), inst, seed=seed, **params)
    strong, simple, bt = plane_bounds(layer, spec)
    return {"n": layer.n_inputs, "m": layer.n_outputs, "kind": layer.kind, "density": 1 - layer.sparsity,
            "bound_planes": strong, "simple_bound_planes": simple, "bound_time": round(bt, 4), "results": results}


def run_sweep(task: dict) -> dict:
    """ADC-resolution sweep or bit-sparse projection on one layer with one bit-slice method."""
    layer = load_layer(task["file"], task["variant"])
    fn = method_of("bitslice-packing", task["method"])
    out = {}
    if task["sweep"] == "adc":
        runs = [(",".join(map(str, bits)), preset("bitslice", adc_bits=tuple(bits)), {}) for bits in task["settings"]]
        runs.append(("energy", preset("bitslice"), {"adc": "energy"}))
    else:
        runs = [(f"k={k}", preset("bitslice"), {"max_slices": k}) for k in [-1, *task["settings"]]]
    for key, spec, params in runs:
        t = time.process_time()
        try:
            r = fn(Instance(layer, spec), seed=task["seed"], **params)
        except MapoptError as exc:  # a cell no ADC of that resolution reads
            out[key] = {"infeasible": str(exc)}
            continue
        pack = time.process_time() - t
        m, sim = measure(r.mapping, layer, task["seed"])
        m.update(pack_time=round(pack, 4), sim_time=round(sim, 4), objective_ok=int(r.objective) == m["ou_activations"],
                 chosen_adc_bits=r.stats.get("adc_bits"), projection_error=r.stats.get("projection_error"))
        out[key] = m
    return {"kind": layer.kind, "results": out}


def make_tasks(args) -> tuple[list[dict], list[dict]]:
    layers, sweeps = [], []
    for net in args.networks:
        d = ROOT / "instances" / net
        if not (d / "index.json").is_file():
            print(f"skipping {net}: {d} has no index.json", file=sys.stderr)
            continue
        variants = [v for v in args.variants if v != "magnitude" or net in args.magnitude_networks]
        for f in instance_files(d):
            rel = os.path.relpath(f, ROOT)
            name = read_instance(f).layer.name
            for v in variants:
                # auto's time limit does not bound its hint and model building: on unpruned layers it
                # costs minutes per layer, so it runs there only on the networks named
                methods = [m for m in args.methods
                           if m != "auto" or v == "pruned" or (v == "unpruned" and net in args.auto_unpruned_networks)]
                # the magnitude variant is for the reference comparison only: no auto, no grouping variants
                layers.append({"network": net, "variant": v, "file": rel, "layer": name, "methods": methods,
                               "variant_methods": [] if v == "magnitude" else args.variant_methods,
                               "auto_limit": args.auto_limit,
                               "seed": args.seed})
            if net in args.sweep_networks:
                for v in args.sweep_variants:
                    base = {"network": net, "variant": v, "file": rel, "layer": name, "method": args.sweep_method,
                            "seed": args.seed}
                    sweeps.append({**base, "sweep": "adc", "settings": [list(s) for s in ADC_SETTINGS]})
                    sweeps.append({**base, "sweep": "projection", "settings": MAX_SLICES})
    return layers, sweeps


# ----------------------------------------------------------------------------------------------- report

def _sum_planes(rs, name, key="planes"):
    vals = [r["results"][name][key] for r in rs]
    return None if any(v is None for v in vals) else np.sum(vals, axis=0).astype(int).tolist()


def totals(records: list[dict], conv_only: bool = False) -> list[dict]:
    """Network totals per (network, variant)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("status") == "error" or (conv_only and r["kind"] != "conv"):
            continue
        groups.setdefault((r["task"]["network"], r["task"]["variant"]), []).append(r)
    rows = []
    for (net, var), rs in groups.items():
        names = [n for n in rs[0]["results"] if all(n in r["results"] for r in rs)]
        row = {"network": net, "variant": var, "layers": len(rs), "conv_only": conv_only,
               "bound": int(sum(sum(r["bound_planes"]) for r in rs)),
               "bound_planes": np.sum([r["bound_planes"] for r in rs], axis=0).astype(int).tolist(),
               "simple_bound_planes": np.sum([r["simple_bound_planes"] for r in rs], axis=0).astype(int).tolist(),
               "bound_time": round(sum(r["bound_time"] for r in rs), 3), "methods": {}}
        for name in names:
            v = [r["results"][name] for r in rs]
            row["methods"][name] = {
                "acts": int(sum(x["acts"] for x in v)), "ou_activations": int(sum(x["ou_activations"] for x in v)),
                "planes": _sum_planes(rs, name), "xbars": int(sum(x["xbars"] for x in v)),
                "xbar_planes": _sum_planes(rs, name, "xbar_planes"),
                "pack_time": round(sum(x["pack_time"] for x in v), 3), "sim_time": round(sum(x["sim_time"] for x in v), 3),
                "pack_cpu": round(sum(x["pack_cpu"] for x in v), 3),
                "max_layer_pack_time": round(max(x["pack_time"] for x in v), 3),
                "max_layer_pack_cpu": round(max(x["pack_cpu"] for x in v), 3),
                "valid": sum(x["valid"] for x in v), "exact": sum(x["exact"] for x in v),
                "objective_ok": sum(x["objective_ok"] for x in v),
                "violations": dict(sum((Counter(x["violations"]) for x in v), Counter())),
                "energy_pj": round(sum(x["energy_pj"] for x in v), 2),
                "energy_adc_pj": round(sum(x["energy_adc_pj"] for x in v), 2),
                "proven_bound": None if any(x["bound"] is None for x in v) else
                int(sum(x["bound"] for x in v)) // 8}
        packers = [n for n in NATURAL if n in names]
        best = [min(packers, key=lambda n: r["results"][n]["acts"]) for r in rs]
        row["best"] = int(sum(r["results"][b]["acts"] for r, b in zip(rs, best)))
        row["best_planes"] = np.sum([r["results"][b]["planes"] for r, b in zip(rs, best)], axis=0).astype(int).tolist()
        row["best_xbars"] = int(sum(r["results"][b]["xbars"] for r, b in zip(rs, best)))
        row["best_wins"] = dict(Counter(best))
        row["layers_at_bound"] = {n: sum(r["results"][n]["acts"] <= sum(r["bound_planes"]) for r in rs) for n in packers}
        rows.append(row)
    return rows


def pct(a, b) -> str:
    return f"{100 * (a - b) / b:.1f}" if b else "-"


def table(head: list[str], body: list[list], left: int = 2) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * left + ["---:"] * (len(head) - left)) + "|"]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in body]


def markdown(rows, conv_rows, records, sweep_records, args) -> str:
    names = [n for n in [*BASELINES, *PACKERS, *VARIANT_METHODS] if any(n in r["methods"] for r in rows)]
    packers = [n for n in PACKERS if any(n in r["methods"] for r in rows)]

    def cell(m, n, key, fmt=str):
        return fmt(m[n][key]) if n in m and m[n][key] is not None else "-"

    lines = ["# Bit-slice packing on real layers", "",
             f"Command: `python experiments/bitslice_layers.py {' '.join(sys.argv[1:])}`".rstrip(), "",
             "Hardware `preset('bitslice')`: crossbar 128 x 128, OU 9 x 8, slices [1, 2, 2, 2] (plane 0 = most "
             "significant), ADC [1, 3, 3, 3] bits, 1-bit DAC, 8 input cycles, one crossbar set per plane and "
             "polarity, groups of 8 columns. All conv and linear layers. Counts are the simulator's, in OU "
             f"activations **per input cycle** (per input vector: x 8). `auto` has {args.auto_limit} s per layer. "
             "`bound` = sum of per-(set, group) packing lower bounds for the natural grouping (L2 per column, "
             "cardinality, clique); `best` = per layer the best natural-grouping packer; gaps are "
             "(method - bound) / bound. `+ordered` changes the grouping, so the natural-grouping bound does not "
             "bind it (its own proven bound is grouping-free and weaker, column `ordered bound`). "
             "`dense-adjacent` clips in the ADCs (reported as `adc_range` violations; its count is kept as the "
             "baseline anyway).", ""]
    lines += ["## Activations per input cycle, totals", ""]
    body = []
    for r in rows:
        m = r["methods"]
        body.append([r["network"], r["variant"], r["layers"], *[cell(m, n, "acts") for n in names], r["best"], r["bound"],
                     pct(r["best"], r["bound"]), pct(m["heuristic"]["acts"], r["bound"]) if "heuristic" in m else "-",
                     m.get("heuristic+ordered", {}).get("proven_bound", "-"),
                     f"{m['dense-per-crossbar']['acts'] / r['best']:.2f}", f"{m['squeeze']['acts'] / r['best']:.2f}"])
    lines += table(["network", "variant", "layers", *names, "best", "bound", "best gap %", "heuristic gap %",
                    "ordered bound", "dense-pc / best", "squeeze / best"], body)
    lines += ["", "## Per plane (activations per input cycle, summed over layers)", "",
              "Plane 0 = the 1-bit most significant slice (ADC 1 b), planes 1-3 the 2-bit slices (ADC 3 b).", ""]
    body = []
    for r in rows:
        m = r["methods"]
        for p in range(4):
            b = r["bound_planes"][p]
            body.append([r["network"], r["variant"], p, m["dense-per-crossbar"]["planes"][p],
                         m["squeeze"]["planes"][p],
                         *[m[n]["planes"][p] if n in m and m[n]["planes"] else "-" for n in packers],
                         r["best_planes"][p], b, r["simple_bound_planes"][p], pct(m["ffd"]["planes"][p], b),
                         pct(r["best_planes"][p], b)])
    lines += table(["network", "variant", "plane", "dense-pc", "squeeze", *packers,
                    "best", "bound", "simple bound", "ffd gap %", "best gap %"], body)
    lines += ["", "## Crossbars (totals)", ""]
    body = [[r["network"], r["variant"], *[cell(r["methods"], n, "xbars") for n in names], r["best_xbars"]] for r in rows]
    lines += table(["network", "variant", *names, "best"], body)
    lines += ["", "## Time (s, summed over layers; one process per layer, 1 worker)", "",
              "CPU seconds of the process (`time.process_time`): the machine was shared with other jobs (load "
              "average up to 10 on 2 cores), so wall times are inflated and are given only for the heuristic. "
              "`pack` = `mapopt.solve.decide` (packing + mapping); `sim` = simulator validation + bit-exact "
              "execution + cost (CPU); `max layer` = slowest layer's pack CPU time.", ""]
    body = []
    for r in rows:
        m = r["methods"]
        body.append([r["network"], r["variant"], r["layers"], f"{r['bound_time']:.2f}",
                     *[cell(m, n, "pack_cpu", "{:.2f}".format) for n in names],
                     *[cell(m, n, "sim_time", "{:.2f}".format) for n in ("ffd", "heuristic")],
                     f"{m['heuristic']['max_layer_pack_cpu']:.2f}", f"{m['heuristic']['pack_time']:.2f}"])
    lines += table(["network", "variant", "layers", "bound", *[f"pack {n}" for n in names], "sim ffd", "sim heuristic",
                    "max layer heuristic", "heuristic wall"], body)
    lines += ["", "## Validity", "",
              "Layers whose mapping is valid / exact (bit-exact execution with ADC clipping) / whose claimed objective "
              "equals the simulator's count; violations by rule summed over layers.", ""]
    body = []
    for r in rows:
        for n in names:
            if n not in r["methods"]:
                continue
            m = r["methods"][n]
            body.append([r["network"], r["variant"], n, f"{m['valid']}/{r['layers']}", f"{m['exact']}/{r['layers']}",
                         f"{m['objective_ok']}/{r['layers']}", json.dumps(m["violations"]) if m["violations"] else ""])
    lines += table(["network", "variant", "method", "valid", "exact", "objective = sim", "violations"], body, 3)
    lines += ["", "`dsatur` records of 72 layers with an all-zero column group were made before the library "
              "fixed `vector_packing.exclusive` on such groups (the script patched the same fix in); the library "
              "now reproduces all 72 (`ou_activations` equal, exact).", ""]
    lines += ["", "## Layers at their natural-grouping bound, and which packer is best per layer", ""]
    body = [[r["network"], r["variant"], r["layers"], *[r["layers_at_bound"].get(n, "-") for n in packers],
             json.dumps(r["best_wins"])] for r in rows]
    lines += table(["network", "variant", "layers", *[f"{n} at bound" for n in packers], "best per layer"], body)
    ref = [r for r in conv_rows if r["network"] == "resnet20"]
    if ref:
        lines += ["", "## ResNet-20 conv layers against the issue's reference numbers", "",
                  "The issue: dense 3718 OUs per plane, squeeze-out 3590-3685 on planes 1-3, FFD 892 / 4022 / 7179 / "
                  "8020, simple bounds 892 / 3957 / 6666 / 7302 (ResNet-20, 8 bit, unpruned, conv layers). "
                  "`magnitude` (|w|, one crossbar set per plane) reproduces them; `unpruned` is the same network "
                  "with the differential pair (positive and negative crossbar sets per plane), which the preset "
                  "uses: each plane's rows split over two sets.", ""]
        body = []
        for r in ref:
            m = r["methods"]
            for p in range(4):
                body.append([r["variant"], p, m["dense-per-crossbar"]["planes"][p], REFERENCE["dense"],
                             m["squeeze"]["planes"][p], m["ffd"]["planes"][p], REFERENCE["ffd"][p],
                             r["simple_bound_planes"][p], REFERENCE["simple_bound"][p], r["bound_planes"][p],
                             r["best_planes"][p], pct(m["ffd"]["planes"][p], r["bound_planes"][p]),
                             pct(r["best_planes"][p], r["bound_planes"][p])])
        lines += table(["variant", "plane", "dense-pc", "ref dense", "squeeze", "ffd", "ref ffd", "simple bound",
                        "ref simple bound", "bound", "best", "ffd gap %", "best gap %"], body)
    if sweep_records:
        lines += ["", *sweep_markdown(sweep_records)]
    errors = [r for r in records + sweep_records if r.get("status") == "error"]
    if errors:
        lines += ["", f"{len(errors)} tasks failed, e.g. {errors[0]['task'].get('layer')}: {errors[0]['error']}"]
    return "\n".join(lines) + "\n"


def sweep_totals(sweep_records: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in sweep_records:
        if r.get("status") == "error":
            continue
        t = r["task"]
        groups.setdefault((t["network"], t["variant"], t["sweep"], t["method"]), []).append(r)
    rows = []
    for (net, var, sweep, meth), rs in groups.items():
        for key in rs[0]["results"]:
            vals = [r["results"][key] for r in rs]
            row = {"network": net, "variant": var, "sweep": sweep, "method": meth, "setting": key, "layers": len(rs)}
            if any("infeasible" in v for v in vals):
                row["infeasible"] = next(v["infeasible"] for v in vals if "infeasible" in v)
                rows.append(row)
                continue
            row.update(acts=int(sum(v["acts"] for v in vals)), planes=np.sum([v["planes"] for v in vals], axis=0).tolist(),
                       xbars=int(sum(v["xbars"] for v in vals)),
                       energy_adc_pj=round(sum(v["energy_adc_pj"] for v in vals), 1),
                       energy_pj=round(sum(v["energy_pj"] for v in vals), 1),
                       adc_planes_pj=np.round(np.sum([v["adc_planes_pj"] for v in vals], axis=0), 1).tolist(),
                       area_adc_um2=round(sum(v["area_adc_um2"] for v in vals), 0),
                       valid=sum(v["valid"] for v in vals), exact=sum(v["exact"] for v in vals),
                       objective_ok=sum(v["objective_ok"] for v in vals),
                       pack_time=round(sum(v["pack_time"] for v in vals), 2))
            if sweep == "adc" and key == "energy":
                row["chosen_adc_bits"] = dict(Counter(",".join(map(str, v["chosen_adc_bits"])) for v in vals))
            if sweep == "projection":
                errs = [v["projection_error"] for v in vals if v["projection_error"] is not None]
                row["projection_error_mean"] = round(float(np.mean(errs)), 5) if errs else 0.0
                row["projection_error_max"] = round(float(np.max(errs)), 5) if errs else 0.0
            rows.append(row)
    return rows


def sweep_markdown(sweep_records: list[dict]) -> list[str]:
    rows = sweep_totals(sweep_records)
    lines = ["## ADC resolution sweep", "",
             "Bits per plane (plane 0 = most significant) and the activations per input cycle per plane, summed over "
             "the network's layers; ADC energy = simulator `energy_pj['adc']` per input vector (all planes), and per "
             "plane. `energy` = the method's `adc='energy'` choice (the chosen bits per layer are counted). "
             "ADC area = simulator `area_um2['adc']` (every crossbar's 8 ADCs at the largest resolution).", ""]
    body = []
    for r in rows:
        if r["sweep"] != "adc":
            continue
        if "infeasible" in r:
            body.append([r["network"], r["variant"], r["setting"], "infeasible (a single cell exceeds the ADC)",
                         *["-"] * 7])
            continue
        body.append([r["network"], r["variant"], r["setting"] + (f" {r['chosen_adc_bits']}" if "chosen_adc_bits" in r else ""),
                     r["acts"], " / ".join(map(str, r["planes"])), r["xbars"], r["energy_adc_pj"],
                     " / ".join(f"{x:.0f}" for x in r["adc_planes_pj"]), r["energy_pj"], r["area_adc_um2"],
                     f"{r['exact']}/{r['layers']}"])
    lines += table(["network", "variant", "ADC bits", "acts/cycle", "per plane", "crossbars", "ADC pJ",
                    "ADC pJ per plane", "total pJ", "ADC um2", "exact"], body, 3)
    lines += ["", "## Bit-sparse projection (`max_slices`)", "",
              "Each magnitude projected to the nearest value with at most k nonzero slices; `projection_error` = "
              "||Q' - Q||_F / ||Q||_F per layer (mean and max over layers). k=-1: no projection.", ""]
    body = [[r["network"], r["variant"], r["setting"], r["acts"], " / ".join(map(str, r["planes"])), r["xbars"],
             r["projection_error_mean"], r["projection_error_max"], f"{r['exact']}/{r['layers']}"]
            for r in rows if r["sweep"] == "projection"]
    lines += table(["network", "variant", "k", "acts/cycle", "per plane", "crossbars", "error mean", "error max",
                    "exact"], body, 3)
    return lines


def figures(rows, sweep_rows, out: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no figures", file=sys.stderr)
        return []
    paths = []
    series = [n for n in ["dense-adjacent", "dense-per-crossbar", "squeeze", "ffd", "heuristic", "auto",
                          "heuristic+ordered"] if any(n in r["methods"] for r in rows)]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    x = np.arange(len(rows))
    width = 0.8 / (len(series) + 1)
    for i, s in enumerate(series):
        ax.bar(x + i * width, [r["methods"][s]["acts"] if s in r["methods"] else np.nan for r in rows], width, label=s)
    ax.bar(x + len(series) * width, [r["bound"] for r in rows], width, label="bound (natural)", color="k")
    ax.set_xticks(x + 0.4 - width / 2, [f"{r['network']}\n{r['variant']}" for r in rows], fontsize=7)
    ax.set_ylabel("OU activations per input cycle")
    ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Bit-slice mappings of whole networks (preset bitslice)")
    fig.tight_layout()
    p = out / "layers_totals.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)
    adc = [r for r in sweep_rows if r["sweep"] == "adc" and "infeasible" not in r and r["setting"] != "energy"]
    if adc:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        for (net, var) in sorted({(r["network"], r["variant"]) for r in adc}):
            for which, marker in (("low", "o"), ("top", "s")):
                sel = []
                for r in adc:
                    if (r["network"], r["variant"]) != (net, var):
                        continue
                    bits = list(map(int, r["setting"].split(",")))
                    if which == "low" and bits[0] == 1:
                        sel.append((bits[1], r))
                    if which == "top" and bits[1:] == [3, 3, 3]:
                        sel.append((bits[0], r))
                sel.sort(key=lambda t: t[0])
                label = f"{net} {var}, " + ("planes 1-3 swept (top 1 b)" if which == "low" else "top swept (others 3 b)")
                axes[0].plot([b for b, _ in sel], [r["acts"] for _, r in sel], marker=marker, label=label)
                axes[1].plot([b for b, _ in sel], [r["energy_adc_pj"] / 1e3 for _, r in sel], marker=marker, label=label)
        axes[0].set_xlabel("ADC bits of the swept planes")
        axes[0].set_ylabel("OU activations per input cycle")
        axes[1].set_xlabel("ADC bits of the swept planes")
        axes[1].set_ylabel("ADC energy per input vector (nJ)")
        axes[0].legend(fontsize=6)
        fig.suptitle("ADC resolution against activations and ADC energy")
        fig.tight_layout()
        p = out / "layers_adc_sweep.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="parallel layers (joblib processes)")
    ap.add_argument("--auto-limit", type=float, default=5.0, help="time limit of `auto` per layer (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--networks", nargs="+", default=NETWORKS)
    ap.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    ap.add_argument("--magnitude-networks", nargs="+", default=["resnet20"])
    ap.add_argument("--methods", nargs="+", default=PACKERS, choices=PACKERS)
    ap.add_argument("--auto-unpruned-networks", nargs="*", default=["resnet20"],
                    help="networks whose unpruned layers also run `auto` (all pruned layers do)")
    ap.add_argument("--variant-methods", nargs="*", default=["heuristic+ordered", "heuristic+share"],
                    choices=list(VARIANT_METHODS))
    ap.add_argument("--sweep-networks", nargs="*", default=["resnet20"])
    ap.add_argument("--sweep-variants", nargs="+", default=["unpruned", "pruned"], choices=VARIANTS)
    ap.add_argument("--sweep-method", default="heuristic")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    layer_tasks, sweep_tasks = make_tasks(args)
    start = time.perf_counter()
    records = run_bench(layer_tasks, run_layer, args.out / "layers.jsonl", jobs=args.jobs)
    sweep_records = run_bench(sweep_tasks, run_sweep, args.out / "sweeps.jsonl", jobs=args.jobs) if sweep_tasks else []
    print(f"{len(layer_tasks)} layer tasks, {len(sweep_tasks)} sweep tasks in {time.perf_counter() - start:.1f} s "
          "(this call)", file=sys.stderr)
    rows, conv_rows = totals(records), totals(records, conv_only=True)
    srows = sweep_totals(sweep_records)
    md = markdown(rows, conv_rows, records, sweep_records, args)
    (args.out / "layers.md").write_text(md)
    (args.out / "layers.json").write_text(json.dumps({"totals": rows, "conv_totals": conv_rows, "sweeps": srows},
                                                     indent=1) + "\n")
    figs = figures(rows, srows, args.out)
    if args.out.resolve() == OUT.resolve():  # a test run elsewhere leaves the committed tables alone
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "layers.md", COMMITTED / "layers.md")
    print(md)
    print("figures: " + ", ".join(os.path.relpath(p, ROOT) for p in figs), file=sys.stderr)


if __name__ == "__main__":
    main()
