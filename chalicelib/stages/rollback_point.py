"""Rollback point: record what rollback needs before the launch touches anything."""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.domain.errors import RollbackPointFailed
from chalicelib.domain.manifests import CopyKind, CopyPlan, ManifestUnreadable, write_manifest
from chalicelib.domain.models import Launch, LaunchStatus, RollbackPoint, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import Progress, RollbackPointProgress
from chalicelib.domain.service_events import Notice
from chalicelib.stages.copy_batches import Batches, batches_for
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.per_object import each_object
from chalicelib.stages.release_switch import RELEASES, live_release
from chalicelib.stages.service import running_images
from chalicelib.stages.site import Copy, backer_up, backup_prefix, live_site, object_keys, recorded_site
from chalicelib.stages.wait_outcomes import Outcome, Sighting, snapshot_ready
from chalicelib.store import LaunchStore, Wait

# A snapshot in one of these will never become available.
SNAPSHOT_FAILED = {"failed", "incompatible-restore", "deleted"}


def snapshot_id(launch_id: str) -> str:
    return f"pre-launch-{launch_id}"[:255]


def recorded_versions(s3: Any, point: RollbackPoint) -> dict[str, str]:
    """Key -> version id of the site as the rollback point recorded it."""
    return recorded_site(s3, point)[0]


def missing_backups(s3: Any, backup_bucket: str, versions: dict[str, str], prefix: str) -> list[Copy]:
    """The recorded versions not yet copied into the backup bucket (a retried step copied some already)."""
    present = object_keys(s3, backup_bucket, prefix)
    return [Copy(key, versions[key]) for key in sorted(versions) if prefix + key not in present]


def back_up_site(s3: Any, backup_bucket: str, versions: dict[str, str], site_bucket: str, prefix: str) -> int:
    """Copy each recorded object version into the backup bucket; objects already copied are skipped."""
    missing = missing_backups(s3, backup_bucket, versions, prefix)
    each_object(backer_up(s3, site_bucket, backup_bucket, prefix), missing)
    return len(missing)


def snapshot_status(rds: Any, snapshot: str) -> str:
    """The snapshot's status; a failed snapshot raises RollbackPointFailed."""
    described = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"][0]
    status: str = described["Status"]
    if status in SNAPSHOT_FAILED:
        raise RollbackPointFailed(f"database snapshot {snapshot} is {status}")
    return status


def snapshot_sighting(launch: Launch, profile: EnvironmentProfile, rds: Any) -> Sighting:
    """The snapshot as RDS describes it now; RDS's "snapshot created" event decides its wait."""
    point = launch.rollback_point
    assert point is not None, "the rollback point was recorded"
    assert point.db_snapshot_id, "the rollback point started a snapshot"
    described = rds.describe_db_snapshots(DBSnapshotIdentifier=point.db_snapshot_id)["DBSnapshots"][0]
    status = described["Status"]
    if status in SNAPSHOT_FAILED:
        outcome = Outcome(verdict="failed", reason=f"database snapshot {point.db_snapshot_id} is {status}")
    elif status == "available":
        outcome = snapshot_ready(launch, status, "seen available")
    else:
        outcome = Outcome(verdict="pending", reason=f"snapshot {status}")
    return Sighting(resources=[described["DBSnapshotArn"]], outcome=outcome)


def record_rollback_point(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    ecs: Any,
    s3: Any,
    rds: Any,
    batches: Batches | None = None,
    after_batches: bool = False,
    kvs: Any = None,
) -> RollbackPointProgress:
    """Record the service's task definition, the site's versions, a backup copy and a DB snapshot.

    A retried step finds what the first recorded. Ready once the backup copy is complete and the snapshot
    is available; until then the launch waits for RDS's event. A backup of more objects than the profile's
    `batch_copies_above` is planned in batches for the state machine's Distributed Map; the step called
    `after_batches` checks the backup is whole instead of copying."""
    point = launch.rollback_point
    if point is None:
        point, versions = _record(store, launch, profile, ecs, s3, rds, kvs)
    else:  # a retried step, or the one after the batches: the versions its first attempt recorded
        versions = _versions_of(s3, point)
    frontend = profile.frontend
    copied = 0
    plan: CopyPlan | None = None
    if point.site_backup:
        prefix = backup_prefix(launch.launch_id)
        missing = missing_backups(s3, frontend.backup_bucket, versions, prefix)
        if after_batches:
            if missing:
                raise RollbackPointFailed(
                    f"the backup's batches left {len(missing)} site objects uncopied ({missing[0].key} first)"
                )
            earlier = launch.results.rollback_point
            copied = earlier.copies.copies if earlier and earlier.copies else 0
        elif batches is not None and batches.wanted(len(missing)):
            what = f"site backup: {len(missing)} objects to copy"
            plan = batches.plan_announced(store, launch.launch_id, CopyKind.BACKUP, missing, Stage.ROLLBACK_POINT, what)
        else:
            each_object(backer_up(s3, frontend.site_bucket, frontend.backup_bucket, prefix), missing)
            copied = len(missing)
    status = "not taken"
    if point.db_snapshot_id:
        status = snapshot_status(rds, point.db_snapshot_id)
    ready = status in {"available", "not taken"} and plan is None
    if ready:
        store.append_event(
            launch.launch_id,
            "rollback_point_ready",
            (
                f"site copied to {point.site_backup}"
                if point.site_backup
                else f"the site goes back by switching to {point.live_release or 'the bucket root'}"
            )
            + (f", snapshot {point.db_snapshot_id} available" if point.db_snapshot_id else ""),
            stage=Stage.ROLLBACK_POINT,
        )
    # The versions themselves are in the manifest: a large site would overflow a state's payload.
    return RollbackPointProgress(
        task_definition_arn=point.task_definition_arn,
        site_objects=len(versions),
        site_backup=point.site_backup,
        backup_objects_copied=copied,
        db_snapshot_id=point.db_snapshot_id,
        snapshot_status=status,
        ready=ready,
        copies=plan,
    )


def _record(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, ecs: Any, s3: Any, rds: Any, kvs: Any
) -> tuple[RollbackPoint, dict[str, str]]:
    """The rollback point as recorded (by this attempt, or by one that raced it) and its site versions."""
    backend = profile.backend
    service = ecs.describe_services(cluster=backend.cluster, services=[backend.service])["services"][0]
    # A forced deployment keeps the revision and moves the tag: only the digest the service ran takes it back.
    ran = running_images(ecs, backend.cluster, backend.service) if backend.strategy == "force_new_deployment" else {}
    snapshot: str | None = None
    if profile.database.snapshot:
        snapshot = snapshot_id(launch.launch_id)
        # A retried step may have started it already.
        with contextlib.suppress(rds.exceptions.DBSnapshotAlreadyExistsFault):
            rds.create_db_snapshot(
                DBSnapshotIdentifier=snapshot,
                DBInstanceIdentifier=profile.database.instance_id,
                Tags=[{"Key": "launch-id", "Value": launch.launch_id}],
            )
    frontend = profile.frontend
    if frontend.layout == "releases":
        # Every release stays in place: what to go back to is the one served, no copy of the site.
        assert frontend.key_value_store_arn is not None, "a profile with layout releases names its store"
        versions: dict[str, str] = {}
        manifest = None
        point = RollbackPoint(
            task_definition_arn=service["taskDefinition"],
            site_layout="releases",
            live_release=live_release(kvs, frontend.key_value_store_arn),
            db_snapshot_id=snapshot,
            running_images=ran,
            recorded_at=store.clock.now(),
        )
    else:
        versions, etags = live_site(s3, frontend.site_bucket)
        versions = {key: version for key, version in versions.items() if not key.startswith(RELEASES)}
        manifest = write_manifest(
            s3,
            frontend.backup_bucket,
            launch.launch_id,
            "rollback-point",
            {"bucket": frontend.site_bucket, "versions": versions, "etags": etags},
            entries=len(versions),
        )
        point = RollbackPoint(
            task_definition_arn=service["taskDefinition"],
            site_manifest=manifest,
            site_objects=len(versions),
            site_backup=f"s3://{frontend.backup_bucket}/{backup_prefix(launch.launch_id)}",
            db_snapshot_id=snapshot,
            running_images=ran,
            recorded_at=store.clock.now(),
        )
    if not store.record_rollback_point(launch.launch_id, point):
        recorded = store.get_launch(launch.launch_id).rollback_point
        if recorded is not None:
            return recorded, _versions_of(s3, recorded)
    site = (
        f"live release {point.live_release or '(none: the bucket root)'}"
        if point.site_layout == "releases"
        else f"{len(versions)} site objects"
    )
    store.append_event(
        launch.launch_id,
        "rollback_point",
        f"rollback point: {point.task_definition_arn.rsplit('/', 1)[-1]}"
        + (f" running {', '.join(ran.values())}" if ran else "")
        + f", {site}"
        + (f", snapshot {snapshot} started" if snapshot else ""),
        stage=Stage.ROLLBACK_POINT,
        details={
            "task_definition_arn": point.task_definition_arn,
            **({"running_images": ran} if ran else {}),
            **(
                {"live_release": point.live_release}
                if manifest is None
                else {"site_backup": point.site_backup, "site_manifest": manifest.model_dump()}
            ),
        },
    )
    return point, versions


def _versions_of(s3: Any, point: RollbackPoint) -> dict[str, str]:
    """The site versions a recorded rollback point kept (none in layout releases: nothing is copied)."""
    if point.site_layout == "releases":
        return {}
    try:
        return recorded_versions(s3, point)
    except ManifestUnreadable as exc:
        raise RollbackPointFailed(str(exc)) from exc


def snapshot_heard(wait: Wait, notice: Notice, launch: Launch, profile: EnvironmentProfile) -> Outcome:
    """RDS's event about the launch's snapshot."""
    if notice.verdict == "failed":
        return Outcome(verdict="failed", reason=f"database snapshot: {notice.reason}")
    return snapshot_ready(launch, "available", notice.reason)


def _record_rollback_point_step(call: StageCall) -> Progress:

    return record_rollback_point(
        call.store,
        call.launch,
        call.profile,
        call.client("ecs"),
        call.client("s3"),
        call.client("rds"),
        batches_for(call),
        call.event.after_batches,
        call.client("cloudfront-keyvaluestore") if call.profile.frontend.layout == "releases" else None,
    )


RECORD_ROLLBACK_POINT = StageSpec(
    "record_rollback_point",
    Stage.ROLLBACK_POINT,
    _record_rollback_point_step,
    enters=LaunchStatus.DEPLOYING,
    honours_abort=False,  # it changes nothing; the next stage, the first change, honours an abort
    clients=("ecs", "s3", "rds", "cloudfront-keyvaluestore"),
    own_clients=("s3",),  # its copy plans, in the controller's bucket
)
