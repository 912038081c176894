"""The controller's metrics: embedded metric format lines, once each, even when the step that emits is retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.models import Launch, LaunchStatus, Stage, TimelineEvent
from chalicelib.platform import telemetry


def test_a_line_is_cloudwatchs_embedded_metric_format_in_one_namespace_by_environment(
    emitted: list[dict[str, Any]],
) -> None:
    telemetry.emit("production", counts={"LaunchesStarted": 1}, seconds={"LaunchDuration": 12.3456}, launch_id="x")
    [line] = emitted
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "LaunchController"
    assert directive["Dimensions"] == [["environment", "service"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "LaunchesStarted": "Count",
        "LaunchDuration": "Seconds",
    }
    assert (line["environment"], line["LaunchesStarted"], line["LaunchDuration"]) == ("production", [1.0], [12.346])
    assert line["launch_id"] == "x"  # a property to find it by, not a dimension


def test_a_finish_emits_the_end_once_even_when_retried(
    emitted: list[dict[str, Any]], store: Any, launch: Launch, run_stage: Any
) -> None:
    run_stage("begin_launch", launch.launch_id)
    error = {"Error": "PreflightBlocked", "Cause": "versioning off"}
    run_stage("finish_launch", launch.launch_id, outcome="unchanged", error=error)
    run_stage("finish_launch", launch.launch_id, outcome="unchanged", error=error)  # a retried step
    ends = [line for line in emitted if "LaunchesBlocked" in line]
    assert len(ends) == 1
    assert ends[0]["launch_id"] == launch.launch_id
    assert store.get_launch(launch.launch_id).status == LaunchStatus.BLOCKED


def _event(at: datetime, stage: Stage, kind: str = "note", message: str = "") -> TimelineEvent:
    return TimelineEvent(at=at, kind=kind, stage=stage, message=message)


def test_each_stage_lasts_from_its_first_event_to_the_next_stages_first() -> None:
    start = datetime(2026, 11, 29, tzinfo=UTC)
    timeline = [
        _event(start, Stage.START),
        _event(start + timedelta(seconds=1), Stage.PREFLIGHT),
        _event(start + timedelta(seconds=2), Stage.PREFLIGHT),
        _event(start + timedelta(seconds=4), Stage.APPROVALS),
        _event(start + timedelta(seconds=64), Stage.ROLLBACK_POINT),
        _event(start + timedelta(seconds=65), Stage.FINISH),
    ]
    assert telemetry.stage_durations(timeline, start + timedelta(seconds=66)) == {
        "preflight": 3.0,
        "approvals": 60.0,
        "rollback_point": 2.0,
    }
