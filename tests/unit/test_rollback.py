"""Rollback undoes only what the launch changed, against moto-emulated infrastructure."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import RollbackIncomplete
from chalicelib.models import Launch, Stage
from chalicelib.stages import backend, frontend, rollback, rollback_point
from launchctl.infrastructure import FIRST_VERSION, site_build


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


@pytest.fixture
def deployed(environment: Any, store: Any, launch: Launch, profile: Any) -> Launch:
    """A launch that recorded its rollback point and changed both frontend and backend."""
    rollback_point.record_rollback_point(
        store, launch, profile, environment("ecs"), environment("s3"), environment("rds")
    )
    frontend.deploy_frontend(
        store, store.get_launch(launch.launch_id), profile, environment("s3"), environment("cloudfront")
    )
    result = backend.deploy_backend(store, store.get_launch(launch.launch_id), profile, environment("ecs"))
    store.record_result(launch.launch_id, Stage.BACKEND, result)
    return store.get_launch(launch.launch_id)


def test_rollback_restores_the_site_and_the_service(
    environment: Any, store: Any, deployed: Launch, profile: Any
) -> None:
    assert deployed.rollback_point is not None
    rollback.roll_back(store, deployed, profile, environment("ecs"), environment("s3"), environment("cloudfront"))
    assert _site(environment, profile) == site_build(FIRST_VERSION)
    assert _service_definition(environment, profile) == deployed.rollback_point.task_definition_arn


def test_rollback_leaves_alone_what_the_launch_did_not_change(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    rollback_point.record_rollback_point(
        store, launch, profile, environment("ecs"), environment("s3"), environment("rds")
    )
    frontend.deploy_frontend(
        store, store.get_launch(launch.launch_id), profile, environment("s3"), environment("cloudfront")
    )
    environment("ecs").update_service(
        cluster=profile.backend.cluster, service=profile.backend.service, desiredCount=3
    )  # someone else's change, not this launch's
    before = _service_definition(environment, profile)
    result = rollback.roll_back(
        store,
        store.get_launch(launch.launch_id),
        profile,
        environment("ecs"),
        environment("s3"),
        environment("cloudfront"),
    )
    assert set(result["undone"]) == {"frontend"}
    assert _service_definition(environment, profile) == before


def test_a_launch_that_changed_nothing_rolls_back_nothing(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    result = rollback.roll_back(
        store, launch, profile, environment("ecs"), environment("s3"), environment("cloudfront")
    )
    assert result == {"undone": {}}
    assert store.timeline(launch.launch_id)[-1].message == "nothing had been changed"


def test_a_failing_part_is_named_and_the_other_parts_still_undone(
    environment: Any, store: Any, deployed: Launch, profile: Any
) -> None:
    class BrokenEcs:
        def update_service(self, **_: Any) -> None:
            raise RuntimeError("ECS is down")

    with pytest.raises(RollbackIncomplete, match="backend: RuntimeError: ECS is down"):
        rollback.roll_back(store, deployed, profile, BrokenEcs(), environment("s3"), environment("cloudfront"))
    assert _site(environment, profile) == site_build(FIRST_VERSION)
