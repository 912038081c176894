"""Bake: alarms and metrics through the checkpoints, against moto's CloudWatch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.errors import BakeBreached
from chalicelib.models import Launch, Stage
from chalicelib.stages.bake import check_bake
from chalicelib.store import now


def _check(store: Any, launch_id: str, profile: Any, aws: Any, moment: Any) -> dict[str, Any]:
    result = check_bake(store, store.get_launch(launch_id), profile, aws("cloudwatch"), moment=moment)
    store.record_result(launch_id, Stage.BAKE, result)
    return result


def test_bake_watches_until_the_last_checkpoint(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    start = now()
    first = _check(store, launch.launch_id, profile, environment, start)
    assert first["verdict"] == "watching"
    assert first["next_wait_seconds"] == 1
    middle = _check(store, launch.launch_id, profile, environment, start + timedelta(seconds=3.5))
    assert [c["label"] for c in middle["checkpoints"]] == ["T+3s"]
    last = _check(store, launch.launch_id, profile, environment, start + timedelta(seconds=6.2))
    assert last["verdict"] == "healthy"
    assert [c["label"] for c in last["checkpoints"]] == ["T+3s", "T+6s"]


def test_the_wait_never_overshoots_the_next_checkpoint(environment: Any, store: Any, launch: Launch) -> None:
    from chalicelib.profiles import load_profile

    production = load_profile("production")
    start = now()
    store.record_result(launch.launch_id, Stage.BAKE, {"started_at": start.isoformat()})
    result = check_bake(
        store, store.get_launch(launch.launch_id), production, environment("cloudwatch"), start + timedelta(seconds=870)
    )
    assert result["next_wait_seconds"] == 30
    assert result["last"]["alarms_missing"] == sorted(production.bake.alarm_names)


def test_an_alarm_in_alarm_is_a_breach(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    name = profile.bake.alarm_names[0]
    environment("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    with pytest.raises(BakeBreached, match=f"alarm {name} is in ALARM"):
        _check(store, launch.launch_id, profile, environment, now())
    assert store.get_launch(launch.launch_id).results["bake"]["verdict"] == "breach"


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


def test_an_error_rate_above_threshold_is_a_breach(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    moment = now()
    _load_balancer_metrics(environment, profile, moment, RequestCount=1000, HTTPCode_Target_5XX_Count=3)
    with pytest.raises(BakeBreached, match=r"error rate 0\.300% above 0\.100%"):
        _check(store, launch.launch_id, profile, environment, moment + timedelta(seconds=1))


def test_a_healthy_error_rate_is_recorded(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    moment = now()
    _load_balancer_metrics(environment, profile, moment, RequestCount=1000)
    result = _check(store, launch.launch_id, profile, environment, moment + timedelta(seconds=1))
    assert result["last"]["error_rate"] == 0.0
    assert result["last"]["requests"] == 1000
