"""An execution that ended without its launch's finish: the launch is ended truthfully, once, and people paged."""

from __future__ import annotations

from typing import Any

from chalicelib.executions import ExecutionEnded, execution_ended
from chalicelib.models import Change, Launch, LaunchStatus
from tests.conftest import move_to

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:launch-controller-launch:"


class RecordingTopic:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> None:
        self.published.append(kwargs)


def _running(store: Any, launch: Launch, status: LaunchStatus) -> Launch:
    store.acquire_lock("local", launch.launch_id, 3600)
    store.set_execution(launch.launch_id, EXECUTION + launch.launch_id)
    move_to(store, launch.launch_id, status)
    return store.get_launch(launch.launch_id)


def _ended(launch: Launch, status: str = "FAILED", arn: str | None = None) -> ExecutionEnded:
    return ExecutionEnded(
        executionArn=arn or EXECUTION + launch.launch_id,
        name=launch.launch_id,
        status=status,
        error="States.Runtime",
        cause="the finish failed",
    )


def test_a_launch_that_changed_nothing_ends_failed_and_releases_the_environment(store: Any, launch: Launch) -> None:
    topic = RecordingTopic()
    running = _running(store, launch, LaunchStatus.AWAITING_APPROVAL)
    assert execution_ended(store, topic, "arn:topic", _ended(running)) is True
    ended = store.get_launch(launch.launch_id)
    assert (ended.status, ended.error["error"]) == (LaunchStatus.FAILED, "ExecutionFailed")
    assert store.lock_holder("local") is None
    assert topic.published[0]["Subject"].startswith("[local] ACTION NEEDED")


def test_a_launch_that_changed_something_ends_rollback_failed_and_holds_the_environment(
    store: Any, launch: Launch
) -> None:
    topic = RecordingTopic()
    running = _running(store, launch, LaunchStatus.BAKING)
    store.record_change(launch.launch_id, Change.BACKEND)
    execution_ended(store, topic, "arn:topic", _ended(store.get_launch(running.launch_id), "TIMED_OUT"))
    ended = store.get_launch(launch.launch_id)
    assert (ended.status, ended.error["error"]) == (LaunchStatus.ROLLBACK_FAILED, "ExecutionTimedOut")
    assert store.lock_holder("local") == launch.launch_id  # until a person has looked: launchctl unlock
    assert any("unlock" in step for step in store.timeline(launch.launch_id)[-1].details["manual_steps"])


def test_a_launch_the_finish_ended_or_another_execution_is_left_alone(store: Any, launch: Launch) -> None:
    topic = RecordingTopic()
    running = _running(store, launch, LaunchStatus.PREFLIGHT)
    assert execution_ended(store, topic, "arn:topic", _ended(running, arn=EXECUTION + "someone-else")) is False
    assert execution_ended(store, topic, "arn:topic", _ended(running)) is True
    assert execution_ended(store, topic, "arn:topic", _ended(running)) is False  # the event again
    assert len(topic.published) == 1
