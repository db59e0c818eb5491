"""Filter ordering at scale: the default (`auto`) against Mt-KaHyPar on the same hypergraph, in one run.

Run: ``python experiments/filter_ordering_scale.py [--filters 64 128 256 512 1024 2048] [--g 2 4] [--jobs 2]``.

Layers: ``m`` filters of ``m x 3 x 3`` (a ``9m x m`` matrix: 576 x 64 up to 18432 x 2048), Gaussian
weights magnitude-pruned to 80 % (seed 0), on the ``orc`` preset (h = 9; g = 2 with 8-column OUs,
g = 4 with 16). Per layer and group size, each run times, in CPU seconds (this process and its
children: Mt-KaHyPar runs in one), on the hypergraph built once beforehand:

- ``auto``: filter ordering's default without a time limit, as its method runs it: the slot bound
  (`slot_bound`: sorted-maximum, degree and matching bounds), then the grouping (`methods.auto`);
- ``mtkahypar``: Mt-KaHyPar's raw partition (`mtkahypar_blocks`, default preset, one thread, seed 0),
  when installed and the layer has at most ``--mtk-max`` filters.

OU activations per input vector are ``scale x OU slots`` of each grouping; ``bound`` is auto's
proven lower bound (equal to its objective: proven optimal). Records go to
``results/filter_ordering/scale.jsonl`` (rerun to resume); the table to
``experiments/results/filter_ordering/scale.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.optimize  # noqa: F401 - imported before any run is timed (the matching's first call would)

from mapopt.bench import run_bench
from mapopt.hardware import preset
from mapopt.instance import Instance
from mapopt.layer import Layer
from mapopt.problems.contract import Run
from mapopt.problems.filter_ordering import methods as fo
from mapopt.problems.filter_ordering.problem import hypergraph, scale, slot_bound

ROOT = Path(__file__).resolve().parents[1]
JSONL = ROOT / "results" / "filter_ordering" / "scale.jsonl"
MD = ROOT / "experiments" / "results" / "filter_ordering" / "scale.md"
SPARSITY = 0.8
#: OU columns of the ``orc`` preset per group size (four adjacent 2-bit slices per weight)
GROUP_COLUMNS = {2: 8, 4: 16}


def cpu() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def layer(m: int) -> Layer:
    """``m`` filters of ``m x 3 x 3``, Gaussian, magnitude-pruned to `SPARSITY`."""
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(m, m, 3, 3))
    weight[np.abs(weight) < np.quantile(np.abs(weight), SPARSITY)] = 0
    return Layer.from_weights(weight, f"synthetic_{9 * m}x{m}")


def run_task(task: dict) -> dict:
    """One method on one layer and group size: CPU time, OU activations (and auto's bound)."""
    inst = Instance(layer(task["filters"]), preset("orc", ou_cols=GROUP_COLUMNS[task["g"]]))
    start = cpu()
    hg = hypergraph(inst)
    out = {"nets": int(hg.pins.shape[0]), "pins": int(hg.pins.nnz), "hypergraph_cpu": round(cpu() - start, 3)}
    start = cpu()
    if task["method"] == "auto":
        lb = slot_bound(hg)
        block, lb = fo.auto(hg, Run(), lb)
        out["bound"] = scale(inst) * lb
    else:
        from mapopt.engines.partition_mtkahypar import mtkahypar_blocks

        block = mtkahypar_blocks(hg, seed=0, threads=1, preset="default")
    out["cpu"] = round(cpu() - start, 3)
    out["ous"] = scale(inst) * hg.cost(block)[0]
    return out


def tasks(filters: list[int], gs: list[int], mtk_max: int, g4_max: int) -> list[dict]:
    from mapopt.engines.partition_mtkahypar import available

    out = []
    for g in gs:
        for m in filters:
            if g > 2 and m > g4_max:
                continue
            out.append({"filters": m, "g": g, "method": "auto"})
            if available() and m <= mtk_max:
                out.append({"filters": m, "g": g, "method": "mtkahypar"})
    return out


def markdown(records: list[dict], argv: list[str]) -> str:
    got = {(r["task"]["filters"], r["task"]["g"], r["task"]["method"]): r for r in records if r.get("status") != "error"}
    lines = ["# Filter ordering at scale: auto against Mt-KaHyPar", "",
             "Command: `" + " ".join(["python experiments/filter_ordering_scale.py", *argv]) + "`", "",
             f"Synthetic layers: m filters of m x 3 x 3 (Gaussian, {SPARSITY:.0%} magnitude-pruned, seed 0), `orc` "
             "preset (h = 9). CPU seconds on the same hypergraph (built beforehand, not counted): `auto` = slot bound "
             "and grouping (no time limit); `mtk` = Mt-KaHyPar's raw partition (default preset, 1 thread, seed 0; "
             "its child process counted). OU activations per input vector; `bound` = auto's proven lower bound "
             "(`proven`: auto's objective equals it). Ratios: auto / mtk.", "",
             "| layer | g | nets | pins | auto s | mtk s | time ratio | auto OUs | mtk OUs | OU ratio | bound | proven |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for (m, g, method), r in sorted(got.items()):
        if method != "auto":
            continue
        mtk = got.get((m, g, "mtkahypar"))
        cells = [f"{9 * m} x {m}", str(g), str(r["nets"]), str(r["pins"]), f"{r['cpu']:.2f}",
                 f"{mtk['cpu']:.2f}" if mtk else "-", f"{r['cpu'] / mtk['cpu']:.3f}" if mtk else "-", str(r["ous"]),
                 str(mtk["ous"]) if mtk else "-", f"{r['ous'] / mtk['ous']:.4f}" if mtk else "-", str(r["bound"]),
                 "yes" if r["ous"] == r["bound"] else f"no (gap {100 * (r['ous'] - r['bound']) / r['ous']:.1f} %)"]
        lines.append("| " + " | ".join(cells) + " |")
    failed = [r for r in records if r.get("status") == "error"]
    if failed:
        lines += ["", "## Failed runs", ""] + [f"- {r['task']}: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filters", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048])
    ap.add_argument("--g", type=int, nargs="+", default=[2, 4], choices=sorted(GROUP_COLUMNS))
    ap.add_argument("--mtk-max", type=int, default=1024, help="largest layer (filters) Mt-KaHyPar runs on")
    ap.add_argument("--g4-max", type=int, default=512, help="largest layer (filters) run at g = 4")
    ap.add_argument("--jobs", type=int, default=2, help="parallel runs (joblib processes)")
    ap.add_argument("--out", type=Path, default=JSONL)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    records = run_bench(tasks(args.filters, args.g, args.mtk_max, args.g4_max), run_task, args.out, jobs=args.jobs)
    print(f"{len(records)} runs in {time.perf_counter() - start:.1f} s (this call)", file=sys.stderr)
    MD.parent.mkdir(parents=True, exist_ok=True)
    MD.write_text(markdown(records, argv))
    print(MD.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
