"""A launch's exposure against moto's CloudWatch: the requests its backend revision served before the end, from
the release's own target group when it rolled out in steps, an upper bound from the load balancer when not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.models import Launch, Stage, TimelineEvent
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import BackendProgress, LaunchResults, TrafficStep
from chalicelib.stages.exposure import measure_exposure

NEW_GROUP, OLD_GROUP = "targetgroup/acme-green/6d0ecf831eec9f09", "targetgroup/acme-blue/73e2d6bc24d8a067"
BEGAN = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def rolled_out(launch: Launch) -> Launch:
    backend = BackendProgress(phase="rolling", rollout="steady", rolling_since=BEGAN)
    return launch.model_copy(update={"results": LaunchResults(backend=backend)})


def served(cloudwatch: Any, load_balancer: str, group: str | None, minute: int, requests: int, errors: int) -> None:
    """One minute of the ALB's figures: per target group, or the load balancer's own."""
    dimensions = [{"Name": "LoadBalancer", "Value": load_balancer}]
    if group:
        dimensions.insert(0, {"Name": "TargetGroup", "Value": group})
    at = BEGAN + timedelta(minutes=minute, seconds=30)
    cloudwatch.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": at, "Value": requests},
            {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": at, "Value": errors},
        ],
    )


def step_event(minute: int, weight: float) -> TimelineEvent:
    step = TrafficStep(weight=weight, target_group=NEW_GROUP, started_at=BEGAN + timedelta(minutes=minute))
    return TimelineEvent(
        at=step.started_at, kind="traffic_step", stage=Stage.BACKEND, message="", details=step.model_dump(mode="json")
    )


def test_a_stepped_release_counts_its_own_target_group_until_the_backend_was_restored(
    aws: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    cloudwatch, load_balancer = aws("cloudwatch"), profile.bake.load_balancer
    assert load_balancer
    for minute in range(10):
        served(cloudwatch, load_balancer, NEW_GROUP, minute, requests=10, errors=2)
        served(cloudwatch, load_balancer, OLD_GROUP, minute, requests=90, errors=0)
    restored = TimelineEvent(
        at=BEGAN + timedelta(minutes=5), kind="rolled_back", stage=Stage.ROLLBACK, message="backend restored"
    )
    timeline = [step_event(1, 10), step_event(3, 20), restored]
    exposure = measure_exposure(rolled_out(launch), profile, timeline, cloudwatch, BEGAN + timedelta(minutes=9))
    assert exposure is not None
    # Minutes 1 to 4: from the first step to the restore, the old revision's and later minutes not counted.
    assert (exposure.requests, exposure.errors, exposure.upper_bound) == (40, 8, False)
    assert "first traffic step (10 %)" in exposure.how
    assert "until the backend was restored" in exposure.how
    assert exposure.words().startswith("40 requests (8 failed)")


def test_a_release_rolled_out_at_once_is_an_upper_bound_from_the_load_balancer_until_ecs_said_it_was_restored(
    aws: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    cloudwatch, load_balancer = aws("cloudwatch"), profile.bake.load_balancer
    assert load_balancer
    for minute in range(6):
        served(cloudwatch, load_balancer, None, minute, requests=100, errors=5)
    heard = TimelineEvent(
        at=BEGAN + timedelta(minutes=4),
        kind="wait_over",
        stage=Stage.ROLLBACK,
        message="backend restored: ECS deployment ecs-svc/1 completed.",
    )
    exposure = measure_exposure(rolled_out(launch), profile, [heard], cloudwatch, BEGAN + timedelta(minutes=6))
    assert exposure is not None
    assert (exposure.requests, exposure.errors, exposure.upper_bound) == (400, 20, True)
    assert exposure.words().startswith("at most 400 requests")


def test_a_launch_that_never_rolled_the_service_out_exposed_nothing(
    aws: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    assert measure_exposure(launch, profile, [], aws("cloudwatch"), BEGAN) is None


def test_without_a_load_balancer_the_exposure_says_it_was_not_measured(
    aws: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    blind = profile.model_copy(update={"bake": profile.bake.model_copy(update={"load_balancer": None})})
    exposure = measure_exposure(rolled_out(launch), blind, [], aws("cloudwatch"), BEGAN)
    assert exposure is not None
    assert exposure.requests is None
    assert exposure.words().startswith("not measured: the profile's bake names no load balancer")


def test_a_frontend_release_counted_by_rum_adds_its_page_views_and_nothing_of_another_release(
    aws: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    from chalicelib.domain.progress import FrontendProgress

    cloudwatch, figures = aws("cloudwatch"), profile.frontend.release_figures
    assert figures is not None
    frontend = FrontendProgress(uploaded=3, unchanged=0, deleted=0, invalidation_id="", release="1.1.0", canary=True)
    results = rolled_out(launch).results.model_copy(update={"frontend": frontend})
    for minute in range(5):
        for release, views, errors in (("1.1.0", 30, 3), ("1.0.0", 300, 1)):
            dimensions = [{"Name": figures.dimension, "Value": release}]
            at = BEGAN + timedelta(minutes=minute, seconds=30)
            cloudwatch.put_metric_data(
                Namespace=figures.namespace,
                MetricData=[
                    {"MetricName": figures.views_metric, "Dimensions": dimensions, "Timestamp": at, "Value": views},
                    {"MetricName": figures.errors_metric, "Dimensions": dimensions, "Timestamp": at, "Value": errors},
                ],
            )
    deployed = TimelineEvent(at=BEGAN, kind="frontend_deployed", stage=Stage.FRONTEND, message="")
    exposure = measure_exposure(
        launch.model_copy(update={"results": results}), profile, [deployed], cloudwatch, BEGAN + timedelta(minutes=5)
    )
    assert exposure is not None
    assert (exposure.page_views, exposure.page_errors) == (150, 15)
    assert exposure.words().endswith("; its frontend, 150 page views (15 with JavaScript errors)")
