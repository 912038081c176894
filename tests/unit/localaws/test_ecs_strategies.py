"""The local ECS's CANARY and LINEAR deployments: traffic moved in steps to the alternate target group, the
lifecycle hook invoked at every step as ECS's documentation describes it, a FAILED answer rolled back."""

from __future__ import annotations

from typing import Any

import pytest
from localaws.ecs_scheduler import EcsScheduler
from localaws.ecs_strategies import steps_of

BLUE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/acme-blue/73e2d6bc24d8a067"
GREEN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/acme-green/6d0ecf831eec9f09"
HOOK = "arn:aws:lambda:us-east-1:123456789012:function:judge_traffic_step"


class Hook:
    """A lifecycle hook that answers from a script, keeping each payload."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, target: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert target == HOOK
        self.payloads.append(payload)
        return self.answers.pop(0) if self.answers else {"hookStatus": "SUCCEEDED"}


@pytest.fixture
def blue_green(aws: Any) -> Any:
    ecs = aws("ecs")
    ecs.create_cluster(clusterName="c")
    for image in ("api:1", "api:2"):
        ecs.register_task_definition(family="api", containerDefinitions=[{"name": "api", "image": image, "memory": 64}])
    ecs.create_service(
        cluster="c",
        serviceName="s",
        taskDefinition="api:1",
        desiredCount=2,
        loadBalancers=[
            {
                "targetGroupArn": BLUE,
                "containerName": "api",
                "containerPort": 8080,
                "advancedConfiguration": {
                    "alternateTargetGroupArn": GREEN,
                    "productionListenerRule": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/"
                    "acme/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
                    "roleArn": "arn:aws:iam::123456789012:role/ecs-load-balancers",
                },
            }
        ],
    )
    return ecs


def canary_update(ecs: Any, percent: float = 10.0) -> None:
    ecs.update_service(
        cluster="c",
        service="s",
        taskDefinition="api:2",
        deploymentConfiguration={
            "strategy": "CANARY",
            "canaryConfiguration": {"canaryPercent": percent, "canaryBakeTimeInMinutes": 0},
            "bakeTimeInMinutes": 0,
            "lifecycleHooks": [
                {
                    "hookTargetArn": HOOK,
                    "roleArn": "arn:aws:iam::123456789012:role/ecs-hooks",
                    "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"],
                    "hookDetails": {"launch_id": "local-1"},
                }
            ],
        },
    )


def service(ecs: Any) -> dict[str, Any]:
    described: dict[str, Any] = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    return described


def settle(scheduler: EcsScheduler, times: int) -> None:
    for _ in range(times):
        scheduler.settle()


def test_a_canary_moves_its_share_asks_the_hook_at_every_step_and_completes_on_the_alternate_group(
    blue_green: Any,
) -> None:
    hook = Hook({"hookStatus": "IN_PROGRESS", "callBackDelay": 0}, {"hookStatus": "SUCCEEDED"})
    scheduler = EcsScheduler("us-east-1", settle_seconds=0, hook=hook)
    scheduler.settle()
    canary_update(blue_green)
    scheduler.settle()
    shift = scheduler.traffic(service(blue_green)["serviceArn"])
    assert shift is not None
    assert (shift.new_target_group, shift.old_target_group) == (GREEN, BLUE)
    settle(scheduler, 4)
    weights = [payload["productionTrafficWeights"] for payload in hook.payloads]
    new, old = (
        hook.payloads[0]["targetServiceRevisionArn"],
        next(arn for arn in weights[0] if arn != hook.payloads[0]["targetServiceRevisionArn"]),
    )
    assert [(w[new], w[old]) for w in weights] == [(10.0, 90.0), (10.0, 90.0), (100.0, 0.0)]
    assert hook.payloads[0]["hookDetails"] == {"launch_id": "local-1"}
    assert ":service-revision/c/s/" in new
    described = service(blue_green)
    [deployment] = described["deployments"]
    assert (deployment["rolloutState"], deployment["taskDefinition"].endswith("api:2")) == ("COMPLETED", True)
    balancer = described["loadBalancers"][0]
    assert (balancer["targetGroupArn"], balancer["advancedConfiguration"]["alternateTargetGroupArn"]) == (GREEN, BLUE)
    assert scheduler.traffic(described["serviceArn"]) is None


@pytest.mark.parametrize("answer", [{"hookStatus": "FAILED"}, {"status": "no hookStatus"}, RuntimeError("boom")])
def test_a_step_the_hook_fails_is_rolled_back_to_the_old_revision_and_the_deployment_fails(
    blue_green: Any, answer: Any
) -> None:
    events: list[dict[str, Any]] = []

    def hook(target: str, payload: dict[str, Any]) -> dict[str, Any]:
        hook_payloads.append(payload)
        if len(hook_payloads) > 1:
            return {"hookStatus": "SUCCEEDED"}  # the rollback's own shift
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    hook_payloads: list[dict[str, Any]] = []
    scheduler = EcsScheduler("us-east-1", settle_seconds=0, hook=hook, emit=events.append)
    scheduler.settle()
    canary_update(blue_green)
    settle(scheduler, 3)
    described = service(blue_green)
    [deployment] = described["deployments"]
    assert deployment["taskDefinition"].endswith("api:1")
    assert deployment["rolloutState"] == "COMPLETED"
    assert described["taskDefinition"].endswith("api:1")
    failed = [e for e in events if e["detail"].get("eventName") == "SERVICE_DEPLOYMENT_FAILED"]
    assert len(failed) == 1
    assert "at PRODUCTION_TRAFFIC_SHIFT (10 % of production traffic)" in failed[0]["detail"]["reason"]
    # ECS runs the hook again for the rollback's shift: all traffic back to the old revision.
    rollback = hook_payloads[-1]
    assert rollback["productionTrafficWeights"][rollback["targetServiceRevisionArn"]] == 100.0
    assert described["loadBalancers"][0]["targetGroupArn"] == BLUE  # the groups keep their places


def test_a_rolling_service_deploys_as_before() -> None:
    assert steps_of({"strategy": "ROLLING"}) is None
    assert steps_of({}) is None


@pytest.mark.parametrize(
    ("configuration", "steps"),
    [
        ({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0}}, [10.0, 100.0]),
        ({"strategy": "CANARY"}, [5.0, 100.0]),  # ECS's default canary
        ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 30.0}}, [30.0, 60.0, 90.0, 100.0]),
        ({"strategy": "LINEAR"}, [10.0 * n for n in range(1, 11)]),  # ECS's default step
    ],
)
def test_the_steps_of_each_strategy(configuration: dict[str, Any], steps: list[float]) -> None:
    assert steps_of(configuration) == steps
