"""Bounded parallel S3 calls per object: how many are in flight, and what a failure leaves."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.stages.per_object import CALLS_IN_FLIGHT, each_object

# How many at once the bound must at least allow (a Lambda's copies are worth running in parallel only so).
AT_LEAST = 8


class Tracker:
    """A copy that lasts until AT_LEAST copies have run at once (or 2 s), counting how many run at once.

    Waiting for the others, not sleeping a fixed moment: on a busy machine, a copy's fixed 10 ms could end
    before the pool had started the eighth thread, and the bound would look smaller than it is."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.lock = threading.Condition()
        self.running = 0
        self.most = 0
        self.done: list[str] = []
        self.fail_on = fail_on
        self.gave_up = False

    def __call__(self, key: str) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.lock.notify_all()
            if not self.lock.wait_for(lambda: self.most >= AT_LEAST or self.gave_up, timeout=2):
                self.gave_up = True  # fewer at once than AT_LEAST: the rest need not wait to show it
        time.sleep(0.001)
        with self.lock:
            self.running -= 1
            self.done.append(key)
        if key == self.fail_on:
            raise RuntimeError(f"S3 refused {key}")


def test_copies_run_many_at_once_and_never_more_than_the_bound() -> None:
    copy = Tracker()
    each_object(copy, [f"assets/{n}.js" for n in range(100)])
    assert sorted(copy.done) == sorted(f"assets/{n}.js" for n in range(100))
    assert AT_LEAST <= copy.most <= CALLS_IN_FLIGHT


def test_a_failed_copy_is_raised_once_every_copy_started_has_ended() -> None:
    copy = Tracker(fail_on="assets/3.js")
    with pytest.raises(RuntimeError, match=r"S3 refused assets/3\.js"):
        each_object(copy, [f"assets/{n}.js" for n in range(40)])
    assert copy.running == 0  # nothing left running behind the failed step
    assert len(copy.done) == 40


def test_one_copy_runs_in_the_callers_thread() -> None:
    seen: list[str] = []
    each_object(lambda key: seen.append(threading.current_thread().name), ["index.html"])
    assert seen == [threading.current_thread().name]
