"""The controller's ECS lifecycle hook against moto's CloudWatch: each traffic step watched for its bake, then
the release's target group judged against the old one's over the same minutes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.errors import BackendRolloutFailed
from chalicelib.domain.models import Launch
from chalicelib.domain.profiles import EnvironmentProfile, TrafficShift
from chalicelib.stages.traffic_steps import StepDetails, TrafficStepCall, answer_step, recorded_steps

LOAD_BALANCER = "app/acme-local/50dc6c495c0c9188"
NEW_GROUP, OLD_GROUP = "targetgroup/acme-green/6d0ecf831eec9f09", "targetgroup/acme-blue/73e2d6bc24d8a067"
SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/acme-local/acme-api"
NEW_REVISION = "arn:aws:ecs:us-east-1:123456789012:service-revision/acme-local/acme-api/2"
OLD_REVISION = "arn:aws:ecs:us-east-1:123456789012:service-revision/acme-local/acme-api/1"
BAKE = 600
HOOK_ROLE = "arn:aws:iam::123456789012:role/launch-controller/hooks/ecs-hooks-local"


def canary(profile: EnvironmentProfile, **traffic: Any) -> EnvironmentProfile:
    shift = profile.backend.traffic.model_copy(
        update={"shift": "canary", "step_bake_seconds": BAKE, "hook_role_arn": HOOK_ROLE, **traffic}
    )
    return profile.model_copy(update={"backend": profile.backend.model_copy(update={"traffic": shift})})


def call(launch: Launch, weight: float) -> TrafficStepCall:
    return TrafficStepCall.model_validate(
        {
            "serviceArn": SERVICE,
            "targetServiceRevisionArn": NEW_REVISION,
            "productionTrafficWeights": {NEW_REVISION: weight, OLD_REVISION: 100 - weight},
            "testTrafficWeights": {},
            "hookDetails": StepDetails(
                launch_id=launch.launch_id,
                load_balancer=LOAD_BALANCER,
                new_target_group=NEW_GROUP,
                old_target_group=OLD_GROUP,
            ).model_dump(),
            "lifecycleStage": "PRODUCTION_TRAFFIC_SHIFT",  # ECS may send more than the hook reads
        }
    )


def serve(
    cloudwatch: Any, group: str, start: datetime, minutes: int, requests: int, errors: int, p95_ms: float
) -> None:
    """A target group's figures for each minute, as the ALB publishes them."""
    rng = random.Random(group)
    dimensions = [{"Name": "TargetGroup", "Value": group}, {"Name": "LoadBalancer", "Value": LOAD_BALANCER}]
    for minute in range(minutes):
        at = start + timedelta(minutes=minute, seconds=30)
        latencies = [p95_ms / 1000 * rng.uniform(0.5, 1.0) for _ in range(19)] + [p95_ms / 1000]
        cloudwatch.put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": at, "Value": requests},
                {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": at, "Value": errors},
                {"MetricName": "TargetResponseTime", "Dimensions": dimensions, "Timestamp": at, "Values": latencies},
            ],
        )


def watched(store: Any, launch: Launch, profile: EnvironmentProfile, cloudwatch: Any, clock: Any) -> datetime:
    """The step's first invocation: watched for its bake, nothing judged yet."""
    began = clock.set(datetime.now().astimezone() - timedelta(minutes=30))
    first = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert (first.hookStatus, first.callBackDelay) == ("IN_PROGRESS", BAKE)
    clock.advance(BAKE / 2)
    again = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert (again.hookStatus, again.callBackDelay) == ("IN_PROGRESS", BAKE // 2)
    return began


def test_a_clearly_worse_release_fails_its_step_with_the_figures_and_p_values_on_the_timeline(
    aws: Any, store: Any, launch: Launch, profile: EnvironmentProfile, clock: Any
) -> None:
    profile, cloudwatch = canary(profile), aws("cloudwatch")
    began = watched(store, launch, profile, cloudwatch, clock)
    serve(cloudwatch, NEW_GROUP, began, 10, requests=20, errors=4, p95_ms=180)  # 20 % of its requests fail
    serve(cloudwatch, OLD_GROUP, began, 10, requests=180, errors=0, p95_ms=120)
    clock.advance(BAKE / 2)
    answer = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert answer.hookStatus == "FAILED"
    step = recorded_steps(store, launch.launch_id)[-1]
    assert (step.weight, step.outcome) == (10, "fail")
    assert step.new is not None
    assert (step.new.requests, step.new.errors) == (200, 40)
    assert step.old is not None
    assert (step.old.requests, step.old.errors) == (1800, 0)
    assert step.error_p_value is not None
    assert step.error_p_value < 0.001
    events = [event for event in store.timeline(launch.launch_id) if event.kind == "traffic_step"]
    assert "traffic step 10 % failed: errors 20.000% new against 0.000% old" in events[-1].message
    assert events[-1].details["error_p_value"] == step.error_p_value
    # ECS asking again about the judged step (its retry) gets the same answer, and no new event.
    retried = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert retried.hookStatus == "FAILED"
    assert len([e for e in store.timeline(launch.launch_id) if e.kind == "traffic_step"]) == len(events)


def test_a_release_as_good_as_the_old_revision_passes_and_the_next_step_is_watched_afresh(
    aws: Any, store: Any, launch: Launch, profile: EnvironmentProfile, clock: Any
) -> None:
    profile, cloudwatch = canary(profile), aws("cloudwatch")
    began = watched(store, launch, profile, cloudwatch, clock)
    serve(cloudwatch, NEW_GROUP, began, 10, requests=20, errors=0, p95_ms=120)
    serve(cloudwatch, OLD_GROUP, began, 10, requests=180, errors=0, p95_ms=120)
    clock.advance(BAKE / 2)
    passed = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert passed.hookStatus == "SUCCEEDED"
    following = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 100))
    assert (following.hookStatus, following.callBackDelay) == ("IN_PROGRESS", BAKE)
    steps = recorded_steps(store, launch.launch_id)
    assert [(step.weight, step.outcome) for step in steps] == [(10, "pass"), (100, None)]


def test_too_little_traffic_extends_the_step_and_then_fails_it_never_a_pass(
    aws: Any, store: Any, launch: Launch, profile: EnvironmentProfile, clock: Any
) -> None:
    profile, cloudwatch = canary(profile, extensions=1), aws("cloudwatch")
    began = watched(store, launch, profile, cloudwatch, clock)
    serve(cloudwatch, NEW_GROUP, began, 10, requests=1, errors=0, p95_ms=120)  # 10 requests: fewer than 100
    serve(cloudwatch, OLD_GROUP, began, 10, requests=180, errors=0, p95_ms=120)
    clock.advance(BAKE / 2)
    extended = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert (extended.hookStatus, extended.callBackDelay) == ("IN_PROGRESS", BAKE)
    clock.advance(BAKE)
    ended = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert ended.hookStatus == "FAILED"
    step = recorded_steps(store, launch.launch_id)[-1]
    assert (step.outcome, step.extended) == ("too_little", 1)
    assert any("10 requests to the new" in reason for reason in step.reasons)


def test_the_bakes_fixed_thresholds_stay_the_floor(
    aws: Any, store: Any, launch: Launch, profile: EnvironmentProfile, clock: Any
) -> None:
    """A release as slow as the old revision still fails when both are past the profile's p95 limit."""
    profile, cloudwatch = canary(profile), aws("cloudwatch")
    began = watched(store, launch, profile, cloudwatch, clock)
    slow = profile.bake.p95_latency_threshold_ms + 300
    serve(cloudwatch, NEW_GROUP, began, 10, requests=20, errors=0, p95_ms=slow)
    serve(cloudwatch, OLD_GROUP, began, 10, requests=180, errors=0, p95_ms=slow)
    clock.advance(BAKE / 2)
    answer = answer_step(store, store.get_launch(launch.launch_id), profile, cloudwatch, call(launch, 10))
    assert answer.hookStatus == "FAILED"
    assert any("above" in reason for reason in recorded_steps(store, launch.launch_id)[-1].reasons)


@pytest.mark.parametrize("weight", [0.1, 12.5, 100])
def test_the_payload_names_the_releases_share(launch: Launch, weight: float) -> None:
    assert call(launch, weight).weight == weight


def test_a_canary_rollout_asks_ecs_for_its_strategy_and_names_the_controllers_hook(
    launch: Launch, profile: EnvironmentProfile
) -> None:
    from chalicelib.stages.backend import traffic_configuration

    service = {
        "loadBalancers": [
            {
                "targetGroupArn": f"arn:aws:elasticloadbalancing:us-east-1:123456789012:{OLD_GROUP}",
                "advancedConfiguration": {
                    "alternateTargetGroupArn": f"arn:aws:elasticloadbalancing:us-east-1:123456789012:{NEW_GROUP}"
                },
            }
        ]
    }
    hook = "arn:aws:lambda:us-east-1:123456789012:function:launch-controller-JudgeTrafficStep"
    configuration = traffic_configuration(launch, canary(profile), service, hook)
    assert configuration is not None
    assert configuration["strategy"] == "CANARY"
    assert configuration["canaryConfiguration"] == {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 0}
    [lifecycle] = configuration["lifecycleHooks"]
    assert (lifecycle["hookTargetArn"], lifecycle["roleArn"]) == (hook, HOOK_ROLE)
    assert lifecycle["lifecycleStages"] == ["PRODUCTION_TRAFFIC_SHIFT"]
    assert lifecycle["hookDetails"]["new_target_group"] == NEW_GROUP
    assert lifecycle["hookDetails"]["old_target_group"] == OLD_GROUP
    assert traffic_configuration(launch, profile, service, hook) is None  # all at once: as the service deploys
    with pytest.raises(BackendRolloutFailed, match="a load balancer with an alternate target group"):
        traffic_configuration(launch, canary(profile), {"loadBalancers": []}, hook)


def test_a_shift_in_steps_needs_the_role_ecs_invokes_the_hook_as(profile: EnvironmentProfile) -> None:
    with pytest.raises(ValidationError, match="shift = canary needs hook_role_arn"):
        TrafficShift.model_validate({"shift": "canary"})
    with pytest.raises(ValidationError, match=r"multiple of 0\.1"):
        TrafficShift.model_validate({"shift": "canary", "canary_percent": 10.05, "hook_role_arn": HOOK_ROLE})


def test_an_all_at_once_launch_after_a_canary_rolls_again_without_the_controllers_hook(
    launch: Launch, profile: EnvironmentProfile
) -> None:
    """A service keeps its deployment configuration from one UpdateService to the next."""
    from chalicelib.stages.backend import traffic_configuration

    hook = "arn:aws:lambda:us-east-1:123456789012:function:launch-controller-JudgeTrafficStep"
    theirs = {"hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:team-audit", "lifecycleStages": []}
    left = {
        "strategy": "CANARY",
        "canaryConfiguration": {"canaryPercent": 10.0},
        "maximumPercent": 200,
        "lifecycleHooks": [{"hookTargetArn": hook, "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}, theirs],
    }
    again = traffic_configuration(launch, profile, {"deploymentConfiguration": left}, hook)
    assert again == {"strategy": "ROLLING", "maximumPercent": 200, "lifecycleHooks": [theirs]}
    assert traffic_configuration(launch, profile, {"deploymentConfiguration": {"strategy": "ROLLING"}}, hook) is None


def frontend_canary(profile: EnvironmentProfile) -> EnvironmentProfile:
    """A canary backend whose frontend release follows its steps (layout releases, [frontend] canary)."""
    stepped = canary(profile)
    frontend = stepped.frontend.model_copy(update={"layout": "releases", "canary": True})
    return EnvironmentProfile.model_validate({**stepped.model_dump(), "frontend": frontend.model_dump()})


@pytest.mark.parametrize("passes", [False, True])
def test_a_frontend_canary_follows_each_step_goes_live_with_the_last_and_closes_at_once_when_a_step_fails(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile, clock: Any, passes: bool
) -> None:
    from chalicelib.domain.models import Stage
    from chalicelib.domain.progress import FrontendProgress
    from chalicelib.stages.release_switch import (
        CANARY_PERCENT_KEY,
        CANARY_RELEASE_KEY,
        LIVE_RELEASE_KEY,
        open_canary,
    )

    profile, cloudwatch, kvs = (
        frontend_canary(profile),
        application("cloudwatch"),
        application("cloudfront-keyvaluestore"),
    )
    arn = profile.frontend.key_value_store_arn
    assert arn is not None

    def entries() -> dict[str, str]:
        return {item["Key"]: item["Value"] for item in kvs.list_keys(KvsARN=arn)["Items"]}

    open_canary(kvs, arn, "1.1.0")
    progress = FrontendProgress(uploaded=3, unchanged=0, deleted=0, invalidation_id="", release="1.1.0", canary=True)
    store.record_result(launch.launch_id, Stage.FRONTEND, progress)
    assert entries() == {CANARY_RELEASE_KEY: "1.1.0", CANARY_PERCENT_KEY: "0"}  # testers only

    def answer(weight: float) -> str:
        recorded = store.get_launch(launch.launch_id)
        return answer_step(store, recorded, profile, cloudwatch, call(launch, weight), kvs).hookStatus

    began = clock.set(datetime.now().astimezone() - timedelta(minutes=30))
    assert answer(10) == "IN_PROGRESS"
    assert entries()[CANARY_PERCENT_KEY] == "10"  # the same share of users as of the backend's traffic
    serve(cloudwatch, NEW_GROUP, began, 10, requests=20, errors=0 if passes else 4, p95_ms=120)
    serve(cloudwatch, OLD_GROUP, began, 10, requests=180, errors=0, p95_ms=120)
    clock.advance(BAKE)
    if not passes:
        assert answer(10) == "FAILED"
        assert entries() == {}  # every user back on the live release in the same answer that fails the step
        return
    assert answer(10) == "SUCCEEDED"
    assert answer(100) == "IN_PROGRESS"
    assert entries()[CANARY_PERCENT_KEY] == "100"
    serve(cloudwatch, NEW_GROUP, began + timedelta(minutes=10), 10, requests=200, errors=0, p95_ms=120)
    clock.advance(BAKE)
    assert answer(100) == "SUCCEEDED"
    assert entries() == {LIVE_RELEASE_KEY: "1.1.0"}  # live, the canary's entries gone


def test_a_frontend_canary_needs_releases_and_a_backend_in_steps(profile: EnvironmentProfile) -> None:
    fields = profile.model_dump()
    fields["frontend"] |= {"layout": "releases", "canary": True}
    with pytest.raises(ValidationError, match=r"frontend\.canary needs frontend\.layout = releases and backend"):
        EnvironmentProfile.model_validate(fields)


def test_a_frontend_canary_whose_pages_throw_fails_its_step_against_the_live_release_over_the_same_minutes(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile, clock: Any
) -> None:
    """The backend as good as its old revision; the frontend release's pages throw in one view in five, the live
    release's in none: the RUM figures by release fail the step."""
    from chalicelib.domain.models import Stage
    from chalicelib.domain.progress import FrontendProgress

    profile, cloudwatch = frontend_canary(profile), application("cloudwatch")
    figures = profile.frontend.release_figures
    assert figures is not None  # the local profile names its RUM metrics
    progress = FrontendProgress(
        uploaded=3, unchanged=0, deleted=0, invalidation_id="", release="1.1.0", switched_from="1.0.0", canary=True
    )
    store.record_result(launch.launch_id, Stage.FRONTEND, progress)
    began = clock.set(datetime.now().astimezone() - timedelta(minutes=30))
    kvs = application("cloudfront-keyvaluestore")

    def answer() -> Any:
        recorded = store.get_launch(launch.launch_id)
        return answer_step(store, recorded, profile, cloudwatch, call(launch, 10), kvs)

    assert answer().hookStatus == "IN_PROGRESS"
    serve(cloudwatch, NEW_GROUP, began, 10, requests=20, errors=0, p95_ms=120)
    serve(cloudwatch, OLD_GROUP, began, 10, requests=180, errors=0, p95_ms=120)
    for minute in range(10):
        at = began + timedelta(minutes=minute, seconds=30)
        for release, views, errors in (("1.1.0", 20, 4), ("1.0.0", 180, 0)):
            dimensions = [{"Name": figures.dimension, "Value": release}]
            cloudwatch.put_metric_data(
                Namespace=figures.namespace,
                MetricData=[
                    {"MetricName": figures.views_metric, "Dimensions": dimensions, "Timestamp": at, "Value": views},
                    {"MetricName": figures.errors_metric, "Dimensions": dimensions, "Timestamp": at, "Value": errors},
                ],
            )
    clock.advance(BAKE)
    assert answer().hookStatus == "FAILED"
    step = recorded_steps(store, launch.launch_id)[-1]
    assert step.frontend_new is not None
    assert step.frontend_old is not None
    assert (step.frontend_new.requests, step.frontend_new.errors) == (200, 40)
    assert (step.frontend_old.requests, step.frontend_old.errors) == (1800, 0)
    assert step.frontend_p_value is not None
    assert step.frontend_p_value < 0.001
    assert step.error_p_value is not None
    assert step.error_p_value > 0.05  # the backend was not the cause
    assert any(reason.startswith("frontend: errors 20.000% new against 0.000% old") for reason in step.reasons)
