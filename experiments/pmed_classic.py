"""The p-median engine on the OR-Library instances (Beasley): objective against the published optimum, bound, time.

Run: ``python experiments/pmed_classic.py [--time-limit 60] [--jobs 2] [--methods fasterpam auto]``.

Every ``pmed*.txt`` in ``--bench-dir`` (default ``../shared/benchmarks/pmed_orlib``; its
``pmedopt.txt`` holds the optima of pmed1-40) is read by `mapopt.classic.pmed` (last duplicate
edge wins, all-pairs shortest paths) and solved by each method through
`mapopt.classic.pmed.solve`, the function behind ``mapopt classic pmed``, with ``--time-limit``
seconds. Tasks run in parallel (``--jobs``) through `mapopt.bench.run_bench`, appended to
``results/pmed/classic.jsonl`` as they finish (rerunning resumes). Tables go to
``results/pmed/classic.md`` and ``.csv``; the markdown is also copied to ``experiments/results/pmed/``.

Where the `kmedoids` package is installed, a last section times mapopt's `fasterpam` against
``kmedoids.fasterpam(D, p, random_state=seed, n_cpu=1)`` on the same matrix in this process
(``--speed-seeds`` seeds, best of 3 calls each): geometric mean time, mean gap to the optimum, and
mapopt's bound.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.classic import pmed

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "benchmarks" / "pmed_orlib"
OUT = ROOT / "results" / "pmed"
COMMITTED = ROOT / "experiments" / "results" / "pmed"
METHODS = ["fasterpam", "auto"]


def run_task(task: dict) -> dict:
    res = pmed.solve(pmed.read(task["file"]), task["method"], task["time_limit"], task["seed"])
    return {k: res[k] for k in ("objective", "bound", "status", "gap", "optimum", "gap_to_optimum", "n", "p",
                                "wall_time", "medians")}


def number(name: str) -> int:
    return int(re.sub(r"\D", "", name) or 0)


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def markdown(records: list[dict], methods: list[str], names: list[str], optima: dict, args, command: str,
             load: tuple) -> str:
    by = {(r["task"]["instance"], r["task"]["method"]): r for r in records}
    missing = [f"pmed{k}" for k in range(1, 41) if f"pmed{k}" not in names and f"pmed{k}" in optima]
    lines = ["# p-median engine on the OR-Library instances", "", f"Command: `{command}`", "",
             f"Time limit {args.time_limit} s per run, seed {args.seed}, {args.jobs} runs in parallel; load average "
             f"at the start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores (the machine is "
             "shared, so times are upper bounds). `opt` = the published optimum (`pmedopt.txt`); gap to opt = "
             "(objective - opt) / opt; `bound` = the proven lower bound the method reports; `proven` = status "
             "optimal (objective = bound).", ""]
    if missing:
        lines += [f"Instance files present: {len(names)} ({names[0]}-{names[-1]}). Not in the benchmark folder, so "
                  f"not run: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} ({len(missing)} instances; "
                  "their optima are listed in pmedopt.txt but the files were not placed).", ""]
    lines += ["## Summary", "",
              "| method | runs | errors | at opt | proven optimal | mean gap to opt % | max gap to opt % | "
              "mean gap to own bound % | mean time s | max time s | total time s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in methods:
        rs = [by[(n, m)] for n in names if (n, m) in by]
        ok = [r for r in rs if r.get("status") != "error"]
        if not rs:
            continue
        known = [r for r in ok if r.get("optimum") is not None]
        gaps = [r["gap_to_optimum"] for r in known]
        times = [r["wall_time"] for r in ok]
        lines.append(f"| {m} | {len(rs)} | {len(rs) - len(ok)} | "
                     f"{sum(r['objective'] == r['optimum'] for r in known)}/{len(known)} | "
                     f"{sum(r['status'] == 'optimal' for r in ok)}/{len(ok)} | "
                     f"{pct(np.mean(gaps)) if gaps else '-'} | {pct(max(gaps)) if gaps else '-'} | "
                     f"{pct(np.mean([r['gap'] for r in ok])) if ok else '-'} | "
                     f"{np.mean(times):.2f} | {max(times):.2f} | {sum(times):.1f} |")
    head = "| instance | n | p | opt |"
    rule = "|---|---:|---:|---:|"
    for m in methods:
        head += f" {m} obj | gap to opt % | bound | status | time s |"
        rule += "---:|---:|---:|---|---:|"
    lines += ["", "## Per instance", "", head, rule]
    for n in names:
        first = next((by[(n, m)] for m in methods if (n, m) in by and by[(n, m)].get("status") != "error"), {})
        row = f"| {n} | {first.get('n', '-')} | {first.get('p', '-')} | {optima.get(n, '-')} |"
        for m in methods:
            r = by.get((n, m))
            if r is None or r.get("status") == "error":
                row += f" {'-' if r is None else 'error'} | | | | |"
                continue
            row += (f" {r['objective']} | {pct(r['gap_to_optimum'])} | {r['bound']} | {r['status']} | "
                    f"{r['wall_time']:.2f} |")
        lines.append(row)
    errors = [(r["task"]["instance"], r["task"]["method"], r.get("error")) for r in records if r.get("status") == "error"]
    if errors:
        lines += ["", f"Errors: {errors[:5]}"]
    return "\n".join(lines)


def timed(fn, repeat: int = 3):
    """Best wall time of `repeat` calls (the machine is shared) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def speed_section(files: list[Path], seeds: int) -> list[str]:
    """mapopt's fasterpam against the kmedoids package's on the same matrices, in this process."""
    try:
        import kmedoids
    except ImportError:
        return ["", "## FasterPAM against the kmedoids package", "", "kmedoids is not installed: not measured."]
    from mapopt.engines import pmedian
    rows, tk, tm, gk, gm, bm = [], [], [], [], [], []
    for f in files:
        inst = pmed.read(f)
        D, p, opt = inst.distances, inst.p, inst.optimum
        row = {"name": inst.name, "n": inst.n, "p": p, "tk": [], "tm": [], "gk": [], "gm": [], "bm": []}
        for s in range(seeds):
            t1, rk = timed(lambda: kmedoids.fasterpam(D, p, random_state=s, n_cpu=1))
            t2, rm = timed(lambda: pmedian.fasterpam(D, p, seed=s))
            row["tk"].append(t1)
            row["tm"].append(t2)
            row["gk"].append((float(rk.loss) - opt) / opt)
            row["gm"].append((rm.objective - opt) / opt)
            row["bm"].append((rm.objective - rm.bound) / rm.objective)
        rows.append(row)
        for acc, key in ((tk, "tk"), (tm, "tm"), (gk, "gk"), (gm, "gm"), (bm, "bm")):
            acc.extend(row[key])

    def geo(v):
        return float(np.exp(np.mean(np.log(v))))

    out = ["", "## FasterPAM against the kmedoids package", "",
           f"Same matrix, this process, seeds 0-{seeds - 1}, best of 3 calls each; `kmedoids` = "
           "`kmedoids.fasterpam(D, p, random_state=seed, n_cpu=1)` (its default random start), `mapopt` = "
           "`mapopt.engines.pmedian.fasterpam(D, p, seed=seed)` (the package's compiled search from a seeded random "
           "start where it is installed, plus mapopt's bound). Gap to opt and gap to own bound are means over seeds.",
           "", f"Geometric mean time: kmedoids {1e3 * geo(tk):.3f} ms, mapopt {1e3 * geo(tm):.3f} ms "
           f"(ratio {geo(tm) / geo(tk):.2f}); mean gap to opt: kmedoids {pct(np.mean(gk))} %, mapopt "
           f"{pct(np.mean(gm))} %; mapopt's mean gap to its own bound {pct(np.mean(bm))} %.", "",
           "| instance | n | p | kmedoids ms | mapopt ms | kmedoids gap to opt % | mapopt gap to opt % | "
           "mapopt gap to own bound % |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['n']} | {r['p']} | {1e3 * geo(r['tk']):.3f} | {1e3 * geo(r['tm']):.3f} | "
                   f"{pct(np.mean(r['gk']))} | {pct(np.mean(r['gm']))} | {pct(np.mean(r['bm']))} |")
    return out


def write_csv(records: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["instance", "method", "n", "p", "optimum", "objective", "bound", "status", "gap_to_optimum",
                    "wall_time", "time_limit", "seed"])
        for r in records:
            t = r["task"]
            w.writerow([t["instance"], t["method"], r.get("n"), r.get("p"), r.get("optimum"), r.get("objective"),
                        r.get("bound"), r.get("status"), r.get("gap_to_optimum"), r.get("wall_time"),
                        t["time_limit"], t["seed"]])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per run (default 60)")
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=list(pmed.METHODS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench-dir", type=Path, default=BENCH)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--speed-seeds", type=int, default=5, help="seeds of the kmedoids comparison (0: skip it)")
    args = ap.parse_args(argv)
    files = sorted(args.bench_dir.glob("pmed*.txt"), key=lambda p: number(p.stem))
    files = [f for f in files if f.stem != "pmedopt"]
    if not files:
        sys.exit(f"no pmed*.txt instances in {args.bench_dir}")
    optima = {k: int(v) if float(v).is_integer() else v for k, v in pmed.known_optima(args.bench_dir).items()}
    names = [f.stem for f in files]
    tasks = [{"instance": f.stem, "file": str(f), "method": m, "time_limit": args.time_limit, "seed": args.seed}
             for f in files for m in args.methods]
    # the largest instances first, so the parallel tail is short
    tasks.sort(key=lambda t: (-number(t["instance"]), t["method"] != "auto"))
    load = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records = run_bench(tasks, run_task, args.out / "classic.jsonl", jobs=args.jobs)
    print(f"{len(tasks)} tasks in {time.perf_counter() - start:.1f} s (this call)", file=sys.stderr)
    command = "python experiments/pmed_classic.py " + " ".join(sys.argv[1:] if argv is None else argv)
    md = markdown(records, args.methods, names, optima, args, command.strip(), load)
    if args.speed_seeds:
        md += "\n" + "\n".join(speed_section(files, args.speed_seeds))
    (args.out / "classic.md").write_text(md + "\n")
    write_csv(records, args.out / "classic.csv")
    if args.out.resolve() == OUT.resolve():  # a run elsewhere leaves the committed table alone
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "classic.md", COMMITTED / "classic.md")
    print(md)


if __name__ == "__main__":
    main()
