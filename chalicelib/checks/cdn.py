"""The checklist's S3 and CloudFront items: versioning, keys, backups, the distribution, its domain and TLS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.checks.check import Context, Verdict, check
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.platform.roles import RoleUnverifiable, people_who_may_assume, principal_matches, role_facts
from chalicelib.platform.wiring import controller_account


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


def _release_store(profile: EnvironmentProfile) -> str:
    return profile.frontend.key_value_store_arn or "(none named)"


@check(
    "cloudfront.release_router",
    "Infrastructure",
    "The distribution serves the release the switch names: a CloudFront Function on its default behaviour's "
    "viewer requests, published, reading the profile's KeyValueStore",
    _release_store,
    # Named, the store is meant to be switched (layout releases, or a team on its way there).
    applies=lambda p: p.frontend.key_value_store_arn is not None,
)
def release_router(ctx: Context) -> Verdict:
    """Layout releases goes live and rolls back by writing the store's entry; without the function reading it
    on every viewer request, the switch would change nothing a user sees, and a rollback would not either."""
    store = ctx.profile.frontend.key_value_store_arn
    behaviour = _distribution(ctx)["DefaultCacheBehavior"]
    associations = behaviour.get("FunctionAssociations", {}).get("Items", [])
    viewer = [item["FunctionARN"] for item in associations if item["EventType"] == "viewer-request"]
    evidence: dict[str, Any] = {"viewer_request_function": viewer[0] if viewer else None, "store": store}
    if not viewer:
        evidence["why"] = (
            "the default cache behaviour runs no CloudFront Function on viewer requests: associate the release "
            "router (deploy/release-router.js) with it"
        )
        return False, evidence
    name = viewer[0].rsplit("/", 1)[-1]
    summary = ctx.client("cloudfront").describe_function(Name=name, Stage="LIVE")["FunctionSummary"]
    stores = [
        item["KeyValueStoreARN"]
        for item in summary["FunctionConfig"].get("KeyValueStoreAssociations", {}).get("Items", [])
    ]
    evidence["function_stores"] = stores
    if store not in stores:
        evidence["why"] = f"the function {name} does not read the profile's KeyValueStore {store}"
        return False, evidence
    if ctx.profile.frontend.canary:
        # The cookie that keeps a canary's viewer on its side is set on the way out.
        responses = [item["FunctionARN"] for item in associations if item["EventType"] == "viewer-response"]
        evidence["viewer_response_function"] = responses[0] if responses else None
        if viewer[0] not in responses:
            evidence["why"] = (
                f"frontend.canary: associate {name} with viewer responses too, which give each viewer the cookie "
                "that keeps them on the canary's side or the live release's"
            )
            return False, evidence
    described = ctx.client("cloudfront-keyvaluestore").describe_key_value_store(KvsARN=store)
    evidence["store_items"] = described["ItemCount"]
    return True, evidence
