"""The ``mapopt`` command line: import, inspect, solve, validate, bench, report.

Every command that fails on bad input prints one line to stderr and exits with status 2;
``validate`` exits with 1 when the mapping breaks a rule.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .errors import MapoptError

EXIT_INVALID, EXIT_ERROR = 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    from .bench import BenchError
    from .models import MissingDependency, ModelFileError

    try:
        _check_outputs(args)
        return args.run(args)
    except (MapoptError, BenchError, ModelFileError, MissingDependency) as exc:
        print(f"mapopt {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"mapopt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (``| head``): end quietly, as other Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (what was wrong, and where help is), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mapopt", description="Map quantized DNN layers onto ReRAM crossbars.")
    parser.add_argument("--version", action="version", version=f"mapopt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("import", help="model file -> one instance file per layer plus a network index")
    p.add_argument("model", help="torch state dict or checkpoint (.th/.pt/.pth), .tflite or Keras .h5")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--sparsity", type=float, default=0.0, help="fraction of weights magnitude-pruned (default 0)")
    p.add_argument("--scope", choices=("layer", "global"), default="layer", help="pruning threshold scope")
    p.add_argument("--keep-ends", action="store_true", help="leave the first and the last layer unpruned")
    p.add_argument("--preset", help="hardware preset: pattern, orc, reuse, bitslice (default orc)")
    _hardware_options(p)
    p.add_argument("--weight-bits", type=int, default=8)
    p.add_argument("--per-channel", action="store_true", help="one quantization scale per output channel")
    p.set_defaults(run=_import)

    p = sub.add_parser("inspect", help="describe an instance, solution, network index or weights file (each layer's "
                                       "kind and groups)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_inspect)

    p = sub.add_parser("solve", help="solve one instance file")
    p.add_argument("file")
    p.add_argument("--problem", required=True, help="problem name (e.g. baseline)")
    p.add_argument("--method", default="auto", help="method name, or 'list' to list them")
    _solver_options(p)
    p.add_argument("--out", help="write the solution mapping here (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_solve)

    p = sub.add_parser("validate", help="validate and cost a saved solution against its instance: the instance's "
                                        "weights and hardware, whatever the solution declares")
    p.add_argument("file")
    p.add_argument("solution")
    p.add_argument("--exact", action="store_true", help="refuse any declared approximation of the layer")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_validate)

    p = sub.add_parser("bench", help="run methods over instance files (resumable)")
    p.add_argument("dir", help="instance directory, index or file")
    p.add_argument("--problem", required=True)
    p.add_argument("--methods", required=True, help="comma-separated method names")
    _solver_options(p)
    p.add_argument("--jobs", type=int, default=1, help="parallel workers (-1: all cores)")
    p.add_argument("--backend", default="loky", help="joblib backend: loky, threading, dask, ray")
    p.add_argument("--out", required=True, help="results file (JSON Lines, appended and resumed)")
    p.set_defaults(run=_bench)

    p = sub.add_parser("map", help="map a whole network (model file or instance directory) through a pipeline")
    p.add_argument("source", help="model file (.th/.pt/.tflite/.h5) or instance directory / index")
    p.add_argument("--pipeline", default="full",
                   help="preset (orc, bitslice, full, pattern, reuse, prap) or stage list (default full)")
    p.add_argument("--sparsity", type=float, default=0.0,
                   help="fraction of each layer's weights pruned when mapping a model file (default 0: none; the "
                        "seeds' headlines use 0.8)")
    p.add_argument("--keep-ends", action="store_true", help="leave the first and the last layer unpruned")
    p.add_argument("--method", action="append", default=[], metavar="STAGE=METHOD",
                   help="method of a stage, e.g. group=multistart (defaults: mapopt.pipeline.DEFAULT_METHODS)")
    p.add_argument("--param", action="append", default=[], metavar="STAGE.KEY=VALUE",
                   help="parameter of a stage's method, e.g. reuse.theta=0.5 (repeatable)")
    p.add_argument("--preset", help="hardware preset for every stage (default: the last stage's: orc, bitslice, "
                                    "pattern or reuse)")
    _hardware_options(p)
    p.add_argument("--baseline", metavar="PRESET",
                   help="measure gains against the dense mapping on this hardware preset, so that pipelines on "
                        "different presets compare (default: each pipeline's own hardware)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per stage and layer (default: none)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of every stage's method (default 0; without a time limit, the same seed gives the "
                        "same mapping)")
    p.add_argument("--jobs", type=int, default=1, help="layers mapped in parallel (-1: all cores; default 1)")
    p.add_argument("--backend", default="loky", help="joblib backend: loky, dask, ray (default loky)")
    p.add_argument("--out", metavar="FILE", help="write the report JSON here")
    p.add_argument("--save", metavar="DIR", help="write every layer's mapping (.npz) into this directory")
    p.add_argument("--resume", metavar="FILE",
                   help="layer reports as JSON Lines, appended as layers finish; run again with the same file to "
                        "map only the layers it lacks")
    p.add_argument("--calibrate", metavar="DATA",
                   help="re-fit each layer under its mapping decision on these images (JPEG or .npz layout, "
                        "see mapopt.images), towards the dense network's outputs; needs --eval")
    p.add_argument("--calib-size", type=int, default=1024,
                   help="calibration images: a seeded, class-stratified subset (default 1024)")
    p.add_argument("--prune", choices=("magnitude", "obs", "obs-rows"), default="magnitude",
                   help="what --sparsity removes (default magnitude): smallest magnitudes (at import); least output "
                        "error on the calibration images (obs: Optimal Brain Surgeon in blocks, as SparseGPT); or "
                        "magnitude for the grouping and its row counts, output error for which rows each group keeps (obs-rows); "
                        "the last two need --calibrate")
    p.add_argument("--eval", metavar="DATA",
                   help="measure top-1 (fidelity to the dense network without labels) on these images: dense, "
                        "with the decided weights and re-fitted; layers are then mapped one after another")
    p.add_argument("--eval-size", type=int, default=None,
                   help="evaluation images: a seeded, class-stratified subset (default all)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(run=_map)

    p = sub.add_parser("evaluate", help="top-1 of a network on labelled images")
    p.add_argument("model", help="akamaster CIFAR ResNet checkpoint (.th)")
    p.add_argument("data", help="images with labels (JPEG or .npz layout, see mapopt.images)")
    p.add_argument("--eval-size", type=int, default=None, help="a seeded, class-stratified subset (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("classic", help="solve a classical benchmark instance with mapopt's engines")
    p.add_argument("kind", help="vbp (vector bin packing, .vbp), 2bp (2D bin packing), pmed (OR-Library p-median)")
    p.add_argument("file")
    p.add_argument("--method", default="auto")
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_classic)

    p = sub.add_parser("draw", help="picture of a mapping: its crossbars, cells coloured by output, the OU grid")
    p.add_argument("file", help="the instance the solution maps")
    p.add_argument("solution")
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.add_argument("--color", choices=("output", "slice"), default="output", help="what colours a cell (default output)")
    p.add_argument("--crossbars", type=int, default=24, help="the most crossbars drawn (default 24)")
    p.set_defaults(run=_draw)

    p = sub.add_parser("report", help="summary table of a results file")
    p.add_argument("results")
    p.add_argument("--by", default="method", help="comma-separated fields to group by (default method)")
    p.add_argument("--columns", default="objective,bound,crossbars,energy_pj,wall_time",
                   help="comma-separated numeric fields, summed per group (default objective,bound,crossbars,"
                        "energy_pj,wall_time)")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md", help="table format (default md)")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the records: per-layer gains (map --resume files) "
                                                     "or objective beside bound per group (bench files)")
    p.set_defaults(run=_report)
    return parser


def _hardware_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hardware", metavar="FILE", help="hardware settings from a .json or .toml file: field names of "
                                                       "mapopt.hardware.HardwareSpec, and optionally the preset they "
                                                       "start from (key preset)")
    p.add_argument("--hw", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hardware setting, e.g. ou_rows=16 or adc_bits=[1,3,3,3] (repeatable; after "
                        "--hardware)")


def _hardware(args, default: str | None) -> tuple[str | None, dict]:
    """The preset and the settings overriding it that --preset, --hardware FILE and --hw KEY=VALUE give together."""
    from .hardware import read_hardware

    name, overrides = (None, {}) if args.hardware is None else read_hardware(args.hardware)
    if name is not None and args.preset is not None and name != args.preset:
        raise MapoptError(f"--preset {args.preset} and the preset {name} of {args.hardware} disagree")
    return args.preset or name or default, {**overrides, **_params(args.hw, "--hw")}


def _solver_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=float, default=None, help="seconds per solve")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="parallel workers inside one solve")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="method parameter, e.g. recovery=free or budget=0.01 (repeatable); 'list' lists a "
                        "problem's parameters with their defaults and accepted values")


def _params(items: list[str], option: str = "--param") -> dict:
    """``KEY=VALUE`` pairs; values parse as JSON numbers or literals where they can, else stay strings."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MapoptError(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _import(args) -> int:
    from .importer import import_model

    preset, overrides = _hardware(args, "orc")
    index = import_model(args.model, args.out, args.sparsity, preset, args.scope, args.weight_bits,
                         args.per_channel, keep_ends=args.keep_ends, overrides=overrides)
    layers = json.loads(index.read_text())["layers"]
    print(f"wrote {len(layers)} layer instances and {index}")
    return 0


def _inspect(args) -> int:
    path = Path(args.file)
    info = _describe(path)
    if args.json:
        print(json.dumps(info, default=_jsonable))
    else:
        for key, value in info.items():
            if isinstance(value, list) and len(value) > 1:  # one item per line: an index lists every layer
                print(f"{key}: {len(value)}")
                for item in value:
                    print(f"  {json.dumps(item, default=_jsonable) if isinstance(item, (dict, list)) else item}")
            else:
                print(f"{key}: {json.dumps(value, default=_jsonable) if isinstance(value, (dict, list)) else value}")
    return 0


def _describe(path: Path) -> dict:
    """What a file holds: an instance, a mapping, a network index, or a weights file's layers."""
    from .instance import instance_files, read_instance
    from .mapping import load_mapping
    from .models.weights import WEIGHT_SUFFIXES, is_named
    from .npzio import read_npz

    if path.is_dir() or path.suffix == ".json":
        layers = [read_instance(f).layer for f in instance_files(path)]
        return {"kind": "network", "layers": [{**_layer_summary(l.name, l.kind, l.groups, l.quantized), "file": str(f)}
                                              for l, f in zip(layers, instance_files(path))]}
    if path.suffix.lower() in WEIGHT_SUFFIXES or is_named(path):
        from .models import read_weights

        return {"kind": "model", "layers": [_layer_summary(w.name, w.kind, w.groups, w.weight)
                                            for w in read_weights(path)]}
    fmt = _npz_format(path, read_npz)
    if fmt == "mapopt-mapping":
        m = load_mapping(path)
        return {"kind": "mapping", "inputs": m.n_inputs, "outputs": m.n_outputs, "placements": len(m.placements),
                "crossbars": len({p.crossbar for p in m.placements}), "schedule": m.schedule,
                "hardware": m.spec.to_dict(), "info": m.meta}
    inst = read_instance(path)
    layer = inst.layer
    return {"kind": "instance", "name": layer.name, "layer_kind": layer.kind, "groups": layer.groups,
            "shape": list(layer.shape), "matrix": [layer.n_inputs, layer.n_outputs], "weight_bits": layer.weight_bits,
            "sparsity": round(layer.sparsity, 6), "float_weights": layer.weight is not None,
            "hardware": inst.spec.to_dict(), "params": inst.params, "provenance": inst.provenance}


def _layer_summary(name: str, kind: str, groups: int, weight) -> dict:
    """A layer in one line: name, kind, groups, weight shape, layer matrix (inputs x outputs) and sparsity."""
    import numpy as np

    return {"name": name, "kind": kind, "groups": groups, "shape": list(weight.shape),
            "matrix": [groups * int(np.prod(weight.shape[1:])), int(weight.shape[0])],
            "sparsity": round(1 - np.count_nonzero(weight) / weight.size, 6)}


def _npz_format(path: Path, read_npz) -> str:
    """The format name in an npz file's meta entry (read errors surface from the proper reader)."""
    from .errors import InstanceError

    try:
        read_npz(path, "mapopt-mapping")
        return "mapopt-mapping"
    except InstanceError:
        return "mapopt-instance"


def _solve(args) -> int:
    from .instance import read_instance
    from .mapping import save_mapping
    from .problems import get_problem, methods
    from .provenance import settings
    from .solve import solve

    if args.method == "list":
        for name, m in methods(args.problem).items():
            print(f"{name:16s} {'exact ' if m.exact else ''}{m.summary}")
        return 0
    if args.param == ["list"]:
        for line in get_problem(args.problem).params.describe() or ["(none)"]:
            print(line)
        return 0
    inst = read_instance(args.file)
    result = solve(inst, args.problem, args.method, args.time_limit, args.seed, args.workers, **_params(args.param))
    if args.out and result.mapping is not None:
        save_mapping(args.out, result.mapping.replace(meta={**result.mapping.meta, "instance": str(args.file)}))
    summary = {"instance": str(args.file), "layer": inst.name, "problem": args.problem, **result.summary(),
               "settings": settings(args.file, hardware=inst.spec.to_dict())}
    if args.json:
        print(json.dumps(summary, default=_jsonable))
    else:
        cost = summary["cost"] or {}
        print(f"{inst.name}: {args.problem}/{result.method} {summary['status']} objective {summary['objective']} "
              f"bound {summary['bound']} crossbars {cost.get('crossbars')} valid {summary['valid']} "
              f"exact {summary['exact']} ({summary['wall_time']:.3f} s)")
        for v in summary["violations"]:
            print(f"  violation {v}")
    return 0


def _validate(args) -> int:
    from .instance import read_instance
    from .mapping import load_mapping
    from .solve import check_solution

    mapping = load_mapping(args.solution)
    report = check_solution(mapping, read_instance(args.file), exact=args.exact)
    if args.json:
        print(json.dumps({**report.to_dict(), "approximates": mapping.reference is not None}, default=_jsonable))
    else:
        cost = report.cost.to_dict() if report.cost else {}
        print(f"valid {report.valid} exact {report.exact} ou_activations {cost.get('ou_activations')} "
              f"crossbars {cost.get('crossbars')}")
        if mapping.reference is not None:
            error = report.error
            print(f"  approximates the layer: L1 error {error.get('l1')}, relative {error.get('relative', 0.0):.4g} "
                  "(validated against its declared reference)")
        for v in report.violations:
            print(f"  violation {v}")
    return 0 if report.valid else EXIT_INVALID


def _bench(args) -> int:
    from .bench import run_bench
    from .bench.runner import cluster
    from .bench.tasks import solve_task, solve_tasks
    from .solve import check_params

    names = [m for m in args.methods.split(",") if m]
    for name in names:  # unknown methods and bad parameters fail before any task runs
        check_params(args.problem, name, _params(args.param))
    tasks = solve_tasks(args.dir, args.problem, names, args.time_limit, args.seed, _params(args.param))
    with cluster(args.backend):
        records = run_bench(tasks, solve_task, args.out, jobs=args.jobs, backend=args.backend)
    failed = sum(r.get("status") == "error" for r in records)
    print(f"{len(records)} results in {args.out}" + (f", {failed} errors (rerun to retry)" if failed else ""))
    return EXIT_ERROR if failed else 0


def _map(args) -> int:
    import tempfile

    from .bench.runner import cluster
    from .pipeline import map_network, parse

    methods = {}
    for item in args.method:
        stage, sep, name = item.partition("=")
        if not sep:
            raise MapoptError(f"--method expects STAGE=METHOD, got {item!r}")
        methods[stage] = name
    params: dict = {}
    for key, value in _params(args.param).items():
        stage, dot, name = key.partition(".")
        if not dot or not name:
            raise MapoptError(f"--param expects STAGE.KEY=VALUE, got {key!r}")
        params.setdefault(stage, {})[name] = value
    pipe = parse(args.pipeline, methods, args.time_limit, args.seed, params, *_hardware(args, None), args.baseline)
    if args.eval is not None or args.calibrate is not None or args.prune != "magnitude":
        report = _map_with_accuracy(args, pipe)
    else:
        with tempfile.TemporaryDirectory() as tmp, cluster(args.backend):
            report = map_network(args.source, pipe, args.sparsity, args.jobs, args.backend, tmp, args.save,
                                 progress=True, resume=args.resume, keep_ends=args.keep_ends)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, default=_jsonable, indent=1))
    if args.json:
        print(json.dumps(report, default=_jsonable))
    else:
        print(f"{'layer':24s} {'valid':>5s} {'exact':>5s} {'OU':>9s} {'dense OU':>9s} {'xbars':>5s} {'dense':>5s}")
        for layer in report["layers"]:
            print(f"{layer['name']:24s} {str(layer['valid']):>5s} {str(layer['exact']):>5s} {layer['ou_activations']:>9} "
                  f"{layer['dense']['ou_activations']:>9} {layer['crossbars']:>5} {layer['dense']['crossbars']:>5}")
        t, g = report["totals"], report["gain"]
        print(f"total: OU {t['ou_activations']} ({g['ou_activations']:.2f}x fewer than dense), crossbars "
              f"{t['crossbars']} ({g['crossbars']:.2f}x), energy {t['energy_pj']:.0f} pJ ({g['energy']:.2f}x), "
              f"all valid {report['valid']}, all exact {report['exact']}, {report['wall_time']} s")
        print(f"gains against {report['baseline']}")
        if "accuracy" in report:
            a = report["accuracy"]
            print(f"{a['metric']} on {a['images']['images']} images: dense {a['float']:.4f}, decided {a['decided']:.4f}"
                  + (f", re-fitted {a['refit']:.4f}" if a["refit"] is not None else "")
                  + f" ({a['seconds']['mapping_and_refit']:.1f} s mapping and re-fit, {a['seconds']['evaluation']:.1f} s "
                    "evaluating)")
    return 0 if report["valid"] else EXIT_INVALID


def _map_with_accuracy(args, pipe) -> dict:
    """`mapopt map` with --eval (and --calibrate): layers mapped in order, re-fitted, accuracy measured."""
    import tempfile

    from .accuracy import Evaluation, for_network, load_network, map_model
    from .models.weights import source_file
    from .images import read_images
    from .provenance import settings

    if args.eval is None:
        raise MapoptError("--calibrate re-fits for accuracy: give --eval DATA to measure it on other images")
    if args.prune != "magnitude" and args.calibrate is None:
        raise MapoptError(f"--prune {args.prune} chooses weights by output error on calibration images: "
                          "give --calibrate DATA")
    if args.calibrate is not None and Path(args.calibrate).resolve() == Path(args.eval).resolve():
        raise MapoptError("--eval and --calibrate name the same file: evaluation images must take no part in "
                          "calibration (use the test split to evaluate, the train split to calibrate)")
    model = load_network(args.source)
    evaluation = Evaluation(for_network(model, read_images(args.eval, args.eval_size, args.seed)),
                            None if args.calibrate is None else read_images(args.calibrate, args.calib_size, args.seed),
                            args.seed, *_normalisation(model))
    with tempfile.TemporaryDirectory() as tmp:
        report = map_model(model, pipe, evaluation, tmp, args.sparsity, args.prune, args.keep_ends,
                           Path(args.source).stem, progress=True, save=None if args.save is None else Path(args.save),
                           resume=None if args.resume is None else Path(args.resume))
    return {**report, "settings": settings(source_file(args.source) or args.source, seed=pipe.seed,
                                           time_limit=pipe.time_limit)}


def _normalisation(model) -> tuple:
    """The per-channel mean and std a network was trained with (the CIFAR ResNets' unless it says)."""
    from .models.cifar import MEAN, STD

    return getattr(model, "mean", MEAN), getattr(model, "std", STD)


def _evaluate(args) -> int:
    from .accuracy import Evaluation, for_network, load_network, score
    from .images import read_images
    from .models.calibration import predictions

    model = load_network(args.model)
    images = for_network(model, read_images(args.data, args.eval_size, args.seed))
    if images.y is None:
        raise MapoptError(f"{args.data}: no labels ('y') for this network, so no top-1; mapopt map --eval "
                          "measures fidelity to the dense network instead")
    evaluation = Evaluation(images, None, 0, *_normalisation(model))
    predicted = predictions(model, evaluation.inputs(images, model))
    top1 = score(predicted, images.y, predicted)
    out = {"metric": "top1", "top1": top1, "images": images.describe()}
    print(json.dumps(out) if args.json else f"top-1 {top1:.4f} on {len(images)} images of {args.data}")
    return 0


def _classic(args) -> int:
    from .classic import solve_classic

    out = solve_classic(args.kind, args.file, args.method, args.time_limit, args.seed)
    print(json.dumps(out) if args.json else "  ".join(f"{k} {v}" for k, v in out.items()))
    return 0


def _check_outputs(args) -> None:
    """Every path the command will write, checked before any work starts, so a long run is never lost at its end
    to an output it cannot write."""
    for option, kind in (("out", "directory" if args.command == "import" else "file"), ("save", "directory"),
                         ("resume", "file"), ("plot", "file")):
        if getattr(args, option, None) is not None:
            _writable(Path(getattr(args, option)), kind, f"--{option}")


def _writable(path: Path, kind: str, option: str) -> None:
    """One-line error unless a `kind` (``file`` or ``directory``) can be written at `path`."""
    if kind == "file" and path.is_dir():
        raise MapoptError(f"{option} {path}: is a directory; give a file name")
    if kind == "directory" and path.exists() and not path.is_dir():
        raise MapoptError(f"{option} {path}: is a file; give a directory")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if existing != path and not existing.is_dir():
        raise MapoptError(f"{option} {path}: cannot be created, {existing} is a file")
    folder = existing if existing.is_dir() else existing.parent
    if not os.access(folder, os.W_OK):
        raise MapoptError(f"{option} {path}: {folder} is not writable")


def _draw(args) -> int:
    from .instance import read_instance
    from .mapping import load_mapping
    from .plots import draw_mapping
    from .solve import check_solution

    inst, mapping = read_instance(args.file), load_mapping(args.solution)
    report = check_solution(mapping, inst)
    cost = report.cost.to_dict() if report.cost else {}
    title = (f"{inst.name}: {cost.get('crossbars')} crossbars, {cost.get('ou_activations')} OU activations, "
             f"valid {report.valid}; colour: {args.color}")
    print(f"wrote {draw_mapping(mapping, args.out, args.color, args.crossbars, title)}")
    return 0


def _report(args) -> int:
    from .bench import read_results, summary_table

    records = read_results(args.results)
    print(summary_table(records, group_by=args.by.split(","), columns=args.columns.split(","), stats=("sum",),
                        fmt=args.format))
    if args.plot:
        from .plots import plot_results

        print(f"wrote {plot_results(records, args.plot, args.by.split(',')[0])}", file=sys.stderr)
    return 0


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
