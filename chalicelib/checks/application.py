"""The release's own items: the bundle's budget, the image in ECR, the service, the release's checks."""

from __future__ import annotations

import fnmatch
from typing import Any

from chalicelib.checks.check import Context, Missing, Verdict, check


@check(
    "app.bundle_budget",
    "Application",
    "Entry bundle within the budget",
    lambda p: "release build",
    needs="frontend_artifact",
)
def bundle_budget(ctx: Context) -> Verdict:
    assert ctx.release is not None
    assert ctx.release.frontend_artifact is not None
    bucket, _, prefix = ctx.release.frontend_artifact.removeprefix("s3://").partition("/")
    pattern = ctx.profile.preflight.entry_bundle
    paginator = ctx.client("s3").get_paginator("list_objects_v2")
    entries = [
        {"key": item["Key"][len(prefix) :], "kb": round(item["Size"] / 1024, 1)}
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if fnmatch.fnmatch(item["Key"][len(prefix) :], pattern)
    ]
    if not entries:
        raise Missing(f"no entry bundle matching {pattern!r} in {ctx.release.frontend_artifact}")
    budget = ctx.profile.preflight.bundle_budget_kb
    return all(e["kb"] <= budget for e in entries), {"entry_bundles": entries, "budget_kb": budget}


@check(
    "app.image_in_ecr", "Application", "Backend image exists in ECR", lambda p: "release image", needs="backend_image"
)
def image_in_ecr(ctx: Context) -> Verdict:
    image, target = _ecr_image(ctx)
    if target is None:
        return not ctx.profile.preflight.ecr_required, {"image": image, "why": "not an ECR image"}
    details = ctx.client("ecr").describe_images(
        registryId=target["registryId"], repositoryName=target["repositoryName"], imageIds=[target["imageId"]]
    )["imageDetails"]
    return bool(details), {"image": image, "digest": details[0].get("imageDigest") if details else None}


def _ecr_image(ctx: Context) -> tuple[str, dict[str, Any] | None]:
    """The release's image, and where ECR keeps it (registry, repository, tag or digest); None outside ECR."""
    assert ctx.release is not None
    assert ctx.release.backend_image is not None
    return ctx.release.backend_image, ecr_location(ctx.release.backend_image)


def ecr_location(image: str) -> dict[str, Any] | None:
    """Where ECR keeps an image (registry, repository, and its tag or digest); None for an image outside ECR."""
    registry, _, rest = image.partition("/")
    if ".dkr.ecr." not in registry:
        return None
    if "@" in rest:
        repository, digest = rest.split("@", 1)
        image_id = {"imageDigest": digest}
    else:
        repository, _, tag = rest.rpartition(":")
        image_id = {"imageTag": tag}
    return {"registryId": registry.split(".")[0], "repositoryName": repository, "imageId": image_id}


def image_digest(ecr: Any, image: str) -> str | None:
    """What the image's tag names in ECR now (its digest); None for an image outside ECR or not in it."""
    location = ecr_location(image)
    if location is None:
        return None
    if "imageDigest" in location["imageId"]:
        return str(location["imageId"]["imageDigest"])
    details = ecr.describe_images(
        registryId=location["registryId"], repositoryName=location["repositoryName"], imageIds=[location["imageId"]]
    )["imageDetails"]
    return str(details[0]["imageDigest"]) if details else None


def service_description(ctx: Context) -> dict[str, Any]:
    """DescribeServices of the profile's service, once per run (several checks read it)."""
    backend = ctx.profile.backend
    return ctx.once(
        "service",
        lambda: ctx.client("ecs").describe_services(cluster=backend.cluster, services=[backend.service]),
    )


def _shifts_in_steps(profile: Any) -> bool:
    """A profile that asks for canary or linear rollouts, or names the hook role on its way there."""
    traffic = profile.backend.traffic
    return bool(traffic.shift != "all_at_once" or traffic.hook_role_arn)


@check(
    "ecs.traffic_shifting",
    "Infrastructure",
    "The service can move its traffic in steps: ECS's own deployment controller, and a load balancer with a "
    "standby target group, the production listener rule and ECS's role for it (blue/green's set-up)",
    lambda p: p.backend.service,
    applies=_shifts_in_steps,
    after=("ecs.service_active",),
)
def traffic_shifting(ctx: Context) -> Verdict:
    """Canary and linear rollouts are ECS's deployment strategies, which need the service set up for blue/green:
    without it ECS refuses the rollout, so it is refused here first, naming what the service lacks."""
    service = service_description(ctx)["services"][0]
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    balancers = [lb for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
    advanced = (balancers[0].get("advancedConfiguration") or {}) if balancers else {}
    lacking = [] if controller == "ECS" else [f"deployment controller {controller}: the strategies need ECS's own"]
    if not balancers:
        lacking.append("no load balancer target group")
    for field, what in (
        ("alternateTargetGroupArn", "a standby target group"),
        ("productionListenerRule", "the production listener rule"),
        ("roleArn", "ECS's role for the load balancer"),
    ):
        if balancers and not advanced.get(field):
            lacking.append(f"loadBalancers[0].advancedConfiguration.{field} ({what})")
    if not ctx.profile.bake.load_balancer:
        lacking.append("the profile's bake.load_balancer (each step's figures are its target groups')")
    evidence: dict[str, Any] = {
        "deployment_controller": controller,
        "target_group": balancers[0]["targetGroupArn"] if balancers else None,
        "standby_target_group": advanced.get("alternateTargetGroupArn"),
    }
    if lacking:
        evidence["why"] = "the service cannot move its traffic in steps: " + "; ".join(lacking)
    return not lacking, evidence


@check("ecs.service_active", "Infrastructure", "ECS service present and active", lambda p: p.backend.service)
def service_active(ctx: Context) -> Verdict:
    response = service_description(ctx)
    services = response.get("services", [])
    if not services:
        return False, {"failures": response.get("failures", [])}
    return services[0]["status"] == "ACTIVE", {
        "status": services[0]["status"],
        "task_definition": services[0].get("taskDefinition"),
    }
