"""Lagrangian reduction and probing (Beasley 1993): the pairs and candidates no solution cheaper than
the best known can use leave the exact model, and candidates it must open are fixed."""

from __future__ import annotations

import math

import numpy as np

from ..deadline import expired
from .bounds import MU_START, Dual, lagrange_value
from .costs import big_cost, is_integral

#: probing runs when the reduction keeps at least this many pairs (below, the MILP is quicker than the probes)
PROBE_MIN_PAIRS = 5000
#: probing stops after this many probes in a row fix nothing
PROBE_PATIENCE = 10
#: a probe's short ascent: at most `PROBE_ITERS` steps, ``mu`` halving after `PROBE_STALL` steps without
#: progress, stopping below `PROBE_MU_MIN` (coarser than the full ascent: a probe only needs to pass a threshold)
PROBE_ITERS, PROBE_STALL, PROBE_MU_MIN = 200, 10, 1e-3
#: seconds per (client, candidate) pair of the reduction and the probing's set-up, which no deadline stops
#: (several ``n x m`` passes; measured 4.6e-8 s at 5,000 x 5,000, doubled)
REDUCE_PER_PAIR = 1e-7


def reduce_pairs(D: np.ndarray, p: int | None, f: np.ndarray | None, dual: Dual, upper: float):
    """Lagrangian reduction for solutions cheaper than `upper` (Beasley 1993).

    For any solution, cost >= ``L(lam)`` plus the penalty of opening a candidate outside the
    dual's open set (``rho_j - rho_(p)``, the p-th smallest; facility location ``f_j + rho_j``)
    plus ``max(0, D_ij - lam_i)`` for each pair it uses. Pairs and openings whose bound exceeds
    `upper` (integer costs: ``upper - 1``) cannot appear in a cheaper solution: they are removed,
    candidates whose closing costs as much are fixed open. Returns ``(allowed n x m, fixed m:
    -1 free, 0 closed, 1 open)``, or None when no cheaper solution exists.
    """
    n, m = D.shape
    Df = D.astype(np.float64, copy=False)
    lam = dual.lam
    L, opened = lagrange_value(Df, lam, p, None if f is None else f.astype(np.float64))
    R = Df - lam[:, None]
    rho = np.minimum(R, 0.0).sum(axis=0)
    if f is None:
        s = np.sort(rho)
        rp, rp1 = s[p - 1], (s[p] if p < m else math.inf)
        in_set = np.zeros(m, dtype=bool)
        in_set[opened] = True
        open_pen = np.where(in_set, 0.0, rho - rp)
        close_pen = np.where(in_set, rp1 - rho, 0.0)
    else:
        val = f.astype(np.float64) + rho
        open_pen, close_pen = np.maximum(val, 0.0), np.maximum(-val, 0.0)
    thr = _threshold(D, upper)
    if L > thr:
        return None
    closed = L + open_pen > thr
    fixed = np.full(m, -1, dtype=np.int64)
    fixed[closed] = 0
    fixed[L + close_pen > thr] = 1
    allowed = (L + open_pen[None, :] + np.maximum(R, 0.0) <= thr) & ~closed[None, :]
    if not allowed.any(axis=1).all() or (p is not None and ((fixed == 1).sum() > p or (fixed != 0).sum() < p)):
        return None
    return allowed, fixed


def _probe_bound(Df: np.ndarray, lam: np.ndarray, p: int | None, f: np.ndarray | None, must: np.ndarray,
                 never: np.ndarray, upper: float, thr: float, iters: int, deadline: float | None) -> float:
    """The Lagrangian bound with candidates forced open (`must`) or closed (`never`), the multipliers
    re-optimised from `lam` by a short subgradient ascent; stops once the bound exceeds `thr`, or at
    `deadline` (every step's value is a bound)."""
    lam = lam.copy()
    best, mu, stall = -math.inf, MU_START, 0
    for _ in range(iters):
        L, opened = lagrange_value(Df, lam, p, f, must, never)
        if not math.isfinite(L):
            return L
        if L > best + 1e-12 * max(1.0, abs(best)) or best == -math.inf:
            best, stall = L, 0
        else:
            stall += 1
            if stall >= PROBE_STALL:
                mu, stall = mu / 2, 0
        if best > thr or mu < PROBE_MU_MIN or expired(deadline):
            break
        g = 1.0 - (Df[:, opened] < lam[:, None]).sum(axis=1)
        norm = float(g @ g)
        if norm == 0:
            break
        lam = lam + mu * max(upper - L, 1e-9 * max(1.0, abs(upper))) / norm * g
    return best


def probe(D: np.ndarray, p: int | None, f: np.ndarray | None, allowed: np.ndarray, fixed: np.ndarray,
          lam: np.ndarray, upper: float, deadline: float | None, iters: int = PROBE_ITERS) -> np.ndarray:
    """Probing, a stronger Lagrangian reduction: each free candidate outside the dual's open set is
    forced open (inside it: forced closed) over the pairs the reduction kept, and the multipliers
    re-optimised; when the bound still exceeds the threshold, no cheaper solution opens (closes) it,
    so it is fixed closed (open). Fixings found feed the later probes. Returns the new `fixed`."""
    fixed = fixed.copy()
    thr = _threshold(D, upper)
    cols = np.flatnonzero(fixed != 0)
    Df = np.where(allowed[:, cols], D[:, cols], big_cost(D)).astype(np.float64)
    fl = None if f is None else f[cols].astype(np.float64)
    must0, never0 = fixed[cols] == 1, np.zeros(len(cols), dtype=bool)
    L, opened = lagrange_value(Df, lam, p, fl, must0)
    in_set = np.zeros(len(cols), dtype=bool)
    in_set[opened] = True
    # most promising first (largest penalty at the current multipliers); stop after a run of failures
    rho = np.minimum(Df - lam[:, None], 0.0).sum(axis=0)
    if fl is not None:
        penalty = np.abs(fl + rho)
    else:
        free_rho = np.sort(rho[~must0])
        k = p - int(must0.sum())
        cut_in = free_rho[k - 1] if k >= 1 else -math.inf
        cut_out = free_rho[k] if k < len(free_rho) else math.inf
        penalty = np.where(in_set, cut_out - rho, rho - cut_in)
    failures = 0
    for c in np.argsort(-penalty, kind="stable"):
        if must0[c]:
            continue
        if expired(deadline) or failures >= PROBE_PATIENCE:
            break
        must, never = must0.copy(), never0.copy()
        if in_set[c]:
            never[c] = True
        else:
            must[c] = True
        if _probe_bound(Df, lam, p, fl, must, never, upper, thr, iters, deadline) > thr:
            failures = 0
            if in_set[c]:
                must0[c], fixed[cols[c]] = True, 1
            else:
                never0[c], fixed[cols[c]] = True, 0
        else:
            failures += 1
    return fixed


def _threshold(D: np.ndarray, upper: float) -> float:
    """A solution beats `upper` only if it costs at most this (integer costs: ``upper - 1``, with a float margin)."""
    scale = max(1.0, abs(float(upper)))
    return float(upper) - 1 + 1e-11 * scale + 1e-6 if is_integral(D) else float(upper) - 1e-9 * scale

