"""Launches in each state a page must show truthfully, built as the stages write them (for the pages' tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.models import Approval, Launch, LaunchStatus, Stage, TimelineEvent
from chalicelib.domain.progress import (
    ApprovalsProgress,
    BackendProgress,
    BakeFigures,
    BakeProgress,
    Baseline,
    Checkpoint,
    CheckResult,
    Exposure,
    FinishProgress,
    FrontendProgress,
    LaunchResults,
    PreflightProgress,
    RevisionFigures,
    RollbackPointProgress,
    RollbackProgress,
    SmokeProgress,
    SmokeResult,
    TrafficStep,
    UndoneChange,
)
from tests.conftest import REQUESTER, make_request, unit_profile

START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:launch-controller:{}"


def _checks(failing: str | None = None) -> list[CheckResult]:
    checks = [
        CheckResult(
            id=f"infra.item_{n}",
            title=f"Infrastructure item {n} is in place",
            section="Infrastructure",
            result="pass",
            resource=f"arn:aws:ec2:us-east-1:123456789012:resource/very-long-identifier-{n:04d}-abcdef0123456789",
            evidence={"seen": True},
        )
        for n in range(40)
    ]
    checks.append(
        CheckResult(
            id="monitoring.log_retention",
            title="Logs are kept long enough",
            section="Monitoring",
            severity="warning",
            result="warn",
            resource="/aws/ecs/acme-api",
            evidence={"retention_days": 7, "wanted_days": 30},
        )
    )
    checks.append(
        CheckResult(
            id="app.release_tests",
            title="The release's required checks passed on its commit",
            section="Application",
            result="pass",
            resource="acme/web",
            evidence={
                "checks": {"build": {"result": "success", "url": "https://github.com/acme/web/actions/runs/1"}},
                "failing": [],
            },
        )
    )
    if failing:
        checks.append(
            CheckResult(
                id=failing,
                title="Backend image exists in ECR",
                section="Application",
                result="fail",
                resource="release image",
                evidence={"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.2.0", "digest": None},
            )
        )
    return checks


def _preflight(failing: str | None = None) -> PreflightProgress:
    checks = _checks(failing)
    passed = sum(check.result == "pass" for check in checks)
    return PreflightProgress(
        checks=checks,
        passed=failing is None,
        summary=f"{passed}/{len(checks)} checks passed, {int(failing is not None)} blocking, 1 warnings, 0 skipped",
    )


def _bake(verdict: str, error_rates: list[float]) -> BakeProgress:
    points = [
        Checkpoint(
            offset_seconds=offset,
            label=label,
            at=START + timedelta(seconds=600 + offset),
            alarms_in_alarm=["acme-api-5xx"] if verdict == "breach" and offset == 900 else [],
            alarms_missing=[],
            requests=1800.0 + offset,
            error_rate=rate,
            p95_ms=180.0 + offset / 30,
            error_rate_limit=0.0005,
            p95_limit_ms=240.0,
        )
        for (offset, label), rate in zip([(900, "15 min"), (3600, "1 h")], error_rates, strict=False)
    ]
    return BakeProgress(
        started_at=START + timedelta(seconds=600),
        elapsed_seconds=float(points[-1].offset_seconds),
        checkpoints=points,
        baseline=Baseline(since=START - timedelta(hours=1), until=START, requests=1700, error_rate=0.0002, p95_ms=170),
        last=BakeFigures(**points[-1].model_dump(include=set(BakeFigures.model_fields))),
        polls=len(points),
        verdict=verdict,  # type: ignore[arg-type]
    )


def _deployed() -> dict[str, Any]:
    """The stages a launch that deployed went through, as they wrote their progress."""
    return {
        "approvals": ApprovalsProgress(roles=["tech_lead", "qa_lead", "product_manager"]),
        "rollback_point": RollbackPointProgress(
            task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/acme-api:41",
            site_objects=412,
            site_backup="s3://acme-backups/pre-launch/",
            backup_objects_copied=412,
            db_snapshot_id="pre-launch-local-20261201",
            snapshot_status="available",
            ready=True,
        ),
        "frontend": FrontendProgress(uploaded=37, unchanged=375, deleted=2, invalidation_id="I2J3K4"),
        "backend": BackendProgress(phase="rolling", rollout="steady"),
        "smoke": SmokeProgress(
            checks=[SmokeResult(name="home", target="/", passed=True, detail="status 200", latency_ms=41, attempts=1)]
        ),
    }


def _undone_whole(minutes: int) -> RollbackProgress:
    """A rollback, begun `minutes` after the launch, that undid the backend and the frontend."""
    undone = {"backend": UndoneChange(settled=True), "frontend": UndoneChange(settled=True)}
    return RollbackProgress(started_at=START + timedelta(minutes=minutes), undone=undone, settled=True, left=[])


def _launch(launch_id: str, status: LaunchStatus, **fields: Any) -> Launch:
    ended = status.is_final
    return Launch(
        launch_id=launch_id,
        request=make_request(version=fields.pop("version", "1.2.0")),
        requested_by=REQUESTER,
        status=status,
        stage=fields.pop("stage", Stage.FINISH if ended else Stage.BAKE),
        created_at=START,
        updated_at=START + timedelta(minutes=75 if ended else 20),
        profile=unit_profile("local"),
        execution_arn=EXECUTION.format(launch_id),
        **fields,
    )


def _event(kind: str, message: str, stage: Stage | None, minutes: int, **details: Any) -> TimelineEvent:
    return TimelineEvent(
        kind=kind, message=message, stage=stage, at=START + timedelta(minutes=minutes), details=details
    )


def _approvals(rejected: bool = False) -> list[Approval]:
    approvals = [
        Approval(
            role="tech_lead",
            decision="approved",
            approver="tess.lead@acme.example",
            attestations=["code_freeze", "rollback_plan", "on_call", "runbooks"],
            via="link",
            decided_at=START + timedelta(minutes=3),
        )
    ]
    if rejected:
        approvals.append(
            Approval(
                role="qa_lead",
                decision="rejected",
                approver="quinn.qa@acme.example",
                comment="checkout regression on Safari: the pay button does nothing",
                via="link",
                decided_at=START + timedelta(minutes=5),
            )
        )
    return approvals


def states() -> dict[str, tuple[Launch, list[Approval], list[TimelineEvent]]]:
    """Each page state the docs show: (the launch, its sign-offs, its timeline)."""
    running = _launch(
        "local-20261201-140000-aaaaaa",
        LaunchStatus.BAKING,
        changes=["frontend", "backend"],
        results=LaunchResults(preflight=_preflight(), bake=_bake("watching", [0.0003]), **_deployed()),
    )
    succeeded = _launch(
        "local-20261201-140000-bbbbbb",
        LaunchStatus.SUCCEEDED,
        changes=["frontend", "backend"],
        results=LaunchResults(preflight=_preflight(), bake=_bake("healthy", [0.0003, 0.0002]), **_deployed()),
    )
    smoke = SmokeProgress(
        checks=[SmokeResult(name="home", target="/", passed=False, detail="status 502", latency_ms=31, attempts=3)]
    )
    restored = UndoneChange(settled=True, restored_instance="acme-db-restored-1a2b3c4d")
    rolled_back_by_smoke = _launch(
        "local-20261201-140000-cccccc",
        LaunchStatus.ROLLED_BACK,
        changes=["frontend", "backend", "database"],
        error={"error": "SmokeTestFailed", "cause": "home: status 502 after 3 attempts"},
        results=LaunchResults(
            **{**_deployed(), "smoke": smoke},
            preflight=_preflight(),
            rollback=RollbackProgress(
                started_at=START + timedelta(minutes=12),
                undone={
                    "backend": UndoneChange(
                        settled=True, task_definition_arn="arn:aws:ecs:task-definition/acme-api:41"
                    ),
                    "frontend": UndoneChange(settled=True),
                    "database": restored,
                },
                settled=True,
                left=[],
            ),
        ),
    )
    steps = [
        "switch the application to the restored database acme-db-restored-1a2b3c4d (as it was before the launch): "
        "acme-db still holds the migrated data; delete it once nothing uses it"
    ]
    rolled_back_by_alarm = _launch(
        "local-20261201-140000-dddddd",
        LaunchStatus.ROLLED_BACK,
        changes=["frontend", "backend"],
        error={"error": "BakeBreached", "cause": "at 15 min: acme-api-5xx in ALARM; error rate 2.1 % over 0.05 %"},
        results=LaunchResults(
            **_deployed(),
            preflight=_preflight(),
            bake=_bake("breach", [0.021]),
            rollback=_undone_whole(minutes=26),
        ),
    )
    undone = _launch(
        "local-20261201-140000-eeeeee",
        LaunchStatus.SUCCEEDED,
        changes=["frontend", "backend"],
        rolled_back_by="local-20261201-160000-ffffff",
        results=LaunchResults(preflight=_preflight(), bake=_bake("healthy", [0.0003, 0.0002]), **_deployed()),
    )
    requested_rollback = _launch(
        "local-20261201-160000-ffffff",
        LaunchStatus.ROLLED_BACK,
        stage=Stage.FINISH,
        error={"error": "RollbackRequested", "cause": "riley asked to roll back launch local-20261201-140000-eeeeee"},
        rollback_of={
            "launch_id": undone.launch_id,
            "requested_by": REQUESTER,
            "reason": "checkout errors since 15:40",
        },
        changes=["frontend", "backend"],
        results=LaunchResults(rollback=_undone_whole(minutes=1)),
    )
    blocked = _launch(
        "local-20261201-140000-gggggg",
        LaunchStatus.BLOCKED,
        stage=Stage.FINISH,
        error={"error": "PreflightBlocked", "cause": "app.image_in_ecr (Backend image exists in ECR): digest: none"},
        results=LaunchResults(preflight=_preflight(failing="app.image_in_ecr")),
    )
    rejected = _launch(
        "local-20261201-140000-hhhhhh",
        LaunchStatus.REJECTED,
        stage=Stage.FINISH,
        error={"error": "ApprovalRejected", "cause": "qa_lead rejected: checkout regression on Safari"},
        results=LaunchResults(preflight=_preflight(), approvals=ApprovalsProgress(roles=["tech_lead", "qa_lead"])),
    )
    finished = [_event("finished", "launch ROLLED_BACK", Stage.FINISH, 75, manual_steps=steps)]
    exposure = Exposure(
        requests=212,
        errors=43,
        since=START + timedelta(minutes=8),
        until=START + timedelta(minutes=19),
        how="the release's target group, from its first traffic step (10 %), until the backend was restored",
    )
    canary = _launch(
        "local-20261201-140000-iiiiii",
        LaunchStatus.ROLLED_BACK,
        changes=["backend"],
        error={"error": "BackendRolloutFailed", "cause": "ECS rolled the deployment back: its lifecycle hook failed"},
        results=LaunchResults(
            **_deployed(),
            preflight=_preflight(),
            rollback=RollbackProgress(
                started_at=START + timedelta(minutes=19),
                undone={"backend": UndoneChange(settled=True)},
                settled=True,
                left=[],
            ),
            finish=FinishProgress(status="ROLLED_BACK", notified=True, exposure=exposure),
        ),
    )
    return {
        "running": (running, _approvals(), []),
        "succeeded": (succeeded, _approvals(), []),
        "rolled-back-by-smoke": (rolled_back_by_smoke, _approvals(), finished),
        "rolled-back-by-alarm": (rolled_back_by_alarm, _approvals(), []),
        "requested-rollback": (requested_rollback, [], []),
        "rolled-back-later": (undone, _approvals(), []),
        "blocked": (blocked, [], []),
        "rejected": (rejected, _approvals(rejected=True), []),
        "canary-rolled-back": (canary, _approvals(), [*_canary_steps(), ended_with(exposure)]),
    }


def ended_with(exposure: Exposure) -> TimelineEvent:
    """The finish's event, as it writes it with the final status."""
    return _event("finished", "launch ROLLED_BACK", Stage.FINISH, 20, exposure=exposure.model_dump(mode="json"))


def _canary_steps() -> list[TimelineEvent]:
    """A canary that passed its 10 % step and failed its 30 % one, as the lifecycle hook records them."""
    passed = TrafficStep(
        weight=10,
        target_group="targetgroup/acme-green/6d0ecf831eec9f09",
        started_at=START + timedelta(minutes=8),
        judged_at=START + timedelta(minutes=13),
        outcome="pass",
        reasons=["errors 0.500% new against 0.400% old", "p95 121 ms new against 118 ms old"],
        new=RevisionFigures(requests=200, errors=1, latency_points_ms=[118, 121, 119, 120, 117]),
        old=RevisionFigures(requests=1800, errors=7, latency_points_ms=[117, 118, 118, 116, 117]),
        error_p_value=0.57,
        latency_p_value=0.21,
    )
    failed = TrafficStep(
        weight=30,
        target_group=passed.target_group,
        started_at=START + timedelta(minutes=13),
        judged_at=START + timedelta(minutes=18),
        outcome="fail",
        reasons=["errors 20.000% new against 0.400% old", "p95 180 ms new against 118 ms old"],
        new=RevisionFigures(requests=600, errors=120, latency_points_ms=[170, 180, 176, 172, 174]),
        old=RevisionFigures(requests=1400, errors=6, latency_points_ms=[117, 118, 118, 116, 117]),
        error_p_value=1.2e-30,
        latency_p_value=0.004,
    )
    return [
        _event("traffic_step", f"traffic step {step.weight:g} % judged", Stage.BACKEND, minutes, **details)
        for step, minutes in ((passed, 13), (failed, 18))
        if (details := step.model_dump(mode="json", exclude_none=True))
    ]
