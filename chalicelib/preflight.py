"""The checklist's Infrastructure, Monitoring and Security items, each checked against the account."""

from __future__ import annotations

import contextvars
import fnmatch
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.profiles import EnvironmentProfile, Severity
from chalicelib.progress import CheckOutcome as Outcome
from chalicelib.progress import CheckResult, PreflightReport

ClientFactory = Callable[[str], Any]
T = TypeVar("T")


class Missing(Exception):
    """The resource the profile names does not exist: a failure that says so."""


@dataclass
class Release:
    """What the application checks look at; a part not named skips its check."""

    frontend_artifact: str | None = None
    backend_image: str | None = None


@dataclass
class Context:
    """What a check reads from: clients, the profile, the release, and reads shared between checks."""

    client: ClientFactory
    profile: EnvironmentProfile
    release: Release | None = None
    notification_topic_arn: str = ""
    _memo: dict[str, _Pending] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def once(self, key: str, read: Callable[[], T]) -> T:
        """One read per run for what several checks look at (the VPC, the database, the distribution)."""
        with self._lock:
            if key not in self._memo:
                self._memo[key] = _Pending()
            pending = self._memo[key]
        return pending.get(read)


class _Pending:
    """A read done once even when several threads ask for it at the same time; errors are shared too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def get(self, read: Callable[[], T]) -> T:
        with self._lock:
            if not self._done:
                try:
                    self._value = read()
                except Exception as exc:  # noqa: BLE001 - re-raised to every check that needs this read
                    self._error = exc
                self._done = True
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value


Verdict = tuple[bool, dict[str, Any]]


@dataclass(frozen=True)
class Check:
    id: str
    section: str
    title: str
    resource: Callable[[EnvironmentProfile], str]
    read: Callable[[Context], Verdict]
    severity: Severity = "blocking"
    needs: str | None = None  # the part of the release the check reads


CHECKS: list[Check] = []


def check(
    check_id: str,
    section: str,
    title: str,
    resource: Callable[[EnvironmentProfile], str],
    severity: Severity = "blocking",
    needs: str | None = None,
) -> Callable[[Callable[[Context], Verdict]], Callable[[Context], Verdict]]:
    def register(read: Callable[[Context], Verdict]) -> Callable[[Context], Verdict]:
        CHECKS.append(Check(check_id, section, title, resource, read, severity, needs))
        return read

    return register


# -- Access: the environment's role ------------------------------------------------------------------

ACCESS_CHECK = "access.environment_role"


@check(
    ACCESS_CHECK,
    "Infrastructure",
    "The controller acts in the environment through its role",
    lambda p: p.target.role_arn,
)
def environment_role(ctx: Context) -> Verdict:
    """Assumes the role (the first call of the environment's session does) and asks who it is."""
    identity = ctx.client("sts").get_caller_identity()
    account = ctx.profile.target.account_id
    return identity["Account"] == account, {"account": identity["Account"], "acting_as": identity["Arn"]}


# -- Infrastructure: network -----------------------------------------------------------------------


def _vpc(ctx: Context) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        name = ctx.profile.preflight.vpc
        key = "vpc-id" if name.startswith("vpc-") else "tag:Name"
        found = ec2.describe_vpcs(Filters=[{"Name": key, "Values": [name]}])["Vpcs"]
        if not found:
            raise Missing(f"no VPC {name!r}")
        vpc: dict[str, Any] = found[0]
        return vpc

    return ctx.once("vpc", read)


def _subnets(ctx: Context) -> list[dict[str, Any]]:
    """The VPC's subnets, each marked public when its route table sends 0.0.0.0/0 to an internet gateway."""

    def read() -> list[dict[str, Any]]:
        ec2 = ctx.client("ec2")
        vpc_id = _vpc(ctx)["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
        main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
        by_subnet = {a["SubnetId"]: t for t in tables for a in t.get("Associations", []) if a.get("SubnetId")}
        marked = []
        for subnet in subnets:
            table = by_subnet.get(subnet["SubnetId"], main) or {}
            public = any(
                route.get("DestinationCidrBlock") == "0.0.0.0/0" and str(route.get("GatewayId", "")).startswith("igw-")
                for route in table.get("Routes", [])
            )
            marked.append({"id": subnet["SubnetId"], "az": subnet["AvailabilityZone"], "public": public})
        return marked

    return ctx.once("subnets", read)


def _vpc_name(profile: EnvironmentProfile) -> str:
    return profile.preflight.vpc


@check("network.subnets", "Infrastructure", "Public and private subnets in enough Availability Zones", _vpc_name)
def subnets_across_zones(ctx: Context) -> Verdict:
    subnets = _subnets(ctx)
    public = sorted({s["az"] for s in subnets if s["public"]})
    private = sorted({s["az"] for s in subnets if not s["public"]})
    wanted = ctx.profile.preflight.availability_zones
    ok = len(public) >= wanted and len(private) >= wanted
    return ok, {"public_zones": public, "private_zones": private, "required_zones": wanted}


@check("network.nat_gateways", "Infrastructure", "NAT gateways available for the private subnets", _vpc_name)
def nat_gateways(ctx: Context) -> Verdict:
    vpc_id = _vpc(ctx)["VpcId"]
    gateways = ctx.client("ec2").describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    available = [g["NatGatewayId"] for g in gateways["NatGateways"] if g["State"] == "available"]
    return bool(available), {"available": available}


@check(
    "network.database_ports_closed", "Security", "No security group opens a database port to the internet", _vpc_name
)
def database_ports_closed(ctx: Context) -> Verdict:
    vpc_id = _vpc(ctx)["VpcId"]
    ports = ctx.profile.preflight.database_ports
    groups = ctx.client("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    open_rules = []
    for group in groups["SecurityGroups"]:
        for rule in group.get("IpPermissions", []):
            everyone = [r["CidrIp"] for r in rule.get("IpRanges", []) if r.get("CidrIp") == "0.0.0.0/0"] + [
                r["CidrIpv6"] for r in rule.get("Ipv6Ranges", []) if r.get("CidrIpv6") == "::/0"
            ]
            if not everyone:
                continue
            all_ports = rule.get("IpProtocol") == "-1"
            low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
            exposed = [port for port in ports if all_ports or low <= port <= high]
            if exposed:
                open_rules.append({"group": group["GroupId"], "ports": exposed, "to": everyone})
    return not open_rules, {"open_to_the_internet": open_rules, "ports_checked": ports}


# -- Infrastructure: S3 and CloudFront ---------------------------------------------------------------


@check("s3.site_versioning", "Infrastructure", "Site bucket versioning enabled", lambda p: p.frontend.site_bucket)
def site_versioning(ctx: Context) -> Verdict:
    status = ctx.client("s3").get_bucket_versioning(Bucket=ctx.profile.frontend.site_bucket).get("Status", "Disabled")
    return status == "Enabled", {"versioning": status}


@check("s3.backup_bucket", "Infrastructure", "Backup bucket present", lambda p: p.frontend.backup_bucket)
def backup_bucket(ctx: Context) -> Verdict:
    ctx.client("s3").head_bucket(Bucket=ctx.profile.frontend.backup_bucket)
    return True, {"bucket": ctx.profile.frontend.backup_bucket}


def _distribution(ctx: Context) -> dict[str, Any]:
    return ctx.once(
        "distribution",
        lambda: ctx.client("cloudfront").get_distribution(Id=ctx.profile.frontend.distribution_id)["Distribution"][
            "DistributionConfig"
        ],
    )


def _distribution_id(profile: EnvironmentProfile) -> str:
    return profile.frontend.distribution_id


@check("cloudfront.enabled", "Infrastructure", "CloudFront distribution enabled", _distribution_id)
def distribution_enabled(ctx: Context) -> Verdict:
    enabled = bool(_distribution(ctx)["Enabled"])
    return enabled, {"enabled": enabled}


@check("cloudfront.custom_domain", "Infrastructure", "Distribution serves a custom domain", _distribution_id)
def custom_domain(ctx: Context) -> Verdict:
    aliases = _distribution(ctx).get("Aliases", {}).get("Items", [])
    return bool(aliases), {"aliases": aliases}


@check("cloudfront.certificate", "Security", "ACM certificate issued and not near expiry", _distribution_id)
def certificate(ctx: Context) -> Verdict:
    arn = _distribution(ctx).get("ViewerCertificate", {}).get("ACMCertificateArn")
    if not arn:
        return False, {"certificate": None, "why": "the distribution uses no ACM certificate"}
    # CloudFront's certificates live in us-east-1 whatever the controller's region.
    found = ctx.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    expires = found.get("NotAfter")
    days_left = (expires - datetime.now(UTC)).days if expires else None
    minimum = ctx.profile.preflight.certificate_min_days
    ok = found["Status"] == "ISSUED" and days_left is not None and days_left >= minimum
    return ok, {"certificate": arn, "status": found["Status"], "days_left": days_left, "required_days": minimum}


@check("cloudfront.https_only", "Security", "Viewers are held to HTTPS", _distribution_id)
def https_only(ctx: Context) -> Verdict:
    config = _distribution(ctx)
    behaviours = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", {}).get("Items", [])]
    policies = sorted({b["ViewerProtocolPolicy"] for b in behaviours})
    return all(p in {"https-only", "redirect-to-https"} for p in policies), {"viewer_protocol_policies": policies}


_TLS_ORDER = ["SSLv3", "TLSv1", "TLSv1_2016", "TLSv1.1_2016", "TLSv1.2_2018", "TLSv1.2_2019", "TLSv1.2_2021"]


@check("cloudfront.minimum_tls", "Security", "A current minimum TLS protocol", _distribution_id)
def minimum_tls(ctx: Context) -> Verdict:
    version = _distribution(ctx).get("ViewerCertificate", {}).get("MinimumProtocolVersion", "TLSv1")
    required = ctx.profile.preflight.minimum_tls
    ok = version in _TLS_ORDER and _TLS_ORDER.index(version) >= _TLS_ORDER.index(required)
    return ok, {"minimum_protocol_version": version, "required": required}


# -- Infrastructure: RDS -------------------------------------------------------------------------------


def _database(ctx: Context) -> dict[str, Any]:
    return ctx.once(
        "database",
        lambda: ctx.client("rds").describe_db_instances(DBInstanceIdentifier=ctx.profile.database.instance_id)[
            "DBInstances"
        ][0],
    )


def _instance(profile: EnvironmentProfile) -> str:
    return profile.database.instance_id


def _database_flag(attribute: str, want: bool = True) -> Callable[[Context], Verdict]:
    def read(ctx: Context) -> Verdict:
        value = bool(_database(ctx).get(attribute, False))
        return value == want, {attribute: value}

    return read


check("rds.multi_az", "Infrastructure", "Database is Multi-AZ", _instance)(_database_flag("MultiAZ"))
check("rds.storage_encrypted", "Security", "Database storage encrypted", _instance)(_database_flag("StorageEncrypted"))
check("rds.not_public", "Security", "Database not publicly accessible", _instance)(
    _database_flag("PubliclyAccessible", want=False)
)
check("rds.deletion_protection", "Infrastructure", "Database deletion protection on", _instance)(
    _database_flag("DeletionProtection")
)
check("rds.performance_insights", "Monitoring", "Performance Insights on", _instance, severity="warning")(
    _database_flag("PerformanceInsightsEnabled")
)


@check("rds.backup_retention", "Infrastructure", "Backups kept long enough", _instance)
def backup_retention(ctx: Context) -> Verdict:
    days = int(_database(ctx).get("BackupRetentionPeriod", 0))
    required = ctx.profile.preflight.backup_retention_days
    return days >= required, {"retention_days": days, "required_days": required}


# -- Infrastructure: load balancer ------------------------------------------------------------------------


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
    elb = ctx.client("elbv2")
    groups = elb.describe_target_groups(LoadBalancerArn=_balancer(ctx)["LoadBalancerArn"])["TargetGroups"]
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
            }
        )
    ok = bool(seen) and all(g["health_check"] and g["targets"] and not g["unhealthy"] for g in seen)
    return ok, {"target_groups": seen}


# -- Security: secrets ------------------------------------------------------------------------------------


def _secret_check(role: str) -> Callable[[Context], Verdict]:
    def read(ctx: Context) -> Verdict:
        name = getattr(ctx.profile.preflight.secrets, role)
        # DescribeSecret only: the value is never read, so it cannot be logged or stored.
        found = ctx.client("secretsmanager").describe_secret(SecretId=name)
        rotation = bool(found.get("RotationEnabled"))
        last = found.get("LastRotatedDate") or found.get("LastChangedDate") or found.get("CreatedDate")
        limit = ctx.profile.preflight.secret_max_age_days
        age = (datetime.now(UTC) - last.astimezone(UTC)).days if last else None
        ok = rotation or (age is not None and age <= limit)
        return ok, {"secret": found.get("ARN", name), "rotation_enabled": rotation, "age_days": age, "limit": limit}

    return read


def _secret_name(role: str) -> Callable[[EnvironmentProfile], str]:
    def name(profile: EnvironmentProfile) -> str:
        return str(getattr(profile.preflight.secrets, role))

    return name


for _role, _title in (
    ("database_password", "Database password in Secrets Manager, rotated"),
    ("jwt_secret", "JWT secret in Secrets Manager, rotated"),
    ("github_oauth", "GitHub OAuth credentials in Secrets Manager, rotated"),
):
    check(f"secrets.{_role}", "Security", _title, _secret_name(_role))(_secret_check(_role))


# -- Monitoring -------------------------------------------------------------------------------------------


def _alarms(ctx: Context) -> list[dict[str, Any]]:
    names = ctx.profile.bake.alarm_names
    return ctx.once(
        "alarms", lambda: ctx.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"] if names else []
    )


def _alarm_names(profile: EnvironmentProfile) -> str:
    return ", ".join(profile.bake.alarm_names) or "(none named)"


@check("monitoring.alarms", "Monitoring", "The profile's alarms exist and notify someone", _alarm_names)
def alarms_exist(ctx: Context) -> Verdict:
    wanted = ctx.profile.bake.alarm_names
    found = {alarm["AlarmName"]: alarm for alarm in _alarms(ctx)}
    missing = [name for name in wanted if name not in found]
    silent = [name for name, alarm in found.items() if not alarm.get("AlarmActions")]
    return bool(wanted) and not missing and not silent, {"missing": missing, "without_actions": silent}


@check("monitoring.no_alarm_firing", "Monitoring", "No alarm already in ALARM (it would hide a breach)", _alarm_names)
def no_alarm_firing(ctx: Context) -> Verdict:
    alarms = _alarms(ctx)
    missing = sorted(set(ctx.profile.bake.alarm_names) - {alarm["AlarmName"] for alarm in alarms})
    if missing or not alarms:
        raise Missing(f"alarms not found: {', '.join(missing) or 'none named'}")  # silence is not a pass
    firing = [alarm["AlarmName"] for alarm in alarms if alarm["StateValue"] == "ALARM"]
    return not firing, {"in_alarm": firing}


@check("monitoring.dashboard", "Monitoring", "Dashboard exists", lambda p: p.preflight.dashboard, severity="warning")
def dashboard(ctx: Context) -> Verdict:
    ctx.client("cloudwatch").get_dashboard(DashboardName=ctx.profile.preflight.dashboard)
    return True, {"dashboard": ctx.profile.preflight.dashboard}


@check(
    "monitoring.log_retention",
    "Monitoring",
    "Log groups exist with a retention set",
    lambda p: ", ".join(p.preflight.log_groups),
    severity="warning",
)
def log_retention(ctx: Context) -> Verdict:
    logs = ctx.client("logs")
    seen = {}
    for name in ctx.profile.preflight.log_groups:
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        seen[name] = None if group is None else group.get("retentionInDays", "never expires")
    ok = all(isinstance(days, int) for days in seen.values())
    return ok, {"retention_days": seen}


@check(
    "monitoring.notifications_subscribed", "Monitoring", "Someone is subscribed to the notifications", lambda p: "topic"
)
def notifications_subscribed(ctx: Context) -> Verdict:
    if not ctx.notification_topic_arn:
        raise Missing("no notification topic is configured")
    subscriptions = ctx.client("sns").list_subscriptions_by_topic(TopicArn=ctx.notification_topic_arn)["Subscriptions"]
    confirmed = [s["Protocol"] for s in subscriptions if s["SubscriptionArn"].startswith("arn:")]
    pending = sum(not s["SubscriptionArn"].startswith("arn:") for s in subscriptions)
    return bool(confirmed), {"topic": ctx.notification_topic_arn, "confirmed": len(confirmed), "pending": pending}


# -- Application --------------------------------------------------------------------------------------------


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
    assert ctx.release is not None
    assert ctx.release.backend_image is not None
    image = ctx.release.backend_image
    registry, _, rest = image.partition("/")
    if ".dkr.ecr." not in registry:
        return not ctx.profile.preflight.ecr_required, {"image": image, "why": "not an ECR image"}
    if "@" in rest:
        repository, digest = rest.split("@", 1)
        ids = [{"imageDigest": digest}]
    else:
        repository, _, tag = rest.rpartition(":")
        ids = [{"imageTag": tag}]
    details = ctx.client("ecr").describe_images(
        registryId=registry.split(".")[0], repositoryName=repository, imageIds=ids
    )["imageDetails"]
    return bool(details), {"image": image, "digest": details[0].get("imageDigest") if details else None}


@check("ecs.service_active", "Infrastructure", "ECS service present and active", lambda p: p.backend.service)
def service_active(ctx: Context) -> Verdict:
    backend = ctx.profile.backend
    response = ctx.client("ecs").describe_services(cluster=backend.cluster, services=[backend.service])
    services = response.get("services", [])
    if not services:
        return False, {"failures": response.get("failures", [])}
    return services[0]["status"] == "ACTIVE", {
        "status": services[0]["status"],
        "task_definition": services[0].get("taskDefinition"),
    }


CHECK_IDS = [item.id for item in CHECKS]


def _run_one(item: Check, ctx: Context) -> CheckResult:
    """Run one check; an unreadable or missing resource is a failure that says why, never a pass."""
    config = ctx.profile.preflight
    severity = config.severity.get(item.id, item.severity)
    base = {
        "id": item.id,
        "title": item.title,
        "section": item.section,
        "severity": severity,
        "resource": item.resource(ctx.profile),
    }
    if item.id in config.skip:
        return CheckResult(**base, result="skipped", evidence={"reason": config.skip[item.id]})
    if item.needs and getattr(ctx.release, item.needs, None) is None:
        return CheckResult(**base, result="skipped", evidence={"reason": f"no release named ({item.needs})"})
    try:
        ok, evidence = item.read(ctx)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        evidence = {"unreadable": error.get("Code", "ClientError"), "message": error.get("Message", str(exc))}
        return CheckResult(**base, result="fail", evidence=evidence)
    except (Missing, IndexError, KeyError, BotoCoreError) as exc:
        return CheckResult(**base, result="fail", evidence={"unreadable": type(exc).__name__, "message": str(exc)})
    outcome: Outcome = "pass" if ok else ("fail" if severity == "blocking" else "warn")
    return CheckResult(**base, result=outcome, evidence=evidence)


def run_preflight(
    profile: EnvironmentProfile,
    client: ClientFactory,
    release: Release | None = None,
    notification_topic_arn: str = "",
    workers: int = 8,
) -> PreflightReport:
    """Run every check, in parallel: they only read, and most wait on the network."""
    ctx = Context(client, profile, release, notification_topic_arn)
    first, rest = _access_first()
    access = _run_one(first, ctx)
    if access.result == "fail":
        # Nothing in the environment can be read: one clear failure, the rest not run (not each failing).
        reason = {"reason": "the environment's role could not be assumed (access.environment_role)"}
        skipped = [_skipped(item, ctx, reason) for item in rest]
        return PreflightReport(checks=[access, *skipped])
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="preflight") as pool:
        # Each check runs in a copy of this context, so what the caller's context carries (logging keys,
        # tracing) follows the check into the pool's thread.
        futures = [pool.submit(contextvars.copy_context().run, _run_one, item, ctx) for item in rest]
        results = [future.result() for future in futures]
    return PreflightReport(checks=[access, *results])


def _access_first() -> tuple[Check, list[Check]]:
    access = next(item for item in CHECKS if item.id == ACCESS_CHECK)
    return access, [item for item in CHECKS if item is not access]


def _skipped(item: Check, ctx: Context, evidence: dict[str, Any]) -> CheckResult:
    severity = ctx.profile.preflight.severity.get(item.id, item.severity)
    return CheckResult(
        id=item.id,
        title=item.title,
        section=item.section,
        severity=severity,
        resource=item.resource(ctx.profile),
        result="skipped",
        evidence=evidence,
    )


def unused_severity_keys(profile: EnvironmentProfile) -> list[str]:
    """Severity or skip entries naming no check: a typo in a profile would silently do nothing."""
    named = set(profile.preflight.severity) | set(profile.preflight.skip)
    return sorted(named - set(CHECK_IDS))
