"""Bake: the launch's own alarms beside the team's, checkpoints on timers; an alarm's event ends it at once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import BakeBreached
from chalicelib.domain.models import Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import BakeConfig, EnvironmentProfile
from chalicelib.domain.progress import BakeFigures, BakeProgress, Baseline, Checkpoint, Progress, ScheduledCheckpoint
from chalicelib.domain.service_events import Notice
from chalicelib.platform.alarms import described_alarms
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.wait_outcomes import Outcome, Sighting, alarm_fired
from chalicelib.store import LaunchStore, Wait


def firing_alarms(cloudwatch: Any, names: list[str]) -> tuple[list[str], list[str]]:
    """(alarms in ALARM, alarms the profile names that do not exist)."""
    if not names:
        return [], []
    found = {alarm["AlarmName"]: alarm["StateValue"] for alarm in described_alarms(cloudwatch, names)}
    return sorted(n for n, state in found.items() if state == "ALARM"), sorted(set(names) - set(found))


def datapoints(
    cloudwatch: Any,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    start: datetime,
    end: datetime,
    period: int | None = None,
    **statistics: list[str],
) -> list[dict[str, Any]]:
    """A metric's data points in the window, oldest first, a period each (default: `period_for` the window)."""
    points: list[dict[str, Any]] = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": name, "Value": value} for name, value in dimensions.items()],
        StartTime=start,
        EndTime=end,
        Period=period or period_for(start, end),
        **statistics,
    ).get("Datapoints", [])
    return sorted(points, key=lambda point: point["Timestamp"])


# CloudWatch answers at most 1,440 data points a request (docs/limits.md, cloudwatch.datapoints).
MOST_DATAPOINTS = 1440


def period_for(start: datetime, end: datetime) -> int:
    """A minute, or the fewest whole minutes that keep the window within CloudWatch's 1,440 data points: a
    checkpoint 30 hours into a bake reads two-minute periods (a percentile is then the worst two minutes')."""
    seconds = max(0.0, (end - start).total_seconds())
    return 60 * max(1, math.ceil(seconds / (MOST_DATAPOINTS * 60)))


def _sum(cloudwatch: Any, load_balancer: str, metric: str, start: datetime, end: datetime) -> float | None:
    points = datapoints(
        cloudwatch, "AWS/ApplicationELB", metric, {"LoadBalancer": load_balancer}, start, end, Statistics=["Sum"]
    )
    return sum(point["Sum"] for point in points) if points else None


def _percentile(
    cloudwatch: Any, namespace: str, metric: str, dimensions: dict[str, str], start: datetime, end: datetime, p: str
) -> float | None:
    """The worst period's percentile in the window (a release is as bad as its worst minute; past a day, its
    worst few minutes: `period_for`)."""
    points = datapoints(cloudwatch, namespace, metric, dimensions, start, end, ExtendedStatistics=[p])
    values = [point["ExtendedStatistics"][p] for point in points if p in point.get("ExtendedStatistics", {})]
    return max(values) if values else None


def _load_balancer_figures(
    cloudwatch: Any, load_balancer: str, start: datetime, end: datetime
) -> tuple[float | None, float | None, float | None]:
    """(requests, error rate, p95 ms) of the load balancer's targets in the window."""
    errors = _sum(cloudwatch, load_balancer, "HTTPCode_Target_5XX_Count", start, end)
    requests = _sum(cloudwatch, load_balancer, "RequestCount", start, end)
    p95 = _percentile(
        cloudwatch, "AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": load_balancer}, start, end, "p95"
    )
    return requests, (errors or 0.0) / requests if requests else None, round(p95 * 1000, 1) if p95 is not None else None


# CloudWatch RUM's web vitals (namespace AWS/RUM, dimension application_name): our name -> (metric, to our unit).
WEB_VITALS = {
    "lcp_ms": "WebVitalsLargestContentfulPaint",
    "inp_ms": "WebVitalsInteractionToNextPaint",
    "cls": "WebVitalsCumulativeLayoutShift",
}


def read_baseline(cloudwatch: Any, bake: BakeConfig, launched_at: datetime) -> Baseline | None:
    """The load balancer's figures over the profile's window before the launch began."""
    if not bake.load_balancer or not bake.baseline_minutes:
        return None
    since = launched_at - timedelta(minutes=bake.baseline_minutes)
    requests, error_rate, p95 = _load_balancer_figures(cloudwatch, bake.load_balancer, since, launched_at)
    return Baseline(since=since, until=launched_at, requests=requests, error_rate=error_rate, p95_ms=p95)


def read_figures(
    cloudwatch: Any,
    bake: BakeConfig,
    alarm_names: list[str],
    since: datetime,
    moment: datetime,
    baseline: Baseline | None = None,
) -> BakeFigures:
    """Alarms, the release's error rate and p95 latency since the bake began (and the limits its baseline
    sets), the web vitals and the business metrics' data points."""
    alarming, missing = firing_alarms(cloudwatch, alarm_names)
    figures: dict[str, Any] = {"alarms_in_alarm": alarming, "alarms_missing": missing}
    # CloudWatch wants at least one whole period in the window.
    start = min(since, moment - timedelta(seconds=60))
    if bake.load_balancer:
        requests, error_rate, p95 = _load_balancer_figures(cloudwatch, bake.load_balancer, start, moment)
        figures.update(requests=requests, error_rate=error_rate, p95_ms=p95)
        if baseline is not None and baseline.error_rate is not None:
            figures["error_rate_limit"] = (
                baseline.error_rate * (1 + bake.baseline_tolerance) + bake.baseline_error_rate_margin
            )
        if baseline is not None and baseline.p95_ms is not None:
            figures["p95_limit_ms"] = round(
                baseline.p95_ms * (1 + bake.baseline_tolerance) + bake.baseline_p95_margin_ms, 1
            )
    if bake.web_vitals is not None:
        monitor = {"application_name": bake.web_vitals.app_monitor}
        figures["web_vitals"] = {
            ours: _percentile(cloudwatch, "AWS/RUM", metric, monitor, start, moment, "p75")
            for ours, metric in WEB_VITALS.items()
        }
    if bake.business_metrics:
        # Data points since the release itself, not the whole first period: the metric must be the release's.
        figures["business_metrics"] = {
            metric.label: sum(
                point["SampleCount"]
                for point in datapoints(
                    cloudwatch,
                    metric.namespace,
                    metric.name,
                    metric.dimensions,
                    since,
                    max(moment, since + timedelta(seconds=1)),
                    Statistics=["SampleCount"],
                )
            )
            for metric in bake.business_metrics
        }
    return BakeFigures(**figures)


def judge(figures: BakeFigures, bake: BakeConfig, checkpoint_seconds: int) -> list[tuple[str, str]]:
    """(check id, what is wrong) for each of the bake's checks the figures fail."""
    found = [("bake.alarms", f"alarm {name} is in ALARM") for name in figures.alarms_in_alarm]
    rate, p95 = figures.error_rate, figures.p95_ms
    if rate is not None and rate > bake.error_rate_threshold:
        found.append(("bake.error_rate", f"error rate {rate:.3%} above {bake.error_rate_threshold:.3%}"))
    elif rate is not None and figures.error_rate_limit is not None and rate > figures.error_rate_limit:
        limit = figures.error_rate_limit
        found.append(
            ("bake.baseline_error_rate", f"error rate {rate:.3%} worse than the baseline allows ({limit:.3%})")
        )
    if p95 is not None and p95 > bake.p95_latency_threshold_ms:
        found.append(("bake.p95_latency", f"p95 latency {p95} ms above {bake.p95_latency_threshold_ms} ms"))
    elif p95 is not None and figures.p95_limit_ms is not None and p95 > figures.p95_limit_ms:
        limit_ms = figures.p95_limit_ms
        found.append(("bake.baseline_p95", f"p95 latency {p95} ms worse than the baseline allows ({limit_ms} ms)"))
    # User traffic flowing: the figures above mean nothing without it.
    requests = figures.requests or 0
    if bake.load_balancer and requests < bake.min_requests_per_checkpoint:
        found.append(
            (
                "bake.traffic",
                f"too little traffic to judge the release: {requests:g} requests since the release, "
                f"fewer than {bake.min_requests_per_checkpoint}",
            )
        )
    vitals, limits = figures.web_vitals, bake.web_vitals
    if vitals is not None and limits is not None:
        for name, unit in (("lcp_ms", " ms"), ("inp_ms", " ms"), ("cls", "")):
            value, limit_of = vitals.get(name), getattr(limits, name)
            if value is not None and value > limit_of:
                vital = name.removesuffix("_ms").upper()
                found.append(("bake.web_vitals", f"web vital {vital} p75 {value:g}{unit} above {limit_of:g}{unit}"))
        if limits.required and all(value is None for value in vitals.values()):
            found.append(
                ("bake.web_vitals", f"no web vitals from RUM app monitor {limits.app_monitor} since the release")
            )
    for label, points in (figures.business_metrics or {}).items():
        if not points and checkpoint_seconds >= bake.business_metrics_judged_after_seconds:
            found.append(("bake.business_metrics", f"business metric {label} has no data points since the release"))
    return found


def breaches(figures: BakeFigures, bake: BakeConfig, checkpoint_seconds: int) -> tuple[list[str], list[str]]:
    """(what rolls the release back, what is only recorded): each failed check by its severity."""
    failed = judge(figures, bake, checkpoint_seconds)
    blocking = [said for check, said in failed if bake.severity.get(check, "blocking") == "blocking"]
    return blocking, [f"{said} ({check} is a warning)" for check, said in failed if said not in blocking]


def unjudged(figures: BakeFigures) -> list[str]:
    """What a checkpoint could not read and so did not judge: said in its event, never counted as a pass."""
    vitals = figures.web_vitals or {}
    return [f"{name.removesuffix('_ms').upper()} not judged: no RUM data" for name, v in vitals.items() if v is None]


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
    baseline = read_baseline(cloudwatch, bake, launch.created_at)
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
        details={
            "launch_alarms": made,
            "team_alarms": bake.alarm_names,
            "baseline": baseline.model_dump(mode="json") if baseline else None,
        },
    )
    return BakeProgress(
        started_at=moment,
        elapsed_seconds=0,
        checkpoints=[],
        schedule=schedule,
        launch_alarms=made,
        watch_seconds=bake.checkpoints[-1] + WATCH_MARGIN_SECONDS,
        baseline=baseline,
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
    figures = read_figures(
        cloudwatch, bake, watched_alarms(profile, state), state.started_at, moment, baseline=state.baseline
    )
    reached = [c for c in state.checkpoints if c.offset_seconds != offset]
    reached.append(
        Checkpoint(offset_seconds=offset, label=_label(offset), at=moment, **figures.model_dump(exclude_unset=True))
    )
    found, warnings = breaches(figures, bake, offset)
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
        f"checkpoint {_label(offset)} passed"
        + (": the release is healthy" if final else "")
        + "".join(f"; {note}" for note in [*warnings, *unjudged(figures)]),
        stage=Stage.BAKE,
        details={**figures.model_dump(mode="json", exclude_unset=True), **({"warnings": warnings} if warnings else {})},
    )
    return progress


def alarm_sighting(launch: Launch, profile: EnvironmentProfile, cloudwatch: Any) -> Sighting:
    """The watched alarms as CloudWatch has them now; any of them changing to ALARM decides the wait."""
    names = watched_alarms(profile, launch.results.bake)
    arns: list[str] = []
    firing: list[str] = []
    for alarm in described_alarms(cloudwatch, names):
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


def alarm_heard(wait: Wait, notice: Notice, launch: Launch, profile: EnvironmentProfile) -> Outcome:
    """CloudWatch's event: a watched alarm went into ALARM."""
    return alarm_fired(launch, [notice.reason]).model_copy(update={"happened_at": notice.happened_at})


def _begin_bake_step(call: StageCall) -> Progress:

    return begin_bake(call.store, call.launch, call.profile, call.client("cloudwatch"))


BEGIN_BAKE = StageSpec("begin_bake", Stage.BAKE, _begin_bake_step, enters=LaunchStatus.BAKING, clients=("cloudwatch",))
