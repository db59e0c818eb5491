"""Whole-network pipelines: stages compose, every layer's mapping re-validates from its saved file with the
reported costs, totals add up, and bad pipeline specs are one-line errors."""

import json

import pytest

from helpers import SYNTHETIC as INSTANCES
from helpers import mapopt, one_line_error
from mapopt.errors import MapoptError
from mapopt.hardware import preset
from mapopt.instance import read_instance
from mapopt.mapping import load_mapping
from mapopt.pipeline import map_network, parse
from mapopt.sim import simulate


@pytest.mark.parametrize("spec, match", [("group,warp", "unknown pipeline"), ("", "unknown pipeline"),
                                         ("group,pattern", "must come first"), ("group,reuse", "must come first"),
                                         ("reuse,pattern", "must come first"),
                                         ("pattern,group,reuse", "must come first")])
def test_bad_pipelines_are_one_line_errors(spec, match):
    with pytest.raises(MapoptError, match=match):
        parse(spec)


def test_stage_options_must_name_stages_of_the_pipeline_and_presets_must_exist():
    with pytest.raises(MapoptError, match="lacks"):
        parse("full", {"reuse": "identical"})
    with pytest.raises(MapoptError, match="lacks"):
        parse("full", params={"reuse": {"theta": 0.5}})
    with pytest.raises(MapoptError, match="unknown hardware preset"):
        parse("reuse", hardware="warp")
    assert parse("reuse", hardware="orc").hardware == "orc" and parse("prap").hardware == "bitslice"


def test_a_stage_method_can_be_overridden_and_others_keep_their_defaults():
    pipe = parse("full", {"group": "matching"})
    assert pipe.stages == ("group", "pack") and pipe.methods == {"group": "matching", "pack": "heuristic"}


@pytest.mark.parametrize("spec", ["full", "reuse", "pattern", "prap", "reuse,group", "pattern,group,pack",
                                  "pattern,reuse,group"])
def test_saved_mappings_revalidate_with_the_reported_costs(tmp_path, spec):
    report = map_network(INSTANCES, parse(spec), save=tmp_path)
    assert report["valid"] and report["exact"] and len(report["layers"]) == 6
    for layer in report["layers"]:
        assert [s["stage"] for s in layer["stages"]] == list(parse(spec).stages)
        mapping = load_mapping(layer["mapping"])
        inst = read_instance(INSTANCES / f"{layer['name']}.npz")
        rep = simulate(mapping, inst.layer)
        assert rep.valid and rep.exact
        assert rep.cost.ou_activations == layer["ou_activations"] and rep.cost.crossbars == layer["crossbars"]
    for key in ("ou_activations", "crossbars", "cells"):
        assert report["totals"][key] == sum(layer[key] for layer in report["layers"])
    for layer in report["layers"]:  # the hardware each layer was mapped on is in its report, and whether it replaced
        inst = read_instance(INSTANCES / f"{layer['name']}.npz")  # the instance file's
        assert layer["hardware"] == preset(report["hardware"], weight_bits=inst.spec.weight_bits).to_dict()
        assert layer["instance_hardware_replaced"] == (layer["hardware"] != inst.spec.to_dict())
    assert report["gain"]["ou_activations"] == pytest.approx(
        report["dense"]["ou_activations"] / report["totals"]["ou_activations"])


def test_pack_after_group_is_no_worse_than_group_alone_on_the_same_hardware():
    # `pack` packs the rows of `group`'s column groups under the ADC limit: never more activations
    # than compacting those groups in natural row order, which `pack` with grouping=natural bounds
    full = map_network(INSTANCES, parse("full"))
    natural = map_network(INSTANCES, parse("pack"))
    assert full["valid"] and natural["valid"]
    assert all(s["gap"] is not None for layer in full["layers"] for s in layer["stages"])
    assert full["totals"]["ou_activations"] <= natural["totals"]["ou_activations"]


def test_stages_after_reuse_arrange_its_stored_leaders_and_keep_its_approximation():
    report = map_network(INSTANCES, parse("prap"))
    assert report["valid"] and report["exact"]
    for layer in report["layers"]:
        reuse, group, pack = layer["stages"]
        # the declared approximation is reuse's: its L1 error is what the simulator measures on the layer
        assert layer["error"]["l1"] == reuse["objective"] > 0
        # group and pack arranged the stored leaders; reading them out through the followers adds no activation
        assert layer["ou_activations"] == pack["objective"]
        assert [s["approximates"] for s in layer["stages"]] == [True, False, False]  # declared by reuse alone


def test_stages_after_pattern_map_its_pruned_layer_and_keep_its_approximation():
    alone = map_network(INSTANCES, parse("pattern"))
    composed = map_network(INSTANCES, parse("pattern,group,pack"))
    assert composed["valid"] and composed["exact"]
    for a, c in zip(alone["layers"], composed["layers"]):
        assert c["error"] == a["error"]  # the same pruning, declared by pattern, computed exactly by group and pack
        assert c["ou_activations"] == c["stages"][-1]["objective"]


def test_lossless_reuse_composes_into_a_mapping_of_the_layer_itself():
    report = map_network(INSTANCES, parse("prap", {"reuse": "identical"}))
    assert report["valid"] and report["exact"]
    assert all(layer["error"]["l1"] == 0 for layer in report["layers"])


def test_stage_parameters_reach_the_stage_and_the_report():
    full = map_network(INSTANCES, parse("reuse,group", params={"reuse": {"theta": 1.0}}))
    assert full["params"] == {"reuse": {"theta": 1.0}} and full["valid"] and full["exact"]
    assert all(layer["error"]["l1"] == 0 for layer in full["layers"])  # every sub-vector leads itself
    # followers that read a leader negated or shifted: the fan-out folds the scale into shift and sign
    scaled = map_network(INSTANCES, parse("prap", params={"reuse": {"scales": "shift", "centers": "median"}}))
    assert scaled["valid"] and scaled["exact"]
    # the linear layers keep the conventional mapping, which takes no pattern parameter
    milder = map_network(INSTANCES, parse("pattern", params={"pattern": {"removed": 0.1}}))
    default = map_network(INSTANCES, parse("pattern"))
    assert milder["valid"] and sum(x["error"]["l1"] for x in milder["layers"]) < \
        sum(x["error"]["l1"] for x in default["layers"])


def test_an_interrupted_map_resumes_with_the_layers_it_lacks(tmp_path):
    log = tmp_path / "layers.jsonl"
    first = json.loads(mapopt("map", INSTANCES, "--pipeline", "full", "--resume", log, "--json").stdout)
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # three layers done, the fourth cut by a kill
    again = mapopt("map", INSTANCES, "--pipeline", "full", "--resume", log, "--json")
    assert "[3/3] 100%" in again.stderr  # only the three missing layers ran
    resumed = json.loads(again.stdout)
    strip = ("wall_time", "stages")
    assert [{k: v for k, v in layer.items() if k not in strip} for layer in resumed["layers"]] == \
           [{k: v for k, v in layer.items() if k not in strip} for layer in first["layers"]]
    assert resumed["totals"] == first["totals"] and resumed["valid"]


def test_cli_map_prints_layers_and_totals(tmp_path):
    out = mapopt("map", INSTANCES, "--pipeline", "orc", "--method", "group=matching", "--json",
                 "--save", tmp_path / "maps")
    report = json.loads(out.stdout)
    assert report["methods"] == {"group": "matching"} and report["valid"] and report["exact"]
    assert {"name", "valid", "exact", "ou_activations", "crossbars"} <= set(report["layers"][0])
    assert len(list((tmp_path / "maps").glob("*.npz"))) == 6
    assert "[6/6] 100%" in out.stderr  # progress on stderr, the JSON alone on stdout
    assert "unknown pipeline" in one_line_error(mapopt("map", INSTANCES, "--pipeline", "warp", ok=False))
    out = mapopt("map", INSTANCES, "--pipeline", "reuse", "--param", "reuse.theta=0.5", "--preset", "orc", "--json")
    report = json.loads(out.stdout)
    assert report["hardware"] == "orc" and report["params"] == {"reuse": {"theta": 0.5}} and report["valid"]
    assert "STAGE.KEY=VALUE" in one_line_error(mapopt("map", INSTANCES, "--param", "theta=0.5", ok=False))
    bad = mapopt("map", INSTANCES, "--pipeline", "reuse", "--param", "reuse.warp=1", ok=False)
    assert "takes no parameter warp" in one_line_error(bad)
