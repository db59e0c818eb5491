"""Bit-slice packing methods: decreasing fits, bin-centric filling, DSatur, the combined heuristic, CP-SAT, auto.

Every method packs each (crossbar set, group) subproblem independently (in parallel with
joblib when ``workers > 1``). The parameters all methods share are declared in
`problem.Params`: the grouping (natural, ordered, or given ``groups``), the ADC choice,
shared crossbars and a bit-sparse projection.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from joblib import Parallel, delayed

from ...engines import vector_packing as vp
from ...engines.deadline import expired
from ...instance import Instance
from ...layout import outputs_per_group
from ...models.bitsparse import project
from ..contract import Outcome, Run, call, method
from ..filter_ordering.problem import Params as GroupingParams
from .problem import (Params, Subproblem, check_capacity, check_spec, natural_groups, outcome, pack_bound,
                      subproblems)

SUBPROBLEM_WORK = 0.2  # CP-SAT seconds per open subproblem when no time limit is given
MIN_EXACT_SECONDS = 0.05  # a subproblem's share of the time limit below this skips CP-SAT
#: share of the time limit the ``ordered`` grouping may take (the packing needs the rest)
GROUPING_SHARE = 0.5
#: share of the time limit the ``energy`` ADC choice may take (ten trial packings per slice); the packing needs the rest
ADC_SHARE = 0.5
#: share of the time limit kept for mapping the packing (laying every slot into crossbar lanes)
MAPPING_SHARE = 0.15
#: first-fit decreasing costs about this many seconds per item (8 us measured on a 2304 x 256 layer,
#: 228,000 items, 2 cores); the packers stop when what is left would only pay for it on the rest
FFD_SECONDS_PER_ITEM = 1e-5


def _ffd(sub, h, seed):
    return vp.first_fit(sub.sizes, sub.capacity, h, vp.order(sub.sizes, np.array([sub.capacity]), "sum"))


def _bfd(sub, h, seed):
    return vp.first_fit(sub.sizes, sub.capacity, h, vp.order(sub.sizes, np.array([sub.capacity]), "sum"), best=True)


def _dsatur(sub, h, seed):
    cap = np.full(sub.sizes.shape[1], sub.capacity)
    return vp.dsatur(sub.sizes, cap, h) if vp.exclusive(sub.sizes, cap) else _ffd(sub, h, seed)


def _bin_centric(sub, h, seed):
    return vp.bin_centric(sub.sizes, sub.capacity, h)


def _heuristic(sub, h, seed):
    return vp.heuristic(sub.sizes, sub.capacity, h)


PACKERS = {"ffd": _ffd, "bfd": _bfd, "dsatur": _dsatur, "bin-centric": _bin_centric, "heuristic": _heuristic}
SUMMARIES = {
    "ffd": "First-fit decreasing (items by relative size sum).",
    "bfd": "Best-fit decreasing (fullest bin that fits).",
    "dsatur": "DSatur colouring with the OU-height limit on exclusive planes (1-bit ADC), first-fit elsewhere.",
    "bin-centric": "Bin-centric filling by weighted dot product with the residual capacity.",
    "heuristic": "Best of first/best-fit over three orders, bin-centric and DSatur, then emptying weak activations.",
    "cpsat": "The heuristic, then CP-SAT over item types on the subproblems it leaves above their bound, "
             "smallest first, sharing the time limit.",
}


def _pack_all(subs: list[Subproblem], packer, h: int, seed: int, workers: int,
              deadline: float | None = None) -> list[np.ndarray]:
    """Pack every subproblem (joblib over batches when ``workers > 1``); those reached when the time
    left before `deadline` only pays for first-fit decreasing, the cheapest packer, get it."""
    if workers <= 1 or len(subs) < 2 * workers:
        return _pack_batch(subs, packer, h, seed, deadline)
    batches = np.array_split(np.arange(len(subs)), workers * 4)
    done = Parallel(n_jobs=workers)(delayed(_pack_batch)([subs[i] for i in b], packer, h, seed, deadline)
                                    for b in batches)
    return [bins for batch in done for bins in batch]


def _exact_pass(subs: list[Subproblem], bins: list[np.ndarray], bounds: list[int], h: int, seed: int,
                deadline: float | None) -> tuple[list[np.ndarray], list[int]]:
    """CP-SAT on the subproblems the heuristic left above their bound, smallest first, each with an
    equal share of the time left before `deadline` (`SUBPROBLEM_WORK` seconds each without one);
    the packings and bounds, CP-SAT's where it proved more."""
    open_ = sorted((i for i, (b, lb) in enumerate(zip(bins, bounds)) if len(b) and b.max() + 1 > lb),
                   key=lambda i: len(subs[i].sizes))
    bins, bounds = list(bins), list(bounds)
    for done, i in enumerate(open_):
        share = SUBPROBLEM_WORK
        if deadline is not None:
            share = (deadline - time.perf_counter()) / (len(open_) - done)
            if share < MIN_EXACT_SECONDS:
                continue
        res = vp.cpsat(subs[i].sizes, subs[i].capacity, h, share, seed, 1, bins[i])
        bins[i], bounds[i] = res.bins, max(bounds[i], int(res.bound))
    return bins, bounds


def _pack_batch(subs, packer, h, seed, deadline=None):
    """`packer` on each subproblem in turn until the time left before `deadline` would not pay for first-fit
    decreasing on the rest; then first fit decreasing over the last few bins opened on all the rest at once
    (in lockstep), whose time grows with the longest subproblem only."""
    left = np.cumsum([len(s.sizes) for s in subs][::-1])[::-1] * FFD_SECONDS_PER_ITEM
    out = []
    for s, ffd in zip(subs, left):
        if deadline is not None and expired(deadline - ffd):
            return out + _lockstep(subs[len(out):], h)
        out.append(packer(s, h, seed))
    return out


def _lockstep(subs: list[Subproblem], h: int) -> list[np.ndarray]:
    """Every subproblem packed at once by `vector_packing.first_fit_all`, items by decreasing relative size."""
    orders = [vp.order(s.sizes, np.array([s.capacity]), "sum") for s in subs]
    packed = vp.first_fit_all([s.sizes[o] for s, o in zip(subs, orders)], np.array([s.capacity for s in subs]), h)
    out = []
    for o, b in zip(orders, packed):
        bins = np.empty(len(o), dtype=np.int64)
        bins[o] = b
        out.append(bins)
    return out


def _groups(inst: Instance, matrix: np.ndarray, params: Params, run: Run) -> list[np.ndarray]:
    """Column groups: given ones, natural order, or the filter-ordering grouping (local search) of `matrix`."""
    if params.groups is not None:
        return list(params.groups)
    if params.grouping == "natural":
        return natural_groups(inst.layer.n_outputs, outputs_per_group(inst.spec))
    work = Instance(inst.layer.with_matrix(matrix), inst.spec)
    return list(call("filter-ordering", "local-search", work, GroupingParams(), run.share(GROUPING_SHARE)).decision.groups)


def _choose_adc(inst: Instance, matrix: np.ndarray, groups, packer, seed: int, workers: int,
                deadline: float | None = None) -> tuple:
    """Per slice, the ADC resolution (1..10 bits, all cells readable) minimizing estimated energy per input.

    Each slice's activations at each resolution are counted by packing it with `packer`. A slice whose
    ten packings by first-fit decreasing would not fit its share of the time left before `deadline`
    is estimated instead from an evenly spaced sample of its groups that would, packed first-fit and
    scaled to all its rows (the same sample for every resolution, so they compare alike)."""
    spec, laws = inst.spec, inst.spec.costs
    subs = subproblems(matrix, spec, groups)
    chosen = []
    for s in range(spec.n_slices):
        mine = [sub for sub in subs if sub.slice_index == s]
        rows = sum(len(sub.sizes) for sub in mine)
        largest = max((int(sub.sizes.max()) for sub in mine if len(sub.sizes)), default=0)
        sample, pack = mine, packer
        if deadline is not None:
            affordable = (deadline - time.perf_counter()) / (spec.n_slices - s) / (10 * FFD_SECONDS_PER_ITEM)
            if rows > affordable:
                step = int(np.ceil(rows / max(affordable, 1.0)))
                sample, pack = mine[::step], _ffd
        sampled = max(1, sum(len(sub.sizes) for sub in sample))
        best = None
        for bits in range(1, 11):
            if largest > 2 ** bits - 1:
                continue
            trial = [dataclasses.replace(sub, capacity=2 ** bits - 1) for sub in sample]
            bins = _pack_all(trial, pack, spec.ou_rows, seed, workers, deadline)
            acts = sum(int(b.max()) + 1 for b in bins if len(b)) * rows / sampled
            energy = acts * (spec.ou_cols * laws.adc_pj(bits) + laws.array_pj(spec.ou_rows * spec.ou_cols)) \
                + rows * laws.dac_pj(spec.dac_bits)
            if best is None or energy < best[0] - 1e-12:
                best = (energy, bits)
        chosen.append(best[1])
    return tuple(chosen)


def _register(name: str, exact: bool = False):
    packer = PACKERS.get(name, _heuristic)

    def run_method(inst: Instance, params: Params, run: Run) -> Outcome:
        check_spec(inst.spec)
        matrix, extra = inst.layer.matrix, {}
        if params.max_slices >= 0:
            matrix = project(matrix, inst.spec, params.max_slices)
            change = np.linalg.norm(matrix - inst.layer.matrix) / max(np.linalg.norm(inst.layer.matrix), 1e-30)
            extra = {"max_slices": params.max_slices, "projection_error": float(change)}
        groups = _groups(inst, matrix, params, run)
        spec = inst.spec
        if params.adc == "energy":
            spec = spec.replace(adc_bits=_choose_adc(inst, matrix, groups, PACKERS["heuristic"], run.seed, run.workers,
                                                     run.share(ADC_SHARE).deadline))
        subs = subproblems(matrix, spec, groups)
        check_capacity(subs, spec)
        packing = run.share(1 - MAPPING_SHARE)
        bins = _pack_all(subs, packer, spec.ou_rows, run.seed, run.workers, packing.deadline)
        bounds = [pack_bound(s, spec.ou_rows) for s in subs]
        if exact:
            bins, bounds = _exact_pass(subs, bins, bounds, spec.ou_rows, run.seed, packing.deadline)
        fixed = params.groups is not None or params.grouping != "ordered"
        return outcome(inst, spec, matrix, groups, subs, bins, bounds, fixed, params.share_crossbars, **extra)
    run_method.__doc__ = SUMMARIES[name]
    method("bitslice-packing", name, exact)(run_method)


for _name in PACKERS:
    _register(_name)
_register("cpsat", exact=True)


@method("bitslice-packing", "auto")
def auto(inst: Instance, params: Params, run: Run) -> Outcome:
    """The combined heuristic, then CP-SAT on the subproblems it leaves above their bound."""
    return call("bitslice-packing", "cpsat", inst, params, run)
