"""Rollback point, frontend and backend stages against moto-emulated infrastructure."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from localaws.ecs_scheduler import EcsScheduler
from localaws.infrastructure import FIRST_VERSION, REGION, backend_image, site_build

from chalicelib.domain.errors import BackendRolloutFailed, FrontendDeployFailed, MigrationFailed, RollbackPointFailed
from chalicelib.domain.manifests import Manifest, ManifestUnreadable, read_manifest
from chalicelib.domain.models import Change, Launch, RollbackPoint, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.stages import backend, frontend, rollback_point, service
from chalicelib.stages.site import IMMUTABLE, NO_CACHE, SHORT, cache_control, content_type, live_site


@pytest.fixture
def environment(application: Any) -> Any:
    """These stages run after preflight: the application without the network and edge (tests/conftest.py)."""
    return application


class Recording:
    """A boto3 client that counts the operations called through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self.copies: list[tuple[str, float, float]] = []  # each copy's key, start and end
        self._lock = threading.Lock()  # a stage copies from several threads at once

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in {"get_paginator", "get_waiter"}:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            began = time.monotonic()
            try:
                return attribute(*args, **kwargs)
            finally:
                if name == "copy_object":
                    with self._lock:
                        self.copies.append((kwargs["Key"], began, time.monotonic()))

        return call


def ecs_settles() -> None:
    """Play ECS once: finish due deployments and stop due one-off tasks."""
    EcsScheduler(REGION, settle_seconds=0).settle()


def without_migration(profile: EnvironmentProfile) -> EnvironmentProfile:
    return profile.model_copy(update={"backend": profile.backend.model_copy(update={"migration": None})})


def forcing(profile: EnvironmentProfile) -> EnvironmentProfile:
    """The profile without migrations, redeploying the current revision instead of registering one."""
    plain = without_migration(profile)
    return plain.model_copy(update={"backend": plain.backend.model_copy(update={"strategy": "force_new_deployment"})})


def _service(aws: Any, profile: Any) -> dict[str, Any]:
    target = profile.backend
    return aws("ecs").describe_services(cluster=target.cluster, services=[target.service])["services"][0]


def _with_rollback_point(store: Any, launch: Launch, profile: Any, aws: Any) -> Launch:
    rollback_point.record_rollback_point(store, launch, profile, aws("ecs"), aws("s3"), aws("rds"))
    return store.get_launch(launch.launch_id)


# -- rollback point -------------------------------------------------------------------------------


def test_the_live_versions_cost_the_same_whatever_the_buckets_history(environment: Any, profile: Any) -> None:
    """Issue 18: listing every old version made each launch slower than the last; the current objects and
    one head each cost what the site's size costs, and name the same versions."""
    site = profile.frontend.site_bucket
    raw = environment("s3")

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
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    result = rollback_point.record_rollback_point(
        store, launch, profile, environment("ecs"), environment("s3"), environment("rds")
    )
    point = store.get_launch(launch.launch_id).rollback_point
    assert point is not None
    assert result.ready is True
    assert point.task_definition_arn == _service(environment, profile)["taskDefinition"]
    versions = rollback_point.recorded_versions(environment("s3"), point)
    assert set(versions) == set(site_build(FIRST_VERSION))
    assert (point.site_objects, point.site_versions) == (len(versions), {})
    backup = environment("s3").list_objects_v2(Bucket=profile.frontend.backup_bucket, Prefix="pre-launch/")
    assert {item["Key"] for item in backup["Contents"]} == {f"pre-launch/{launch.launch_id}/{key}" for key in versions}
    assert point.site_backup == f"s3://{profile.frontend.backup_bucket}/pre-launch/{launch.launch_id}/"
    snapshot = environment("rds").describe_db_snapshots(DBSnapshotIdentifier=point.db_snapshot_id)["DBSnapshots"][0]
    assert snapshot["DBInstanceIdentifier"] == profile.database.instance_id
    assert result.snapshot_status == "available"


def test_a_retried_rollback_point_keeps_the_first_and_copies_nothing_again(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    s3 = Recording(environment("s3"))
    again = rollback_point.record_rollback_point(store, stored, profile, environment("ecs"), s3, environment("rds"))
    assert again.backup_objects_copied == 0
    assert s3.calls["copy_object"] == 0
    assert store.get_launch(launch.launch_id).rollback_point == stored.rollback_point


def test_the_site_versions_are_a_manifest_beside_the_launch_and_the_record_keeps_its_place_count_and_digest(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = environment("s3")
    point = _with_rollback_point(store, launch, profile, environment).rollback_point
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
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = environment("s3")
    stored = _with_rollback_point(store, launch, profile, environment)
    manifest = stored.rollback_point.site_manifest  # type: ignore[union-attr]
    assert manifest is not None
    bucket, _, key = manifest.location.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"bucket": "x", "versions": {}}).encode())
    with pytest.raises(RollbackPointFailed, match="not the one recorded"):
        rollback_point.record_rollback_point(store, stored, profile, environment("ecs"), s3, environment("rds"))
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
    environment: Any, store: Any, launch: Launch, profile: Any, run_stage: Any
) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    store.record_result(
        launch.launch_id,
        Stage.ROLLBACK_POINT,
        rollback_point.record_rollback_point(
            store, stored, profile, environment("ecs"), environment("s3"), environment("rds")
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


# -- frontend -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("index.html", NO_CACHE),
        ("docs/guide.html", NO_CACHE),
        ("service-worker.js", NO_CACHE),
        ("assets/app.3f9a2c1b.js", IMMUTABLE),
        ("assets/chunk-5d2e8f01ab.css", IMMUTABLE),
        ("favicon.ico", SHORT),
        ("assets/logo.svg", SHORT),
    ],
)
def test_cache_control_keeps_hashed_assets_forever_and_entry_documents_fresh(key: str, expected: str) -> None:
    assert cache_control(key) == expected


def test_frontend_syncs_the_build_with_types_and_caching_deletes_leftovers_and_invalidates(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = environment("s3")
    site = profile.frontend.site_bucket
    s3.put_object(Bucket=site, Key="old-page.html", Body=b"gone in 1.1.0")
    stored = _with_rollback_point(store, launch, profile, environment)
    result = frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"))
    build = site_build("1.1.0")
    assert {item["Key"] for item in s3.list_objects_v2(Bucket=site)["Contents"]} == set(build)
    old_assets = set(site_build(FIRST_VERSION)) - set(build)
    assert result.deleted == len(old_assets | {"old-page.html"})
    for key, body in build.items():
        served = s3.get_object(Bucket=site, Key=key)
        assert served["Body"].read() == body
        assert served["ContentType"] == content_type(key)
        assert served["CacheControl"] == cache_control(key)
    invalidation = environment("cloudfront").get_invalidation(
        DistributionId=profile.frontend.distribution_id, Id=result.invalidation_id
    )["Invalidation"]
    assert invalidation["Status"] == "Completed"
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    assert store.get_launch(launch.launch_id).changes == [Change.FRONTEND]
    # The keys it changed are a manifest beside the launch; the timeline keeps counts and where.
    event = next(e for e in store.launch_history(launch.launch_id)[3] if e.kind == "frontend_deployed")
    assert (event.details["uploaded"], event.details["deleted"]) == (result.uploaded, result.deleted)
    manifest = read_manifest(s3, Manifest.model_validate(event.details["manifest"]))
    assert sorted(manifest["deleted"]) == sorted(old_assets | {"old-page.html"})
    assert len(manifest["uploaded"]) == result.uploaded
    assert result.manifest == event.details["manifest"]["location"]


def test_a_retried_frontend_uploads_nothing_twice_and_reuses_its_invalidation(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    first = frontend.deploy_frontend(store, stored, profile, environment("s3"), environment("cloudfront"))
    s3 = Recording(environment("s3"))
    again = frontend.deploy_frontend(store, store.get_launch(launch.launch_id), profile, s3, environment("cloudfront"))
    assert s3.calls["copy_object"] == 0
    assert again.uploaded == 0
    assert again.unchanged == first.uploaded
    assert again.invalidation_id == first.invalidation_id


def test_every_asset_is_uploaded_before_any_entry_document_though_copies_run_at_once(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    s3 = Recording(environment("s3"))
    frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"))
    entry = [(start, end) for key, start, end in s3.copies if cache_control(key) == NO_CACHE]
    assets = [(start, end) for key, start, end in s3.copies if cache_control(key) != NO_CACHE]
    assert entry
    assert assets
    assert max(end for _, end in assets) <= min(start for start, _ in entry)


def test_objects_s3_would_not_delete_fail_the_frontend_naming_each(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    """DeleteObjects answers 200 with a refusal per key (AccessDenied on a key the role may not delete):
    the release would otherwise be recorded as deployed with the old files still served."""
    s3 = environment("s3")
    s3.put_object(Bucket=profile.frontend.site_bucket, Key="old-page.html", Body=b"gone in 1.1.0")
    stored = _with_rollback_point(store, launch, profile, environment)

    def refusing(**request: Any) -> dict[str, Any]:
        return {"Errors": [{"Key": item["Key"], "Code": "AccessDenied"} for item in request["Delete"]["Objects"]]}

    s3.delete_objects = refusing
    with pytest.raises(FrontendDeployFailed, match=r"old-page\.html \(AccessDenied\)"):
        frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"))


def test_frontend_refuses_an_empty_artifact(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    empty = launch.model_copy(
        update={"request": launch.request.model_copy(update={"frontend_artifact": "s3://acme-artifacts-local/none/"})}
    )
    with pytest.raises(FrontendDeployFailed, match="holds no objects"):
        frontend.deploy_frontend(store, empty, profile, environment("s3"), environment("cloudfront"))
    assert store.get_launch(launch.launch_id).changes == []


# -- backend --------------------------------------------------------------------------------------


def test_a_task_definition_running_as_a_role_the_profile_does_not_list_is_not_registered(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    """Registering a copy passes the definition's roles to ECS; the controller may pass only the profile's
    backend.task_roles (its policy's iam:PassRole), so any other role stops the launch before any change."""
    listed = profile.model_copy(
        update={"backend": profile.backend.model_copy(update={"task_roles": profile.backend.task_roles[:1]})}
    )
    ecs = environment("ecs")
    service = ecs.describe_services(cluster=profile.backend.cluster, services=[profile.backend.service])["services"][0]
    before = ecs.list_task_definitions()["taskDefinitionArns"]
    with pytest.raises(BackendRolloutFailed, match=r"executionRoleArn .*acme-local-ecs-execution.*backend\.task_roles"):
        backend.register_release(
            ecs, launch, service["taskDefinition"], profile.backend.container, listed.backend.task_roles
        )
    assert ecs.list_task_definitions()["taskDefinitionArns"] == before
    backend.register_release(
        ecs, launch, service["taskDefinition"], profile.backend.container, profile.backend.task_roles
    )


def test_release_task_definition_swaps_only_the_named_container_image() -> None:
    current = {
        "family": "api",
        "containerDefinitions": [{"name": "api", "image": "api:1"}, {"name": "sidecar", "image": "envoy:1"}],
        "cpu": "256",
        "status": "ACTIVE",
        "revision": 4,
    }
    request = backend.release_task_definition(current, "api", "api:2")
    assert request["containerDefinitions"] == [
        {"name": "api", "image": "api:2"},
        {"name": "sidecar", "image": "envoy:1"},
    ]
    assert "revision" not in request
    assert "status" not in request
    assert current["containerDefinitions"][0]["image"] == "api:1"


def test_release_task_definition_names_a_missing_container() -> None:
    with pytest.raises(BackendRolloutFailed, match="no container 'web'"):
        backend.release_task_definition({"family": "api", "containerDefinitions": [{"name": "api"}]}, "web", "x:1")


def test_backend_registers_a_revision_and_rolls_the_service(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    plain = without_migration(profile)
    stored = _with_rollback_point(store, launch, plain, environment)
    result = backend.deploy_backend(store, stored, plain, environment("ecs"))
    assert result.phase == "rolling"
    assert _service(environment, plain)["taskDefinition"] == result.task_definition_arn
    definition = environment("ecs").describe_task_definition(
        taskDefinition=result.task_definition_arn, include=["TAGS"]
    )
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == launch.request.backend_image
    assert {"key": "launch-id", "value": launch.launch_id} in definition["tags"]
    assert store.get_launch(launch.launch_id).changes == [Change.BACKEND]


def test_a_backend_step_killed_after_rolling_neither_registers_nor_rolls_again(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    plain = without_migration(profile)
    stored = _with_rollback_point(store, launch, plain, environment)
    first = backend.deploy_backend(store, stored, plain, environment("ecs"))  # its result never recorded
    ecs = Recording(environment("ecs"))
    again = backend.deploy_backend(store, store.get_launch(launch.launch_id), plain, ecs)
    assert again.task_definition_arn == first.task_definition_arn
    assert ecs.calls["register_task_definition"] == 0
    assert ecs.calls["update_service"] == 0
    revisions = environment("ecs").list_task_definitions(familyPrefix=plain.backend.service)["taskDefinitionArns"]
    assert len(revisions) == 2


def test_a_finished_backend_step_returns_its_result(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    plain = without_migration(profile)
    stored = _with_rollback_point(store, launch, plain, environment)
    first = backend.deploy_backend(store, stored, plain, environment("ecs"))
    store.record_result(launch.launch_id, Stage.BACKEND, first)
    ecs = Recording(environment("ecs"))
    assert backend.deploy_backend(store, store.get_launch(launch.launch_id), plain, ecs) == first
    assert sum(ecs.calls.values()) == 0


def _deployment(**fields: Any) -> dict[str, Any]:
    base = {"status": "PRIMARY", "taskDefinition": "td:2", "rolloutState": "COMPLETED", "runningCount": 2}
    return base | {"desiredCount": 2} | fields


@pytest.mark.parametrize(
    ("deployments", "expected"),
    [
        ([_deployment()], "steady"),
        ([_deployment(), _deployment(status="ACTIVE", taskDefinition="td:1")], "in_progress"),
        ([_deployment(rolloutState="IN_PROGRESS", runningCount=1)], "in_progress"),
        ([_deployment(taskDefinition="td:1")], "in_progress"),
        ([_deployment(rolloutState="FAILED")], "failed"),
    ],
)
def test_rollout_state_is_steady_only_when_drained_and_complete(
    deployments: list[dict[str, Any]], expected: str
) -> None:
    assert service.rollout_state({"deployments": deployments}, "td:2")[0] == expected


def test_a_forced_deployment_counts_only_once_it_started_after_the_launch_rolled() -> None:
    rolled = datetime.now(UTC)
    old = _deployment(createdAt=rolled - timedelta(minutes=5))
    assert service.rollout_state({"deployments": [old]}, "td:2", rolled)[0] == "in_progress"
    new = _deployment(createdAt=rolled + timedelta(seconds=1))
    assert service.rollout_state({"deployments": [new]}, "td:2", rolled)[0] == "steady"


def test_a_rollout_not_steady_at_its_deadline_fails(
    environment: Any, store: Any, launch: Launch, profile: Any, run_stage: Any, monkeypatch: Any
) -> None:
    plain = without_migration(profile)
    monkeypatch.setattr("chalicelib.stages.harness.profile_of", lambda _: plain)
    stored = _with_rollback_point(store, launch, plain, environment)
    deployed = backend.deploy_backend(store, stored, plain, environment("ecs"))
    store.record_result(launch.launch_id, Stage.BACKEND, deployed)
    with pytest.raises(BackendRolloutFailed, match="not done by its deadline"):
        run_stage("wait_for_rollout", launch.launch_id, wait="rollout")


def test_a_rollout_seen_steady_at_its_deadline_goes_on(
    environment: Any, store: Any, launch: Launch, profile: Any, run_stage: Any, monkeypatch: Any
) -> None:
    plain = without_migration(profile)
    monkeypatch.setattr("chalicelib.stages.harness.profile_of", lambda _: plain)
    stored = _with_rollback_point(store, launch, plain, environment)
    store.record_result(
        launch.launch_id, Stage.BACKEND, backend.deploy_backend(store, stored, plain, environment("ecs"))
    )
    ecs_settles()
    ecs_settles()
    answered = run_stage("wait_for_rollout", launch.launch_id, wait="rollout")
    assert answered["rollout"] == "steady"
    assert "no event came" in store.timeline(launch.launch_id)[-1].message


def test_force_new_deployment_redeploys_the_current_revision(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    forced = forcing(profile)
    same_image = launch.model_copy(
        update={"request": launch.request.model_copy(update={"backend_image": backend_image(FIRST_VERSION)})}
    )
    stored = _with_rollback_point(store, same_image, forced, environment)
    stored = stored.model_copy(update={"request": same_image.request})
    ecs = Recording(environment("ecs"))
    result = backend.deploy_backend(store, stored, forced, ecs)
    assert result.task_definition_arn == stored.rollback_point.task_definition_arn  # type: ignore[union-attr]
    assert ecs.calls["register_task_definition"] == 0
    assert ecs.calls["update_service"] == 1


def test_force_new_deployment_refuses_a_release_image_the_revision_does_not_run(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    forced = forcing(profile)
    stored = _with_rollback_point(store, launch, forced, environment)
    with pytest.raises(BackendRolloutFailed, match="is not the release's"):
        backend.deploy_backend(store, stored, forced, environment("ecs"))


# -- migrations -----------------------------------------------------------------------------------


def _migrating(store: Any, launch: Launch, profile: Any, aws: Any) -> Launch:
    stored = _with_rollback_point(store, launch, profile, aws)
    store.record_result(launch.launch_id, Stage.BACKEND, backend.deploy_backend(store, stored, profile, aws("ecs")))
    return store.get_launch(launch.launch_id)


def test_migrations_run_as_an_ecs_task_with_the_release_image_before_the_service_rolls(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    before = _service(environment, profile)["taskDefinition"]
    migrating = _migrating(store, launch, profile, environment)
    state = migrating.results.backend
    assert state.phase == "migrating"
    task = environment("ecs").describe_tasks(cluster=profile.backend.cluster, tasks=[state.migration_task_arn])
    task = task["tasks"][0]
    assert task["startedBy"] == f"launch/{launch.launch_id}"
    definition = environment("ecs").describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == launch.request.backend_image
    assert migrating.changes == [Change.DATABASE]
    # Still running: the wait goes on and the service has not moved.
    still = backend.migration_sighting(migrating, profile, environment("ecs"))
    assert (still.outcome.verdict, still.resources) == ("pending", [state.migration_task_arn])
    assert _service(environment, profile)["taskDefinition"] == before
    ecs_settles()
    done = backend.migration_sighting(migrating, profile, environment("ecs"))
    assert done.outcome.verdict == "done"
    store.record_result(launch.launch_id, Stage.BACKEND, done.outcome.progress)
    rolling = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, environment("ecs"))
    assert (rolling.phase, rolling.migration_task_arn) == ("rolling", state.migration_task_arn)
    assert _service(environment, profile)["taskDefinition"] == rolling.task_definition_arn


def test_a_migration_that_exits_non_zero_fails_the_launch(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    scheduler = EcsScheduler(REGION, settle_seconds=0)
    scheduler.failing_tasks.add(launch.request.backend_image)
    migrating = _migrating(store, launch, profile, environment)
    scheduler.settle()
    seen = backend.migration_sighting(migrating, profile, environment("ecs"))
    assert seen.outcome.verdict == "failed"
    assert "exited 1" in seen.outcome.reason


def test_a_migration_step_killed_after_starting_the_task_does_not_start_another(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    first = backend.deploy_backend(store, stored, profile, environment("ecs"))  # its result never recorded
    ecs = Recording(environment("ecs"))
    again = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, ecs)
    assert again.migration_task_arn == first.migration_task_arn
    assert ecs.calls["run_task"] == 0
    assert ecs.calls["register_task_definition"] == 0


def test_a_migration_still_running_at_its_deadline_is_stopped_and_fails(
    environment: Any, store: Any, launch: Launch, profile: Any, run_stage: Any
) -> None:
    migrating = _migrating(store, launch, profile, environment)
    with pytest.raises(MigrationFailed, match="not done by its deadline"):
        run_stage("wait_for_migration", launch.launch_id, wait="migration")
    task_arn = migrating.results.backend.migration_task_arn  # type: ignore[union-attr]
    task = environment("ecs").describe_tasks(cluster=profile.backend.cluster, tasks=[task_arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"


def test_a_tagged_object_keeps_its_tags_on_the_site_and_back_from_the_rollback_point(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    """A copy keeps its source's tags (S3's default, which needs the tagging rights the environment's role now
    has): the release's tags reach the site, and the backup of the site keeps the site's."""
    s3 = environment("s3")
    site = profile.frontend.site_bucket
    s3.put_object_tagging(
        Bucket=site, Key="index.html", Tagging={"TagSet": [{"Key": "classification", "Value": "public"}]}
    )
    bucket, _, prefix = launch.request.frontend_artifact.removeprefix("s3://").partition("/")
    s3.put_object_tagging(
        Bucket=bucket,
        Key=f"{prefix.rstrip('/')}/index.html",
        Tagging={"TagSet": [{"Key": "release", "Value": launch.request.version}]},
    )
    stored = _with_rollback_point(store, launch, profile, environment)
    frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"))
    tags = s3.get_object_tagging(Bucket=site, Key="index.html")["TagSet"]
    assert tags == [{"Key": "release", "Value": launch.request.version}]
    backups = s3.list_objects_v2(Bucket=profile.frontend.backup_bucket, Prefix="pre-launch/")["Contents"]
    backup = next(item["Key"] for item in backups if item["Key"].endswith("/index.html"))
    kept = s3.get_object_tagging(Bucket=profile.frontend.backup_bucket, Key=backup)["TagSet"]
    assert kept == [{"Key": "classification", "Value": "public"}]
