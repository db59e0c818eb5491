"""Resumable, parallel benchmark runner: one task in, one JSON line out.

Call :func:`run_bench` with a list of tasks (JSON-able dicts) and a top-level
function that turns one task into one JSON-able result dict. Every finished
task is appended to a JSON Lines file at once, so an interrupted run loses at
most the tasks in flight, and the next call computes only what is missing.
The runner knows nothing about mapping problems; it is equally happy to run
solvers, heuristics or simulators.

Record format, one JSON object per line::

    {"key": task_key(task), "task": task, **fn(task)}

or, when ``fn`` raised, ``{"key", "task", "status": "error", "error":
"<ExceptionType>: <message>"}``. The latest record of a key wins; error
records are retried on the next run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from joblib import Parallel, delayed, parallel_config
from joblib.parallel import BACKENDS

log = logging.getLogger(__name__)

#: Backends that need an extra package: name -> (module to import, install hint).
_EXTERNAL_BACKENDS = {
    "dask": ("distributed", "pip install 'dask[distributed]'"),
    "ray": ("ray.util.joblib", "pip install ray"),
}


class BenchError(Exception):
    """A benchmark cannot run or its results file cannot be read."""


def task_key(task: dict) -> str:
    """Stable identity of a task: its canonical JSON (sorted keys, no spaces).

    Two dicts with the same content give the same key whatever their key
    order, so a results file can be matched against a rebuilt task list.
    """
    if not isinstance(task, dict):
        raise BenchError(f"a task must be a dict, got {type(task).__name__}")
    try:
        return json.dumps(task, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BenchError(f"task is not plain JSON ({exc}): {task!r}") from None


def run_bench(
    tasks: list[dict],
    fn: Callable[[dict], dict],
    out: str | Path,
    *,
    jobs: int = 1,
    backend: str = "loky",
    progress: bool = True,
) -> list[dict]:
    """Run ``fn`` over every task not already recorded in ``out``.

    Parameters
    ----------
    tasks : list of dict
        JSON-able task descriptions; equal tasks (same :func:`task_key`) run once.
    fn : callable
        Top-level, picklable function ``task -> result dict``. An exception
        becomes an error record; ``KeyboardInterrupt`` stops the run.
    out : str or Path
        JSON Lines results file, created if missing and appended to.
    jobs : int
        Parallel workers, ``>= 1``, or ``-1`` for all cores.
    backend : str
        joblib backend: ``"loky"`` (local processes), ``"threading"``,
        ``"sequential"``, or ``"dask"`` / ``"ray"`` for a cluster (set up the
        client or ``joblib.parallel_config`` first).
    progress : bool
        Write a progress line to stderr.

    Returns
    -------
    list of dict
        One record per task, in task order: those read back from ``out`` plus
        those computed now.

    Raises
    ------
    BenchError
        Bad ``jobs`` or ``backend``, a task that is not plain JSON, or a
        malformed results file.

    Notes
    -----
    Only the parent process writes: one ``write`` of one whole line per
    finished task, flushed and fsynced. A line cut short by a kill is removed
    (with a warning) before new lines are appended. Two runs appending to the
    same file at once do not corrupt it, but may compute a task twice.
    """
    _check_jobs(jobs)
    check_backend(backend)
    keys = [task_key(task) for task in tasks]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    latest = latest_by_key(resume_records(out)) if out.exists() else {}
    pending = _pending(tasks, keys, latest)
    log.info("%s: %d tasks, %d to run", out, len(set(keys)), len(pending))
    if pending:
        bar = _Progress(len(pending), sys.stderr) if progress else None
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for line in _stream_lines(fn, pending, jobs, backend):
                _append(fd, line)
                record = json.loads(line)
                latest[record["key"]] = record
                if record.get("status") == "error":
                    log.warning("task %s failed: %s", record["key"], record["error"])
                if bar:
                    bar.advance()
        finally:
            os.close(fd)
            if bar:
                bar.close()
    return [latest[key] for key in keys]


def read_results(path: str | Path, keyed: bool = True) -> list[dict]:
    """Read a JSON Lines results file, in file order.

    A last line without its newline that does not parse is the trace of an
    interrupted write: it is ignored with a logged warning. Any other line that
    is not a JSON object (with a string ``"key"`` when `keyed`) raises
    :class:`BenchError` naming the file and the line number. Blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: no such results file")
    lines = path.read_bytes().split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records = [_decode_line(raw, path, i, keyed) for i, raw in enumerate(lines, start=1) if raw.strip()]
    if tail.strip():
        try:
            records.append(_decode_line(tail, path, len(lines) + 1, keyed))
        except BenchError:
            log.warning("%s: ignoring truncated last line %d", path, len(lines) + 1)
    return records


def resume_records(path: str | Path, keyed: bool = True) -> list[dict]:
    """The records of a results file about to be appended to (see `read_results`), after making it end
    with a newline: a line cut short by an interrupted write is removed so it cannot glue onto the next."""
    records = read_results(path, keyed)  # validates before any change
    _repair_tail(Path(path), keyed)
    return records


def _check_jobs(jobs: int) -> None:
    """Reject worker counts joblib would misread (0, bools, non-integers)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not (jobs >= 1 or jobs == -1):
        raise BenchError(f"jobs must be an integer >= 1, or -1 for all cores; got {jobs!r}")


def check_backend(backend: str) -> None:
    """Make ``backend`` known to joblib, or say what is missing."""
    if backend in _EXTERNAL_BACKENDS:
        module, hint = _EXTERNAL_BACKENDS[backend]
        try:
            __import__(module)
        except ImportError:
            raise BenchError(f"backend {backend!r} needs its package: {hint}") from None
        if backend == "ray":
            from ray.util.joblib import register_ray

            register_ray()
    elif backend not in BACKENDS:
        known = sorted({*BACKENDS, *_EXTERNAL_BACKENDS})
        raise BenchError(f"unknown backend {backend!r}; expected one of {known}")


@contextlib.contextmanager
def cluster(backend: str) -> Iterator[None]:
    """What a cluster backend needs around a run: for ``dask`` a client of the scheduler at
    ``$DASK_SCHEDULER_ADDRESS`` (a local cluster when unset) unless one is already active; ``ray``
    starts or joins its cluster itself (``ray.init`` honours ``$RAY_ADDRESS``)."""
    check_backend(backend)
    if backend != "dask":
        yield
        return
    import distributed

    try:
        distributed.get_client()
        client = contextlib.nullcontext()
    except ValueError:  # no client yet
        client = distributed.Client(os.environ.get("DASK_SCHEDULER_ADDRESS"))
    with client:
        yield


def latest_by_key(records: list[dict]) -> dict[str, dict]:
    """Map each key to its last record in file order (later runs win)."""
    return {record["key"]: record for record in records}


def _pending(tasks: list[dict], keys: list[str], latest: dict[str, dict]) -> list[tuple[str, dict]]:
    """Tasks without a successful record, once per key, in task order."""
    todo: dict[str, dict] = {}
    for key, task in zip(keys, tasks):
        done = key in latest and latest[key].get("status") != "error"
        if not done:
            todo.setdefault(key, task)
    return list(todo.items())


def _stream_lines(
    fn: Callable[[dict], dict], pending: list[tuple[str, dict]], jobs: int, backend: str
) -> Iterator[str]:
    """Yield one encoded record per task as soon as it completes.

    Backends that cannot stream (multiprocessing, ray) run in batches of
    ``jobs`` tasks, so results still reach the file while the run goes on.
    """
    calls = [delayed(_run_one)(fn, key, task) for key, task in pending]
    # through parallel_config, which also sets up joblib's dask backend (Parallel(backend="dask") does not)
    with parallel_config(backend=backend):
        try:
            parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
        except ValueError:
            batch = jobs if jobs > 0 else os.cpu_count() or 1
            log.info("backend %r cannot stream results; writing per batch of %d", backend, batch)
            parallel = Parallel(n_jobs=jobs)
            for start in range(0, len(calls), batch):
                yield from parallel(calls[start : start + batch])
            return
        yield from parallel(calls)


def _run_one(fn: Callable[[dict], dict], key: str, task: dict) -> str:
    """Run ``fn`` on one task in a worker and encode its record as one line."""
    try:
        result = fn(task)
        if not isinstance(result, dict):
            raise TypeError(f"fn returned {type(result).__name__}, expected dict")
        if "key" in result or "task" in result:
            raise ValueError("fn result must not contain the reserved fields 'key' or 'task'")
        return _encode({"key": key, "task": task, **result})
    except Exception as exc:  # a failing task is a result to record, not a crash
        return _encode({"key": key, "task": task, "status": "error", "error": _error_text(exc)})


def _error_text(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"`` on one line."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _encode(record: dict) -> str:
    """One JSON line, newline included; raises TypeError for non-JSON values."""
    return json.dumps(record, separators=(",", ":"), default=json_default) + "\n"


def json_default(obj: Any) -> Any:
    """Encode numpy/torch scalars and arrays and enums, which solvers return often."""
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _append(fd: int, line: str) -> None:
    """Append one line with a single ``write``, then fsync so a kill cannot lose it."""
    data = line.encode("utf-8")
    written = os.write(fd, data)
    if written != len(data):
        raise BenchError(f"short write: {written} of {len(data)} bytes")
    os.fsync(fd)


def _repair_tail(path: Path, keyed: bool) -> None:
    """Make the file end with a newline before appending.

    A complete last record that only lacks its newline gets one; a line cut
    short by an interrupted write is cut off, so it cannot glue onto the next.
    """
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    try:
        _decode_line(data[cut:], path, data.count(b"\n") + 1, keyed)
    except BenchError:
        log.info("%s: removing truncated last line %d", path, data.count(b"\n") + 1)
        with path.open("r+b") as f:
            f.truncate(cut)
            os.fsync(f.fileno())
        return
    with path.open("ab") as f:
        f.write(b"\n")
        os.fsync(f.fileno())


def _decode_line(raw: bytes, path: Path, lineno: int, keyed: bool = True) -> dict:
    """Parse one record line, or raise BenchError naming file and line."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}:{lineno}: malformed line ({exc})") from None
    if not isinstance(record, dict) or (keyed and not isinstance(record.get("key"), str)):
        raise BenchError(f"{path}:{lineno}: not a record (JSON object{' with a string key' if keyed else ''})")
    return record


class _Progress:
    """``[12/40] 30% elapsed 3.2s eta 7.5s`` on a stream.

    Rewritten in place with ``\\r`` on a terminal; elsewhere (logs, CI) one
    line per 10% so the output stays short.
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.start = time.perf_counter()
        self.tty = getattr(stream, "isatty", lambda: False)()

    def advance(self) -> None:
        """Count one finished task and redraw when due."""
        self.done += 1
        if self.tty:
            self.stream.write("\r" + self._line())
        elif self.done * 10 // self.total > (self.done - 1) * 10 // self.total:
            self.stream.write(self._line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line on a terminal."""
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        percent = 100 * self.done // self.total
        return (
            f"[{self.done}/{self.total}] {percent}% "
            f"elapsed {_fmt_seconds(elapsed)} eta {_fmt_seconds(eta)}"
        )


def _fmt_seconds(seconds: float) -> str:
    """``3.2s`` below a minute, ``12m05s`` below an hour, else ``2h03m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"
