"""Instance-file benchmarks: a resumable parallel runner and summary tables.

Call :func:`run_bench` to run a function over tasks into a JSON Lines file
(resuming where it stopped), then :func:`summary_table` on the records.
"""

from mapopt.bench.report import summary_table
from mapopt.bench.runner import BenchError, read_results, resume_records, run_bench, task_key

__all__ = ["BenchError", "read_results", "resume_records", "run_bench", "summary_table", "task_key"]
