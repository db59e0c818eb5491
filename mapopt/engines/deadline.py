"""Deadlines: the time left of an optional limit, shared by every method that splits one; loops that
give up when it passes (`checked`); and a hard deadline for solvers that overrun their own time limit
(HiGHS can: ERGO-Code/HiGHS#885)."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: seconds a solver may run past its own limit before it is killed
GRACE = 2.0
#: `checked` reads the clock every this many items (a read costs ~100 ns; a model item some microseconds)
CHECK_EVERY = 64


class DeadlinePassed(Exception):
    """The deadline passed inside a `checked` loop (a model being built): the caller gives up cleanly."""


def deadline_of(time_limit: float | None) -> float | None:
    """The ``perf_counter`` time `time_limit` seconds from now (None: no limit)."""
    return None if time_limit is None else time.perf_counter() + max(0.0, float(time_limit))


def time_left(deadline: float | None, floor: float = 0.0) -> float | None:
    """Seconds until `deadline`, at least `floor` (None: no limit)."""
    return None if deadline is None else max(floor, deadline - time.perf_counter())


def expired(deadline: float | None) -> bool:
    """Whether `deadline` has passed (never without a limit)."""
    return deadline is not None and time.perf_counter() >= deadline


def checked(items: Iterable[T], deadline: float | None, every: int = CHECK_EVERY) -> Iterator[T]:
    """`items`, raising `DeadlinePassed` once `deadline` has passed (looked at every `every` items)."""
    for t, item in enumerate(items):
        if t % every == 0 and expired(deadline):
            raise DeadlinePassed
        yield item


def call_with_deadline(fn: Callable[..., Any], timeout: float | None, *args: Any, grace: float = GRACE,
                       isolate: bool = False) -> tuple[bool, Any]:
    """``(True, fn(*args))``, or ``(False, None)`` when it has not returned after `timeout` + `grace`
    seconds: it then runs in a child process that is killed. Without a timeout it runs here, unless
    `isolate` (for libraries whose thread pools must never start here: a later fork would hang on them)."""
    if timeout is None and not isolate:
        return True, fn(*args)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_run, args=(send, fn, args), daemon=True)
    child.start()
    send.close()
    try:
        if receive.poll(None if timeout is None else timeout + grace):
            ok, value = receive.recv()
            if not ok:
                raise value
            return True, value
        return False, None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()


def _run(send, fn, args) -> None:
    """Child process: send back ``(True, result)`` or ``(False, exception)``."""
    try:
        send.send((True, fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - re-raised in the parent
        send.send((False, exc))
    finally:
        send.close()
