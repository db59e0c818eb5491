"""Tests for mapopt.instance and mapopt.importer: instance files, network indexes, model import."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from helpers import ROOT, WEIGHTS, real_file
from strategies import hardware_specs, layers

from mapopt.errors import InstanceError, MapoptError
from mapopt.hardware import preset
from mapopt.importer import import_model, import_weights, write_network
from mapopt.instance import Instance, instance_files, read_index, read_instance, write_index, write_instance
from mapopt.layer import Layer
from mapopt.models import NamedWeight

BUNDLED = ROOT / "instances"


def assert_same(a: Instance, b: Instance) -> None:
    assert (a.name, a.layer.kind, a.layer.weight_bits, a.spec, a.params, a.provenance) == \
           (b.name, b.layer.kind, b.layer.weight_bits, b.spec, b.params, b.provenance)
    np.testing.assert_array_equal(a.layer.quantized, b.layer.quantized)
    np.testing.assert_array_equal(a.layer.scale, b.layer.scale)
    assert (a.layer.weight is None) == (b.layer.weight is None)
    if a.layer.weight is not None:
        np.testing.assert_array_equal(a.layer.weight, b.layer.weight)


def small_instance(**params) -> Instance:
    q = np.array([[3, 0, -7, 1], [0, 0, 127, -127]])
    layer = Layer("fc", "linear", q, np.array([0.1, 0.2]), 8, (q * [[0.1], [0.2]]).astype(np.float32))
    return Instance(layer, preset("orc"), params, {"source": "test"})


# ---- round trips ------------------------------------------------------------------------------

@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_write_read_round_trip(tmp_path, data):
    layer = data.draw(layers())
    spec = data.draw(hardware_specs(weight_bits=data.draw(st.integers(layer.weight_bits, 16))))
    params = data.draw(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3))
    inst = Instance(layer, spec, params, {"source": "hypothesis"})
    path = write_instance(tmp_path / "x.npz", inst)
    back = read_instance(path)
    assert_same(back, inst)
    with np.load(path) as raw:
        assert raw["quantized"].dtype == (np.int8 if layer.weight_bits <= 8 else np.int16)
        assert ("weight" in raw.files) == (layer.weight is not None)


def test_meta_describes_the_layer(tmp_path):
    path = write_instance(tmp_path / "fc.npz", small_instance(sparsity=0.25))
    with np.load(path) as raw:
        meta = json.loads(str(raw["meta"]))
    assert meta["format"] == "mapopt-instance" and meta["version"] == 1
    assert (meta["name"], meta["kind"], meta["shape"], meta["weight_bits"]) == ("fc", "linear", [2, 4], 8)
    assert meta["quantization"] == "per_channel" and meta["sparsity"] == 0.375
    assert meta["hardware"]["name"] == "orc" and meta["params"] == {"sparsity": 0.25}


def test_layer_wider_than_the_hardware_rejected():
    layer = Layer("w", "linear", np.full((2, 2), 200), np.ones(1), 9)
    with pytest.raises(InstanceError, match="9-bit weights do not fit"):
        Instance(layer, preset("orc"))


# ---- bad files --------------------------------------------------------------------------------

def good_contents() -> tuple[dict, dict]:
    """The meta and arrays of a valid instance file, to break one piece at a time."""
    meta = {"format": "mapopt-instance", "version": 1, "name": "fc", "kind": "linear", "shape": [2, 3],
            "weight_bits": 8, "quantization": "per_layer", "sparsity": 0.5,
            "hardware": preset("orc").to_dict(), "params": {}, "provenance": {}}
    arrays = {"quantized": np.array([[1, 0, -2], [0, 3, 0]], dtype=np.int8), "scale": np.array([0.5]),
              "weight": np.array([[0.5, 0, -1], [0, 1.5, 0]], dtype=np.float32)}
    return meta, arrays


def save(path: Path, meta: dict | None, arrays: dict, allow_pickle: bool = False) -> Path:
    """Write an npz by hand, bypassing write_npz, so any meta can be stored."""
    extra = {} if meta is None else {"meta": np.array(json.dumps(meta))}
    with open(path, "wb") as fh:
        np.savez(fh, allow_pickle=allow_pickle, **extra, **arrays)
    return path


def test_hand_written_good_file_reads(tmp_path):
    inst = read_instance(save(tmp_path / "ok.npz", *good_contents()))
    assert inst.name == "fc" and inst.layer.sparsity == 0.5 and inst.spec == preset("orc")


# case: (change(meta, arrays) editing the good contents in place, expected message)
BROKEN = {
    "nan weights": (lambda m, a: a["weight"].__setitem__((0, 0), np.nan), "array 'weight' contains NaN"),
    "nan scale": (lambda m, a: a.__setitem__("scale", np.array([np.nan])), "array 'scale' contains NaN"),
    "shape mismatch": (lambda m, a: m.__setitem__("shape", [3, 2]), "has shape \\[2, 3\\], but meta field 'shape' is \\[3, 2\\]"),
    "weight shape": (lambda m, a: a.__setitem__("weight", np.zeros((2, 2), np.float32)), "array 'weight' has shape"),
    "float quantized": (lambda m, a: a.__setitem__("quantized", a["quantized"].astype(np.float32)),
                        "array 'quantized' has dtype float32, expected integer"),
    "bool quantized": (lambda m, a: a.__setitem__("quantized", a["quantized"] != 0), "expected integer"),
    "int scale": (lambda m, a: a.__setitem__("scale", np.array([1])), "array 'scale' has dtype"),
    "missing quantized": (lambda m, a: a.pop("quantized"), "array 'quantized' is missing"),
    "absurd size": (lambda m, a: m.__setitem__("shape", [2 ** 20, 2 ** 20]), "more than 2\\*\\*28 weights"),
    "zero dim": (lambda m, a: m.__setitem__("shape", [0, 3]), "must be 2 positive integers"),
    "negative dim": (lambda m, a: m.__setitem__("shape", [-2, 3]), "must be 2 positive integers"),
    "rank": (lambda m, a: m.__setitem__("shape", [2, 3, 1, 1]), "must be 2 positive integers"),
    "shape type": (lambda m, a: m.__setitem__("shape", "2x3"), "meta field 'shape' has the wrong type"),
    "wrong format": (lambda m, a: m.__setitem__("format", "mapopt-solution"), "expected a mapopt-instance file"),
    "wrong version": (lambda m, a: m.__setitem__("version", 99), "format version 99 is not supported"),
    "bad kind": (lambda m, a: m.__setitem__("kind", "pool"), "meta field 'kind' must be one of"),
    "missing name": (lambda m, a: m.pop("name"), "meta field 'name' is missing"),
    "bits": (lambda m, a: m.__setitem__("weight_bits", 40), "'weight_bits' must lie in 2..16"),
    "bits type": (lambda m, a: m.__setitem__("weight_bits", 8.0), "'weight_bits' has the wrong type"),
    "out of range": (lambda m, a: m.__setitem__("weight_bits", 2), "exceeds the 2-bit range"),
    "quantization": (lambda m, a: m.__setitem__("quantization", "per_channel"), "meta field 'quantization'"),
    "sparsity": (lambda m, a: m.__setitem__("sparsity", 0.1), "meta field 'sparsity' is 0.1"),
    "params": (lambda m, a: m.__setitem__("params", []), "meta field 'params' has the wrong type"),
    "hardware type": (lambda m, a: m.__setitem__("hardware", "orc"), "meta field 'hardware' has the wrong type"),
    "hardware key": (lambda m, a: m["hardware"].__setitem__("colour", 1), "'hardware': unknown hardware settings"),
    "hardware value": (lambda m, a: m["hardware"].__setitem__("ou_rows", 1000), "'hardware': OU 1000x8 is larger"),
    "hardware type error": (lambda m, a: m["hardware"].__setitem__("slice_widths", 7), "'hardware': "),
    "hardware value error": (lambda m, a: m["hardware"].__setitem__("adc_bits", ["six"]), "'hardware': "),
    "hardware too narrow": (lambda m, a: m["hardware"].update(weight_bits=4, slice_widths=[1, 2]),
                            "8-bit weights do not fit hardware that stores 4-bit"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_file_rejected_in_one_line(tmp_path, case):
    change, message = BROKEN[case]
    meta, arrays = good_contents()
    change(meta, arrays)
    path = save(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(InstanceError, match=message) as info:
        read_instance(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def rejected(path: Path, message: str) -> None:
    with pytest.raises(InstanceError, match=message) as info:
        read_instance(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_unreadable_files_rejected(tmp_path):
    good = write_instance(tmp_path / "good.npz", small_instance())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    rejected(truncated, "not a readable .npz file")
    text = tmp_path / "text.npz"
    text.write_text("layer,weights\n1,2\n")
    rejected(text, "not a readable .npz file|pickled")  # numpy takes any non-zip file for a pickle
    rejected(tmp_path / "absent.npz", "no such file")
    rejected(save(tmp_path / "nometa.npz", None, good_contents()[1]), "missing the 'meta' entry")


def test_pickle_payload_refused(tmp_path):
    meta, arrays = good_contents()
    arrays["quantized"] = np.array([{"evil": 1}, None], dtype=object)
    rejected(save(tmp_path / "pickle.npz", meta, arrays, allow_pickle=True), "pickled objects")


def test_meta_not_json_rejected(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, meta=np.array("{not json"), **good_contents()[1])
    rejected(path, "'meta' is not valid JSON")


# ---- network index ----------------------------------------------------------------------------

def write_three(directory: Path) -> list[Path]:
    rng = np.random.default_rng(1)
    files = []
    for name in ("c", "a", "b"):
        layer = Layer.from_weights(rng.normal(size=(4, 2, 3, 3)), name)
        files.append(write_instance(directory / f"{name}.npz", Instance(layer, preset("orc"))))
    return files


def test_index_round_trip(tmp_path):
    files = write_three(tmp_path)
    index = write_index(tmp_path, "tiny", files, {"source": "test"})
    assert index == tmp_path / "index.json"
    assert instance_files(tmp_path) == files  # index order, not name order
    assert instance_files(index) == files
    assert instance_files(files[1]) == [files[1]]
    data = read_index(index)
    assert data["network"] == "tiny" and data["provenance"] == {"source": "test"}
    assert [e["file"] for e in data["layers"]] == ["c.npz", "a.npz", "b.npz"]
    assert data["layers"][0]["shape"] == [4, 2, 3, 3]
    assert data["layers"][0]["sparsity"] == read_instance(files[0]).layer.sparsity


def test_index_in_another_folder_uses_relative_paths(tmp_path):
    files = write_three(tmp_path / "layers")
    write_index(tmp_path, "tiny", files, {})
    assert read_index(tmp_path / "index.json")["layers"][0]["file"] == "layers/c.npz"
    assert instance_files(tmp_path) == files


def test_index_entries_outside_the_index_folder_are_refused(tmp_path):
    files = write_three(tmp_path / "elsewhere")
    (tmp_path / "net").mkdir()
    write_index(tmp_path / "net", "tiny", [files[0]], {})
    assert read_index(tmp_path / "net" / "index.json")["layers"][0]["file"] == "../elsewhere/c.npz"
    with pytest.raises(InstanceError, match="outside the index's folder"):
        instance_files(tmp_path / "net")


def test_directory_without_index_gives_sorted_files(tmp_path):
    write_three(tmp_path)
    assert [f.name for f in instance_files(tmp_path)] == ["a.npz", "b.npz", "c.npz"]


@pytest.mark.parametrize(("text", "message"), [
    ("{", "index is not valid JSON"),
    ("[]", "expected a mapopt-network index, found format 'list'"),
    ('{"format": "mapopt-instance"}', "found format 'mapopt-instance'"),
    ('{"format": "mapopt-network", "version": 2}', "index version 2 is not supported"),
    ('{"format": "mapopt-network", "version": 1, "network": "n", "provenance": {}}', "field 'layers' is missing"),
    ('{"format": "mapopt-network", "version": 1, "network": 3, "provenance": {}, "layers": []}',
     "field 'network' has the wrong type"),
    ('{"format": "mapopt-network", "version": 1, "network": "n", "provenance": {}, "layers": {}}',
     "field 'layers' has the wrong type"),
    ('{"format": "mapopt-network", "version": 1, "network": "n", "provenance": {}, "layers": [3]}',
     "layers\\[0\\] is a int"),
    ('{"format": "mapopt-network", "version": 1, "network": "n", "provenance": {}, '
     '"layers": [{"name": "a", "shape": [1, 1], "sparsity": 0}]}', "layers\\[0\\] field 'file' is missing"),
    ('{"format": "mapopt-network", "version": 1, "network": "n", "provenance": {}, '
     '"layers": [{"name": "a", "file": "/etc/a.npz", "shape": [1, 1], "sparsity": 0}]}', "must be a relative path"),
    ('{"format": "mapopt-network", "version": 1, "network": "n", "provenance": {}, '
     '"layers": [{"name": "a", "file": "gone.npz", "shape": [1, 1], "sparsity": 0}]}',
     "layers\\[0\\] lists .*gone.npz, which does not exist"),
])
def test_malformed_index_rejected(tmp_path, text, message):
    (tmp_path / "index.json").write_text(text)
    for target in (tmp_path, tmp_path / "index.json"):
        with pytest.raises(InstanceError, match=message) as info:
            instance_files(target)
        assert str(info.value).startswith(f"{tmp_path / 'index.json'}: ") and "\n" not in str(info.value)


def test_instance_files_rejects_what_it_cannot_read(tmp_path):
    with pytest.raises(InstanceError, match="no such file or directory"):
        instance_files(tmp_path / "nothing")
    with pytest.raises(InstanceError, match="neither index.json nor .npz"):
        instance_files(tmp_path)
    (tmp_path / "w.csv").write_text("1,2")
    with pytest.raises(InstanceError, match="not an instance"):
        instance_files(tmp_path / "w.csv")


# ---- import -----------------------------------------------------------------------------------

def test_import_weights_prunes_and_quantizes(tmp_path):
    rng = np.random.default_rng(2)
    weights = [NamedWeight("conv/1", "conv", rng.normal(size=(8, 3, 3, 3)).astype(np.float32)),
               NamedWeight("fc", "linear", rng.normal(size=(10, 8)).astype(np.float32))]
    index = import_weights(weights, tmp_path, sparsity=0.5, preset="bitslice", network="net",
                           provenance={"source": "numpy"})
    files = instance_files(index)
    assert [f.name for f in files] == ["conv.1.npz", "fc.npz"]
    insts = [read_instance(f) for f in files]
    assert [i.name for i in insts] == ["conv/1", "fc"]
    assert [i.layer.sparsity for i in insts] == [0.5, 0.5]
    assert all(i.spec == preset("bitslice") for i in insts)
    assert insts[0].params == {"sparsity": 0.5, "prune_scope": "layer"}
    assert insts[0].provenance == {"source": "numpy"}
    assert read_index(index)["provenance"] == {"source": "numpy", "sparsity": 0.5, "prune_scope": "layer"}


def test_import_with_kept_ends_prunes_only_the_middle_layers(tmp_path):
    rng = np.random.default_rng(3)
    weights = [NamedWeight(f"l{i}", "linear", rng.normal(size=(6, 10)).astype(np.float32)) for i in range(4)]
    index = import_weights(weights, tmp_path, sparsity=0.5, keep_ends=True)
    insts = [read_instance(f) for f in instance_files(index)]
    assert [i.layer.sparsity for i in insts] == [0.0, 0.5, 0.5, 0.0]
    assert insts[1].params["keep_ends"] is True


def test_import_keeps_stored_integers(tmp_path):
    q = np.array([[-127, 5, 0, 2], [1, -3, 100, 0]], dtype=np.int16)
    scale = np.array([0.01, 0.02], dtype=np.float32)
    named = NamedWeight("dense", "linear", (q * scale[:, None]).astype(np.float32), q, scale)
    inst = read_instance(instance_files(import_weights([named], tmp_path, sparsity=0.5))[0])
    # pruned by float magnitude: 2 * 0.01 and 1 * 0.02 go, 5 * 0.01 and -3 * 0.02 stay
    np.testing.assert_array_equal(inst.layer.quantized, [[-127, 5, 0, 0], [0, -3, 100, 0]])
    np.testing.assert_array_equal(inst.layer.scale, scale.astype(np.float64))
    assert inst.layer.weight_bits == 8


def test_import_global_scope_and_weight_bits(tmp_path):
    weights = [NamedWeight("big", "linear", np.full((4, 4), 10.0, np.float32)),
               NamedWeight("small", "linear", np.linspace(0.1, 1, 8, dtype=np.float32).reshape(2, 4))]
    index = import_weights(weights, tmp_path, sparsity=0.25, scope="global", weight_bits=4, per_channel=True)
    big, small = (read_instance(f) for f in instance_files(index))
    assert big.layer.sparsity == 0 and small.layer.sparsity == 0.75  # 6 of 24 weights, all in 'small'
    assert big.spec.weight_bits == 4 and big.layer.scale.shape == (4,)


@pytest.mark.parametrize("sparsity", [1.0, -0.1, float("nan"), "0.5"])
def test_import_rejects_bad_sparsity(tmp_path, sparsity):
    weights = [NamedWeight("fc", "linear", np.ones((2, 2), np.float32))]
    with pytest.raises(MapoptError, match="sparsity must be a number in \\[0, 1\\)"):
        import_weights(weights, tmp_path, sparsity=sparsity)


def test_import_rejects_bad_scope_and_name_clash(tmp_path):
    weights = [NamedWeight("a/b", "linear", np.ones((2, 2), np.float32)),
               NamedWeight("a.b", "linear", np.ones((2, 2), np.float32))]
    with pytest.raises(MapoptError, match="prune scope must be one of"):
        import_weights(weights, tmp_path, scope="row")
    with pytest.raises(MapoptError, match="both be written to a.b.npz"):
        import_weights(weights, tmp_path)


def tiny_state_dict(torch) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {"conv1.weight": torch.randn(8, 3, 3, 3, generator=gen), "bn1.weight": torch.ones(8),
            "bn1.running_mean": torch.zeros(8), "layer1.0.conv1.weight": torch.randn(8, 8, 3, 3, generator=gen),
            "fc.weight": torch.randn(10, 8, generator=gen), "fc.bias": torch.zeros(10)}


@pytest.mark.parametrize(("filename", "wrap"), [
    ("plain.pt", lambda sd: sd),
    ("checkpoint.th", lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}),
])
def test_import_model_from_torch_file(tmp_path, filename, wrap):
    torch = pytest.importorskip("torch")
    model = tmp_path / filename
    torch.save(wrap(tiny_state_dict(torch)), model)
    index = import_model(model, tmp_path / "out", sparsity=0.75)
    files = instance_files(tmp_path / "out")
    assert [f.name for f in files] == ["conv1.npz", "layer1.0.conv1.npz", "fc.npz"]
    insts = [read_instance(f) for f in files]
    assert [i.name for i in insts] == ["conv1", "layer1.0.conv1", "fc"]
    for inst in insts:
        size = inst.layer.quantized.size
        assert inst.layer.sparsity == round(0.75 * size) / size
        assert np.count_nonzero(inst.layer.weight) == size  # float weights from before pruning
        kept = inst.layer.quantized != 0
        assert np.abs(inst.layer.weight[kept]).min() >= np.abs(inst.layer.weight[~kept]).max()
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert insts[0].provenance == {"source": filename, "sha256": digest}
    data = read_index(index)
    assert data["network"] == model.stem and data["provenance"]["sha256"] == digest


def test_import_model_reports_bad_files(tmp_path):
    with pytest.raises(MapoptError, match="no such file"):
        import_model(tmp_path / "missing.pt", tmp_path / "out")
    (tmp_path / "weights.txt").write_text("1 2 3")
    with pytest.raises(MapoptError, match="unknown weight file extension"):
        import_model(tmp_path / "weights.txt", tmp_path / "out")


def test_import_from_a_module_in_python(tmp_path):
    torch = pytest.importorskip("torch")
    from mapopt.models import state_dict_weights
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    index = import_weights(state_dict_weights(module), tmp_path, sparsity=0.5, network="seq")
    assert [read_instance(f).name for f in instance_files(index)] == ["0", "2"]


def test_write_network_names_files_after_layers(tmp_path):
    index = write_network([small_instance()], tmp_path / "n", "n", {"source": "test"})
    assert instance_files(index) == [tmp_path / "n" / "fc.npz"]


# ---- bundled instances ------------------------------------------------------------------------

BUNDLED_NETWORKS = ["resnet20", "resnet20_s90", "resnet32", "resnet44", "resnet8", "synthetic"]


@pytest.mark.parametrize("network", BUNDLED_NETWORKS)
def test_bundled_instances_read(network):
    index = read_index(BUNDLED / network / "index.json")
    files = instance_files(BUNDLED / network)
    assert index["network"] == network and len(files) == len(index["layers"])
    for entry, file in zip(index["layers"], files):
        inst = read_instance(file)
        assert (inst.name, list(inst.layer.shape)) == (entry["name"], entry["shape"])
        assert inst.layer.sparsity == entry["sparsity"]
        assert inst.spec == preset("orc")
    assert "script" in index["provenance"]


def test_bundled_synthetic_layers_are_small():
    for file in instance_files(BUNDLED / "synthetic"):
        n, m = read_instance(file).layer.matrix.shape
        assert 16 <= n <= 64 and 8 <= m <= 32


@pytest.mark.parametrize(("network", "model", "sparsity"), [
    ("resnet20", "resnet_cifar10_akamaster/resnet20-12fca82f.th", 0.8),
    ("resnet8", "mlperf_tiny/ic_resnet8/pretrainedResnet_quant.tflite", 0.8),
])
def test_bundled_instances_reproduce(tmp_path, network, model, sparsity):
    path = real_file(WEIGHTS / model)
    if model.endswith(".th"):
        pytest.importorskip("torch")
    index = import_model(path, tmp_path, sparsity=sparsity, network=network,
                         provenance={"script": "experiments/make_instances.py"})
    assert read_index(index) == read_index(BUNDLED / network / "index.json")
    for fresh, bundled in zip(instance_files(index), instance_files(BUNDLED / network)):
        assert_same(read_instance(fresh), read_instance(bundled))


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    from mapopt.npzio import write_npz

    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_npz(tmp_path / "taken", "mapopt-instance", {}, {"a": np.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
