"""Time limits kept: every method of every problem, and the classical engines' ``auto``, against its limit.

Run: ``python experiments/time_limits.py [--limits 2 10 30] [--skip-classic]``

Each run calls `mapopt.solve.decide` (the method and the mapping of its decision: what a time limit
covers; the simulator's check comes after it) with a time limit, one worker, seed 0, one run at a
time, and records its wall time over the limit. Layers:

- ``bundled``: the largest bundled layer, ResNet-44 ``layer3.6.conv1`` (576 x 64, 80 % pruned);
- ``synthetic``: a 2304 x 256 conv layer (256 filters of 256 x 3 x 3, Gaussian, 80 % pruned).

Every problem runs on its own hardware preset (baseline and filter ordering: ``orc``, g = 2;
bit-slice packing: ``bitslice``; pattern placement: ``pattern``; reuse clustering: ``reuse``);
filter ordering also runs at g = 4 and 8 (``orc`` with 16 and 32 columns per OU). The classical
engines run ``auto`` on the largest OR-Library p-median file present (by vertices, edges, p), a 100-item 2BP
file (class 10 excluded: it is the largest file in items and in bin size) and the largest VBP
file of each set in ``../shared/benchmarks`` (skipped, with a note, when absent).

Target: wall <= 1.1 x limit + 0.5 s for every run. Records go to ``results/time_limits.jsonl``
(rerun to resume); the table to ``experiments/results/time_limits.md``.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.hardware import preset
from mapopt.instance import Instance, read_instance
from mapopt.layer import Layer
from mapopt.problems import methods, problems
from mapopt.solve import decide

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "benchmarks"
JSONL = ROOT / "results" / "time_limits.jsonl"
MD = ROOT / "experiments" / "results" / "time_limits.md"
BUNDLED = ROOT / "instances" / "resnet44" / "layer3.6.conv1.npz"
HARDWARE = {"baseline": "orc", "filter-ordering": "orc", "bitslice-packing": "bitslice",
            "pattern-placement": "pattern", "reuse-clustering": "reuse"}
#: filter-ordering group sizes, as OU columns of the adjacent-slice ``orc`` hardware (g = columns / 4 slices)
GROUP_COLUMNS = {2: 8, 4: 16, 8: 32}


def within(wall: float, limit: float) -> bool:
    """The target: at most 1.1 x the limit plus half a second."""
    return wall <= 1.1 * limit + 0.5


def layer(name: str) -> Layer:
    if name == "bundled":
        return read_instance(BUNDLED).layer
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(256, 256, 3, 3))
    weight[np.abs(weight) < np.quantile(np.abs(weight), 0.8)] = 0
    return Layer.from_weights(weight, "synthetic_2304x256")


def run_method(task: dict) -> dict:
    """One method on one layer at one limit: its wall time (method and mapping) and objective."""
    columns = GROUP_COLUMNS[task["g"]]
    spec = preset(HARDWARE[task["problem"]], **({"ou_cols": columns} if task["problem"] == "filter-ordering" else {}))
    inst = Instance(layer(task["layer"]), spec)
    start = time.perf_counter()
    r = decide(inst, task["problem"], task["method"], time_limit=task["limit"])
    wall = time.perf_counter() - start
    return {"wall": round(wall, 3), "ratio": round(wall / task["limit"], 3), "ok": within(wall, task["limit"]),
            "objective": r.objective, "bound": r.bound, "status": r.status.value}


def run_classic(task: dict) -> dict:
    """``mapopt classic KIND FILE --method auto`` at one limit."""
    from mapopt.classic import solve_classic

    start = time.perf_counter()
    out = solve_classic(task["kind"], task["file"], "auto", task["limit"], 0)
    wall = time.perf_counter() - start
    return {"wall": round(wall, 3), "ratio": round(wall / task["limit"], 3), "ok": within(wall, task["limit"]),
            "objective": out.get("objective", out.get("bins")), "bound": out.get("bound")}


def run_task(task: dict) -> dict:
    return run_classic(task) if "kind" in task else run_method(task)


def classic_files(workdir: Path) -> list[tuple[str, str]]:
    """(kind, file) of the classical instances, those present beside the repository (VBP files are
    extracted from their archives into `workdir`)."""
    files = []
    pmed = sorted((BENCH / "pmed_orlib").glob("pmed[0-9]*.txt"), key=lambda p: [int(x) for x in p.read_text().split()[:3]])
    files += [("pmed", str(p)) for p in pmed[-1:]]
    twobp = BENCH / "2bp_berkey_wang_martello_vigo" / "instances" / "CLASS09_100_10"
    if twobp.is_file():
        files.append(("2bp", str(twobp)))
    for tar in sorted((BENCH / "vbp_vectorpack").glob("*_instances.tar.gz")):
        with tarfile.open(tar) as tf:
            largest = max((m for m in tf.getmembers() if m.isfile()), key=lambda m: m.size)
            workdir.mkdir(parents=True, exist_ok=True)
            target = workdir / Path(largest.name).name
            target.write_bytes(tf.extractfile(largest).read())
        files.append(("vbp", str(target)))
    if not files:
        print(f"no classical instances under {BENCH}: skipping them", file=sys.stderr)
    return files


def tasks(limits: list[float], classic: bool, workdir: Path) -> list[dict]:
    out = []
    for limit in limits:
        for name in ("bundled", "synthetic"):
            for problem in problems():
                for method in methods(problem):
                    for g in (GROUP_COLUMNS if problem == "filter-ordering" else (2,)):
                        out.append({"layer": name, "problem": problem, "method": method, "g": g, "limit": limit})
        if classic:
            out += [{"kind": kind, "file": f, "limit": limit} for kind, f in classic_files(workdir)]
    return out


def markdown(records: list[dict], limits: list[float]) -> str:
    ok = [r for r in records if r.get("status") != "error"]
    failed = [r for r in records if r.get("status") == "error"]
    lines = ["# Time limits kept", "",
             "`python experiments/time_limits.py --limits " + " ".join(f"{x:g}" for x in limits) + "`: wall time of "
             "`mapopt.solve.decide` (the method and its mapping; one worker, seed 0) over the time limit, on this "
             "repository's 2-core machine, one run at a time. Target: wall <= 1.1 x limit + 0.5 s.", "",
             f"{sum(r['ok'] for r in ok)} of {len(ok)} runs within the target"
             + (f"; {len(failed)} runs failed (see below)" if failed else "") + ".", "",
             "| problem | method | runs | max wall / limit | max wall (s) at its limit | over target |",
             "|---|---|---:|---:|---|---:|"]
    groups: dict[tuple, list[dict]] = {}
    for r in ok:
        t = r["task"]
        groups.setdefault((t.get("problem", "classic " + t.get("kind", "")), t.get("method", "auto")), []).append(r)
    for (problem, method), rs in groups.items():
        worst = max(rs, key=lambda r: r["ratio"])
        over = sum(not r["ok"] for r in rs)
        lines.append(f"| {problem} | {method} | {len(rs)} | {worst['ratio']:.2f} | {worst['wall']:.1f} at "
                     f"{worst['task']['limit']:g} s | {over} |")
    over = [r for r in ok if not r["ok"]]
    if over:
        lines += ["", "## Runs over the target", "", "| run | limit (s) | wall (s) |", "|---|---:|---:|"]
        for r in over:
            t = r["task"]
            what = (f"{t['problem']}/{t['method']} on {t['layer']}" + (f", g = {t['g']}" if t["problem"] ==
                    "filter-ordering" else "")) if "problem" in t else f"classic {t['kind']} {Path(t['file']).name}"
            lines.append(f"| {what} | {t['limit']:g} | {r['wall']:.1f} |")
    if failed:
        lines += ["", "## Failed runs", ""] + [f"- {r['task']}: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", type=float, nargs="+", default=[2.0, 10.0, 30.0])
    ap.add_argument("--skip-classic", action="store_true")
    ap.add_argument("--out", type=Path, default=JSONL)
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    files = args.out.parent / "time_limits_files"
    records = run_bench(tasks(args.limits, not args.skip_classic, files), run_task, args.out)
    MD.write_text(markdown(records, args.limits))
    print(MD.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
