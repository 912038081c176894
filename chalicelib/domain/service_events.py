"""What AWS's services say about the resources a launch waits on, read from their EventBridge events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.event_pattern import WATCHED

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

# RDS's event ids for a manual snapshot: created (ready to restore from), and deleted under the launch.
SNAPSHOT_CREATED = {"RDS-EVENT-0042"}
SNAPSHOT_GONE = {"RDS-EVENT-0041"}

Verdict = Literal["done", "failed", "progress"]


class Notice(BaseModel):
    """One event, as a waiting launch reads it: which resource, what became of it and why."""

    resource: str  # the ARN the launch waits on
    account: str
    region: str
    kind: Literal["rollout", "migration", "snapshot", "alarm", "canary"]
    verdict: Verdict
    reason: str
    deployment_id: str | None = None  # a rollout's: only the launch's own deployment counts
    task: dict[str, Any] | None = None  # a task's state as the event gives it: whose exit code counts is the launch's
    happened_at: datetime | None = None  # when the service says it happened (an alarm's state change)
    canary_name: str | None = None
    canary_run: dict[str, Any] | None = None  # a canary's run as GetCanaryRuns names its fields
    event_id: str = ""


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DeploymentDetail(_Detail):
    event_type: str = Field(alias="eventType")
    event_name: str = Field(alias="eventName")
    deployment_id: str = Field(alias="deploymentId")
    reason: str = ""


class ContainerState(_Detail):
    name: str
    exit_code: int | None = Field(default=None, alias="exitCode")
    reason: str = ""


class TaskDetail(_Detail):
    task_arn: str = Field(alias="taskArn")
    last_status: str = Field(alias="lastStatus")
    started_by: str = Field(default="", alias="startedBy")
    stopped_reason: str = Field(default="", alias="stoppedReason")
    containers: list[ContainerState] = Field(default_factory=list)


class SnapshotDetail(_Detail):
    source_arn: str = Field(alias="SourceArn")
    event_id: str = Field(alias="EventID")
    message: str = Field(default="", alias="Message")
    source_type: str = Field(default="", alias="SourceType")


class AlarmState(_Detail):
    value: str
    reason: str = ""
    timestamp: str = ""

    @property
    def changed_at(self) -> datetime | None:
        """CloudWatch writes `2019-10-02T17:04:40.989+0000`."""
        try:
            return datetime.strptime(self.timestamp, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            return None


class AlarmDetail(_Detail):
    alarm_name: str = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")


class CanaryRunTimeline(_Detail):
    started: str | int | float | None = None
    completed: str | int | float | None = None


class CanaryRunDetail(_Detail):
    canary_name: str = Field(alias="canary-name")
    canary_run_id: str = Field(alias="canary-run-id")
    test_run_status: str = Field(alias="test-run-status")
    state_reason: str = Field(default="", alias="state-reason")
    artifact_location: str = Field(default="", alias="artifact-location")
    timeline: CanaryRunTimeline = Field(default_factory=CanaryRunTimeline, alias="canary-run-timeline")


def _moment(value: str | int | float | None) -> datetime | None:
    """A run's time as Synthetics' event writes it: epoch seconds (AWS's example), milliseconds, or ISO 8601."""
    if value is None:
        return None
    try:
        if isinstance(value, int | float) or str(value).isdigit():
            number = float(value)
            return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def task_outcome(task: TaskDetail | dict[str, Any], container: str) -> tuple[bool | None, str]:
    """(None while running, True for exit code 0, False otherwise; and why) of a task, from its event or
    its description (describe_tasks names the same fields)."""
    detail = task if isinstance(task, TaskDetail) else TaskDetail.model_validate(task)
    if detail.last_status != "STOPPED":
        return None, f"migration task {detail.last_status or 'PENDING'}"
    named = [c for c in detail.containers if c.name == container]
    exit_code = named[0].exit_code if named else None
    if exit_code == 0:
        return True, "migration task exited 0"
    reason = detail.stopped_reason
    if exit_code is None:
        return False, f"migration container {container} never ran: {reason or 'no exit code'}"
    return False, f"migration container {container} exited {exit_code}: {reason}"


def notice_of(event: dict[str, Any]) -> Notice | None:
    """What the event says about a resource a launch may wait on; None for an event no launch waits for
    (another detail-type, a snapshot not yet made, an alarm going back to OK)."""
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel  # only where events arrive

    try:
        envelope = EventBridgeModel.model_validate(event)
    except ValidationError:
        return None
    if envelope.detail_type not in WATCHED.get(envelope.source, []):
        return None
    where = {"account": envelope.account, "region": envelope.region, "event_id": envelope.id}
    try:
        if envelope.detail_type == "ECS Deployment State Change":
            return _deployment(envelope, DeploymentDetail.model_validate(envelope.detail), where)
        if envelope.detail_type == "ECS Task State Change":
            return _task(TaskDetail.model_validate(envelope.detail), where)
        if envelope.detail_type == "RDS DB Snapshot Event":
            return _snapshot(SnapshotDetail.model_validate(envelope.detail), where)
        if envelope.source == "aws.synthetics":
            return _canary_run(CanaryRunDetail.model_validate(envelope.detail), where)
        return _alarm(envelope, AlarmDetail.model_validate(envelope.detail), where)
    except ValidationError:
        return None


def _deployment(envelope: EventBridgeModel, detail: DeploymentDetail, where: dict[str, str]) -> Notice | None:
    if not envelope.resources:
        return None
    verdict: Verdict = {
        "SERVICE_DEPLOYMENT_COMPLETED": "done",
        "SERVICE_DEPLOYMENT_FAILED": "failed",
    }.get(detail.event_name, "progress")  # type: ignore[assignment]
    return Notice(
        resource=envelope.resources[0],
        kind="rollout",
        verdict=verdict,
        reason=detail.reason or detail.event_name,
        deployment_id=detail.deployment_id,
        **where,
    )


def _task(detail: TaskDetail, where: dict[str, str]) -> Notice | None:
    return Notice(
        resource=detail.task_arn,
        kind="migration",
        verdict="done" if detail.last_status == "STOPPED" else "progress",
        reason=detail.stopped_reason or detail.last_status,
        task=detail.model_dump(by_alias=True),
        **where,
    )


def _snapshot(detail: SnapshotDetail, where: dict[str, str]) -> Notice | None:
    if detail.event_id in SNAPSHOT_CREATED:
        verdict: Verdict = "done"
    elif detail.event_id in SNAPSHOT_GONE:
        verdict = "failed"
    else:
        verdict = "progress"
    return Notice(
        resource=detail.source_arn,
        kind="snapshot",
        verdict=verdict,
        reason=f"{detail.event_id}: {detail.message}",
        **where,
    )


def _alarm(envelope: EventBridgeModel, detail: AlarmDetail, where: dict[str, str]) -> Notice | None:
    if not envelope.resources:
        return None
    verdict: Verdict = "failed" if detail.state.value == "ALARM" else "progress"
    return Notice(
        resource=envelope.resources[0],
        kind="alarm",
        verdict=verdict,
        reason=f"alarm {detail.alarm_name} is in {detail.state.value}: {detail.state.reason}",
        happened_at=detail.state.changed_at,
        **where,
    )


def _canary_run(detail: CanaryRunDetail, where: dict[str, str]) -> Notice | None:
    """A canary's run ended: PASSED or FAILED, with its id, reason and times as GetCanaryRuns would give them."""
    state = "PASSED" if detail.test_run_status == "PASSED" else "FAILED"
    run = {
        "Id": detail.canary_run_id,
        "Name": detail.canary_name,
        "Status": {"State": state, "StateReason": detail.state_reason},
        "Timeline": {"Started": _moment(detail.timeline.started), "Completed": _moment(detail.timeline.completed)},
        "ArtifactS3Location": detail.artifact_location,
    }
    return Notice(
        resource=f"arn:aws:synthetics:{where['region']}:{where['account']}:canary:{detail.canary_name}",
        kind="canary",
        verdict="done" if state == "PASSED" else "failed",
        reason=f"canary {detail.canary_name} run {detail.canary_run_id} {state}: {detail.state_reason}",
        canary_name=detail.canary_name,
        canary_run=run,
        **where,
    )
