"""Accuracy in the loop: a torch network mapped layer by layer, each layer's weights re-fitted under its
mapping decision, and the network's top-1 reported beside the hardware.

`map_model` imports the network's conv and linear layers (magnitude-pruned at `sparsity`), then, in
network order, maps each layer through the pipeline and, with calibration images, re-fits the
weights its decision leaves free (`mapopt.refit`) on the inputs the already-mapped network gives
that layer, towards the dense network's output (for a layer whose output joins a skip connection, the dense
sum: `mapopt.models.calibration.Cursor`); the re-fitted layer is mapped again under the same
decision (stage method ``given``) and validated bit-exactly. Batch-norm statistics are then
re-estimated on the calibration images (they live in the digital periphery, not in the crossbars).
Accuracy is measured on evaluation images that took no part in calibration: top-1 with labels,
otherwise fidelity (agreement of the top class with the dense network's), for the dense network
(``float``), with each layer's decided weights (``decided``: pruned or approximated, nothing re-fitted)
and after the re-fit (``refit``).

A stage whose decision has ``free`` and ``refitted`` (filter ordering's `Grouping`: every cell of a row its
group keeps; pattern placement: every cell its blocks hold) or ``ties`` and ``with_stored`` (reuse
clustering: each leader's stored vector, read by its followers times their scales) is re-fitted under;
a layer whose pipeline has none keeps its decided weights, and its report says why.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .bench.runner import json_default, resume_records
from .errors import MapoptError
from .images import ImageSet
from .importer import import_weights
from .instance import Instance, instance_files, read_instance
from .layer import Layer, matrix_to_weight
from .models import calibration as calib
from .models.bitsparse import projection_table
from .models.cifar import MEAN, STD, require_torch, with_weights
from .models.torch_import import state_dict_weights
from .npzio import read_npz, write_npz
from .pipeline import STAGES, Pipeline, hardware_note, map_layer, network_report, on_hardware
from .refit import GroupedStats, integers, per_group, prune_obs, refit, refit_tied, saliency, to_allowed, to_grid

METRICS = ("top1", "fidelity")
PRUNINGS = ("magnitude", "obs", "obs-rows")
#: file family tag of a checkpoint's layer weights (`Checkpoint`)
WEIGHTS_FORMAT = "mapopt-refit-weights"


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Where accuracy is measured: evaluation images, calibration images for the re-fit (None: no re-fit),
    the seed of the sampled calibration rows, and the normalisation of uint8 pixels (per-channel mean and std
    of ``[0, 1]`` pixels; float images are taken as the network's inputs)."""

    images: ImageSet
    calibration: ImageSet | None = None
    seed: int = 0
    mean: tuple = MEAN
    std: tuple = STD

    def inputs(self, images: ImageSet, model=None):
        """`images` as the network's float input tensor (checked against `model`'s first layer when given)."""
        torch = require_torch()
        x = images.x
        first = next(iter(calib.layers_of(model).values()), None) if model is not None else None
        if isinstance(first, torch.nn.Conv2d) and x.shape[1] != first.in_channels:
            raise MapoptError(f"{images.source}: images have {x.shape[1]} channels; the network's first layer "
                              f"takes {first.in_channels}")
        if x.dtype == np.uint8:
            mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
            if x.shape[1] != len(mean) or len(std) != len(mean):
                raise MapoptError(f"{images.source}: images have {x.shape[1]} channels; the normalisation has "
                                  f"{len(mean)} means and {len(std)} deviations")
            x = (x.astype(np.float32) / 255.0 - mean[:, None, None]) / std[:, None, None]
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def score(predicted: np.ndarray, labels: np.ndarray | None, dense: np.ndarray) -> float:
    """Top-1 against `labels`, or without labels the share of images whose top class is the dense network's."""
    return float(np.mean(predicted == (labels if labels is not None else dense)))


def load_network(path: str | Path):
    """A network mapopt can run from the command line: an akamaster CIFAR ResNet checkpoint (``.th``), or
    ``efficientnet-lite0`` (its registry package's ImageNet weights)."""
    from .models.cifar import load_resnet
    from .models.weights import EFFICIENTNET, ModelFileError, is_named

    if is_named(path) and str(path) == EFFICIENTNET:
        from .models.efficientnet import load_efficientnet_lite0

        return load_efficientnet_lite0()
    try:
        return load_resnet(path)
    except ModelFileError as exc:
        raise MapoptError(f"{exc}; accuracy from the command line needs an akamaster CIFAR ResNet checkpoint or "
                          "efficientnet-lite0 (other torch networks: mapopt.accuracy.map_model from Python)") from None


def for_network(model, images: ImageSet) -> ImageSet:
    """`images` as `model` is scored on them: an ImageNet network (``classes_from = "ImageNet"``) is scored by
    fidelity to the dense network, its labels dropped (no ImageNet images reach this machine; labels of other
    images name other classes)."""
    return replace(images, y=None) if getattr(model, "classes_from", None) == "ImageNet" else images


def map_model(model, pipe: Pipeline, evaluation: Evaluation, workdir: str | Path, sparsity: float = 0.0,
              prune: str = "magnitude", keep_ends: bool = False, network: str = "network", progress: bool = False,
              save: Path | None = None, resume: Path | None = None, per_channel: bool = False,
              batchnorm: bool = True) -> dict:
    """Map every conv and linear layer of torch `model` through `pipe` with accuracy in the loop (see the module
    docstring); the network report of `mapopt.pipeline.map_network` plus ``accuracy`` and each layer's ``refit``.

    `prune` chooses what `sparsity` removes from each layer: ``magnitude`` (at import), ``obs`` (by output
    error on the calibration images, `mapopt.refit.prune_obs`, on the inputs the mapped layers before it give),
    or ``obs-rows`` (magnitude decides the grouping and how many rows each group keeps, output error which rows:
    pruning in the unit that saves hardware, for decisions with ``free_by``);
    `keep_ends` leaves the first and last layers unpruned; `per_channel` quantizes with one scale per output
    channel (networks with depthwise layers need it); `batchnorm` re-estimates batch-norm statistics on the
    calibration images after the re-fit: right when they come from the network's training distribution, harmful
    otherwise (EfficientNet-Lite0 on upscaled CIFAR-10 photographs: `experiments/results/efficientnet_fidelity.md`).
    `model`'s weights are left unchanged (it is put in eval mode); instances are written to `workdir`, the final
    mappings to `save` if given. With `resume` (a JSON Lines file) each finished layer is kept there
    (`Checkpoint`), and a run started again with the same settings continues after the last finished layer,
    with the same result as a run never interrupted."""
    torch = require_torch()
    start = time.perf_counter()
    if prune not in PRUNINGS:
        raise MapoptError(f"prune must be one of {PRUNINGS}, got {prune!r}")
    if prune != "magnitude" and evaluation.calibration is None:
        raise MapoptError(f"pruning by output error ({prune}) needs calibration images")
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
    dense = model.eval()
    modules = calib.layers_of(dense)
    index = import_weights(state_dict_weights(dense), workdir, sparsity if prune != "obs" else 0.0,
                           pipe.hardware, per_channel=per_channel, network=network, keep_ends=keep_ends,
                           overrides=pipe.overrides)
    instances = [read_instance(f) for f in instance_files(index)]
    missing = [g.layer.name for g in instances if g.layer.name not in modules]
    if missing:
        raise MapoptError(f"layer {missing[0]} of the imported weights is no conv or linear module of the network")
    eval_x = evaluation.inputs(evaluation.images, dense)
    evaluating = []  # seconds spent predicting the evaluation images, reported apart from the mapping's

    def predict(network) -> np.ndarray:
        began = time.perf_counter()
        predicted = calib.predictions(network, eval_x)
        evaluating.append(time.perf_counter() - began)
        return predicted

    dense_pred = predict(dense)
    targets, picks, calib_x = {}, {}, None
    if evaluation.calibration is not None:
        calib_x = evaluation.inputs(evaluation.calibration, dense)
        targets, picks = calib.dense_targets(dense, [g.layer.name for g in instances], calib_x, evaluation.seed)
    mapped, decided, layers = copy.deepcopy(dense), {}, []
    cursor = None if calib_x is None else calib.Cursor(mapped, calib_x, dense)
    checkpoint = Checkpoint(resume, {"pipeline": asdict(pipe), "sparsity": sparsity, "prune": prune,
                                     "keep_ends": keep_ends, "per_channel": per_channel, "seed": evaluation.seed,
                                     "network": _digest(dense),
                                     "calibration": None if calib_x is None else evaluation.calibration.describe()})
    for i, given in enumerate(instances):
        inst, name = on_hardware(given, pipe), given.layer.name
        kept = checkpoint.finished(name)
        if kept is not None:  # mapped and re-fitted by an earlier, interrupted run with the same settings
            report, decided[name], final_weights = kept
            with torch.no_grad():
                calib.layers_of(mapped)[name].weight.copy_(torch.as_tensor(final_weights))
            layers.append(report)
            targets.pop(name, None)
            continue
        stats = None if cursor is None else cursor.stats(name, targets.pop(name), picks[name], evaluation.seed)
        if prune == "obs" and not (keep_ends and i in (0, len(instances) - 1)):
            layer = inst.layer
            pruned = to_grid(per_group(prune_obs, stats, sparsity), layer.scale, layer.weight_bits)
            inst = Instance(layer.with_matrix(pruned), inst.spec, inst.params, inst.provenance)
        first = map_layer(inst, pipe, save)
        decided[name] = _weights(inst.layer, first.matrix)
        final, note = (first, {"skipped": "no calibration images"}) if stats is None else \
            _refit_layer(inst, pipe, first, stats, save, by_rows=prune == "obs-rows")
        final_weights = _weights(inst.layer, final.matrix)
        with torch.no_grad():
            calib.layers_of(mapped)[name].weight.copy_(torch.as_tensor(final_weights))
        layers.append({**final.report, **hardware_note(given, inst, pipe), "refit": note})
        checkpoint.add(name, layers[-1], decided[name], final_weights)
        if progress:
            error = note.get("calibration_error")
            print(f"[{i + 1}/{len(instances)}] {name}: OU {final.report['ou_activations']}"
                  + (f", calibration error {error['decided']:.4f} -> {error['refit']:.4f}" if error else ""),
                  file=sys.stderr, flush=True)
    labels = evaluation.images.y
    accuracy = {"metric": METRICS[labels is None], "float": score(dense_pred, labels, dense_pred),
                "decided": score(predict(with_weights(dense, decided)), labels, dense_pred),
                "refit": None, "images": evaluation.images.describe(), "calibration": None,
                "batchnorm_reestimated": False}
    if calib_x is not None:
        if batchnorm:
            calib.reestimate_batchnorm(mapped, calib_x)
        accuracy.update(refit=score(predict(mapped), labels, dense_pred),
                        calibration=evaluation.calibration.describe(), batchnorm_reestimated=batchnorm)
    report = network_report(pipe, layers, time.perf_counter() - start)
    accuracy["seconds"] = {"evaluation": round(sum(evaluating), 3),
                           "mapping_and_refit": round(report["wall_time"] - sum(evaluating), 3)}
    return {**report, "sparsity": sparsity, "prune": prune, "keep_ends": keep_ends, "per_channel": per_channel,
            "accuracy": accuracy}


class Checkpoint:
    """Where an accuracy run keeps each finished layer: its report as a JSON line of `path` (keyed by the layer's
    name, with the run's settings), its decided and final weights in ``<path>.weights/<layer>.npz`` (written
    first, so a line always has its weights). Records of other settings are refused; a line cut short by an
    interruption is dropped (`mapopt.bench.resume_records`)."""

    def __init__(self, path: Path | None, run: dict) -> None:
        self.path = None if path is None else Path(path)
        self.run = json.loads(json.dumps(run, default=json_default))  # as it reads back from the file
        self.done: dict[str, dict] = {}
        if self.path is not None and self.path.exists():
            for record in resume_records(self.path):
                if record.get("run") != self.run:
                    raise MapoptError(f"{self.path}: written by a run with another network or other settings "
                                      "(pipeline, sparsity, pruning, seed, calibration images); give another --resume file")
                self.done[record["key"]] = record

    def finished(self, name: str) -> tuple[dict, np.ndarray, np.ndarray] | None:
        """The report, decided and final weights of layer `name` if an earlier run finished it."""
        record = self.done.get(name)
        if record is None:
            return None
        _, kept = read_npz(self._weights(name), WEIGHTS_FORMAT)
        if set(kept) != {"decided", "final"}:
            raise MapoptError(f"{self._weights(name)}: holds {sorted(kept)}, not the decided and final weights")
        return record["report"], kept["decided"], kept["final"]

    def add(self, name: str, report: dict, decided: np.ndarray, final: np.ndarray) -> None:
        if self.path is None:
            return
        write_npz(self._weights(name), WEIGHTS_FORMAT, {"layer": name}, {"decided": decided, "final": final})
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"key": name, "run": self.run, "report": report}, default=json_default) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _weights(self, name: str) -> Path:
        return Path(str(self.path) + ".weights") / f"{name}.npz"


def _digest(model) -> str:
    """SHA-256 of a network's conv and linear weights, so a checkpoint is never resumed on another network."""
    digest = hashlib.sha256()
    for name, module in calib.layers_of(model).items():
        digest.update(name.encode())
        digest.update(module.weight.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def _weights(layer: Layer, matrix: np.ndarray) -> np.ndarray:
    """Float torch-layout weights an integer layer matrix stands for."""
    scale = np.broadcast_to(layer.scale, (layer.n_outputs,))
    return matrix_to_weight(matrix * scale[None, :], layer.shape, layer.groups).astype(np.float32)


def _allowed(pipe: Pipeline, inst: Instance) -> np.ndarray | None:
    """The magnitudes a later stage lets weights keep (bit-slice packing's ``max_slices`` projection), None for the
    whole integer grid: the re-fit then projects with error compensation (`mapopt.refit.to_allowed`)."""
    stage = next((s for s in pipe.stages if STAGES[s].problem == "bitslice-packing"), None)
    k = int(pipe.params.get(stage, {}).get("max_slices", -1)) if stage else -1
    return None if k < 0 else np.unique(projection_table(inst.spec, k))


def _refit_layer(inst: Instance, pipe: Pipeline, first, stats, save: Path | None, by_rows: bool = False):
    """The layer re-fitted on `stats` under the first decision that leaves weights free (``free``: cells by
    polarity) or ties them (``ties``: shared vectors), mapped again under it; and the note for its report.
    Without such a decision, or when the re-fit does not lower the calibration error after rounding or does
    not map validly, the layer keeps its decided weights."""
    stage = next((s for s, d in first.decisions.items() if hasattr(d, "free") or hasattr(d, "ties")), None)
    if stage is None:
        return first, {"skipped": f"no stage of {','.join(pipe.stages)} leaves weights free to re-fit"}
    decision, layer = first.decisions[stage], inst.layer
    scale = np.broadcast_to(layer.scale, (layer.n_outputs,))
    if isinstance(stats, GroupedStats) and not hasattr(decision, "free"):
        return first, {"skipped": "tied vectors are re-fitted over the whole layer; a grouped conv's statistics "
                                  "are kept per group"}
    if hasattr(decision, "free"):
        free = decision.free_by(per_group(saliency, stats), first.matrix, inst.spec) \
            if by_rows and hasattr(decision, "free_by") else decision.free(first.matrix, inst.spec)
        free = tuple(mask & layer.structure for mask in free)  # never a weight where a grouped conv has none
        fitted, allowed = per_group(refit, stats, *free), _allowed(pipe, inst)
        matrix = to_grid(fitted, layer.scale, layer.weight_bits) if allowed is None else \
            per_group(to_allowed, stats, fitted, *free, per_output=(scale,), allowed=allowed)
        refitted = decision.refitted(matrix, inst.spec)
    else:
        ties = [replace(t, scales=t.scales * scale[t.outputs]) for t in decision.ties()]
        refitted = decision.with_stored([integers(v, layer.weight_bits) for v in refit_tied(stats, ties)])
        matrix = refitted.matrix
    before, after = stats.error(first.matrix * scale[None, :]), stats.error(matrix * scale[None, :])
    note = {"stage": stage, "rows": stats.rows, "calibration_error": {"decided": before, "refit": min(before, after)},
            "decided": {"ou_activations": first.report["ou_activations"], "cells": first.report["cells"],
                        "sparsity": 1 - np.count_nonzero(first.matrix) / layer.quantized.size}}
    if after >= before:  # rounding (or the ridge term) lost what the fit gained: keep the decided weights
        return first, {**note, "kept_decided": True}
    again = map_layer(Instance(layer.with_matrix(matrix), inst.spec, inst.params, inst.provenance), pipe, save,
                      fixed={stage: refitted})
    if not again.report["valid"]:  # e.g. a value needing a slice plane no block holds: keep the decided weights
        return first, {**note, "calibration_error": {"decided": before, "refit": before}, "kept_decided": True,
                       "refit_invalid": again.report["violations"][:3]}
    return again, note
