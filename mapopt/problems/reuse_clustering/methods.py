"""Reuse-clustering methods: identical reuse, PRAP-PIM's two rules, and p-median methods per row block.

The parameters all methods share are declared in `problem.Params`: ``theta`` (leaders per
block), ``scales`` (as is, negated, or shifted), ``allocation`` (per block or global),
``prune`` (reuse-aware pruning, so more sub-vectors coincide) and ``centers`` (``medoid``: the
p-median setting with its bound; ``median``: k-medians, no bound). The objective is the L1
error of the approximated integer weights against the layer; the simulator measures it from
the mapping.
"""

from __future__ import annotations

import math

import numpy as np

from ...engines import pmedian
from ...engines.pmedian import peer
from ...engines.deadline import deadline_of, time_left
from ...errors import SolverError
from ...instance import Instance
from ..contract import Outcome, Run, method
from .problem import SCALES, Clustering, Params, RowBlock, assign, distances, outcome, refine, reuse_error, row_blocks

#: leader counts around ``ceil(theta m)`` that global allocation solves per block (its exchange moves within them)
ALLOCATION_SPREAD = 2
#: what a block reached after the time limit gets: the largest-norm leaders, no search (it keeps the limit)
LATE = "topnorm"
#: share of the time limit kept for mapping the clustering (placing every block's leader cells)
MAPPING_SHARE = 0.1
#: FasterPAM starts from the greedy leaders in blocks of at most this many outputs, from random leaders above
#: (the greedy start costs p passes over the block: on ResNet-20's 16-64 outputs it halves the time, on 512
#: outputs at p = 128 it is 20x the random start's whole search, `experiments/results/reuse/bounds.md`)
GREEDY_START_MAX = 64
ENGINE_METHODS = {"greedy": "greedy", "fasterpam": "fasterpam", "milp": "milp", "cpsat": "cpsat",
                  "auto": "auto"}


def _candidates(block: RowBlock) -> np.ndarray:
    """Outputs whose sub-vector is nonzero, one per distinct vector (duplicates can never both help)."""
    nz = np.flatnonzero(block.vectors.any(axis=1))
    _, first = np.unique(block.vectors[nz], axis=0, return_index=True)
    return np.sort(nz[first])


def _solve_block(block: RowBlock, p: int, scales, how: str, time_limit, seed: int,
                 dist: tuple | None = None) -> tuple[Clustering, float]:
    """Leaders of one block by `how`, and a lower bound on its error with `p` leaders; `dist` is the
    block's ``(D, alpha, candidates)`` when the caller already has them."""
    D, alpha, cand = dist if dist is not None else (*distances(block.vectors, scales), _candidates(block))
    p = min(p, len(cand))
    if p == 0:
        cl = assign(D, alpha, np.zeros(0, dtype=np.int64))
        return cl, float(reuse_error(block, cl))
    if how == "topnorm":
        norms = np.abs(block.vectors[cand]).sum(axis=1)
        cl = assign(D, alpha, cand[np.argsort(-norms, kind="stable")[:p]])
        return cl, 0.0
    if how == "fasterpam" and len(cand) < len(D) and p >= 2 and peer.fits(D, p, None):
        return _fasterpam_square(block, D, alpha, cand, p, time_limit, seed)
    if how == "fasterpam":
        res = pmedian.fasterpam(D[:, cand], p, init=_start(D), seed=seed, time_limit=time_limit)
    else:
        res = pmedian.solve(D[:, cand], p, ENGINE_METHODS[how], time_limit, seed)
    cl = assign(D, alpha, cand[np.asarray(res.centers, dtype=np.int64)])
    return cl, float(res.bound)


def _start(D: np.ndarray) -> str:
    """FasterPAM's start for a block: greedy up to `GREEDY_START_MAX` outputs, else the engine's default."""
    return "greedy" if len(D) <= GREEDY_START_MAX else "auto"


def _fasterpam_square(block: RowBlock, D: np.ndarray, alpha: np.ndarray, cand: np.ndarray, p: int, time_limit,
                      seed: int) -> tuple[Clustering, float]:
    """FasterPAM on the square ``D`` (every output a candidate), the contract of the `kmedoids` package.

    A zero sub-vector's column is dominated (``D[o, z] = ||v_o||_1``, the pruning cost) and a duplicate's
    equals its representative's, so the square problem has the optimum of ``D[:, cand]`` and its bound
    holds for it. Leaders map to their representatives in `cand`; when that leaves fewer than `p`
    (a zero or duplicate leader), the unused candidates fill up and the swap search finishes."""
    res = pmedian.fasterpam(D, p, init=_start(D), seed=seed, time_limit=time_limit)
    _, inverse = np.unique(block.vectors, axis=0, return_inverse=True)
    rep = np.full(inverse.max() + 1, -1, dtype=np.int64)
    rep[inverse.ravel()[cand]] = np.arange(len(cand))  # vector class -> position in cand (zero: -1)
    picked = np.unique(rep[inverse.ravel()[res.centers]])
    picked = picked[picked >= 0]
    if len(picked) < p:
        rest = np.setdiff1d(np.arange(len(cand)), picked)[:p - len(picked)]
        picked = pmedian.fasterpam(D[:, cand], p, init=np.concatenate([picked, rest]), seed=seed,
                                   time_limit=time_limit).centers
    return assign(D, alpha, cand[np.asarray(picked, dtype=np.int64)]), float(res.bound)


def _solve_blocks(blocks: list[RowBlock], theta: float, scales, how: str, time_limit, seed: int):
    """Every block with ``ceil(theta m)`` leaders, sharing the time limit; blocks reached after it
    has passed get `LATE` leaders (bound 0) instead of a search."""
    end = deadline_of(time_limit)
    out = []
    for i, b in enumerate(blocks):
        left = time_left(end)
        late = left is not None and left <= 0
        out.append(_solve_block(b, math.ceil(theta * len(b.vectors)), scales, LATE if late else how,
                                None if left is None else left / (len(blocks) - i), seed))
    return out


def _threshold(block: RowBlock, theta: float, scales) -> Clustering:
    """PRAP-PIM's greedy rule: tau = L1 norm at rank floor(theta m); scan by norm, a vector within tau of
    a leader (or of zero) follows it, otherwise it leads."""
    D, alpha = distances(block.vectors, scales)
    norms = np.abs(block.vectors).sum(axis=1)
    order = np.argsort(-norms, kind="stable")
    tau = norms[order[min(len(order) - 1, int(math.floor(theta * len(order))))]]
    leaders: list[int] = []
    for o in order:
        if norms[o] == 0:
            continue
        near = min((D[o, l] for l in leaders), default=np.inf)
        if min(near, norms[o]) > tau:
            leaders.append(int(o))
    return assign(D, alpha, np.array(leaders, dtype=np.int64))


def _allocate(blocks, theta, scales, how, time_limit, seed):
    """Move the total leader budget to the blocks where one more leader saves most error (marginal
    exchange over ``ceil(theta m) -+ ALLOCATION_SPREAD`` leaders per block); the solves share the time limit."""
    base = [math.ceil(theta * len(b.vectors)) for b in blocks]
    end, solves = deadline_of(time_limit), len(blocks) * (2 * ALLOCATION_SPREAD + 1)
    curves = []
    for b, p0 in zip(blocks, base):
        dist = (*distances(b.vectors, scales), _candidates(b))
        curve = {}
        for p in range(max(0, p0 - ALLOCATION_SPREAD), p0 + ALLOCATION_SPREAD + 1):
            left = time_left(end)
            late = left is not None and left <= 0
            curve[p] = _solve_block(b, p, scales, LATE if late else how,
                                    None if left is None else left / solves, seed, dist)
            solves -= 1
        curves.append(curve)
    alloc = [min(c) for c in curves]
    left = sum(base) - sum(alloc)
    gains = []
    for i, c in enumerate(curves):
        ps = sorted(c)
        for a, b in zip(ps, ps[1:]):
            gains.append((reuse_error(blocks[i], c[a][0]) - reuse_error(blocks[i], c[b][0]), i))
    for gain, i in sorted(gains, key=lambda t: -t[0]):
        if left <= 0:
            break
        if alloc[i] + 1 in curves[i]:
            alloc[i] += 1
            left -= 1
    return [curves[i][alloc[i]] for i in range(len(blocks))]


def prune_entries(matrix: np.ndarray, fraction: float, h: int) -> np.ndarray:
    """Zero the smallest `fraction` of the nonzero entries of each row block (reuse-aware pruning)."""
    if not 0.0 <= fraction < 1.0:
        raise SolverError(f"prune must be a fraction in [0, 1), got {fraction}")
    out = matrix.copy()
    for r0 in range(0, len(matrix), h):
        sub = out[r0:r0 + h]
        nz = np.flatnonzero(sub)
        cut = nz[np.argsort(np.abs(sub.ravel()[nz]), kind="stable")[:int(fraction * len(nz))]]
        sub.ravel()[cut] = 0
    return out


def _register(name: str, how: str, summary: str, exact: bool = False):
    def run_method(inst: Instance, params: Params, run: Run) -> Outcome:
        matrix = inst.layer.matrix
        if params.prune:
            matrix = prune_entries(matrix, params.prune, inst.spec.ou_rows)
        blocks = row_blocks(matrix, inst.spec.ou_rows)
        sc = SCALES[params.scales]
        if how == "identical":
            results = [_solve_block(b, len(b.vectors), (1,), "topnorm", None, run.seed) for b in blocks]
        elif how == "threshold":
            results = [(_threshold(b, params.theta, sc), 0.0) for b in blocks]
        elif params.allocation == "global":
            results = _allocate(blocks, params.theta, sc, how, run.share(1 - MAPPING_SHARE).left(), run.seed)
        else:
            results = _solve_blocks(blocks, params.theta, sc, how, run.share(1 - MAPPING_SHARE).left(), run.seed)
        clusterings = [cl for cl, _ in results]
        if params.centers == "median" and how != "identical":
            clusterings = [refine(b, cl, sc) for b, cl in zip(blocks, clusterings)]
        # the p-median bound holds for stored sub-vectors only, not for free representatives
        exact_bound = (how not in ("topnorm", "threshold", "identical") and params.allocation == "block"
                       and not params.prune and params.centers == "medoid")
        bound = sum(lb for _, lb in results) if exact_bound else 0.0
        return outcome(inst, blocks, clusterings, matrix, bound, **params.to_dict())
    run_method.__doc__ = summary
    method("reuse-clustering", name, exact)(run_method)


_register("identical", "identical", "Identical reuse: one leader per distinct nonzero sub-vector (no error).")
_register("prap-topnorm", "topnorm", "PRAP-PIM's similar rule: the largest-norm sub-vectors lead, the rest follow the nearest.")
_register("prap-threshold", "threshold", "PRAP-PIM's identical-mode greedy: a sub-vector within tau of a leader follows it.")
_register("greedy", "greedy", "Greedy p-median (add the leader saving most error) per row block.")
_register("fasterpam", "fasterpam", "FasterPAM swaps from the greedy leaders per row block.")
_register("milp", "milp", "Exact p-median MILP (HiGHS) per row block, with its bound.", exact=True)
_register("cpsat", "cpsat", "Exact p-median with CP-SAT per row block, with its bound.", exact=True)
_register("auto", "auto", "Greedy and FasterPAM, then the exact MILP where the block is small enough.")
