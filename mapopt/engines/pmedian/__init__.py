"""p-median and uncapacitated facility location over a precomputed cost matrix: the core of reuse clustering.

If you don't care about the algorithm, call ``solve(D, p)`` (p-median) or
``facility_location(D, f)`` (opening costs instead of a count): method ``"auto"`` returns the
best solution it finds within the time limit together with the best proven lower bound.

``D`` is ``n x m``: ``D[i, j]`` is the cost of serving client ``i`` from candidate ``j``
(in reuse clustering clients and candidates are the same sub-vectors and ``D[i, i] = 0``;
costs may be asymmetric, negative, integers or floats). The p-median problem opens exactly
``p`` candidates and serves each client from its cheapest open one::

    min  sum_ij D_ij x_ij                      (+ sum_j f_j y_j for facility location)
    s.t. sum_j x_ij = 1          for every client i
         x_ij <= y_j             (the strong formulation)
         sum_j y_j = p           (facility location: sum_j y_j >= 1 instead)
         y binary, x >= 0        (x is integral once y is)

Methods, all sharing the signature of `solve`:

- ``greedy``: add the candidate that lowers the cost most, ``p`` times (Kuehn and Hamburger
  1963); for facility location, while an opening pays for itself.
- ``fasterpam``: eager best-swap local search with FasterPAM's O(n) gain of all ``p`` swaps of
  one candidate from nearest and second-nearest distances (Schubert and Rousseeuw 2021); with
  opening costs also add and drop moves. Where the optional `kmedoids` package is installed and
  its contract fits (`peer`: square, zero diagonal, nonnegative), its compiled search runs from a
  seeded random start; otherwise the own numpy search from the greedy solution. Its bound is a
  Lagrangian value read off the solution in one pass (`bounds.center_bound`).
- ``alternate``: k-medoids alternation, assign then re-centre each cluster (Park and Jun 2009).
- ``lagrangian``: subgradient ascent on the Lagrangian dual of the assignment constraints
  (Beasley 1993) for a bound; its open sets, improved by swaps, as solutions.
- ``milp``: the strong formulation solved by HiGHS (`scipy.optimize.milp`).
- ``cpsat``: the same model in CP-SAT with integer-scaled costs.
- ``auto``: greedy, FasterPAM, the Lagrangian bound, then the MILP while the model is small
  enough and time remains (`AUTO_TIME_LIMIT` seconds when no limit is given).

A time limit covers every phase, model building included: the greedy, the swap search, the
subgradient ascents and the CP-SAT model building check the deadline as they go, HiGHS runs under
`mapopt.engines.solver.run_milp`, and a restricted model too large to build in the time left is skipped.

Modules: `costs` (checked costs, `Medians`, evaluation), `greedy`, `swap` (FasterPAM), `peer` (the
`kmedoids` package's FasterPAM where it fits), `heuristics`
(the public heuristic methods), `bounds` (Lagrangian and LP), `reduction` (reduction, probing),
`restricted` (the sparsified model), `exact` (HiGHS and CP-SAT), `dispatch` (`solve`).

Exact models, reduced and sparsified without losing the proof:

1. *Lagrangian reduction* (Beasley 1993). With the best upper bound ``UB`` and multipliers
   ``lam``, every solution costs at least ``L(lam)`` plus the penalty of each candidate it opens
   outside the dual's open set plus ``max(0, D_ij - lam_i)`` for each pair it uses. Pairs and
   candidates whose bound reaches ``UB`` (integer costs: exceeds ``UB - 1``) cannot appear in a
   cheaper solution and leave the model; candidates whose closing costs that much are fixed
   open. The model then holds exactly the solutions that may beat ``UB``: if it is infeasible
   or its optimum is not below ``UB``, ``UB`` is optimal, and the bound is ``min(UB, model bound)``.
   In a p-median a client never needs more than its ``m - p + 1`` nearest candidates (any ``p``
   open ones include one of them).
2. *Probing* (when at least `PROBE_MIN_PAIRS` pairs survive): each free candidate is forced
   open (or, inside the dual's open set, closed) and the multipliers re-optimised by a short
   subgradient ascent; a bound that still exceeds the cut-off fixes it closed (open).
3. *Catch-alls*, only when more than `FULL_LIST_ENTRIES` pairs survive: client ``i`` keeps its
   ``k_i`` nearest surviving candidates (twice the rank of its centre in the start) plus a
   variable ``z_i`` priced at its next surviving candidate's cost. That is a relaxation, so its
   bound holds; when the optimal open set uses no catch-all it is optimal, otherwise the lists
   of the clients that fell back are widened and the model solved again.

On the OR-Library instances pmed1-20 (FasterPAM start, 1000 subgradient steps) the dual bound
alone proves 12 optima; probing leaves pmed16 (p = 5) 19 of 400 candidates free and 7.6k of
160k pairs, and the MILP proves every optimum in seconds (`experiments/results/pmed/classic.md`).

References
----------
A. A. Kuehn, M. J. Hamburger, "A heuristic program for locating warehouses", Management
Science 9 (1963) 643-666.
C. S. ReVelle, R. W. Swain, "Central facilities location", Geographical Analysis 2 (1970) 30-42.
J. E. Beasley, "Lagrangean heuristics for location problems", European Journal of Operational
Research 65 (1993) 383-399.
H.-S. Park, C.-H. Jun, "A simple and fast algorithm for K-medoids clustering", Expert Systems
with Applications 36 (2009) 3336-3341.
E. Schubert, P. J. Rousseeuw, "Fast and eager k-medoids clustering: O(k) runtime improvement of
the PAM, CLARA, and CLARANS algorithms", Information Systems 101 (2021) 101804.
"""

from __future__ import annotations

from .bounds import LP_MAX_ENTRIES, center_bound, lagrangian_bound, lp_bound
from .costs import Medians, check_costs, evaluate, trivial_bound
from .dispatch import AUTO_TIME_LIMIT, METHODS, MILP_MAX_ENTRIES, RESTARTS, facility_location, solve
from .exact import DUAL_ITER, cpsat, milp
from .heuristics import alternate, fasterpam, greedy
from .reduction import PROBE_MIN_PAIRS, PROBE_PATIENCE
from .restricted import FULL_LIST_ENTRIES

__all__ = ["AUTO_TIME_LIMIT", "DUAL_ITER", "FULL_LIST_ENTRIES", "LP_MAX_ENTRIES", "METHODS", "MILP_MAX_ENTRIES",
           "PROBE_MIN_PAIRS", "PROBE_PATIENCE", "RESTARTS", "Medians", "alternate", "center_bound", "check_costs",
           "cpsat", "evaluate", "facility_location", "fasterpam", "greedy", "lagrangian_bound", "lp_bound", "milp", "solve", "trivial_bound"]
