"""`mapopt validate` trusts nothing a solution file declares about itself: crossbars other than the instance's
and declared approximations the named problem cannot make are violations (exit 1), whatever the rest says."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import SYNTHETIC

from mapopt.cli import main
from mapopt.hardware import preset
from mapopt.instance import Instance, read_instance, write_instance
from mapopt.layout import conventional_mapping
from mapopt.mapping import save_mapping
from mapopt.solve import check_solution, solve

#: one changed value per hardware field (each a valid design, most of them ones the mapping still fits)
CHANGES = {"xbar_rows": 256, "xbar_cols": 64, "ou_rows": 4, "ou_cols": 4, "cell_bits": 1, "weight_bits": 6,
           "slice_layout": "per_crossbar", "polarity": "offset", "dac_bits": 2, "input_bits": 4,
           "adc_bits": 9, "name": "custom", "slice_widths": (1, 1, 1, 1, 1, 1, 1)}


@pytest.fixture(scope="module")
def solved():
    """An instance on the ORC preset, and a solution of it from two problems: one that never approximates, one
    that may."""
    path = SYNTHETIC / sorted(p.name for p in SYNTHETIC.glob("*.npz"))[0]
    given = read_instance(path)
    inst = Instance(given.layer, preset("orc", weight_bits=given.layer.weight_bits), given.params, given.provenance)
    return inst, {problem: solve(inst, problem, method).mapping
                  for problem, method in (("baseline", "orc"), ("filter-ordering", "greedy"))}


def wrong_files(inst: Instance, mappings: dict) -> dict:
    """Solution files of the kinds an audit found accepted: each hardware field changed, and a mapping of other
    weights carrying those weights as its declared approximation."""
    files = {f"{problem}: hardware {key}": mapping.replace(spec=mapping.spec.replace(**{key: value}))
             for problem, mapping in mappings.items() for key, value in CHANGES.items()}
    other = inst.layer.matrix.copy()
    other[np.unravel_index(np.argmax(np.abs(other)), other.shape)] = 0
    injected = conventional_mapping(other, inst.spec, "orc").replace(reference=other)
    files["reference, no problem named"] = injected
    files["reference, a problem that never approximates"] = injected.replace(meta={"problem": "baseline"})
    files["reference, an unknown problem"] = injected.replace(meta={"problem": ["filter-ordering"]})
    return files


def test_solutions_that_compute_wrong_results_or_leave_the_hardware_are_rejected(solved, tmp_path, capsys):
    inst, mappings = solved
    path = write_instance(tmp_path / "instance.npz", inst)
    files = wrong_files(inst, mappings)
    assert len(files) == 2 * len(CHANGES) + 3
    for kind, mapping in files.items():
        save_mapping(tmp_path / "sol.npz", mapping)
        capsys.readouterr()
        assert main(["validate", str(path), str(tmp_path / "sol.npz"), "--json"]) == 1, kind
        report = json.loads(capsys.readouterr().out)
        rule = "hardware" if "hardware" in kind else "approximation"
        assert not report["valid"] and any(v.startswith(rule) for v in report["violations"]), (kind, report)


def test_the_instances_own_hardware_passes_and_fewer_adc_bits_are_allowed(solved):
    inst, mappings = solved
    for mapping in mappings.values():
        assert check_solution(mapping, inst).valid
    base = mappings["baseline"]
    assert [v.rule for v in check_solution(base.replace(spec=base.spec.replace(adc_bits=inst.spec.adc_bits + 1)),
                                           inst).violations] == ["hardware"]


def test_a_declared_approximation_is_shown_and_refused_under_exact(solved, tmp_path, capsys):
    """A problem that may approximate keeps its declared reference valid; the error is printed, and --exact
    refuses it."""
    inst, mappings = solved
    other = inst.layer.matrix.copy()
    other[np.nonzero(other)[0][0], np.nonzero(other)[1][0]] = 0
    mapping = conventional_mapping(other, inst.spec, "orc").replace(reference=other,
                                                                     meta={"problem": "filter-ordering"})
    write_instance(tmp_path / "instance.npz", inst)
    save_mapping(tmp_path / "sol.npz", mapping)
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "instance.npz"), str(tmp_path / "sol.npz")]) == 0
    out = capsys.readouterr().out
    assert "approximates the layer: L1 error" in out and "L1 error 0" not in out
    assert main(["validate", str(tmp_path / "instance.npz"), str(tmp_path / "sol.npz"), "--exact"]) == 1
    assert "approximation" in capsys.readouterr().out
