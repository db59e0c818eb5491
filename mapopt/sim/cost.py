"""Hardware cost of a mapping per input vector: OU activations, latency, energy, area, ADC bits.

Counting rules (stated once, used by every solver through this module):
- an input vector takes ``ceil(A / d)`` cycles and every activation fires in each of them,
  so ``ou_activations = activations x input_cycles`` (the objective);
- crossbars run in parallel: latency is the busiest crossbar's activations x cycles;
- an ADC converts each OU column that holds a nonzero cell (empty columns are gated);
- index reads: one per row an ORC or listed activation selects through the input index.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..mapping import Mapping
from .circuit import Circuit, build_circuit, views
from .fabric import Fabric


@dataclass(frozen=True)
class CostReport:
    """What a mapping costs; energies in pJ per input vector, areas in um^2."""

    crossbars: int
    cells: int
    cells_placed: int
    activations_per_cycle: int
    ou_activations: int
    cycles: int
    adc_bits: list
    adc_bits_required: list
    energy_pj: dict
    area_um2: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _summed(law, keys: np.ndarray) -> float:
    """``sum(law(k) for k in keys)`` for integer keys, evaluating `law` once per distinct key."""
    distinct, counts = np.unique(np.asarray(keys, dtype=np.int64), return_counts=True)
    return float(sum(law(int(k)) * int(n) for k, n in zip(distinct, counts)))


def cost(mapping: Mapping, fabric: Fabric | None = None, circuit: Circuit | None = None) -> CostReport:
    """Cost `mapping` from its cells and activations (the single source of truth for cost); with a
    `fabric` (and `circuit`), the part of it they view."""
    if fabric is None:
        return merge([cost(mapping, fab, c) for fab, c in views(mapping)])
    fab = fabric
    c = circuit if circuit is not None else build_circuit(fab)
    spec, laws = mapping.spec, mapping.spec.costs
    cycles = spec.input_cycles
    n_act = fab.n_activations
    xbars, per_xbar = np.unique(fab.act_xbar, return_counts=True)
    head = mapping.table.header[fab.part.first:fab.part.stop]
    n_xbars = len(np.unique(head[(head[:, 3] > 0) & (head[:, 4] > 0), 0]))  # crossbars holding a cell
    required = np.maximum(1, np.ceil(np.log2(1.0 + c.seg_max))).astype(int)
    adc_conf = [spec.adc_for_slice(s) for s in range(spec.n_slices)]
    adc_req = [int(required[c.seg_slice == s].max(initial=0)) for s in range(spec.n_slices)]
    indexed = mapping.schedule != "grid"
    energy = {
        "dac": cycles * int(fab.act_nrows.sum()) * laws.dac_pj(spec.dac_bits),
        "array": cycles * _summed(lambda r: laws.array_pj(r * spec.ou_cols), fab.act_nrows),
        "adc": cycles * _summed(lambda s: laws.adc_pj(adc_conf[s]), c.seg_slice),
        "adc_at_required": cycles * _summed(laws.adc_pj, required),
        "shift_add": cycles * int(c.seg_targets.sum()) * laws.shift_add_pj,
        "index": cycles * int(fab.act_nrows.sum()) * laws.index_read_pj if indexed else 0.0,
    }
    energy["total"] = sum(v for k, v in energy.items() if k != "adc_at_required")
    index_bits = len(fab.act_entry_row) * max(1, math.ceil(math.log2(max(2, mapping.n_inputs)))) if indexed else 0
    area = {
        "cells": n_xbars * spec.xbar_rows * spec.xbar_cols * laws.cell_um2,
        "adc": n_xbars * spec.ou_cols * laws.adc_um2(max(adc_conf)),
        "dac": n_xbars * spec.xbar_rows * laws.dac_um2(spec.dac_bits),
        "shift_add": n_xbars * laws.shift_add_um2,
        "index": index_bits * laws.sram_um2_per_bit,
    }
    area["total"] = sum(area.values())
    return CostReport(
        crossbars=n_xbars, cells=int(len(fab.cell_val)), cells_placed=fab.n_cells,
        activations_per_cycle=int(n_act), ou_activations=int(n_act * cycles),
        cycles=int(per_xbar.max(initial=0) * cycles), adc_bits=adc_conf, adc_bits_required=adc_req,
        energy_pj={k: round(float(v), 6) for k, v in energy.items()},
        area_um2={k: round(float(v), 6) for k, v in area.items()})


def merge(parts: list[CostReport]) -> CostReport:
    """The cost of a mapping from the costs of its parts (on disjoint crossbars): sums, the busiest
    crossbar's cycles, the widest ADC each slice requires."""
    if len(parts) == 1:
        return parts[0]
    total = {k: sum(getattr(p, k) for p in parts)
             for k in ("crossbars", "cells", "cells_placed", "activations_per_cycle", "ou_activations")}
    return CostReport(**total, cycles=max(p.cycles for p in parts), adc_bits=parts[0].adc_bits,
                      adc_bits_required=[max(r) for r in zip(*(p.adc_bits_required for p in parts))],
                      energy_pj={k: round(sum(p.energy_pj[k] for p in parts), 6) for k in parts[0].energy_pj},
                      area_um2={k: round(sum(p.area_um2[k] for p in parts), 6) for k in parts[0].area_um2})
