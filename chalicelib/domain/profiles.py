"""Environment profiles: what a launch into each environment touches, checks and waits for."""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.domain.wording import in_words, shaped


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Severity = Literal["blocking", "warning"]
# STS's limit on a session assumed from another role's session (docs/limits.md, sts.role_chaining).
ROLE_CHAINING_SECONDS = 3600


KEY_VALUE_STORE_ARN = shaped(
    r"^arn:aws[a-z-]*:cloudfront::[0-9]{12}:key-value-store/[A-Za-z0-9-]{1,64}$",
    "a CloudFront KeyValueStore's ARN: arn:aws:cloudfront::<account>:key-value-store/<id>",
)


RUM_CUSTOM_NAMESPACE = shaped(
    r"^RUM/CustomMetrics/[A-Za-z0-9_./#-]{1,237}$",
    "a CloudWatch RUM custom metrics namespace: RUM/CustomMetrics/<the namespace defined>",
)


class ReleaseFigures(_Strict):
    """The site's real-user figures by release: CloudWatch RUM custom metrics the team defines on its app
    monitor (BatchCreateRumMetricDefinitions), each with the dimension `dimension` taken from the web client's
    application version (DimensionKeys {"metadata.version": "<dimension>"}), so each release counts apart."""

    namespace: str = Field(
        pattern=RUM_CUSTOM_NAMESPACE,
        description="where RUM publishes the custom metrics: RUM/CustomMetrics/<the namespace defined>",
    )
    dimension: str = Field(default="release", min_length=1, max_length=255)
    views_metric: str = Field(default="PageViews", min_length=1, max_length=255, description="page view events")
    errors_metric: str = Field(default="JsErrors", min_length=1, max_length=255, description="JavaScript errors")


class FrontendTarget(_Strict):
    site_bucket: str
    backup_bucket: str
    distribution_id: str
    # A release's frontend is copied to the public site, so it may come only from here: a launch naming any
    # other bucket is refused, and the controller's policy reads no other.
    artifact_bucket: str = Field(description="the S3 bucket the environment's release builds are published to")
    batch_copies_above: int = Field(
        default=20_000,
        ge=0,
        description="a stage with more objects to copy than this (backup, upload, copy back) has the state machine "
        "copy them in batches, a Distributed Map's children, rather than in its own Lambda",
    )
    copies_per_batch: int = Field(
        default=500, ge=1, le=500, description="how many copies one child of the Distributed Map makes"
    )
    layout: Literal["copy", "releases"] = Field(
        default="copy",
        description="copy: each release is copied over the live site (the bucket's layout stays as it is); "
        "releases: each release is uploaded once under releases/<version>/ and going live or rolling back "
        "switches which release the distribution's CloudFront Function serves, copying nothing",
    )
    key_value_store_arn: str | None = Field(
        default=None,
        pattern=KEY_VALUE_STORE_ARN,
        description="the CloudFront KeyValueStore whose `live-release` key the distribution's viewer-request "
        "function reads (layout = releases)",
    )
    canary: bool = Field(
        default=False,
        description="layout releases: the release goes to a share of users first (sticky per user by cookie), "
        "the share following the backend's traffic steps; testers opt in earlier with a header",
    )
    release_figures: ReleaseFigures | None = Field(
        default=None,
        description="a frontend canary's step also judges the release's JavaScript errors per page view against "
        "the live release's, from these RUM metrics; without them the backend's verdict decides alone",
    )

    @model_validator(mode="after")
    def _releases_need_their_store(self) -> FrontendTarget:
        if self.layout == "releases" and self.key_value_store_arn is None:
            raise ValueError(
                "layout = releases needs key_value_store_arn: the CloudFront KeyValueStore the distribution's "
                "function reads the live release from"
            )
        return self


class MigrationTask(_Strict):
    """The ECS task that migrates the database before the backend rolls."""

    task_definition: str = Field(description="family, family:revision or ARN")
    container: str = Field(description="the container whose image becomes the release's and whose exit code counts")
    launch_type: Literal["FARGATE", "EC2"] = "FARGATE"
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    deadline_seconds: int = Field(default=1800, ge=5, le=7200)

    @property
    def family(self) -> str:
        """The task definition's family, however it is named."""
        return self.task_definition.rsplit("/", 1)[-1].split(":")[0]


# The environment's role names each task role in its policy, sized for this many of at most this length
# (IAM's 6,144 characters a managed policy: launchctl/build/target_role.py).
TASK_ROLES_MAX = 8
TASK_ROLE_ARN = shaped(
    r"^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,160}$",
    "an IAM role's ARN, like arn:aws:iam::123456789012:role/web-task (a name of at most 160 characters)",
)


class TrafficShift(_Strict):
    """How the service's production traffic moves to the release: at once, or in steps by ECS's own CANARY or
    LINEAR deployment strategy, each step watched for `step_bake_seconds` and judged against the old revision
    over the same minutes (chalicelib/domain/canary_verdict.py) by the controller's lifecycle hook."""

    shift: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    canary_percent: float = Field(
        default=10.0, ge=0.1, le=100.0, description="canary: the share of traffic the first step gives the release"
    )
    linear_step_percent: float = Field(
        default=20.0, ge=3.0, le=100.0, description="linear: the share of traffic each step moves to the release"
    )
    step_bake_seconds: int = Field(
        default=600, ge=5, le=86400, description="how long each step is watched before it is judged"
    )
    error_rate_margin: float = Field(
        default=0.001,
        ge=0.0,
        le=1.0,
        description="how far above the old revision's error rate the release's may be (0.001: a tenth of a percent)",
    )
    latency_margin_ms: float = Field(
        default=50.0, ge=0.0, description="how much slower than the old revision the release's answers may be"
    )
    min_requests: int = Field(
        default=100, ge=1, description="each revision's requests in a step below which the step cannot be judged"
    )
    figures_period_seconds: Literal[1, 5, 10, 30, 60] = Field(
        default=60,
        description="the period of the points a step is judged on: an ALB publishes a minute's figures (60); the "
        "local stack publishes each second's",
    )
    hook_role_arn: str | None = Field(
        default=None,
        pattern=TASK_ROLE_ARN,
        description="the role ECS takes to invoke the controller's lifecycle hook (the output TrafficHookRoleArn of "
        "deploy/target-account-role.json); required unless the shift is all_at_once",
    )
    extensions: int = Field(
        default=2,
        ge=0,
        le=10,
        description="how many more bakes a step with too little traffic to judge is watched before it fails",
    )

    @model_validator(mode="after")
    def _steps_need_the_hook_role(self) -> TrafficShift:
        if self.shift != "all_at_once" and self.hook_role_arn is None:
            raise ValueError(
                f"shift = {self.shift} needs hook_role_arn: the role ECS takes to invoke the controller's lifecycle "
                "hook at each step (deploy/target-account-role.json's output TrafficHookRoleArn)"
            )
        return self

    @field_validator("canary_percent", "linear_step_percent")
    @classmethod
    def _tenths(cls, value: float) -> float:
        # ECS takes these in tenths of a percent (canaryPercent, stepPercent).
        if abs(value * 10 - round(value * 10)) > 1e-9:
            raise ValueError("must be a multiple of 0.1, as ECS takes it")
        return value


class BackendTarget(_Strict):
    cluster: str
    service: str
    container: str
    # new_revision: register a revision with the release image; force_new_deployment: redeploy the
    # current revision, whose (mutable) image tag already points at the release.
    strategy: Literal["new_revision", "force_new_deployment"] = "new_revision"
    deadline_seconds: int = Field(
        default=1800, ge=10, le=7200, description="how long a rollout (and a rollback's) may take to be steady"
    )
    migration: MigrationTask | None = None
    task_roles: list[Annotated[str, Field(pattern=TASK_ROLE_ARN)]] = Field(
        default_factory=list,
        max_length=TASK_ROLES_MAX,
        description="the task and execution roles of the service's and the migration's task definitions: a "
        "release registers copies of those, which passes their roles to ECS, and the controller may pass no other",
    )
    traffic: TrafficShift = Field(default_factory=TrafficShift)


class DatabaseTarget(_Strict):
    instance_id: str
    snapshot: bool = True
    snapshot_deadline_seconds: int = Field(
        default=7200, ge=5, le=86400, description="how long the pre-launch snapshot may take to be available"
    )
    # Restore the pre-launch snapshot into a new instance when a launch that migrated rolls back.
    restore_on_rollback: bool = False

    @model_validator(mode="after")
    def _restore_needs_snapshot(self) -> DatabaseTarget:
        if self.restore_on_rollback and not self.snapshot:
            raise ValueError("restore_on_rollback needs snapshot = true")
        return self


class SmokeCheck(_Strict):
    name: str
    path: str = Field(pattern=shaped(r"^/", "a path starting with /"))
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_text: str | None = None
    expect_headers: list[
        Annotated[str, Field(pattern=shaped(r"^[A-Za-z0-9-]+$", "a header's name: letters, digits and dashes"))]
    ] = Field(default_factory=list, description="response headers the answer must carry (the security headers)")
    authenticated: bool = Field(default=False, description="send the smoke credential as a Bearer token")


class FunctionalConfig(_Strict):
    """Post-launch functional testing: the team's CloudWatch Synthetics canaries (sign-up and login, dashboard
    data, real-time updates, navigation, a mobile viewport), each run once against the release."""

    canaries: list[
        Annotated[
            str,
            Field(
                pattern=shaped(
                    r"^[0-9a-z_\-]{1,255}$", "a canary's name: up to 255 lower-case letters, digits, _ and -"
                )
            ),
        ]
    ] = Field(min_length=1, max_length=10)
    deadline_seconds: int = Field(
        default=900, ge=5, le=3600, description="how long the canaries' runs may take, all together"
    )
    severity: Severity = Field(
        default="blocking", description="blocking: a failed run rolls the release back; warning: it is recorded"
    )


class SmokeConfig(_Strict):
    base_url: HttpUrl
    checks: list[SmokeCheck] = Field(min_length=1)
    websocket_url: str | None = Field(
        default=None, pattern=shaped(r"^wss?://", "a WebSocket URL, starting with wss:// (or ws://)")
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    attempts: int = Field(default=3, ge=1, le=10)
    credential_secret_id: str | None = Field(
        default=None, description="Secrets Manager secret holding the smoke user's token (plain, or JSON 'token')"
    )

    @model_validator(mode="after")
    def _authenticated_checks_need_a_credential(self) -> SmokeConfig:
        if any(check.authenticated for check in self.checks) and not self.credential_secret_id:
            raise ValueError("an authenticated check needs credential_secret_id")
        return self


# The bake's checks: each a checkpoint judges, by id; blocking rolls the release back, warning is recorded.
BAKE_CHECKS = (
    "bake.alarms",
    "bake.error_rate",
    "bake.p95_latency",
    "bake.traffic",
    "bake.baseline_error_rate",
    "bake.baseline_p95",
    "bake.web_vitals",
    "bake.business_metrics",
)


class MetricReference(_Strict):
    """A CloudWatch metric the team publishes: a business figure the release must keep producing."""

    namespace: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=30)

    @property
    def label(self) -> str:
        where = ",".join(f"{key}={value}" for key, value in sorted(self.dimensions.items()))
        return f"{self.namespace}/{self.name}" + (f"{{{where}}}" if where else "")


class WebVitals(_Strict):
    """The Core Web Vitals' p75 from a CloudWatch RUM app monitor, and Google's "good" limits."""

    app_monitor: str = Field(min_length=1, max_length=255, description="the RUM app monitor's name")
    lcp_ms: float = Field(default=2500, gt=0, description="Largest Contentful Paint, p75")
    inp_ms: float = Field(default=200, gt=0, description="Interaction to Next Paint, p75 (FID's successor)")
    cls: float = Field(default=0.1, gt=0, description="Cumulative Layout Shift, p75")
    required: bool = Field(
        default=False,
        description="no RUM data at a checkpoint fails it (otherwise it is recorded as no data, never as a pass)",
    )


class BakeConfig(_Strict):
    checkpoints: list[int] = Field(
        default=[900, 3600], min_length=1, description="seconds after the bake begins when the figures are recorded"
    )
    alarm_names: list[str] = Field(default_factory=list)
    load_balancer: str | None = Field(default=None, description="ALB dimension value, app/name/id")
    error_rate_threshold: float = Field(default=0.001, gt=0, lt=1)
    p95_latency_threshold_ms: float = Field(default=500, gt=0)
    min_requests_per_minute: int = Field(
        default=0, ge=0, description="fewer requests a minute than this during the bake is a breach (0: no minimum)"
    )
    min_requests_per_checkpoint: int = Field(
        default=1,
        ge=0,
        description="with a load balancer: fewer requests than this since the release at a checkpoint fails it "
        "(a release is not declared healthy on no evidence; 0: no minimum)",
    )
    baseline_minutes: int = Field(
        default=60,
        ge=0,
        le=1440,
        description="the window before the launch whose error rate and p95 the release is compared with "
        "(0: no comparison)",
    )
    baseline_tolerance: float = Field(
        default=0.5, ge=0, le=100, description="how much worse than the baseline the release may be, as a fraction"
    )
    baseline_error_rate_margin: float = Field(
        default=0.0005, ge=0, lt=1, description="and by how much error rate at least (a few errors on a clean baseline)"
    )
    baseline_p95_margin_ms: float = Field(default=50, ge=0, description="and by how many ms of p95 at least")
    web_vitals: WebVitals | None = None
    business_metrics: list[MetricReference] = Field(
        default_factory=list, max_length=20, description="metrics that must have data points since the release"
    )
    severity: dict[str, Severity] = Field(
        default_factory=dict, description="bake check id -> blocking (rolls back, the default) or warning (recorded)"
    )
    business_metrics_judged_after_seconds: int = Field(
        default=60,
        ge=1,
        description="a business metric's silence fails a checkpoint only this long after the release (one "
        "published each minute has no point in its first seconds); earlier checkpoints record the count",
    )

    @model_validator(mode="after")
    def _checkpoints_ascending(self) -> BakeConfig:
        if self.checkpoints != sorted(set(self.checkpoints)) or self.checkpoints[0] <= 0:
            raise ValueError("checkpoints must be positive seconds, strictly ascending")
        unknown = sorted(set(self.severity) - set(BAKE_CHECKS))
        if unknown:
            raise ValueError(f"no bake check {', '.join(unknown)}; the checks are {', '.join(BAKE_CHECKS)}")
        return self


# A role's or an attestation's id.
IDENTIFIER = shaped(
    r"^[a-z][a-z0-9_]*$", "an id of lower-case letters, digits and underscores, starting with a letter (like qa_lead)"
)


class Attestation(_Strict):
    """Something an approver confirms by ticking it before approving."""

    id: str = Field(pattern=IDENTIFIER)
    text: str = Field(min_length=1, max_length=200)


# The checklist's T-1 hour list.
CHECKLIST_ATTESTATIONS = [
    Attestation(id="code_freeze", text="Code freeze confirmed"),
    Attestation(id="rollback_plan", text="Rollback plan reviewed"),
    Attestation(id="on_call", text="On-call schedule set"),
    Attestation(id="runbooks", text="Runbooks complete"),
]

# A GitHub repository, as owner/name.
REPOSITORY = shaped(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", "a GitHub repository as owner/name, like acme/web")
_EMAIL = shaped(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an email address, like quinn@example.com")


class ApprovalPolicy(_Strict):
    """Who signs off a launch into the environment, for how long the request stays open, what they confirm."""

    roles: list[str] = Field(default=["tech_lead", "product_manager", "qa_lead"], min_length=1)
    approvers: dict[str, list[Annotated[str, Field(pattern=_EMAIL)]]] = Field(
        description="role -> the emails of the people who may approve for it"
    )
    timeout_seconds: int = Field(default=86400, ge=1, le=7 * 86400)
    attestations: list[Attestation] = Field(default_factory=lambda: list(CHECKLIST_ATTESTATIONS))

    @model_validator(mode="after")
    def _every_role_has_approvers(self) -> ApprovalPolicy:
        missing = [role for role in self.roles if not self.approvers.get(role)]
        if missing:
            raise ValueError(f"no approvers for role(s): {', '.join(missing)}")
        unknown = sorted(set(self.approvers) - set(self.roles))
        if unknown:
            raise ValueError(f"approvers named for role(s) not required: {', '.join(unknown)}")
        if len({a.id for a in self.attestations}) != len(self.attestations):
            raise ValueError("attestation ids must be unique")
        return self

    def may_approve(self, role: str, person: str) -> bool:
        return person.lower() in {email.lower() for email in self.approvers.get(role, [])}


class GitHubCallers(_Strict):
    """Which GitHub Actions jobs may launch: the repository, and the job's environment or a protected ref."""

    repositories: list[Annotated[str, Field(pattern=REPOSITORY)]] = Field(min_length=1)
    environments: list[str] = Field(
        default_factory=list, description="GitHub deployment environments (the token's environment claim)"
    )
    protected_refs: bool = Field(default=False, description="a job on a protected branch or tag also may")


class SecretNames(_Strict):
    """The secrets the application needs, by their Secrets Manager names (values are never read)."""

    database_password: str
    jwt_secret: str
    github_oauth: str


class ReleaseChecks(_Strict):
    """The release's own tests: the GitHub checks that must have passed on the launch's commit."""

    repository: str = Field(pattern=REPOSITORY, description="owner/name")
    required: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, description="check run names or commit status contexts that must be success"
    )
    api_url: HttpUrl = Field(
        default=HttpUrl("https://api.github.com"), description="GitHub's REST API (GitHub Enterprise: its /api/v3)"
    )


class PreflightConfig(_Strict):
    """What the checklist's infrastructure, monitoring and security items are checked against."""

    vpc: str = Field(description="the VPC's id or its Name tag")
    availability_zones: int = Field(default=3, ge=1, le=6)
    database_ports: list[int] = Field(default=[5432, 3306, 1433, 1521, 27017, 6379])
    certificate_min_days: int = Field(default=30, ge=1)
    minimum_tls: Literal["TLSv1.2_2019", "TLSv1.2_2021"] = "TLSv1.2_2021"
    backup_retention_days: int = Field(default=30, ge=1, le=35)
    load_balancer: str = Field(description="the application load balancer's name")
    secrets: SecretNames
    secret_max_age_days: int = Field(default=90, ge=1)
    dashboard: str
    log_groups: list[str] = Field(min_length=1)
    ecr_required: bool = True
    entry_bundle: str = Field(default="assets/app.*.js", description="glob of the entry bundle in the build")
    bundle_budget_kb: int = Field(default=500, ge=1)
    image_scan_severity: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] = Field(
        default="CRITICAL", description="an ECR scan finding at or above this blocks the release"
    )
    image_scan_wait_seconds: int = Field(
        default=120, ge=0, le=600, description="how long an unfinished scan is waited for"
    )
    logs_recent_minutes: int = Field(default=15, ge=1, description="each log group received events this recently")
    hashed_assets_path: str = Field(default="/assets/*", description="the cache behaviour serving fingerprinted assets")
    cors_paths: list[Annotated[str, Field(pattern=shaped(r"^/", "a path starting with /"))]] = Field(
        default_factory=list, description="paths of the application's API, under smoke.base_url, probed for CORS"
    )
    shield_advanced: bool = Field(default=False, description="require AWS Shield Advanced on the distribution and ALB")
    release_checks: ReleaseChecks | None = None
    severity: dict[str, Severity] = Field(default_factory=dict, description="check id -> blocking or warning")
    skip: dict[str, str] = Field(default_factory=dict, description="check id -> why it is not checked here")


# A role ARN, account included; a trailing * only for the suffix Identity Center appends to a permission
# set's role (AWSReservedSSO_<permission set>_<suffix>), never a wildcard over an account's roles.
_ACCOUNT_ROLE = shaped(
    r"^arn:aws:iam::\d{12}:role/(?:[\w+=,.@-]+/)*(?:AWSReservedSSO_[\w+=,.@-]+_\*|[\w+=,.@-]+)$",
    "an IAM role's ARN, like arn:aws:iam::123456789012:role/release (an IAM Identity Center permission set's "
    "roles as arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Release_*)",
)
_PRINCIPAL = shaped(
    r"^arn:aws:iam::\d{12}:user/(?:[\w+=,.@-]+/)*[\w+=,.@-]+$|" + _ACCOUNT_ROLE[1:],
    "an IAM user's or role's ARN, like arn:aws:iam::123456789012:user/quinn or arn:aws:iam::123456789012:role/release",
)


class Person(_Strict):
    """The identities that prove one person: what an account or an identity provider vouches for."""

    iam_users: list[
        Annotated[
            str,
            Field(
                pattern=shaped(
                    r"^arn:aws:iam::\d{12}:user/[\w+=,.@/-]+$",
                    "an IAM user's ARN, like arn:aws:iam::123456789012:user/quinn",
                )
            ),
        ]
    ] = Field(default_factory=list, description="IAM user ARNs (account included) whose keys are this person's")
    session_names: list[Annotated[str, Field(min_length=2, max_length=64)]] = Field(
        default_factory=list,
        description="the names an identity provider gives this person's sessions of the identity-provider roles "
        "(IAM Identity Center: the user name)",
    )
    github: list[
        Annotated[
            str,
            Field(
                pattern=shaped(
                    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$", "a GitHub login: up to 39 letters, digits and dashes"
                )
            ),
        ]
    ] = Field(
        default_factory=list, description="GitHub logins: a launch this person triggered is not theirs to approve"
    )


class PeopleDirectory(_Strict):
    """Who is who: each person (the email the approval policy uses) and the identities that prove them.

    A role session counts as a person only for a role listed in `identity_provider_roles`: roles whose
    session names an identity provider sets and the caller cannot (IAM Identity Center's
    `AWSReservedSSO_*` roles, whose trust policy admits only the SAML provider). Any other session is a
    workload, whatever it is named."""

    identity_provider_roles: list[Annotated[str, Field(pattern=_ACCOUNT_ROLE)]] = Field(
        default_factory=list,
        description="role ARNs, account included; a trailing * matches Identity Center's generated suffix",
    )
    people: dict[Annotated[str, Field(pattern=_EMAIL)], Person] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _each_identity_proves_one_person(self) -> PeopleDirectory:
        for kind, fold in (("iam_users", str), ("session_names", str.lower), ("github", str.lower)):
            seen: dict[str, str] = {}
            for email, person in self.people.items():
                for identity in getattr(person, kind):
                    other = seen.setdefault(fold(identity), email)
                    if other != email:
                        raise ValueError(f"{kind} {identity!r} is bound to both {other} and {email}")
        if any(email != email.lower() for email in self.people):
            raise ValueError("people are named by their email in lower case")
        return self


class CallerPolicy(_Strict):
    """Who may start, abort and roll back launches into the environment (the API's authorisation)."""

    github: GitHubCallers | None = None
    iam_principals: list[Annotated[str, Field(pattern=_PRINCIPAL)]] = Field(
        default_factory=list,
        description="IAM users and roles, account included (an assumed role's sessions count as the role)",
    )


class EnvironmentAccess(_Strict):
    """How the controller acts in the environment: through a role in the environment's account.

    The role is the one `deploy/target-account-role.json` makes there, trusting only the controller's
    functions' roles; the controller's own functions hold no rights over any environment."""

    role_arn: str = Field(
        pattern=shaped(
            r"^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
            "an IAM role's ARN, like arn:aws:iam::123456789012:role/launch",
        ),
        description="the environment's role (account included): the target-account stack's output RoleArn",
    )
    # The role is assumed from the function's own role session: role chaining, which STS holds to an hour.
    session_seconds: int = Field(
        default=3600,
        ge=900,
        le=ROLE_CHAINING_SECONDS,
        description="how long the role's credentials last before they are renewed (at most an hour: the role is "
        "assumed from a function's role session, and STS refuses a longer chained session)",
    )

    @field_validator("session_seconds", mode="before")
    @classmethod
    def _recorded_before_the_hour(cls, value: Any, info: ValidationInfo) -> Any:
        # A launch recorded with a longer session (which STS refused at its first call) still reads back.
        if info.context and info.context.get("recorded") and isinstance(value, int) and value > ROLE_CHAINING_SECONDS:
            return ROLE_CHAINING_SECONDS
        return value

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]

    def policy_arn(self, function: str) -> str:
        """The role's managed policy for what `function` does there: its session's limit, so each function
        acts in the environment with its own needs only, as in the controller's account."""
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:iam::{self.account_id}:policy/{self.role_arn.rsplit('/', 1)[-1]}-{function}"


class PromotionPolicy(_Strict):
    """A release reaches this environment only after it launched successfully in another, recently: a launch
    here names that launch, and preflight compares what both deploy (docs/promotion.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)

    from_: str = Field(
        alias="from",
        pattern=shaped(
            r"^[a-z][a-z0-9-]*$", "an environment's name: lower-case letters, digits and dashes, starting with a letter"
        ),
        description="the environment the release must have launched in first (like staging)",
    )
    within_hours: int = Field(
        default=72, ge=1, le=30 * 24, description="how long ago that launch may have ended, at most"
    )


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)  # in date.weekday()'s order
_CLOCK_TIME = shaped(
    r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$", "a time of day as HH:MM, like 09:00 (24:00 for midnight)"
)


class WeeklyWindow(_Strict):
    """Days of the week, and the hours on each, when a launch may start."""

    days: list[Weekday] = Field(min_length=1, description="mon, tue, wed, thu, fri, sat, sun")
    opens: str = Field(pattern=_CLOCK_TIME, description="HH:MM in the windows' time zone")
    closes: str = Field(pattern=_CLOCK_TIME, description="HH:MM, after opens (24:00: the day's end)")

    @model_validator(mode="after")
    def _opens_before_it_closes(self) -> WeeklyWindow:
        if self.closes <= self.opens:
            raise ValueError(f"closes ({self.closes}) must be after opens ({self.opens}) on the same day")
        return self


class Freeze(_Strict):
    """Dates when no launch starts, whatever the weekly windows say (both days included)."""

    starts: date
    ends: date
    reason: str = Field(min_length=3, max_length=200)

    @model_validator(mode="after")
    def _starts_first(self) -> Freeze:
        if self.ends < self.starts:
            raise ValueError(f"ends ({self.ends}) is before starts ({self.starts})")
        return self


class EmergencySignoff(_Strict):
    """Who else signs off a launch started outside the windows as an emergency."""

    role: str = Field(pattern=IDENTIFIER, description="the extra role, like incident_commander")
    approvers: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(min_length=1)


class DeployWindows(_Strict):
    """When launches may start: weekly windows in a named time zone, and freezes by date with a reason. A
    launch started inside runs to its end (its bake may run past the window's close); outside, preflight
    blocks naming when the next window opens, unless the launch is an emergency that `emergency.role` also
    signs off (docs/windows.md)."""

    time_zone: str = Field(description="an IANA time zone, like Europe/London: the windows and freezes are its")
    weekly: list[WeeklyWindow] = Field(
        default_factory=list, description="when launches may start (none: at any time outside a freeze)"
    )
    freezes: list[Freeze] = Field(default_factory=list)
    emergency: EmergencySignoff | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (like Europe/London or UTC)") from None
        return value


class EnvironmentProfile(_Strict):
    """Everything the controller needs to know about one environment."""

    name: str
    target: EnvironmentAccess
    frontend: FrontendTarget
    backend: BackendTarget
    database: DatabaseTarget
    smoke: SmokeConfig
    functional: FunctionalConfig | None = None
    bake: BakeConfig = BakeConfig()
    approvals: ApprovalPolicy
    callers: CallerPolicy = CallerPolicy()
    people: PeopleDirectory = PeopleDirectory()
    preflight: PreflightConfig
    promotion: PromotionPolicy | None = None
    windows: DeployWindows | None = None
    # How long after a launch succeeded it may still be rolled back on request (its rollback point ages).
    rollback_window_seconds: int = Field(default=86400, ge=0, le=30 * 86400)
    lock_lease_seconds: int = Field(default=3 * 86400, ge=60)

    @model_validator(mode="after")
    def _frontend_canary_follows_the_backend(self) -> EnvironmentProfile:
        # The frontend's share moves with the backend's steps, judged by the backend's hook: one release of both.
        if self.frontend.canary and (self.frontend.layout != "releases" or self.backend.traffic.shift == "all_at_once"):
            raise ValueError(
                "frontend.canary needs frontend.layout = releases and backend.traffic.shift canary or linear: the "
                "frontend's share of users follows the backend's traffic steps"
            )
        if self.windows and self.windows.emergency and self.windows.emergency.role in self.approvals.roles:
            raise ValueError(
                f"windows.emergency.role: {self.windows.emergency.role!r} already signs off every launch: name "
                "the role that signs off emergencies as well"
            )
        if self.promotion and self.promotion.from_ == self.name:
            raise ValueError(f"promotion.from: must name another environment than {self.name!r}")
        return self

    @property
    def digest(self) -> str:
        """Names this profile's content, whatever version of the store holds it (`profile diff` compares)."""
        return "sha256:" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class ProfileError(Exception):
    """A profile that is missing or does not validate; says which file and which field."""


class UnknownEnvironment(ProfileError):
    """No profile exists for the environment named."""


def problems_of(exc: ValidationError) -> str:
    """Each field of a profile wrong and what it must be, in words, as one line."""
    return in_words(exc, EnvironmentProfile, tables=True)


def parse_profile(text: str, origin: str, toml: bool = False) -> EnvironmentProfile:
    """A profile from its TOML or JSON text; an invalid one fails loudly, naming `origin` and the field."""
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ProfileError(f"{origin}: not valid {'TOML' if toml else 'JSON'}: {exc}") from exc
    try:
        return EnvironmentProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{origin}: {problems_of(exc)}") from exc


def load_profile_file(path: Path) -> EnvironmentProfile:
    """Read and validate one profile file (TOML, or JSON as tools write it), named after its environment."""
    profile = parse_profile(path.read_text(), path.name, toml=path.suffix != ".json")
    if profile.name != path.stem:
        raise ProfileError(f"{path.name}: name: must be {path.stem!r}, the file's name")
    return profile
