"""The rollback point against moto: the live versions, the backup of the site, the service's revision and the
database snapshot, kept once however often the step runs."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from localaws.infrastructure import FIRST_VERSION, site_build

from chalicelib.domain.errors import RollbackPointFailed
from chalicelib.domain.manifests import ManifestUnreadable
from chalicelib.domain.models import Launch, RollbackPoint, Stage
from chalicelib.stages import rollback_point
from chalicelib.stages.site import live_site
from tests.unit.stages.deploying import (
    Recording,
    service_of,
    with_rollback_point,
)


def test_the_live_versions_cost_the_same_whatever_the_buckets_history(application: Any, profile: Any) -> None:
    """Issue 18: listing every old version made each launch slower than the last; the current objects and
    one head each cost what the site's size costs, and name the same versions."""
    site = profile.frontend.site_bucket
    raw = application("s3")

    def read() -> tuple[dict[str, str], Counter[str]]:
        s3 = Recording(raw)
        return live_site(s3, site)[0], s3.calls

    before, first = read()
    for generation in range(20):
        for key in before:
            raw.put_object(Bucket=site, Key=key, Body=f"generation {generation}".encode())
    after, twentieth = read()
    listed = [v for page in raw.get_paginator("list_object_versions").paginate(Bucket=site) for v in page["Versions"]]
    assert after == {v["Key"]: v["VersionId"] for v in listed if v["IsLatest"]}
    assert first == twentieth
    assert twentieth["head_object"] == len(after)
    assert "list_object_versions" not in twentieth


def test_rollback_point_records_service_versions_backup_and_snapshot(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    result = rollback_point.record_rollback_point(
        store, launch, profile, application("ecs"), application("s3"), application("rds")
    )
    point = store.get_launch(launch.launch_id).rollback_point
    assert point is not None
    assert result.ready is True
    assert point.task_definition_arn == service_of(application, profile)["taskDefinition"]
    versions = rollback_point.recorded_versions(application("s3"), point)
    assert set(versions) == set(site_build(FIRST_VERSION))
    assert (point.site_objects, point.site_versions) == (len(versions), {})
    backup = application("s3").list_objects_v2(Bucket=profile.frontend.backup_bucket, Prefix="pre-launch/")
    assert {item["Key"] for item in backup["Contents"]} == {f"pre-launch/{launch.launch_id}/{key}" for key in versions}
    assert point.site_backup == f"s3://{profile.frontend.backup_bucket}/pre-launch/{launch.launch_id}/"
    snapshot = application("rds").describe_db_snapshots(DBSnapshotIdentifier=point.db_snapshot_id)["DBSnapshots"][0]
    assert snapshot["DBInstanceIdentifier"] == profile.database.instance_id
    assert result.snapshot_status == "available"


def test_a_retried_rollback_point_keeps_the_first_and_copies_nothing_again(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = with_rollback_point(store, launch, profile, application)
    s3 = Recording(application("s3"))
    again = rollback_point.record_rollback_point(store, stored, profile, application("ecs"), s3, application("rds"))
    assert again.backup_objects_copied == 0
    assert s3.calls["copy_object"] == 0
    assert store.get_launch(launch.launch_id).rollback_point == stored.rollback_point


def test_the_site_versions_are_a_manifest_beside_the_launch_and_the_record_keeps_its_place_count_and_digest(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = application("s3")
    point = with_rollback_point(store, launch, profile, application).rollback_point
    assert point is not None
    assert point.site_manifest is not None
    manifest = point.site_manifest
    backup = profile.frontend.backup_bucket
    assert manifest.location.startswith(f"s3://{backup}/launches/{launch.launch_id}/rollback-point-")
    body = s3.get_object(Bucket=backup, Key=manifest.location.split("/", 3)[3])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == manifest.sha256
    content = json.loads(body)
    assert content["bucket"] == profile.frontend.site_bucket
    assert manifest.entries == len(content["versions"]) == point.site_objects
    event = next(e for e in store.launch_history(launch.launch_id)[3] if e.kind == "rollback_point")
    assert event.details["site_manifest"] == manifest.model_dump()


def test_a_manifest_that_is_not_the_one_recorded_is_never_used(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = application("s3")
    stored = with_rollback_point(store, launch, profile, application)
    manifest = stored.rollback_point.site_manifest  # type: ignore[union-attr]
    assert manifest is not None
    bucket, _, key = manifest.location.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"bucket": "x", "versions": {}}).encode())
    with pytest.raises(RollbackPointFailed, match="not the one recorded"):
        rollback_point.record_rollback_point(store, stored, profile, application("ecs"), s3, application("rds"))
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ManifestUnreadable, match="is gone"):
        rollback_point.recorded_versions(s3, stored.rollback_point)  # type: ignore[arg-type]


def test_a_rollback_point_recorded_before_manifests_is_still_read_from_the_record() -> None:
    old = RollbackPoint(task_definition_arn="td:1", site_versions={"index.html": "v1"}, recorded_at=datetime.now(UTC))
    assert rollback_point.recorded_versions(object(), old) == {"index.html": "v1"}


class DescribedSnapshot:
    """RDS describing one snapshot in `status`."""

    def __init__(self, status: str) -> None:
        self.status = status

    def describe_db_snapshots(self, **_: Any) -> dict[str, Any]:
        arn = "arn:aws:rds:us-east-1:111122223333:snapshot:pre-launch-x"
        return {"DBSnapshots": [{"Status": self.status, "DBSnapshotArn": arn}]}


def test_a_snapshot_is_waited_for_until_rds_says_it_is_available(
    application: Any, store: Any, launch: Launch, profile: Any, run_stage: Any
) -> None:
    stored = with_rollback_point(store, launch, profile, application)
    store.record_result(
        launch.launch_id,
        Stage.ROLLBACK_POINT,
        rollback_point.record_rollback_point(
            store, stored, profile, application("ecs"), application("s3"), application("rds")
        ),
    )
    stored = store.get_launch(launch.launch_id)
    creating = rollback_point.snapshot_sighting(stored, profile, DescribedSnapshot("creating"))
    assert (creating.outcome.verdict, creating.resources) == (
        "pending",
        ["arn:aws:rds:us-east-1:111122223333:snapshot:pre-launch-x"],
    )
    available = rollback_point.snapshot_sighting(stored, profile, DescribedSnapshot("available"))
    assert available.outcome.verdict == "done"
    assert available.outcome.progress.ready is True  # type: ignore[union-attr]
    assert rollback_point.snapshot_sighting(stored, profile, DescribedSnapshot("failed")).outcome.verdict == "failed"


def test_a_failed_snapshot_fails_the_rollback_point() -> None:
    with pytest.raises(RollbackPointFailed, match="is failed"):
        rollback_point.snapshot_status(DescribedSnapshot("failed"), "s")
