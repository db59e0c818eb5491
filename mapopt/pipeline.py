"""Whole-network pipelines: problems composed layer by layer, each stage consuming the previous stage's result.

A pipeline is a preset name or a comma-separated list of stages:

- ``reuse``: reuse clustering of the layer's row blocks on the pruned layer (PRAP-PIM's sparsity
  and weight-pattern repetition together). It must come first (or right after ``pattern``): it
  decides which columns are stored (its leaders), and later stages arrange those stored columns in
  place of the layer; their mapping is then read out through the followers
  (:func:`~.reuse_clustering.problem.layer_mapping`);
- ``group``: filter ordering (its groups and compact ORC mapping);
- ``pack``: bit-slice packing, with the groups of an earlier ``group`` stage if there is one;
- ``pattern``: pattern pruning and block placement (replaces magnitude pruning); layers without
  R x S kernels (linear, 1x1 conv) keep the conventional mapping. It must come first; followed by
  other stages, it hands them the pattern-pruned layer (its own placement is then not used).

Magnitude pruning happens at import (``sparsity``). The last stage's mapping is the layer's
mapping; the simulator validates it bit-exactly against the approximation a stage declared
(pattern's pruned layer or reuse's clustered one; exact stages after them map that approximation).
Presets: ``orc`` = group; ``bitslice`` = group,pack (``full`` is another name for it); ``pattern``;
``reuse``; ``prap`` = reuse,group,pack (row compression of reuse's stored columns).
Every layer is mapped on the pipeline's hardware preset (the last stage's, or the one given), which
replaces the hardware its instance file declares; each layer's report names that hardware and says
whether it replaced the file's. Every layer is compared with the conventional mapping (dense) of
the same layer and hardware.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .bench.runner import run_bench
from .errors import MapoptError
from .hardware import PRESETS as HARDWARE_PRESETS
from .hardware import design
from .instance import Instance, instance_files, read_instance
from .layer import Layer
from .layout import conventional_mapping
from .mapping import save_mapping
from .models.weights import is_named, source_file
from .problems.filter_ordering.problem import Grouping
from .problems.pattern_placement.problem import applies_to as pattern_applies_to
from .problems.reuse_clustering.problem import Reuse, layer_mapping
from .provenance import settings
from .sim import simulate
from .sim.cost import cost as mapping_cost
from .solve import apply, check_params, solve


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: the problem it solves, its default method (a fast heuristic, so a whole network maps in
    seconds), the hardware preset it is meant for, and what it takes from an earlier stage's decision: a
    (decision type, parameter) pair, that decision's groups filling that parameter."""

    problem: str
    method: str
    hardware: str
    takes: tuple[type, str] | None = None


STAGES = {
    "group": Stage("filter-ordering", "local-search", "orc"),
    "pack": Stage("bitslice-packing", "heuristic", "bitslice", takes=(Grouping, "groups")),
    "pattern": Stage("pattern-placement", "auto", "pattern"),
    "reuse": Stage("reuse-clustering", "fasterpam", "reuse"),
}
#: pipeline presets; ``full`` is another name for ``bitslice`` (every problem that keeps the layer exact)
PRESETS = {"orc": ("group",), "bitslice": ("group", "pack"), "full": ("group", "pack"), "pattern": ("pattern",),
           "reuse": ("reuse",), "prap": ("reuse", "group", "pack")}
DEFAULT_METHODS = {name: stage.method for name, stage in STAGES.items()}


@dataclass(frozen=True)
class Pipeline:
    """Stages in order, the method and parameters of each stage, a time limit per stage and layer, and the
    hardware: a preset (by default the last stage's) and settings overriding it (`mapopt.hardware.design`)."""

    stages: tuple[str, ...]
    methods: dict
    time_limit: float | None = None
    seed: int = 0
    params: dict = field(default_factory=dict)
    preset: str | None = None
    overrides: dict = field(default_factory=dict)
    baseline: str | None = None  # hardware preset of the dense mapping gains are measured against (None: the pipeline's)

    @property
    def hardware(self) -> str:
        return self.preset or STAGES[self.stages[-1]].hardware


def parse(spec: str, methods: dict | None = None, time_limit: float | None = None, seed: int = 0,
          params: dict | None = None, hardware: str | None = None, overrides: dict | None = None,
          baseline: str | None = None) -> Pipeline:
    """A pipeline from a preset name or ``stage,stage,...``, with per-stage `methods` and `params`
    (``{stage: {key: value}}``), the hardware preset with `overrides`, and the `baseline` preset gains are measured
    on (default: the pipeline's hardware, so gains of pipelines on different presets do not compare); unknown
    stages or presets, an impossible order, unknown methods, bad parameters and impossible hardware are one-line
    errors here, before any layer is mapped."""
    stages = PRESETS.get(spec) or tuple(s.strip() for s in spec.split(",") if s.strip())
    bad = [s for s in stages if s not in STAGES]
    if bad or not stages:
        raise MapoptError(f"unknown pipeline {spec!r}: use a preset ({', '.join(PRESETS)}) or stages from "
                          f"{tuple(STAGES)}")
    if "pattern" in stages[1:]:
        raise MapoptError("the pattern stage prunes the layer, so it must come first")
    if "reuse" in stages[1 + (stages[0] == "pattern"):]:
        raise MapoptError("the reuse stage must come first (or right after pattern): it picks the stored columns "
                          "that group and pack arrange")
    for what, given in (("--method", methods or {}), ("--param", params or {})):
        stray = sorted(set(given) - set(stages))
        if stray:
            raise MapoptError(f"{what} names stage {stray[0]!r}, which pipeline {spec!r} lacks (stages: {', '.join(stages)})")
    for name in (hardware, baseline):
        if name is not None and name not in HARDWARE_PRESETS:
            raise MapoptError(f"unknown hardware preset {name!r}; choose from {', '.join(HARDWARE_PRESETS)}")
    chosen = {s: (methods or {}).get(s, STAGES[s].method) for s in stages}
    checked = {s: check_params(STAGES[s].problem, chosen[s], (params or {}).get(s, {})).to_dict() for s in stages}
    given = {s: {k: checked[s][k] for k in (params or {}).get(s, {})} for s in stages if (params or {}).get(s)}
    pipe = Pipeline(stages, chosen, time_limit, seed, given, hardware, dict(overrides or {}), baseline)
    design(pipe.hardware, pipe.overrides)
    return pipe


@dataclass(frozen=True, eq=False)
class MappedLayer:
    """One layer through a pipeline: its report (see `map_layer`), each stage's typed decision by stage name,
    and the integer layer matrix its mapping computes (the layer's own, or the approximation a stage declared)."""

    report: dict
    decisions: dict
    matrix: np.ndarray


def map_layer(inst: Instance, pipe: Pipeline, save: Path | None = None, fixed: dict | None = None) -> MappedLayer:
    """Run the stages on one layer; the per-layer report (costs of the last stage, gains against dense).
    Each stage hands on its typed decision: after reuse, later stages arrange its stored leader columns;
    after a stage that approximates (pattern pruning), they map the layer as it left it; a stage that takes
    an earlier decision (pack takes group's groups) gets it. A stage named in `fixed` is not solved: its
    given decision is mapped and validated (method ``given``), e.g. one kept while the weights were re-fitted.
    With `save` (a directory) the layer's mapping is written there as ``<layer>.npz`` for re-validation."""
    start = time.perf_counter()
    reference = inst.spec if pipe.baseline is None else design(pipe.baseline, None, inst.spec.weight_bits)
    base = mapping_cost(conventional_mapping(inst.layer.matrix, reference, "grid",  # the dense baseline's cost,
                                             groups=inst.layer.groups))  # before any stage's mapping is alive
    report, decisions, by_type = [], {}, {}
    result, work, fan, declared = None, inst, None, None
    for i, stage in enumerate(pipe.stages):
        spec, method, given = STAGES[stage], pipe.methods[stage], dict(pipe.params.get(stage, {}))
        problem = spec.problem
        if stage == "pattern" and not pattern_applies_to(inst.layer):
            problem, method, given = "baseline", "dense", {}  # linear and 1x1 layers keep the conventional mapping
        if spec.takes is not None and spec.takes[0] in by_type:
            given[spec.takes[1]] = by_type[spec.takes[0]].groups
        if fixed is not None and stage in fixed:
            result = apply(work, problem, fixed[stage], pipe.seed)
        else:
            result = solve(work, problem, method, pipe.time_limit, pipe.seed, **given)
        decision = result.solution
        decisions[stage], by_type[type(decision)] = decision, decision
        report.append({"stage": stage, "problem": problem, "method": result.method, "objective": result.objective,
                       "bound": result.bound, "gap": result.gap, "status": result.status.value,
                       "wall_time": round(result.wall_time, 4), "approximates": decision.reference is not None})
        if decision.reference is not None:
            if fan is not None:
                raise MapoptError(f"stage {stage} approximates reuse's stored leaders; after reuse only exact "
                                  f"stages can run (layer {inst.name})")
            declared = decision.reference
        if i + 1 == len(pipe.stages):
            break
        result = None  # this stage's mapping is reported; the next stage's replaces it (a large layer's is GBs)
        if isinstance(decision, Reuse):  # later stages arrange the stored leader columns in place of the layer
            fan = decision.fanout()
            work = Instance(Layer.from_matrix(fan.stored, f"{inst.name}:stored", inst.layer.weight_bits), work.spec)
        elif decision.reference is not None:  # later stages map the layer as this stage left it (pattern-pruned)
            work = Instance(work.layer.with_matrix(declared), work.spec)
    mapping, rep = result.mapping, result.report
    if fan is not None:
        mapping = layer_mapping(mapping, fan, inst.layer.n_outputs, declared)
    elif declared is not None and mapping.reference is None:
        mapping = mapping.replace(reference=declared)
    if mapping is not result.mapping:
        rep = simulate(mapping, inst.layer, seed=pipe.seed)
    if rep.cost is None:
        raise MapoptError(f"layer {inst.name}: the simulator cannot cost its mapping "
                          f"({'; '.join(map(str, rep.violations)) or 'no cost'})")
    cost = rep.cost.to_dict()
    layer = {
        "name": inst.name, "kind": inst.layer.kind, "groups": inst.layer.groups, "shape": list(inst.layer.shape),
        "valid": rep.valid, "exact": rep.exact,
        "violations": [str(v) for v in rep.violations], "hardware": inst.spec.to_dict(),
        "ou_activations": cost["ou_activations"], "crossbars": cost["crossbars"], "cycles": cost["cycles"],
        "cells": cost["cells"], "energy_pj": cost["energy_pj"], "area_um2": cost["area_um2"],
        "adc_bits": cost["adc_bits"], "adc_bits_required": cost["adc_bits_required"], "error": rep.error,
        "dense": {"ou_activations": base.ou_activations, "crossbars": base.crossbars,
                  "energy_pj": base.energy_pj["total"], "area_um2": base.area_um2["total"], "hardware": reference.name},
        "gain": {"ou_activations": _ratio(base.ou_activations, cost["ou_activations"]),
                 "crossbars": _ratio(base.crossbars, cost["crossbars"]),
                 "energy": _ratio(base.energy_pj["total"], cost["energy_pj"]["total"])},
        "stages": report, "wall_time": round(time.perf_counter() - start, 4),
        "mapping": str(save_mapping(save / f"{inst.name}.npz", mapping)) if save is not None else None,
    }
    return MappedLayer(layer, decisions, declared if declared is not None else inst.layer.matrix)


def baseline_note(pipe: Pipeline) -> str:
    """What every gain is measured against, in words."""
    return (f"dense: the layer's matrix in the conventional layout, every OU of its crossbars activated, on the "
            f"{pipe.baseline or pipe.hardware} preset" + ("" if pipe.baseline else " (the pipeline's own hardware)"))


def _ratio(dense: float, mapped: float) -> float | None:
    """How many times fewer than dense (None when the mapping needs none, e.g. an all-zero layer)."""
    return dense / mapped if mapped else None


def _map_task(task: dict) -> dict:
    """One layer of `map_network` as a benchmark task: the instance file, the pipeline, where to save."""
    pipe = Pipeline(**{**task["pipeline"], "stages": tuple(task["pipeline"]["stages"])})
    given = read_instance(task["file"])
    inst = on_hardware(given, pipe)
    report = map_layer(inst, pipe, None if task["save"] is None else Path(task["save"])).report
    return {**report, **hardware_note(given, inst, pipe)}


def on_hardware(given: Instance, pipe: Pipeline) -> Instance:
    """`given` on the pipeline's hardware (at the layer's weight width)."""
    return Instance(given.layer, design(pipe.hardware, pipe.overrides, given.spec.weight_bits), given.params,
                    given.provenance)


def hardware_note(given: Instance, mapped: Instance, pipe: Pipeline) -> dict:
    """What a layer's report says about its hardware: the preset and its overrides, and whether it replaced the
    instance file's."""
    return {"hardware_preset": pipe.hardware, "hardware_overrides": pipe.overrides,
            "instance_hardware_replaced": mapped.spec != given.spec}


def map_network(source: str | Path, pipe: Pipeline, sparsity: float = 0.0, jobs: int = 1, backend: str = "loky",
                workdir: str | Path | None = None, save: str | Path | None = None, progress: bool = False,
                resume: str | Path | None = None, keep_ends: bool = False) -> dict:
    """Map every layer of a model file (imported at `sparsity`, recorded in the report; `keep_ends`: first and
    last layer unpruned) or an instance directory;
    network totals.

    With `save`, every layer's mapping is written to that directory (see :func:`map_layer`); with
    `progress`, a line on stderr counts the layers mapped. Layers run as `mapopt.bench.run_bench`
    tasks: with `resume` (a JSON Lines file) each layer's report is appended as it finishes, and a
    run started again with the same file maps only the layers it lacks (a model file is then
    imported next to it, ``<resume>.instances``, so its layers keep their names).
    """
    source = Path(source)
    run = settings(source_file(source) or source, seed=pipe.seed, time_limit=pipe.time_limit)
    imported = is_named(source) or source.is_file() and source.suffix not in (".npz", ".json")
    if not imported and sparsity:
        raise MapoptError(f"{source}: instances were pruned when imported; sparsity applies to model files only")
    if imported:
        from .importer import import_model

        if resume is not None:
            workdir = Path(str(resume) + ".instances")
        if workdir is None:
            raise MapoptError("mapping a model file needs a working directory for its instances")
        source = import_model(source, workdir, sparsity=sparsity, preset=pipe.hardware, keep_ends=keep_ends,
                              overrides=pipe.overrides)
    files = [str(f) for f in instance_files(source)]
    if save is not None:
        save = Path(save)
        save.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tasks = [{"file": f, "pipeline": asdict(pipe), "save": None if save is None else str(save)} for f in files]
    with tempfile.TemporaryDirectory() as tmp:
        records = run_bench(tasks, _map_task, resume or Path(tmp) / "layers.jsonl", jobs=jobs, backend=backend,
                            progress=progress)
    failed = [r for r in records if r.get("status") == "error"]
    if failed:
        raise MapoptError(f"{Path(failed[0]['task']['file']).stem}: {failed[0]['error']}")
    layers = [{k: v for k, v in r.items() if k not in ("key", "task")} for r in records]
    return {**network_report(pipe, layers, time.perf_counter() - start), "sparsity": sparsity if imported else None,
            "keep_ends": keep_ends if imported else None, "settings": run}


def network_report(pipe: Pipeline, layers: list[dict], wall_time: float) -> dict:
    """The report of a network from its layers' reports: totals, the dense baseline's, gains, validity."""
    totals = {k: sum(layer[k] or 0 for layer in layers) for k in ("ou_activations", "crossbars", "cycles", "cells")}
    totals["energy_pj"] = sum((layer["energy_pj"] or {}).get("total", 0.0) for layer in layers)
    totals["area_um2"] = sum((layer["area_um2"] or {}).get("total", 0.0) for layer in layers)
    dense = {k: sum(layer["dense"][k] for layer in layers) for k in ("ou_activations", "crossbars", "energy_pj", "area_um2")}
    gains = {"ou_activations": _ratio(dense["ou_activations"], totals["ou_activations"]),
             "crossbars": _ratio(dense["crossbars"], totals["crossbars"]),
             "energy": _ratio(dense["energy_pj"], totals["energy_pj"])}
    return {"pipeline": list(pipe.stages), "methods": pipe.methods, "params": pipe.params, "hardware": pipe.hardware,
            "hardware_overrides": pipe.overrides, "baseline": baseline_note(pipe),
            "layers": layers, "totals": totals, "dense": dense, "gain": gains,
            "valid": all(layer["valid"] for layer in layers), "exact": all(layer["exact"] for layer in layers),
            "wall_time": round(wall_time, 3)}
