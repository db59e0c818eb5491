"""Weight-pattern reuse clustering (``--problem reuse-clustering``; ``formulations/reuse_clustering.md``)."""
