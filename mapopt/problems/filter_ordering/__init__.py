"""Filter ordering for OU zero-clustering (``--problem filter-ordering``; ``formulations/filter_ordering.md``)."""
