"""The ECS operations the backend and rollback stages share: the launch's migration task, the service's
deployments and how its rollout stands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.progress import Rollout
from chalicelib.domain.service_events import Notice
from chalicelib.stages.wait_outcomes import Outcome
from chalicelib.store import Wait


def migration_started_by(launch_id: str) -> str:
    return f"launch/{launch_id}"


def migration_task(ecs: Any, cluster: str, launch_id: str) -> str | None:
    """The migration task this launch started already, running or stopped."""
    for status in ("RUNNING", "STOPPED"):
        found = ecs.list_tasks(cluster=cluster, startedBy=migration_started_by(launch_id), desiredStatus=status)
        if found["taskArns"]:
            return str(found["taskArns"][0])
    return None


def primary_deployment(service: dict[str, Any], task_definition_arn: str) -> str | None:
    """The id of the service's deployment of `task_definition_arn`: its events name it."""
    for deployment in service.get("deployments", []):
        if deployment.get("status") == "PRIMARY" and deployment.get("taskDefinition") == task_definition_arn:
            return str(deployment["id"])
    return None


def rollout_state(
    service: dict[str, Any], task_definition_arn: str, since: datetime | None = None
) -> tuple[Rollout, str]:
    """Steady once the only deployment runs the expected revision with every desired task.

    `since`: for a forced deployment of the same revision, only a deployment created after it counts."""
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None or primary.get("taskDefinition") != task_definition_arn:
        return "in_progress", "the deployment of the new revision has not started yet"
    if since is not None and primary.get("createdAt") and primary["createdAt"] < since:
        return "in_progress", "the forced deployment has not started yet"
    if primary.get("rolloutState") == "FAILED":
        return "failed", primary.get("rolloutStateReason", "the ECS deployment failed")
    drained = len(deployments) == 1
    running = primary.get("runningCount", 0)
    desired = primary.get("desiredCount", 0)
    revision = task_definition_arn.rsplit("/", 1)[-1]
    if primary.get("rolloutState", "COMPLETED") == "COMPLETED" and running == desired and drained:
        return "steady", f"{running}/{desired} tasks running {revision}"
    return (
        "in_progress",
        f"{running}/{desired} tasks running {revision}, {len(deployments) - 1} old deployment(s) draining",
    )


def another_deployment(wait: Wait, notice: Notice) -> Outcome | None:
    """The service's event is about a deployment other than the one the wait expects: not this wait's."""
    if notice.deployment_id != wait.expects.get("deployment_id"):
        return Outcome(verdict="pending", reason=f"another deployment: {notice.deployment_id}")
    return None


def untagged(image: str) -> str:
    """`registry/repository` of an image named by tag or digest (a registry's port is not a tag)."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def running_images(ecs: Any, cluster: str, service: str) -> dict[str, str]:
    """Each container's image pinned to the digest the service runs now: the revision of its latest successful
    deployment, whose tags ECS resolved to digests when it started. Empty when ECS lists none (a service last
    deployed before ECS kept service revisions)."""
    done = ecs.list_service_deployments(cluster=cluster, service=service, status=["SUCCESSFUL"])["serviceDeployments"]
    if not done:
        return {}
    latest = max(done, key=lambda deployment: deployment.get("finishedAt") or deployment["createdAt"])
    revisions = ecs.describe_service_revisions(serviceRevisionArns=[latest["targetServiceRevisionArn"]])
    return {
        image["containerName"]: f"{untagged(image['image'])}@{image['imageDigest']}"
        for revision in revisions["serviceRevisions"]
        for image in revision.get("containerImages", [])
        if image.get("imageDigest")
    }
