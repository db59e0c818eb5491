"""Accuracy in the loop on tiny networks and images: calibration statistics, batch-norm re-estimation,
the re-fit under each layer's decision, and the command line."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import mapopt, one_line_error  # noqa: E402
from mapopt.accuracy import Evaluation, map_model  # noqa: E402
from mapopt.errors import MapoptError  # noqa: E402
from mapopt.images import ImageSet  # noqa: E402
from mapopt.layer import matrix_to_weight, unroll  # noqa: E402
from mapopt.models import calibration as calib  # noqa: E402
from mapopt.models.cifar import cifar_resnet  # noqa: E402
from mapopt.pipeline import parse  # noqa: E402
from mapopt.refit import refit  # noqa: E402


def images(n: int, seed: int, labels=None) -> ImageSet:
    x = np.random.default_rng(seed).integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    return ImageSet(x, labels, f"random-{seed}", np.arange(n))


def tiny_resnet(seed: int = 0):
    torch.manual_seed(seed)
    return cifar_resnet(8).eval()


@pytest.mark.parametrize("k, stride, pad, dilation", [(3, 1, 1, 1), (3, 2, 1, 1), (1, 2, 0, 1), (3, 1, 2, 2)])
def test_patches_are_the_unfolded_columns_at_the_picked_positions(k, stride, pad, dilation):
    conv = torch.nn.Conv2d(4, 8, k, stride=stride, padding=pad, dilation=dilation)
    x = torch.randn(3, 4, 9, 11)
    cols = torch.nn.functional.unfold(x, k, dilation, pad, stride)
    picks = torch.as_tensor(calib.positions(3, cols.shape[2], seed=0, per_image=5))
    expected = cols.gather(2, picks[:, None, :].expand(-1, cols.shape[1], -1)).transpose(1, 2).reshape(-1, cols.shape[1])
    assert torch.allclose(calib._patches(conv, x, picks), expected)


@pytest.mark.parametrize("conv, message", [
    (lambda: torch.nn.Conv2d(4, 8, 3, padding="same"), "explicit zero padding"),
    (lambda: torch.nn.Conv2d(4, 8, 3, padding=1, padding_mode="reflect"), "explicit zero padding"),
])
def test_convolutions_the_rows_cannot_describe_are_one_line_errors(conv, message):
    net = torch.nn.Sequential(conv())
    with pytest.raises(MapoptError, match=message):
        calib.layer_stats(net, "0", torch.randn(2, 4, 6, 6), torch.zeros(32, 8), None, seed=0)


def test_statistics_of_an_unchanged_network_make_its_own_weights_exact():
    model, x = tiny_resnet(), Evaluation(images(8, 0)).inputs(images(8, 0))
    name = "layer2.0.conv1"
    w = unroll(calib.layers_of(model)[name].weight.detach().double().numpy())
    targets, picks = calib.dense_targets(model, [name], x, seed=0)
    stats = calib.layer_stats(model, name, x, targets[name], picks[name], seed=0)
    assert stats.rows == 8 * calib.POSITIONS and stats.hessian.shape == (w.shape[0],) * 2
    scale = np.abs(stats.cross).max()  # float32 rows: agreement to single precision
    assert np.allclose(stats.cross, stats.hessian @ w, atol=1e-5 * scale) and stats.error(w) < 1e-6
    assert stats.error(np.zeros_like(w)) == pytest.approx(1.0)


@pytest.mark.parametrize("groups", [8, 2])
def test_a_grouped_conv_has_statistics_per_group_that_make_its_own_weights_exact(groups):
    """Per group, ``C = H W`` for the network's own weights; the re-fit with every cell of the diagonal blocks
    free gives them back, and nothing off the blocks."""
    from mapopt.layer import structure
    from mapopt.refit import GroupedStats, per_group, refit

    torch.manual_seed(groups)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 16, 3, padding=1, groups=groups))
    x = torch.randn(16, 3, 8, 8)
    targets, picks = calib.dense_targets(model, ["2"], x, seed=0)
    stats = calib.layer_stats(model, "2", x, targets["2"], picks["2"], seed=0)
    weight = model[2].weight.detach().double().numpy()
    w = unroll(weight, groups)
    assert isinstance(stats, GroupedStats) and len(stats.parts) == groups
    assert stats.parts[0].hessian.shape == (8 // groups * 9,) * 2 and stats.error(w) < 1e-6
    assert stats.error(np.zeros_like(w)) == pytest.approx(1.0)
    fitted = per_group(refit, stats, structure(weight.shape, groups), damping=0.0)
    assert np.allclose(fitted, w, atol=1e-3 * np.abs(w).max()) and not fitted[~structure(weight.shape, groups)].any()


def test_batchnorm_reestimation_uses_the_images_statistics():
    model, x = tiny_resnet(), Evaluation(images(16, 1)).inputs(images(16, 1))
    calib.reestimate_batchnorm(model, x)
    with torch.no_grad():
        expected = model.conv1(x).mean(dim=(0, 2, 3))
    assert torch.allclose(model.bn1.running_mean, expected, atol=1e-5) and not model.bn1.training


@pytest.mark.parametrize("labelled", [True, False])
def test_map_model_refits_every_layer_under_its_grouping_and_reports_accuracy(tmp_path, labelled):
    model = tiny_resnet()
    test = images(40, 2)
    evaluation = Evaluation(test, images(32, 3))
    labels = calib.predictions(model, evaluation.inputs(test))
    evaluation = Evaluation(ImageSet(test.x, labels if labelled else None, test.source, test.indices), images(32, 3))
    weights_before = {k: v.clone() for k, v in model.state_dict().items()}
    report = map_model(model, parse("orc"), evaluation, tmp_path, sparsity=0.7)
    acc = report["accuracy"]
    assert acc["metric"] == ("top1" if labelled else "fidelity") and acc["float"] == 1.0
    assert 0 <= acc["decided"] <= 1 and 0 <= acc["refit"] <= 1 and acc["batchnorm_reestimated"]
    assert acc["calibration"]["images"] == 32 and acc["images"]["images"] == 40
    seconds = acc["seconds"]
    assert seconds["evaluation"] > 0 and seconds["mapping_and_refit"] > seconds["evaluation"]
    assert sum(seconds.values()) == pytest.approx(report["wall_time"], abs=0.01)
    assert report["valid"] and report["exact"] and len(report["layers"]) == 8
    for layer in report["layers"]:
        note = layer["refit"]
        assert note["stage"] == "group" and note["calibration_error"]["refit"] <= note["calibration_error"]["decided"]
        assert layer["ou_activations"] <= note["decided"]["ou_activations"]  # re-fitted in rows kept anyway
    assert sum(layer["refit"]["calibration_error"]["refit"] for layer in report["layers"]) \
        < sum(layer["refit"]["calibration_error"]["decided"] for layer in report["layers"])
    assert all(torch.equal(weights_before[k], v) for k, v in model.state_dict().items())  # the model is left unchanged


def test_depthwise_layers_are_refitted_group_by_group(tmp_path):
    from model_files import make_net, torch_module

    model = torch_module(make_net(4)).eval()
    report = map_model(model, parse("orc"), Evaluation(images(24, 20), images(32, 21)), tmp_path, sparsity=0.5)
    depthwise = [layer for layer in report["layers"] if layer["kind"] == "depthwise"]
    assert report["valid"] and report["exact"] and len(depthwise) == 2
    for layer in depthwise:
        error = layer["refit"]["calibration_error"]
        assert layer["refit"]["stage"] == "group" and error["refit"] < error["decided"]
    assert report["accuracy"]["metric"] == "fidelity" and 0 <= report["accuracy"]["refit"] <= 1


def test_obs_pruning_with_kept_ends_prunes_the_middle_layers_by_output_error(tmp_path):
    evaluation = Evaluation(images(8, 8), images(24, 9))
    report = map_model(tiny_resnet(), parse("orc"), evaluation, tmp_path, sparsity=0.6, prune="obs", keep_ends=True)
    assert report["prune"] == "obs" and report["keep_ends"]
    decided = [layer["refit"]["decided"]["sparsity"] for layer in report["layers"]]
    assert decided[0] < 0.1 and decided[-1] < 0.1  # the ends unpruned
    assert all(0.55 <= s <= 0.65 for s in decided[1:-1])
    with pytest.raises(MapoptError, match="needs calibration images"):
        map_model(tiny_resnet(), parse("orc"), Evaluation(images(8, 8)), tmp_path / "b", sparsity=0.6, prune="obs")


def test_rows_chosen_by_output_error_never_cost_more_ou_activations_than_magnitudes(tmp_path):
    evaluation = Evaluation(images(8, 13), images(24, 14))
    rows = map_model(tiny_resnet(), parse("orc"), evaluation, tmp_path / "rows", sparsity=0.7, prune="obs-rows")
    magnitude = map_model(tiny_resnet(), parse("orc"), evaluation, tmp_path / "mag", sparsity=0.7)
    assert rows["valid"] and rows["exact"] and rows["prune"] == "obs-rows"
    for a, b in zip(rows["layers"], magnitude["layers"]):
        assert a["refit"]["decided"]["ou_activations"] == b["refit"]["decided"]["ou_activations"]  # same grouping
        assert a["ou_activations"] <= a["refit"]["decided"]["ou_activations"]


def test_pattern_placement_refits_within_the_kept_patterns(tmp_path):
    report = map_model(tiny_resnet(), parse("pattern"), Evaluation(images(8, 10), images(24, 11)), tmp_path)
    layers = report["layers"]
    assert report["valid"] and report["exact"]
    assert all(layer["refit"]["stage"] == "pattern" for layer in layers[:-1])  # the 3x3 convs
    assert "no stage" in layers[-1]["refit"]["skipped"]  # the linear layer keeps the conventional mapping
    assert all(layer["ou_activations"] <= layer["refit"]["decided"]["ou_activations"] for layer in layers[:-1])


def test_reuse_refits_the_leaders_stored_vectors_and_keeps_the_ties(tmp_path):
    report = map_model(tiny_resnet(), parse("reuse"), Evaluation(images(8, 4), images(24, 5)), tmp_path, sparsity=0.5)
    assert report["valid"] and report["exact"] and report["accuracy"]["refit"] is not None
    notes = [layer["refit"] for layer in report["layers"]]
    assert all(n["stage"] == "reuse" and n["calibration_error"]["refit"] <= n["calibration_error"]["decided"]
               for n in notes)
    assert sum(n["calibration_error"]["refit"] for n in notes) < sum(n["calibration_error"]["decided"] for n in notes)


def test_an_interrupted_accuracy_run_resumes_to_the_result_of_one_never_interrupted(tmp_path):
    def run(resume):
        return map_model(tiny_resnet(), parse("orc"), Evaluation(images(12, 4), images(24, 5)), tmp_path / "w",
                         sparsity=0.6, resume=resume)

    def stable(layers):  # a layer's report without its times
        return [{k: v for k, v in layer.items() if k not in ("wall_time", "stages")} for layer in layers]

    whole = run(tmp_path / "whole.jsonl")
    lines = (tmp_path / "whole.jsonl").read_text().splitlines()
    assert len(lines) == len(whole["layers"]) and len(list((tmp_path / "whole.jsonl.weights").glob("*.npz"))) == len(lines)
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # stopped while writing layer 4
    (tmp_path / "cut.jsonl.weights").mkdir()
    for line in lines[:4]:
        name = json.loads(line)["key"]
        (tmp_path / "cut.jsonl.weights" / f"{name}.npz").write_bytes(
            (tmp_path / "whole.jsonl.weights" / f"{name}.npz").read_bytes())
    resumed = run(tmp_path / "cut.jsonl")
    assert {k: resumed["accuracy"][k] for k in ("float", "decided", "refit")} == \
        {k: whole["accuracy"][k] for k in ("float", "decided", "refit")}
    assert json.loads(json.dumps(stable(resumed["layers"]))) == json.loads(json.dumps(stable(whole["layers"])))
    for model, sparsity in ((tiny_resnet(), 0.5), (tiny_resnet(seed=9), 0.6)):  # other settings, another network
        with pytest.raises(MapoptError, match="another network or other settings"):
            map_model(model, parse("orc"), Evaluation(images(12, 4), images(24, 5)), tmp_path / "w",
                      sparsity=sparsity, resume=tmp_path / "cut.jsonl")
    first = json.loads(lines[0])["key"]
    (tmp_path / "cut.jsonl.weights" / f"{first}.npz").write_bytes(b"damaged")
    with pytest.raises(MapoptError, match=f"{first}.npz"):
        run(tmp_path / "cut.jsonl")


def test_any_torch_network_of_conv_and_linear_layers_maps_with_accuracy_in_the_loop(tmp_path):
    """A network that lists no parts (a plain Sequential) is run from the images for every layer; without labels
    accuracy is fidelity to the dense network, and the re-fit lowers every layer's calibration error."""
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10))
    test = images(16, 8)
    unlabelled = ImageSet(test.x, None, test.source, test.indices)
    report = map_model(net, parse("orc"), Evaluation(unlabelled, images(24, 9)), tmp_path, sparsity=0.6)
    acc = report["accuracy"]
    assert acc["metric"] == "fidelity" and acc["float"] == 1.0 and report["valid"] and report["exact"]
    assert [layer["name"] for layer in report["layers"]] == ["0", "2", "6"]
    notes = [layer["refit"] for layer in report["layers"]]
    assert all(n["calibration_error"]["refit"] < n["calibration_error"]["decided"] for n in notes)


def test_a_bit_sparse_projection_is_refitted_onto_its_allowed_values(tmp_path):
    """With ``max_slices`` the re-fit lands on values of at most that many nonzero slices, so packing projects
    nothing more: each re-fitted layer's mapping computes it exactly, and no layer's error rises."""
    pipe = parse("bitslice", params={"pack": {"max_slices": 1}})
    report = map_model(tiny_resnet(), pipe, Evaluation(images(8, 4), images(24, 5)), tmp_path, sparsity=0.5)
    assert report["valid"] and report["exact"]
    refitted = [layer for layer in report["layers"] if not layer["refit"].get("kept_decided")]
    assert len(refitted) >= len(report["layers"]) // 2
    for layer in refitted:
        note = layer["refit"]
        assert note["calibration_error"]["refit"] < note["calibration_error"]["decided"]
        pack = next(s for s in layer["stages"] if s["stage"] == "pack")
        assert not pack["approximates"] and layer["error"]["l1"] == 0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny akamaster-style checkpoint, and calibration and test images (labelled) on disk."""
    d = tmp_path_factory.mktemp("acc")
    model = tiny_resnet(1)
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, d / "resnet8.th")
    for name, n, seed in (("train", 24, 6), ("test", 30, 7)):
        x = np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        np.savez(d / f"{name}.npz", x=x, y=np.arange(n) % 10)
    return d


def test_map_with_calibrate_and_eval_prints_accuracy_beside_the_gains(files):
    out = mapopt("map", files / "resnet8.th", "--pipeline", "orc", "--sparsity", "0.7", "--calibrate",
                 files / "train.npz", "--calib-size", 20, "--eval", files / "test.npz", "--eval-size", 20, "--json")
    report = json.loads(out.stdout)
    acc = report["accuracy"]
    assert {"metric", "float", "decided", "refit"} <= acc.keys() and acc["metric"] == "top1"
    assert acc["images"]["images"] == 20 and acc["calibration"]["images"] == 20
    assert report["gain"]["ou_activations"] > 1 and report["valid"] and report["sparsity"] == 0.7
    top1 = json.loads(mapopt("evaluate", files / "resnet8.th", files / "test.npz", "--eval-size", 20, "--json").stdout)
    assert top1["top1"] == acc["float"]  # the same 20 images


@pytest.mark.parametrize("args, message", [
    (["--calibrate", "{d}/train.npz"], "give --eval"),
    (["--calibrate", "{d}/test.npz", "--eval", "{d}/test.npz"], "take no part in calibration"),
    (["--eval", "{d}/test.npz", "--prune", "obs"], "give --calibrate"),
])
def test_accuracy_options_that_cannot_work_are_one_line_errors(files, args, message):
    proc = mapopt("map", files / "resnet8.th", "--pipeline", "orc", *[a.format(d=files) for a in args], ok=False)
    assert message in one_line_error(proc)


def test_map_prunes_nothing_unless_asked(files):
    report = json.loads(mapopt("map", files / "resnet8.th", "--pipeline", "orc", "--json").stdout)
    assert report["sparsity"] == 0.0
    pruned = json.loads(mapopt("map", files / "resnet8.th", "--pipeline", "orc", "--sparsity", "0.5", "--json").stdout)
    assert pruned["sparsity"] == 0.5 and pruned["totals"]["cells"] < report["totals"]["cells"]


def test_images_the_network_cannot_take_are_one_line_errors(files, tmp_path):
    np.savez(tmp_path / "gray.npz", x=np.zeros((4, 1, 32, 32), np.float32), y=np.zeros(4, np.int64))
    assert "takes 3" in one_line_error(mapopt("evaluate", files / "resnet8.th", tmp_path / "gray.npz", ok=False))


def test_evaluate_needs_labels_and_a_network_it_can_run(files, tmp_path):
    np.savez(tmp_path / "unlabelled.npz", x=np.zeros((2, 32, 32, 3), np.uint8))
    assert "no labels" in one_line_error(mapopt("evaluate", files / "resnet8.th", tmp_path / "unlabelled.npz", ok=False))
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    assert "akamaster CIFAR ResNet" in one_line_error(mapopt("evaluate", tmp_path / "other.pt", files / "test.npz",
                                                             ok=False))


def test_a_cursor_over_the_networks_parts_gives_the_statistics_of_full_passes():
    model, x = tiny_resnet(), Evaluation(images(6, 12)).inputs(images(6, 12))
    names = list(calib.layers_of(model))
    targets, picks = calib.dense_targets(model, names, x, seed=1)
    cursor = calib.Cursor(model, x)
    for name in names:
        fast = cursor.stats(name, targets[name], picks[name], seed=1)
        full = calib.layer_stats(model, name, x, targets[name], picks[name], seed=1)
        assert np.allclose(fast.hessian, full.hessian, rtol=1e-4, atol=1e-4 * np.abs(full.hessian).max())
        assert np.allclose(fast.cross, full.cross, rtol=1e-4, atol=1e-4 * np.abs(full.cross).max())
    with pytest.raises(MapoptError, match="after a later part"):
        cursor.stats("conv1", targets["conv1"], picks["conv1"], seed=1)


def test_a_layer_joining_a_skip_connection_is_fitted_towards_the_dense_sum():
    """With the dense network beside it, the block's conv2 is fitted so that the block's sum (batch-normed output
    plus skip) comes back to the dense one, mending an error upstream of the skip; fitted to its own dense output
    only, the skip's error stays."""
    dense = tiny_resnet(3)
    torch.manual_seed(4)
    with torch.no_grad():
        for norm in (m for m in dense.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.weight.uniform_(0.5, 2.0)
            norm.running_var.uniform_(0.5, 2.0)
    mapped = copy.deepcopy(dense)
    with torch.no_grad():
        mapped.conv1.weight.mul_(1.5).add_(0.1 * torch.randn_like(mapped.conv1.weight))
    x = Evaluation(images(32, 5)).inputs(images(32, 5))
    name, block = "layer1.0.conv2", lambda model: model.layer1[0]
    targets, picks = calib.dense_targets(dense, list(calib.layers_of(dense)), x, seed=1)

    def block_sum(model):
        with torch.no_grad():
            start = torch.relu(model.bn1(model.conv1(x)))
            b = block(model)
            return b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(start))))) + b.shortcut(start)

    errors = []
    for cursor in (calib.Cursor(mapped, x), calib.Cursor(mapped, x, dense)):
        stats = cursor.stats(name, targets[name], picks[name], seed=1)
        fitted = copy.deepcopy(mapped)
        w = refit(stats, np.ones(stats.cross.shape, bool), damping=0.0)
        with torch.no_grad():
            block(fitted).conv2.weight.copy_(torch.as_tensor(matrix_to_weight(w, tuple(block(fitted).conv2.weight.shape))))
        errors.append(float(((block_sum(fitted) - block_sum(dense)) ** 2).sum()))
    assert errors[1] < 0.5 * errors[0]


def test_import_writes_the_hardware_overridden(files, tmp_path):
    from mapopt.instance import instance_files, read_instance

    mapopt("import", files / "resnet8.th", "--out", tmp_path, "--preset", "bitslice", "--hw", "ou_rows=4")
    specs = [read_instance(f).spec for f in instance_files(tmp_path)]
    assert specs and all((s.ou_rows, s.name, s.adc_bits) == (4, "bitslice", (1, 3, 3, 3)) for s in specs)
