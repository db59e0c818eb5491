"""The optional mtkahypar method: valid and exact through the simulator, never worse than its raw partition."""

from __future__ import annotations

import numpy as np
import pytest

from mapopt.engines.partition import Hypergraph, check_blocks
from mapopt.hardware import HardwareSpec, preset
from mapopt.instance import Instance, read_instance
from mapopt.problems.filter_ordering.problem import hypergraph, scale
from mapopt.solve import solve

mtkahypar = pytest.importorskip("mtkahypar")

from mapopt.engines.partition_mtkahypar import mtkahypar_blocks, repair  # noqa: E402
from mappings import sparse_layer  # noqa: E402

PROBLEM = "filter-ordering"


SPECS = {
    "orc": preset("orc"),  # g = 2
    # slices (3, 4): g = 4; 9 rows of 4-bit cells sum to 135, so an 8-bit ADC reads them unclipped
    "cell4": preset("orc").replace(cell_bits=4, adc_bits=8),
    "per_crossbar": preset("orc").replace(slice_layout="per_crossbar"),  # g = 8
    "g4": HardwareSpec(xbar_rows=64, xbar_cols=64, ou_rows=4, ou_cols=4, cell_bits=7, adc_bits=10),
}


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize("shape", [(40, 12), (60, 37), (9, 5)])
def test_mtkahypar_is_valid_exact_and_never_worse_than_its_raw_partition(spec_name, shape):
    inst = Instance(sparse_layer(*shape, 0.75, seed=shape[1]), SPECS[spec_name])
    r = solve(inst, PROBLEM, "mtkahypar", seed=3)
    assert r.report.valid and r.report.exact, r.report.violations
    assert r.objective == r.report.cost.ou_activations
    assert r.bound <= r.objective
    hg = hypergraph(inst)
    raw = check_blocks(hg, mtkahypar_blocks(hg, seed=3, threads=1, preset="deterministic"))
    assert r.objective <= scale(inst) * hg.cost(raw)[0]


def test_mtkahypar_on_a_real_layer_beats_natural_order():
    inst = read_instance("instances/resnet20/layer2.0.conv1.npz")
    natural = solve(inst, PROBLEM, "natural")
    r = solve(inst, PROBLEM, "mtkahypar", seed=0, workers=2)
    assert r.report.valid and r.report.exact
    assert r.objective < natural.objective


def test_same_seed_same_grouping():
    inst = Instance(sparse_layer(48, 40, 0.8, seed=11), SPECS["g4"])
    a, b = solve(inst, PROBLEM, "mtkahypar", seed=5), solve(inst, PROBLEM, "mtkahypar", seed=5)
    assert [g.tolist() for g in a.solution.groups] == [g.tolist() for g in b.solution.groups] and a.objective == b.objective


def test_repair_moves_surplus_vertices_into_blocks_with_room():
    rng = np.random.default_rng(0)
    hg = Hypergraph.from_supports([rng.random((20, 10)) < 0.4], g=4, h=3)
    fixed = check_blocks(hg, repair(hg, np.array([0] * 7 + [1, 1, 2])))
    assert np.bincount(fixed, minlength=hg.n_blocks).max() <= hg.g


def test_a_partition_not_finished_within_the_limit_is_none_and_the_method_descends_from_greedy():
    inst = Instance(sparse_layer(48, 40, 0.8, seed=11), SPECS["g4"])
    assert mtkahypar_blocks(hypergraph(inst), time_limit=0.0) is None
    r = solve(inst, PROBLEM, "mtkahypar", time_limit=1e-9)
    assert r.report.valid and r.report.exact and r.objective == r.report.cost.ou_activations
