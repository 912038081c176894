"""Bake: the launch's own alarms, checkpoints that record the figures, against moto's CloudWatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.errors import BakeBreached
from chalicelib.domain.models import Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile, MetricReference, WebVitals
from chalicelib.domain.progress import BakeProgress
from chalicelib.stages.bake import alarm_sighting, begin_bake, delete_launch_alarms, pass_checkpoint
from chalicelib.stages.waits import begin_wait
from tests.conftest import RecordingStepFunctions, move_to


def _begin(store: Any, launch_id: str, profile: EnvironmentProfile, aws: Any) -> BakeProgress:
    progress = begin_bake(store, store.get_launch(launch_id), profile, aws("cloudwatch"))
    store.record_result(launch_id, Stage.BAKE, progress)
    return progress


def _alarms(aws: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    found = aws("cloudwatch").describe_alarms(**({"AlarmNamePrefix": prefix} if prefix else {}))["MetricAlarms"]
    return {alarm["AlarmName"]: alarm for alarm in found}


def with_bake(profile: EnvironmentProfile, **changes: Any) -> EnvironmentProfile:
    return profile.model_copy(update={"bake": profile.bake.model_copy(update=changes)})


def test_the_bake_begins_by_making_the_launchs_own_alarms_on_the_profiles_thresholds(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    profile = with_bake(profile, min_requests_per_minute=10)
    progress = _begin(store, launch.launch_id, profile, application)
    prefix = f"launch-controller-local/{launch.launch_id}/"
    made = _alarms(application, prefix)
    assert sorted(made) == [prefix + "error-rate", prefix + "p95-latency", prefix + "traffic"]
    assert sorted(progress.launch_alarms) == sorted(made)
    rate = made[prefix + "error-rate"]
    expression = next(m for m in rate["Metrics"] if m.get("ReturnData"))
    assert expression["Expression"] == "IF(requests > 0, errors / requests, 0)"
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m} == {
        "HTTPCode_Target_5XX_Count",
        "RequestCount",
    }
    assert rate["Threshold"] == profile.bake.error_rate_threshold
    latency = made[prefix + "p95-latency"]
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p95", profile.bake.p95_latency_threshold_ms / 1000)
    traffic = made[prefix + "traffic"]
    assert (traffic["ComparisonOperator"], traffic["Threshold"], traffic["TreatMissingData"]) == (
        "LessThanThreshold",
        10,
        "breaching",
    )
    tags = application("cloudwatch").list_tags_for_resource(ResourceARN=rate["AlarmArn"])["Tags"]
    assert {"Key": "launch-id", "Value": launch.launch_id} in tags
    assert [c.label for c in progress.schedule] == ["T+2s", "T+4s"]
    assert progress.schedule[1].at - progress.started_at == timedelta(seconds=4)
    assert [c.final for c in progress.schedule] == [False, True]


def test_a_retried_begin_makes_no_second_set_of_alarms(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    first = _begin(store, launch.launch_id, profile, application)
    again = _begin(store, launch.launch_id, profile, application)
    assert again.started_at == first.started_at
    assert len(_alarms(application, f"launch-controller-local/{launch.launch_id}/")) == 2


def test_without_a_load_balancer_only_the_teams_alarms_are_watched(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    progress = _begin(store, launch.launch_id, with_bake(profile, load_balancer=None), application)
    assert progress.launch_alarms == []


def test_checkpoints_record_the_figures_and_the_last_declares_the_release_healthy(
    application: Any, store: Any, clock: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    start = clock.set(clock.now())
    _begin(store, launch.launch_id, profile, application)
    _load_balancer_metrics(application, profile, start, RequestCount=120, TargetResponseTime=0.05)
    clock.set(start + timedelta(seconds=2))
    first = pass_checkpoint(store, store.get_launch(launch.launch_id), profile, application("cloudwatch"), 2)
    store.record_result(launch.launch_id, Stage.BAKE, first)
    assert (first.verdict, [c.label for c in first.checkpoints]) == ("watching", ["T+2s"])
    clock.set(start + timedelta(seconds=4))
    last = pass_checkpoint(store, store.get_launch(launch.launch_id), profile, application("cloudwatch"), 4)
    assert (last.verdict, [c.label for c in last.checkpoints]) == ("healthy", ["T+2s", "T+4s"])
    assert store.timeline(launch.launch_id)[-1].message == "checkpoint T+4s passed: the release is healthy"


def test_an_alarm_seen_in_alarm_at_a_checkpoint_is_a_breach_and_the_figures_are_kept(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile, run_stage: Any
) -> None:
    name = profile.bake.alarm_names[0]
    move_to(store, launch.launch_id, LaunchStatus.VERIFYING)
    run_stage("begin_bake", launch.launch_id)
    application("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    with pytest.raises(BakeBreached, match=f"alarm {name} is in ALARM"):
        run_stage("bake_checkpoint", launch.launch_id, offset_seconds=2)
    kept = store.get_launch(launch.launch_id).results.bake
    assert (kept.verdict, kept.last.alarms_in_alarm) == ("breach", [name])


def test_the_last_checkpoint_ends_the_alarm_watch_after_writing_its_figures(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile, run_stage: Any
) -> None:
    sfn = RecordingStepFunctions()
    move_to(store, launch.launch_id, LaunchStatus.VERIFYING)
    run_stage("begin_bake", launch.launch_id)
    _load_balancer_metrics(application, profile, datetime.now(UTC) - timedelta(seconds=5), RequestCount=300)
    watching = alarm_sighting(store.get_launch(launch.launch_id), profile, application("cloudwatch"))
    assert watching.outcome.verdict == "pending"
    assert len(watching.resources) == 4  # the team's two and the launch's two
    begin_wait(store, sfn, store.get_launch(launch.launch_id), "alarms", "token-1", 60, watching)
    run_stage("bake_checkpoint", launch.launch_id, clients={"stepfunctions": sfn}, offset_seconds=2)
    assert sfn.answers == []  # not the last one
    run_stage("bake_checkpoint", launch.launch_id, clients={"stepfunctions": sfn}, offset_seconds=4)
    assert [kind for kind, _ in sfn.answers] == ["success"]
    assert store.get_launch(launch.launch_id).results.bake.verdict == "healthy"
    assert store.open_wait_of(launch.launch_id) is None


def test_the_alarm_watch_fails_at_once_for_an_alarm_already_in_alarm(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    _begin(store, launch.launch_id, profile, application)
    name = profile.bake.alarm_names[1]
    application("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="p95 too high")
    seen = alarm_sighting(store.get_launch(launch.launch_id), profile, application("cloudwatch"))
    assert seen.outcome.verdict == "failed"
    assert f"alarm {name} is in ALARM: p95 too high" in seen.outcome.reason


def test_a_launch_deletes_its_own_alarms_and_no_other(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    _begin(store, launch.launch_id, profile, application)
    other = f"launch-controller-local/{launch.launch_id}x/error-rate"
    application("cloudwatch").put_metric_alarm(
        AlarmName=other,
        MetricName="RequestCount",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )
    deleted = delete_launch_alarms(profile, store.get_launch(launch.launch_id), application("cloudwatch"))
    assert len(deleted) == 2
    left = _alarms(application)
    assert not [name for name in left if name.startswith(f"launch-controller-local/{launch.launch_id}/")]
    assert other in left
    assert set(profile.bake.alarm_names) <= set(left)


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


def test_an_error_rate_above_threshold_at_a_checkpoint_is_a_breach(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    moment = clock.set(clock.now())
    _begin(store, launch.launch_id, profile, application)
    _load_balancer_metrics(application, profile, moment, RequestCount=1000, HTTPCode_Target_5XX_Count=3)
    clock.set(moment + timedelta(seconds=2))
    with pytest.raises(BakeBreached, match=r"error rate 0\.300% above 0\.100%"):
        pass_checkpoint(store, store.get_launch(launch.launch_id), profile, application("cloudwatch"), 2)


def test_a_healthy_error_rate_is_recorded_at_a_checkpoint(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    moment = clock.set(clock.now())
    _begin(store, launch.launch_id, profile, application)
    _load_balancer_metrics(application, profile, moment, RequestCount=1000)
    clock.set(moment + timedelta(seconds=2))
    result = pass_checkpoint(store, store.get_launch(launch.launch_id), profile, application("cloudwatch"), 2)
    assert result.last.error_rate == 0.0
    assert result.last.requests == 1000


def test_too_little_traffic_at_a_checkpoint_fails_it_with_the_figure(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    """A release is not declared healthy on no evidence: no request since the release is a breach."""
    moment = clock.set(clock.now())
    _begin(store, launch.launch_id, profile, application)
    clock.set(moment + timedelta(seconds=2))
    with pytest.raises(BakeBreached, match="too little traffic to judge the release: 0 requests since the release"):
        pass_checkpoint(store, store.get_launch(launch.launch_id), profile, application("cloudwatch"), 2)


def test_a_profile_may_ask_for_no_minimum_of_traffic(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    quiet = profile.model_copy(update={"bake": profile.bake.model_copy(update={"min_requests_per_checkpoint": 0})})
    moment = clock.set(clock.now())
    _begin(store, launch.launch_id, quiet, application)
    clock.set(moment + timedelta(seconds=2))
    result = pass_checkpoint(store, store.get_launch(launch.launch_id), quiet, application("cloudwatch"), 2)
    assert (result.verdict, result.last.requests) == ("watching", None)


def _at_checkpoint(store: Any, clock: Any, launch: Launch, profile: Any, aws: Any, **figures: float) -> Any:
    """Begin the bake, publish the load balancer's `figures` for the release, and look at T+2s."""
    moment = clock.set(clock.now())
    _begin(store, launch.launch_id, profile, aws)
    if figures:
        _load_balancer_metrics(aws, profile, moment, **figures)
    clock.set(moment + timedelta(seconds=2))
    return lambda: pass_checkpoint(store, store.get_launch(launch.launch_id), profile, aws("cloudwatch"), 2)


def test_the_baseline_before_the_launch_is_read_when_the_bake_begins_and_sets_each_checkpoints_limits(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    before = launch.created_at - timedelta(minutes=5)
    _load_balancer_metrics(application, profile, before, RequestCount=10_000, HTTPCode_Target_5XX_Count=1)
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=1000)
    result = look()
    assert result.baseline is not None
    assert (result.baseline.requests, result.baseline.error_rate) == (10_000, 0.0001)
    assert result.baseline.until == launch.created_at
    assert result.baseline.since == launch.created_at - timedelta(minutes=profile.bake.baseline_minutes)
    # 0.01% * 1.5 + 0.05%: the figure each checkpoint records beside the release's.
    assert result.last.error_rate_limit == pytest.approx(0.00065)
    assert result.verdict == "watching"


def test_a_release_worse_than_its_baseline_beyond_the_tolerance_is_a_breach_below_the_absolute_threshold(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    before = launch.created_at - timedelta(minutes=5)
    _load_balancer_metrics(application, profile, before, RequestCount=10_000, HTTPCode_Target_5XX_Count=1)
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=10_000, HTTPCode_Target_5XX_Count=8)
    with pytest.raises(BakeBreached, match=r"error rate 0\.080% worse than the baseline allows \(0\.065%\)") as raised:
        look()
    assert raised.value.progress is not None


def test_a_slower_release_than_its_baseline_is_a_breach_with_both_figures(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, baseline_p95_margin_ms=50)  # production's (the local profile allows seconds)
    before = launch.created_at - timedelta(minutes=5)
    _load_balancer_metrics(application, profile, before, RequestCount=100, TargetResponseTime=0.1)
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100, TargetResponseTime=0.3)
    # p95 100 ms before: 100 * 1.5 + 50 = 200 ms allowed, well under the absolute 10 s of the local profile.
    with pytest.raises(BakeBreached, match=r"p95 latency 300\.0 ms worse than the baseline allows \(200\.0 ms\)"):
        look()


def test_without_figures_before_the_launch_there_is_no_comparison_only_the_absolute_thresholds(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100, TargetResponseTime=0.3)
    result = look()
    assert result.baseline is not None
    assert result.baseline.requests is None
    assert (result.last.error_rate_limit, result.last.p95_limit_ms) == (None, None)


def test_a_profile_may_turn_the_baseline_comparison_off(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    look = _at_checkpoint(store, clock, launch, with_bake(profile, baseline_minutes=0), application, RequestCount=9)
    assert look().baseline is None


def _rum(aws: Any, moment: Any, **values: float) -> None:
    names = {"lcp_ms": "WebVitalsLargestContentfulPaint", "inp_ms": "WebVitalsInteractionToNextPaint"}
    names["cls"] = "WebVitalsCumulativeLayoutShift"
    aws("cloudwatch").put_metric_data(
        Namespace="AWS/RUM",
        MetricData=[
            {
                "MetricName": names[ours],
                "Dimensions": [{"Name": "application_name", "Value": "acme-web"}],
                "Values": [value],
                "Timestamp": moment,
            }
            for ours, value in values.items()
        ],
    )


def test_web_vitals_within_googles_limits_pass_and_are_recorded(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, web_vitals=WebVitals(app_monitor="acme-web"))
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)
    _rum(application, clock.now() - timedelta(seconds=1), lcp_ms=1800, inp_ms=120, cls=0.02)
    result = look()
    assert result.last.web_vitals == {"lcp_ms": 1800, "inp_ms": 120, "cls": 0.02}


def test_a_web_vital_above_its_limit_rolls_the_release_back_like_any_breach(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, web_vitals=WebVitals(app_monitor="acme-web"))
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)
    _rum(application, clock.now() - timedelta(seconds=1), lcp_ms=4100, inp_ms=120, cls=0.3)
    with pytest.raises(BakeBreached, match=r"web vital LCP p75 4100 ms above 2500 ms; web vital CLS p75 0\.3 above"):
        look()


def test_no_rum_data_is_recorded_as_no_data_and_said_in_the_checkpoint_never_as_a_pass(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, web_vitals=WebVitals(app_monitor="acme-web"))
    result = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)()
    assert result.last.web_vitals == {"lcp_ms": None, "inp_ms": None, "cls": None}
    said = [e.message for e in store.timeline(launch.launch_id) if e.kind == "checkpoint"]
    assert said == [
        "checkpoint T+2s passed; LCP not judged: no RUM data; INP not judged: no RUM data; CLS not judged: no RUM data"
    ]


def test_a_profile_that_requires_web_vitals_fails_a_checkpoint_without_them(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, web_vitals=WebVitals(app_monitor="acme-web", required=True))
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)
    with pytest.raises(BakeBreached, match="no web vitals from RUM app monitor acme-web since the release"):
        look()


ACTIVE_USERS = MetricReference(namespace="Acme/Shop", name="ActiveUsers", dimensions={"Environment": "local"})


def _business(aws: Any, moment: Any) -> None:
    aws("cloudwatch").put_metric_data(
        Namespace="Acme/Shop",
        MetricData=[
            {
                "MetricName": "ActiveUsers",
                "Dimensions": [{"Name": "Environment", "Value": "local"}],
                "Value": 3,
                "Timestamp": moment,
            }
        ],
    )


def test_business_metrics_with_data_points_since_the_release_pass_and_are_counted(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, business_metrics=[ACTIVE_USERS])
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)
    _business(application, clock.now() - timedelta(seconds=1))
    assert look().last.business_metrics == {"Acme/Shop/ActiveUsers{Environment=local}": 1}


def test_a_business_metric_silent_since_the_release_is_a_breach_even_with_data_before_it(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, business_metrics=[ACTIVE_USERS], business_metrics_judged_after_seconds=2)
    _business(application, clock.now() - timedelta(seconds=30))
    look = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)
    with pytest.raises(BakeBreached, match=r"business metric Acme/Shop/ActiveUsers\{Environment=local\} has no data"):
        look()


def test_figures_cloudwatch_will_not_give_fail_the_checkpoint_rather_than_pass_it(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unreadable is not healthy: a refused GetMetricStatistics is the step's error (retried, then the launch's
    failure and rollback), never a checkpoint passed without figures."""
    from botocore.exceptions import ClientError

    profile = with_bake(profile, business_metrics=[ACTIVE_USERS])
    _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)
    cloudwatch = application("cloudwatch")

    def refused(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricStatistics")

    monkeypatch.setattr(cloudwatch, "get_metric_statistics", refused)
    with pytest.raises(ClientError, match="AccessDenied"):
        pass_checkpoint(store, store.get_launch(launch.launch_id), profile, cloudwatch, 2)
    assert store.get_launch(launch.launch_id).results.bake.checkpoints == []


def test_a_business_metrics_silence_is_recorded_not_judged_before_its_period_has_passed(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(profile, business_metrics=[ACTIVE_USERS], business_metrics_judged_after_seconds=60)
    result = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)()
    assert (result.verdict, result.last.business_metrics) == ("watching", {ACTIVE_USERS.label: 0})


def test_a_bake_check_the_profile_makes_a_warning_is_recorded_on_the_checkpoint_and_rolls_nothing_back(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    profile = with_bake(
        profile,
        business_metrics=[ACTIVE_USERS],
        business_metrics_judged_after_seconds=2,
        severity={"bake.business_metrics": "warning"},
    )
    result = _at_checkpoint(store, clock, launch, profile, application, RequestCount=100)()
    assert result.verdict == "watching"
    event = next(e for e in store.timeline(launch.launch_id) if e.kind == "checkpoint")
    warning = (
        f"business metric {ACTIVE_USERS.label} has no data points since the release "
        "(bake.business_metrics is a warning)"
    )
    assert warning in event.message
    assert event.details["warnings"] == [warning]


def test_a_profile_naming_a_bake_check_that_does_not_exist_is_refused(profile: Any) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"no bake check bake\.latency; the checks are bake\.alarms"):
        type(profile.bake).model_validate({**profile.bake.model_dump(), "severity": {"bake.latency": "warning"}})


def test_a_checkpoint_a_day_and_more_into_the_bake_reads_within_cloudwatchs_1440_points(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    """A checkpoint 25 hours into the bake: a minute's period over the whole bake would be 1,500 data points,
    which CloudWatch refuses; the bake reads two-minute periods and judges the release as before."""
    from chalicelib.stages.bake import period_for

    day_and_more = 25 * 3600
    profile = with_bake(profile, checkpoints=[day_and_more])
    began = clock.set(clock.now() - timedelta(seconds=day_and_more))
    _begin(store, launch.launch_id, profile, application)
    _load_balancer_metrics(application, profile, began + timedelta(hours=24), RequestCount=1000)
    clock.set(began + timedelta(seconds=day_and_more))
    result = pass_checkpoint(
        store, store.get_launch(launch.launch_id), profile, application("cloudwatch"), day_and_more
    )
    assert (result.last.requests, result.last.error_rate) == (1000, 0.0)
    assert period_for(began, began + timedelta(days=1)) == 60  # a day is 1,440 minutes: within
    assert period_for(began, began + timedelta(seconds=day_and_more)) == 120
    assert period_for(began, began + timedelta(days=30)) == 1800


def test_a_composite_alarm_in_alarm_is_a_breach_like_a_metric_alarm(
    application: Any, store: Any, clock: Any, launch: Launch, profile: Any
) -> None:
    cloudwatch = application("cloudwatch")
    cloudwatch.put_composite_alarm(AlarmName="acme-local-health", AlarmRule="ALARM(acme-local-5xx-rate)")
    profile = with_bake(profile, alarm_names=[*profile.bake.alarm_names, "acme-local-health"])
    moment = clock.set(clock.now())
    _begin(store, launch.launch_id, profile, application)
    cloudwatch.set_alarm_state(AlarmName="acme-local-health", StateValue="ALARM", StateReason="its rule holds")
    _load_balancer_metrics(application, profile, moment, RequestCount=1000)
    clock.set(moment + timedelta(seconds=2))
    with pytest.raises(BakeBreached, match="alarm acme-local-health is in ALARM"):
        pass_checkpoint(store, store.get_launch(launch.launch_id), profile, cloudwatch, 2)
