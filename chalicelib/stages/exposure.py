"""Exposure: how many requests the release's backend revision served before the launch succeeded or rolled it
back, from the load balancer's own figures, read once when the launch ends.

Rolled out in traffic steps, the release served from a target group of its own: its count from the first
step until the launch ended (or the backend was restored) is the release's, exactly, to the figures' period.
Rolled out all at once, the old and new tasks shared one target group while ECS replaced them: the load
balancer's count from the rollout is then an upper bound, and says so."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.models import Launch, Stage, TimelineEvent
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import Exposure, traffic_steps_of
from chalicelib.stages.bake import MOST_DATAPOINTS, datapoints, period_for

ALB = "AWS/ApplicationELB"


def measure_exposure(
    launch: Launch, profile: EnvironmentProfile, timeline: list[TimelineEvent], cloudwatch: Any, now: datetime
) -> Exposure | None:
    """The release's requests and failures from its first production traffic to its end, and its frontend's
    page views when the team's RUM counts them by release; None when the launch never rolled the service out."""
    exposure = _backend_exposure(launch, profile, timeline, cloudwatch, now)
    if exposure is None:
        return None
    pages = _page_views(launch, profile, timeline, cloudwatch, now)
    return exposure.model_copy(update={"page_views": pages[0], "page_errors": pages[1]}) if pages else exposure


def _page_views(
    launch: Launch, profile: EnvironmentProfile, timeline: list[TimelineEvent], cloudwatch: Any, now: datetime
) -> tuple[int, int] | None:
    """The frontend release's page views and JavaScript errors since it was deployed (layout releases: counted
    under its own version, so a view of another release never counts)."""
    frontend, figures = launch.results.frontend, profile.frontend.release_figures
    deployed = next((e.at for e in timeline if e.kind == "frontend_deployed"), None)
    if frontend is None or frontend.release is None or figures is None or deployed is None or deployed >= now:
        return None
    dimensions = {figures.dimension: frontend.release}
    period = _period(profile, deployed, now)

    def total(metric: str) -> int:
        points = datapoints(
            cloudwatch, figures.namespace, metric, dimensions, deployed, now, period, Statistics=["Sum"]
        )
        return round(sum(float(point["Sum"]) for point in points))

    return total(figures.views_metric), total(figures.errors_metric)


def _backend_exposure(
    launch: Launch, profile: EnvironmentProfile, timeline: list[TimelineEvent], cloudwatch: Any, now: datetime
) -> Exposure | None:
    backend = launch.results.backend
    if backend is None or backend.rolling_since is None:
        return None
    load_balancer = profile.bake.load_balancer
    if not load_balancer:
        return Exposure(how="the profile's bake names no load balancer to count requests on")
    steps = [step for step in traffic_steps_of(timeline) if step.target_group]
    # Restored at once ("rolled_back"), or once ECS's event said so (the rollback's wait, "wait_over").
    restored = next(
        (
            e.at
            for e in timeline
            if e.kind in {"rolled_back", "wait_over"}
            and e.stage == Stage.ROLLBACK
            and e.message.startswith("backend restored")
        ),
        None,
    )
    until = restored or now
    if steps:
        since = steps[0].started_at
        dimensions = {"TargetGroup": steps[0].target_group, "LoadBalancer": load_balancer}
        how = f"the release's target group, from its first traffic step ({steps[0].weight:g} %)"
    else:
        since = backend.rolling_since
        dimensions = {"LoadBalancer": load_balancer}
        how = "the load balancer, from the rollout: the old and new tasks shared it while ECS replaced them"
    if until <= since:
        until = now
    period = _period(profile, since, until)

    def total(metric: str) -> int:
        points = datapoints(cloudwatch, ALB, metric, dimensions, since, until, period, Statistics=["Sum"])
        return round(sum(float(point["Sum"]) for point in points))

    return Exposure(
        requests=total("RequestCount"),
        errors=total("HTTPCode_Target_5XX_Count"),
        since=since,
        until=until,
        upper_bound=not steps,
        how=how + (", until the backend was restored" if restored else ", until the launch ended"),
    )


def _period(profile: EnvironmentProfile, since: datetime, until: datetime) -> int:
    """The figures' own period (the profile's), or longer when the window would pass CloudWatch's 1,440 points."""
    period: int = profile.backend.traffic.figures_period_seconds
    return period_for(since, until) if (until - since).total_seconds() / period > MOST_DATAPOINTS else period
