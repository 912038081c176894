"""Bake: alarms and metrics through the checkpoints, against moto's CloudWatch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.errors import BakeBreached
from chalicelib.models import Launch, LaunchStatus, Stage
from chalicelib.progress import BakeProgress
from chalicelib.stages.bake import check_bake
from tests.conftest import move_to


def _check(store: Any, launch_id: str, profile: Any, aws: Any) -> BakeProgress:
    result = check_bake(store, store.get_launch(launch_id), profile, aws("cloudwatch"))
    store.record_result(launch_id, Stage.BAKE, result)
    return result


def test_bake_watches_until_the_last_checkpoint(
    environment: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    start = clock.set(clock.now())
    first = _check(store, launch.launch_id, profile, environment)
    assert first.verdict == "watching"
    assert first.next_wait_seconds == 1
    clock.set(start + timedelta(seconds=2.5))
    middle = _check(store, launch.launch_id, profile, environment)
    assert [c.label for c in middle.checkpoints] == ["T+2s"]
    clock.set(start + timedelta(seconds=4.2))
    last = _check(store, launch.launch_id, profile, environment)
    assert last.verdict == "healthy"
    assert [c.label for c in last.checkpoints] == ["T+2s", "T+4s"]


def test_the_wait_never_overshoots_the_next_checkpoint(
    environment: Any, store: Any, clock: Any, launch: Launch
) -> None:
    from launchctl.examples import example_profile

    production = example_profile("production")
    start = clock.set(clock.now())
    first = check_bake(store, store.get_launch(launch.launch_id), production, environment("cloudwatch"))
    store.record_result(launch.launch_id, Stage.BAKE, first)
    clock.set(start + timedelta(seconds=870))
    result = check_bake(store, store.get_launch(launch.launch_id), production, environment("cloudwatch"))
    assert result.next_wait_seconds == 30
    assert result.last.alarms_missing == sorted(production.bake.alarm_names)


def test_an_alarm_in_alarm_is_a_breach_and_the_figures_are_kept(
    environment: Any, store: Any, launch: Launch, profile: Any, run_stage: Any
) -> None:
    name = profile.bake.alarm_names[0]
    move_to(store, launch.launch_id, LaunchStatus.VERIFYING)
    environment("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    with pytest.raises(BakeBreached, match=f"alarm {name} is in ALARM"):
        run_stage("bake_check", launch.launch_id)
    kept = store.get_launch(launch.launch_id).results.bake
    assert (kept.verdict, kept.last.alarms_in_alarm) == ("breach", [name])


def test_a_poll_that_changes_nothing_writes_only_its_progress(
    environment: Any, store: Any, clock: Any, launch: Launch, run_stage: Any, aws: Any
) -> None:
    move_to(store, launch.launch_id, LaunchStatus.VERIFYING)
    start = clock.set(clock.now())
    assert run_stage("bake_check", launch.launch_id)["verdict"] == "watching"  # enters BAKING
    writes: list[str] = []
    events = aws("dynamodb").meta.events
    for operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
        events.register(f"before-call.dynamodb.{operation}", lambda model, **_: writes.append(model.name))
    clock.set(start + timedelta(seconds=1))
    assert run_stage("bake_check", launch.launch_id)["verdict"] == "watching"
    assert writes == ["TransactWriteItems"], writes  # the progress, nothing else
    stored = store.get_launch(launch.launch_id)
    assert (stored.status, stored.results.bake.polls) == (LaunchStatus.BAKING, 2)
    writes.clear()
    clock.set(start + timedelta(seconds=2.5))
    run_stage("bake_check", launch.launch_id)
    assert writes == ["TransactWriteItems"], writes  # the progress and its checkpoint, together
    assert store.timeline(launch.launch_id)[-1].message == "checkpoint T+2s passed"


def _load_balancer_metrics(aws: Any, profile: Any, moment: Any, **values: float) -> None:
    """Publish ALB metrics (`RequestCount=1000`, ...) as the load balancer would."""
    dimensions = [{"Name": "LoadBalancer", "Value": profile.bake.load_balancer}]
    aws("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": value, "Timestamp": moment}
            for name, value in values.items()
        ],
    )


def test_an_error_rate_above_threshold_is_a_breach(
    environment: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    moment = clock.now()
    _load_balancer_metrics(environment, profile, moment, RequestCount=1000, HTTPCode_Target_5XX_Count=3)
    clock.set(moment + timedelta(seconds=1))
    with pytest.raises(BakeBreached, match=r"error rate 0\.300% above 0\.100%"):
        _check(store, launch.launch_id, profile, environment)


def test_a_healthy_error_rate_is_recorded(
    environment: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    moment = clock.now()
    _load_balancer_metrics(environment, profile, moment, RequestCount=1000)
    clock.set(moment + timedelta(seconds=1))
    result = _check(store, launch.launch_id, profile, environment)
    assert result.last.error_rate == 0.0
    assert result.last.requests == 1000
