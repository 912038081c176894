"""Rollback: undo only what this launch changed, newest change first."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import RollbackIncomplete
from chalicelib.models import Change, Launch, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.stages.frontend import invalidate
from chalicelib.stages.rollback_point import live_site_versions
from chalicelib.store import LaunchStore

# Deploy order is frontend then backend, so undo runs backend then frontend.
UNDO_ORDER = (Change.BACKEND, Change.FRONTEND)


def restore_backend(launch: Launch, profile: EnvironmentProfile, ecs: Any) -> dict[str, Any]:
    assert launch.rollback_point is not None
    target = launch.rollback_point.task_definition_arn
    ecs.update_service(
        cluster=profile.backend.cluster, service=profile.backend.service, taskDefinition=target, forceNewDeployment=True
    )
    return {"task_definition_arn": target}


def restore_frontend(launch: Launch, profile: EnvironmentProfile, s3: Any, cloudfront: Any) -> dict[str, Any]:
    """Make the recorded versions current again and delete what the release added."""
    assert launch.rollback_point is not None
    bucket = profile.frontend.site_bucket
    recorded = launch.rollback_point.site_versions
    live = live_site_versions(s3, bucket)
    restored = [key for key, version in recorded.items() if live.get(key) != version]
    for key in restored:
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": recorded[key]})
    added = sorted(set(live) - set(recorded))
    for start in range(0, len(added), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in added[start : start + 1000]], "Quiet": True}
        )
    invalidation = invalidate(cloudfront, profile.frontend.distribution_id, ["/*"], f"{launch.launch_id}-rollback")
    return {"restored": len(restored), "deleted": len(added), "invalidation_id": invalidation}


def roll_back(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, ecs: Any, s3: Any, cloudfront: Any
) -> dict[str, Any]:
    """Undo each recorded change; raise RollbackIncomplete naming what could not be undone."""
    undone: dict[str, Any] = {}
    left: list[str] = []
    if launch.changes and launch.rollback_point is None:
        raise RollbackIncomplete("changes were made without a rollback point; restore by hand")
    for change in UNDO_ORDER:
        if change not in launch.changes:
            continue
        try:
            if change == Change.BACKEND:
                undone[change] = restore_backend(launch, profile, ecs)
            else:
                undone[change] = restore_frontend(launch, profile, s3, cloudfront)
        except Exception as exc:  # noqa: BLE001 - the other changes must still be undone
            left.append(f"{change}: {type(exc).__name__}: {exc}")
            continue
        store.append_event(
            launch.launch_id, "rolled_back", f"{change} restored", stage=Stage.ROLLBACK, details=undone[change]
        )
    if left:
        raise RollbackIncomplete("; ".join(left))
    if not launch.changes:
        store.append_event(launch.launch_id, "rolled_back", "nothing had been changed", stage=Stage.ROLLBACK)
    return {"undone": undone}
