"""ECS's service deployments and service revisions, which moto has neither of: each deployment's revision names
the digest of every container's image, resolved when the deployment started (ECS's version consistency)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localaws.images import digest_of

# A deployment's rollout, as ListServiceDeployments names its status.
_STATUS = {"COMPLETED": "SUCCESSFUL", "FAILED": "STOPPED", "IN_PROGRESS": "IN_PROGRESS"}


@dataclass
class _Deployment:
    deployment_id: str
    service_arn: str
    cluster_arn: str
    revision_arn: str
    rollout: dict[str, Any]  # moto's deployment, which the scheduler moves on in place
    revision: dict[str, Any]  # as DescribeServiceRevisions answers it


def _deployments(backend: Any) -> dict[str, _Deployment]:
    if not hasattr(backend, "service_deployment_log"):
        backend.service_deployment_log = {}
    return backend.service_deployment_log  # type: ignore[no-any-return]


def record(backend: Any, service: Any, deployment: dict[str, Any]) -> None:
    """The service revision `deployment` runs, its images' tags resolved to digests now; once per deployment."""
    log = _deployments(backend)
    if deployment["id"] in log:
        return
    suffix = deployment["id"].rsplit("/", 1)[-1]
    where = f"{service.cluster_name}/{service.name}/{suffix}"
    revision_arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:service-revision/{where}"
    definition = backend.describe_task_definition(deployment["taskDefinition"])
    images = []
    for container in definition.container_definitions:
        digest = digest_of(str(container.get("image", "")))
        images.append({"containerName": container["name"], "image": container.get("image", "")})
        if digest:
            images[-1]["imageDigest"] = digest
    log[deployment["id"]] = _Deployment(
        deployment_id=deployment["id"],
        service_arn=service.arn,
        cluster_arn=service.cluster_arn,
        revision_arn=revision_arn,
        rollout=deployment,
        revision={
            "serviceRevisionArn": revision_arn,
            "serviceArn": service.arn,
            "clusterArn": service.cluster_arn,
            "taskDefinition": deployment["taskDefinition"],
            "launchType": deployment.get("launchType") or "FARGATE",
            "containerImages": images,
            "createdAt": deployment.get("createdAt"),
        },
    )


def _brief(entry: _Deployment, live: bool) -> dict[str, Any]:
    rollout = entry.rollout
    status = _STATUS.get(rollout.get("rolloutState", ""), "IN_PROGRESS")
    if status == "IN_PROGRESS" and not live:
        status = "STOPPED"  # another deployment replaced it before it completed
    brief = {
        "serviceDeploymentArn": entry.revision_arn.replace(":service-revision/", ":service-deployment/"),
        "serviceArn": entry.service_arn,
        "clusterArn": entry.cluster_arn,
        "createdAt": rollout.get("createdAt"),
        "startedAt": rollout.get("createdAt"),
        "targetServiceRevisionArn": entry.revision_arn,
        "status": status,
        "statusReason": rollout.get("rolloutStateReason", ""),
    }
    if status != "IN_PROGRESS":
        brief["finishedAt"] = rollout.get("updatedAt")
    return brief


def install() -> None:
    """CreateService records its first deployment; ListServiceDeployments and DescribeServiceRevisions answer."""
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import ServiceNotFoundException
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    original = EC2ContainerServiceBackend.create_service

    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original(self, *args, **kwargs)
        if service.deployments:
            record(self, service, service.deployments[0])
        return service

    def list_service_deployments(self: Any) -> ActionResult:
        cluster = str(self._get_param("cluster") or "default").rsplit("/", 1)[-1]
        wanted = set(self._get_param("status") or [])
        service = self.ecs_backend._get_service(cluster, str(self._get_param("service")).rsplit("/", 1)[-1])
        if service is None:
            raise ServiceNotFoundException
        for deployment in service.deployments:  # one started another way (a rollback) is recorded on sight
            record(self.ecs_backend, service, deployment)
        live = {deployment["id"] for deployment in service.deployments}
        briefs = [
            _brief(entry, entry.deployment_id in live and entry.rollout["id"] == entry.deployment_id)
            for entry in _deployments(self.ecs_backend).values()
            if entry.service_arn == service.arn
        ]
        briefs = [brief for brief in briefs if not wanted or brief["status"] in wanted]
        briefs.sort(key=lambda brief: brief["createdAt"] or datetime.min, reverse=True)
        return ActionResult({"serviceDeployments": briefs})

    def describe_service_revisions(self: Any) -> ActionResult:
        revisions = {entry.revision_arn: entry.revision for entry in _deployments(self.ecs_backend).values()}
        asked = self._get_param("serviceRevisionArns") or []
        return ActionResult(
            {
                "serviceRevisions": [revisions[arn] for arn in asked if arn in revisions],
                "failures": [{"arn": arn, "reason": "MISSING"} for arn in asked if arn not in revisions],
            }
        )

    EC2ContainerServiceBackend.create_service = create_service  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_service_deployments = list_service_deployments  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.describe_service_revisions = describe_service_revisions  # type: ignore[attr-defined]
