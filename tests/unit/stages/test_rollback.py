"""Rollback undoes only what the launch changed, and waits until it has settled, against moto."""

from __future__ import annotations

from typing import Any

import pytest
from localaws.ecs_scheduler import EcsScheduler
from localaws.infrastructure import (
    ACCOUNT_ID,
    DATABASE_OPTIONS,
    DATABASE_PARAMETERS,
    FIRST_VERSION,
    REGION,
    backend_image,
    site_build,
)

from chalicelib.domain.errors import RollbackIncomplete
from chalicelib.domain.models import Change, Launch, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.stages import backend, frontend, rollback, rollback_point
from tests.unit.stages.deploying import Recording, ecs_settles, forcing, move_tag, tag_digest, with_rollback_point


def _site(aws: Any, profile: Any) -> dict[str, bytes]:
    s3 = aws("s3")
    bucket = profile.frontend.site_bucket
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def _service_definition(aws: Any, profile: Any) -> str:
    target = profile.backend
    return aws("ecs").describe_services(cluster=target.cluster, services=[target.service])["services"][0][
        "taskDefinition"
    ]


def _roll_back(store: Any, launch_id: str, profile: EnvironmentProfile, aws: Any, **clients: Any) -> Any:
    """One rollback step as the state machine runs it, recording its result like the stage runner."""
    use = {name: clients.get(name, aws(name)) for name in ("ecs", "s3", "cloudfront", "rds")}
    result = rollback.roll_back(
        store, store.get_launch(launch_id), profile, use["ecs"], use["s3"], use["cloudfront"], use["rds"]
    )
    store.record_result(launch_id, Stage.ROLLBACK, result)
    return result


def _deploy(store: Any, launch: Launch, profile: EnvironmentProfile, aws: Any) -> Launch:
    """Record the rollback point, publish the site, migrate (when the profile says) and roll the service."""
    rollback_point.record_rollback_point(store, launch, profile, aws("ecs"), aws("s3"), aws("rds"))
    frontend.deploy_frontend(store, store.get_launch(launch.launch_id), profile, aws("s3"), aws("cloudfront"))
    result = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, aws("ecs"))
    store.record_result(launch.launch_id, Stage.BACKEND, result)
    if result.phase == "migrating":
        ecs_settles()
        migrated = backend.migration_sighting(store.get_launch(launch.launch_id), profile, aws("ecs")).outcome
        store.record_result(launch.launch_id, Stage.BACKEND, migrated.progress)
        result = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, aws("ecs"))
        store.record_result(launch.launch_id, Stage.BACKEND, result)
    ecs_settles()  # the rollout completed: the launch waited for it
    return store.get_launch(launch.launch_id)


@pytest.fixture
def deployed(application: Any, store: Any, launch: Launch, profile: Any) -> Launch:
    """A launch that changed the frontend, migrated the database and rolled the backend."""
    return _deploy(store, launch, profile, application)


def test_rollback_restores_site_and_service_waits_until_steady_and_restores_the_database_beside_it(
    application: Any, store: Any, deployed: Launch, profile: Any
) -> None:
    assert deployed.rollback_point is not None
    assert set(deployed.changes) == {Change.FRONTEND, Change.DATABASE, Change.BACKEND}
    first = _roll_back(store, deployed.launch_id, profile, application)
    assert first.settled is False  # the previous revision is deploying: the launch waits for its event
    assert _service_definition(application, profile) == deployed.rollback_point.task_definition_arn
    waiting = rollback.restore_sighting(store.get_launch(deployed.launch_id), profile, application("ecs"))
    assert waiting.outcome.verdict == "pending"
    ecs_settles()
    restored_service = rollback.restore_sighting(store.get_launch(deployed.launch_id), profile, application("ecs"))
    assert restored_service.outcome.verdict == "done"
    assert restored_service.outcome.progress.settled is True  # type: ignore[union-attr]
    rds = Recording(application("rds"))
    again = _roll_back(store, deployed.launch_id, profile, application, rds=rds)  # a retried step
    assert again.settled is True
    assert rds.calls["restore_db_instance_from_db_snapshot"] == 0  # done in the first step
    assert _site(application, profile) == site_build(FIRST_VERSION)
    restored = rollback.restored_instance_id(profile.database.instance_id, deployed.launch_id)
    instances = {db["DBInstanceIdentifier"]: db for db in application("rds").describe_db_instances()["DBInstances"]}
    assert set(instances) == {profile.database.instance_id, restored}
    # The original's parameter and option groups, not the engine's defaults RDS would give it otherwise.
    groups = {
        name: (
            [group["DBParameterGroupName"] for group in db["DBParameterGroups"]],
            [group["OptionGroupName"] for group in db["OptionGroupMemberships"]],
        )
        for name, db in instances.items()
    }
    assert groups[restored] == groups[profile.database.instance_id] == ([DATABASE_PARAMETERS], [DATABASE_OPTIONS])
    events = [event.message for event in store.timeline(deployed.launch_id) if event.kind == "rolled_back"]
    assert len(events) == 3
    assert any(f"switch the application to {restored}" in message for message in events)


class FailingAfter:
    """S3 whose copies fail once `allowed` have gone through: a step that dies half-way through its copies."""

    def __init__(self, client: Any, allowed: int) -> None:
        self._client = client
        self.allowed = allowed

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != "copy_object":
            return attribute

        def copy(**kwargs: Any) -> Any:
            if self.allowed <= 0:
                raise RuntimeError("the step died here")
            self.allowed -= 1
            return attribute(**kwargs)

        return copy


def test_a_retried_frontend_restore_copies_nothing_it_already_restored(
    application: Any, store: Any, deployed: Launch, profile: Any
) -> None:
    assert deployed.rollback_point is not None
    s3 = application("s3")
    cloudfront = application("cloudfront")
    with pytest.raises(RuntimeError, match="died here"):
        rollback.restore_frontend(deployed, deployed.rollback_point, profile, FailingAfter(s3, 1), cloudfront)
    retried = Recording(s3)
    outcome = rollback.restore_frontend(deployed, deployed.rollback_point, profile, retried, cloudfront)
    first, release = site_build(FIRST_VERSION), site_build("1.1.0")
    to_restore = [key for key, body in first.items() if release.get(key) != body]
    assert len(to_restore) > 1
    # The first attempt restored one object before it died: the retry copies each of the others once.
    assert outcome.restored == retried.calls["copy_object"] == len(to_restore) - 1
    # Which bytes differ is read from the listing's ETags against the manifest's: no read per object.
    assert retried.calls["head_object"] == 0
    assert _site(application, profile) == site_build(FIRST_VERSION)
    again = Recording(s3)
    assert rollback.restore_frontend(deployed, deployed.rollback_point, profile, again, cloudfront).restored == 0
    assert again.calls["copy_object"] == 0


def test_a_rollback_point_recorded_before_manifests_still_restores_the_site(
    application: Any, store: Any, deployed: Launch, profile: Any
) -> None:
    assert deployed.rollback_point is not None
    s3 = application("s3")
    versions = rollback_point.recorded_versions(s3, deployed.rollback_point)
    older = deployed.rollback_point.model_copy(update={"site_manifest": None, "site_versions": versions})
    outcome = rollback.restore_frontend(deployed, older, profile, s3, application("cloudfront"))
    assert outcome.restored > 0
    assert _site(application, profile) == site_build(FIRST_VERSION)


def test_rollback_leaves_alone_what_the_launch_did_not_change(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    rollback_point.record_rollback_point(
        store, launch, profile, application("ecs"), application("s3"), application("rds")
    )
    frontend.deploy_frontend(
        store, store.get_launch(launch.launch_id), profile, application("s3"), application("cloudfront")
    )
    application("ecs").update_service(
        cluster=profile.backend.cluster, service=profile.backend.service, desiredCount=3
    )  # someone else's change, not this launch's
    before = _service_definition(application, profile)
    result = _roll_back(store, launch.launch_id, profile, application)
    assert set(result.undone) == {"frontend"}
    assert result.settled is True
    assert _service_definition(application, profile) == before
    assert len(application("rds").describe_db_instances()["DBInstances"]) == 1


def test_a_launch_that_changed_nothing_rolls_back_nothing(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    result = _roll_back(store, launch.launch_id, profile, application)
    assert result.undone == {}
    assert result.settled is True
    assert store.timeline(launch.launch_id)[-1].message == "nothing had been changed"


def test_a_failing_part_is_named_the_others_still_undone_and_a_retry_resumes(
    application: Any, store: Any, deployed: Launch, profile: Any
) -> None:
    class BrokenEcs:
        def describe_services(self, **_: Any) -> None:
            raise RuntimeError("ECS is down")

    with pytest.raises(RollbackIncomplete, match="backend: RuntimeError: ECS is down") as failed:
        rollback.roll_back(
            store, deployed, profile, BrokenEcs(), application("s3"), application("cloudfront"), application("rds")
        )
    # The failure carries how far it got; the harness keeps it, and a retry resumes from there.
    store.record_result(deployed.launch_id, Stage.ROLLBACK, failed.value.progress)
    assert _site(application, profile) == site_build(FIRST_VERSION)
    # The retry does only what is left.
    s3 = Recording(application("s3"))
    _roll_back(store, deployed.launch_id, profile, application, s3=s3)
    assert s3.calls["copy_object"] == 0
    ecs_settles()
    assert _roll_back(store, deployed.launch_id, profile, application).settled is True


def test_a_rollback_not_steady_by_its_deadline_is_incomplete(
    application: Any, store: Any, deployed: Launch, profile: Any, run_stage: Any
) -> None:
    _roll_back(store, deployed.launch_id, profile, application)  # starts the rollback deployment
    EcsScheduler(REGION, settle_seconds=3600).settle()  # ECS starts it and never finishes
    with pytest.raises(RollbackIncomplete, match="not done by its deadline"):
        run_stage("wait_for_restore", deployed.launch_id, wait="restore")


def test_a_profile_that_keeps_the_migrated_database_restores_no_instance(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    keep = profile.model_copy(update={"database": profile.database.model_copy(update={"restore_on_rollback": False})})
    _deploy(store, launch, keep, application)
    result = _roll_back(store, launch.launch_id, keep, application)
    assert "keeps the migrated database" in result.undone["database"].reason
    assert len(application("rds").describe_db_instances()["DBInstances"]) == 1


def _forced_release_of_the_running_tag(store: Any, launch: Launch, profile: Any, aws: Any) -> tuple[Launch, str]:
    """CI pushed the release under the tag the service runs, and the launch force-deploys that revision: its
    rollback point recorded, the rollout completed. Returns the launch and the digest the service ran before."""
    forced = forcing(profile)
    before = tag_digest(aws, FIRST_VERSION)
    move_tag(aws, FIRST_VERSION, "sha256:" + "c" * 64)
    running_tag = launch.request.model_copy(update={"backend_image": backend_image(FIRST_VERSION, ACCOUNT_ID)})
    stored = with_rollback_point(store, launch, forced, aws).model_copy(update={"request": running_tag})
    store.record_result(launch.launch_id, Stage.BACKEND, backend.deploy_backend(store, stored, forced, aws("ecs")))
    ecs_settles()
    return store.get_launch(launch.launch_id), before


def test_a_forced_deployment_of_a_mutable_tag_rolls_back_to_the_digest_the_service_ran(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    ecs_settles()  # the service's first deployment completed: ECS resolved its tag to a digest
    forced = forcing(profile)
    deployed, before = _forced_release_of_the_running_tag(store, launch, profile, application)
    point = deployed.rollback_point
    assert point is not None
    pinned = backend_image(FIRST_VERSION, ACCOUNT_ID).rsplit(":", 1)[0] + "@" + before
    assert point.running_images == {forced.backend.container: pinned}
    first = _roll_back(store, launch.launch_id, forced, application)
    assert first.settled is False
    back_to = _service_definition(application, profile)
    assert back_to != point.task_definition_arn  # the revision was kept and its tag moved: a pinned copy of it
    definition = application("ecs").describe_task_definition(taskDefinition=back_to, include=["TAGS"])
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == pinned
    assert {"key": "rollback-of", "value": launch.launch_id} in definition["tags"]
    assert pinned in store.timeline(launch.launch_id)[-1].message
    ecs_settles()
    assert rollback.restore_sighting(
        store.get_launch(launch.launch_id), forced, application("ecs")
    ).outcome.verdict == ("done")
    ecs = Recording(application("ecs"))
    assert _roll_back(store, launch.launch_id, forced, application, ecs=ecs).settled is True  # a retried step
    assert ecs.calls["register_task_definition"] == 0


def test_a_forced_deployment_whose_previous_digest_ecs_never_listed_says_what_to_do_by_hand(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    # The service's only deployment never completed: ECS lists no successful one naming what it ran.
    forced = forcing(profile)
    deployed, _ = _forced_release_of_the_running_tag(store, launch, profile, application)
    assert deployed.rollback_point is not None
    assert deployed.rollback_point.running_images == {}
    with pytest.raises(RollbackIncomplete, match="re-tag the previous image"):
        _roll_back(store, launch.launch_id, forced, application)


def test_restored_instance_names_fit_rds_limits() -> None:
    name = rollback.restored_instance_id("a" * 63, "local-20261128-000000-abcdef")
    assert len(name) <= 63
    assert name.startswith("a")
    assert "--" not in name
