"""Classical readers and engines refuse sizes they cannot finish, in one line naming the file, the
field and the limit: 2BP sides beyond the engine's (and int64), too many items, p-median graphs whose
dense distance matrix would not fit, VBP demands expanding to too many items."""

import numpy as np
import pytest

from helpers import mapopt, one_line_error
from mapopt.classic import bp2d, pmed, vbp
from mapopt.engines import packing2d
from mapopt.errors import SolverError


def refusal(tmp_path, kind, text, name="inst"):
    path = tmp_path / name
    path.write_text(text)
    return one_line_error(mapopt("classic", kind, path, "--time-limit", "5", ok=False))


@pytest.mark.parametrize("text, words", [
    ("1\n99999999999999999999 5\n1 3 3\n", ["bin width 99999999999999999999", f"limit of {packing2d.MAX_SIDE}"]),
    ("1\n5 20000\n1 3 3\n", ["bin height 20000", "limit"]),
    ("1\n10 10\n1 99999999999999999999 3\n", ["larger than the 10x10 bin"]),
    (f"{packing2d.MAX_ITEMS + 1}\n10 10\n1 3 3\n", [f"{packing2d.MAX_ITEMS + 1} items", "limit"]),
])
def test_2bp_sizes_beyond_the_limits_are_one_line_errors(tmp_path, text, words):
    line = refusal(tmp_path, "2bp", text)
    assert "inst" in line and all(w in line for w in words), line


def test_pmed_graph_too_large_for_its_distance_matrix_is_refused(tmp_path):
    n = 200_000
    line = refusal(tmp_path, "pmed", f"{n} 2 5\n1 2 1\n2 3 1\n", "pmedbig.txt")
    assert "pmedbig" in line and f"{n} vertices" in line and f"limit of {pmed.MAX_VERTICES}" in line


@pytest.mark.parametrize("demand", [10**7, 10**12])
def test_vbp_demands_beyond_the_item_limit_are_refused(tmp_path, demand):
    line = refusal(tmp_path, "vbp", f"1\n100\n1\n10 {demand}\n", "dem.vbp")
    assert "dem" in line and f"total {demand} items" in line and f"limit of {vbp.MAX_ITEMS}" in line


def test_vbp_capacity_beyond_the_limit_is_refused(tmp_path):
    line = refusal(tmp_path, "vbp", "1\n99999999999999999999\n1\n10 3\n", "cap.vbp")
    assert "cap" in line and "capacity 99999999999999999999" in line and "limit" in line


def test_readers_take_sizes_at_their_limits():
    inst = bp2d.parse(f"1\n{packing2d.MAX_SIDE} 1\n1 {packing2d.MAX_SIDE} 1\n", "edge")
    assert inst.W == packing2d.MAX_SIDE and bp2d.solve(inst, "heuristic", 1)["bins"] == 1
    assert len(vbp.parse(f"1\n100\n1\n1 {vbp.MAX_ITEMS}\n", "full").sizes) == vbp.MAX_ITEMS


def test_the_2d_engine_refuses_what_it_cannot_hold_in_one_line():
    for args, words in [(([1], [1], packing2d.MAX_SIDE + 1, 5), "side above"),
                        (([2**70], [1], 10, 10), "beyond 64-bit"),
                        ((np.ones(packing2d.MAX_ITEMS + 1, dtype=np.int64), np.ones(packing2d.MAX_ITEMS + 1), 2, 2),
                         "more than")]:
        with pytest.raises(SolverError, match=words) as err:
            packing2d.check_items(*args)
        assert "\n" not in str(err.value)
