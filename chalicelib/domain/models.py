"""Pydantic models for launch requests, launch records, stage results and their statuses."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.artifacts import ReleaseArtifacts
from chalicelib.domain.evidence_chain import Seal
from chalicelib.domain.manifests import Manifest
from chalicelib.domain.profiles import IDENTIFIER, EnvironmentProfile, ProfileError
from chalicelib.domain.progress import LaunchResults
from chalicelib.domain.wording import PATTERN_WORDS, shaped

LAUNCH_ID_PATTERN = re.compile(
    shaped(r"^[a-z0-9-]{8,80}$", "a launch id: 8 to 80 lower-case letters, digits and dashes")
)


class LaunchStatus(StrEnum):
    """Where a launch stands; the terminal ones never change again."""

    REQUESTED = "REQUESTED"
    PREFLIGHT = "PREFLIGHT"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    DEPLOYING = "DEPLOYING"
    VERIFYING = "VERIFYING"
    BAKING = "BAKING"
    ROLLING_BACK = "ROLLING_BACK"
    SUCCEEDED = "SUCCEEDED"
    ROLLED_BACK = "ROLLED_BACK"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    BLOCKED = "BLOCKED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    ABORTED = "ABORTED"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        LaunchStatus.SUCCEEDED,
        LaunchStatus.ROLLED_BACK,
        LaunchStatus.ROLLBACK_FAILED,
        LaunchStatus.BLOCKED,
        LaunchStatus.REJECTED,
        LaunchStatus.EXPIRED,
        LaunchStatus.ABORTED,
        LaunchStatus.FAILED,
    }
)

# Statuses reachable before anything in the environment changed: ending here needs no rollback.
_UNCHANGED_ENDS = {
    LaunchStatus.BLOCKED,
    LaunchStatus.REJECTED,
    LaunchStatus.EXPIRED,
    LaunchStatus.ABORTED,
    LaunchStatus.FAILED,
}

ALLOWED_TRANSITIONS: dict[LaunchStatus, frozenset[LaunchStatus]] = {
    # A requested rollback of a launch that succeeded goes straight to rolling back.
    LaunchStatus.REQUESTED: frozenset(
        {LaunchStatus.PREFLIGHT, LaunchStatus.ROLLING_BACK, LaunchStatus.ABORTED, LaunchStatus.FAILED}
    ),
    LaunchStatus.PREFLIGHT: frozenset({LaunchStatus.AWAITING_APPROVAL} | _UNCHANGED_ENDS),
    LaunchStatus.AWAITING_APPROVAL: frozenset({LaunchStatus.DEPLOYING} | _UNCHANGED_ENDS),
    LaunchStatus.DEPLOYING: frozenset({LaunchStatus.VERIFYING, LaunchStatus.ROLLING_BACK}),
    LaunchStatus.VERIFYING: frozenset({LaunchStatus.BAKING, LaunchStatus.ROLLING_BACK}),
    LaunchStatus.BAKING: frozenset({LaunchStatus.SUCCEEDED, LaunchStatus.ROLLING_BACK}),
    # ABORTED after ROLLING_BACK: an abort honoured at the first change, with nothing to undo.
    LaunchStatus.ROLLING_BACK: frozenset(
        {LaunchStatus.ROLLED_BACK, LaunchStatus.ROLLBACK_FAILED, LaunchStatus.ABORTED}
    ),
}


class InvalidTransition(Exception):
    """A status change the launch lifecycle does not allow."""


def check_transition(current: LaunchStatus, new: LaunchStatus) -> None:
    """Raise InvalidTransition unless `current` may become `new` (staying put is allowed)."""
    if current == new:
        return
    if new not in ALLOWED_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"a launch cannot go from {current} to {new}")


class Stage(StrEnum):
    """The checklist stages, in the order a launch runs them."""

    START = "start"
    PREFLIGHT = "preflight"
    APPROVALS = "approvals"
    ROLLBACK_POINT = "rollback_point"
    FRONTEND = "frontend"
    BACKEND = "backend"
    SMOKE = "smoke"
    BAKE = "bake"
    ROLLBACK = "rollback"
    FINISH = "finish"


class Change(StrEnum):
    """Parts of the environment a launch may change, so rollback undoes only those."""

    FRONTEND = "frontend"
    BACKEND = "backend"
    DATABASE = "database"


# ASCII-only patterns mean the same to pydantic (Rust regex), Python and JSON Schema tools.
ARTIFACT_PATTERN = shaped(
    r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.*$", "the S3 folder of the release's build, like s3://releases/web/1.2.0/"
)
IMAGE_PATTERN = shaped(
    r"^[a-z0-9][a-z0-9._:/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})$",
    "a container image with its tag or digest, like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.2.0",
)
ENVIRONMENT_NAME = shaped(
    r"^[a-z][a-z0-9-]*$", "an environment's name: lower-case letters, digits and dashes, starting with a letter"
)
VERSION = shaped(
    r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
    "a version of letters, digits and . _ + -, starting with a letter or digit (like 1.2.0)",
)
GIT_SHA = shaped(r"^[0-9a-f]{7,40}$", "a commit SHA: 7 to 40 lower-case hexadecimal characters")

ARTIFACT_MAX_BYTES = 1024
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<prefix>.*)$")


class LaunchRequest(BaseModel):
    """What a caller asks for: this release into that environment."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    environment: str = Field(min_length=1, max_length=40, pattern=ENVIRONMENT_NAME)
    version: str = Field(min_length=1, max_length=64, pattern=VERSION)
    git_sha: str = Field(pattern=GIT_SHA)
    frontend_artifact: str = Field(
        description="s3://bucket/prefix/ holding the release's static build",
        max_length=ARTIFACT_MAX_BYTES,
        json_schema_extra={"pattern": ARTIFACT_PATTERN},
    )
    # ASCII-only classes: the regex means the same to pydantic, Python and JSON Schema tools.
    backend_image: str = Field(
        min_length=3,
        max_length=255,
        pattern=IMAGE_PATTERN,
    )
    promote_from: str | None = Field(
        default=None,
        pattern=LAUNCH_ID_PATTERN.pattern,
        description="the launch that took this release into the environment it is promoted from (an environment "
        "whose profile has [promotion] takes only a release promoted from a recent successful launch)",
    )
    emergency_reason: str | None = Field(
        default=None,
        min_length=10,
        max_length=500,
        description="why this launch cannot wait for the environment's next deploy window: outside a window it "
        "then goes ahead with the profile's emergency role signing off as well, marked as an emergency, and pages",
    )

    @field_validator("frontend_artifact")
    @classmethod
    def _s3_uri(cls, value: str) -> str:
        if not _S3_URI.match(value):
            raise ValueError("must be " + PATTERN_WORDS[ARTIFACT_PATTERN])
        value = value if value.endswith("/") else value + "/"
        # Its prefix becomes part of S3 keys, which AWS caps at 1,024 bytes of UTF-8.
        if len(value.encode()) > ARTIFACT_MAX_BYTES:
            raise ValueError(f"must be at most {ARTIFACT_MAX_BYTES} bytes (S3 keys are capped at 1,024)")
        return value

    @property
    def artifact_bucket(self) -> str:
        match = _S3_URI.match(self.frontend_artifact)
        assert match is not None
        return match["bucket"]

    @property
    def artifact_prefix(self) -> str:
        match = _S3_URI.match(self.frontend_artifact)
        assert match is not None
        return match["prefix"]


class TimelineEvent(BaseModel):
    """One entry of a launch's timeline: something that happened, when, in which stage."""

    at: datetime
    kind: str
    stage: Stage | None = None
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class RollbackPoint(BaseModel):
    """What the environment looked like before the launch changed anything."""

    task_definition_arn: str
    site_manifest: Manifest | None = Field(
        default=None, description="key -> version id of every live site object, as a manifest in S3"
    )
    site_objects: int = Field(default=0, description="how many objects the site served")
    site_versions: dict[str, str] = Field(
        default_factory=dict,
        description="records made before manifests (issue 18) kept the versions here; read, never written",
    )
    site_backup: str | None = Field(default=None, description="s3://backup-bucket/prefix/ holding a copy of the site")
    site_layout: Literal["copy", "releases"] = Field(
        default="copy",
        description="copy: the site's versions and backup above; releases: the release CloudFront served, below",
    )
    live_release: str | None = Field(
        default=None,
        description="layout releases: the release the switch served (None: none yet, the bucket's own layout)",
    )
    db_snapshot_id: str | None = None
    running_images: dict[str, str] = Field(
        default_factory=dict,
        description="a service force-deployed from a mutable tag: container -> the image it ran, pinned to its "
        "digest as ECS resolved it (the service's revision), which a rollback deploys",
    )
    recorded_at: datetime


class Caller(BaseModel):
    """A verified caller of the API, as recorded with what it asked for."""

    kind: Literal["github", "iam"]
    subject: str = Field(description="GitHub: the token's sub; IAM: the caller's ARN")
    name: str = Field(description="the verified identity: 'github:owner/repo' or the caller's ARN")
    claims: dict[str, str] = Field(
        default_factory=dict, description="the verified claims kept for the record (IAM: Arn, Account, UserId)"
    )
    person: str | None = Field(
        default=None, description="the person the environment's people directory binds this identity to"
    )

    @property
    def who(self) -> str:
        """The record's name for the caller: the person, else the verified identity."""
        return self.person or self.name

    @property
    def principal(self) -> str:
        """IAM: the user or role ARN a profile lists (an assumed-role session counts as its role)."""
        match = re.fullmatch(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/.+", self.subject)
        if match:
            return f"arn:aws:iam::{match[1]}:role/{match[2]}"
        return self.subject


class EmergencyLaunch(BaseModel):
    """A launch started outside its environment's deploy windows as an emergency, as preflight found it."""

    reason: str = Field(description="why it could not wait, as its starter said")
    outside: str = Field(description="why the window was closed (outside the weekly windows, or a freeze)")
    next_window_opens: datetime | None = None
    signoff_role: str = Field(description="the profile's emergency role, which signs off as well")
    approvers: list[str]
    declared_at: datetime


class Launch(BaseModel):
    """The stored record of one launch."""

    launch_id: str
    request: LaunchRequest
    requested_by: str = Field(default="unknown", description="the verified caller's name")
    caller: Caller | None = Field(default=None, description="the verified identity that started the launch")
    requesters: list[str] = Field(
        default_factory=list,
        description="the people this launch is the work of (the person signed in, or the GitHub users who "
        "triggered the workflow): none of them may approve it",
    )
    status: LaunchStatus
    stage: Stage | None = None
    created_at: datetime
    updated_at: datetime
    execution_arn: str | None = None
    rollback_point: RollbackPoint | None = None
    changes: list[Change] = Field(default_factory=list)
    migration_task_arn: str | None = Field(
        default=None, description="the migration task the launch started: rollback restores the database after one"
    )
    results: LaunchResults = Field(default_factory=LaunchResults, description="each stage's progress, by stage")
    error: dict[str, str] | None = None
    abort: dict[str, Any] | None = Field(default=None, description="who asked to abort (verified), why and when")
    rollback_of: dict[str, Any] | None = Field(
        default=None, description="this execution rolls back that succeeded launch: its id, who asked, why, when"
    )
    rolled_back_by: str | None = Field(default=None, description="the execution that rolled this launch back")
    profile_version: int | None = Field(
        default=None, description="the version of the environment's stored profile it follows to its end"
    )
    artifacts: ReleaseArtifacts | None = Field(
        default=None,
        description="what the launch deploys, resolved once at preflight: the image's digest, the build's digest",
    )
    emergency: EmergencyLaunch | None = Field(
        default=None,
        description="started outside the deploy windows as an emergency: who else signs off, and why it could not wait",
    )
    seal: Seal | None = Field(
        default=None,
        description="the head of the timeline's hash chain at the launch's end, signed with the controller's "
        "evidence key (GET /launches/{id}/evidence carries the whole chain)",
    )

    @property
    def deployed_image(self) -> str:
        """The image the launch deploys: pinned to the digest preflight resolved, once it has."""
        return self.artifacts.deployed_image if self.artifacts else self.request.backend_image

    # Kept with the record, not shown: a launch follows the profile it started with, whatever changes after.
    profile: EnvironmentProfile | None = Field(default=None, exclude=True)


class ListedLaunch(BaseModel):
    """A launch as the list shows it: what its indexes project, not the whole record."""

    launch_id: str
    request: LaunchRequest
    requested_by: str = "unknown"
    status: LaunchStatus
    stage: Stage | None = None
    created_at: datetime
    updated_at: datetime
    rolled_back_by: str | None = None


class Approval(BaseModel):
    """One role's decision at the approval gate: the sign-off record's line."""

    role: str
    decision: Literal["approved", "rejected"]
    approver: str
    comment: str = ""
    attestations: list[str] = Field(default_factory=list, description="ids of what the approver confirmed")
    via: Literal["link", "api"] = "api"
    caller: Caller | None = Field(
        default=None, description="via api: the verified identity (ARN, account, user id) that proved the approver"
    )
    decided_at: datetime


RequestState = Literal["open", "approved", "rejected", "closed", "expired"]


class ApprovalRequest(BaseModel):
    """The request to one role for its sign-off; its id is what the emailed links name."""

    approval_id: str = Field(pattern=shaped(r"^[0-9a-f]{32}$", "an approval id: 32 lower-case hexadecimal characters"))
    launch_id: str
    role: str
    approvers: list[str]
    state: RequestState = "open"
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    closed_because: str | None = None
    emailed: list[str] = Field(default_factory=list)


class DecisionRequest(BaseModel):
    """An approver's decision as sent to the API."""

    # No whitespace stripping here: what the description allows is exactly what is accepted.
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64, pattern=IDENTIFIER)
    decision: Literal["approve", "reject"]
    comment: str = Field(default="", max_length=2000)
    attestations: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)


class ListQuery(BaseModel):
    """`GET /launches` query parameters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    limit: int = Field(default=20, ge=1, le=100)
    environment: str | None = Field(default=None, pattern=ENVIRONMENT_NAME, max_length=40)
    status: LaunchStatus | None = None
    cursor: str | None = Field(default=None, max_length=2048)


class AbortRequest(BaseModel):
    """A person or a job stopping a launch: before a change it ends ABORTED, after one it rolls back."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=5, max_length=2000)


class PreflightQuery(BaseModel):
    """`GET /environments/{env}/preflight`: optionally the release whose build and image to check too."""

    model_config = ConfigDict(extra="forbid")

    frontend_artifact: str | None = Field(default=None, pattern=ARTIFACT_PATTERN, max_length=ARTIFACT_MAX_BYTES)
    backend_image: str | None = Field(
        default=None,
        min_length=3,
        max_length=255,
        pattern=IMAGE_PATTERN,
    )
    git_sha: str | None = Field(default=None, pattern=GIT_SHA, description="the commit whose checks to read")


class RollbackRequest(BaseModel):
    """Someone taking a launch that succeeded back out, within the profile's window."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=5, max_length=2000)


class UnlockRequest(BaseModel):
    """A person releasing an environment's lock by hand, after finishing a failed rollback."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=10, max_length=2000, description="what was done by hand, for the record")


class StageEvent(BaseModel):
    """The input every stage Lambda receives from the state machine."""

    model_config = ConfigDict(extra="ignore")

    launch_id: str = Field(pattern=LAUNCH_ID_PATTERN.pattern)
    # The state machine's call after its Distributed Map made a stage's copies: check them, plan none.
    after_batches: bool = False


class ApprovalGateEvent(StageEvent):
    """The approval stage's input: the launch and the execution's task token."""

    task_token: str = Field(min_length=1, max_length=2048)


class WaitEvent(StageEvent):
    """A wait's input: what it waits for and, when it opens, the execution's token and the deadline; without a
    token it is the deadline's one last look."""

    wait: Literal["snapshot", "migration", "rollout", "restore", "alarms", "canary"]
    task_token: str | None = Field(default=None, min_length=1, max_length=2048)
    deadline_seconds: int = Field(default=1, ge=1)


class CheckpointEvent(StageEvent):
    """A bake checkpoint's input: which checkpoint the timer reached."""

    offset_seconds: int = Field(ge=1)


class CaughtError(BaseModel):
    """An error as a Catch hands it on: its name and cause."""

    Error: str
    Cause: str | None = None  # Step Functions may hand on no cause at all


class FinishEvent(StageEvent):
    """The last stage's input: how the launch ended and, if it failed, why."""

    outcome: Literal["succeeded", "rolled_back", "rollback_failed", "unchanged"]
    error: CaughtError | None = None


def profile_of(launch: Launch) -> EnvironmentProfile:
    """The profile a launch started with, which its stages, approvals and rollback follow to its end."""
    if launch.profile is None:
        raise ProfileError(f"launch {launch.launch_id} has no recorded profile")
    return launch.profile
