"""Bit-slice packing, heuristic against exact, on small (crossbar set, group) subproblems of real layers.

Run: ``python experiments/bitslice_exact.py [--time-limit 10] [--per-stratum 6] [--hard 6] [--large 3] [--jobs 2]``.

Subproblems come from the unpruned 8-bit layers (float weights before pruning, quantized as the
instance is) of ResNet-20/32/44 and ResNet-8 in ``instances/``, under ``preset('bitslice')``
(slices [1, 2, 2, 2], ADC [1, 3, 3, 3]: capacity 1 on plane 0, 7 on planes 1-3, OU 9 rows,
natural groups of 8 columns), via `mapopt.problems.bitslice_packing.problem.subproblems`.
They are sampled, with a fixed seed, per plane and per size stratum of kept rows
(9-25, 26-50, 51-100, 101-200), in two samples:

- ``random`` (``--per-stratum`` per cell): real subproblems of that size (``origin = real``),
  and where those run out, random row subsets of larger real subproblems of the same plane
  (``origin = cut``). Most of them are easy: the heuristic meets the lower bound;
- ``hard`` (``--hard`` per cell): from the same sources in random order, only those where
  first-fit decreasing misses the lower bound (at most ``--tries`` candidates examined per cell).

``--large`` more of each per plane come from the real subproblems above 200 rows (up to 576),
to show where CP-SAT stops proving.

On each: the packing lower bound (`vector_packing.lower_bound`: cardinality, L2 per column,
clique), first-fit decreasing, the combined `vector_packing.heuristic`, and
`vector_packing.cpsat` (``--time-limit`` seconds of solve, one worker, the heuristic's packing
as hint; the wall time reported includes model building). Results:
``results/bitslice/exact.jsonl`` (resumable), ``exact.md`` / ``exact.json``, ``exact.png``; the
markdown is copied to ``experiments/results/bitslice/exact.md``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.engines import vector_packing as vp
from mapopt.hardware import preset
from mapopt.instance import instance_files, read_instance
from mapopt.layer import Layer
from mapopt.problems.bitslice_packing.problem import natural_groups, subproblems

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bitslice"
COMMITTED = ROOT / "experiments" / "results" / "bitslice"
NETWORKS = ["resnet20", "resnet32", "resnet44", "resnet8"]
STRATA = [(9, 25), (26, 50), (51, 100), (101, 200)]
LARGE = (201, 100000)


def label(lo: int, hi: int) -> str:
    return f"{lo}-{hi}" if hi < 100000 else f">{lo - 1}"


@functools.lru_cache(maxsize=8)
def layer_subproblems(file: str):
    """The subproblems of the unpruned layer of an instance file (natural groups, preset bitslice)."""
    layer = read_instance(ROOT / file).layer
    layer = Layer.from_weights(layer.weight, layer.name, layer.weight_bits,
                               per_channel=layer.scale.shape != (1,), kind=layer.kind)
    spec = preset("bitslice")
    return spec, subproblems(layer.matrix, spec, natural_groups(layer.n_outputs, spec.ou_cols))


def _sizes(file: str, set_index: int, group: int, keep) -> tuple[np.ndarray, int, int]:
    """Item sizes of one (set, group) of a layer, optionally only the rows `keep`; capacity and h."""
    spec, subs = layer_subproblems(file)
    sub = next(s for s in subs if s.set_index == set_index and s.group_index == group)
    sizes = sub.sizes if keep is None else sub.sizes[np.asarray(keep, dtype=np.int64)]
    return sizes, sub.capacity, spec.ou_rows


def _hard(file, set_index, group, keep) -> bool:
    """First-fit decreasing needs more activations than the lower bound (a cheap filter)."""
    sizes, cap, h = _sizes(file, set_index, group, keep)
    c = np.full(sizes.shape[1], cap)
    ffd = vp.first_fit(sizes, c, h, vp.order(sizes, c, "sum"))
    return int(ffd.max()) + 1 > vp.lower_bound(sizes, c, h)


def make_tasks(args) -> list[dict]:
    """Stratified sample of (set, group) subproblems per plane and size stratum (see the module docstring)."""
    rng = np.random.default_rng(args.seed)
    pool = []  # (network, file, set, group, plane, rows)
    for net in args.networks:
        d = ROOT / "instances" / net
        if not (d / "index.json").is_file():
            print(f"skipping {net}: no {d}/index.json", file=sys.stderr)
            continue
        for f in instance_files(d):
            rel = os.path.relpath(f, ROOT)
            _, subs = layer_subproblems(rel)
            pool += [(net, rel, s.set_index, s.group_index, s.slice_index, len(s.rows)) for s in subs]
    tasks, seen = [], set()

    def add(entry, plane, st, origin, keep, kind):
        net, file, s, g, _, _ = entry
        key = (file, s, g, None if keep is None else tuple(keep))
        if key in seen:
            return False
        seen.add(key)
        tasks.append({"network": net, "file": file, "set": s, "group": g, "plane": plane, "stratum": st,
                      "origin": origin, "keep": keep, "sample": kind})
        return True

    strata = [(lo, hi, args.per_stratum, args.hard) for lo, hi in STRATA]
    if args.large:
        strata.append((*LARGE, args.large, args.large))
    for plane in range(4):
        for lo, hi, count, hard in strata:
            st = label(lo, hi)
            real = [p for p in pool if p[4] == plane and lo <= p[5] <= hi]
            bigger = [p for p in pool if p[4] == plane and p[5] > hi]
            order = [real[i] for i in rng.permutation(len(real))]
            # random sample: real subproblems of the stratum, then random row subsets of bigger ones
            got = sum(add(p, plane, st, "real", None, "random") for p in order[:count])
            for _ in range(count - got):
                if not bigger:
                    break
                p = bigger[rng.integers(len(bigger))]
                keep = np.sort(rng.choice(p[5], size=int(rng.integers(lo, hi + 1)), replace=False)).tolist()
                add(p, plane, st, "cut", keep, "random")
            # hard sample: the same sources, kept only when first-fit decreasing misses the lower bound
            got, tries = 0, 0
            for p in order:
                if got >= hard or tries >= args.tries:
                    break
                tries += 1
                if _hard(p[1], p[2], p[3], None) and add(p, plane, st, "real", None, "hard"):
                    got += 1
            while got < hard and tries < args.tries and bigger:
                tries += 1
                p = bigger[rng.integers(len(bigger))]
                keep = np.sort(rng.choice(p[5], size=int(rng.integers(lo, hi + 1)), replace=False)).tolist()
                if _hard(p[1], p[2], p[3], keep) and add(p, plane, st, "cut", keep, "hard"):
                    got += 1
            if got < hard:
                print(f"plane {plane}, {st} rows: only {got} of {hard} hard subproblems in {tries} tries",
                      file=sys.stderr)
    for t in tasks:
        t.update(time_limit=args.time_limit, seed=args.seed)
    return tasks


def run_task(task: dict) -> dict:
    sizes, capacity, h = _sizes(task["file"], task["set"], task["group"], task["keep"])
    cap = np.full(sizes.shape[1], capacity)
    t = time.perf_counter()
    lb = vp.lower_bound(sizes, cap, h)
    lb_time = time.perf_counter() - t
    t = time.perf_counter()
    ffd = vp.first_fit(sizes, cap, h, vp.order(sizes, cap, "sum"))
    ffd_time = time.perf_counter() - t
    t = time.perf_counter()
    heur = vp.heuristic(sizes, cap, h)
    heur_time = time.perf_counter() - t
    t = time.perf_counter()
    res = vp.cpsat(sizes, cap, h, task["time_limit"], task["seed"], 1, heur)
    cp_time = time.perf_counter() - t
    n_heur = int(heur.max()) + 1 if len(heur) else 0
    return {"rows": int(len(sizes)), "types": int(len(np.unique(sizes, axis=0))), "capacity": int(capacity),
            "nonzeros": int(np.count_nonzero(sizes)), "lb": int(lb), "lb_time": round(lb_time, 4),
            "ffd": int(ffd.max()) + 1 if len(ffd) else 0, "ffd_time": round(ffd_time, 4),
            "heuristic": n_heur, "heuristic_time": round(heur_time, 4),
            "cpsat": int(res.n_bins), "cpsat_bound": int(res.bound), "cpsat_status": res.status.value,
            "cpsat_time": round(cp_time, 3), "cpsat_improved": int(res.n_bins) < n_heur,
            "cpsat_ran": n_heur > lb}


# ----------------------------------------------------------------------------------------------- report

def table(head, body, left=2):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * left + ["---:"] * (len(head) - left)) + "|"]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in body]


def summarize(recs: list[dict]) -> dict:
    n = len(recs)
    opt = [r for r in recs if r["cpsat_status"] == "optimal"]
    ran = [r for r in recs if r["cpsat_ran"]]
    best = [r["cpsat"] for r in recs]
    return {
        "n": n, "rows_mean": round(float(np.mean([r["rows"] for r in recs])), 1),
        "types_mean": round(float(np.mean([r["types"] for r in recs])), 1),
        "heur_at_lb": sum(r["heuristic"] <= r["lb"] for r in recs),
        "cpsat_ran": len(ran),
        "proven": len(opt), "proven_when_ran": sum(r["cpsat_status"] == "optimal" for r in ran),
        "improved": sum(r["cpsat_improved"] for r in recs),
        "heur_optimal": sum(r["heuristic"] == r["cpsat"] for r in opt),
        "ffd_optimal": sum(r["ffd"] == r["cpsat"] for r in opt),
        "heur_gap_opt": round(100 * float(np.mean([(r["heuristic"] - r["cpsat"]) / r["cpsat"] for r in opt])), 2) if opt else None,
        "ffd_gap_opt": round(100 * float(np.mean([(r["ffd"] - r["cpsat"]) / r["cpsat"] for r in opt])), 2) if opt else None,
        "heur_gap_bound": round(100 * float(np.mean([(r["heuristic"] - r["cpsat_bound"]) / r["cpsat_bound"] for r in recs])), 2),
        "best_gap_bound": round(100 * float(np.mean([(b - r["cpsat_bound"]) / r["cpsat_bound"] for r, b in zip(recs, best)])), 2),
        "lb_raised": sum(r["cpsat_bound"] > r["lb"] for r in recs),
        "heur_time_mean": round(float(np.mean([r["heuristic_time"] for r in recs])), 4),
        "cpsat_time_mean": round(float(np.mean([r["cpsat_time"] for r in ran])), 2) if ran else 0.0,
        "cpsat_time_max": round(float(np.max([r["cpsat_time"] for r in ran])), 2) if ran else 0.0,
        "rows_largest_proven_above_lb": max([r["rows"] for r in opt if r["cpsat_ran"]], default=None),
    }


def markdown(records: list[dict], args) -> tuple[str, dict]:
    ok = [r for r in records if r.get("status") != "error"]
    for r in ok:
        r.update({k: r["task"][k] for k in ("plane", "stratum", "origin", "network", "sample")})
    strata = [label(lo, hi) for lo, hi in STRATA] + ([label(*LARGE)] if args.large else [])
    lines = ["# Bit-slice packing: heuristic against CP-SAT on small groups", "",
             f"Command: `python experiments/bitslice_exact.py {' '.join(sys.argv[1:])}`".rstrip(), "",
             f"{len(ok)} (crossbar set, group) subproblems of unpruned 8-bit ResNet layers (`preset('bitslice')`: "
             "plane 0 capacity 1, planes 1-3 capacity 7, at most 9 rows per activation), sampled per plane and "
             f"size stratum (seed {args.seed}); `cut` = a random row subset of a larger real subproblem. "
             "`random` = uniform within each cell; `hard` = only subproblems where first-fit decreasing misses "
             "the lower bound (where an exact method can matter). "
             f"CP-SAT: {args.time_limit} s solve limit, one worker, heuristic hint; its wall time includes "
             "model building. `proven` = CP-SAT status optimal (this includes subproblems where the heuristic "
             "already meets the lower bound and CP-SAT is not called: `CP-SAT ran` counts the others). "
             "Gaps are means over the subproblems proven optimal (`to opt`), or over all against CP-SAT's "
             "proven bound (`to bound`). `LB raised` = CP-SAT's bound above the static lower bound.", ""]
    head = ["sample", "plane", "rows", "n", "rows mean", "types mean", "heur at LB", "CP-SAT ran", "proven", "proven / ran",
            "CP-SAT improved", "heur = opt", "ffd = opt", "heur gap to opt %", "ffd gap to opt %",
            "heur gap to bound %", "best gap to bound %", "LB raised", "heur s", "CP-SAT s mean", "CP-SAT s max",
            "largest proven (ran)"]
    body, summary = [], {}
    cells = [(sample, plane, st) for sample in ("random", "hard") for plane in ["all", 0, 1, 2, 3]
             for st in ["all", *strata] if plane == "all" or st == "all" or sample == "hard"]
    for sample, plane, st in cells:
            recs = [r for r in ok if r["sample"] == sample and (plane == "all" or r["plane"] == plane)
                    and (st == "all" or r["stratum"] == st)]
            if not recs:
                continue
            s = summarize(recs)
            summary[f"{sample}/{plane}/{st}"] = s
            body.append([sample, plane, st, s["n"], s["rows_mean"], s["types_mean"], s["heur_at_lb"], s["cpsat_ran"], s["proven"],
                         f"{s['proven_when_ran']}/{s['cpsat_ran']}", s["improved"], s["heur_optimal"], s["ffd_optimal"],
                         s["heur_gap_opt"], s["ffd_gap_opt"], s["heur_gap_bound"], s["best_gap_bound"], s["lb_raised"],
                         s["heur_time_mean"], s["cpsat_time_mean"], s["cpsat_time_max"],
                         s["rows_largest_proven_above_lb"] or "-"])
    lines += table(head, body, 3)
    lines += ["", "## Subproblems where CP-SAT ran (heuristic above the static bound)", ""]
    body = [[r["sample"], r["plane"], r["stratum"], r["origin"], r["network"], r["rows"], r["types"], r["lb"], r["ffd"], r["heuristic"],
             r["cpsat"], r["cpsat_bound"], r["cpsat_status"], r["cpsat_time"]]
            for r in sorted(ok, key=lambda r: (r["sample"], r["plane"], r["rows"])) if r["cpsat_ran"]]
    lines += table(["sample", "plane", "stratum", "origin", "network", "rows", "types", "LB", "ffd", "heuristic",
                    "CP-SAT", "CP-SAT bound", "status", "CP-SAT s"], body, 5)
    errors = [r for r in records if r.get("status") == "error"]
    if errors:
        lines += ["", f"{len(errors)} tasks failed, e.g. {errors[0]['error']}"]
    return "\n".join(lines) + "\n", summary


def figure(records: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ok = [r for r in records if r.get("status") != "error" and r["cpsat_ran"]]
    if not ok:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for status, marker in (("optimal", "o"), ("feasible", "x")):
        sel = [r for r in ok if r["cpsat_status"] == status]
        ax.scatter([r["rows"] for r in sel], [r["cpsat_time"] for r in sel], marker=marker,
                   c=[r["task"]["plane"] for r in sel], cmap="viridis", vmin=0, vmax=3, label=f"CP-SAT {status}")
    ax.set_xscale("log")
    ax.set_xlabel("kept rows in the (set, group)")
    ax.set_ylabel("CP-SAT wall time (s, incl. model building)")
    ax.set_title("Where CP-SAT stops proving (colour = plane)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=10.0, help="CP-SAT solve limit per subproblem (s)")
    ap.add_argument("--per-stratum", type=int, default=6, help="subproblems per plane and size stratum")
    ap.add_argument("--hard", type=int, default=6,
                    help="more subproblems per plane and stratum where first-fit decreasing misses the bound")
    ap.add_argument("--tries", type=int, default=300, help="candidates examined per cell for the hard sample")
    ap.add_argument("--large", type=int, default=3,
                    help="random and hard subproblems each per plane above 200 rows (0: none)")
    ap.add_argument("--networks", nargs="+", default=NETWORKS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = make_tasks(args)
    t = time.perf_counter()
    # by reference to this module (not by value from __main__), so the workers keep their caches
    records = run_bench(tasks, importlib.import_module(Path(__file__).stem).run_task, args.out / "exact.jsonl", jobs=args.jobs)
    print(f"{len(tasks)} subproblems in {time.perf_counter() - t:.1f} s (this call)", file=sys.stderr)
    md, summary = markdown(records, args)
    (args.out / "exact.md").write_text(md)
    flat = [{**r["task"], **{k: v for k, v in r.items() if k not in ("task", "key")}} for r in records]
    for r in flat:
        r.pop("keep", None)
    (args.out / "exact.json").write_text(json.dumps({"summary": summary, "records": flat}, indent=1) + "\n")
    figure(records, args.out / "exact.png")
    if args.out.resolve() == OUT.resolve():  # a test run elsewhere leaves the committed tables alone
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "exact.md", COMMITTED / "exact.md")
    print(md)


if __name__ == "__main__":
    main()
