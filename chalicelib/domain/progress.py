"""What each stage keeps of its progress on the launch record: one typed model per stage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from chalicelib.domain.caller_text import for_email
from chalicelib.domain.manifests import CopyPlan
from chalicelib.domain.profiles import Severity

CheckOutcome = Literal["pass", "fail", "warn", "skipped"]
Rollout = Literal["steady", "in_progress", "failed"]


class Progress(BaseModel):
    """A stage's progress: what a retried or later step reads back, and what the launch's reader sees."""

    model_config = ConfigDict(extra="forbid")


class StartProgress(Progress):
    """The deadlines the state machine takes from the environment's profile."""

    approval_timeout_seconds: int
    snapshot_deadline_seconds: int
    migration_deadline_seconds: int
    rollout_deadline_seconds: int
    functional_deadline_seconds: int = 0  # 0: the profile names no canaries, the launch does not wait for any


class CheckResult(BaseModel):
    """One checklist item: what was checked, how it came out, and the evidence seen (never a secret)."""

    id: str
    title: str
    section: str
    severity: Severity = "blocking"
    result: CheckOutcome
    resource: str
    evidence: dict[str, Any] = Field(default_factory=dict)

    @property
    def in_words(self) -> str:
        """`id (title): what was seen`, as a timeline or a terminal shows it."""
        return f"{self.id} ({self.title}): {evidence_text(self.evidence)}"


def evidence_text(evidence: dict[str, Any]) -> str:
    """A check's evidence as a person reads it: `image: web:1.2.0; digest: none`, never a Python repr."""
    return "; ".join(f"{key.replace('_', ' ')}: {_plain(value)}" for key, value in evidence.items()) or "no detail"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, list | tuple | set):
        return ", ".join(_plain(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {_plain(item)}" for key, item in value.items())
    return str(value)


class PreflightReport(BaseModel):
    checks: list[CheckResult]

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [check for check in self.checks if check.result == "fail" and check.severity == "blocking"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [check for check in self.checks if check.result == "warn"]

    @property
    def passed(self) -> bool:
        return not self.blocking_failures

    def summary(self) -> str:
        counts = {outcome: sum(c.result == outcome for c in self.checks) for outcome in ("pass", "fail", "warn")}
        skipped = sum(c.result == "skipped" for c in self.checks)
        return (
            f"{counts['pass']}/{len(self.checks)} checks passed, {len(self.blocking_failures)} blocking, "
            f"{counts['warn']} warnings, {skipped} skipped"
        )


class Commit(BaseModel):
    sha: str
    title: str
    author: str = ""


class ReleaseChanges(BaseModel):
    """What the launch changes, read at preflight for its approvers: what is live now against what it puts
    live. A part that could not be read is None, and `unread` says why; nothing here decides the launch."""

    live_launch_id: str | None = Field(default=None, description="the launch whose release is live now")
    live_version: str | None = None
    live_git_sha: str | None = None
    live_image: str | None = Field(default=None, description="the image the service runs now")
    live_image_digest: str | None = None
    live_task_definition: str | None = Field(default=None, description="family:revision the service runs now")
    image: str
    image_digest: str | None = Field(default=None, description="what the release's tag names in ECR now")
    migration: str | None = Field(default=None, description="the task definition that migrates the database first")
    site_added: int | None = None
    site_changed: int | None = None
    site_removed: int | None = None
    site_unchanged: int | None = None
    commits_total: int | None = Field(default=None, description="commits from the live release's to this one's")
    commits: list[Commit] = Field(default_factory=list, description="the newest of them, newest first")
    compare_url: str | None = None
    unread: list[str] = Field(default_factory=list)

    def in_words(self) -> list[str]:
        """The changes as lines of text (the approval email)."""
        lines = [
            f"  - backend: {self.live_image or 'unknown'} ({self.live_task_definition or 'unknown revision'}) -> "
            f"{self.image}" + (f" ({self.image_digest})" if self.image_digest else "")
        ]
        if self.image_digest is not None and self.image_digest == self.live_image_digest:
            lines.append("    the same image as live: the service is redeployed, its code does not change")
        if self.site_added is not None:
            lines.append(
                f"  - frontend: {self.site_added} objects added, {self.site_changed} changed, {self.site_removed} "
                f"removed, {self.site_unchanged} unchanged; live now: {self.live_version or 'no launch yet'}"
            )
        if self.commits_total is not None:
            lines.append(
                f"  - {self.commits_total} commits since {self.live_version}: {self.compare_url or ''}".rstrip()
            )
            # A commit's title is its author's words, and GitHub's answer is GitHub's: inert in the email.
            lines += [
                f"      {commit.sha[:7]} {for_email(f'{commit.title} ({commit.author})')}"
                for commit in self.commits[:10]
            ]
        lines += [f"  - not read: {for_email(unread)}" for unread in self.unread]
        return lines


class PreflightProgress(Progress):
    """The preflight report as kept with the launch, with its verdict and what the launch would change."""

    checks: list[CheckResult]
    passed: bool
    summary: str
    changes: ReleaseChanges | None = None

    @classmethod
    def of(cls, report: PreflightReport) -> PreflightProgress:
        return cls(checks=report.checks, passed=report.passed, summary=report.summary())


class ApprovalsProgress(Progress):
    """The sign-off asked for (roles, until when), then the decisions that gave it."""

    roles: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None
    signoff: list[dict[str, Any]] | None = Field(default=None, description="each role's approval, once all approved")


class RollbackPointProgress(Progress):
    """Whether what rollback needs is recorded: the backup copy made and the snapshot available."""

    task_definition_arn: str
    site_objects: int
    site_backup: str | None
    backup_objects_copied: int
    db_snapshot_id: str | None
    snapshot_status: str
    ready: bool
    copies: CopyPlan | None = Field(
        default=None, description="the backup's copies, planned for the state machine's batches"
    )


class FrontendProgress(Progress):
    uploaded: int
    unchanged: int
    deleted: int
    invalidation_id: str
    manifest: str | None = None  # s3:// of the keys uploaded and deleted
    release: str | None = Field(default=None, description="layout releases: the release switched to")
    switched_from: str | None = Field(default=None, description="layout releases: the release served before")
    canary: bool = Field(
        default=False, description="the release went to testers and a share of users, not live: [frontend] canary"
    )
    copies: CopyPlan | None = Field(
        default=None, description="the assets' copies, planned for the state machine's batches"
    )


class RevisionFigures(BaseModel):
    """One revision's figures over a traffic step's minutes, from its target group."""

    requests: int
    errors: int
    latency_points_ms: list[float] = Field(default_factory=list, description="the p95 of each period, in ms")


class TrafficStep(BaseModel):
    """One step of a canary or linear rollout as the controller's lifecycle hook watched and judged it."""

    weight: float = Field(description="the share of production traffic the release had, in percent")
    revision: str = Field(default="", description="the release's service revision, as ECS names it")
    target_group: str = Field(default="", description="targetgroup/<name>/<id> the release's tasks serve from")
    started_at: datetime
    extended: int = Field(default=0, description="more bakes, for too little traffic to judge")
    judged_at: datetime | None = None
    outcome: Literal["pass", "fail", "too_little"] | None = None
    reasons: list[str] = Field(default_factory=list)
    new: RevisionFigures | None = None
    old: RevisionFigures | None = None
    error_p_value: float | None = None
    latency_p_value: float | None = None
    frontend_new: RevisionFigures | None = Field(
        default=None, description="a frontend canary: the release's page views (requests) and JavaScript errors"
    )
    frontend_old: RevisionFigures | None = Field(default=None, description="the live release's, over the same time")
    frontend_p_value: float | None = None

    def words(self) -> str:
        """The step in a sentence: its share, its verdict, both revisions' figures and the tests' p-values."""
        said = {"pass": "passed", "fail": "failed", "too_little": "too little traffic to judge"}
        line = f"{self.weight:g} % to the release: {said.get(self.outcome or '', 'watched')}"
        if self.new is not None and self.old is not None:
            line += (
                f"; release {self.new.requests} requests, {self.new.errors} failed; "
                f"old revision {self.old.requests}, {self.old.errors} failed"
            )
        tested = [
            (name, p) for name, p in (("errors", self.error_p_value), ("p95", self.latency_p_value)) if p is not None
        ]
        return line + "".join(f"; {name} p={p:.2g}" for name, p in tested)


def traffic_steps_of(timeline: list[Any]) -> list[TrafficStep]:
    """Each traffic step of a launch as its timeline last recorded it, in the order they began. The timeline
    keeps them: the backend's own record is rewritten by the rollout's wait, the timeline only grows."""
    latest: dict[tuple[str, float], TrafficStep] = {}
    for event in timeline:
        if event.kind == "traffic_step" and "started_at" in event.details:
            step = TrafficStep.model_validate(event.details)
            latest[(step.revision, step.weight)] = step
    return sorted(latest.values(), key=lambda step: step.started_at)


class Exposure(BaseModel):
    """How many requests the release's backend revision served before the launch succeeded or rolled it back,
    as the load balancer counted them, and over which minutes."""

    requests: int | None = Field(default=None, description="None: not measured (`how` says why)")
    errors: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    upper_bound: bool = Field(
        default=False, description="a rolling update's old and new tasks share one target group: at most this many"
    )
    how: str = ""
    page_views: int | None = Field(
        default=None, description="the frontend release's page views (RUM, by release); None: not counted"
    )
    page_errors: int | None = Field(default=None, description="its JavaScript errors")

    def words(self) -> str:
        if self.requests is None:
            said = f"not measured: {self.how}"
        else:
            bound = "at most " if self.upper_bound else ""
            said = f"{bound}{self.requests} requests ({self.errors or 0} failed), {self.how}"
        if self.page_views is not None:
            said += f"; its frontend, {self.page_views} page views ({self.page_errors or 0} with JavaScript errors)"
        return said


def exposure_of(timeline: list[Any]) -> Exposure | None:
    """The exposure the finish wrote on its `finished` event, in the same write as the final status: whoever
    reads a final status reads it too (the finish's own progress is kept a moment later)."""
    finished = next((event for event in reversed(timeline) if event.kind == "finished"), None)
    said = finished.details.get("exposure") if finished else None
    return Exposure.model_validate(said) if said else None


class BackendProgress(Progress):
    """The migration, then the service's rollout to the release's revision."""

    phase: Literal["migrating", "migrated", "rolling"]
    rollout: Rollout = "in_progress"
    deployment_id: str | None = None
    migration_task_arn: str | None = None
    migration_deadline: datetime | None = None
    task_definition_arn: str | None = None
    rolling_since: datetime | None = None
    deadline: datetime | None = None
    reason: str | None = None


class SmokeResult(BaseModel):
    name: str
    target: str
    passed: bool
    detail: str
    latency_ms: float
    attempts: int


class CanaryRun(BaseModel):
    """One of the team's Synthetics canaries, run against the release: the first run after `since` decides."""

    name: str
    arn: str
    since: datetime
    started: bool = Field(description="the launch started it (StartCanary); false: its own schedule runs it")
    state: Literal["waiting", "PASSED", "FAILED"] = "waiting"
    run_id: str | None = None
    reason: str | None = None
    artifacts: str | None = Field(default=None, description="where Synthetics keeps the run's screenshots and logs")


class SmokeProgress(Progress):
    checks: list[SmokeResult]
    canaries: list[CanaryRun] = Field(default_factory=list, description="the functional tests after the smoke test")


class BakeFigures(BaseModel):
    """What the bake read at one look: alarms, and the load balancer's figures when it has one."""

    alarms_in_alarm: list[str]
    alarms_missing: list[str]
    requests: float | None = None
    error_rate: float | None = None
    p95_ms: float | None = None
    # The release against the window before the launch: the limits the baseline sets, when it had figures.
    error_rate_limit: float | None = None
    p95_limit_ms: float | None = None
    web_vitals: dict[str, float | None] | None = Field(
        default=None, description="p75 LCP (ms), INP (ms) and CLS from RUM since the release; null: no data"
    )
    business_metrics: dict[str, float] | None = Field(
        default=None, description="each business metric's data points since the release"
    )


class Baseline(BaseModel):
    """The load balancer's figures over the window before the launch, read when the bake begins."""

    since: datetime
    until: datetime
    requests: float | None = None
    error_rate: float | None = None
    p95_ms: float | None = None


class Checkpoint(BakeFigures):
    offset_seconds: int
    label: str
    at: datetime


class ScheduledCheckpoint(BaseModel):
    """A checkpoint's time, set when the bake begins: the state machine waits until `at`."""

    offset_seconds: int
    label: str
    at: datetime
    final: bool


class BakeProgress(Progress):
    started_at: datetime
    elapsed_seconds: float
    checkpoints: list[Checkpoint]
    schedule: list[ScheduledCheckpoint] = Field(default_factory=list)
    launch_alarms: list[str] = Field(default_factory=list, description="the alarms the launch made for its bake")
    watch_seconds: int | None = None
    baseline: Baseline | None = None
    last: BakeFigures
    polls: int  # checkpoints looked at
    verdict: Literal["watching", "healthy", "breach"]


class UndoneChange(BaseModel):
    """How far undoing one change got."""

    settled: bool
    reason: str | None = None
    task_definition_arn: str | None = None
    deployment_id: str | None = None
    restored_instance: str | None = None
    status: str | None = None
    restored: int | None = None
    deleted: int | None = None
    invalidation_id: str | None = None
    copies: CopyPlan | None = None
    release: str | None = Field(default=None, description="layout releases: the release switched back to")


class RollbackProgress(Progress):
    started_at: datetime
    undone: dict[str, UndoneChange]
    settled: bool
    left: list[str]
    copies: CopyPlan | None = Field(
        default=None, description="the frontend's copies back, planned for the state machine's batches"
    )


class FinishProgress(Progress):
    """The launch's end as written: the final status, whether the team was told, what became of the lock."""

    status: str
    notified: bool
    lock_released: bool | None = None
    lock_held: bool | None = None
    exposure: Exposure | None = Field(default=None, description="what the release's backend revision served")


class LaunchResults(BaseModel):
    """Each stage's progress, under the stage's name; a stage not reached has none."""

    model_config = ConfigDict(extra="forbid")

    start: StartProgress | None = None
    preflight: PreflightProgress | None = None
    approvals: ApprovalsProgress | None = None
    rollback_point: RollbackPointProgress | None = None
    frontend: FrontendProgress | None = None
    backend: BackendProgress | None = None
    smoke: SmokeProgress | None = None
    bake: BakeProgress | None = None
    rollback: RollbackProgress | None = None
    finish: FinishProgress | None = None

    @model_serializer(mode="plain")
    def _reached(self, info: Any) -> dict[str, Any]:
        # Only the stages reached, each as it was written.
        return {
            name: progress.model_dump(mode=info.mode, exclude_unset=True)
            for name, progress in self
            if progress is not None
        }
