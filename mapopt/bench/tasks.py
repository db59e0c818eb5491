"""Solver benchmarks over instance files: the task list and the picklable function that runs one task."""

from __future__ import annotations

from pathlib import Path

from ..instance import instance_files, read_instance
from ..provenance import settings
from ..solve import solve


def solve_tasks(path: str | Path, problem: str, methods: list[str], time_limit: float | None = None,
                seed: int = 0, params: dict | None = None) -> list[dict]:
    """One task per instance file under `path` and method, instances in index order."""
    return [{"instance": str(f), "problem": problem, "method": m, "time_limit": time_limit, "seed": seed,
             "params": params or {}} for f in instance_files(path) for m in methods]


def solve_task(task: dict) -> dict:
    """Solve one task and flatten what a results table needs (the full cost report included)."""
    inst = read_instance(task["instance"])
    result = solve(inst, task["problem"], task["method"], task["time_limit"], task["seed"], **task.get("params", {}))
    summary = result.summary()
    cost = summary["cost"] or {}
    return {**summary, "settings": settings(task["instance"], hardware=inst.spec.to_dict()),
            "layer": inst.name, "n": inst.layer.n_inputs, "m": inst.layer.n_outputs,
            "crossbars": cost.get("crossbars"), "cycles": cost.get("cycles"),
            "energy_pj": (cost.get("energy_pj") or {}).get("total"), "area_um2": (cost.get("area_um2") or {}).get("total")}
