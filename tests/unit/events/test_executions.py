"""An execution that ended without its launch's finish: the launch is ended truthfully, once, and people paged."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.models import Change, Launch, LaunchStatus
from chalicelib.events.executions import ExecutionEnded, execution_ended
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


def _machine_and_execution(aws: Any, launch: Launch) -> tuple[str, str]:
    """This controller's state machine (moto runs none of it: an execution stays RUNNING until stopped)."""
    import json

    machine = aws("stepfunctions").create_state_machine(
        name="launch-controller-launch",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]
    execution = aws("stepfunctions").start_execution(stateMachineArn=machine, name=launch.launch_id)["executionArn"]
    return machine, execution


def _status_change(execution: str, launch: Launch, account: str = "123456789012", region: str = "us-east-1") -> dict:
    import json
    from pathlib import Path

    event = json.loads((Path(__file__).parents[2] / "fixtures/events/states-execution-failed.json").read_text())
    event |= {"account": account, "region": region, "resources": [execution]}
    event["detail"] |= {"executionArn": execution, "name": launch.launch_id, "status": "FAILED"}
    return dict(event)


def test_an_execution_end_is_acted_on_only_as_step_functions_itself_tells_it(
    aws: Any, store: Any, launch: Launch, monkeypatch: Any
) -> None:
    """EventBridge invokes execution_ended with whatever was put on the bus: an event from another account,
    or one saying FAILED for an execution still RUNNING, ended a waiting launch and released its lock. The
    function asks Step Functions, and acts only on an execution of its own machine that has ended."""
    import copy

    from chalice.test import Client

    from app import app
    from chalicelib.events import handlers
    from chalicelib.platform.settings import settings

    machine, execution = _machine_and_execution(aws, launch)
    monkeypatch.setenv("LAUNCH_STATE_MACHINE_ARN", machine)
    settings.cache_clear()
    monkeypatch.setattr(handlers, "launch_store", lambda: store)
    store.acquire_lock("local", launch.launch_id, 3600)
    store.set_execution(launch.launch_id, execution)
    move_to(store, launch.launch_id, LaunchStatus.AWAITING_APPROVAL)
    forged = [
        _status_change(execution, launch, account="999988887777"),  # another account's bus
        _status_change(execution, launch, region="eu-west-1"),
        _status_change(execution.replace("launch-controller-launch", "someone-elses"), launch),
        _status_change(execution, launch),  # this machine's, but the execution is still RUNNING
    ]
    with Client(app) as client:
        for event in forged:
            client.lambda_.invoke("execution_ended", copy.deepcopy(event))
        assert store.get_launch(launch.launch_id).status == LaunchStatus.AWAITING_APPROVAL
        assert store.lock_holder("local") == launch.launch_id
        aws("stepfunctions").stop_execution(executionArn=execution, error="Stopped", cause="by hand")
        client.lambda_.invoke("execution_ended", _status_change(execution, launch))
    ended = store.get_launch(launch.launch_id)
    assert (ended.status, ended.error["error"]) == (LaunchStatus.FAILED, "ExecutionAborted")  # as Step Functions says
    assert store.lock_holder("local") is None


def test_a_launch_ended_for_its_execution_is_sealed_with_the_evidence_key_like_any_other(
    aws: Any, store: Any, launch: Launch
) -> None:
    from chalicelib.api.launches import launch_evidence
    from chalicelib.domain.evidence_chain import verify

    key = aws("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    running = _running(store, launch, LaunchStatus.AWAITING_APPROVAL)
    execution_ended(store, RecordingTopic(), "arn:topic", _ended(running), kms=lambda: aws("kms"), evidence_key=key)
    document = launch_evidence(store, launch.launch_id, lambda arn: aws("kms").get_public_key(KeyId=arn)["PublicKey"])
    found = verify(document, public_key=aws("kms").get_public_key(KeyId=key)["PublicKey"])
    assert found.ok, found.problem
    assert found.sealed_through == len(document["timeline"])
