"""The controller's metrics: CloudWatch embedded metric format lines (Powertools), one namespace, by environment.

Each is emitted once, where it happens, behind the write that makes it happen once: a launch started when
its record is created (a replayed start creates none), a launch's end and its durations when its final
status is written (a retried finish finds it written)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.models import Launch, TimelineEvent
    from chalicelib.domain.progress import Exposure

NAMESPACE = "LaunchController"
SERVICE = "launch-controller"


def to_stdout(line: str) -> None:
    # Lambda sends stdout to CloudWatch Logs, which turns each EMF line into its metrics.
    print(line, flush=True)


# Where the lines go: the function's log. The local stack collects them instead (emulator/localaws).
write: Callable[[str], None] = to_stdout


def emit(
    environment: str,
    counts: dict[str, float] | None = None,
    seconds: dict[str, float] | None = None,
    launch_id: str | None = None,
    **dimensions: str,
) -> None:
    """One EMF line: `counts` and `seconds` under the environment's (and `dimensions`') dimensions; the launch
    as a property, searchable in the log, not a dimension (one per launch would be a metric per launch)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit  # only when a metric is emitted

    if not counts and not seconds:
        return
    # Ephemeral: no metric set shared with another request of the same container.
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="environment", value=environment)
    for dimension, label in dimensions.items():
        metrics.add_dimension(name=dimension, value=label)
    if launch_id:
        metrics.add_metadata(key="launch_id", value=launch_id)
    for name, count in (counts or {}).items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    for name, took in (seconds or {}).items():
        metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=round(took, 3))
    write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")))


def controller(counts: dict[str, float], **dimensions: str) -> None:
    """One EMF line about the controller as a whole (the service, and `dimensions`, its dimensions): what its
    own alarms watch, whatever the environment."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit  # only when a metric is emitted

    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for dimension, label in dimensions.items():
        metrics.add_dimension(name=dimension, value=label)
    for name, count in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")))


# The launch's end, by final status.
ENDED = {
    "SUCCEEDED": "LaunchesSucceeded",
    "ROLLED_BACK": "LaunchesRolledBack",
    "ROLLBACK_FAILED": "LaunchesRollbackFailed",
    "BLOCKED": "LaunchesBlocked",
    "REJECTED": "LaunchesRejected",
    "EXPIRED": "LaunchesExpired",
    "ABORTED": "LaunchesAborted",
    "FAILED": "LaunchesFailed",
}


# What needs a person, whatever the environment (the controller's launch-needs-a-person alarm): a launch whose
# execution ended without its finish, a rollback that failed.
UNFINISHED = "LaunchesUnfinished"
ROLLBACKS_FAILED = "RollbacksFailed"


def launch_started(environment: str, launch_id: str) -> None:
    emit(environment, counts={"LaunchesStarted": 1}, launch_id=launch_id)


def launch_ended(
    launch: Launch, status: str, timeline: list[TimelineEvent], moment: datetime, exposure: Exposure | None = None
) -> None:
    """The launch's end, and what its timeline says it took: the whole launch, the wait for sign-off, the
    rollback, a breach to the rollback starting; the requests the release's revision served (and failed)
    before the end; then each stage's time, one line per stage."""
    environment = launch.request.environment
    seconds: dict[str, float] = {"LaunchDuration": (moment - launch.created_at).total_seconds()}
    asked = _first(timeline, lambda e: e.kind == "status" and e.message.endswith("-> AWAITING_APPROVAL"))
    decided = _first(timeline, lambda e: _left(e, "AWAITING_APPROVAL"))
    if asked and decided:
        seconds["ApprovalWait"] = (decided.at - asked.at).total_seconds()
    rolling = _first(timeline, lambda e: e.kind == "status" and e.message.endswith("-> ROLLING_BACK"))
    if rolling:
        seconds["RollbackDuration"] = (moment - rolling.at).total_seconds()
        breach = _first(timeline, lambda e: e.kind == "stage_failed" and e.details.get("error") == "BakeBreached")
        if breach:
            # From the alarm's own state change when CloudWatch's event said when; else from when it was heard.
            said = breach.details.get("happened_at")
            breached = datetime.fromisoformat(said) if said else breach.at
            seconds["BreachToRollback"] = max(0.0, (rolling.at - breached).total_seconds())
    launch_id = launch.launch_id
    counts: dict[str, float] = {ENDED.get(status, "LaunchesFailed"): 1}
    if exposure is not None and exposure.requests is not None:
        counts |= {"ReleaseExposedRequests": exposure.requests, "ReleaseExposedErrors": exposure.errors or 0}
    if exposure is not None and exposure.page_views is not None:
        counts |= {
            "ReleaseExposedPageViews": exposure.page_views,
            "ReleaseExposedPageErrors": exposure.page_errors or 0,
        }
    emit(environment, counts=counts, seconds=seconds, launch_id=launch_id)
    if status == "ROLLBACK_FAILED":
        controller(counts={ROLLBACKS_FAILED: 1})
    for stage, took in stage_durations(timeline, moment).items():
        emit(environment, seconds={"StageDuration": took}, launch_id=launch_id, stage=stage)


def stage_durations(timeline: list[TimelineEvent], moment: datetime) -> dict[str, float]:
    """From each stage's first event to the next stage's first event (the last: to `moment`)."""
    starts: list[tuple[str, datetime]] = []
    for event in timeline:
        stage = str(event.stage) if event.stage else None
        if stage and stage not in {"start", "finish"} and all(stage != seen for seen, _ in starts):
            starts.append((stage, event.at))
    if not starts:
        return {}
    ends = [at for _, at in starts[1:]] + [moment]
    return {stage: (end - start).total_seconds() for (stage, start), end in zip(starts, ends, strict=True)}


def _first(timeline: list[TimelineEvent], matches: Callable[[Any], bool]) -> TimelineEvent | None:
    return next((event for event in timeline if matches(event)), None)


def _left(event: TimelineEvent, status: str) -> bool:
    return event.kind == "status" and event.message.startswith(f"status {status} ->")
