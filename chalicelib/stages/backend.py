"""Backend: roll the ECS service to the release's image and tell when the deployment is steady."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from chalicelib.errors import BackendRolloutFailed
from chalicelib.models import Change, Launch, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.store import LaunchStore, now

# The fields of a described task definition that register_task_definition accepts back.
_REGISTERABLE = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)

Rollout = Literal["steady", "in_progress", "failed"]


def release_task_definition(current: dict[str, Any], container: str, image: str) -> dict[str, Any]:
    """The registration request for a copy of `current` whose `container` runs `image`."""
    request = {field: current[field] for field in _REGISTERABLE if current.get(field)}
    containers = [dict(definition) for definition in current["containerDefinitions"]]
    matching = [definition for definition in containers if definition["name"] == container]
    if not matching:
        names = ", ".join(definition["name"] for definition in containers)
        raise BackendRolloutFailed(f"task definition {current['family']} has no container {container!r} (has {names})")
    matching[0]["image"] = image
    request["containerDefinitions"] = containers
    return request


def deploy_backend(store: LaunchStore, launch: Launch, profile: EnvironmentProfile, ecs: Any) -> dict[str, Any]:
    """Register a task definition revision with the release image and roll the service to it."""
    previous = launch.results.get(str(Stage.BACKEND))
    if previous and previous.get("task_definition_arn"):
        return previous  # a retried step: the service is already rolling to this revision
    assert launch.rollback_point is not None, "the rollback point is recorded before the backend changes"
    target = profile.backend
    current = ecs.describe_task_definition(taskDefinition=launch.rollback_point.task_definition_arn)["taskDefinition"]
    registered = ecs.register_task_definition(
        **release_task_definition(current, target.container, launch.request.backend_image),
        tags=[
            {"key": "launch-id", "value": launch.launch_id},
            {"key": "release-version", "value": launch.request.version},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    store.record_change(launch.launch_id, Change.BACKEND)
    ecs.update_service(
        cluster=target.cluster, service=target.service, taskDefinition=registered, forceNewDeployment=True
    )
    deadline = now() + timedelta(seconds=target.deadline_seconds)
    store.append_event(
        launch.launch_id,
        "backend_deploying",
        f"service {target.service} rolling to {registered.rsplit('/', 1)[-1]} ({launch.request.backend_image})",
        stage=Stage.BACKEND,
    )
    return {"task_definition_arn": registered, "deadline": deadline.isoformat(), "rollout": "in_progress"}


def rollout_state(service: dict[str, Any], task_definition_arn: str) -> tuple[Rollout, str]:
    """Steady once the only deployment runs the expected revision with every desired task."""
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None or primary.get("taskDefinition") != task_definition_arn:
        return "in_progress", "the deployment of the new revision has not started yet"
    if primary.get("rolloutState") == "FAILED":
        return "failed", primary.get("rolloutStateReason", "the ECS deployment failed")
    drained = len(deployments) == 1
    running = primary.get("runningCount", 0)
    desired = primary.get("desiredCount", 0)
    if primary.get("rolloutState", "COMPLETED") == "COMPLETED" and running == desired and drained:
        return "steady", f"{running}/{desired} tasks running the new revision"
    return "in_progress", f"{running}/{desired} tasks running, {len(deployments) - 1} old deployment(s) draining"


def check_backend(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, ecs: Any, moment: datetime | None = None
) -> dict[str, Any]:
    """Report the rollout; a failed rollout, or one past its deadline, raises BackendRolloutFailed."""
    deployed = launch.results[str(Stage.BACKEND)]
    target = profile.backend
    service = ecs.describe_services(cluster=target.cluster, services=[target.service])["services"][0]
    state, reason = rollout_state(service, deployed["task_definition_arn"])
    if state == "failed":
        raise BackendRolloutFailed(f"ECS rollout of {target.service} failed: {reason}")
    if state == "in_progress" and (moment or now()) > datetime.fromisoformat(deployed["deadline"]):
        raise BackendRolloutFailed(
            f"ECS rollout of {target.service} not steady after {target.deadline_seconds}s: {reason}"
        )
    if state == "steady":
        store.append_event(
            launch.launch_id, "backend_steady", f"service {target.service} steady: {reason}", stage=Stage.BACKEND
        )
    return {**deployed, "rollout": state, "reason": reason}
