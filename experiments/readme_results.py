"""Regenerate the README's "Results" section from the committed experiment tables.

Run: ``python experiments/readme_results.py`` (after re-running any experiment).

Each entry of `SECTIONS` names a table in ``experiments/results/`` (by file and the heading above
it), the rows to keep (column value filters) and the columns to show; the section is written
between the ``<!-- results:begin -->`` and ``<!-- results:end -->`` markers of README.md, with a
link to each full table and the figures. Nothing is typed in by hand: a number in the section
is a cell of a committed table.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


@dataclass(frozen=True)
class Section:
    """One README table: its source, the rows kept (column -> allowed values) and the columns shown."""

    title: str
    command: str
    path: str
    heading: str | None
    columns: list[str]
    rows: dict[str, list[str]] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)


SECTIONS = [
    Section("Seed reproductions: each paper's headline beside ours", "experiments/seed_reproductions.py",
            "seeds.md", "## Headline numbers",
            ["seed", "figure", "paper", "paper's baseline", "resnet20", "resnet44", "resnet20 shuffled"],
            figures=["seeds.png"]),
    Section("Heuristic vs exact: where the exact methods stop proving optimality", "experiments/exact_study.py --quick --time-limit 60 --out experiments/results/study60",
            "study60/study.md", "## Where the exact methods stop proving optimality",
            ["problem", "family", "exact method", "largest size proven", "its time s",
             "best heuristic there: gap to optimum %", "first size not proven", "exact gap there % (own bound)"],
            figures=["study60/gap_vs_size.png", "study60/time_vs_size.png"]),
    Section("Every method through the CLI (ResNet-20 layer2.1.conv1)", "experiments/cli_methods.py",
            "cli_methods.md", None, ["problem", "method", "status", "objective", "figure", "bound", "valid", "exact"],
            {"method": ["orc", "matching", "anneal", "cpsat", "heuristic", "grouped", "prap-topnorm", "auto"]}),
    Section("Filter ordering on real layers (OU activations per input vector)", "experiments/filter_ordering_layers.py",
            "filter_ordering/layers.md", "## Totals",
            ["network", "sparsity", "g", "control", "dense", "natural", "mtkahypar", "best", "bound", "gap %",
             "ACR best"], {"network": ["resnet20", "resnet44"], "sparsity": ["80%"]}),
    Section("Filter ordering at scale: auto against Mt-KaHyPar on the same hypergraph (80 % synthetic layers)",
            "experiments/filter_ordering_scale.py", "filter_ordering/scale.md", None,
            ["layer", "g", "auto s", "mtk s", "time ratio", "auto OUs", "mtk OUs", "OU ratio", "proven"]),
    Section("Whole networks at ImageNet scale: time per stage and peak memory", "experiments/network_scale.py "
            "--networks efficientnet-lite0 synthetic:mobilenet_v2 synthetic:resnet50 synthetic:vgg16 --time-limit 1",
            "network_scale.md", None,
            ["network", "sparsity", "time limit s", "layers (depthwise)", "valid and exact", "stages s", "rest s",
             "wall s", "target", "peak RSS GiB", "OU gain", "crossbar gain"]),
    Section("Bit-slice packing on real layers (activations per input cycle)", "experiments/bitslice_layers.py",
            "bitslice/layers.md", "## Activations per input cycle, totals",
            ["network", "variant", "dense-per-crossbar", "squeeze", "ffd", "heuristic", "best", "bound", "best gap %",
             "dense-pc / best"], {"variant": ["pruned", "unpruned"]}),
    Section("Pattern pruning and placement (3x3 layers)", "experiments/pattern_layers.py", "pattern/layers.md",
            "## removed = 0.6625", ["network", "sparsity", "method", "crossbars", "OU act", "cells", "energy uJ"],
            {"network": ["resnet20"]}),
    Section("Reuse clustering against PRAP-PIM's rule", "experiments/reuse_layers.py", "reuse/layers.md",
            "### Key comparisons (L1 error reduction vs PRAP-PIM top-norm)",
            ["net", "theta", "method", "vs", "reduction"], {"theta": ["0.25"]}, ["reuse/error_vs_reuse.png"]),
    Section("Simulator speed (ratios to a float64 BLAS product of the same layer and batch)",
            "experiments/sim_speed.py", "sim_speed.md", None,
            ["layer", "schedule", "fast / ref", "tiled / ref (target 3)",
             "serial / (cycles x slices x ref) (target 2)", "exact"]),
    *[Section(f"Accuracy in the loop: top-1 beside the gains ({name}, 10,000 test images)",
              "experiments/accuracy_refit.py --networks resnet20 resnet32 resnet44", "accuracy_refit.md",
              f"## {net}", ["pipeline", "pruning", "sparsity", "decided (rel.)", "re-fit (rel.)", "OU gain",
                            "crossbar gain", "energy gain", "re-fitted layers"])
      for net, name in (("resnet44", "ResNet-44"), ("resnet20", "ResNet-20"))],
    Section("Composed pipelines against their stages alone (ResNet-20, 80 % pruned)", "experiments/pipeline_composition.py",
            "pipeline_composition.md", "## resnet20", ["hardware", "pipeline", "valid and exact", "OU activations",
                                                       "OU gain", "energy gain", "L1 error", "wall s"]),
    Section("Engines on classical benchmarks: 2D bin packing", "experiments/bp2d_classic.py", "pattern/bp2d.md",
            "## `heuristic`", ["class", "n", "bins", "lower bound", "published", "rectpack", "at bks"],
            {"n": ["100"]}),
    Section("Engines on classical benchmarks: p-median (OR-Library pmed1-20)", "experiments/pmed_classic.py",
            "pmed/classic.md", "## Summary", ["method", "at opt", "proven optimal", "mean gap to opt %", "mean time s"]),
]


def tables(text: str) -> dict[str | None, list[list[str]]]:
    """Markdown tables by the nearest heading above them (None before any heading); first one per heading."""
    out, heading, current = {}, None, None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            heading = line.strip()
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                current = []
            if not set("".join(cells)) <= set("-: "):
                current.append(cells)
        elif current is not None:
            out.setdefault(heading, current)
            current = None
    return out


def render(section: Section) -> list[str]:
    """The section's markdown: title, source link, the selected table, figures."""
    path = RESULTS / section.path
    found = tables(path.read_text())
    key = section.heading if section.heading is not None else next(iter(found))
    if key not in found:
        raise SystemExit(f"{path}: no table under {section.heading!r}")
    head, *body = found[key]
    missing = [c for c in [*section.columns, *section.rows] if c not in head]
    if missing:
        raise SystemExit(f"{path}: table under {key!r} has no columns {missing}")
    body = [r + [""] * (len(head) - len(r)) for r in body]  # a row cut short (an error's) has empty cells
    keep = [r for r in body if all(r[head.index(c)] in ok for c, ok in section.rows.items())]
    cols = [head.index(c) for c in section.columns]
    lines = [f"### {section.title}", "",
             f"`python {section.command}`; full table: [`{section.path}`](experiments/results/{section.path})", "",
             "| " + " | ".join(section.columns) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[i] for i in cols) + " |" for r in keep]
    lines += [f"\n![{f}](experiments/results/{f})" for f in section.figures if (RESULTS / f).exists()]
    return lines + [""]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args(argv)
    text = args.readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{args.readme}: missing the {BEGIN} / {END} markers")
    body = ["Generated by `python experiments/readme_results.py` from the committed tables in "
            "`experiments/results/`; wall times there come from a shared 2-core machine.", ""]
    for section in SECTIONS:
        body += render(section)
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    args.readme.write_text(before + BEGIN + "\n" + "\n".join(body) + END + after)
    print(f"wrote {len(SECTIONS)} tables into {args.readme}")


if __name__ == "__main__":
    main()
