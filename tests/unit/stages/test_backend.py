"""The backend stage against moto: the release's revision registered and the service rolled (or the current
one redeployed), the rollout judged at its deadline, and migrations run as an ECS task first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from localaws.ecs_scheduler import EcsScheduler
from localaws.infrastructure import ACCOUNT_ID, FIRST_VERSION, REGION, backend_image

from chalicelib.domain.errors import BackendRolloutFailed, MigrationFailed
from chalicelib.domain.models import Change, Launch, Stage
from chalicelib.stages import backend, service
from chalicelib.stages.preflight import resolve_artifacts
from tests.unit.stages.deploying import (
    Recording,
    ecs_settles,
    forcing,
    move_tag,
    service_of,
    tag_digest,
    with_rollback_point,
    without_migration,
)


def test_a_task_definition_running_as_a_role_the_profile_does_not_list_is_not_registered(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    """Registering a copy passes the definition's roles to ECS; the controller may pass only the profile's
    backend.task_roles (its policy's iam:PassRole), so any other role stops the launch before any change."""
    listed = profile.model_copy(
        update={"backend": profile.backend.model_copy(update={"task_roles": profile.backend.task_roles[:1]})}
    )
    ecs = application("ecs")
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


def test_backend_registers_a_revision_and_rolls_theservice_of(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    plain = without_migration(profile)
    stored = with_rollback_point(store, launch, plain, application)
    result = backend.deploy_backend(store, stored, plain, application("ecs"))
    assert result.phase == "rolling"
    assert service_of(application, plain)["taskDefinition"] == result.task_definition_arn
    definition = application("ecs").describe_task_definition(
        taskDefinition=result.task_definition_arn, include=["TAGS"]
    )
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == launch.request.backend_image
    assert {"key": "launch-id", "value": launch.launch_id} in definition["tags"]
    assert store.get_launch(launch.launch_id).changes == [Change.BACKEND]


def test_a_backend_step_killed_after_rolling_neither_registers_nor_rolls_again(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    plain = without_migration(profile)
    stored = with_rollback_point(store, launch, plain, application)
    first = backend.deploy_backend(store, stored, plain, application("ecs"))  # its result never recorded
    ecs = Recording(application("ecs"))
    again = backend.deploy_backend(store, store.get_launch(launch.launch_id), plain, ecs)
    assert again.task_definition_arn == first.task_definition_arn
    assert ecs.calls["register_task_definition"] == 0
    assert ecs.calls["update_service"] == 0
    revisions = application("ecs").list_task_definitions(familyPrefix=plain.backend.service)["taskDefinitionArns"]
    assert len(revisions) == 2


def test_a_finished_backend_step_returns_its_result(application: Any, store: Any, launch: Launch, profile: Any) -> None:
    plain = without_migration(profile)
    stored = with_rollback_point(store, launch, plain, application)
    first = backend.deploy_backend(store, stored, plain, application("ecs"))
    store.record_result(launch.launch_id, Stage.BACKEND, first)
    ecs = Recording(application("ecs"))
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
    application: Any, store: Any, launch: Launch, profile: Any, run_stage: Any, monkeypatch: Any
) -> None:
    plain = without_migration(profile)
    monkeypatch.setattr("chalicelib.stages.harness.profile_of", lambda _: plain)
    stored = with_rollback_point(store, launch, plain, application)
    deployed = backend.deploy_backend(store, stored, plain, application("ecs"))
    store.record_result(launch.launch_id, Stage.BACKEND, deployed)
    with pytest.raises(BackendRolloutFailed, match="not done by its deadline"):
        run_stage("wait_for_rollout", launch.launch_id, wait="rollout")


def test_a_rollout_seen_steady_at_its_deadline_goes_on(
    application: Any, store: Any, launch: Launch, profile: Any, run_stage: Any, monkeypatch: Any
) -> None:
    plain = without_migration(profile)
    monkeypatch.setattr("chalicelib.stages.harness.profile_of", lambda _: plain)
    stored = with_rollback_point(store, launch, plain, application)
    store.record_result(
        launch.launch_id, Stage.BACKEND, backend.deploy_backend(store, stored, plain, application("ecs"))
    )
    ecs_settles()
    ecs_settles()
    answered = run_stage("wait_for_rollout", launch.launch_id, wait="rollout")
    assert answered["rollout"] == "steady"
    assert "no event came" in store.timeline(launch.launch_id)[-1].message


def test_force_new_deployment_redeploys_the_current_revision(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    forced = forcing(profile)
    same_image = launch.model_copy(
        update={
            "request": launch.request.model_copy(update={"backend_image": backend_image(FIRST_VERSION, ACCOUNT_ID)})
        }
    )
    stored = with_rollback_point(store, same_image, forced, application)
    stored = stored.model_copy(update={"request": same_image.request})
    ecs = Recording(application("ecs"))
    result = backend.deploy_backend(store, stored, forced, ecs)
    assert result.task_definition_arn == stored.rollback_point.task_definition_arn  # type: ignore[union-attr]
    assert ecs.calls["register_task_definition"] == 0
    assert ecs.calls["update_service"] == 1


def test_force_new_deployment_refuses_a_release_image_the_revision_does_not_run(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    forced = forcing(profile)
    stored = with_rollback_point(store, launch, forced, application)
    with pytest.raises(BackendRolloutFailed, match="is not the release's"):
        backend.deploy_backend(store, stored, forced, application("ecs"))


def test_a_forced_deployment_is_refused_once_the_tag_moved_from_the_digest_signed_off(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    forced = forcing(profile)
    running_tag = launch.request.model_copy(update={"backend_image": backend_image(FIRST_VERSION, ACCOUNT_ID)})
    stored = launch.model_copy(update={"request": running_tag})
    store.record_artifacts(launch.launch_id, resolve_artifacts(stored, application, datetime.now(UTC)))
    signed_off = tag_digest(application, FIRST_VERSION)
    moved = move_tag(application, FIRST_VERSION, "sha256:" + "d" * 64)  # after preflight, before the rollout
    stored = with_rollback_point(store, stored, forced, application).model_copy(update={"request": running_tag})
    ecs = Recording(application("ecs"))
    with pytest.raises(BackendRolloutFailed, match="a forced deployment would run the moved tag") as refused:
        backend.deploy_backend(store, stored, forced, ecs, ecr=application("ecr"))
    assert signed_off in str(refused.value)
    assert moved in str(refused.value)
    assert ecs.calls["update_service"] == 0
    assert store.get_launch(launch.launch_id).changes == []


# -- migrations -----------------------------------------------------------------------------------


def _migrating(store: Any, launch: Launch, profile: Any, aws: Any) -> Launch:
    stored = with_rollback_point(store, launch, profile, aws)
    store.record_result(launch.launch_id, Stage.BACKEND, backend.deploy_backend(store, stored, profile, aws("ecs")))
    return store.get_launch(launch.launch_id)


def test_migrations_run_as_an_ecs_task_with_the_release_image_before_the_service_rolls(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    before = service_of(application, profile)["taskDefinition"]
    migrating = _migrating(store, launch, profile, application)
    state = migrating.results.backend
    assert state.phase == "migrating"
    task = application("ecs").describe_tasks(cluster=profile.backend.cluster, tasks=[state.migration_task_arn])
    task = task["tasks"][0]
    assert task["startedBy"] == f"launch/{launch.launch_id}"
    definition = application("ecs").describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == launch.request.backend_image
    assert migrating.changes == [Change.DATABASE]
    # Still running: the wait goes on and the service has not moved.
    still = backend.migration_sighting(migrating, profile, application("ecs"))
    assert (still.outcome.verdict, still.resources) == ("pending", [state.migration_task_arn])
    assert service_of(application, profile)["taskDefinition"] == before
    ecs_settles()
    done = backend.migration_sighting(migrating, profile, application("ecs"))
    assert done.outcome.verdict == "done"
    store.record_result(launch.launch_id, Stage.BACKEND, done.outcome.progress)
    rolling = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, application("ecs"))
    assert (rolling.phase, rolling.migration_task_arn) == ("rolling", state.migration_task_arn)
    assert service_of(application, profile)["taskDefinition"] == rolling.task_definition_arn


def test_a_migration_that_exits_non_zero_fails_the_launch(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    scheduler = EcsScheduler(REGION, settle_seconds=0)
    scheduler.failing_tasks.add(launch.request.backend_image)
    migrating = _migrating(store, launch, profile, application)
    scheduler.settle()
    seen = backend.migration_sighting(migrating, profile, application("ecs"))
    assert seen.outcome.verdict == "failed"
    assert "exited 1" in seen.outcome.reason


def test_a_migration_step_killed_after_starting_the_task_does_not_start_another(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = with_rollback_point(store, launch, profile, application)
    first = backend.deploy_backend(store, stored, profile, application("ecs"))  # its result never recorded
    ecs = Recording(application("ecs"))
    again = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, ecs)
    assert again.migration_task_arn == first.migration_task_arn
    assert ecs.calls["run_task"] == 0
    assert ecs.calls["register_task_definition"] == 0


def test_a_migration_still_running_at_its_deadline_is_stopped_and_fails(
    application: Any, store: Any, launch: Launch, profile: Any, run_stage: Any
) -> None:
    migrating = _migrating(store, launch, profile, application)
    with pytest.raises(MigrationFailed, match="not done by its deadline"):
        run_stage("wait_for_migration", launch.launch_id, wait="migration")
    task_arn = migrating.results.backend.migration_task_arn  # type: ignore[union-attr]
    task = application("ecs").describe_tasks(cluster=profile.backend.cluster, tasks=[task_arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"
