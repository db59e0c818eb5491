"""Classical 2D bin packing: the engine of pattern-block placement against published results and rectpack.

Run: ``python experiments/bp2d_classic.py [--methods heuristic] [--classes 1 2 ...] [--jobs 2]``

Reads the 500 Berkey-Wang / Martello-Vigo instances in
``../shared/benchmarks/2bp_berkey_wang_martello_vigo/instances`` (see its ``PROVENANCE.md``) with
`mapopt.classic.bp2d`. Per instance it records our bins and lower bound and, in the same run,
the best of rectpack's configurations (MaxRects BSSF/BAF/BL, Skyline BL/MWF, Guillotine BSSF-SAS;
area and max-side orders; no rotation), when rectpack is installed (``pip install rectpack``).
Compared with: the best-known upper bound per instance (classes 1-4) and the best published
heuristic total per (class, n) group (BRKGA, GRASP/VND, PAC; all 50 groups). Results:
``results/pattern/bp2d.jsonl`` (resumable) and ``bp2d.md``, copied to
``experiments/results/pattern/bp2d.md``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.classic import bp2d

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "benchmarks" / "2bp_berkey_wang_martello_vigo"
OUT = ROOT / "results" / "pattern"
COMMITTED = ROOT / "experiments" / "results" / "pattern"


def rectpack_bins(inst: bp2d.Bp2dInstance) -> int | None:
    """Fewest bins over rectpack's configurations; None when rectpack is absent."""
    try:
        import rectpack
    except ImportError:
        return None
    algos = [rectpack.MaxRectsBssf, rectpack.MaxRectsBaf, rectpack.MaxRectsBl, rectpack.SkylineBl,
             rectpack.SkylineMwf, rectpack.GuillotineBssfSas]
    best = None
    for algo in algos:
        for sort in (rectpack.SORT_AREA, rectpack.SORT_LSIDE):
            packer = rectpack.newPacker(pack_algo=algo, sort_algo=sort, rotation=False,
                                        bin_algo=rectpack.PackingBin.BFF)
            for i, (w, h) in enumerate(zip(inst.widths.tolist(), inst.heights.tolist())):
                packer.add_rect(w, h, rid=i)
            packer.add_bin(inst.W, inst.H, count=float("inf"))
            packer.pack()
            if len(packer.rect_list()) == len(inst.widths):
                best = len(packer) if best is None else min(best, len(packer))
    return best


def run_task(task: dict) -> dict:
    inst = bp2d.read(task["path"])
    res = bp2d.solve(inst, task["method"], task["time_limit"], task["seed"])
    t = time.perf_counter()
    res["rectpack"] = rectpack_bins(inst)
    res["rectpack_time"] = round(time.perf_counter() - t, 3)
    return res


def published(bench: Path) -> dict[tuple[int, int], int]:
    """(class, n) -> best published heuristic total over the group's 10 instances."""
    with (bench / "bks_per_group_published.csv").open() as f:
        return {(int(r["class"]), int(r["n"])): int(r["best_published_total_excl_ealgfi"]) for r in csv.DictReader(f)}


def markdown(records: list[dict], args) -> str:
    ok = [r for r in records if r.get("status") != "error"]
    pub = published(args.bench)
    lines = ["# 2D bin packing (Berkey-Wang, Martello-Vigo) with the pattern-placement engine", "",
             f"Command: `python experiments/bp2d_classic.py {' '.join(sys.argv[1:])}`".rstrip(), "",
             f"{len(ok)} runs. `bks` = best-known upper bound per instance (classes 1-4 only); `published` = "
             "best published heuristic total of the group (10 instances); `rectpack` = best of 12 rectpack "
             "configurations per instance, summed; `proven` = bins equal to our lower bound. Wall times on a "
             "shared 2-core machine.", ""]
    for method in sorted({r["task"]["method"] for r in ok}):
        recs = [r for r in ok if r["task"]["method"] == method]
        groups = defaultdict(list)
        for r in recs:
            groups[(r["task"]["class"], r["task"]["n"])].append(r)
        lines += [f"## `{method}`", "",
                  "| class | n | instances | bins | lower bound | published | rectpack | proven | at bks | time mean s | time max s |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for key in sorted(groups):
            g = groups[key]
            bks = [r for r in g if r["best_known"] is not None]
            rp = [r["rectpack"] for r in g if r["rectpack"] is not None]
            lines.append("| " + " | ".join(str(v) for v in [
                key[0], key[1], len(g), sum(r["bins"] for r in g), sum(r["lower_bound"] for r in g),
                pub.get(key, "") if len(g) == 10 else "", sum(rp) if len(rp) == len(g) else "",
                sum(r["bins"] <= r["lower_bound"] for r in g),
                f"{sum(r['bins'] <= r['best_known'] for r in bks)}/{len(bks)}" if bks else "",
                round(float(np.mean([r["wall_time"] for r in g])), 2),
                round(float(max(r["wall_time"] for r in g)), 2)]) + " |")
        bks = [r for r in recs if r["best_known"] is not None]
        full = [k for k, g in groups.items() if len(g) == 10 and k in pub]
        rp = [r for r in recs if r["rectpack"] is not None]
        big = [r["wall_time"] for r in recs if r["task"]["n"] == 100]
        lines += ["", f"- Instances: {len(recs)}; bins {sum(r['bins'] for r in recs)}, lower bounds "
                  f"{sum(r['lower_bound'] for r in recs)}, proven optimal {sum(r['bins'] <= r['lower_bound'] for r in recs)}.",
                  f"- At the best-known value (classes 1-4): {sum(r['bins'] <= r['best_known'] for r in bks)} of {len(bks)}"
                  + (f" ({100 * sum(r['bins'] <= r['best_known'] for r in bks) / len(bks):.1f} %)" if bks else "")
                  + f"; below it (new best): {sum(r['bins'] < r['best_known'] for r in bks)}.",
                  f"- Complete groups against the published totals: ours {sum(sum(r['bins'] for r in groups[k]) for k in full)}"
                  f" vs {sum(pub[k] for k in full)} over {len(full)} groups; groups at or below the published total: "
                  f"{sum(sum(r['bins'] for r in groups[k]) <= pub[k] for k in full)}.",
                  f"- rectpack (same instances): {sum(r['rectpack'] for r in rp)} bins vs ours "
                  f"{sum(r['bins'] for r in rp)} on {len(rp)} instances.",
                  f"- 100-item instances: mean {np.mean(big) if big else float('nan'):.2f} s, max "
                  f"{max(big) if big else float('nan'):.2f} s.", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", nargs="+", default=["heuristic"], choices=bp2d.METHODS)
    ap.add_argument("--classes", nargs="+", type=int, default=list(range(1, 11)))
    ap.add_argument("--sizes", nargs="+", type=int, default=[20, 40, 60, 80, 100])
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bench", type=Path, default=BENCH)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    folder = args.bench / "instances"
    if not folder.is_dir():
        print(f"no 2BP instances under {folder}; nothing to run", file=sys.stderr)
        return
    files = sorted(p for p in folder.iterdir()
                   if int(p.name[5:7]) in args.classes and int(p.name[8:11]) in args.sizes)
    tasks = [{"instance": p.name, "class": int(p.name[5:7]), "n": int(p.name[8:11]), "path": str(p),
              "method": m, "time_limit": args.time_limit, "seed": args.seed} for p in files for m in args.methods]
    args.out.mkdir(parents=True, exist_ok=True)
    records = run_bench(tasks, run_task, args.out / "bp2d.jsonl", jobs=args.jobs)
    md = markdown(records, args)
    (args.out / "bp2d.md").write_text(md)
    if args.out.resolve() == OUT.resolve():
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "bp2d.md", COMMITTED / "bp2d.md")
    print(md)


if __name__ == "__main__":
    main()
