"""Figures for papers: a mapping drawn crossbar by crossbar (`draw_mapping`) and a results file plotted
(`plot_results`). matplotlib is an optional extra (``mapopt[plots]``), imported only here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import MapoptError
from .mapping import Mapping

PLOTS_MISSING = "figures need matplotlib: pip install 'mapopt[plots]' (or pip install matplotlib)"
COLOR_BY = ("output", "slice")


def _pyplot():
    """matplotlib's pyplot on a file backend, or a one-line error saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise MapoptError(PLOTS_MISSING) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def crossbar_images(mapping: Mapping, color_by: str = "output") -> dict[int, np.ndarray]:
    """Per crossbar, its cells (``xbar_rows x xbar_cols``): -2 where nothing is placed, -1 for a placed cell
    holding 0, else the output its column feeds (the first, for a column several outputs read) or its slice."""
    if color_by not in COLOR_BY:
        raise MapoptError(f"color_by must be one of {COLOR_BY}, got {color_by!r}")
    spec = mapping.spec
    images: dict[int, np.ndarray] = {}
    for p in mapping.placements:
        image = images.setdefault(p.crossbar, np.full((spec.xbar_rows, spec.xbar_cols), -2, dtype=np.int64))
        label = np.asarray(p.col_slice, dtype=np.int64).copy()
        if color_by == "output":
            label = np.full(p.n_cols, -1, dtype=np.int64)
            for col, output in p.targets[::-1, :2]:  # the first target of a column wins
                label[col] = output
        block = np.where(p.values != 0, label[None, :], -1)
        image[p.row0:p.row0 + p.n_rows, p.col0:p.col0 + p.n_cols] = block
    return images


def draw_mapping(mapping: Mapping, path: str | Path, color_by: str = "output", max_crossbars: int = 24,
                 title: str = "") -> Path:
    """A PNG of the first `max_crossbars` crossbars of `mapping`: cells coloured by output (or slice), placed
    zero cells grey, the OU grid in thin lines, and each listed OU activation's rows ticked across its columns."""
    if max_crossbars < 1:
        raise MapoptError(f"max_crossbars must be at least 1, got {max_crossbars}")
    plt = _pyplot()
    images = crossbar_images(mapping, color_by)
    shown = sorted(images)[:max_crossbars]
    spec = mapping.spec
    cols = max(1, math.ceil(math.sqrt(len(shown) or 1)))
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows * spec.xbar_rows / spec.xbar_cols),
                             squeeze=False)
    palette = plt.get_cmap("tab20")
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    acts = mapping.activations
    for ax, k in zip(axes.ravel(), shown):
        image = images[k]
        rgb = np.ones(image.shape + (3,))
        rgb[image == -1] = 0.82
        colored = image >= 0
        rgb[colored] = np.asarray(palette(image[colored] % 20))[:, :3]
        ax.imshow(rgb, interpolation="nearest", aspect="auto")
        for r in range(0, spec.xbar_rows + 1, spec.ou_rows):
            ax.axhline(r - 0.5, color="0.6", linewidth=0.2)
        for c in range(0, spec.xbar_cols + 1, spec.ou_cols):
            ax.axvline(c - 0.5, color="0.6", linewidth=0.2)
        if acts is not None:
            for a in np.flatnonzero(acts.crossbar == k):
                read = acts.rows[acts.ptr[a]:acts.ptr[a + 1]]
                ax.hlines(read, acts.col0[a] - 0.5, acts.col0[a] + spec.ou_cols - 0.5, color="k", linewidth=0.15,
                          alpha=0.5)
        ax.set_title(f"crossbar {k}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{len(images)} crossbars, {spec.xbar_rows}x{spec.xbar_cols}, OU {spec.ou_rows}x"
                          f"{spec.ou_cols}; colour: {color_by}" + (f" (first {len(shown)} shown)"
                                                                   if len(shown) < len(images) else ""),
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=200)
    plt.close(fig)
    return path


def plot_results(records: list[dict], path: str | Path, group_by: str = "method") -> Path:
    """A PNG of a results file: per layer, the gains against dense (records of `mapopt map --resume`), or per
    group, the summed objective beside the summed proven bound (records of `mapopt bench`)."""
    plt = _pyplot()
    ok = [r for r in records if r.get("status") != "error"]
    if not ok:
        raise MapoptError("no successful records to plot")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(ok)), 4.0))
    if all("gain" in r for r in ok):
        names = [str(r.get("name", i)) for i, r in enumerate(ok)]
        x = np.arange(len(ok))
        for i, key in enumerate(("ou_activations", "crossbars", "energy")):
            ax.bar(x + (i - 1) * 0.27, [r["gain"].get(key) or 0.0 for r in ok], 0.27, label=key)
        ax.set_xticks(x, names, rotation=90, fontsize=6)
        ax.set_ylabel("gain against dense (x)")
    else:
        groups: dict[str, list[dict]] = {}
        for r in ok:
            groups.setdefault(str(r.get(group_by, r.get("task", {}).get(group_by, "-"))), []).append(r)
        x = np.arange(len(groups))
        objective = [sum(r.get("objective") or 0 for r in g) for g in groups.values()]
        bound = [sum(r.get("bound") or 0 for r in g) for g in groups.values()]
        ax.bar(x - 0.2, objective, 0.4, label="objective")
        ax.bar(x + 0.2, bound, 0.4, label="proven bound")
        ax.set_xticks(x, list(groups), rotation=30, fontsize=8)
        ax.set_ylabel("sum over instances")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
