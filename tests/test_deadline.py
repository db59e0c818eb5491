"""The hard deadline around solvers that overrun their own limit: results and errors come back,
a run past its deadline is stopped."""

import time

import pytest

from mapopt.engines.deadline import GRACE, DeadlinePassed, call_with_deadline, checked


def test_a_result_and_an_error_come_back_from_the_child():
    assert call_with_deadline(divmod, 5.0, 7, 2) == (True, (3, 1))
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(divmod, 5.0, 1, 0)


def test_a_call_past_its_deadline_is_stopped():
    start = time.perf_counter()
    assert call_with_deadline(time.sleep, 0.2, 60) == (False, None)
    assert time.perf_counter() - start < 0.2 + GRACE + 5


def test_without_a_timeout_it_runs_in_this_process():
    seen = []
    assert call_with_deadline(seen.append, None, 1) == (True, None) and seen == [1]


def test_checked_loops_run_through_without_a_deadline_and_stop_once_it_passed():
    assert list(checked(range(5), None)) == list(range(5))
    assert list(checked(range(5), time.perf_counter() + 60)) == list(range(5))
    with pytest.raises(DeadlinePassed):
        list(checked(range(5), time.perf_counter() - 1))
