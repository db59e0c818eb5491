"""Simulator speed against the physical limit, a float64 BLAS product of the same layer and batch.

Run: ``python experiments/sim_speed.py [--batch 256] [--shapes 4608x512 25088x4096] [--out results/sim_speed.json]``.

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
``--shapes`` adds synthetic linear layers at the seeds' scale (80 % pruned, ORC preset);
one the simulator views in parts is executed part by part. Peak RSS is the process's so far.
Every output is checked to equal the reference exactly. Writes the JSON and a markdown
table next to it, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy

from mapopt.hardware import preset
from mapopt.instance import instance_files, read_instance
from mapopt.layer import Layer
from mapopt.layout import conventional_mapping
from mapopt.sim import build_circuit, build_fabric, execute
from mapopt.sim.execute import part_circuits
from mapopt.sim.fabric import parts

ROOT = Path(__file__).resolve().parents[1]
# (network directory, how many of its largest conv layers)
NETWORKS = [("resnet20", 3), ("resnet44", 1)]
SCHEDULES = ("grid", "orc")
SPARSITY = 0.8  # of the synthetic layers (the seeds' headline sparsity)
LARGE = 1 << 20  # weights above which a layer gets at most 3 rounds
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


def synthetic(shape: str) -> tuple[str, Layer]:
    """A linear layer of ``NxM`` inputs x outputs: Gaussian weights magnitude-pruned to `SPARSITY` (seed 0)."""
    n, m = (int(v) for v in shape.lower().split("x"))
    weight = np.random.default_rng(0).normal(size=(m, n)).astype(np.float32)
    weight[np.abs(weight) < np.quantile(np.abs(weight), SPARSITY)] = 0
    return "synthetic", Layer.from_weights(weight, f"{n}x{m}")


def measure(network: str, layer: Layer, spec, schedule: str, batch: int, repeats: int, seed: int) -> dict:
    """Every mode's time and exactness on one layer under one schedule.

    The modes and the reference take turns for `repeats` rounds (the reference ten calls a
    round), so load from elsewhere hits them alike; the fastest call of each counts. A mapping
    the simulator views in more than one part is executed part by part (`execute` without a
    circuit: every part's circuit is built on the first call and kept); its ``build`` is then
    that first call's extra time over the next one.
    """
    matrix = layer.matrix
    mapping = conventional_mapping(matrix, spec, schedule)
    whole = len(parts(mapping)) == 1
    x = np.random.default_rng(seed).integers(0, 2 ** spec.input_bits, size=(batch, matrix.shape[0]))
    xf, wf = x.astype(np.float64), matrix.astype(np.float64)
    if matrix.shape[0] * (2 ** spec.input_bits - 1) * np.abs(matrix).max(initial=0) >= 2 ** 53:
        raise SystemExit(f"{network}/{layer.name}: the float64 reference would not be exact")
    want = np.rint(xf @ wf).astype(np.int64)  # exact: every partial sum stays below 2^53
    if whole:
        build = min(seconds(lambda: build_circuit(build_fabric(mapping))) for _ in range(repeats))
        circuit = build_circuit(build_fabric(mapping))
        circuits = [circuit]
    else:
        first = seconds(lambda: execute(mapping, x[:1], adc="ideal"))
        build = first - seconds(lambda: execute(mapping, x[:1], adc="ideal"))
        circuit, circuits = None, part_circuits(mapping)
    no_clip = all(bool(np.all(c.seg_max <= c.seg_cap)) for c in circuits)
    row = {"network": network, "layer": layer.name, "shape": list(matrix.shape), "parts": len(circuits),
           "sparsity": round(layer.sparsity, 4), "schedule": schedule,
           "segments": sum(c.n_segments for c in circuits), "cells": sum(int(c.M.nnz) for c in circuits),
           "no_clip_proven": no_clip, "input_cycles": spec.input_cycles, "n_slices": spec.n_slices,
           "build_ms": build * 1e3}
    calls = {"ref": lambda: xf @ wf}
    for mode, kwargs in MODES.items():
        if mode == "fast" and not no_clip:
            continue
        if whole:
            fresh = build_circuit(build_fabric(mapping))  # its first call derives what the mode needs
            row[f"{mode}_first_ms"] = seconds(lambda: execute(mapping, x, circuit=fresh, **kwargs)) * 1e3
        else:
            row[f"{mode}_first_ms"] = seconds(lambda: execute(mapping, x, **kwargs)) * 1e3
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
    row["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # this run's so far
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
    head = ("| layer | shape | schedule | parts | segments | build ms | ref ms | fast / ref | tiled / ref (target 3) "
            "| serial / (cycles x slices x ref) (target 2) | exact | peak RSS GiB |\n"
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
    lines = []
    for r in rows:
        fast = "-" if r["fast_ratio"] is None else f"{r['fast_ratio']:.2f}"
        exact = all(v for k, v in r.items() if k.endswith("_exact"))
        lines.append(f"| {r['network']}/{r['layer']} | {r['shape'][0]} x {r['shape'][1]} | {r['schedule']} "
                     f"| {r['parts']} | {r['segments']} | {r['build_ms']:.1f} "
                     f"| {r['ref_ms']:.3f} | {fast} | {r['tiled_ratio']:.2f} "
                     f"| {r['serial_ratio']:.2f} ({r['input_cycles']}x{r['n_slices']}) | {'yes' if exact else 'NO'} "
                     f"| {r['peak_rss_gib']:.2f} |")
    worst = {m: max(r[f"{m}_ratio"] for r in rows) for m in TARGETS}
    tail = ", ".join(f"{m} {worst[m]:.2f} (target {TARGETS[m]:g})" for m in TARGETS)
    return head + "\n".join(lines) + f"\n\nWorst ratio: {tail}.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="input vectors per call")
    parser.add_argument("--repeats", type=int, default=15, help="rounds of calls; the fastest call counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--shapes", nargs="*", default=[], metavar="NxM",
                        help=f"synthetic linear layers too (inputs x outputs, {SPARSITY:.0%} pruned, orc preset), "
                             "e.g. 4608x512 25088x4096; above a million weights at most 3 rounds")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "sim_speed.json", help="JSON to write")
    args = parser.parse_args(argv)
    layers = [(f.parent.name, read_instance(f)) for name, k in NETWORKS
              for f in largest_convs(ROOT / "instances" / name, k)]
    layers = [(net, inst.layer, inst.spec) for net, inst in layers]
    layers += [(*synthetic(shape), preset("orc")) for shape in args.shapes]
    load = os.getloadavg()  # other work on the machine skews every ratio; recorded to judge a run
    rows = []
    for network, layer, spec in layers:
        for schedule in SCHEDULES:
            big = layer.matrix.size > LARGE
            rows.append(measure(network, layer, spec, schedule, args.batch, min(args.repeats, 3) if big else
                                args.repeats, args.seed))
            print(f"{network}/{layer.name} {schedule}: done", file=sys.stderr)
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
