"""Preflight stage: run the checklist's checks before any change, keep the report, block on a blocking failure."""

from __future__ import annotations

from chalicelib.errors import PreflightBlocked
from chalicelib.models import Launch, Stage
from chalicelib.preflight import ClientFactory, Release, run_preflight
from chalicelib.profiles import EnvironmentProfile
from chalicelib.progress import PreflightProgress
from chalicelib.store import LaunchStore


def preflight_stage(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    client: ClientFactory,
    notification_topic_arn: str = "",
) -> PreflightProgress:
    """Run the checks and raise PreflightBlocked on a blocking failure; the report is kept either way."""
    release = Release(launch.request.frontend_artifact, launch.request.backend_image)
    report = run_preflight(profile, client, release, notification_topic_arn)
    progress = PreflightProgress.of(report)
    failed = ", ".join(f"{c.id} ({c.evidence})" for c in report.blocking_failures)
    warned = ", ".join(c.id for c in report.warnings)
    store.append_event(
        launch.launch_id,
        "preflight",
        report.summary() + (f"; blocking: {failed}" if failed else "") + (f"; warnings: {warned}" if warned else ""),
        stage=Stage.PREFLIGHT,
    )
    if not report.passed:
        raise PreflightBlocked(f"blocking checks failed: {failed}", progress=progress)
    return progress
