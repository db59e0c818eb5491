"""Tests for mapopt.bench: resumable parallel runner and summary table."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from mapopt.bench import BenchError, read_results, resume_records, run_bench, summary_table, task_key

REPO = Path(__file__).resolve().parents[1]


# Task functions live at module level so loky workers can unpickle them.
def square(task: dict) -> dict:
    """Deterministic result; later tasks finish first to shuffle completion order."""
    time.sleep(0.01 * (5 - task["x"] % 6))
    return {"status": "ok", "value": task["x"] ** 2}


def timed_square(task: dict) -> dict:
    """Like square, plus a timing field that differs from run to run."""
    start = time.perf_counter()
    result = square(task)
    return {**result, "wall_time": time.perf_counter() - start}


def counted_square(calls_dir: str, task: dict) -> dict:
    """Square that leaves one file per call, so calls in other processes can be counted."""
    (Path(calls_dir) / f"{task['x']}-{uuid.uuid4().hex}").touch()
    return {"status": "ok", "value": task["x"] ** 2}


def fail_on_three(task: dict) -> dict:
    """Raise a multi-line error for x == 3."""
    if task["x"] == 3:
        raise ValueError("three is bad\nsecond line")
    return {"status": "ok", "value": task["x"] ** 2}


def interrupt_on_two(task: dict) -> dict:
    """Simulate Ctrl-C while running x == 2."""
    if task["x"] == 2:
        raise KeyboardInterrupt
    return {"value": task["x"]}


def numpy_result(task: dict) -> dict:
    """Solvers often return numpy scalars and arrays."""
    return {"value": np.int64(task["x"]), "vec": np.arange(2)}


def set_result(task: dict) -> dict:
    """A result that is not JSON."""
    return {"value": {task["x"]}}


def reserved_result(task: dict) -> dict:
    """A result that would overwrite the record's key."""
    return {"key": "mine"}


def tasks(n: int) -> list[dict]:
    return [{"x": i, "method": "sq"} for i in range(n)]


def calls(calls_dir: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in calls_dir.iterdir())


def file_keys(path: Path) -> list[str]:
    return [r["key"] for r in read_results(path)]


@pytest.fixture
def calls_dir(tmp_path: Path) -> Path:
    d = tmp_path / "calls"
    d.mkdir()
    return d


def test_task_key_is_canonical():
    assert task_key({"a": 1, "b": [1, 2]}) == task_key({"b": [1, 2], "a": 1})
    assert task_key({"a": 1}) != task_key({"a": 2})
    with pytest.raises(BenchError, match="not plain JSON"):
        task_key({"a": object()})


def test_all_tasks_recorded_once_in_task_order(tmp_path):
    out = tmp_path / "res.jsonl"
    records = run_bench(tasks(12), square, out, jobs=3, progress=False)
    assert [r["task"]["x"] for r in records] == list(range(12))
    assert [r["value"] for r in records] == [x * x for x in range(12)]
    assert all(r["key"] == task_key(r["task"]) for r in records)
    keys = file_keys(out)
    assert sorted(keys) == sorted(task_key(t) for t in tasks(12))


def test_duplicate_tasks_run_once(tmp_path, calls_dir):
    fn = partial(counted_square, str(calls_dir))
    records = run_bench([{"x": 1}, {"x": 2}, {"x": 1}], fn, tmp_path / "r.jsonl", backend="sequential")
    assert [r["task"]["x"] for r in records] == [1, 2, 1]
    assert calls(calls_dir) == [1, 2]


def test_resume_computes_only_missing(tmp_path, calls_dir):
    out = tmp_path / "res.jsonl"
    fn = partial(counted_square, str(calls_dir))
    run_bench(tasks(10)[::3], fn, out, jobs=2, progress=False)
    assert calls(calls_dir) == [0, 3, 6, 9]
    records = run_bench(tasks(10), fn, out, jobs=2, progress=False)
    assert calls(calls_dir) == list(range(10))
    assert [r["value"] for r in records] == [x * x for x in range(10)]
    assert len(file_keys(out)) == 10


def test_resume_after_truncated_last_line(tmp_path, calls_dir, caplog):
    out = tmp_path / "res.jsonl"
    run_bench(tasks(3), square, out, backend="sequential", progress=False)
    cut = json.dumps({"key": task_key(tasks(4)[3]), "task": tasks(4)[3], "value": 9})[:-5]
    with out.open("a") as f:
        f.write(cut)  # a write interrupted mid-line
    with caplog.at_level(logging.WARNING, logger="mapopt.bench"):
        assert len(read_results(out)) == 3
    assert "truncated last line 4" in caplog.text

    fn = partial(counted_square, str(calls_dir))
    records = run_bench(tasks(6), fn, out, backend="sequential", progress=False)
    assert calls(calls_dir) == [3, 4, 5]
    assert [r["value"] for r in records] == [x * x for x in range(6)]
    # The fragment was removed, not glued to the next record.
    assert out.read_text().count("\n") == 6
    assert len(set(file_keys(out))) == 6


def test_complete_last_line_without_newline_is_kept(tmp_path, calls_dir):
    out = tmp_path / "res.jsonl"
    run_bench(tasks(2), square, out, backend="sequential", progress=False)
    out.write_bytes(out.read_bytes().rstrip(b"\n"))
    fn = partial(counted_square, str(calls_dir))
    run_bench(tasks(3), fn, out, backend="sequential", progress=False)
    assert calls(calls_dir) == [2]
    assert len(file_keys(out)) == 3


def test_errors_recorded_then_retried(tmp_path, calls_dir):
    out = tmp_path / "res.jsonl"
    records = run_bench(tasks(5), fail_on_three, out, backend="sequential", progress=False)
    assert records[3]["status"] == "error"
    assert records[3]["error"] == "ValueError: three is bad second line"
    assert set(records[3]) == {"key", "task", "status", "error"}
    assert [r["status"] for r in records].count("ok") == 4

    fn = partial(counted_square, str(calls_dir))
    records = run_bench(tasks(5), fn, out, jobs=2, progress=False)
    assert calls(calls_dir) == [3]
    assert len(records) == 5
    assert [r["status"] for r in records] == ["ok"] * 5
    assert len(file_keys(out)) == 6  # the old error line stays in the file
    run_bench(tasks(5), fn, out, backend="sequential", progress=False)
    assert calls(calls_dir) == [3]  # nothing left to retry


def test_bad_results_become_error_records(tmp_path):
    recs = run_bench(tasks(1), set_result, tmp_path / "a.jsonl", backend="sequential", progress=False)
    assert recs[0]["error"].startswith("TypeError:")
    recs = run_bench(tasks(1), reserved_result, tmp_path / "b.jsonl", backend="sequential", progress=False)
    assert "reserved" in recs[0]["error"]
    recs = run_bench(tasks(2), numpy_result, tmp_path / "c.jsonl", backend="sequential", progress=False)
    assert recs[1]["value"] == 1 and recs[1]["vec"] == [0, 1]


def test_keyboard_interrupt_propagates_and_keeps_finished(tmp_path):
    out = tmp_path / "res.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_bench(tasks(5), interrupt_on_two, out, backend="sequential", progress=False)
    assert [r["task"]["x"] for r in read_results(out)] == [0, 1]


def test_malformed_middle_line_raises_naming_line(tmp_path):
    out = tmp_path / "bad.jsonl"
    good = [json.dumps({"key": task_key(t), "task": t, "value": 0}) for t in tasks(3)]
    out.write_text(f"{good[0]}\n{{not json\n{good[2]}\n")
    with pytest.raises(BenchError, match=r"bad\.jsonl:2"):
        read_results(out)
    with pytest.raises(BenchError, match=r"bad\.jsonl:2"):
        run_bench(tasks(3), square, out, backend="sequential", progress=False)
    out.write_text(f"{good[0]}\n[1, 2]\n{good[2]}\n")
    with pytest.raises(BenchError, match=r"bad\.jsonl:2: not a record"):
        read_results(out)


def test_records_without_keys_resume_after_a_cut_line(tmp_path):
    # experiment scripts keep their own record keys: a line cut by a kill is dropped, the file ends cleanly
    out = tmp_path / "own.jsonl"
    out.write_text('{"layer": "a", "value": 1}\n{"layer": "b", "val')
    with pytest.raises(BenchError, match="not a record"):
        resume_records(out)  # keyed by default: these records have no "key"
    assert resume_records(out, keyed=False) == [{"layer": "a", "value": 1}]
    assert out.read_text() == '{"layer": "a", "value": 1}\n'


def test_loky_matches_sequential(tmp_path):
    seq = run_bench(tasks(8), timed_square, tmp_path / "seq.jsonl", backend="sequential", progress=False)
    par = run_bench(tasks(8), timed_square, tmp_path / "par.jsonl", jobs=2, backend="loky", progress=False)

    def strip(records):
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in records]

    assert strip(par) == strip(seq)
    assert all("wall_time" in r for r in par)


@pytest.mark.parametrize("backend", ["threading", "multiprocessing"])
def test_other_local_backends(tmp_path, backend):
    # multiprocessing cannot stream results; it goes through the batch path.
    records = run_bench(tasks(5), square, tmp_path / "r.jsonl", jobs=2, backend=backend, progress=False)
    assert [r["value"] for r in records] == [x * x for x in range(5)]
    assert len(file_keys(tmp_path / "r.jsonl")) == 5


@pytest.mark.parametrize("jobs", [0, -2, 1.5, True])
def test_invalid_jobs(tmp_path, jobs):
    with pytest.raises(BenchError, match="jobs must be"):
        run_bench(tasks(1), square, tmp_path / "r.jsonl", jobs=jobs)


def test_unknown_backend(tmp_path):
    with pytest.raises(BenchError, match="unknown backend 'nope'"):
        run_bench(tasks(1), square, tmp_path / "r.jsonl", backend="nope")


@pytest.mark.parametrize(
    ("backend", "module", "hint"),
    [("dask", "distributed", "pip install 'dask[distributed]'"), ("ray", "ray", "pip install ray")],
)
def test_missing_cluster_package(tmp_path, monkeypatch, backend, module, hint):
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(BenchError) as err:
        run_bench(tasks(1), square, tmp_path / "r.jsonl", backend=backend)
    assert hint in str(err.value)
    assert "\n" not in str(err.value)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_lines_every_tenth_when_not_a_tty(tmp_path, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    run_bench(tasks(20), counted_square_fast, tmp_path / "r.jsonl", backend="sequential")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("[2/20] 10% elapsed ")
    assert lines[-1].startswith("[20/20] 100% elapsed ") and " eta 0.0s" in lines[-1]
    assert "\r" not in stream.getvalue()


def test_progress_in_place_on_a_tty(tmp_path, monkeypatch):
    stream = _Tty()
    monkeypatch.setattr(sys, "stderr", stream)
    run_bench(tasks(3), counted_square_fast, tmp_path / "r.jsonl", backend="sequential")
    draws = stream.getvalue().split("\r")
    assert draws[0] == ""
    assert [d.split("]")[0] for d in draws[1:]] == ["[1/3", "[2/3", "[3/3"]
    assert draws[-1].startswith("[3/3] 100% elapsed ") and draws[-1].endswith("\n")
    assert stream.getvalue().count("\n") == 1
    stream = _Tty()
    monkeypatch.setattr(sys, "stderr", stream)
    run_bench(tasks(3), counted_square_fast, tmp_path / "r.jsonl", backend="sequential")
    assert stream.getvalue() == ""  # nothing to run, nothing drawn


def counted_square_fast(task: dict) -> dict:
    return {"status": "ok", "value": task["x"] ** 2}


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from mapopt.bench import run_bench

    def slow(task):
        time.sleep(0.1)
        return {"status": "ok", "value": task["x"] ** 2}

    if __name__ == "__main__":
        tasks = [{"x": i, "method": "sq"} for i in range(40)]
        run_bench(tasks, slow, sys.argv[1], jobs=2, progress=False)
    """
)


def test_sigkill_then_resume(tmp_path, calls_dir):
    out = tmp_path / "res.jsonl"
    script = tmp_path / "slow_bench.py"
    script.write_text(_KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # Own session, so the kill reaches the loky workers too.
    proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "bench finished or crashed before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {r["task"]["x"] for r in read_results(out)}
    assert 4 <= len(done) < 40

    fn = partial(counted_square, str(calls_dir))
    records = run_bench(tasks(40), fn, out, jobs=2, progress=False)
    assert calls(calls_dir) == sorted(set(range(40)) - done)
    assert [r["value"] for r in records] == [x * x for x in range(40)]
    keys = file_keys(out)
    assert len(keys) == len(set(keys)) == 40


def test_summary_table_groups_and_counts():
    records = [
        {"key": "1", "task": {"method": "greedy", "i": 1}, "objective": 10, "bound": 8, "wall_time": 0.5},
        {"key": "2", "task": {"method": "greedy", "i": 2}, "objective": 20, "bound": 8, "wall_time": 1.5},
        {"key": "3", "task": {"method": "cpsat", "i": 1}, "objective": 9, "bound": 9, "wall_time": 4.0},
        {"key": "4", "task": {"method": "cpsat", "i": 2}, "status": "error", "error": "E: x"},
        {"key": "5", "method": "greedy", "task": {"method": "other"}, "objective": 3, "bound": None},
    ]
    table = summary_table(records)
    lines = table.splitlines()
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in l.strip("|").split("|")] for l in lines)}
    header = rows.pop("method")
    assert header == [
        "n", "errors", "objective sum", "objective mean", "bound sum", "bound mean",
        "wall_time sum", "wall_time mean",
    ]  # fmt: skip
    # The record's own field wins over its task's: record 5 is greedy.
    assert rows["greedy"] == ["3", "0", "33", "11", "16", "8", "2", "1"]
    assert rows["cpsat"] == ["2", "1", "9", "9", "9", "9", "4", "4"]
    assert lines[1].startswith("| ---")
    assert len(lines) == 4


def test_summary_table_two_group_fields_and_stats():
    records = [
        {"key": "1", "task": {"method": "a", "inst": "x"}, "objective": 1.25},
        {"key": "2", "task": {"method": "a", "inst": "y"}, "objective": 2},
        {"key": "3", "task": {"method": "a", "inst": "x"}, "objective": 3},
    ]
    table = summary_table(records, group_by=("inst", "method"), columns=("objective",), stats=("mean",))
    body = [[c.strip() for c in l.strip("|").split("|")] for l in table.splitlines()[2:]]
    assert body == [["x", "a", "2", "0", "2.125"], ["y", "a", "1", "0", "2"]]
    with pytest.raises(BenchError, match="unknown stats"):
        summary_table(records, stats=("median",))


def test_summary_table_as_csv_and_json_and_unknown_fields_refused():
    import csv
    import io
    import json

    records = [{"key": "1", "task": {"method": "a"}, "objective": 1.5, "wall_time": 0.25},
               {"key": "2", "task": {"method": "b"}, "status": "error", "error": "boom"}]
    rows = list(csv.reader(io.StringIO(summary_table(records, columns=("objective",), stats=("sum",), fmt="csv"))))
    assert rows == [["method", "n", "errors", "objective sum"], ["a", "1", "0", "1.5"], ["b", "1", "1", "-"]]
    parsed = json.loads(summary_table(records, columns=("objective",), stats=("sum",), fmt="json"))
    assert parsed == [{"method": "a", "n": 1, "errors": 0, "objective sum": 1.5},
                      {"method": "b", "n": 1, "errors": 1, "objective sum": None}]
    with pytest.raises(BenchError, match="'objectve'"):
        summary_table(records, columns=("objectve",))
    with pytest.raises(BenchError, match="unknown format"):
        summary_table(records, fmt="xlsx")
