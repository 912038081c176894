"""Preflight stage: run the checklist's checks before any change, keep the report, block on a blocking failure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from chalicelib.checks.application import ecr_location
from chalicelib.checks.checklist import ClientFactory, Release, run_preflight
from chalicelib.checks.release import GitHubApp, app_reader
from chalicelib.checks.services import PREFLIGHT_OWN_SERVICES, PREFLIGHT_SERVICES
from chalicelib.domain.artifacts import ReleaseArtifacts, build_digest
from chalicelib.domain.errors import PreflightBlocked
from chalicelib.domain.models import Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import PreflightProgress, PreflightReport, Progress
from chalicelib.domain.promotion import promotion_check
from chalicelib.domain.windows import window_check
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.release_changes import read_changes
from chalicelib.stages.site import release_objects
from chalicelib.store import LaunchNotFound, LaunchStore


def preflight_stage(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    client: ClientFactory,
    notification_topic_arn: str = "",
    github_app: Callable[[], GitHubApp] | None = None,
) -> PreflightProgress:
    """Run the checks and raise PreflightBlocked on a blocking failure; the report is kept either way."""
    request = launch.request
    release = Release(request.frontend_artifact, request.backend_image, request.git_sha)
    report = run_preflight(profile, client, release, notification_topic_arn, github_app=github_app)
    emergency = None
    if profile.windows is not None:
        in_window, emergency = window_check(profile.windows, launch, store.clock.now())
        report = PreflightReport(checks=[*report.checks, in_window])
    # A retried step compares and keeps what the first resolved, wherever the tag has moved since.
    artifacts = (launch.artifacts or resolve_artifacts(launch, client, store.clock.now())) if report.passed else None
    if profile.promotion is not None:
        source, ended_at = promoted_launch(store, launch.request.promote_from)
        judged, promotion = promotion_check(profile.promotion, launch, source, ended_at, artifacts, store.clock.now())
        report = PreflightReport(checks=[*report.checks, judged])
        if artifacts is not None and promotion is not None:
            artifacts = artifacts.model_copy(update={"promotion": promotion})
    progress = PreflightProgress.of(report)
    if report.passed:  # what the approvers are shown: read only for a launch that goes on to them
        assert artifacts is not None
        progress.changes = read_changes(store, launch, profile, client, github_app)
        if emergency is not None:  # who else signs off at the gate, which pages
            emergency = store.record_emergency(launch.launch_id, emergency)
            store.append_event(
                launch.launch_id,
                "emergency",
                f"EMERGENCY launch outside the deploy windows ({emergency.outside}): {emergency.reason}; "
                f"{emergency.signoff_role} signs off as well",
                stage=Stage.PREFLIGHT,
                details=emergency.model_dump(mode="json"),
            )
        artifacts = store.record_artifacts(launch.launch_id, artifacts)
        store.append_event(
            launch.launch_id,
            "artifacts",
            f"deploys {artifacts.in_words()}",
            stage=Stage.PREFLIGHT,
            details=artifacts.model_dump(mode="json"),
        )
    failed = "; ".join(check.in_words for check in report.blocking_failures)
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


def promoted_launch(store: LaunchStore, launch_id: str | None) -> tuple[Launch | None, datetime | None]:
    """The launch a release is promoted from, and when it SUCCEEDED (by its timeline's status event)."""
    if launch_id is None:
        return None, None
    try:
        source = store.get_launch(launch_id)
    except LaunchNotFound:
        return None, None
    succeeded = [
        event.at
        for event in store.timeline(launch_id)
        if event.kind == "status" and event.message.endswith(f"-> {LaunchStatus.SUCCEEDED}")
    ]
    return source, (succeeded[-1] if succeeded else None)


def resolve_artifacts(launch: Launch, client: ClientFactory, moment: datetime) -> ReleaseArtifacts:
    """The image's tag resolved to its digest in ECR, and the build's objects to their digest, as they are now:
    the launch deploys exactly these, wherever the tag moves or whatever is uploaded over the build later."""
    request = launch.request
    location = ecr_location(request.backend_image)
    digest = None
    if location is not None:
        found = client("ecr").describe_images(
            registryId=location["registryId"],
            repositoryName=location["repositoryName"],
            imageIds=[location["imageId"]],
        )["imageDetails"]
        if not found:
            raise PreflightBlocked(f"the release image {request.backend_image} is no longer in ECR")  # since its check
        digest = str(found[0]["imageDigest"])
    objects = release_objects(client("s3"), request)
    return ReleaseArtifacts(
        backend_image=request.backend_image,
        backend_digest=digest,
        frontend_artifact=request.frontend_artifact,
        frontend_digest=build_digest(objects),
        frontend_objects=len(objects),
        resolved_at=moment,
    )


def _preflight_step(call: StageCall) -> Progress:
    # The checks fan out over many services: they take the declared clients as a factory. The GitHub App's
    # credential is the controller's own secret, not the environment's.
    github = app_reader(
        lambda: call.controller_client("secretsmanager"), call.settings.github_app_secret_id, call.profile
    )
    return preflight_stage(
        call.store, call.launch, call.profile, call.client, call.settings.notifications_topic_arn, github
    )


PREFLIGHT = StageSpec(
    "preflight",
    Stage.PREFLIGHT,
    _preflight_step,
    clients=PREFLIGHT_SERVICES,
    # and the GitHub App's credential, a secret of the controller's (`call.controller_client`)
    own_clients=(*PREFLIGHT_OWN_SERVICES, "secretsmanager"),
)
