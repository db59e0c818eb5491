"""The ``mapopt`` command line through its real entry point: JSON fields, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import SYNTHETIC, mapopt, one_line_error
from mapopt.mapping import load_mapping, save_mapping


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    """A tiny conv net saved as a torch checkpoint and imported at 80% sparsity."""
    torch = pytest.importorskip("torch")
    tmp = tmp_path_factory.mktemp("net")
    gen = torch.Generator().manual_seed(7)
    state = {"module.conv1.weight": torch.randn(16, 3, 3, 3, generator=gen),
             "module.layer1.conv.weight": torch.randn(32, 16, 3, 3, generator=gen),
             "module.fc.weight": torch.randn(10, 32, generator=gen), "module.fc.bias": torch.randn(10, generator=gen)}
    torch.save({"state_dict": state, "epoch": 3}, tmp / "net.th")
    mapopt("import", tmp / "net.th", "--out", tmp / "inst", "--sparsity", "0.8")
    return tmp / "inst"


def test_import_writes_one_instance_per_layer_and_an_index(imported):
    index = json.loads((imported / "index.json").read_text())
    assert [layer["name"] for layer in index["layers"]] == ["conv1", "layer1.conv", "fc"]
    assert all((imported / layer["file"]).is_file() for layer in index["layers"])
    assert all(abs(layer["sparsity"] - 0.8) < 0.02 for layer in index["layers"])


def test_solve_json_orc_is_valid_exact_and_beats_dense(imported):
    runs = {m: json.loads(mapopt("solve", imported / "layer1.conv.npz", "--problem", "baseline", "--method", m,
                                 "--json").stdout) for m in ("dense", "orc")}
    for r in runs.values():
        assert {"status", "objective", "bound", "method", "wall_time", "valid", "exact", "cost"} <= r.keys()
        assert r["valid"] and r["exact"]
        assert r["objective"] == r["cost"]["ou_activations"]
        assert r["bound"] <= r["objective"]
    assert runs["orc"]["objective"] < runs["dense"]["objective"]


def test_solution_round_trips_through_validate_and_corruption_fails(tmp_path):
    inst = SYNTHETIC / sorted(p.name for p in SYNTHETIC.glob("*.npz"))[0]
    sol = tmp_path / "sol.npz"
    mapopt("solve", inst, "--problem", "baseline", "--method", "orc", "--out", sol)
    report = json.loads(mapopt("validate", inst, sol, "--json").stdout)
    assert report["valid"] and report["exact"] and report["violations"] == []
    mapping = load_mapping(sol)
    p = mapping.placements[0]
    values = p.values.copy()
    r, c = np.argwhere(values > 0)[0]
    values[r, c] -= 1
    broken = mapping.replace(placements=(p.__class__(p.crossbar, p.row0, p.col0, p.inputs, values, p.col_slice,
                                                     p.targets),) + mapping.placements[1:])
    save_mapping(tmp_path / "broken.npz", broken)
    proc = mapopt("validate", inst, tmp_path / "broken.npz", ok=False)
    assert proc.returncode == 1
    assert "function" in proc.stdout


def test_method_list_names_the_baselines():
    out = mapopt("solve", SYNTHETIC / "index.json", "--problem", "baseline", "--method", "list").stdout
    assert {line.split()[0] for line in out.splitlines()} == {"dense", "orc", "auto"}


@pytest.mark.parametrize("args, expected", [
    (("solve", "missing.npz", "--problem", "baseline", "--method", "orc"), "missing.npz"),
    (("solve", "SYN", "--problem", "nonsense", "--method", "orc"), "unknown problem"),
    (("solve", "SYN", "--problem", "baseline", "--method", "nonsense"), "no method"),
    (("solve", "SYN", "--problem", "baseline", "--time-limit", "-1"), "time limit"),
    (("import", "missing.th", "--out", "x"), "missing.th"),
])
def test_bad_input_is_one_line_naming_it(args, expected):
    first = sorted(SYNTHETIC.glob("*.npz"))[0]
    proc = mapopt(*[str(first) if a == "SYN" else a for a in args], ok=False)
    assert expected in one_line_error(proc)


def test_corrupt_instance_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes((sorted(SYNTHETIC.glob("*.npz"))[0]).read_bytes()[:200])
    assert str(bad) in one_line_error(mapopt("inspect", bad, ok=False))


def test_bench_resumes_without_duplicates_and_reports(tmp_path):
    out = tmp_path / "res.jsonl"
    mapopt("bench", SYNTHETIC, "--problem", "baseline", "--methods", "dense,orc", "--jobs", "2", "--out", out)
    first = out.read_text().splitlines()
    n_files = len(list(SYNTHETIC.glob("*.npz")))
    assert len(first) == 2 * n_files
    mapopt("bench", SYNTHETIC, "--problem", "baseline", "--methods", "dense,orc", "--out", out)
    assert out.read_text().splitlines() == first
    records = [json.loads(line) for line in first]
    assert all(r["valid"] and r["exact"] for r in records)
    table = mapopt("report", out).stdout
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert set(rows) == {"dense", "orc"}
    dense_sum = sum(r["objective"] for r in records if r["task"]["method"] == "dense")
    assert str(dense_sum) in rows["dense"]


def test_inspect_describes_instances_mappings_and_networks(tmp_path):
    inst = sorted(SYNTHETIC.glob("*.npz"))[0]
    info = json.loads(mapopt("inspect", inst, "--json").stdout)
    assert info["kind"] == "instance" and len(info["matrix"]) == 2
    mapopt("solve", inst, "--problem", "baseline", "--method", "dense", "--out", tmp_path / "s.npz")
    assert json.loads(mapopt("inspect", tmp_path / "s.npz", "--json").stdout)["schedule"] == "grid"
    net = json.loads(mapopt("inspect", SYNTHETIC, "--json").stdout)
    assert net["kind"] == "network" and len(net["layers"]) == len(list(SYNTHETIC.glob("*.npz")))


def test_version_is_the_installed_packages():
    from importlib.metadata import version

    import mapopt as package

    assert package.__version__ == version("mapopt")
    assert mapopt("--version").stdout.strip() == f"mapopt {version('mapopt')}"


@pytest.mark.parametrize("args, message", [
    (["solve", "{inst}", "--problem", "baseline", "--out", "{file}/x.npz"], "cannot be created"),
    (["solve", "{inst}", "--problem", "baseline", "--out", "{dir}"], "is a directory"),
    (["map", "{inst}", "--pipeline", "orc", "--out", "{file}/x.json"], "cannot be created"),
    (["map", "{inst}", "--pipeline", "orc", "--save", "{file}"], "is a file"),
    (["map", "{inst}", "--pipeline", "orc", "--resume", "{dir}"], "is a directory"),
    (["bench", "{inst}", "--problem", "baseline", "--methods", "orc", "--out", "{file}/r.jsonl"], "cannot be created"),
    (["import", "{inst}", "--out", "{file}"], "is a file"),
    (["report", "{dir}/missing.jsonl"], "no such results file"),
])
def test_outputs_that_cannot_be_written_fail_before_any_work(tmp_path, args, message):
    (tmp_path / "a_file").write_text("x")
    paths = {"inst": SYNTHETIC / "conv36x8_s60.npz", "file": tmp_path / "a_file", "dir": tmp_path}
    assert message in one_line_error(mapopt(*[a.format(**paths) for a in args], ok=False))


def test_every_report_names_mapopts_version_its_input_and_its_settings(tmp_path):
    from mapopt import __version__
    from mapopt.provenance import sha256

    inst = SYNTHETIC / "conv36x8_s60.npz"
    solved = json.loads(mapopt("solve", inst, "--problem", "baseline", "--method", "orc", "--seed", "3",
                               "--time-limit", "5", "--json").stdout)
    run = solved["settings"]
    assert run["mapopt"] == __version__ and run["input_sha256"] == sha256(inst)
    assert run["hardware"]["ou_rows"] > 0 and solved["seed"] == 3 and solved["params"]["time_limit"] == 5
    mapped = json.loads(mapopt("map", SYNTHETIC, "--pipeline", "orc", "--seed", "2", "--json").stdout)
    assert mapped["settings"]["seed"] == 2 and mapped["settings"]["input_sha256"] == sha256(SYNTHETIC / "index.json")
    assert all(layer["hardware"]["xbar_rows"] > 0 for layer in mapped["layers"])
    mapopt("bench", inst, "--problem", "baseline", "--methods", "orc", "--out", tmp_path / "r.jsonl")
    record = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert record["settings"]["input_sha256"] == sha256(inst) and record["settings"]["mapopt"] == __version__


def test_report_prints_csv_and_json_and_refuses_unknown_columns(tmp_path):
    import csv
    import io

    out = tmp_path / "r.jsonl"
    mapopt("bench", SYNTHETIC / "conv36x8_s60.npz", "--problem", "baseline", "--methods", "dense,orc", "--out", out)
    rows = list(csv.DictReader(io.StringIO(mapopt("report", out, "--format", "csv").stdout)))
    assert [r["method"] for r in rows] == ["dense", "orc"]
    assert float(rows[1]["objective sum"]) < float(rows[0]["objective sum"])
    table = json.loads(mapopt("report", out, "--format", "json", "--columns", "crossbars").stdout)
    assert [set(r) for r in table] == [{"method", "n", "errors", "crossbars sum"}] * 2
    assert "no record has field 'objectiv'" in one_line_error(mapopt("report", out, "--columns", "objectiv", ok=False))


def test_inspect_lists_an_index_one_layer_per_line_and_a_closed_pipe_ends_quietly():
    import subprocess
    import sys

    out = mapopt("inspect", SYNTHETIC / "index.json").stdout.splitlines()
    assert out[1] == "layers: 6" and all(line.startswith("  {") and line.endswith('.npz"}') for line in out[2:8])
    assert all('"kind": "' in line and '"groups": 1' in line for line in out[2:8])
    proc = subprocess.Popen([sys.executable, "-m", "mapopt.cli", "inspect", str(SYNTHETIC / "index.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written, as with `| head -0`
    assert proc.wait(timeout=60) == 1
    assert b"Traceback" not in proc.stderr.read()


def test_hardware_from_a_file_with_overrides_reaches_every_layer(tmp_path):
    (tmp_path / "hw.json").write_text(json.dumps({"preset": "reuse", "ou_rows": 4, "xbar_rows": 64}))
    report = json.loads(mapopt("map", SYNTHETIC, "--pipeline", "orc", "--hardware", tmp_path / "hw.json",
                               "--hw", "ou_cols=4", "--json").stdout)
    assert report["hardware"] == "reuse" and report["hardware_overrides"] == {"ou_rows": 4, "xbar_rows": 64,
                                                                              "ou_cols": 4}
    assert all((layer["hardware"]["ou_rows"], layer["hardware"]["ou_cols"], layer["hardware"]["xbar_rows"],
                layer["hardware"]["cell_bits"]) == (4, 4, 64, 1) and layer["valid"] for layer in report["layers"])
    assert "disagree" in one_line_error(mapopt("map", SYNTHETIC, "--hardware", tmp_path / "hw.json", "--preset", "orc",
                                               ok=False))
    assert "unknown hardware settings: ou_rowz" in one_line_error(mapopt("map", SYNTHETIC, "--hw", "ou_rowz=4",
                                                                         ok=False))
    assert "--hw expects KEY=VALUE" in one_line_error(mapopt("map", SYNTHETIC, "--hw", "ou_rows", ok=False))


def test_gains_name_their_baseline_and_one_baseline_makes_pipelines_compare():
    def mapped(*args):
        return json.loads(mapopt("map", SYNTHETIC, *args, "--json").stdout)

    orc, reuse, reuse_on_orc = mapped("--pipeline", "orc"), mapped("--pipeline", "reuse"), \
        mapped("--pipeline", "reuse", "--baseline", "orc")
    assert "reuse preset" in reuse["baseline"] and "orc preset" in reuse_on_orc["baseline"]
    assert reuse["dense"]["ou_activations"] != orc["dense"]["ou_activations"]  # each on its own hardware
    assert reuse_on_orc["dense"] == orc["dense"]
    assert reuse_on_orc["totals"] == reuse["totals"]
    assert reuse_on_orc["gain"]["ou_activations"] == pytest.approx(
        orc["dense"]["ou_activations"] / reuse["totals"]["ou_activations"])
    assert all(layer["dense"]["hardware"] == "orc" for layer in reuse_on_orc["layers"])
