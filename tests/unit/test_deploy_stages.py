"""Rollback point, frontend and backend stages against moto-emulated infrastructure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.errors import BackendRolloutFailed
from chalicelib.models import Change, Launch, Stage
from chalicelib.stages import backend, frontend, rollback_point
from chalicelib.store import now
from launchctl.infrastructure import FIRST_VERSION, site_build


def _service(aws: Any, profile: Any) -> dict[str, Any]:
    target = profile.backend
    return aws("ecs").describe_services(cluster=target.cluster, services=[target.service])["services"][0]


def _with_rollback_point(store: Any, launch: Launch, profile: Any, aws: Any) -> Launch:
    rollback_point.record_rollback_point(store, launch, profile, aws("ecs"), aws("s3"), aws("rds"))
    return store.get_launch(launch.launch_id)


def test_rollback_point_records_task_definition_versions_and_snapshot(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    point = stored.rollback_point
    assert point is not None
    assert point.task_definition_arn == _service(environment, profile)["taskDefinition"]
    assert set(point.site_versions) == set(site_build(FIRST_VERSION))
    snapshots = environment("rds").describe_db_snapshots(DBSnapshotIdentifier=point.db_snapshot_id)["DBSnapshots"]
    assert snapshots[0]["DBInstanceIdentifier"] == profile.database.instance_id


def test_a_retried_rollback_point_reuses_the_first(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    again = rollback_point.record_rollback_point(
        store, stored, profile, environment("ecs"), environment("s3"), environment("rds")
    )
    assert again["reused"]


def test_frontend_copies_the_build_with_content_types_and_invalidates(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    result = frontend.deploy_frontend(store, launch, profile, environment("s3"), environment("cloudfront"))
    s3 = environment("s3")
    page = s3.get_object(Bucket=profile.frontend.site_bucket, Key="index.html")
    assert b"Acme 1.1.0" in page["Body"].read()
    assert page["ContentType"] == "text/html"
    invalidation = environment("cloudfront").get_invalidation(
        DistributionId=profile.frontend.distribution_id, Id=result["invalidation_id"]
    )["Invalidation"]
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    assert store.get_launch(launch.launch_id).changes == [Change.FRONTEND]


def test_frontend_refuses_an_empty_artifact(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    empty = launch.model_copy(
        update={"request": launch.request.model_copy(update={"frontend_artifact": "s3://acme-artifacts-local/none/"})}
    )
    with pytest.raises(ValueError, match="holds no objects"):
        frontend.deploy_frontend(store, empty, profile, environment("s3"), environment("cloudfront"))
    assert store.get_launch(launch.launch_id).changes == []


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
    stored = _with_rollback_point(store, launch, profile, environment)
    result = backend.deploy_backend(store, stored, profile, environment("ecs"))
    assert _service(environment, profile)["taskDefinition"] == result["task_definition_arn"]
    definition = environment("ecs").describe_task_definition(taskDefinition=result["task_definition_arn"])
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == launch.request.backend_image
    assert store.get_launch(launch.launch_id).changes == [Change.BACKEND]


def test_a_retried_backend_step_does_not_register_twice(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    first = backend.deploy_backend(store, stored, profile, environment("ecs"))
    store.record_result(launch.launch_id, Stage.BACKEND, first)
    again = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, environment("ecs"))
    assert again["task_definition_arn"] == first["task_definition_arn"]
    revisions = environment("ecs").list_task_definitions(familyPrefix=profile.backend.service)["taskDefinitionArns"]
    assert len(revisions) == 2


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
    assert backend.rollout_state({"deployments": deployments}, "td:2")[0] == expected


def test_a_rollout_past_its_deadline_fails(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    stored = _with_rollback_point(store, launch, profile, environment)
    store.record_result(
        launch.launch_id, Stage.BACKEND, backend.deploy_backend(store, stored, profile, environment("ecs"))
    )
    late = now() + timedelta(seconds=profile.backend.deadline_seconds + 1)
    with pytest.raises(BackendRolloutFailed, match="not steady after"):
        backend.check_backend(store, store.get_launch(launch.launch_id), profile, environment("ecs"), moment=late)
