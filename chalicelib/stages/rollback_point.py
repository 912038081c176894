"""Rollback point: record what rollback needs before the launch touches anything."""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.models import Launch, RollbackPoint, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.store import LaunchStore, now


def live_site_versions(s3: Any, bucket: str) -> dict[str, str]:
    """Key -> version id of every object currently served from a versioned bucket."""
    versions: dict[str, str] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            if version["IsLatest"]:
                versions[version["Key"]] = version["VersionId"]
    return versions


def snapshot_id(launch_id: str) -> str:
    return f"pre-launch-{launch_id}"[:255]


def record_rollback_point(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, ecs: Any, s3: Any, rds: Any
) -> dict[str, Any]:
    """Record the task definition in service, the live object versions and a DB snapshot, once."""
    if launch.rollback_point is not None:
        return {"rollback_point": launch.rollback_point.model_dump(mode="json"), "reused": True}

    service = ecs.describe_services(cluster=profile.backend.cluster, services=[profile.backend.service])["services"][0]
    snapshot: str | None = None
    if profile.database.snapshot:
        snapshot = snapshot_id(launch.launch_id)
        # A retried step may have started it already.
        with contextlib.suppress(rds.exceptions.DBSnapshotAlreadyExistsFault):
            rds.create_db_snapshot(DBSnapshotIdentifier=snapshot, DBInstanceIdentifier=profile.database.instance_id)
    point = RollbackPoint(
        task_definition_arn=service["taskDefinition"],
        site_versions=live_site_versions(s3, profile.frontend.site_bucket),
        db_snapshot_id=snapshot,
        recorded_at=now(),
    )
    store.record_rollback_point(launch.launch_id, point)
    store.append_event(
        launch.launch_id,
        "rollback_point",
        f"rollback point: {point.task_definition_arn.rsplit('/', 1)[-1]}, {len(point.site_versions)} site objects"
        + (f", snapshot {snapshot}" if snapshot else ""),
        stage=Stage.ROLLBACK_POINT,
    )
    return {"rollback_point": point.model_dump(mode="json"), "reused": False}
