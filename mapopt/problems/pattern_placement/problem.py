"""Pattern block placement in crossbar terms: prune, form blocks, place them on the OU grid, map.

Pattern pruning (`mapopt.models.pattern`) leaves every ``R x S`` kernel one pattern or
removes it. A block is a rectangle of cells sharing one row index (inputs) and one column
index (outputs): its rows are the live rows of its kernels, its columns the slices of its
filters. Blocks are measured in OU units (``ceil(rows / h) x ceil(cols / w)``); every unit is
one OU activation, and blocks are packed into crossbars of ``X_r / h x X_c / w`` units
(2D orthogonal bin packing, `mapopt.engines.packing2d`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import SolverError
from ...hardware import HardwareSpec
from ...instance import Instance
from ...layer import CONV_KINDS, unroll
from ...layout import Block, crossbar_sets, outputs_per_group, place_blocks
from ...mapping import Mapping
from ...models.pattern import SELECTIONS, PatternPruning, pattern_prune
from .. import contract
from ..contract import Outcome, Problem, register_problem

PLACEMENTS = ("heuristic", "cpsat")


@dataclass(frozen=True, eq=False)
class Pruned:
    """The pattern-pruned integer layer matrix, how it was pruned, and each kernel's pattern by the matrix's input
    channel (``K x groups*C/groups``, -1 where a grouped conv's filter reads no such channel)."""

    matrix: np.ndarray
    pruning: PatternPruning
    kernel_rows: int
    channel_patterns: np.ndarray


def applies_to(layer) -> bool:
    """Whether pattern pruning can act on `layer`: a conv layer whose kernels have more than one entry."""
    return layer.kind in CONV_KINDS and layer.shape[2] * layer.shape[3] >= 2


def prune(inst: Instance, params: "Params", seed: int, time_limit: float | None) -> Pruned:
    """Pattern-prune the layer's float weights (from before any earlier pruning) at the layer's quantization."""
    layer = inst.layer
    if not applies_to(layer):
        raise SolverError(f"layer {layer.name}: pattern placement needs a conv layer with R x S kernels, "
                          f"got shape {layer.shape}")
    weight = layer.weight if layer.weight is not None else layer.quantized * layer.scale.reshape(-1, 1, 1, 1)
    pp = pattern_prune(weight, params.n_patterns, params.entries, params.removed, params.selection, seed, time_limit)
    scale = np.broadcast_to(layer.scale, (layer.n_outputs,)).reshape(-1, 1, 1, 1)
    qmax = 2 ** (layer.weight_bits - 1) - 1
    q = np.clip(np.rint(np.asarray(weight, dtype=np.float64) / scale), -qmax, qmax).astype(np.int64)
    q[pp.weight == 0] = 0
    k, per_group = pp.assignment.shape
    patterns = np.full((k, layer.groups, per_group), -1, dtype=np.int64)
    patterns[np.arange(k), np.arange(k) // (k // layer.groups)] = pp.assignment
    return Pruned(unroll(q, layer.groups), pp, layer.shape[2] * layer.shape[3], patterns.reshape(k, -1))


def grid(inst: Instance) -> tuple[int, int]:
    """A crossbar in OU units: (columns, rows)."""
    spec = inst.spec
    return spec.xbar_cols // spec.ou_cols, spec.xbar_rows // spec.ou_rows


def units(block: Block, inst: Instance) -> tuple[int, int]:
    """A block's size in OU units: (width, height)."""
    r, c = block.values.shape
    return math.ceil(c / inst.spec.ou_cols), math.ceil(r / inst.spec.ou_rows)


def activation_bound(inst: Instance, matrix: np.ndarray) -> int:
    """OU activations per input cycle no formation beats: per crossbar set, an activation holds at most
    ``h`` rows of at most ``g`` filters, so ``ceil(sum over filters of live rows / (h g))``."""
    g, h = outputs_per_group(inst.spec), inst.spec.ou_rows
    return sum(math.ceil(int((cs.values != 0).any(axis=2).sum()) / (h * g)) for cs in crossbar_sets(matrix, inst.spec))


def index_bits(blocks: list[Block], n: int, m: int) -> int:
    """Input index (one entry per block row) plus output index (one per block column)."""
    rows = sum(b.values.shape[0] for b in blocks)
    cols = sum(b.values.shape[1] for b in blocks)
    return rows * max(1, math.ceil(math.log2(max(n, 2)))) + cols * max(1, math.ceil(math.log2(max(m, 2))))


def split_tall(blocks: list[Block], inst: Instance) -> list[Block]:
    """Cut blocks taller than a crossbar into crossbar-high pieces (rows are independent under an input index)."""
    limit = grid(inst)[1] * inst.spec.ou_rows
    out = []
    for b in blocks:
        for r0 in range(0, b.values.shape[0], limit):
            out.append(Block(b.inputs[r0:r0 + limit], b.values[r0:r0 + limit], b.columns))
    return out


@dataclass(frozen=True)
class Params(contract.Params):
    """Pattern-placement parameters (every method takes them)."""

    n_patterns: int = contract.param(8, "patterns in the pattern set", low=1)
    entries: int = contract.param(4, "entries each pattern keeps of an R x S kernel", low=1)
    removed: float = contract.param(0.3, "fraction of kernels removed by connectivity pruning", low=0.0, high=1.0,
                                    high_open=True)
    selection: str = contract.param("frequency", "frequency: PatDNN's vote; pmedian: the pattern set keeping most "
                                                 "squared weight", choices=SELECTIONS)
    placement: str = contract.param("heuristic", "how formations' blocks are placed (the cpsat method always uses "
                                                 "CP-SAT)", choices=PLACEMENTS)


@dataclass(frozen=True, eq=False)
class PatternPlacement:
    """The pattern each kernel keeps (`assignment[k, c]` indexes `patterns`, ``P x R*S`` masks; -1: removed),
    the blocks the kept kernels form under `formation`, each block's position (`where`: crossbar, first row,
    first column, in cells), and `matrix`, the pattern-pruned layer the mapping computes."""

    patterns: np.ndarray
    assignment: np.ndarray
    formation: str
    blocks: tuple[Block, ...]
    where: np.ndarray
    matrix: np.ndarray

    @property
    def reference(self) -> np.ndarray:
        return self.matrix

    def free(self, matrix: np.ndarray, spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray]:
        """Cells a re-fit may set, as masks of those that may turn positive and negative (``inputs x outputs``):
        a value may go wherever a placed block already holds a cell of its polarity for that input and output,
        so blocks and placement stay as they are (kernels keep their patterns). With per-crossbar slices only
        the decided cells stay free, sign kept (a new value could need a slice no block holds)."""
        masks = [np.zeros(self.matrix.shape, dtype=bool) for _ in range(2)]
        for block in self.blocks:
            outputs, signs = block.columns[:, 0], block.columns[:, 2]
            for mask, pol in zip(masks, (1, -1)):
                held = np.unique(outputs[signs == pol])
                mask[np.ix_(block.inputs, held)] = True
        if spec.polarity != "differential":  # one crossbar set holds both signs
            masks[1] = masks[0]
        if spec.slice_layout == "per_crossbar":
            masks = [masks[0] & (self.matrix > 0), masks[1] & (self.matrix < 0)]
        return masks[0], masks[1]

    def refitted(self, matrix: np.ndarray, spec: HardwareSpec) -> "PatternPlacement":
        """The same blocks at the same places, holding the cells of re-fitted weights `matrix` (within `free`)."""
        sets = crossbar_sets(matrix, spec)
        where = {(int(sign), int(slc)): (i, k) for i, cset in enumerate(sets)
                 for k, (_, _, sign, slc) in enumerate(cset.columns[0])}
        blocks = []
        for block in self.blocks:
            located = np.array([where[(int(c[2]), int(c[3]))] for c in block.columns])
            values = sets[located[0, 0]].values[np.ix_(block.inputs, block.columns[:, 0])]
            cells = values[:, np.arange(len(block.columns)), located[:, 1]]
            blocks.append(Block(block.inputs, cells, block.columns, block.targets))
        return PatternPlacement(self.patterns, self.assignment, self.formation, tuple(blocks), self.where, matrix)


def to_mapping(inst: Instance, decision: PatternPlacement) -> Mapping:
    mapping = place_blocks(inst.spec, inst.layer.n_inputs, inst.layer.n_outputs, list(decision.blocks),
                           decision.where, meta={"formation": decision.formation})
    return mapping.replace(reference=decision.matrix)


def outcome(inst: Instance, pruned: Pruned, blocks: list[Block], placement, formation: str) -> Outcome:
    """Placed blocks with their objective (OU activations per input vector) and bound; crossbars and index beside."""
    W, H = grid(inst)
    spec, pp = inst.spec, pruned.pruning
    where = np.column_stack([placement.bins, placement.y * spec.ou_rows, placement.x * spec.ou_cols])
    decision = PatternPlacement(pp.patterns, pp.assignment, formation, tuple(blocks), where, pruned.matrix)
    per_cycle = sum(w * h for w, h in (units(b, inst) for b in blocks))
    lb = activation_bound(inst, pruned.matrix)
    return Outcome(decision, spec.input_cycles * per_cycle, spec.input_cycles * lb,
                   {"formation": formation, "blocks": len(blocks), "crossbars": placement.n_bins,
                    "crossbar_bound": max(placement.bound, math.ceil(lb / (W * H))),
                    "placement_bound": placement.bound,
                    "index_bits": index_bits(blocks, inst.layer.n_inputs, inst.layer.n_outputs),
                    "patterns": pp.patterns.astype(int).tolist(), "kept_weight": pp.kept,
                    "kernels_removed": int((pp.assignment < 0).sum()),
                    "sparsity": float(1 - np.count_nonzero(pruned.matrix) / pruned.matrix.size)})


PROBLEM = register_problem(Problem("pattern-placement", Params, PatternPlacement, to_mapping))
