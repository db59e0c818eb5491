"""Scale-out: the benchmark runner and the whole-network pipeline on joblib's dask backend, against a
local two-worker ``dask.distributed`` cluster, and the pipeline on a local ray cluster (when ray is
installed) give the same results as the local run."""

from pathlib import Path

import pytest

from mapopt.bench import run_bench
from mapopt.bench.tasks import solve_task, solve_tasks
from mapopt.pipeline import map_network, parse

distributed = pytest.importorskip("distributed", reason="needs the dask extra: pip install 'dask[distributed]'")

INSTANCES = Path(__file__).resolve().parents[1] / "instances" / "synthetic"
#: fields that depend on the machine, not on the result
TIMING = {"wall_time", "key"}


def results(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def layers(report):
    return [{k: v for k, v in layer.items() if k not in TIMING and k != "stages"}
            | {"stages": [{k: v for k, v in s.items() if k not in TIMING} for s in layer["stages"]]}
            for layer in report["layers"]]


def test_bench_and_pipeline_on_a_dask_cluster_match_the_local_run(tmp_path):
    tasks = solve_tasks(INSTANCES, "filter-ordering", ["greedy", "anneal"], seed=3)
    pipe = parse("full")
    local = run_bench(tasks, solve_task, tmp_path / "local.jsonl", jobs=2, progress=False)
    local_map = map_network(INSTANCES, pipe, jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        remote = run_bench(tasks, solve_task, tmp_path / "dask.jsonl", jobs=2, backend="dask", progress=False)
        remote_map = map_network(INSTANCES, pipe, jobs=2, backend="dask")
    assert all(r.get("status") != "error" for r in local + remote)
    assert results(remote) == results(local)
    assert layers(remote_map) == layers(local_map) and remote_map["totals"] == local_map["totals"]
    assert remote_map["valid"] and remote_map["exact"]


def test_pipeline_on_a_local_ray_cluster_matches_the_local_run():
    ray = pytest.importorskip("ray", reason="ray is optional (pip install ray); the README documents --backend ray")
    pipe = parse("full")
    local_map = map_network(INSTANCES, pipe, jobs=2)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        remote_map = map_network(INSTANCES, pipe, jobs=2, backend="ray")
    finally:
        ray.shutdown()
    assert layers(remote_map) == layers(local_map) and remote_map["totals"] == local_map["totals"]
    assert remote_map["valid"] and remote_map["exact"]
