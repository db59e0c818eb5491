"""Figures: the cells `draw_mapping` colours are the mapping's, and the command line writes PNGs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import SYNTHETIC, mapopt, one_line_error

from mapopt.hardware import preset
from mapopt.layout import conventional_mapping
from mapopt.plots import crossbar_images

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_nonzero_cell_is_coloured_by_the_output_its_column_feeds():
    rng = np.random.default_rng(1)
    matrix = rng.integers(-20, 20, size=(40, 12)) * (rng.random((40, 12)) < 0.5)
    spec = preset("orc", xbar_rows=32, xbar_cols=32)
    mapping = conventional_mapping(matrix, spec)
    images = crossbar_images(mapping)
    for p in mapping.placements:
        block = images[p.crossbar][p.row0:p.row0 + p.n_rows, p.col0:p.col0 + p.n_cols]
        outputs = dict(zip(p.targets[:, 0], p.targets[:, 1]))
        for (r, c), value in np.ndenumerate(p.values):
            assert block[r, c] == (outputs[c] if value else -1)
            if value:
                assert matrix[p.inputs[r], outputs[c]] != 0  # a programmed cell holds a weight of that output
    slices = crossbar_images(mapping, "slice")
    assert set(np.unique(slices[0])) <= {-2, -1, *range(spec.n_slices)}
    assert sum((im >= 0).sum() for im in images.values()) == sum((p.values != 0).sum() for p in mapping.placements)


def test_draw_and_report_plot_write_pictures(tmp_path):
    pytest.importorskip("matplotlib")
    inst = SYNTHETIC / "conv45x24_s60.npz"
    mapopt("solve", inst, "--problem", "filter-ordering", "--method", "greedy", "--out", tmp_path / "sol.npz")
    mapopt("draw", inst, tmp_path / "sol.npz", "--out", tmp_path / "map.png", "--color", "slice")
    assert (tmp_path / "map.png").read_bytes()[:8] == PNG and (tmp_path / "map.png").stat().st_size > 5000
    mapopt("bench", SYNTHETIC, "--problem", "baseline", "--methods", "dense,orc", "--out", tmp_path / "r.jsonl")
    mapopt("report", tmp_path / "r.jsonl", "--plot", tmp_path / "bench.png")
    layers = tmp_path / "layers.jsonl"
    mapopt("map", SYNTHETIC, "--pipeline", "orc", "--resume", layers)
    assert all("gain" in json.loads(line) for line in layers.read_text().splitlines())
    mapopt("report", layers, "--by", "name", "--columns", "ou_activations", "--plot", tmp_path / "gains.png")
    for name in ("bench.png", "gains.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert "max_crossbars" in one_line_error(mapopt("draw", inst, tmp_path / "sol.npz", "--out", tmp_path / "x.png",
                                                    "--crossbars", "0", ok=False))
