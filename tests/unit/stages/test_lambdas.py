"""Each stage Lambda, invoked as the state machine invokes it (Chalice's test client), against moto:
the status it enters, what it answers, what it keeps, and what it writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.models import Change, Launch, LaunchStatus, Stage
from tests.conftest import move_to


@pytest.fixture
def lambdas(store: Any) -> Iterator[Any]:
    """The app's Lambdas under Chalice's test client; `lambdas("begin_bake", launch_id)` answers the payload."""
    from chalice.test import Client

    from app import app

    with Client(app) as client:

        def invoke(name: str, launch_id: str, **event: Any) -> Any:
            return client.lambda_.invoke(name, {"launch_id": launch_id, **event})

        yield invoke


def test_begin_enters_preflight_and_answers_the_waits(store: Any, launch: Launch, lambdas: Any, profile: Any) -> None:
    answer = lambdas("begin_launch", launch.launch_id)
    assert answer.payload["rollout_deadline_seconds"] == profile.backend.deadline_seconds
    stored = store.get_launch(launch.launch_id)
    assert (stored.status, stored.stage) == (LaunchStatus.PREFLIGHT, Stage.PREFLIGHT)
    assert stored.results.start is not None
    assert store.lock_holder("local") == launch.launch_id


def test_begin_of_a_requested_rollback_enters_rolling_back(store: Any, launch: Launch, lambdas: Any) -> None:
    rollback = launch.model_copy(
        update={"launch_id": "local-20261128-000000-rollbk", "rollback_of": {"launch_id": launch.launch_id}}
    )
    store.create_launch(rollback)
    lambdas("begin_launch", rollback.launch_id)
    stored = store.get_launch(rollback.launch_id)
    assert (stored.status, stored.stage) == (LaunchStatus.ROLLING_BACK, Stage.ROLLBACK)


def test_begin_bake_enters_baking_once_and_answers_the_checkpoints_times(
    environment: Any, store: Any, launch: Launch, lambdas: Any
) -> None:
    move_to(store, launch.launch_id, LaunchStatus.VERIFYING)
    first = lambdas("begin_bake", launch.launch_id).payload
    assert [c["label"] for c in first["schedule"]] == ["T+2s", "T+4s"]
    assert first["watch_seconds"] > 4
    assert lambdas("begin_bake", launch.launch_id).payload == first  # a retried step
    stored = store.get_launch(launch.launch_id)
    assert (stored.status, stored.stage, stored.results.bake.verdict) == (LaunchStatus.BAKING, Stage.BAKE, "watching")
    entered = [event for event in store.timeline(launch.launch_id) if "-> BAKING" in event.message]
    assert len(entered) == 1


def test_roll_back_of_a_launch_that_changed_nothing_settles_at_once(store: Any, launch: Launch, lambdas: Any) -> None:
    move_to(store, launch.launch_id, LaunchStatus.DEPLOYING)
    assert lambdas("roll_back", launch.launch_id).payload["settled"] is True
    stored = store.get_launch(launch.launch_id)
    assert (stored.status, stored.stage) == (LaunchStatus.ROLLING_BACK, Stage.ROLLBACK)
    assert stored.results.rollback.undone == {}


def test_a_failing_stage_keeps_its_failure_and_enters_nothing_further(store: Any, launch: Launch, lambdas: Any) -> None:
    from chalicelib.domain.errors import RollbackIncomplete

    move_to(store, launch.launch_id, LaunchStatus.DEPLOYING)
    store.record_change(launch.launch_id, Change.BACKEND)  # a change without its rollback point
    with pytest.raises(RollbackIncomplete):
        lambdas("roll_back", launch.launch_id)
    stored = store.get_launch(launch.launch_id)
    assert stored.status == LaunchStatus.ROLLING_BACK
    last = store.timeline(launch.launch_id)[-1]
    assert (last.kind, last.details["error"]) == ("stage_failed", "RollbackIncomplete")


def test_finish_ends_the_launch_with_finished_last_and_answers_its_status(
    store: Any, launch: Launch, lambdas: Any
) -> None:
    lambdas("begin_launch", launch.launch_id)
    error = {"Error": "PreflightBlocked", "Cause": "versioning off"}
    assert lambdas("finish_launch", launch.launch_id, outcome="unchanged", error=error).payload["status"] == "BLOCKED"
    stored = store.get_launch(launch.launch_id)
    assert (stored.status, stored.results.finish.status) == (LaunchStatus.BLOCKED, "BLOCKED")
    assert store.timeline(launch.launch_id)[-1].kind == "finished"
    assert store.lock_holder("local") is None


def test_a_stage_called_for_a_launch_that_ended_does_nothing(store: Any, launch: Launch, lambdas: Any) -> None:
    lambdas("finish_launch", launch.launch_id, outcome="unchanged", error={"Error": "X", "Cause": ""})
    events = store.timeline(launch.launch_id)
    from chalicelib.store import LaunchHasEnded

    with pytest.raises(LaunchHasEnded):
        lambdas("begin_bake", launch.launch_id)
    assert store.timeline(launch.launch_id) == events
