"""Bit-slice packing methods: decreasing fits, bin-centric filling, DSatur, the combined heuristic, CP-SAT, auto.

Every method packs each (crossbar set, group) subproblem independently (in parallel with
joblib when ``workers > 1``). Parameters shared by all methods:
``grouping`` (``natural``: filters in index order; ``ordered``: the filter-ordering grouping
of all planes together; or given lists of filters, e.g. from a filter-ordering result), ``adc`` (``fixed``: the hardware's resolutions; ``energy``: per
slice, the resolution that minimizes estimated energy) and ``share_crossbars`` (slots of
all planes fill one sequence of crossbars).
"""

from __future__ import annotations

import time

import numpy as np
from joblib import Parallel, delayed

from ...engines import partition_search as search
from ...engines import vector_packing as vp
from ...errors import SolverError
from ...instance import Instance
from ...layout import outputs_per_group
from ...models.bitsparse import project
from ...result import SolveResult
from .. import get_method, method
from ..filter_ordering.problem import hypergraph
from .problem import (Subproblem, check_capacity, check_spec, make_result, natural_groups, pack_bound,
                      subproblems)

GROUPINGS = ("natural", "ordered")
ADC_CHOICES = ("fixed", "energy")
SUBPROBLEM_WORK = 0.2  # CP-SAT seconds per open subproblem when no time limit is given
MIN_EXACT_SECONDS = 0.05  # a subproblem's share of the time limit below this skips CP-SAT


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


def _pack_all(subs: list[Subproblem], packer, h: int, seed: int, workers: int) -> list[np.ndarray]:
    """Pack every subproblem (joblib over batches when ``workers > 1``)."""
    if workers <= 1 or len(subs) < 2 * workers:
        return [packer(s, h, seed) for s in subs]
    batches = np.array_split(np.arange(len(subs)), workers * 4)
    done = Parallel(n_jobs=workers)(delayed(_pack_batch)([subs[i] for i in b], packer, h, seed) for b in batches)
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


def _pack_batch(subs, packer, h, seed):
    return [packer(s, h, seed) for s in subs]


def _groups(inst: Instance, matrix: np.ndarray, grouping, seed: int) -> list[np.ndarray]:
    """Column groups: natural order, the filter-ordering grouping, or given lists of filters."""
    if isinstance(grouping, (list, tuple)):
        return [np.asarray(g, dtype=np.int64) for g in grouping]
    if grouping not in GROUPINGS:
        raise SolverError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    m, g = inst.layer.n_outputs, outputs_per_group(inst.spec)
    if grouping == "natural":
        return natural_groups(m, g)
    hg = hypergraph(inst, matrix)
    block = search.local_search(hg, search.greedy(hg), seed)
    return [np.flatnonzero(block == j) for j in range(hg.n_blocks) if np.any(block == j)]


def _choose_adc(inst: Instance, matrix: np.ndarray, groups, packer, seed: int, workers: int) -> tuple:
    """Per slice, the ADC resolution (1..10 bits, all cells readable) minimizing estimated energy per input."""
    spec, laws = inst.spec, inst.spec.costs
    chosen = []
    for s in range(spec.n_slices):
        best = None
        for bits in range(1, 11):
            trial = spec.replace(adc_bits=tuple(bits if t == s else spec.adc_for_slice(t) for t in range(spec.n_slices)))
            subs = [sub for sub in subproblems(matrix, trial, groups) if sub.slice_index == s]
            if any(len(sub.sizes) and sub.sizes.max() > sub.capacity for sub in subs):
                continue
            bins = _pack_all(subs, packer, spec.ou_rows, seed, workers)
            acts = sum(int(b.max()) + 1 for b in bins if len(b))
            rows = sum(len(b) for b in bins)
            energy = acts * (spec.ou_cols * laws.adc_pj(bits) + laws.array_pj(spec.ou_rows * spec.ou_cols)) \
                + rows * laws.dac_pj(spec.dac_bits)
            if best is None or energy < best[0] - 1e-12:
                best = (energy, bits)
        chosen.append(best[1])
    return tuple(chosen)


def _register(name: str, exact: bool = False):
    def run(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1, grouping: str = "natural",
            adc: str = "fixed", share_crossbars: bool = False, max_slices: int = -1) -> SolveResult:
        check_spec(inst.spec)
        if adc not in ADC_CHOICES:
            raise SolverError(f"adc must be one of {ADC_CHOICES}, got {adc!r}")
        start = time.perf_counter()
        matrix, extra = inst.layer.matrix, {}
        if max_slices >= 0:
            matrix = project(matrix, inst.spec, int(max_slices))
            change = np.linalg.norm(matrix - inst.layer.matrix) / max(np.linalg.norm(inst.layer.matrix), 1e-30)
            extra = {"max_slices": int(max_slices), "projection_error": float(change)}
        groups = _groups(inst, matrix, grouping, seed)
        spec = inst.spec
        if adc == "energy":
            spec = spec.replace(adc_bits=_choose_adc(inst, matrix, groups, PACKERS["heuristic"], seed, workers))
        subs = subproblems(matrix, spec, groups)
        check_capacity(subs, spec)
        bins = _pack_all(subs, PACKERS.get(name, _heuristic), spec.ou_rows, seed, workers)
        bounds = [pack_bound(s, spec.ou_rows) for s in subs]
        if name == "cpsat":
            bins, bounds = _exact_pass(subs, bins, bounds, spec.ou_rows, seed,
                                       None if time_limit is None else start + time_limit)
        return make_result(inst, spec, matrix, groups, subs, bins, bounds, name, grouping != "ordered",
                           bool(share_crossbars), **extra)
    run.__doc__ = SUMMARIES[name]
    method("bitslice-packing", name, exact)(run)


for _name in PACKERS:
    _register(_name)
_register("cpsat", exact=True)


@method("bitslice-packing", "auto")
def auto(inst: Instance, time_limit=None, seed: int = 0, workers: int = 1, grouping: str = "natural",
         adc: str = "fixed", share_crossbars: bool = False, max_slices: int = -1) -> SolveResult:
    """The combined heuristic, then CP-SAT on the subproblems it leaves above their bound."""
    result = get_method("bitslice-packing", "cpsat").fn(inst, time_limit, seed, workers, grouping, adc,
                                                         share_crossbars, max_slices)
    result.method = "auto"
    return result
