"""The checklist's Infrastructure, Monitoring and Security items, each checked against the account."""

from __future__ import annotations

import contextvars
import fnmatch
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.checks.release import GitHubApp, GitHubUnreadable, commit_checks, installation_token
from chalicelib.domain.profiles import EnvironmentProfile, Severity
from chalicelib.domain.progress import CheckOutcome as Outcome
from chalicelib.domain.progress import CheckResult, PreflightReport
from chalicelib.platform.alarms import described_alarms

ClientFactory = Callable[[str], Any]
T = TypeVar("T")


class Missing(Exception):
    """The resource the profile names does not exist: a failure that says so."""


@dataclass
class Release:
    """What the application checks look at; a part not named skips its check."""

    frontend_artifact: str | None = None
    backend_image: str | None = None
    git_sha: str | None = None


@dataclass
class Context:
    """What a check reads from: clients, the profile, the release, and reads shared between checks."""

    client: ClientFactory
    profile: EnvironmentProfile
    release: Release | None = None
    notification_topic_arn: str = ""
    # The controller's GitHub App, read from the controller's secrets when a check needs it.
    github_app: Callable[[], GitHubApp] | None = None
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
    applies: Callable[[EnvironmentProfile], bool] | None = None  # when the profile asks for the item at all


CHECKS: list[Check] = []


def check(
    check_id: str,
    section: str,
    title: str,
    resource: Callable[[EnvironmentProfile], str],
    severity: Severity = "blocking",
    needs: str | None = None,
    applies: Callable[[EnvironmentProfile], bool] | None = None,
) -> Callable[[Callable[[Context], Verdict]], Callable[[Context], Verdict]]:
    def register(read: Callable[[Context], Verdict]) -> Callable[[Context], Verdict]:
        CHECKS.append(Check(check_id, section, title, resource, read, severity, needs, applies))
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


@check(
    "s3.noncurrent_expiry",
    "Infrastructure",
    "Site bucket's old versions expire (a lifecycle rule), so its history does not grow forever",
    lambda p: p.frontend.site_bucket,
    severity="warning",
)
def noncurrent_expiry(ctx: Context) -> Verdict:
    """Every launch writes new versions of the site's objects; kept forever, they cost storage, and every
    listing of the bucket's versions reads them all."""
    s3 = ctx.client("s3")
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=ctx.profile.frontend.site_bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    expiring = {
        rule.get("ID", "(unnamed)"): rule["NoncurrentVersionExpiration"].get("NoncurrentDays")
        for rule in rules
        if rule.get("Status") == "Enabled" and rule.get("NoncurrentVersionExpiration")
    }
    return bool(expiring), {"noncurrent_versions_expire_after_days": expiring, "rules": len(rules)}


def _three_buckets(profile: EnvironmentProfile) -> str:
    frontend = profile.frontend
    return ", ".join([frontend.site_bucket, frontend.backup_bucket, frontend.artifact_bucket])


@check(
    "s3.bucket_keys",
    "Security",
    "The site's, backup's and artifacts' buckets encrypt with keys the controller may use (S3's or AWS's aws/s3)",
    _three_buckets,
)
def bucket_keys(ctx: Context) -> Verdict:
    """A bucket that encrypts with a customer managed KMS key is readable and writable only by who that key's
    policy lets use it, and the environment's role is given no kms: right: every copy of the launch would be
    refused half-way. Refused here, before anything changes, naming the key."""
    frontend = ctx.profile.frontend
    evidence: dict[str, Any] = {}
    customer: list[str] = []
    for bucket in dict.fromkeys([frontend.site_bucket, frontend.backup_bucket, frontend.artifact_bucket]):
        key = _bucket_key(ctx, bucket)
        evidence[bucket] = key or "SSE-S3"
        if key and _customer_managed(ctx, key):
            customer.append(f"{bucket} ({key})")
    if customer:
        evidence["why"] = (
            "encrypted with a customer managed KMS key, which the environment's role may not use: "
            f"{', '.join(customer)}; encrypt these buckets with SSE-S3 or the AWS managed key aws/s3 (customer "
            "managed keys are not supported)"
        )
    return not customer, evidence


def _bucket_key(ctx: Context, bucket: str) -> str | None:
    """The KMS key a bucket encrypts new objects with by default (None: SSE-S3, every bucket's default)."""
    try:
        rules = ctx.client("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        return None
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm", "").startswith("aws:kms"):
            return str(default.get("KMSMasterKeyID") or "alias/aws/s3")
    return None


def _customer_managed(ctx: Context, key: str) -> bool:
    if key == "alias/aws/s3" or key.endswith(":alias/aws/s3"):
        return False
    return bool(ctx.client("kms").describe_key(KeyId=key)["KeyMetadata"]["KeyManager"] == "CUSTOMER")


def _workload_roles(profile: EnvironmentProfile) -> list[str]:
    """The roles the profile lets start launches whose sessions no identity provider names: workloads."""
    from chalicelib.platform.roles import principal_matches

    return [
        listed
        for listed in profile.callers.iam_principals
        if ":role/" in listed
        and not listed.endswith("*")
        and not any(principal_matches(idp, _without_path(listed)) for idp in profile.people.identity_provider_roles)
    ]


def _without_path(role_arn: str) -> str:
    return f"{role_arn.partition(':role/')[0]}:role/{role_arn.rsplit('/', 1)[-1]}"


@check(
    "callers.workloads",
    "Security",
    "Each role the profile lets start launches is a workload no person may assume (AWS's services, an OIDC "
    "identity bound to its subject), so that whoever starts a launch is someone the controller can name",
    lambda p: ", ".join(_workload_roles(p)) or "(none listed)",
    applies=lambda p: bool(_workload_roles(p)),
)
def workloads(ctx: Context) -> Verdict:
    from chalicelib.platform.roles import RoleUnverifiable, people_who_may_assume, role_facts
    from chalicelib.platform.wiring import controller_account

    controller, environment = controller_account(), ctx.profile.target.account_id
    clients = {controller: "iam@controller", environment: "iam"}
    verified: list[str] = []
    refused: dict[str, str] = {}
    for listed in _workload_roles(ctx.profile):
        name = clients.get(listed.split(":")[4])

        def iam_of(_account: str, name: str | None = name) -> Any:
            return ctx.client(name) if name else None

        try:
            facts = role_facts(_without_path(listed), iam_of)
        except RoleUnverifiable as exc:
            refused[listed] = str(exc)
            continue
        who = people_who_may_assume(facts)
        if who:
            refused[listed] = f"may be assumed by {who}: a person could start a launch under any session name"
        else:
            verified.append(listed)
    return not refused, {"workloads": verified, "refused": refused}


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
    # CloudFront's certificates live in us-east-1 whatever the environment's region.
    found = ctx.client("acm@cloudfront").describe_certificate(CertificateArn=arn)["Certificate"]
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


@check(
    "rds.instance_snapshots",
    "Infrastructure",
    "The database takes the pre-launch snapshot the rollback point needs (a DB instance, not an Aurora cluster's)",
    _instance,
    applies=lambda p: p.database.snapshot,
)
def instance_snapshots(ctx: Context) -> Verdict:
    # RDS refuses CreateDBSnapshot for a member of an Aurora cluster: its snapshots are the cluster's, which the
    # controller does not take or restore. Refused here, before anything changes, not at the rollback point.
    cluster = _database(ctx).get("DBClusterIdentifier")
    evidence: dict[str, Any] = {"cluster": cluster}
    if cluster:
        evidence["why"] = (
            f"{ctx.profile.database.instance_id} is a member of the Aurora cluster {cluster}, whose snapshots are the "
            "cluster's (CreateDBClusterSnapshot), which the controller does not take or restore: set "
            "database.snapshot = false (and restore_on_rollback = false) and protect the cluster with its own "
            "backups, or launch against a DB instance"
        )
    return not cluster, evidence


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
    return ctx.once("alarms", lambda: described_alarms(ctx.client("cloudwatch"), names))


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


def _log_groups(profile: EnvironmentProfile) -> str:
    return ", ".join(profile.preflight.log_groups)


@check(
    "monitoring.log_retention",
    "Monitoring",
    "Log groups exist with a retention set",
    _log_groups,
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
    image = ctx.release.backend_image
    registry, _, rest = image.partition("/")
    if ".dkr.ecr." not in registry:
        return image, None
    if "@" in rest:
        repository, digest = rest.split("@", 1)
        image_id = {"imageDigest": digest}
    else:
        repository, _, tag = rest.rpartition(":")
        image_id = {"imageTag": tag}
    return image, {"registryId": registry.split(".")[0], "repositoryName": repository, "imageId": image_id}


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


# -- Security and monitoring items beyond the infrastructure ---------------------------------------------------

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
    service = ecs.describe_services(cluster=backend.cluster, services=[backend.service])["services"][0]
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
    if item.applies is not None and not item.applies(ctx.profile):
        return CheckResult(**base, result="skipped", evidence={"reason": "the profile does not ask for it"})
    if item.needs and getattr(ctx.release, item.needs, None) is None:
        return CheckResult(**base, result="skipped", evidence={"reason": f"no release named ({item.needs})"})
    try:
        ok, evidence = item.read(ctx)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        evidence = {"unreadable": error.get("Code", "ClientError"), "message": error.get("Message", str(exc))}
        return CheckResult(**base, result="fail", evidence=evidence)
    except (Missing, IndexError, KeyError, BotoCoreError, GitHubUnreadable) as exc:
        return CheckResult(**base, result="fail", evidence={"unreadable": type(exc).__name__, "message": str(exc)})
    outcome: Outcome = "pass" if ok else ("fail" if severity == "blocking" else "warn")
    return CheckResult(**base, result=outcome, evidence=evidence)


def run_preflight(
    profile: EnvironmentProfile,
    client: ClientFactory,
    release: Release | None = None,
    notification_topic_arn: str = "",
    workers: int = 8,
    github_app: Callable[[], GitHubApp] | None = None,
    deadline_seconds: float | None = None,
) -> PreflightReport:
    """Run every check, in parallel: they only read, and most wait on the network. With `deadline_seconds`,
    the report is made then whatever is still running (a check not finished fails, saying so): the API's
    report must reach its caller within API Gateway's 29 s, and an image scan alone may be waited for 10
    minutes; a launch's preflight waits for every check."""
    ctx = Context(client, profile, release, notification_topic_arn, github_app)
    first, rest = _access_first()
    access = _run_one(first, ctx)
    if access.result == "fail":
        # Nothing in the environment can be read: one clear failure, the rest not run (not each failing).
        reason = {"reason": "the environment's role could not be assumed (access.environment_role)"}
        skipped = [_skipped(item, ctx, reason) for item in rest]
        return PreflightReport(checks=[access, *skipped])
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="preflight")
    try:
        # Each check runs in a copy of this context, so what the caller's context carries (logging keys,
        # tracing) follows the check into the pool's thread.
        futures = [pool.submit(contextvars.copy_context().run, _run_one, item, ctx) for item in rest]
        wait(futures, timeout=deadline_seconds)
        results = [
            future.result() if future.done() else _unfinished(item, ctx, deadline_seconds or 0)
            for item, future in zip(rest, futures, strict=True)
        ]
    finally:
        # Checks still running are left to end on their own (they only read); the report does not wait.
        pool.shutdown(wait=deadline_seconds is None, cancel_futures=True)
    return PreflightReport(checks=[access, *results])


def _unfinished(item: Check, ctx: Context, seconds: float) -> CheckResult:
    """A check the report could not wait for: not a pass, whatever it would have found."""
    blocking = ctx.profile.preflight.severity.get(item.id, item.severity) == "blocking"
    evidence = {"unfinished": f"not finished within the report's {seconds:g} s (a launch's preflight waits for it)"}
    return _skipped(item, ctx, evidence, result="fail" if blocking else "warn")


def _access_first() -> tuple[Check, list[Check]]:
    access = next(item for item in CHECKS if item.id == ACCESS_CHECK)
    return access, [item for item in CHECKS if item is not access]


def _skipped(item: Check, ctx: Context, evidence: dict[str, Any], result: Outcome = "skipped") -> CheckResult:
    """A check not run (or not waited for), as `result`, with why."""
    severity = ctx.profile.preflight.severity.get(item.id, item.severity)
    return CheckResult(
        id=item.id,
        title=item.title,
        section=item.section,
        severity=severity,
        resource=item.resource(ctx.profile),
        result=result,
        evidence=evidence,
    )


def unused_severity_keys(profile: EnvironmentProfile) -> list[str]:
    """Severity or skip entries naming no check: a typo in a profile would silently do nothing."""
    named = set(profile.preflight.severity) | set(profile.preflight.skip)
    return sorted(named - set(CHECK_IDS))
