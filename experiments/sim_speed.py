"""Simulator speed against the physical limit, a float64 BLAS product of the same layer and batch.

Run: ``python experiments/sim_speed.py [--batch 256] [--out results/sim_speed.json]``.

The reference ``x @ W`` in float64 is exact for these integer ranges (numpy's int64
product is about 50x slower and is not the reference). On real layers (the largest
convolutions of ResNet-20 at 80 % sparsity and one of ResNet-44, ORC preset), under both
schedules (``grid`` = dense, ``orc``), with a circuit built beforehand (timed as
``build``), each mode is timed best of ``--repeats`` rounds and divided by the reference
measured in the same rounds:

- ``fast``: ``execute(adc="clip", fold=True)`` where no partial sum can clip (proven from
  the circuit), one folded product;
- ``tiled``: ``execute(adc="ideal", fold=False)``, the OU-tiled exact mode (target 3x);
- ``serial``: ``execute(adc="clip", fold=False)``, bit-serial with ADC clipping on every
  segment, against ``input_cycles x n_slices`` reference products (target 2x).

The first call of each mode (``*_first``) includes what `execute` derives once per circuit.
Every output is checked to equal the reference exactly. Writes the JSON and a markdown
table next to it, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy

from mapopt.instance import instance_files, read_instance
from mapopt.layout import conventional_mapping
from mapopt.sim import build_circuit, build_fabric, execute

ROOT = Path(__file__).resolve().parents[1]
# (network directory, how many of its largest conv layers)
NETWORKS = [("resnet20", 3), ("resnet44", 1)]
SCHEDULES = ("grid", "orc")
TARGETS = {"tiled": 3.0, "serial": 2.0}
MODES = {"fast": dict(adc="clip", fold=True), "tiled": dict(adc="ideal", fold=False),
         "serial": dict(adc="clip", fold=False)}


def largest_convs(directory: Path, k: int) -> list[Path]:
    """The `k` conv instance files of `directory` with the most weights (layer order breaks ties)."""
    convs = [(f, read_instance(f).layer) for f in instance_files(directory)]
    convs = [(f, layer) for f, layer in convs if layer.kind == "conv"]
    ranked = sorted(range(len(convs)), key=lambda i: -convs[i][1].quantized.size)
    return [convs[i][0] for i in sorted(ranked[:k])]


def seconds(fn) -> float:
    """Wall time of one call of `fn`."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(path: Path, schedule: str, batch: int, repeats: int, seed: int) -> dict:
    """Every mode's time and exactness on one layer under one schedule.

    The modes and the reference take turns for `repeats` rounds (the reference ten calls a
    round), so load from elsewhere hits them alike; the fastest call of each counts.
    """
    inst = read_instance(path)
    spec, matrix = inst.spec, inst.layer.matrix
    mapping = conventional_mapping(matrix, spec, schedule)
    build = min(seconds(lambda: build_circuit(build_fabric(mapping))) for _ in range(repeats))
    circuit = build_circuit(build_fabric(mapping))
    x = np.random.default_rng(seed).integers(0, 2 ** spec.input_bits, size=(batch, matrix.shape[0]))
    xf, wf = x.astype(np.float64), matrix.astype(np.float64)
    want = x @ matrix
    if not np.array_equal(np.rint(xf @ wf).astype(np.int64), want):
        raise SystemExit(f"{path}: the float64 reference is not exact")
    no_clip = bool(np.all(circuit.seg_max <= circuit.seg_cap))
    row = {"network": path.parent.name, "layer": inst.name, "shape": list(matrix.shape),
           "sparsity": round(inst.layer.sparsity, 4), "schedule": schedule, "segments": circuit.n_segments,
           "cells": int(circuit.M.nnz), "no_clip_proven": no_clip, "input_cycles": spec.input_cycles,
           "n_slices": spec.n_slices, "build_ms": build * 1e3}
    calls = {"ref": lambda: xf @ wf}
    for mode, kwargs in MODES.items():
        if mode == "fast" and not no_clip:
            continue
        fresh = build_circuit(build_fabric(mapping))  # its first call derives what the mode needs
        row[f"{mode}_first_ms"] = seconds(lambda: execute(mapping, x, circuit=fresh, **kwargs)) * 1e3
        row[f"{mode}_exact"] = bool(np.array_equal(execute(mapping, x, circuit=circuit, **kwargs), want))
        calls[mode] = lambda kwargs=kwargs: execute(mapping, x, circuit=circuit, **kwargs)
    best = dict.fromkeys(calls, np.inf)
    for _ in range(repeats):
        for name, fn in calls.items():
            best[name] = min([best[name]] + [seconds(fn) for _ in range(10 if name == "ref" else 1)])
    row.update({f"{name}_ms": t * 1e3 for name, t in best.items()})
    row["fast_ratio"] = row["fast_ms"] / row["ref_ms"] if "fast_ms" in row else None
    row["tiled_ratio"] = row["tiled_ms"] / row["ref_ms"]
    row["serial_ratio"] = row["serial_ms"] / (spec.input_cycles * spec.n_slices * row["ref_ms"])
    return row


def environment() -> dict:
    """Machine and library facts the ratios depend on (threads are left at their defaults)."""
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ}
    return {"cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "thread_env": threads, "machine": platform.machine(), "processor": platform.processor(),
            "python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
            "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip()}


def table(rows: list[dict]) -> str:
    """Markdown table of the ratios (times in ms)."""
    head = ("| layer | schedule | segments | build ms | ref ms | fast / ref | tiled / ref (target 3) "
            "| serial / (cycles x slices x ref) (target 2) | exact |\n|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        fast = "-" if r["fast_ratio"] is None else f"{r['fast_ratio']:.2f}"
        exact = all(v for k, v in r.items() if k.endswith("_exact"))
        lines.append(f"| {r['network']}/{r['layer']} | {r['schedule']} | {r['segments']} | {r['build_ms']:.1f} "
                     f"| {r['ref_ms']:.3f} | {fast} | {r['tiled_ratio']:.2f} "
                     f"| {r['serial_ratio']:.2f} ({r['input_cycles']}x{r['n_slices']}) | {'yes' if exact else 'NO'} |")
    worst = {m: max(r[f"{m}_ratio"] for r in rows) for m in TARGETS}
    tail = ", ".join(f"{m} {worst[m]:.2f} (target {TARGETS[m]:g})" for m in TARGETS)
    return head + "\n".join(lines) + f"\n\nWorst ratio: {tail}.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="input vectors per call")
    parser.add_argument("--repeats", type=int, default=15, help="rounds of calls; the fastest call counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "sim_speed.json", help="JSON to write")
    args = parser.parse_args(argv)
    files = [f for name, k in NETWORKS for f in largest_convs(ROOT / "instances" / name, k)]
    load = os.getloadavg()  # other work on the machine skews every ratio; recorded to judge a run
    rows = []
    for f in files:
        for schedule in SCHEDULES:
            rows.append(measure(f, schedule, args.batch, args.repeats, args.seed))
            print(f"{f.parent.name}/{f.stem} {schedule}: done", file=sys.stderr)
    env = environment()
    text = (f"# Simulator speed against a float64 BLAS product\n\nCommand: `python experiments/sim_speed.py "
            f"{' '.join(sys.argv[1:])}`".rstrip() + f"\n\nBatch {args.batch}, best of {args.repeats} rounds; "
            f"{env['cpu_count']} CPUs, {env['blas']} (default threads), numpy {env['numpy']}, scipy {env['scipy']}; "
            f"load average {load[0]:.2f} at the start.\n\n" + table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"batch": args.batch, "repeats": args.repeats, "seed": args.seed, "targets": TARGETS,
              "environment": env, "load_avg": {"start": load, "end": os.getloadavg()}, "rows": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(text)
    if args.out.resolve() == (ROOT / "results" / "sim_speed.json").resolve():  # the committed copy
        (ROOT / "experiments" / "results" / "sim_speed.md").write_text(text)
    print(text, end="")
    return 0 if all(v for r in rows for k, v in r.items() if k.endswith("_exact")) else 1


if __name__ == "__main__":
    sys.exit(main())
