"""Heuristics for `Hypergraph` partitioning: constructions, swap local search, annealing, multi-start.

All moves are swaps between two blocks (blocks are padded with empty dummy vertices to
exactly ``g``, so a swap with a dummy is a move). A swap's effect is evaluated for all
``g x g`` pairs of two blocks at once from per-row counters, restricted to the rows either
block keeps: no recomputation of the whole objective.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .deadline import deadline_of, expired, time_left
from .partition import Hypergraph, bucket_weights, check_blocks, merge_costs, min_cost_pairs

#: block pairs a descent pass tries: each block with the `NEIGHBOURS` blocks sharing most of its rows (every pair
#: while there are at most ``NEIGHBOURS + 1`` blocks), so a pass costs blocks x NEIGHBOURS swaps, not blocks^2
NEIGHBOURS = 32


def natural(hg: Hypergraph) -> np.ndarray:
    """Vertices in index order, ``g`` per block: the ORC baseline."""
    return np.arange(hg.n_vertices) // hg.g


def sort_by_support(hg: Hypergraph) -> np.ndarray:
    """Vertices ordered lexicographically by their row supports (largest first), then cut into blocks."""
    dense = hg.pins.toarray().astype(bool)
    keys = np.packbits(dense, axis=0)
    order = np.lexsort(keys[::-1])[::-1] if len(keys) else np.arange(hg.n_vertices)
    return _blocks_of_order(order, hg.g)


def greedy(hg: Hypergraph, deadline: float | None = None) -> np.ndarray:
    """Seed-and-grow: seed each block with the free vertex keeping most rows, then add the vertex that
    raises the block's OU slots (then rows) least. A candidate's added rows are its own rows less those
    it shares with the block, counted on the block's kept rows only (so a step costs kept rows x candidates).
    Once `deadline` has passed, the blocks left take the free vertices in index order."""
    dense = hg.pins.toarray().astype(bool)
    onehot = bucket_weights(hg)
    vrows = hg.vertex_rows()
    free = np.ones(hg.n_vertices, dtype=bool)
    big = int(hg.weight.sum()) + 1
    block = np.empty(hg.n_vertices, dtype=np.int64)
    for j in range(hg.n_blocks):
        if expired(deadline):
            block[free] = j + np.arange(int(free.sum())) // hg.g
            break
        seed = int(np.argmax(np.where(free, vrows.sum(axis=0), -1)))
        members, kept = [seed], dense[:, seed].copy()
        free[seed] = False
        while len(members) < hg.g and free.any():
            cand = np.flatnonzero(free)
            w = onehot[:, np.flatnonzero(kept)]
            rows_now = w.sum(axis=1)
            added = vrows[:, cand] - w @ dense[np.ix_(kept, cand)]
            score = np.ceil((rows_now[:, None] + added) / hg.h).sum(axis=0) * big + added.sum(axis=0)
            pick = int(cand[np.argmin(score)])
            members.append(pick)
            kept |= dense[:, pick]
            free[pick] = False
        block[members] = j
    return block


def recursive_matching(hg: Hypergraph, deadline: float | None = None) -> tuple[np.ndarray, bool]:
    """For ``g = 2^t``: pair vertices by a minimum-cost perfect matching (`min_cost_pairs` on OU slots, then
    rows), then pairs of pairs, while units of at most ``g / 2`` remain to merge (so no group exceeds ``g``).
    Returns the blocks and whether every matching was proven optimal (at ``g = 2`` the grouping then is).

    Raises `DeadlinePassed` when pair costs or a cycle cover do not fit `deadline`; a matching it cuts short
    keeps its best pairs.
    """
    if hg.g & (hg.g - 1):
        raise ValueError(f"recursive matching needs a power-of-two group size, got {hg.g}")
    units = [np.array([v]) for v in range(hg.n_vertices)]
    pins = hg.pins.astype(np.int32)
    proven = True
    while sum(len(u) <= hg.g // 2 for u in units) > 1:
        small = [u for u in units if len(u) <= hg.g // 2]
        member = sp.csr_matrix((np.ones(sum(map(len, small))), (np.concatenate(small),
                                np.repeat(np.arange(len(small)), [len(u) for u in small]))),
                               shape=(hg.n_vertices, len(small)))
        support = (pins @ member).tocsr()
        support.data[:] = 1
        slots, rows = merge_costs(hg, support, deadline)
        # slots, then rows: no matching keeps more rows than the units alone, summed (the trace)
        pairing = min_cost_pairs(slots * (1 + np.trace(rows)) + rows, deadline)
        proven &= pairing.optimal
        mate = pairing.mate
        merged = [np.concatenate([small[a], small[b]]) if b >= 0 else small[a]
                  for a, b in enumerate(mate) if b < 0 or a < b]
        if len(merged) == len(small):
            break
        units = [u for u in units if len(u) > hg.g // 2] + merged
    while len(units) > hg.n_blocks:  # the matchings left more units than blocks: merge the two smallest
        units.sort(key=len)
        units = [np.concatenate(units[:2])] + units[2:]
    block = np.empty(hg.n_vertices, dtype=np.int64)
    for j, u in enumerate(sorted(units, key=lambda u: int(u.min()))):
        block[u] = j
    return block, proven


class SwapSearch:
    """Swap local search state: block members (padded with dummies) and per-block, per-net pin counters."""

    def __init__(self, hg: Hypergraph, block: np.ndarray):
        block = check_blocks(hg, block)
        self.hg, self.G, self.g = hg, hg.n_blocks, hg.g
        pad = self.G * self.g - hg.n_vertices
        self.dense = np.concatenate([hg.pins.toarray().astype(np.int16), np.zeros((hg.pins.shape[0], pad), np.int16)], axis=1)
        sizes = np.bincount(block, minlength=self.G)
        dummy_block = np.repeat(np.arange(self.G), self.g - sizes)
        full = np.concatenate([block, dummy_block])
        self.members = np.argsort(full, kind="stable").reshape(self.G, self.g)
        self.weights = bucket_weights(hg).astype(np.float64)  # row counts by BLAS products (exact below 2^53)
        assign = sp.csr_matrix((np.ones(hg.n_vertices, np.int32), (block, np.arange(hg.n_vertices))),
                               shape=(self.G, hg.n_vertices))
        self.cnt = (assign @ hg.pins.T.astype(np.int32)).toarray().astype(np.int16)  # blocks x nets
        self.big = int(hg.weight.sum()) + 1

    def block(self) -> np.ndarray:
        """Block id per real vertex."""
        out = np.empty(self.G * self.g, dtype=np.int64)
        out[self.members.ravel()] = np.repeat(np.arange(self.G), self.g)
        return out[:self.hg.n_vertices]

    def score(self) -> int:
        L = self.weights @ (self.cnt.T > 0)
        return int(np.ceil(L / self.hg.h).sum()) * self.big + int(L.sum())

    def best_swap(self, a: int, c: int) -> tuple[int, int, int]:
        """``(delta, i, k)``: the best swap of slot `i` of block `a` with slot `k` of block `c`."""
        rows = np.flatnonzero((self.cnt[a] + self.cnt[c]) > 0)
        if not len(rows):
            return 0, 0, 0
        xa, xc = self.dense[np.ix_(rows, self.members[a])], self.dense[np.ix_(rows, self.members[c])]
        ca, cc = self.cnt[a, rows], self.cnt[c, rows]
        w = self.weights[:, rows]
        g, h = self.g, self.hg.h
        new_a = (ca[:, None, None] - xa[:, :, None] + xc[:, None, :] > 0).reshape(len(rows), g * g).astype(np.float64)
        new_c = (cc[:, None, None] - xc[:, None, :] + xa[:, :, None] > 0).reshape(len(rows), g * g).astype(np.float64)
        La, Lc = w @ new_a, w @ new_c
        after = (np.ceil(La / h).sum(axis=0) + np.ceil(Lc / h).sum(axis=0)) * self.big + La.sum(axis=0) + Lc.sum(axis=0)
        La0, Lc0 = w @ (ca > 0), w @ (cc > 0)
        before = (np.ceil(La0 / h).sum() + np.ceil(Lc0 / h).sum()) * self.big + La0.sum() + Lc0.sum()
        best = int(np.argmin(after))
        return int(after[best] - before), best // g, best % g

    def neighbour_pairs(self, k: int) -> np.ndarray:
        """Block pairs ``(a, c)``, ``a < c``, in row-major order: each block with the `k` blocks sharing most
        weighted rows with it (every pair while there are at most ``k + 1`` blocks)."""
        if self.G - 1 <= k:
            return np.stack(np.triu_indices(self.G, 1), axis=1)
        kept = (self.cnt > 0).astype(np.float32)
        shared = (kept * self.weights.sum(axis=0)) @ kept.T
        np.fill_diagonal(shared, -1)
        near = np.argpartition(-shared, k, axis=1)[:, :k]
        mark = np.zeros((self.G, self.G), dtype=bool)
        mark[np.repeat(np.arange(self.G), k), near.ravel()] = True
        return np.stack(np.nonzero(np.triu(mark | mark.T, 1)), axis=1)

    def apply(self, a: int, c: int, i: int, k: int) -> None:
        """Swap slot `i` of block `a` with slot `k` of block `c` and update the counters."""
        u, v = self.members[a, i], self.members[c, k]
        diff = self.dense[:, v] - self.dense[:, u]
        self.cnt[a] += diff
        self.cnt[c] -= diff
        self.members[a, i], self.members[c, k] = v, u


def local_search(hg: Hypergraph, block: np.ndarray, seed: int = 0, time_limit: float | None = None) -> np.ndarray:
    """Best-swap descent over block pairs (`SwapSearch.neighbour_pairs`, drawn anew each pass) in random order
    until no swap improves (or time runs out). A pair found without an improving swap is skipped until one of
    its blocks changes (its best swap is the same), which changes no step of the descent. The time limit counts
    the set-up."""
    end = deadline_of(time_limit)
    state = SwapSearch(hg, block)
    rng = np.random.default_rng(seed)
    changed = np.zeros(state.G, dtype=np.int64)  # step of each block's last change
    checked = np.full((state.G, state.G), -1, dtype=np.int64)  # step each pair was last found not improving
    step, improved = 0, True
    while improved and not expired(end):
        improved = False
        pairs = state.neighbour_pairs(NEIGHBOURS)
        for p in rng.permutation(len(pairs)):
            a, c = pairs[p]
            if checked[a, c] >= max(changed[a], changed[c]):
                continue
            delta, i, k = state.best_swap(a, c)
            step += 1
            if delta < 0:
                state.apply(a, c, i, k)
                changed[a] = changed[c] = step
                improved = True
            else:
                checked[a, c] = step
            if expired(end):
                break
    return state.block()


def anneal(hg: Hypergraph, block: np.ndarray, seed: int = 0, iterations: int | None = None,
           time_limit: float | None = None, t_start: float = 1.0, t_end: float = 0.02) -> np.ndarray:
    """Simulated annealing over best-of-pair swaps (temperature in OU slots), ending in a descent.

    The schedule runs `iterations` steps (default ``50 x blocks``), so a seed fixes the result;
    `time_limit` only caps it (set-up included).
    """
    end = deadline_of(time_limit)
    state = SwapSearch(hg, block)
    if state.G < 2:
        return state.block()
    steps = iterations if iterations is not None else 50 * state.G
    rng = np.random.default_rng(seed)
    best, best_score, current = state.block(), state.score(), state.score()
    for step in range(steps):
        if expired(end):
            break
        temp = t_start * (t_end / t_start) ** (step / steps)
        a, c = rng.choice(state.G, size=2, replace=False)
        delta, i, k = state.best_swap(int(a), int(c))
        if delta != 0 and (delta < 0 or rng.random() < math.exp(-delta / (state.big * temp))):
            state.apply(int(a), int(c), i, k)
            current += delta
            if current < best_score:
                best, best_score = state.block(), current
    return local_search(hg, best, seed, time_left(end))


def multistart(hg: Hypergraph, starts: list[np.ndarray], seed: int = 0, workers: int = 1,
               time_limit: float | None = None) -> np.ndarray:
    """Local search from every start (in parallel with joblib); the best result, earliest start on ties.
    A time limit is shared: the starts run in ``ceil(starts / workers)`` waves, each wave gets its part."""
    from joblib import Parallel, delayed

    share = None if time_limit is None else time_limit / max(1, math.ceil(len(starts) / max(1, workers)))
    results = Parallel(n_jobs=workers)(delayed(local_search)(hg, s, seed + i, share) for i, s in enumerate(starts))
    scores = [hg.cost(b) for b in results]
    return results[min(range(len(results)), key=lambda i: scores[i])]


def random_blocks(hg: Hypergraph, seed: int) -> np.ndarray:
    """A uniformly random balanced assignment."""
    return _blocks_of_order(np.random.default_rng(seed).permutation(hg.n_vertices), hg.g)


def _blocks_of_order(order: np.ndarray, g: int) -> np.ndarray:
    block = np.empty(len(order), dtype=np.int64)
    block[order] = np.arange(len(order)) // g
    return block
