"""A fuzz corpus of bad input, generated with a fixed seed: malformed instances, indexes, model files,
classical benchmark files and arguments. Every case must end as a user-facing error: exit status 2 and one
line on stderr naming the problem, no traceback, no hang, and no code from a file executed."""

from __future__ import annotations

import json
import pickle
import signal
import zipfile
from pathlib import Path

import numpy as np
from helpers import SYNTHETIC

from mapopt.cli import main

SEED = 20261203
INSTANCE = SYNTHETIC / "conv36x8_s60.npz"
#: seconds a case may take (the commands that get a time limit get 2 s)
CASE_SECONDS = 60


class _Payload:
    """A pickle that, if ever unpickled, writes a file: proof that nothing in a data file runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "executed"))


def _instance_variants(d: Path, rng: np.random.Generator) -> dict[str, Path]:
    """Instance files broken in every layer of the format: bytes, zip, arrays, meta."""
    raw = INSTANCE.read_bytes()
    z = dict(np.load(INSTANCE, allow_pickle=False))
    meta = json.loads(str(z["meta"]))
    out = {"empty": b"", "text": b"not an npz", "truncated": raw[: len(raw) // 2], "zip without arrays": None}
    for i in range(8):  # random bytes flipped inside the compressed data
        data = bytearray(raw)
        for k in rng.integers(40, len(data), size=4):
            data[k] ^= 0xFF
        out[f"flipped {i}"] = bytes(data)
    files = {k: v for k, v in out.items() if v is not None}
    paths = {}
    for name, data in files.items():
        paths[name] = d / f"{name.replace(' ', '_')}.npz"
        paths[name].write_bytes(data)
    with zipfile.ZipFile(d / "nozip.npz", "w") as zf:
        zf.writestr("readme.txt", "nothing")
    paths["zip without arrays"] = d / "nozip.npz"

    def variant(name: str, arrays: dict, header: dict) -> None:
        path = d / f"{name.replace(' ', '_')}.npz"
        np.savez(path, meta=np.array(json.dumps(header)), **arrays)
        paths[name] = path

    quantized = z["quantized"]
    bad_meta = {"format": "mapopt-mapping", "version": 99, "shape": [8, 4, 3], "kind": "pool", "weight_bits": 40,
                "quantization": "per_pixel", "name": 7, "sparsity": "many"}
    for key, value in bad_meta.items():
        variant(f"meta {key}", {"quantized": quantized, "scale": z["scale"]}, {**meta, key: value})
    for key in ("format", "shape", "kind", "hardware", "weight_bits"):
        variant(f"meta without {key}", {"quantized": quantized, "scale": z["scale"]},
                {k: v for k, v in meta.items() if k != key})
    hardware = {"ou_rows": 0, "xbar_rows": 10**9, "polarity": "both", "adc_bits": [1, 2], "slice_widths": [9],
                "cell_bits": -2, "unknown_field": 1, "dac_bits": 12}
    for key, value in hardware.items():
        variant(f"hardware {key}", {"quantized": quantized, "scale": z["scale"]},
                {**meta, "hardware": {**meta["hardware"], key: value}})
    variant("meta not json", {"quantized": quantized, "scale": z["scale"]}, meta)
    np.savez(paths["meta not json"], meta=np.array("{not json"), quantized=quantized, scale=z["scale"])
    arrays = {"no quantized": {"scale": z["scale"]}, "no scale": {"quantized": quantized},
              "float quantized": {"quantized": quantized.astype(np.float64) + 0.5, "scale": z["scale"]},
              "wrong shape": {"quantized": quantized.reshape(8, 36), "scale": z["scale"]},
              "NaN scale": {"quantized": quantized, "scale": np.array([np.nan])},
              "zero scale": {"quantized": quantized, "scale": np.array([0.0])},
              "out of range": {"quantized": quantized.astype(np.int64) * 1000, "scale": z["scale"]},
              "scale per 3": {"quantized": quantized, "scale": np.ones(3)}}
    for name, content in arrays.items():
        variant(name, content, meta)
    obj = d / "object.npz"
    np.savez(obj, meta=np.array(json.dumps(meta)), quantized=np.array([_Payload(d / "marker")], dtype=object),
             scale=z["scale"])
    paths["object array"] = obj
    return paths


def _index_variants(d: Path) -> dict[str, Path]:
    good = json.loads((SYNTHETIC / "index.json").read_text())
    first = good["layers"][0]
    texts = {"not json": "{", "a list": "[]", "no layers": json.dumps({**good, "layers": None}),
             "layers not objects": json.dumps({**good, "layers": ["a.npz"]}),
             "missing file": json.dumps({**good, "layers": [{**first, "file": "nothere.npz"}]}),
             "escaping file": json.dumps({**good, "layers": [{**first, "file": "../../../etc/hosts"}]}),
             "file not a string": json.dumps({**good, "layers": [{**first, "file": 3}]}),
             "wrong format": json.dumps({**good, "format": "other"}),
             "future version": json.dumps({**good, "version": 99}), "empty": ""}
    paths = {}
    for name, text in texts.items():
        folder = d / f"index_{name.replace(' ', '_')}"
        folder.mkdir()
        (folder / INSTANCE.name).write_bytes(INSTANCE.read_bytes())
        (folder / "index.json").write_text(text)
        paths[name] = folder / "index.json"
    return paths


def _model_variants(d: Path) -> dict[str, Path]:
    files = {"empty.th": b"", "junk.th": bytes(range(256)) * 4, "junk.pt": b"PK\x03\x04junk",
             "junk.tflite": b"TFL3" + bytes(100), "junk.h5": b"\x89HDF\r\n\x1a\n" + bytes(64), "model.onnx": b"\x08\x07",
             "model.txt": b"weights", "pickle.th": pickle.dumps({"conv.weight": _Payload(d / "marker")})}
    paths = {}
    for name, data in files.items():
        paths[name] = d / name
        paths[name].write_bytes(data)
    return paths


def _classic_variants(d: Path) -> list[list[str]]:
    cases = {
        "2bp": ["", "x", "1\n2 1 1\n10 10\n1 1\n", "1\n1 1 1\n10 10\n11 1\n", "1\n1 1 1\n-10 10\n1 1\n",
                "1\n1 1 1\n10 10\n1 1.5\n", f"1\n1 1 1\n{2**70} 10\n1 1\n", "1\n100000 1 1\n10 10\n1 1\n",
                "1\n1 1 1\n10 10\n0 1\n"],
        "vbp": ["", "2\n10\n", "1\n10\n1\n5 10000000\n", "1\n10\n1\n5 1000000000000\n", "1\n10\n1\n11 1\n",
                "1\n-10\n1\n1 1\n", "1\n10\n2\n1 1\n", "1\n10\n1\nx 1\n", f"1\n{10**20}\n1\n1 1\n"],
        "pmed": ["", "3 1", "3 1 1\n1 2 5\n", "200000 1 2\n1 2 1\n", "3 2 5\n1 2 1\n2 3 1\n", "3 2 1\n1 2 -1\n2 3 1\n",
                 "3 2 1\n1 9 1\n2 3 1\n", "4 1 1\n1 2 1\n", "3 2 1\n1 2 nan\n2 3 1\n"],
    }
    out = []
    for kind, texts in cases.items():
        for i, text in enumerate(texts):
            path = d / f"{kind}_{i}.{'txt' if kind == 'pmed' else kind}"
            path.write_text(text)
            for method in ("heuristic", "auto") if kind != "pmed" else ("fasterpam", "auto"):
                out.append(["classic", kind, str(path), "--method", method, "--time-limit", "2"])
    return out


def _argument_cases(d: Path) -> list[list[str]]:
    inst, net = str(INSTANCE), str(SYNTHETIC)
    (d / "hw.json").write_text('{"ou_rows": "nine"}')
    (d / "hw.yaml").write_text("ou_rows: 9")
    (d / "afile").write_text("x")
    bench = d / "r.jsonl"
    bench.write_text('{"key": "a", "objective": 1}\n{not json}\n')
    solve = ["solve", inst, "--problem"]
    return [
        [*solve, "reuse-clustering", "--param", "theta=abc"], [*solve, "reuse-clustering", "--param", "theta=-1"],
        [*solve, "pattern-placement", "--param", "n_patterns=abc"], [*solve, "pattern-placement", "--param", "n_patterns=0"],
        [*solve, "reuse-clustering", "--param", "budget=abc"], [*solve, "baseline", "--seed", "-1"],
        [*solve, "baseline", "--seed", "abc"], [*solve, "baseline", "--time-limit", "-1"],
        [*solve, "baseline", "--time-limit", "nan"], [*solve, "baseline", "--method", "nosuch"],
        [*solve, "nosuch"], [*solve, "baseline", "--param", "noequals"], [*solve, "baseline", "--workers", "0"],
        [*solve, "baseline", "--out", str(d / "afile" / "x.npz")], [*solve, "baseline", "--out", str(d)],
        ["solve", str(d / "missing.npz"), "--problem", "baseline"],
        ["map", net, "--pipeline", "warp"], ["map", net, "--pipeline", "group,pattern"],
        ["map", net, "--method", "group"], ["map", net, "--method", "group=nosuch"],
        ["map", net, "--param", "theta=0.5"], ["map", net, "--param", "reuse.theta=0.5", "--pipeline", "orc"],
        ["map", net, "--preset", "nosuch"], ["map", net, "--baseline", "nosuch"], ["map", net, "--hw", "ou_rows"],
        ["map", net, "--hw", "ou_rows=0"], ["map", net, "--hw", "weight_bits=4"],
        ["map", net, "--hardware", str(d / "hw.json")], ["map", net, "--hardware", str(d / "hw.yaml")],
        ["map", net, "--hardware", str(d / "nothere.json")], ["map", net, "--sparsity", "1.5"],
        ["map", net, "--sparsity", "abc"], ["map", net, "--jobs", "abc"], ["map", net, "--save", str(d / "afile")],
        ["map", net, "--out", str(d / "afile" / "r.json")], ["map", str(d / "missing"), "--pipeline", "orc"],
        ["import", str(d / "missing.th"), "--out", str(d / "o")], ["import", inst, "--out", str(d / "afile")],
        ["import", str(d / "afile"), "--out", str(d / "o2"), "--sparsity", "-0.5"],
        ["validate", inst, str(d / "missing.npz")], ["validate", inst, inst],
        ["bench", net, "--problem", "baseline", "--methods", "nosuch", "--out", str(d / "b.jsonl")],
        ["bench", net, "--problem", "nosuch", "--methods", "orc", "--out", str(d / "b.jsonl")],
        ["report", str(bench)], ["report", str(d / "missing.jsonl")],
        ["report", str(bench), "--format", "xlsx"], ["inspect", str(d / "missing.npz")],
        ["classic", "3bp", str(d / "afile")], ["evaluate", str(d / "afile"), str(d / "afile")],
        ["nosuchcommand"], [],
    ]


def corpus(d: Path) -> list[tuple[str, list[str]]]:
    """Every case as (label, argv), built in `d`."""
    rng = np.random.default_rng(SEED)
    (d / "inst").mkdir()
    cases = []
    for name, path in _instance_variants(d / "inst", rng).items():
        cases += [(f"instance {name}: inspect", ["inspect", str(path)]),
                  (f"instance {name}: solve", ["solve", str(path), "--problem", "baseline", "--method", "orc"])]
    for name, path in _index_variants(d).items():
        cases += [(f"index {name}: inspect", ["inspect", str(path)]),
                  (f"index {name}: map", ["map", str(path.parent), "--pipeline", "orc"])]
    for name, path in _model_variants(d).items():
        cases.append((f"model {name}: import", ["import", str(path), "--out", str(d / f"out_{name}")]))
    cases += [(f"classic: {' '.join(a[1:3])} {a[4]}", a) for a in _classic_variants(d)]
    cases += [(f"arguments: {' '.join(a)[:80]}", a) for a in _argument_cases(d)]
    return cases


def _alarm(signum, frame):
    raise TimeoutError(f"a case ran past {CASE_SECONDS} s")


def test_the_fuzz_corpus_ends_in_one_line_errors(tmp_path, capsys):
    cases = corpus(tmp_path)
    assert len(cases) >= 150
    failures = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for label, argv in cases:
            signal.alarm(CASE_SECONDS)
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse's own errors
                status = exc.code
            except BaseException as exc:  # a traceback a user would see
                status = f"{type(exc).__name__}: {exc}"
            finally:
                signal.alarm(0)
            err = capsys.readouterr().err.strip().splitlines()
            if status != 2 or len(err) != 1 or "error" not in err[0]:
                failures.append(f"{label}: exit {status}, stderr {err[-3:]}")
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not (tmp_path / "inst" / "marker").exists() and not (tmp_path / "marker").exists()
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
