"""Beginning and finishing a launch: lock, final status, notification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.models import Caller, Launch, LaunchStatus, Stage
from chalicelib.domain.progress import RollbackProgress, UndoneChange
from chalicelib.platform.chat import read
from chalicelib.stages.lifecycle import final_status


@pytest.mark.parametrize(
    ("outcome", "error", "status"),
    [
        ("succeeded", None, LaunchStatus.SUCCEEDED),
        ("rolled_back", "SmokeTestFailed", LaunchStatus.ROLLED_BACK),
        ("rollback_failed", "RollbackIncomplete", LaunchStatus.ROLLBACK_FAILED),
        ("unchanged", "PreflightBlocked", LaunchStatus.BLOCKED),
        ("unchanged", "ApprovalRejected", LaunchStatus.REJECTED),
        ("unchanged", "States.Timeout", LaunchStatus.EXPIRED),
        ("unchanged", "Lambda.Unknown", LaunchStatus.FAILED),
        ("unchanged", "LaunchAborted", LaunchStatus.ABORTED),
    ],
)
def test_final_status_follows_outcome_and_error(outcome: Any, error: str | None, status: LaunchStatus) -> None:
    assert final_status(outcome, error) == status


def test_begin_takes_the_lock_and_hands_over_the_deadlines(
    store: Any, launch: Launch, profile: Any, run_stage: Any
) -> None:
    deadlines = run_stage("begin_launch", launch.launch_id)
    assert deadlines["rollout_deadline_seconds"] == profile.backend.deadline_seconds
    assert deadlines["migration_deadline_seconds"] == profile.backend.migration.deadline_seconds
    assert deadlines["snapshot_deadline_seconds"] == profile.database.snapshot_deadline_seconds
    assert store.lock_holder("local") == launch.launch_id
    assert store.get_launch(launch.launch_id).status == LaunchStatus.PREFLIGHT


def test_finish_after_a_rollback_releases_the_lock_and_notifies(
    aws: Any, store: Any, launch: Launch, profile: Any, finish: Any, run_stage: Any
) -> None:
    topic = aws("sns").create_topic(Name="notifications")["TopicArn"]
    queue = aws("sqs").create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    run_stage("begin_launch", launch.launch_id)
    for status in (LaunchStatus.AWAITING_APPROVAL, LaunchStatus.DEPLOYING):
        store.set_status(launch.launch_id, status)
    error = {"Error": "SmokeTestFailed", "Cause": json.dumps({"errorMessage": "health: status 503"})}
    assert finish(launch.launch_id, "rolled_back", error, topic)["status"] == "ROLLED_BACK"
    stored = store.get_launch(launch.launch_id)
    assert stored.error == {"error": "SmokeTestFailed", "cause": "health: status 503"}
    assert stored.stage == Stage.FINISH
    assert store.lock_holder("local") is None
    message = read(json.loads(aws("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])["Message"])
    assert message["status"] == "ROLLED_BACK"


def test_finish_twice_changes_nothing_the_second_time(
    aws: Any, store: Any, launch: Launch, profile: Any, finish: Any, run_stage: Any
) -> None:
    run_stage("begin_launch", launch.launch_id)
    error = {"Error": "PreflightBlocked", "Cause": "versioning"}
    finish(launch.launch_id, "unchanged", error, "")
    events = len(store.timeline(launch.launch_id))
    assert finish(launch.launch_id, "unchanged", error, "")["status"] == "BLOCKED"
    assert len(store.timeline(launch.launch_id)) == events


def test_finish_never_releases_another_launchs_lock(aws: Any, store: Any, launch: Launch, finish: Any) -> None:
    store.acquire_lock("local", "someone-else", 600)
    finish(launch.launch_id, "unchanged", {"Error": "EnvironmentLocked", "Cause": ""}, "")
    assert store.lock_holder("local") == "someone-else"
    assert store.get_launch(launch.launch_id).status == LaunchStatus.FAILED


def test_a_rejection_without_a_cause_is_explained_from_the_approvals(
    aws: Any, store: Any, launch: Launch, finish: Any
) -> None:
    from datetime import UTC, datetime

    from chalicelib.domain.models import Approval, ApprovalRequest

    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    store.set_status(launch.launch_id, LaunchStatus.AWAITING_APPROVAL)
    moment = datetime.now(UTC)
    request = ApprovalRequest(
        approval_id="f" * 32,
        launch_id=launch.launch_id,
        role="qa_lead",
        approvers=["q@x"],
        requested_at=moment,
        expires_at=moment,
    )
    store.open_approval_gate(launch.launch_id, "token", [request], moment)
    store.record_decision(
        launch.launch_id,
        Approval(role="qa_lead", decision="rejected", approver="q@x", comment="flaky login", decided_at=moment),
        request.approval_id,
    )
    finish(launch.launch_id, "unchanged", {"Error": "ApprovalRejected", "Cause": ""}, "")
    stored = store.get_launch(launch.launch_id)
    assert stored.status == LaunchStatus.REJECTED
    assert stored.error == {"error": "ApprovalRejected", "cause": "qa_lead (q@x) rejected: flaky login"}


@pytest.fixture
def finish(run_stage: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs the finish Lambda's stage: `finish(launch_id, outcome, caught error, notifications topic)`."""
    from chalicelib.platform.settings import settings

    def call(launch_id: str, outcome: str, error: dict[str, str] | None, topic: str = "") -> dict[str, Any]:
        monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", topic)
        settings.cache_clear()
        return run_stage("finish_launch", launch_id, outcome=outcome, **({"error": error} if error else {}))

    return call


def _subscribed_queue(aws: Any, topic: str) -> str:
    queue = aws("sqs").create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return queue


def _failed_rollback(store: Any, launch: Launch, run_stage: Any) -> None:
    """A launch that changed the backend and frontend, then could not undo the backend."""
    from chalicelib.domain.models import Change

    run_stage("begin_launch", launch.launch_id)
    for status in (LaunchStatus.AWAITING_APPROVAL, LaunchStatus.DEPLOYING, LaunchStatus.ROLLING_BACK):
        store.set_status(launch.launch_id, status)
    store.record_change(launch.launch_id, Change.FRONTEND)
    store.record_change(launch.launch_id, Change.BACKEND)
    store.record_result(
        launch.launch_id,
        Stage.ROLLBACK,
        RollbackProgress(
            started_at=datetime.now(UTC),
            undone={"frontend": UndoneChange(settled=True)},
            left=["backend: ClientError: AccessDenied"],
            settled=False,
        ),
    )


ROLLBACK_ERROR = {"Error": "RollbackIncomplete", "Cause": json.dumps({"errorMessage": "backend: AccessDenied"})}


def test_a_failed_rollback_keeps_the_lock_without_a_lease_and_pages_with_what_is_left(
    aws: Any, store: Any, launch: Launch, profile: Any, finish: Any, run_stage: Any
) -> None:
    topic = aws("sns").create_topic(Name="notifications")["TopicArn"]
    queue = _subscribed_queue(aws, topic)
    _failed_rollback(store, launch, run_stage)
    result = finish(launch.launch_id, "rollback_failed", ROLLBACK_ERROR, topic)
    assert result["status"] == LaunchStatus.ROLLBACK_FAILED
    assert store.lock_holder("local") == launch.launch_id
    lock = store.lock("local")
    assert lock is not None
    assert lock.lease_expires_at.year == 9999
    assert "rollback of launch" in lock.held_because
    body = json.loads(aws("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert body["Subject"].startswith("[local] ACTION NEEDED")
    message = read(body["Message"])
    assert message["manual_steps"][0] == "undo by hand: backend: ClientError: AccessDenied"
    assert message["manual_steps"][-1].startswith("then run: launchctl unlock local")
    assert body["MessageAttributes"]["severity"]["Value"] == "page"


def test_a_finish_retried_after_the_status_was_written_still_notifies(
    aws: Any, store: Any, launch: Launch, profile: Any, finish: Any, run_stage: Any
) -> None:
    topic = aws("sns").create_topic(Name="notifications")["TopicArn"]
    queue = _subscribed_queue(aws, topic)
    _failed_rollback(store, launch, run_stage)
    # The first attempt wrote the final status, then Lambda timed out before it notified.
    store.set_status(launch.launch_id, LaunchStatus.ROLLBACK_FAILED)
    finish(launch.launch_id, "rollback_failed", ROLLBACK_ERROR, topic)
    assert store.lock_holder("local") == launch.launch_id
    assert len(aws("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]) == 1
    finish(launch.launch_id, "rollback_failed", ROLLBACK_ERROR, topic)
    assert aws("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []


RILEY = Caller(
    kind="iam",
    subject="arn:aws:iam::123456789012:user/riley.release@acme.example",
    name="riley.release@acme.example",
)


def test_unlock_releases_a_held_environment_and_writes_who_and_why(
    aws: Any, store: Any, launch: Launch, profile: Any, finish: Any, run_stage: Any
) -> None:
    from chalicelib.api.launches import unlock_environment
    from chalicelib.domain.models import UnlockRequest

    _failed_rollback(store, launch, run_stage)
    finish(launch.launch_id, "rollback_failed", ROLLBACK_ERROR, "")
    answer = unlock_environment(store, "local", UnlockRequest(reason="redeployed acme-api:41 by hand"), RILEY)
    assert answer["was_held_by"] == launch.launch_id
    assert store.lock_holder("local") is None
    last = store.timeline(launch.launch_id)[-1]
    assert last.kind == "unlocked"
    assert "riley.release@acme.example unlocked local" in last.message
    assert "redeployed acme-api:41 by hand" in last.message


def test_unlock_refuses_while_the_holding_launch_still_runs(
    store: Any, launch: Launch, profile: Any, run_stage: Any
) -> None:
    from chalicelib.api.launches import LaunchStillRunning, unlock_environment
    from chalicelib.domain.models import UnlockRequest

    run_stage("begin_launch", launch.launch_id)
    with pytest.raises(LaunchStillRunning):
        unlock_environment(store, "local", UnlockRequest(reason="want to launch now"), RILEY)
    assert store.lock_holder("local") == launch.launch_id


def test_an_abort_honoured_at_the_first_change_ends_aborted_and_a_later_one_rolled_back() -> None:
    assert final_status("rolled_back", "LaunchAborted", changed=False) == LaunchStatus.ABORTED
    assert final_status("rolled_back", "LaunchAborted", changed=True) == LaunchStatus.ROLLED_BACK
    assert final_status("rolled_back", "SmokeTestFailed", changed=False) == LaunchStatus.ROLLED_BACK


def _abort_event(reason: str) -> Any:
    from chalicelib.domain.models import TimelineEvent

    return TimelineEvent(at=datetime.now(UTC), kind="abort_requested", message=f"asked to abort: {reason}")


def test_an_abort_is_recorded_once_and_only_while_the_launch_runs(store: Any, launch: Launch) -> None:
    from chalicelib.store import LaunchHasEnded

    first = {"aborted_by": "sam", "reason": "wrong build", "at": "t1"}
    assert store.request_abort(launch.launch_id, first, _abort_event("wrong build")) is None
    again = {"aborted_by": "kim", "reason": "again", "at": "t2"}
    assert store.request_abort(launch.launch_id, again, _abort_event("again")) == first
    assert store.get_launch(launch.launch_id).abort == first
    assert [event.message for event in store.timeline(launch.launch_id) if event.kind == "abort_requested"] == [
        "asked to abort: wrong build"
    ]
    store.set_status(launch.launch_id, LaunchStatus.FAILED)
    with pytest.raises(LaunchHasEnded):
        store.request_abort(launch.launch_id, first, _abort_event("wrong build"))


def test_a_stage_that_finds_an_abort_request_refuses_to_start(store: Any, launch: Launch, run_stage: Any) -> None:
    from chalicelib.domain.errors import LaunchAborted
    from chalicelib.stages.table import STAGES

    store.request_abort(
        launch.launch_id, {"aborted_by": "sam", "reason": "wrong build", "at": "t"}, _abort_event("wrong build")
    )
    with pytest.raises(LaunchAborted, match="aborted by sam: wrong build"):
        run_stage("deploy_frontend", launch.launch_id)
    assert store.get_launch(launch.launch_id).status == LaunchStatus.REQUESTED  # it entered nothing
    assert store.timeline(launch.launch_id)[-1].kind == "aborting"
    # Undoing, and ending, are what an abort asks for; the rollback point changes nothing.
    assert sorted(name for name, spec in STAGES.items() if not spec.honours_abort) == [
        "finish_launch",
        "record_rollback_point",
        "roll_back",
        "wait_for_restore",
    ]


def test_the_finish_records_what_the_release_served_tells_the_channel_and_emits_it(
    aws: Any, store: Any, launch: Launch, profile: Any, finish: Any, run_stage: Any, emitted: list[dict[str, Any]]
) -> None:
    from datetime import timedelta

    from chalicelib.domain.models import Change
    from chalicelib.domain.progress import BackendProgress, RevisionFigures, TrafficStep

    topic = aws("sns").create_topic(Name="notifications")["TopicArn"]
    queue = _subscribed_queue(aws, topic)
    run_stage("begin_launch", launch.launch_id)
    for status in (LaunchStatus.AWAITING_APPROVAL, LaunchStatus.DEPLOYING):
        store.set_status(launch.launch_id, status)
    store.record_change(launch.launch_id, Change.BACKEND)
    began = datetime.now(UTC) - timedelta(minutes=3)
    store.record_result(
        launch.launch_id, Stage.BACKEND, BackendProgress(phase="rolling", rollout="failed", rolling_since=began)
    )
    group = "targetgroup/acme-green/6d0ecf831eec9f09"
    step = TrafficStep(
        weight=10,
        target_group=group,
        started_at=began,
        judged_at=began + timedelta(minutes=2),
        outcome="fail",
        new=RevisionFigures(requests=30, errors=6, latency_points_ms=[150.0]),
        old=RevisionFigures(requests=270, errors=0, latency_points_ms=[120.0]),
        error_p_value=0.0001,
    )
    store.append_event(launch.launch_id, "traffic_step", "judged", Stage.BACKEND, step.model_dump(mode="json"))
    dimensions = [
        {"Name": "TargetGroup", "Value": group},
        {"Name": "LoadBalancer", "Value": profile.bake.load_balancer},
    ]
    aws("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": began, "Value": 30},
            {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": began, "Value": 6},
        ],
    )
    error = {"Error": "BackendRolloutFailed", "Cause": "ECS rolled the deployment back"}
    result = finish(launch.launch_id, "rolled_back", error, topic)
    assert (result["exposure"]["requests"], result["exposure"]["errors"]) == (30, 6)
    finished = next(e for e in store.timeline(launch.launch_id) if e.kind == "finished")
    assert finished.details["exposure"]["requests"] == 30
    assert store.get_launch(launch.launch_id).results.finish is not None
    said = read(json.loads(aws("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])["Message"])
    assert "Traffic step 10 % to the release: failed; release 30 requests, 6 failed" in said["description"]
    assert "errors p=0.0001" in said["description"]
    assert "The release's revision served 30 requests (6 failed), the release's target group" in said["description"]
    ended = next(line for line in emitted if "LaunchesRolledBack" in line)
    assert (ended["ReleaseExposedRequests"], ended["ReleaseExposedErrors"]) == ([30.0], [6.0])
