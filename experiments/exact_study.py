"""Heuristics against exact methods on instances of growing size, for all four mapping problems.

Run: ``python experiments/exact_study.py [--time-limit 60] [--quick] [--problems P ...] [--seed 0]
[--out DIR] [--jsonl FILE]`` (``--quick``: fewer sizes and, unless ``--time-limit`` is given, 10 s per
method).

For each problem, two families of instances grow in one dimension:

- ``real``: sub-instances of ResNet-20 ``layer3.0.conv2`` (``instances/resnet20``, 64 x 64 x 3 x 3),
  the first ``k`` filters or the first ``c`` input channels (``9 c`` rows);
- ``random``: the same cut of a generated layer of normal weights (as sparse as the real one where
  the problem starts from the pruned layer), as large as the biggest size asked for.

| problem | layer | hardware | size axis | other dimension |
|---|---|---|---|---|
| filter-ordering | pruned (80 %) | ``spec_for(4)``: g = 4 filters per OU column group | filters | all 64 channels |
| bitslice-packing | unpruned, 8-bit | ``bitslice`` | channels (rows = 9 c) | first 8 filters |
| pattern-placement | unpruned, 8-bit | ``pattern`` | filters | all 64 channels |
| reuse-clustering | unpruned, 8-bit | ``reuse`` (theta 0.25) | filters (sub-vectors per block) | first 8 channels |

(``spec_for(4)``: the ``orc`` preset with 4-bit cells and an 8-bit ADC, from ``filter_ordering_layers``.)

Every method of the problem (`mapopt.problems.methods`) runs through `mapopt.solve.solve` with
the time limit, one worker and the seed; the script asserts that each mapping is valid and
exact (objective = the simulator's count). Records (objective, proven bound, gap, status, wall
time) are appended to ``results/study/study.jsonl`` by `mapopt.bench.run_bench` (rerun to resume).

Outputs: ``experiments/results/study/study.md`` (per problem: gap to the best proven bound and time
per size and method; where the exact methods stop proving optimality) and the figures
``gap_vs_size.png`` and ``time_vs_size.png`` beside it (one subplot per problem).
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapopt.bench import run_bench
from mapopt.hardware import HardwareSpec, preset
from mapopt.instance import Instance, read_instance
from mapopt.layer import Layer
from mapopt.problems import methods
from mapopt.solve import solve

from filter_ordering_exact import sub_layer  # first k filters of a layer
from filter_ordering_layers import spec_for  # hardware giving g filters per OU column group

ROOT = Path(__file__).resolve().parents[1]
JSONL = ROOT / "results" / "study" / "study.jsonl"
OUT = ROOT / "experiments" / "results" / "study"
SOURCE = "instances/resnet20/layer3.0.conv2.npz"
FAMILIES = ("real", "random")
QUICK_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class Setup:
    """How one problem's instances are built and grown."""

    spec: HardwareSpec
    pruned: bool  # the instance's pruned weights, or its unpruned float weights quantized to 8 bits
    vary: str  # "filters" or "channels": the dimension that grows
    fixed: int | None  # cut of the other dimension (None: all of it)
    sizes: tuple[int, ...]
    quick: tuple[int, ...]


SETUPS = {
    "filter-ordering": Setup(spec_for(4), True, "filters", None, (8, 12, 16, 20, 24, 32, 48, 64), (8, 12, 16, 24, 32)),
    "bitslice-packing": Setup(preset("bitslice"), False, "channels", 8, (2, 4, 8, 16, 32, 64, 128), (4, 8, 16, 32, 64)),
    "pattern-placement": Setup(preset("pattern"), False, "filters", None, (4, 8, 16, 32, 64, 128, 256),
                               (4, 16, 64, 256)),
    "reuse-clustering": Setup(preset("reuse"), False, "filters", 8, (16, 32, 64, 128, 256, 512), (16, 64, 256, 512)),
}
#: methods that choose their own number of representatives, so their error is not comparable
OFF_BUDGET = {"reuse-clustering": ("identical", "prap-threshold")}


# ----------------------------------------------------------------------------------------------- instances

@functools.lru_cache(maxsize=None)
def source_layer(pruned: bool) -> Layer:
    """The real source layer, pruned as stored or its unpruned weights quantized per layer."""
    layer = read_instance(ROOT / SOURCE).layer
    if pruned:
        return layer
    return Layer.from_weights(layer.weight, layer.name, layer.weight_bits,
                              per_channel=layer.scale.shape != (1,), kind=layer.kind)


@functools.lru_cache(maxsize=None)
def family_layer(problem: str, family: str, seed: int) -> Layer:
    """The layer a family's instances are cut from: the real one, or random normal weights at least as large."""
    setup, real = SETUPS[problem], source_layer(SETUPS[problem].pruned)
    if family == "real":
        return real
    k, c, r, s = real.shape
    shape = (max(k, *setup.sizes) if setup.vary == "filters" else k,
             max(c, *setup.sizes) if setup.vary == "channels" else c, r, s)
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=shape)
    if setup.pruned:
        weight *= rng.random(shape) >= real.sparsity
    return Layer.from_weights(weight, f"random{list(shape)}", real.weight_bits)


def first_channels(layer: Layer, c: int) -> Layer:
    """The first `c` input channels of a conv layer (all filters)."""
    weight = None if layer.weight is None else layer.weight[:, :c]
    return Layer(f"{layer.name}[:, :{c}]", layer.kind, layer.quantized[:, :c], layer.scale, layer.weight_bits, weight)


def dims(problem: str, size: int) -> tuple[int | None, int | None]:
    """(filters, channels) of a size; None keeps the whole dimension."""
    setup = SETUPS[problem]
    return (size, setup.fixed) if setup.vary == "filters" else (setup.fixed, size)


def fits(problem: str, family: str, size: int, seed: int) -> bool:
    """Whether the family's layer is large enough for this size."""
    k, c = family_layer(problem, family, seed).shape[:2]
    filters, channels = dims(problem, size)
    return (filters or 0) <= k and (channels or 0) <= c


def instance(problem: str, family: str, size: int, seed: int) -> Instance:
    """The sub-instance of one problem, family and size."""
    layer = family_layer(problem, family, seed)
    filters, channels = dims(problem, size)
    if filters is not None:
        layer = sub_layer(layer, filters)
    if channels is not None:
        layer = first_channels(layer, channels)
    return Instance(layer, SETUPS[problem].spec)


# ----------------------------------------------------------------------------------------------- runs

def number(x):
    """A JSON number: int when integral, else float; None stays None."""
    if x is None:
        return None
    return int(x) if float(x).is_integer() else float(x)


def run_task(task: dict) -> dict:
    """Solve one (problem, family, size, method); assert the mapping is valid and exact."""
    inst = instance(task["problem"], task["family"], task["size"], task["seed"])
    r = solve(inst, task["problem"], task["method"], time_limit=task["time_limit"], seed=task["seed"])
    where = f"{task['problem']}/{task['method']} on {inst.layer.name}"
    assert r.report is not None and r.report.valid, f"{where}: invalid mapping {[str(v) for v in r.report.violations]}"
    assert r.report.exact, f"{where}: execution is not bit-exact"
    solution = r.stats
    return {"objective": number(r.objective), "bound": number(r.bound),
            "gap": None if r.gap is None else float(r.gap), "status": r.status.value,
            "wall_time": round(r.wall_time, 3), "valid": bool(r.report.valid), "exact": bool(r.report.exact),
            "rows": inst.layer.n_inputs, "outputs": inst.layer.n_outputs, "crossbars": int(r.report.cost.crossbars),
            "crossbar_bound": number(solution.get("crossbar_bound")), "leaders": number(solution.get("leaders"))}


def make_tasks(problems: list[str], quick: bool, time_limit: float, seed: int) -> list[dict]:
    """Every (problem, family, size, method) the layers are large enough for."""
    tasks = []
    for problem in problems:
        setup = SETUPS[problem]
        for family in FAMILIES:
            for size in setup.quick if quick else setup.sizes:
                if fits(problem, family, size, seed):
                    tasks += [{"problem": problem, "family": family, "size": size, "method": m,
                               "time_limit": time_limit, "seed": seed} for m in methods(problem)]
    return tasks


# ----------------------------------------------------------------------------------------------- analysis

def gap_pct(objective, reference) -> float | None:
    """(objective - reference) / objective in %, 0 for a zero objective."""
    if objective is None or reference is None:
        return None
    return 0.0 if objective == 0 else 100.0 * (objective - reference) / abs(objective)


def comparable(problem: str, method: str) -> bool:
    """Whether a method solves the same problem as the exact ones (same budget of representatives)."""
    return method not in OFF_BUDGET.get(problem, ())


def heuristics(problem: str) -> list[str]:
    """Comparable methods that prove nothing: neither exact nor auto (which calls the exact solvers)."""
    return [n for n, m in methods(problem).items() if not m.exact and n != "auto" and comparable(problem, n)]


def group(records: list[dict]) -> list[dict]:
    """One entry per (problem, family, size): its runs, best proven bound, best objective, optimum if known."""
    out: dict[tuple, dict] = {}
    for rec in records:
        t = rec["task"]
        e = out.setdefault((t["problem"], t["family"], t["size"]),
                           {"problem": t["problem"], "family": t["family"], "size": t["size"], "runs": {}})
        e["runs"][t["method"]] = rec
    for e in out.values():
        ok = {m: r for m, r in e["runs"].items() if r.get("status") != "error"}
        e["rows"], e["outputs"] = next(((r["rows"], r["outputs"]) for r in ok.values()), (None, None))
        e["bound"] = max((r["bound"] for r in ok.values() if r["bound"] is not None), default=None)
        e["best"] = min((r["objective"] for m, r in ok.items() if comparable(e["problem"], m)), default=None)
        known = e["best"] is not None and e["bound"] is not None and e["best"] <= e["bound"] + 1e-9 * abs(e["best"])
        e["optimum"] = e["best"] if known else None
    return sorted(out.values(),
                  key=lambda e: (list(SETUPS).index(e["problem"]), FAMILIES.index(e["family"]), e["size"]))


def best_heuristic(e: dict, reference) -> tuple[str, float | None]:
    """The heuristic with the lowest objective on an instance, and its gap to `reference` in %."""
    runs = [(r["objective"], m) for m, r in e["runs"].items()
            if m in heuristics(e["problem"]) and r.get("status") != "error"]
    if not runs:
        return "-", None
    objective, name = min(runs)
    return name, gap_pct(objective, reference)


def frontier(insts: list[dict], problem: str, family: str, method: str) -> dict:
    """Where `method` stops proving optimality on a family: largest proven size (all smaller proven too)
    and the first unproven size."""
    es = [e for e in insts if e["problem"] == problem and e["family"] == family and method in e["runs"]]
    first = next((e for e in es if e["runs"][method].get("status") != "optimal"), None)
    proven = [e for e in es if first is None or e["size"] < first["size"]]
    return {"last": proven[-1] if proven else None, "first": first}


# ----------------------------------------------------------------------------------------------- report

def fmt(v, digits: int = 2) -> str:
    """A number for a table, '-' when missing."""
    return "-" if v is None else f"{v:.{digits}f}"


def axis(problem: str) -> str:
    """Label of a problem's size axis."""
    setup = SETUPS[problem]
    return "filters k" if setup.vary == "filters" else "channels c (rows 9c)"


def size_table(insts: list[dict], problem: str) -> list[str]:
    """Per family and size: each method's gap to the best proven bound (%) and wall time."""
    names = list(methods(problem))
    lines = [f"| family | {axis(problem)} | rows x outputs | best bound | optimum | " + " | ".join(names) + " |",
             "|---|---:|---|---:|---:|" + "---:|" * len(names)]
    for e in (e for e in insts if e["problem"] == problem):
        cells = []
        for m in names:
            r = e["runs"].get(m)
            if r is None or r.get("status") == "error":
                cells.append("-" if r is None else "error")
                continue
            mark = "*" if r["status"] == "optimal" else ""
            off = "" if comparable(problem, m) else f" [{r['leaders']} leaders]"
            cells.append(f"{fmt(gap_pct(r['objective'], e['bound']))}{mark} ({r['wall_time']:.1f} s){off}")
        lines.append(f"| {e['family']} | {e['size']} | {e['rows']} x {e['outputs']} | {fmt(e['bound'], 0)} | "
                     f"{fmt(e['optimum'], 0)} | " + " | ".join(cells) + " |")
    return lines


def crossbar_table(insts: list[dict], problem: str) -> list[str]:
    """Crossbars of each method, and each exact method's own crossbar bound, for problems that report one."""
    es = [e for e in insts if e["problem"] == problem
          and any(r.get("crossbar_bound") is not None for r in e["runs"].values())]
    if not es:
        return []
    names, exact = list(methods(problem)), [n for n, m in methods(problem).items() if m.exact]
    lines = ["", "Crossbars per method; `bound (m)` = the crossbar bound exact method m proves for its own blocks "
             "(placement bound, or the activation bound over a crossbar's OU units):", "",
             f"| family | {axis(problem)} | " + " | ".join(names + [f"bound ({m})" for m in exact]) + " |",
             "|---|---:|" + "---:|" * (len(names) + len(exact))]
    for e in es:
        cells = [e["runs"].get(m, {}).get("crossbars", "-") for m in names]
        cells += [e["runs"].get(m, {}).get("crossbar_bound", "-") for m in exact]
        lines.append(f"| {e['family']} | {e['size']} | " + " | ".join(map(str, cells)) + " |")
    for m in exact:
        at = sum(e["runs"].get(m, {}).get("crossbars") == e["runs"].get(m, {}).get("crossbar_bound") for e in es)
        lines += ["", f"{m} reaches its crossbar bound on {at} of {len(es)} instances."]
    return lines


def frontier_table(insts: list[dict], problems: list[str]) -> list[str]:
    """Per problem, family and exact method: where it stops proving optimality, and the best heuristic there."""
    lines = ["| problem | family | exact method | largest size proven | its time s | best heuristic there: gap to "
             "optimum % | first size not proven | exact gap there % (own bound) | best heuristic there: gap to "
             "best bound % |",
             "|---|---|---|---:|---:|---|---:|---:|---|"]
    for problem in problems:
        exact = [n for n, m in methods(problem).items() if m.exact]
        for family in FAMILIES:
            for m in exact:
                f = frontier(insts, problem, family, m)
                if f["last"] is None and f["first"] is None:
                    continue
                last, first = f["last"], f["first"]
                if last is None:
                    at_last = ("none", "-", "-")
                else:
                    name, g = best_heuristic(last, last["optimum"])
                    at_last = (last["size"], f"{last['runs'][m]['wall_time']:.1f}", f"{name} {fmt(g)}")
                if first is None:
                    at_first = ("none (all proven)", "-", "-")
                else:
                    name, g = best_heuristic(first, first["bound"])
                    r = first["runs"][m]
                    own = "error" if r.get("status") == "error" else fmt(None if r["gap"] is None else 100 * r["gap"])
                    at_first = (first["size"], own, f"{name} {fmt(g)}")
                lines.append(f"| {problem} | {family} | {m} | " + " | ".join(map(str, (*at_last, *at_first))) + " |")
    return lines


def problems_found(records: list[dict], time_limit: float) -> list[str]:
    """Failed runs, and runs far over the time limit (1.5 x limit + 1 s)."""
    lines = []
    for rec in records:
        t = rec["task"]
        where = f"{t['problem']} / {t['family']} / {t['size']} / {t['method']}"
        if rec.get("status") == "error":
            lines.append(f"- failed: {where}: {rec['error']}")
        elif rec["wall_time"] > 1.5 * time_limit + 1.0:
            lines.append(f"- over the time limit: {where}: {rec['wall_time']:.1f} s")
    return lines or ["- none"]


def markdown(records: list[dict], problems: list[str], args, command: str, elapsed: float) -> str:
    """The study's tables."""
    insts = group(records)
    total = sum(r.get("wall_time", 0.0) for r in records)
    sizes = "the quick size lists" if args.quick else "the full size lists"
    lines = ["# Heuristics against exact methods on instances of growing size", "",
             f"Command: `{command}`", "",
             f"Time limit {args.time_limit:g} s per method (the issue's default is 60 s), {sizes}, one worker, "
             f"seed {args.seed}; a shared 2-core machine, one run at a time. {len(records)} runs; solver wall time "
             f"{total / 60:.1f} min in all ({elapsed / 60:.1f} min in this call). Sub-instances of ResNet-20 "
             f"`layer3.0.conv2` (`real`) and of a random normal layer (`random`); see the script's docstring for "
             "the hardware and the cut of each problem.", "",
             "Gap = (objective - best proven bound) / objective in %, the best proven bound being the largest "
             "bound any method reports on that instance; `*` = the method itself proved optimality (status "
             "optimal); `optimum` = known where some method reaches the best bound. Every mapping was validated "
             "and executed bit-exactly by the simulator (asserted). Methods in brackets choose their own number "
             "of representatives, so they are left out of the best objective and of the figures.", "",
             "## Where the exact methods stop proving optimality", "",
             "`largest size proven` = the largest size proven optimal within the limit with every smaller size "
             "proven too; the best heuristic (any method that is neither exact nor `auto`) is compared with "
             "the optimum there, and with the best proven bound at the first size not proven.", ""]
    lines += frontier_table(insts, problems)
    lines += ["", "Sizes run here, and the full lists (without `--quick`):", "",
              "| problem | size axis | run | full |", "|---|---|---|---|"]
    lines += [f"| {p} | {axis(p)} | {sorted({e['size'] for e in insts if e['problem'] == p})} | "
              f"{list(SETUPS[p].sizes)} |" for p in problems]
    lines += ["", "Runs that failed or ran far over the time limit (1.5 x limit + 1 s):", ""]
    lines += problems_found(records, args.time_limit)
    for problem in problems:
        lines += ["", f"## {problem}", "", "Gap to the best proven bound % (wall time):", ""]
        lines += size_table(insts, problem)
        lines += crossbar_table(insts, problem)
    return "\n".join(lines) + "\n"


def figures(records: list[dict], problems: list[str], time_limit: float, out: Path) -> list[Path]:
    """gap_vs_size.png and time_vs_size.png: one subplot per problem, a line per method and family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    insts = group(records)
    paths = []
    for stem, ylabel, value, log in (
            ("gap_vs_size", "gap to best proven bound (%)", lambda e, r: gap_pct(r["objective"], e["bound"]), False),
            ("time_vs_size", "wall time (s)", lambda e, r: r["wall_time"], True)):
        cols = min(2, len(problems))
        rows = math.ceil(len(problems) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
        for ax, problem in zip(axes.ravel(), problems):
            names = [m for m in methods(problem) if comparable(problem, m)]
            colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(names), 2)))
            for colour, m in zip(colours, names):
                for family, style in zip(FAMILIES, ("-o", "--x")):
                    pts = [(e["size"], value(e, e["runs"][m])) for e in insts
                           if e["problem"] == problem and e["family"] == family and m in e["runs"]
                           and e["runs"][m].get("status") != "error"]
                    if pts:
                        ax.plot(*zip(*pts), style, color=colour, ms=3, lw=1,
                                label=m if family == FAMILIES[0] else None)
            if log:
                ax.set_yscale("log")
                ax.axhline(time_limit, color="grey", lw=0.8, ls=":")
            ax.set_xscale("log", base=2)
            ax.set_title(f"{problem} (solid: real, dashed: random)", fontsize=9)
            ax.set_xlabel(axis(problem))
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=6, ncol=2)
        for ax in axes.ravel()[len(problems):]:
            ax.set_visible(False)
        fig.tight_layout()
        paths.append(out / f"{stem}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> None:
    """Build the tasks, run what is missing, write the tables and figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per method (60; --quick: 10)")
    ap.add_argument("--quick", action="store_true", help="fewer sizes, 10 s per method unless --time-limit")
    ap.add_argument("--problems", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT, help="folder of study.md and the figures")
    ap.add_argument("--jsonl", type=Path, default=JSONL, help="results file (resumable)")
    args = ap.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = QUICK_TIME_LIMIT if args.quick else 60.0
    tasks = make_tasks(args.problems, args.quick, args.time_limit, args.seed)
    start = time.perf_counter()
    records = run_bench(tasks, run_task, args.jsonl, jobs=1)
    elapsed = time.perf_counter() - start
    command = "python experiments/exact_study.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "study.md").write_text(markdown(records, args.problems, args, command.strip(), elapsed))
    figures(records, args.problems, args.time_limit, args.out)
    print((args.out / "study.md").read_text())
    failed = [r for r in records if r.get("status") == "error"]
    if failed:
        sys.exit(f"{len(failed)} runs failed (invalid or inexact mapping, or an error): see {args.out / 'study.md'}")


if __name__ == "__main__":
    main()
