"""Two-dimensional orthogonal bin packing without rotation (2BP|O|F): the core of pattern-block
placement and of `mapopt classic 2bp`.

Call :func:`heuristic` (fast, strong) or :func:`cpsat` (exact, with a proven bound) if you don't
care about the algorithm. Items are rectangles ``widths[i] x heights[i]`` of positive integers,
bins are ``W x H``; a packing gives each item a bin and the bottom-left corner ``(x, y)`` of its
place, with ``0 <= x <= W - w`` and ``0 <= y <= H - h``, and no two items of a bin overlap.
Items keep their orientation. In crossbar terms an item is a block in OU units (columns x rows)
and a bin a crossbar.

- Bounds (:func:`lower_bound`): the area bound, every pair of dual feasible functions applied
  to the two dimensions (Fekete & Schepers 2004; this family contains Martello & Vigo's
  large-item bounds ``L1``), and Martello & Vigo's ``L2`` argument generalised to any set of
  pairwise incompatible items.
- Constructive heuristics, multi-bin: :func:`maxrects` (Jylanki 2010), :func:`skyline`,
  :func:`shelf_ffd` (Berkey & Wang 1987's finite first fit and finite best strip).
- :func:`heuristic`: the best constructive packing over orders and rules, then a goal-driven
  large neighbourhood search that deletes the weakest bin and re-packs its items together
  with a few other bins (Wei et al. 2013's goal-driven idea, with MaxRects repacking).
- :func:`cpsat`: CP-SAT with ``add_no_overlap_2d``, one per bin (or over bins laid side by side).
- :func:`parallel_restarts`: :func:`heuristic` from several seeds with joblib.
- :func:`check_packing`: the self-check every returned packing passes.

Every timed method keeps its limit, bounds and model building included: constructions are
abandoned when they would run past it (next-fit shelves, linear, always finish), and CP-SAT models
too large to build in the time left are not built. Sizes are bounded by `MAX_SIDE` and `MAX_ITEMS`.

Modules: `validation` (checks, `Packing2D`), `bounds`, `orders`, `maxrects`, `skyline`, `shelves`,
`search` (`heuristic`, `improve`), `exact` (`cpsat`).

References
----------
J.O. Berkey, P.Y. Wang, "Two-dimensional finite bin-packing algorithms", JORS 38(5) 1987.
S. Martello, D. Vigo, "Exact solution of the two-dimensional finite bin packing problem",
Management Science 44(3) 1998.
S.P. Fekete, J. Schepers, "A general framework for bounds for higher-dimensional orthogonal
packing problems", Math. Methods of OR 60 2004.
J. Carlier, F. Clautiaux, A. Moukrim, "New reduction procedures and lower bounds for the
two-dimensional bin packing problem with fixed orientation", Computers & OR 34 2007.
J. Jylanki, "A thousand ways to pack the bin", 2010.
L. Wei, W.-C. Oon, W. Zhu, A. Lim, "A goal-driven approach to the 2D bin packing and variable-
sized bin packing problems", EJOR 224(1) 2013.
E.G. Coffman, M.R. Garey, D.S. Johnson, R.E. Tarjan, "Performance bounds for level-oriented
two-dimensional packing algorithms", SIAM J. Computing 9(4) 1980.
"""

from __future__ import annotations

from .bounds import lower_bound
from .exact import FORMULATIONS, cpsat
from .maxrects import BIN_RULES, RULES, maxrects
from .orders import ORDERS, order
from .search import EFFORT, EXACT_COST, EXACT_POOL, STALL, heuristic, improve, parallel_restarts
from .shelves import shelf_ffd
from .skyline import skyline
from .validation import MAX_ITEMS, MAX_SIDE, Packing2D, _covered_once, check_items, check_packing  # noqa: F401

__all__ = ["BIN_RULES", "EFFORT", "EXACT_COST", "EXACT_POOL", "FORMULATIONS", "MAX_ITEMS", "MAX_SIDE", "ORDERS",
           "RULES", "STALL", "Packing2D", "check_items", "check_packing", "cpsat", "heuristic", "improve",
           "lower_bound", "maxrects", "order", "parallel_restarts", "shelf_ffd", "skyline"]
