"""Traffic steps: the controller's ECS lifecycle hook, which watches each step of a canary or linear rollout
and judges the release's revision against the old one over the same minutes.

ECS invokes the hook at PRODUCTION_TRAFFIC_SHIFT, at every step of a CANARY or LINEAR deployment, with the
share of production traffic each revision has (`productionTrafficWeights`) and the `hookDetails` the
controller set on UpdateService: the launch, the load balancer, and which of the service's two target groups
the release's tasks serve from. The hook answers IN_PROGRESS, with a `callBackDelay`, until the step has been
watched for the profile's `step_bake_seconds`; then it reads both target groups' figures since the step
began and answers SUCCEEDED, or FAILED, which makes ECS move the traffic back to the old revision. Too little
traffic to judge extends the step by another bake, `extensions` times, and then fails: it is never a pass.
The bake's fixed thresholds stay the floor: a release above them fails whatever the old revision does."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.canary_verdict import Verdict, error_rates, latencies
from chalicelib.domain.models import Launch, Stage, profile_of
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import RevisionFigures, TrafficStep, traffic_steps_of
from chalicelib.platform.log import about, begin_invocation, logger
from chalicelib.stages.bake import datapoints
from chalicelib.stages.release_switch import canary_share, close_canary
from chalicelib.store import LaunchStore

if TYPE_CHECKING:
    from chalicelib.stages.harness import Dependencies

HookStatus = Literal["IN_PROGRESS", "SUCCEEDED", "FAILED"]
ALB = "AWS/ApplicationELB"
# ECS invokes an IN_PROGRESS hook again after its callBackDelay; the hook asks for no less than this.
LEAST_CALLBACK_SECONDS = 1


class StepDetails(BaseModel):
    """What the controller put in the hook's `hookDetails` at UpdateService, passed on every invocation."""

    model_config = ConfigDict(extra="forbid")

    launch_id: str
    load_balancer: str = Field(description="the ALB's CloudWatch dimension, app/<name>/<id>")
    new_target_group: str = Field(description="targetgroup/<name>/<id> the release's tasks serve from")
    old_target_group: str = Field(description="targetgroup/<name>/<id> the old revision's tasks serve from")


class TrafficStepCall(BaseModel):
    """ECS's lifecycle hook payload, as its documentation gives it (fields it may add are ignored)."""

    model_config = ConfigDict(extra="ignore")

    serviceArn: str  # noqa: N815 - ECS's own names
    targetServiceRevisionArn: str  # noqa: N815
    productionTrafficWeights: dict[str, float] = Field(default_factory=dict)  # noqa: N815
    testTrafficWeights: dict[str, float] = Field(default_factory=dict)  # noqa: N815
    hookDetails: StepDetails  # noqa: N815

    @property
    def weight(self) -> float:
        """The release's share of production traffic at this step, in percent."""
        return float(self.productionTrafficWeights.get(self.targetServiceRevisionArn, 0.0))


class HookAnswer(BaseModel):
    """What the hook returns to ECS."""

    hookStatus: HookStatus  # noqa: N815
    callBackDelay: int | None = None  # noqa: N815
    reason: str = Field(default="", exclude=True)


def revision_figures(
    cloudwatch: Any, details: StepDetails, target_group: str, start: datetime, end: datetime, period: int
) -> RevisionFigures:
    """A target group's requests, 5xx answers and per-period p95 in the window (the ALB's own metrics)."""
    dimensions = {"TargetGroup": target_group, "LoadBalancer": details.load_balancer}

    def total(metric: str) -> int:
        points = datapoints(cloudwatch, ALB, metric, dimensions, start, end, period, Statistics=["Sum"])
        summed: float = sum(point["Sum"] for point in points)
        return round(summed)

    latency = datapoints(
        cloudwatch, ALB, "TargetResponseTime", dimensions, start, end, period, ExtendedStatistics=["p95"]
    )
    return RevisionFigures(
        requests=total("RequestCount"),
        errors=total("HTTPCode_Target_5XX_Count"),
        latency_points_ms=[
            round(point["ExtendedStatistics"]["p95"] * 1000, 1)
            for point in latency
            if "p95" in point.get("ExtendedStatistics", {})
        ],
    )


def judge_step(
    new: RevisionFigures, old: RevisionFigures, profile: EnvironmentProfile, against_old: bool = True
) -> tuple[str, list[Verdict]]:
    """The step's outcome (fail over too_little over pass) and the verdicts it rests on: error rates and
    latency against the old revision, then the bake's fixed thresholds on the release alone. A step that gives
    the release all the traffic (`against_old` False) leaves the old revision nothing to compare with: the
    thresholds judge it alone, on at least the profile's minimum of requests."""
    traffic, bake = profile.backend.traffic, profile.bake
    if against_old:
        verdicts = [
            error_rates(
                new.errors,
                new.requests,
                old.errors,
                old.requests,
                margin=traffic.error_rate_margin,
                min_requests=traffic.min_requests,
            ),
            latencies(new.latency_points_ms, old.latency_points_ms, margin_ms=traffic.latency_margin_ms),
        ]
    elif new.requests < traffic.min_requests:
        verdicts = [Verdict("too_little", None, f"{new.requests} requests to the release: {traffic.min_requests}")]
    else:
        verdicts = [Verdict("pass", None, f"all traffic: {new.requests} requests, {new.errors} errors")]
    if new.requests >= traffic.min_requests and new.errors / new.requests > bake.error_rate_threshold:
        verdicts.append(
            Verdict("fail", None, f"error rate {new.errors / new.requests:.3%} above {bake.error_rate_threshold:.3%}")
        )
    if new.latency_points_ms and max(new.latency_points_ms) > bake.p95_latency_threshold_ms:
        worst = max(new.latency_points_ms)
        verdicts.append(Verdict("fail", None, f"p95 {worst:.0f} ms above {bake.p95_latency_threshold_ms:.0f} ms"))
    return outcome_of(verdicts), verdicts


def outcome_of(verdicts: list[Verdict]) -> str:
    """A step's outcome from its verdicts: any fail fails it; else too little to judge; else it passes."""
    outcomes = {verdict.outcome for verdict in verdicts}
    return "fail" if "fail" in outcomes else "too_little" if "too_little" in outcomes else "pass"


def recorded_steps(store: LaunchStore, launch_id: str) -> list[TrafficStep]:
    """Each traffic step of the launch as last recorded, in the order they began."""
    return traffic_steps_of(store.timeline(launch_id))


def answer_step(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    cloudwatch: Any,
    call: TrafficStepCall,
    kvs: Any = None,
) -> HookAnswer:
    """Watch, then judge, the step ECS is at: IN_PROGRESS until its bake is over, then the verdict. A frontend
    canary (`kvs`, the router's store) moves with the steps: the same share of users, live once the last step
    passes, closed at once when a step fails."""
    traffic = profile.backend.traffic
    now = store.clock.now()
    if launch.status.is_final:
        # A deployment the launch no longer watches: never passed on its behalf.
        return HookAnswer(hookStatus="FAILED", reason=f"launch {launch.launch_id} has ended ({launch.status})")
    steps = recorded_steps(store, launch.launch_id)
    if steps and call.targetServiceRevisionArn != steps[0].revision:
        # ECS moving the traffic back to the old revision (its rollback runs the hook too): let it.
        return HookAnswer(hookStatus="SUCCEEDED", reason="the traffic moves back to the old revision")
    frontend = FrontendShare(launch, profile, kvs)
    if launch.abort:
        frontend.close()
        why = f"aborted by {launch.abort['aborted_by']}"
        store.append_event(
            launch.launch_id, "traffic_step", f"traffic step {call.weight:g} % failed: {why}", stage=Stage.BACKEND
        )
        return HookAnswer(hookStatus="FAILED", reason=why)
    current = next((step for step in steps if step.weight == call.weight), None)
    if current is not None and current.judged_at is not None:
        return _answer(current)  # ECS asking again about a step already judged (a retried invocation)
    if current is None:
        current = TrafficStep(
            weight=call.weight,
            revision=call.targetServiceRevisionArn,
            target_group=call.hookDetails.new_target_group,
            started_at=now,
        )
        _record(store, launch, current, f"traffic step: {call.weight:g} % to the release, watched")
    frontend.follow(call.weight)  # every look: a hook killed after recording the step still moves the share
    due = current.started_at + timedelta(seconds=traffic.step_bake_seconds * (1 + current.extended))
    if now < due:
        return HookAnswer(hookStatus="IN_PROGRESS", callBackDelay=_seconds_until(now, due))
    details = call.hookDetails
    period = traffic.figures_period_seconds
    new = revision_figures(cloudwatch, details, details.new_target_group, current.started_at, now, period)
    old = revision_figures(cloudwatch, details, details.old_target_group, current.started_at, now, period)
    outcome, verdicts = judge_step(new, old, profile, against_old=call.weight < 100)
    pages = frontend.figures(cloudwatch, current.started_at, now, period) if call.weight < 100 else None
    frontend_p = None
    if pages is not None:
        pages_verdict = error_rates(
            pages[0].errors,
            pages[0].requests,
            pages[1].errors,
            pages[1].requests,
            margin=traffic.error_rate_margin,
            min_requests=traffic.min_requests,
        )
        detail = f"frontend: {pages_verdict.detail.replace('requests', 'page views')}"
        verdicts.append(Verdict(pages_verdict.outcome, pages_verdict.p_value, detail))
        frontend_p = pages_verdict.p_value
        outcome = outcome_of(verdicts)
    reasons = [verdict.detail for verdict in verdicts]
    if outcome == "too_little" and current.extended < traffic.extensions:
        extended = current.model_copy(update={"extended": current.extended + 1, "reasons": reasons})
        _record(store, launch, extended, f"traffic step {call.weight:g} %: too little to judge, extended")
        return HookAnswer(hookStatus="IN_PROGRESS", callBackDelay=traffic.step_bake_seconds)
    # The frontend first: a retried invocation after the judgement is recorded answers from the record.
    if outcome != "pass":
        frontend.close()
    elif call.weight >= 100:
        frontend.go_live()
    judged = current.model_copy(
        update={
            "judged_at": now,
            "outcome": outcome,
            "reasons": reasons,
            "new": new,
            "old": old,
            "error_p_value": verdicts[0].p_value,
            "latency_p_value": verdicts[1].p_value if call.weight < 100 else None,
            "frontend_new": pages[0] if pages else None,
            "frontend_old": pages[1] if pages else None,
            "frontend_p_value": frontend_p,
        }
    )
    said = "passed" if outcome == "pass" else "failed" if outcome == "fail" else "too little traffic to judge"
    _record(store, launch, judged, f"traffic step {call.weight:g} % {said}: " + "; ".join(reasons))
    return _answer(judged)


class FrontendShare:
    """A frontend canary's share of users, moved by the backend's steps (none: a launch without one)."""

    def __init__(self, launch: Launch, profile: EnvironmentProfile, kvs: Any) -> None:
        frontend = launch.results.frontend
        self.release = frontend.release if frontend is not None and frontend.canary else None
        self.live = frontend.switched_from if frontend is not None else None
        self.store_arn = profile.frontend.key_value_store_arn
        self.release_figures = profile.frontend.release_figures
        self.kvs = kvs

    def figures(
        self, cloudwatch: Any, start: datetime, end: datetime, period: int
    ) -> tuple[RevisionFigures, RevisionFigures] | None:
        """The canary release's and the live release's page views and JavaScript errors over the step, from
        the team's RUM metrics by release; None without them, or without a live release to compare with."""
        figures = self.release_figures
        if figures is None or self.release is None or self.live is None:
            return None

        def of(release: str) -> RevisionFigures:
            dimensions = {figures.dimension: release}

            def total(metric: str) -> int:
                points = datapoints(
                    cloudwatch, figures.namespace, metric, dimensions, start, end, period, Statistics=["Sum"]
                )
                return round(sum(float(point["Sum"]) for point in points))

            return RevisionFigures(requests=total(figures.views_metric), errors=total(figures.errors_metric))

        return of(self.release), of(self.live)

    @property
    def _on(self) -> bool:
        return self.release is not None and self.store_arn is not None and self.kvs is not None

    def follow(self, weight: float) -> None:
        if self._on:
            assert self.store_arn is not None
            canary_share(self.kvs, self.store_arn, weight)

    def go_live(self) -> None:
        if self._on:
            assert self.store_arn is not None
            close_canary(self.kvs, self.store_arn, live=self.release)

    def close(self) -> None:
        if self._on:
            assert self.store_arn is not None
            close_canary(self.kvs, self.store_arn)


def _answer(step: TrafficStep) -> HookAnswer:
    return HookAnswer(hookStatus="SUCCEEDED" if step.outcome == "pass" else "FAILED", reason="; ".join(step.reasons))


def _seconds_until(now: datetime, due: datetime) -> int:
    return max(LEAST_CALLBACK_SECONDS, int((due - now).total_seconds() + 0.999))


def _record(store: LaunchStore, launch: Launch, step: TrafficStep, message: str) -> None:
    """The step as it stands, on the launch's timeline: which share of traffic the release had, and when."""
    store.append_event(
        launch.launch_id,
        "traffic_step",
        message,
        stage=Stage.BACKEND,
        details=step.model_dump(mode="json", exclude_none=True),
    )


def judge_hook_call(event: dict[str, Any], needs: Dependencies) -> dict[str, Any]:
    """ECS's invocation of the hook: the launch its hookDetails name, its figures read as the environment's
    role, the answer in ECS's shape. A payload that names no launch of ours is FAILED, never a pass."""
    begin_invocation()
    try:
        call = TrafficStepCall.model_validate(event)
    except ValidationError as exc:
        logger.error("a lifecycle hook payload the controller did not ask for", extra={"error": str(exc)})
        return {"hookStatus": "FAILED"}
    about(launch_id=call.hookDetails.launch_id, stage=str(Stage.BACKEND), step="judge_traffic_step")
    store = needs.store()
    launch = store.get_launch(call.hookDetails.launch_id)
    profile = profile_of(launch)
    environment = needs.environment(launch, profile, "judge_traffic_step")
    kvs = environment("cloudfront-keyvaluestore") if profile.frontend.canary else None
    answer = answer_step(store, launch, profile, environment("cloudwatch"), call, kvs)
    logger.info(
        "traffic step answered",
        extra={"hook_status": answer.hookStatus, "weight": call.weight, "reason": answer.reason},
    )
    return answer.model_dump(exclude_none=True)
