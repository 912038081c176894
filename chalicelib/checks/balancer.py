"""The checklist's load balancer items: HTTPS, the redirect, access logs, healthy targets."""

from __future__ import annotations

from typing import Any

from chalicelib.checks.application import service_description
from chalicelib.checks.check import Context, Verdict, check
from chalicelib.domain.profiles import EnvironmentProfile


def _balancer(ctx: Context) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        elb = ctx.client("elbv2")
        found = elb.describe_load_balancers(Names=[ctx.profile.preflight.load_balancer])["LoadBalancers"][0]
        listeners = elb.describe_listeners(LoadBalancerArn=found["LoadBalancerArn"])["Listeners"]
        return {**found, "listeners": listeners}

    return ctx.once("balancer", read)


def _balancer_name(profile: EnvironmentProfile) -> str:
    return profile.preflight.load_balancer


@check("elb.https_tls13", "Security", "HTTPS listener with a TLS 1.3 policy", _balancer_name)
def https_listener(ctx: Context) -> Verdict:
    https = [item for item in _balancer(ctx)["listeners"] if item["Protocol"] == "HTTPS"]
    policies = [item.get("SslPolicy", "") for item in https]
    return any("TLS13" in policy for policy in policies), {"https_listener_policies": policies}


@check("elb.http_redirect", "Security", "HTTP redirected to HTTPS", _balancer_name)
def http_redirect(ctx: Context) -> Verdict:
    plain = [item for item in _balancer(ctx)["listeners"] if item["Protocol"] == "HTTP"]
    actions = [
        {"port": item["Port"], "action": action["Type"], "to": action.get("RedirectConfig", {}).get("Protocol")}
        for item in plain
        for action in item.get("DefaultActions", [])
    ]
    # An HTTP listener that forwards would serve the site in the clear; none at all is fine too.
    return all(a["action"] == "redirect" and a["to"] == "HTTPS" for a in actions), {"http_listeners": actions}


@check("elb.access_logs", "Monitoring", "Load balancer access logs enabled", _balancer_name)
def access_logs(ctx: Context) -> Verdict:
    arn = _balancer(ctx)["LoadBalancerArn"]
    attributes = ctx.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    values = {item["Key"]: item["Value"] for item in attributes}
    enabled = values.get("access_logs.s3.enabled") == "true"
    return enabled, {"access_logs": enabled, "bucket": values.get("access_logs.s3.bucket") or None}


@check("elb.targets_healthy", "Infrastructure", "Target groups health-checked, targets healthy", _balancer_name)
def targets_healthy(ctx: Context) -> Verdict:
    """Every target group health-checked and its targets healthy. The service's standby target group (blue/green's
    alternate, which a canary or linear rollout moves the release's tasks into) is empty between deployments."""
    elb = ctx.client("elbv2")
    groups = elb.describe_target_groups(LoadBalancerArn=_balancer(ctx)["LoadBalancerArn"])["TargetGroups"]
    standby = _standby_groups(ctx)
    seen = []
    for group in groups:
        health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
        states = [item["TargetHealth"]["State"] for item in health]
        seen.append(
            {
                "target_group": group["TargetGroupName"],
                "health_check": bool(group.get("HealthCheckEnabled", True)) and bool(group.get("HealthCheckPath")),
                "path": group.get("HealthCheckPath"),
                "targets": len(states),
                "unhealthy": [s for s in states if s != "healthy"],
                **({"standby": True} if group["TargetGroupArn"] in standby else {}),
            }
        )
    ok = bool(seen) and all(
        g["health_check"] and (g["targets"] or g.get("standby")) and not g["unhealthy"] for g in seen
    )
    return ok, {"target_groups": seen}


def _standby_groups(ctx: Context) -> set[str]:
    """The alternate target groups of the service's load balancers (ECS blue/green's advanced configuration)."""
    services = service_description(ctx)["services"]
    return {
        str(balancer["advancedConfiguration"]["alternateTargetGroupArn"])
        for service in services
        for balancer in service.get("loadBalancers", [])
        if (balancer.get("advancedConfiguration") or {}).get("alternateTargetGroupArn")
    }
