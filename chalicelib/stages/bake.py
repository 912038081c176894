"""Bake: watch alarms and load balancer metrics through the checkpoints; a breach ends it at once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from chalicelib.errors import BakeBreached
from chalicelib.models import Launch, Stage
from chalicelib.profiles import BakeConfig, EnvironmentProfile
from chalicelib.progress import BakeFigures, BakeProgress, Checkpoint
from chalicelib.store import LaunchStore


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


def read_figures(cloudwatch: Any, bake: BakeConfig, since: datetime, moment: datetime) -> BakeFigures:
    """Alarms and the release's error rate and p95 latency since the bake began."""
    alarming, missing = firing_alarms(cloudwatch, bake.alarm_names)
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
    return found


def _label(seconds: int) -> str:
    return (
        f"T+{seconds // 3600}h"
        if seconds % 3600 == 0
        else f"T+{seconds // 60}min"
        if seconds % 60 == 0
        else f"T+{seconds}s"
    )


def check_bake(store: LaunchStore, launch: Launch, profile: EnvironmentProfile, cloudwatch: Any) -> BakeProgress:
    """One look at the release; returns whether to keep watching and how long to wait, or raises on a breach."""
    bake = profile.bake
    moment = store.clock.now()
    state = launch.results.bake
    started = state.started_at if state else moment
    elapsed = (moment - started).total_seconds()
    figures = read_figures(cloudwatch, bake, started, moment)
    reached = list(state.checkpoints) if state else []
    for offset in bake.checkpoints:
        if offset <= elapsed and all(c.offset_seconds != offset for c in reached):
            reached.append(
                Checkpoint(
                    offset_seconds=offset, label=_label(offset), at=moment, **figures.model_dump(exclude_unset=True)
                )
            )
            store.append_event(
                launch.launch_id,
                "checkpoint",
                f"checkpoint {_label(offset)} passed",
                stage=Stage.BAKE,
                details=figures.model_dump(mode="json", exclude_unset=True),
            )
    found = breaches(figures, bake)
    remaining = [offset - elapsed for offset in bake.checkpoints if offset > elapsed]
    progress = BakeProgress(
        started_at=started,
        elapsed_seconds=round(elapsed, 1),
        checkpoints=reached,
        last=figures,
        polls=(state.polls if state else 0) + 1,
        verdict="breach" if found else "watching" if remaining else "healthy",
    )
    if found:
        raise BakeBreached("; ".join(found) + f" at {_label(math.floor(elapsed))}", progress=progress)
    progress.next_wait_seconds = max(1, min(bake.poll_seconds, math.ceil(remaining[0]))) if remaining else 0
    return progress
