"""Promotion: a launch into an environment that takes only releases launched successfully elsewhere first,
judged against that launch's record: the same image digest, the same build, recently."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.artifacts import Promotion, ReleaseArtifacts
from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.domain.profiles import PromotionPolicy
from chalicelib.domain.progress import CheckOutcome, CheckResult

PROMOTION_CHECK = "release.promoted_from"


def promotion_check(
    policy: PromotionPolicy,
    launch: Launch,
    source: Launch | None,
    ended_at: datetime | None,
    artifacts: ReleaseArtifacts | None,
    now: datetime,
) -> tuple[CheckResult, Promotion | None]:
    """Whether `launch` deploys exactly what `source` (the launch it names) deployed in `policy.from_`, which
    SUCCEEDED (`ended_at`) within the window; the Promotion to keep with its artifacts when it does.

    `artifacts` are this launch's, as preflight resolved them (None: its other checks failed, so nothing was
    resolved and only the source is judged)."""
    asked = launch.request.promote_from
    where = policy.from_

    def result(outcome: CheckOutcome, **evidence: Any) -> CheckResult:
        return CheckResult(
            id=PROMOTION_CHECK,
            title=f"Promoted from a launch into {where} that succeeded within {policy.within_hours} hours",
            section="Application",
            result=outcome,
            resource=f"launch {asked}" if asked else f"a launch into {where}",
            evidence=evidence,
        )

    if asked is None:
        return result(
            "fail",
            promote_from=f"none named: {launch.request.environment} takes releases launched in {where} first "
            f"(promote_from, or launchctl promote LAUNCH_ID --to {launch.request.environment})",
        ), None
    if source is None:
        return result("fail", promote_from=f"no launch {asked}"), None
    if source.request.environment != where:
        return result("fail", promote_from=f"{asked} launched into {source.request.environment}, not {where}"), None
    if source.status != LaunchStatus.SUCCEEDED or ended_at is None:
        return result("fail", promote_from=f"{asked} is {source.status}, not SUCCEEDED"), None
    if now - ended_at > timedelta(hours=policy.within_hours):
        return result(
            "fail",
            promote_from=f"{asked} ended {ended_at.isoformat(timespec='seconds')}, more than "
            f"{policy.within_hours} hours ago: launch it into {where} again",
        ), None
    if artifacts is None:
        return result("skipped", reason="the release's digests are compared once its other checks pass"), None
    if source.artifacts is None:
        return result("fail", promote_from=f"{asked} recorded no digests to compare (launched before they were)"), None
    theirs, ours = source.artifacts, artifacts
    differ: dict[str, Any] = {}
    if ours.backend_digest is None or ours.backend_digest != theirs.backend_digest:
        differ |= {
            "image_digest_here": ours.backend_digest or "none (not in ECR)",
            f"image_digest_in_{where}": theirs.backend_digest or "none (not in ECR)",
        }
    if ours.frontend_digest != theirs.frontend_digest:
        differ |= {"build_digest_here": ours.frontend_digest, f"build_digest_in_{where}": theirs.frontend_digest}
    if launch.request.git_sha != source.request.git_sha:
        differ |= {"commit_here": launch.request.git_sha, f"commit_in_{where}": source.request.git_sha}
    if differ:
        return result("fail", differs_from=asked, **differ), None
    chain = [*(theirs.promotion.chain if theirs.promotion else []), source.launch_id]
    promotion = Promotion(launch_id=source.launch_id, environment=where, ended_at=ended_at, chain=chain)
    return result(
        "pass",
        launch=asked,
        ended=ended_at.isoformat(timespec="seconds"),
        image_digest=ours.backend_digest,
        build_digest=ours.frontend_digest,
        chain=" -> ".join([*chain, launch.launch_id]),
    ), promotion
