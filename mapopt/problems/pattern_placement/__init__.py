"""Pattern pruning and pattern block placement (``--problem pattern-placement``; ``formulations/pattern_placement.md``)."""
