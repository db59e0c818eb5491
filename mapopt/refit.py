"""Re-fit a layer's weights under its mapping decision: least squares on calibration statistics.

A layer computes ``X W`` (rows of `X`: its input at sampled positions, im2col for a conv). Given
the dense network's output ``Y = X_dense W_dense`` at the same positions and the mapped network's
own inputs ``X``, the re-fit minimises ``||Y - X W'||^2`` over the weights the decision leaves free
(`free`: a boolean ``inputs x outputs`` mask), so errors of earlier layers are corrected as well
(the target is the dense output, the inputs the mapped network's). Only the statistics
``H = X^T X`` and ``C = X^T Y`` are needed; each output is an independent least-squares problem over
its free rows (``(H_SS + lambda I) w_S = C_S``), solved once per distinct free set. The result is
rounded to the layer's integer grid (`to_grid`); the simulator then validates its mapping like any other.

numpy only: torch, which collects the statistics, stays out of this module (`mapopt.models.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .errors import MapoptError

#: ridge term as a share of the mean diagonal of ``H``: keeps nearly collinear rows (a channel almost always
#: zero after a ReLU) from blowing weights up on 1,024 calibration images. ResNet-20 at 80 % (ORC, 2,000 test
#: images): top-1 0.729 at 0.01 (OBC/SparseGPT's value), 0.739 at 0.1, 0.697 at 0.3, 0.43 at 1
DAMPING = 0.1
#: re-solves of an output whose solution takes forbidden signs (each a dense solve of up to inputs x inputs):
#: capped so that a layer's re-fit costs a bounded number of solves per output
SIGN_ROUNDS = 2
#: passes of the tied re-fit over its vectors (each pass lowers the error; a fixed effort, so a seed fixes it)
TIE_SWEEPS = 4
#: inputs SparseGPT's mask is chosen over at a time (its paper's 128: adaptive within, uniform across blocks)
OBS_BLOCK = 128


@dataclass(frozen=True, eq=False)
class LayerStats:
    """Calibration statistics of one layer: ``hessian = X^T X`` (inputs x inputs), ``cross = X^T Y``
    (inputs x outputs), ``target = ||Y||^2`` and the number of rows of ``X``."""

    hessian: np.ndarray
    cross: np.ndarray
    target: float
    rows: int

    def error(self, matrix: np.ndarray) -> float:
        """Relative output error ``||Y - X W||^2 / ||Y||^2`` of float weights `matrix` (inputs x outputs)."""
        w = np.asarray(matrix, dtype=np.float64)
        squared = np.einsum("ij,ij->", w, self.hessian @ w) - 2.0 * np.einsum("ij,ij->", w, self.cross) + self.target
        return float(max(squared, 0.0) / self.target) if self.target > 0 else 0.0

    def ridge(self, damping: float) -> float:
        """The ridge term ``lambda``: `damping` times the mean diagonal of ``H``."""
        return damping * max(float(np.mean(np.diag(self.hessian))), 1e-12)

    def damped(self, damping: float) -> np.ndarray:
        """``H + lambda I``."""
        return self.system(np.arange(len(self.hessian)), self.ridge(damping))

    def system(self, rows: np.ndarray, ridge: float) -> np.ndarray:
        """``H_SS + ridge I`` over input rows ``S``: the least-squares system of outputs free on those rows."""
        return self.hessian[np.ix_(rows, rows)] + ridge * np.eye(len(rows))


@dataclass(frozen=True, eq=False)
class GroupedStats:
    """Calibration statistics of a grouped conv: one `LayerStats` per group, over the group's rows and outputs
    (its diagonal block). A group's outputs read only its rows, so each group's re-fit is a problem of its own,
    and the inputs x inputs statistics of a wide depthwise layer (28,800 rows for 1,152 5x5 filters) are never
    formed."""

    parts: tuple[LayerStats, ...]

    @property
    def rows(self) -> int:
        return self.parts[0].rows

    def blocks(self) -> list[tuple[slice, slice]]:
        """(rows, outputs) of each group in the layer matrix."""
        b, k = self.parts[0].cross.shape
        return [(slice(g * b, (g + 1) * b), slice(g * k, (g + 1) * k)) for g in range(len(self.parts))]

    def error(self, matrix: np.ndarray) -> float:
        """Relative output error of the whole layer, ``sum ||Y_g - X_g W_g||^2 / sum ||Y_g||^2``."""
        total = sum(part.target for part in self.parts)
        squared = sum(part.error(matrix[rows, cols]) * part.target
                      for part, (rows, cols) in zip(self.parts, self.blocks()))
        return float(squared / total) if total > 0 else 0.0


def per_group(fn, stats, *cells, per_output: tuple = (), **kwargs):
    """``fn(stats, *cells, *per_output, **kwargs)`` for a layer's `LayerStats`; for `GroupedStats`, ``fn`` on each
    group's statistics with its block of every inputs x outputs array in `cells` and its outputs of every vector in
    `per_output`, the results assembled into the layer's inputs x outputs arrays (zero outside the blocks)."""
    if isinstance(stats, LayerStats):
        return fn(stats, *cells, *per_output, **kwargs)
    n, m = sum(p.cross.shape[0] for p in stats.parts), sum(p.cross.shape[1] for p in stats.parts)
    results = [fn(part, *(a[rows, cols] for a in cells), *(v[cols] for v in per_output), **kwargs)
               for part, (rows, cols) in zip(stats.parts, stats.blocks())]
    single = not isinstance(results[0], tuple)
    out = [np.zeros((n, m), dtype=r.dtype) for r in ((results[0],) if single else results[0])]
    for result, (rows, cols) in zip(results, stats.blocks()):
        for whole, part in zip(out, (result,) if single else result):
            whole[rows, cols] = part
    return out[0] if single else tuple(out)


def refit(stats: LayerStats, positive: np.ndarray, negative: np.ndarray | None = None,
          damping: float = DAMPING) -> np.ndarray:
    """Float weights (inputs x outputs) minimising the calibration error of each output, positive only where
    `positive` allows and negative only where `negative` does (the same mask when None), zero elsewhere.

    Each output is solved over the cells it may use; a cell whose solution takes a sign it may not have is
    fixed at zero and the output solved again, up to `SIGN_ROUNDS` times, then any cell still of a wrong sign
    is zeroed (an active-set descent cut short: not always the sign-constrained optimum, so callers compare
    errors before keeping it)."""
    positive = np.asarray(positive, dtype=bool)
    negative = positive if negative is None else np.asarray(negative, dtype=bool)
    n, m = stats.cross.shape
    if positive.shape != (n, m) or negative.shape != (n, m):
        raise MapoptError(f"the free cells form {positive.shape} and {negative.shape} masks; the layer matrix is {(n, m)}")
    if not damping >= 0:
        raise MapoptError(f"damping must be nonnegative, got {damping}")
    ridge = stats.ridge(damping)
    out = np.zeros((n, m))
    usable = positive | negative
    for rows, cols in _by_free_rows(usable):  # outputs with the same free rows share one factorisation
        out[np.ix_(rows, cols)] = _solve(stats, rows, cols, ridge)
    for j in range(m):
        rows = np.flatnonzero(usable[:, j])
        for _ in range(SIGN_ROUNDS):
            w = out[rows, j]
            wrong = ((w > 0) & ~positive[rows, j]) | ((w < 0) & ~negative[rows, j])
            if not wrong.any():
                break
            out[rows[wrong], j] = 0.0
            rows = rows[~wrong]
            out[rows, j] = _solve(stats, rows, [j], ridge)[:, 0] if len(rows) else 0.0
        w = out[:, j]
        w[((w > 0) & ~positive[:, j]) | ((w < 0) & ~negative[:, j])] = 0.0  # what the last round left wrong
    return out


def _by_free_rows(usable: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """The outputs (columns of mask `usable`) grouped by their free rows: (rows, outputs) per distinct set."""
    shared: dict[bytes, list[int]] = {}
    for j in range(usable.shape[1]):
        shared.setdefault(np.packbits(usable[:, j]).tobytes(), []).append(j)
    return [(np.flatnonzero(usable[:, cols[0]]), cols) for cols in shared.values()]


def to_allowed(stats: LayerStats, weights: np.ndarray, positive: np.ndarray, negative: np.ndarray,
               scale: np.ndarray, allowed: np.ndarray, damping: float = DAMPING) -> np.ndarray:
    """Integer weights (``inputs x outputs``, in units of the per-output `scale`) whose magnitudes all lie in
    `allowed` (sorted, 0 included: e.g. values with at most k nonzero bit slices), from float `weights` that
    respect the masks of `refit`: a projected re-fit. Inputs are taken in order, as GPTQ quantises (Frantar et
    al. 2023): each goes to the nearest allowed value of a sign its cell may take, and its rounding error is
    compensated on the output's free inputs not yet taken (upper Cholesky factor of ``(H_SS + lambda I)^-1``),
    so the output error grows less than by projecting each weight alone."""
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (weights.shape[1],))
    allowed = np.asarray(allowed, dtype=np.float64)
    grid = weights / scale[None, :]
    out = np.zeros(weights.shape, dtype=np.int64)
    ridge = stats.ridge(damping)
    for rows, cols in _by_free_rows(positive | negative):
        if not len(rows):
            continue
        upper = _inverse_upper(scipy.linalg.cho_factor(stats.system(rows, ridge)))
        block = grid[np.ix_(rows, cols)]
        for t, i in enumerate(rows):
            q = _nearest(block[t], allowed, positive[i, cols], negative[i, cols])
            block[t + 1:] -= np.outer(upper[t, t + 1:], (block[t] - q) / upper[t, t])
            block[t] = q
        out[np.ix_(rows, cols)] = np.rint(block).astype(np.int64)
    return out


def _nearest(values: np.ndarray, allowed: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Each value's nearest allowed magnitude (ties toward zero) with its sign, or 0 where that sign is not free."""
    magnitude = np.abs(values)
    upper = np.clip(np.searchsorted(allowed, magnitude), 0, len(allowed) - 1)
    lower = np.clip(upper - 1, 0, None)
    near = np.where(magnitude - allowed[lower] <= np.abs(allowed[upper] - magnitude), allowed[lower], allowed[upper])
    free = np.where(values > 0, positive, negative)
    return np.where(free, np.sign(values) * near, 0.0)


def _solve(stats: LayerStats, rows: np.ndarray, cols: list[int], ridge: float) -> np.ndarray:
    """``(H_SS + ridge I)^-1 C_S`` for rows ``S`` and the given output columns."""
    if not len(rows):
        return np.zeros((0, len(cols)))
    return scipy.linalg.solve(stats.system(rows, ridge), stats.cross[np.ix_(rows, cols)], assume_a="pos")


@dataclass(frozen=True, eq=False)
class Tie:
    """One stored vector a decision shares (reuse clustering's leader on a row block): its `rows`, its current
    `values`, and the `outputs` that read it, each times its entry of `scales`."""

    rows: np.ndarray
    values: np.ndarray
    outputs: np.ndarray
    scales: np.ndarray


def refit_tied(stats: LayerStats, ties: list[Tie], sweeps: int = TIE_SWEEPS, damping: float = DAMPING) -> list[np.ndarray]:
    """New values of tied vectors minimising the calibration error of every output (outputs no tie reaches stay
    zero). Block coordinate descent from the current values: each vector is solved exactly given the others,
    ``sum s^2 (H_RR + lambda I) v = sum_o s_o (C - H r_o)_R`` (``r_o``: output ``o``'s weights from the other
    vectors), so with ``lambda = 0`` the error never rises; `sweeps` passes over the ties."""
    h, c = stats.hessian, stats.cross
    ridge = stats.ridge(damping)
    w = np.zeros(c.shape)
    for t in ties:
        w[np.ix_(t.rows, t.outputs)] += np.outer(t.values, t.scales)
    g = h @ w
    values = [np.asarray(t.values, dtype=np.float64).copy() for t in ties]
    for _ in range(sweeps):
        for k, t in enumerate(ties):
            block = h[np.ix_(t.rows, t.rows)]
            weight = float(t.scales @ t.scales)
            rhs = (c[np.ix_(t.rows, t.outputs)] - g[np.ix_(t.rows, t.outputs)]) @ t.scales + weight * block @ values[k]
            new = scipy.linalg.solve(weight * (block + ridge * np.eye(len(t.rows))), rhs, assume_a="pos")
            change = np.outer(new - values[k], t.scales)
            w[np.ix_(t.rows, t.outputs)] += change
            g[:, t.outputs] += h[:, t.rows] @ change
            values[k] = new
    return values


def prune_obs(stats: LayerStats, sparsity: float, block: int = OBS_BLOCK, damping: float = DAMPING) -> np.ndarray:
    """Float weights (inputs x outputs) with `sparsity` of each output's inputs removed by output error.

    Starts from the least-squares weights (``H^-1 C``, which also corrects the errors of earlier layers) and
    removes weights as SparseGPT does (Frantar & Alistarh 2023, Optimal Brain Surgeon in blocks): inputs are
    visited in order, `block` at a time; in each block every output drops the weights of least saliency
    ``w^2 / [U]_ii^2`` (``U``: upper Cholesky factor of ``H^-1``), and each removal is compensated on the
    inputs not yet visited. Same sparsity in every block of every output."""
    if not 0.0 <= sparsity < 1.0:
        raise MapoptError(f"sparsity must be in [0, 1), got {sparsity}")
    n = stats.hessian.shape[0]
    factor = scipy.linalg.cho_factor(stats.damped(damping))
    w = scipy.linalg.cho_solve(factor, stats.cross).T.copy()  # outputs x inputs, as SparseGPT's W
    upper = _inverse_upper(factor)
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        saliency = w[:, b0:b1] ** 2 / np.diag(upper)[b0:b1] ** 2
        drop = np.zeros_like(saliency, dtype=bool)
        count = int(round(sparsity * (b1 - b0)))
        if count:
            np.put_along_axis(drop, np.argsort(saliency, axis=1, kind="stable")[:, :count], True, axis=1)
        errors = np.zeros((w.shape[0], b1 - b0))
        for j in range(b0, b1):
            e = np.where(drop[:, j - b0], w[:, j], 0.0) / upper[j, j]
            w[:, j:b1] -= e[:, None] * upper[j, j:b1][None, :]
            w[drop[:, j - b0], j] = 0.0
            errors[:, j - b0] = e
        w[:, b1:] -= errors @ upper[b0:b1, b1:]
    return w.T


def _inverse_upper(factor) -> np.ndarray:
    """Upper Cholesky factor ``U`` of ``A^-1 = U^T U`` from `factor` (``scipy.linalg.cho_factor(A)``): the
    row-by-row updates of Optimal Brain Surgeon (`prune_obs`) and GPTQ (`to_allowed`)."""
    return scipy.linalg.cholesky(scipy.linalg.cho_solve(factor, np.eye(len(factor[0]))))


def saliency(stats: LayerStats, damping: float = DAMPING) -> tuple[np.ndarray, np.ndarray]:
    """What removing each weight of the least-squares fit ``W* = H^-1 C`` costs its output, as Optimal Brain
    Surgeon counts it (``w^2 / [H^-1]_ii``), split by the weight's sign: (positive part, negative part)."""
    factor = scipy.linalg.cho_factor(stats.damped(damping))
    w = scipy.linalg.cho_solve(factor, stats.cross)
    cost = w ** 2 / np.diag(scipy.linalg.cho_solve(factor, np.eye(len(w))))[:, None]
    return np.where(w > 0, cost, 0.0), np.where(w < 0, cost, 0.0)


def to_grid(matrix: np.ndarray, scale: np.ndarray, weight_bits: int) -> np.ndarray:
    """Float weights on the layer's integer grid: ``round(W / scale)``, clipped to the signed range of `weight_bits`."""
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (matrix.shape[1],))
    return integers(matrix / scale[None, :], weight_bits)


def integers(values: np.ndarray, weight_bits: int) -> np.ndarray:
    """`values` (already in units of the grid) rounded, clipped to the signed range of `weight_bits`."""
    qmax = 2 ** (weight_bits - 1) - 1
    return np.clip(np.rint(values), -qmax, qmax).astype(np.int64)
