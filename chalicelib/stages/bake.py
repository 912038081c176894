"""Bake: the launch's own alarms beside the team's, checkpoints on timers; an alarm's event ends it at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.errors import BakeBreached
from chalicelib.models import Launch, Stage
from chalicelib.profiles import BakeConfig, EnvironmentProfile
from chalicelib.progress import BakeFigures, BakeProgress, Checkpoint, ScheduledCheckpoint
from chalicelib.store import LaunchStore
from chalicelib.waits import Outcome, Sighting, alarm_fired


def firing_alarms(cloudwatch: Any, names: list[str]) -> tuple[list[str], list[str]]:
    """(alarms in ALARM, alarms the profile names that do not exist)."""
    if not names:
        return [], []
    found: dict[str, str] = {}
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=names):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm["StateValue"]
    return sorted(n for n, state in found.items() if state == "ALARM"), sorted(set(names) - set(found))


def _metric_sum(cloudwatch: Any, load_balancer: str, metric: str, start: datetime, end: datetime) -> float | None:
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName=metric,
        Dimensions=[{"Name": "LoadBalancer", "Value": load_balancer}],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Sum"],
    ).get("Datapoints", [])
    return sum(point["Sum"] for point in points) if points else None


def _p95_ms(cloudwatch: Any, load_balancer: str, start: datetime, end: datetime) -> float | None:
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="TargetResponseTime",
        Dimensions=[{"Name": "LoadBalancer", "Value": load_balancer}],
        StartTime=start,
        EndTime=end,
        Period=60,
        ExtendedStatistics=["p95"],
    ).get("Datapoints", [])
    values = [point["ExtendedStatistics"]["p95"] for point in points if "p95" in point.get("ExtendedStatistics", {})]
    return round(max(values) * 1000, 1) if values else None


def read_figures(
    cloudwatch: Any, bake: BakeConfig, alarm_names: list[str], since: datetime, moment: datetime
) -> BakeFigures:
    """Alarms and the release's error rate and p95 latency since the bake began."""
    alarming, missing = firing_alarms(cloudwatch, alarm_names)
    if not bake.load_balancer:
        return BakeFigures(alarms_in_alarm=alarming, alarms_missing=missing)
    # CloudWatch wants at least one whole period in the window.
    start = min(since, moment - timedelta(seconds=60))
    errors = _metric_sum(cloudwatch, bake.load_balancer, "HTTPCode_Target_5XX_Count", start, moment)
    requests = _metric_sum(cloudwatch, bake.load_balancer, "RequestCount", start, moment)
    return BakeFigures(
        alarms_in_alarm=alarming,
        alarms_missing=missing,
        requests=requests,
        error_rate=(errors or 0.0) / requests if requests else None,
        p95_ms=_p95_ms(cloudwatch, bake.load_balancer, start, moment),
    )


def breaches(figures: BakeFigures, bake: BakeConfig) -> list[str]:
    found = [f"alarm {name} is in ALARM" for name in figures.alarms_in_alarm]
    if figures.error_rate is not None and figures.error_rate > bake.error_rate_threshold:
        found.append(f"error rate {figures.error_rate:.3%} above {bake.error_rate_threshold:.3%}")
    if figures.p95_ms is not None and figures.p95_ms > bake.p95_latency_threshold_ms:
        found.append(f"p95 latency {figures.p95_ms} ms above {bake.p95_latency_threshold_ms} ms")
    # User traffic flowing: the figures above mean nothing without it.
    requests = figures.requests or 0
    if bake.load_balancer and requests < bake.min_requests_per_checkpoint:
        found.append(
            f"too little traffic to judge the release: {requests:g} requests since the release, "
            f"fewer than {bake.min_requests_per_checkpoint}"
        )
    return found


def _label(seconds: int) -> str:
    return (
        f"T+{seconds // 3600}h"
        if seconds % 3600 == 0
        else f"T+{seconds // 60}min"
        if seconds % 60 == 0
        else f"T+{seconds}s"
    )


# The alarms a launch makes for its bake are named under its environment's role, so the role may make and
# delete those and no other: <role name>/<launch id>/<what>.
def launch_alarm_prefix(profile: EnvironmentProfile, launch_id: str) -> str:
    return f"{profile.target.role_arn.rsplit('/', 1)[-1]}/{launch_id}/"


def launch_alarms(profile: EnvironmentProfile, launch: Launch) -> list[dict[str, Any]]:
    """The PutMetricAlarm requests for the launch's own alarms on the profile's thresholds: error rate (5xx
    over requests, as metric math), p95 latency (an extended statistic) and, when the profile asks for
    one, a minimum of traffic. None without a load balancer to watch."""
    bake = profile.bake
    if not bake.load_balancer:
        return []
    prefix = launch_alarm_prefix(profile, launch.launch_id)
    dimensions = [{"Name": "LoadBalancer", "Value": bake.load_balancer}]
    tags = [
        {"Key": "launch-id", "Value": launch.launch_id},
        {"Key": "release-version", "Value": launch.request.version},
        {"Key": "environment", "Value": profile.name},
    ]
    common: dict[str, Any] = {
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ActionsEnabled": False,  # EventBridge hears every state change; the alarm itself notifies nobody
        "Tags": tags,
    }

    def count(metric_id: str, name: str) -> dict[str, Any]:
        return {
            "Id": metric_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dimensions},
                "Period": 60,
                "Stat": "Sum",
            },
        }

    alarms: list[dict[str, Any]] = [
        {
            **common,
            "AlarmName": prefix + "error-rate",
            "AlarmDescription": f"launch {launch.launch_id}: 5xx over requests above {bake.error_rate_threshold:.3%}",
            "Metrics": [
                count("errors", "HTTPCode_Target_5XX_Count"),
                count("requests", "RequestCount"),
                {
                    "Id": "rate",
                    "Label": "error rate",
                    "Expression": "IF(requests > 0, errors / requests, 0)",
                    "ReturnData": True,
                },
            ],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": bake.error_rate_threshold,
            "TreatMissingData": "notBreaching",
        },
        {
            **common,
            "AlarmName": prefix + "p95-latency",
            "AlarmDescription": f"launch {launch.launch_id}: p95 latency above {bake.p95_latency_threshold_ms} ms",
            "Namespace": "AWS/ApplicationELB",
            "MetricName": "TargetResponseTime",
            "Dimensions": dimensions,
            "ExtendedStatistic": "p95",
            "Period": 60,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": bake.p95_latency_threshold_ms / 1000,
            "TreatMissingData": "notBreaching",
        },
    ]
    if bake.min_requests_per_minute:
        alarms.append(
            {
                **common,
                "AlarmName": prefix + "traffic",
                "AlarmDescription": (
                    f"launch {launch.launch_id}: fewer than {bake.min_requests_per_minute} requests a minute"
                ),
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "RequestCount",
                "Dimensions": dimensions,
                "Statistic": "Sum",
                "Period": 60,
                "ComparisonOperator": "LessThanThreshold",
                "Threshold": bake.min_requests_per_minute,
                "TreatMissingData": "breaching",  # no traffic at all is the worst case of too little
            }
        )
    return alarms


def begin_bake(store: LaunchStore, launch: Launch, profile: EnvironmentProfile, cloudwatch: Any) -> BakeProgress:
    """Make the launch's alarms and set the checkpoints' times; from here the bake waits on events and timers."""
    state = launch.results.bake
    if state is not None:
        return state  # a retried step: the alarms are made, the times set
    moment = store.clock.now()
    made = []
    for alarm in launch_alarms(profile, launch):
        cloudwatch.put_metric_alarm(**alarm)
        made.append(alarm["AlarmName"])
    bake = profile.bake
    schedule = [
        ScheduledCheckpoint(
            offset_seconds=offset,
            label=_label(offset),
            at=moment + timedelta(seconds=offset),
            final=offset == bake.checkpoints[-1],
        )
        for offset in bake.checkpoints
    ]
    store.append_event(
        launch.launch_id,
        "bake_started",
        f"baking until {_label(bake.checkpoints[-1])}: checkpoints {', '.join(c.label for c in schedule)}; "
        f"watching {len(made) + len(bake.alarm_names)} alarm(s)",
        stage=Stage.BAKE,
        details={"launch_alarms": made, "team_alarms": bake.alarm_names},
    )
    return BakeProgress(
        started_at=moment,
        elapsed_seconds=0,
        checkpoints=[],
        schedule=schedule,
        launch_alarms=made,
        watch_seconds=bake.checkpoints[-1] + WATCH_MARGIN_SECONDS,
        last=BakeFigures(alarms_in_alarm=[], alarms_missing=[]),
        polls=0,
        verdict="watching",
    )


# The alarm watch outlasts the last checkpoint by this much: the checkpoint ends it, not its timeout.
WATCH_MARGIN_SECONDS = 300


def watched_alarms(profile: EnvironmentProfile, state: BakeProgress | None) -> list[str]:
    """The team's alarms and the launch's own."""
    return [*profile.bake.alarm_names, *(state.launch_alarms if state else [])]


def pass_checkpoint(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, cloudwatch: Any, offset: int
) -> BakeProgress:
    """Record the figures at a checkpoint; a breach seen there raises (the look that catches a lost alarm
    event), the last one declares the release healthy."""
    state = launch.results.bake
    assert state is not None, "the bake began"
    moment = store.clock.now()
    elapsed = (moment - state.started_at).total_seconds()
    bake = profile.bake
    figures = read_figures(cloudwatch, bake, watched_alarms(profile, state), state.started_at, moment)
    reached = [c for c in state.checkpoints if c.offset_seconds != offset]
    reached.append(
        Checkpoint(offset_seconds=offset, label=_label(offset), at=moment, **figures.model_dump(exclude_unset=True))
    )
    found = breaches(figures, bake)
    final = offset == bake.checkpoints[-1]
    progress = state.model_copy(
        update={
            "elapsed_seconds": round(elapsed, 1),
            "checkpoints": sorted(reached, key=lambda c: c.offset_seconds),
            "last": figures,
            "polls": state.polls + 1,
            "verdict": "breach" if found else "healthy" if final else "watching",
        }
    )
    if found:
        raise BakeBreached("; ".join(found) + f" at {_label(offset)}", progress=progress)
    store.append_event(
        launch.launch_id,
        "checkpoint",
        f"checkpoint {_label(offset)} passed" + (": the release is healthy" if final else ""),
        stage=Stage.BAKE,
        details=figures.model_dump(mode="json", exclude_unset=True),
    )
    return progress


def alarm_sighting(launch: Launch, profile: EnvironmentProfile, cloudwatch: Any) -> Sighting:
    """The watched alarms as CloudWatch has them now; any of them changing to ALARM decides the wait."""
    names = watched_alarms(profile, launch.results.bake)
    arns: list[str] = []
    firing: list[str] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=names):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            arns.append(alarm["AlarmArn"])
            if alarm["StateValue"] == "ALARM":
                firing.append(f"alarm {alarm['AlarmName']} is in ALARM: {alarm.get('StateReason', '')}")
    outcome = alarm_fired(launch, firing) if firing else Outcome(verdict="pending", reason="no alarm firing")
    return Sighting(resources=arns, outcome=outcome)


def delete_launch_alarms(profile: EnvironmentProfile, launch: Launch, cloudwatch: Any) -> list[str]:
    """Delete every alarm the launch made (found by its name prefix, so one a failed write did not record
    goes too); the names deleted."""
    prefix = launch_alarm_prefix(profile, launch.launch_id)
    names = [
        alarm["AlarmName"]
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
        for alarm in page.get("MetricAlarms", [])
    ]
    if names:
        cloudwatch.delete_alarms(AlarmNames=names)
    return names
