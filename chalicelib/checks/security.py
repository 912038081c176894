"""Security and monitoring items beyond the infrastructure: rate limits, Shield, headers, CORS, logs and queries."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.checks.application import _ecr_image, service_description
from chalicelib.checks.balancer import _balancer
from chalicelib.checks.cdn import _distribution
from chalicelib.checks.check import Context, Missing, Verdict, check
from chalicelib.checks.monitoring import _log_groups
from chalicelib.checks.release import commit_checks, installation_token

# CloudFront's managed policies, by id: the same in every account.
SECURITY_HEADERS_POLICY = "67f7725c-6f97-4210-82d7-5512b31e9d03"  # Managed-SecurityHeadersPolicy
CACHING_DISABLED_POLICY = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
SECURITY_HEADERS = ("StrictTransportSecurity", "ContentTypeOptions", "FrameOptions", "ReferrerPolicy")


def _behaviours(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The distribution's cache behaviours, the default first (its path: `*`)."""
    others = (config.get("CacheBehaviors") or {}).get("Items") or []
    return [{**config["DefaultCacheBehavior"], "PathPattern": "*"}, *others]


def _rate_rules(acl: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"rule": rule["Name"], "limit": rule["Statement"]["RateBasedStatement"].get("Limit")}
        for rule in acl.get("Rules", [])
        if "RateBasedStatement" in rule.get("Statement", {})
    ]


@check(
    "security.rate_limiting",
    "Security",
    "Rate limiting: a WAF web ACL with a rate-based rule on the distribution and the load balancer",
    lambda p: f"{p.frontend.distribution_id}, {p.preflight.load_balancer}",
)
def rate_limiting(ctx: Context) -> Verdict:
    evidence: dict[str, Any] = {}
    acl_arn = _distribution(ctx).get("WebACLId") or ""
    if acl_arn.startswith("arn:"):
        # arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>: a CloudFront web ACL, which WAF answers
        # in us-east-1 only, whatever the environment's region.
        name, acl_id = acl_arn.rsplit("/", 2)[-2:]
        acl = ctx.client("wafv2@cloudfront").get_web_acl(Name=name, Scope="CLOUDFRONT", Id=acl_id)["WebACL"]
        evidence["distribution"] = {"web_acl": acl["Name"], "rate_rules": _rate_rules(acl)}
    else:
        evidence["distribution"] = {"web_acl": acl_arn or None, "rate_rules": []}
    regional = (
        ctx.client("wafv2").get_web_acl_for_resource(ResourceArn=str(_balancer(ctx)["LoadBalancerArn"])).get("WebACL")
    )
    evidence["load_balancer"] = {
        "web_acl": regional["Name"] if regional else None,
        "rate_rules": _rate_rules(regional) if regional else [],
    }
    return all(part["rate_rules"] for part in evidence.values()), evidence


@check(
    "security.shield_advanced",
    "Security",
    "DDoS: AWS Shield Advanced protects the distribution and the load balancer",
    lambda p: f"{p.frontend.distribution_id}, {p.preflight.load_balancer}",
    applies=lambda p: p.preflight.shield_advanced,
)
def shield_advanced(ctx: Context) -> Verdict:
    shield = ctx.client("shield")
    account = ctx.client("sts").get_caller_identity()["Account"]
    resources = {
        "distribution": f"arn:aws:cloudfront::{account}:distribution/{ctx.profile.frontend.distribution_id}",
        "load_balancer": str(_balancer(ctx)["LoadBalancerArn"]),
    }
    protected = {}
    for part, arn in resources.items():
        try:
            protected[part] = shield.describe_protection(ResourceArn=arn)["Protection"]["Id"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            protected[part] = None
    return all(protected.values()), {"protections": protected}


@check(
    "security.headers",
    "Security",
    "Security headers: every cache behaviour sets HSTS, content-type-options, frame-options, referrer-policy",
    lambda p: p.frontend.distribution_id,
)
def security_headers(ctx: Context) -> Verdict:
    policies: dict[str, list[str]] = {}
    lacking: dict[str, list[str]] = {}
    for behaviour in _behaviours(_distribution(ctx)):
        policy_id = behaviour.get("ResponseHeadersPolicyId") or ""
        if policy_id not in policies:
            policies[policy_id] = _headers_set(ctx, policy_id)
        missing = [header for header in SECURITY_HEADERS if header not in policies[policy_id]]
        if missing:
            lacking[behaviour["PathPattern"]] = missing
    return not lacking, {"behaviours_lacking": lacking, "policies": sorted(p for p in policies if p)}


def _headers_set(ctx: Context, policy_id: str) -> list[str]:
    """The security headers a response headers policy sets (the managed SecurityHeadersPolicy sets them all)."""
    if not policy_id:
        return []
    if policy_id == SECURITY_HEADERS_POLICY:
        return list(SECURITY_HEADERS)
    policy = ctx.client("cloudfront").get_response_headers_policy(Id=policy_id)["ResponseHeadersPolicy"]
    config = policy["ResponseHeadersPolicyConfig"].get("SecurityHeadersConfig") or {}
    return [header for header in SECURITY_HEADERS if header in config]


@check(
    "security.cors",
    "Security",
    "CORS: no wildcard origin with credentials, or with writes, on the site bucket and the application's API",
    lambda p: ", ".join([p.frontend.site_bucket, *p.preflight.cors_paths]),
)
def cors(ctx: Context) -> Verdict:
    bucket = ctx.profile.frontend.site_bucket
    try:
        rules = ctx.client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
            raise
        rules = []
    open_writes = [
        sorted(set(rule.get("AllowedMethods", [])) - {"GET", "HEAD"})
        for rule in rules
        if "*" in rule.get("AllowedOrigins", []) and set(rule.get("AllowedMethods", [])) - {"GET", "HEAD"}
    ]
    evidence: dict[str, Any] = {"bucket_rules": len(rules), "bucket_wildcard_writes": open_writes}
    answered = {
        path: _cors_answer(str(ctx.profile.smoke.base_url).rstrip("/") + path)
        for path in ctx.profile.preflight.cors_paths
    }
    credentialed = {path: answer for path, answer in answered.items() if answer["any_origin_with_credentials"]}
    evidence["api"] = answered
    return not open_writes and not credentialed, evidence


FOREIGN_ORIGIN = "https://preflight-probe.invalid"


def _cors_answer(url: str) -> dict[str, Any]:
    """What the API answers a CORS preflight from a foreign origin: a wildcard or an echo of any origin,
    together with credentials allowed, lets any site read a signed-in user's data."""
    # urllib.request loads http.client, ssl and email: only for the check that asks the API.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={"Origin": FOREIGN_ORIGIN, "Access-Control-Request-Method": "GET", "User-Agent": "launch-controller"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            headers = response.headers
    except urllib.error.HTTPError as refused:
        headers = refused.headers
    except OSError as exc:
        raise Missing(f"the API at {url} did not answer a CORS preflight: {exc}") from None
    allowed = headers.get("Access-Control-Allow-Origin", "")
    credentials = headers.get("Access-Control-Allow-Credentials", "").lower() == "true"
    return {
        "allow_origin": allowed or None,
        "allow_credentials": credentials,
        "any_origin_with_credentials": credentials and allowed in {"*", FOREIGN_ORIGIN},
    }


@check(
    "cdn.cache_behaviours",
    "Performance",
    "Cache behaviours: compression on, fingerprinted assets cached",
    lambda p: p.frontend.distribution_id,
    severity="warning",
)
def cache_behaviours(ctx: Context) -> Verdict:
    behaviours = _behaviours(_distribution(ctx))
    uncompressed = [b["PathPattern"] for b in behaviours if not b.get("Compress", False)]
    assets = ctx.profile.preflight.hashed_assets_path
    serving = next((b for b in behaviours[1:] if b["PathPattern"].lstrip("/") == assets.lstrip("/")), behaviours[0])
    if serving.get("CachePolicyId"):
        uncached = serving["CachePolicyId"] == CACHING_DISABLED_POLICY
    else:  # the legacy settings: no TTL caches nothing
        uncached = int(serving.get("MaxTTL", 31536000)) == 0 or int(serving.get("DefaultTTL", 86400)) == 0
    return not uncompressed and not uncached, {
        "uncompressed": uncompressed,
        "assets_served_by": serving["PathPattern"],
        "assets_uncached": uncached,
    }


@check(
    "monitoring.logs_streaming",
    "Monitoring",
    "Application logs streaming: each log group received events recently",
    _log_groups,
)
def logs_streaming(ctx: Context) -> Verdict:
    logs = ctx.client("logs")
    now_ms = datetime.now(UTC).timestamp() * 1000
    window = ctx.profile.preflight.logs_recent_minutes
    latest: dict[str, Any] = {}
    for group in ctx.profile.preflight.log_groups:
        streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True, limit=1)
        last = (streams.get("logStreams") or [{}])[0].get("lastEventTimestamp")
        latest[group] = None if last is None else round((now_ms - last) / 60000, 1)
    quiet = [group for group, minutes in latest.items() if minutes is None or minutes > window]
    return not quiet, {"minutes_since_last_event": latest, "quiet": quiet, "window_minutes": window}


@check(
    "monitoring.insights_queries",
    "Monitoring",
    "Log Insights queries saved for the application's log groups",
    _log_groups,
    severity="warning",
)
def insights_queries(ctx: Context) -> Verdict:
    logs = ctx.client("logs")
    saved: dict[str, list[str]] = {group: [] for group in ctx.profile.preflight.log_groups}
    token: str | None = None
    while True:  # botocore has no paginator for DescribeQueryDefinitions
        page = logs.describe_query_definitions(maxResults=1000, **({"nextToken": token} if token else {}))
        for definition in page.get("queryDefinitions", []):
            for group in definition.get("logGroupNames", []):
                if group in saved:
                    saved[group].append(definition.get("name", ""))
        token = page.get("nextToken")
        if not token:
            return all(saved.values()), {"queries": saved}


# A variable whose name says it holds a credential (its value is never read into the evidence).
SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credential|access_?key)")


@check(
    "security.task_secrets",
    "Security",
    "No credentials in the task definitions: secrets come from Secrets Manager or Parameter Store",
    lambda p: p.backend.service,
)
def task_secrets(ctx: Context) -> Verdict:
    ecs = ctx.client("ecs")
    backend = ctx.profile.backend
    service = service_description(ctx)["services"][0]
    definitions = {"service": service["taskDefinition"]}
    if backend.migration is not None:
        definitions["migration"] = backend.migration.task_definition
    exposed: dict[str, list[str]] = {}
    for part, name in definitions.items():
        definition = ecs.describe_task_definition(taskDefinition=name)["taskDefinition"]
        for container in definition.get("containerDefinitions", []):
            plain = [
                v["name"] for v in container.get("environment", []) if SECRET_NAME.search(v["name"]) and v.get("value")
            ]
            if plain:
                exposed[f"{part}/{container['name']}"] = plain
    return not exposed, {"plain_environment_secrets": exposed, "task_definitions": definitions}


SCAN_SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


@check(
    "app.image_scan",
    "Application",
    "The image's ECR scan shows no finding at or above the profile's severity",
    lambda p: "release image",
    needs="backend_image",
    after=("app.image_in_ecr",),  # no image, no scan to read: one failure, not two
)
def image_scan(ctx: Context) -> Verdict:
    image, target = _ecr_image(ctx)
    if target is None:
        return not ctx.profile.preflight.ecr_required, {"image": image, "why": "not an ECR image"}
    ecr = ctx.client("ecr")
    wait = ctx.profile.preflight.image_scan_wait_seconds
    if wait:
        # A scan still running is waited for, bounded (ECR's own waiter); one that has not finished by then fails.
        ecr.get_waiter("image_scan_complete").wait(
            **target, WaiterConfig={"Delay": 5, "MaxAttempts": max(1, wait // 5)}
        )
    findings = ecr.describe_image_scan_findings(**target)
    status = findings.get("imageScanStatus", {}).get("status")
    counts = findings.get("imageScanFindings", {}).get("findingSeverityCounts", {})
    threshold = ctx.profile.preflight.image_scan_severity
    blocking = {
        level: counts[level] for level in SCAN_SEVERITIES[: SCAN_SEVERITIES.index(threshold) + 1] if counts.get(level)
    }
    return status == "COMPLETE" and not blocking, {
        "image": image,
        "scan": status,
        "findings": counts,
        "at_or_above": threshold,
        "blocking": blocking,
    }


@check(
    "app.release_tests",
    "Application",
    "The release's required checks passed on its commit (build, unit, integration, E2E)",
    lambda p: p.preflight.release_checks.repository if p.preflight.release_checks else "GitHub",
    needs="git_sha",
    applies=lambda p: p.preflight.release_checks is not None,
)
def release_tests(ctx: Context) -> Verdict:
    """Each required check run (or commit status) concluded `success` on exactly the launch's commit."""
    config = ctx.profile.preflight.release_checks
    assert config is not None, "applies only with release_checks"
    assert ctx.release is not None, "needs the release's commit"
    assert ctx.release.git_sha is not None, "needs the release's commit"
    if ctx.github_app is None:
        raise Missing("the controller has no GitHub App credential (GITHUB_APP_SECRET_ID) to read the checks with")
    app = ctx.github_app()
    sha = ctx.release.git_sha
    found = commit_checks(app, installation_token(app, config.repository), config.repository, sha)
    checks: dict[str, dict[str, str]] = {}
    for name in config.required:
        seen = found.get(name)
        if seen is None:
            checks[name] = {"result": "missing"}
        elif not seen.sha.startswith(sha):
            checks[name] = {"result": f"ran on {seen.sha}, not {sha}", "url": seen.url}
        else:
            checks[name] = {"result": seen.state, "url": seen.url, "kind": seen.kind}
    failing = [name for name, seen in checks.items() if seen["result"] != "success"]
    return not failing, {"repository": config.repository, "commit": sha, "checks": checks, "failing": failing}
