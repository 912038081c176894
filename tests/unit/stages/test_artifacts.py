"""What a launch deploys is fixed at preflight: the image by its digest, the build by its content's digest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from localaws.infrastructure import ARTIFACT_BUCKET, ECR_REPOSITORY

from chalicelib.domain.artifacts import build_digest, pinned_image
from chalicelib.domain.errors import FrontendDeployFailed
from chalicelib.domain.models import Launch
from chalicelib.stages import backend
from chalicelib.stages.frontend import deploy_frontend
from chalicelib.stages.preflight import resolve_artifacts
from tests.unit.stages.deploying import move_tag, tag_digest, with_rollback_point, without_migration

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("1.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.2.0", f"1.dkr.ecr.us-east-1.amazonaws.com/acme/api@{DIGEST}"),
        ("registry.acme:5000/api:latest", f"registry.acme:5000/api@{DIGEST}"),
        ("registry.acme:5000/api", f"registry.acme:5000/api@{DIGEST}"),
        ("acme/api@sha256:" + "b" * 64, f"acme/api@{DIGEST}"),
    ],
)
def test_an_image_is_pinned_to_its_digest_whatever_named_it(image: str, pinned: str) -> None:
    assert pinned_image(image, DIGEST) == pinned


def test_a_builds_digest_follows_its_objects_and_their_content_only() -> None:
    build = {"index.html": '"e1"', "assets/app.js": '"e2"'}
    assert build_digest(build) == build_digest(dict(reversed(build.items())))
    assert build_digest(build) == build_digest({key: etag.strip('"') for key, etag in build.items()})
    assert build_digest(build) != build_digest({**build, "index.html": '"e3"'})
    assert build_digest(build) != build_digest({**build, "robots.txt": '"e4"'})


def _resolved(store: Any, launch: Launch, aws: Any) -> Launch:
    store.record_artifacts(launch.launch_id, resolve_artifacts(launch, aws, datetime.now(UTC)))
    return store.get_launch(launch.launch_id)


def test_a_tag_that_moves_after_preflight_does_not_change_what_is_deployed(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    resolved = _resolved(store, launch, application)
    first = tag_digest(application, "1.1.0")
    assert resolved.artifacts is not None
    assert resolved.artifacts.backend_digest == first
    # Someone pushes another image under the release's tag (CI run again, a mutable tag).
    assert move_tag(application, "1.1.0", DIGEST) != first
    # A retried preflight keeps what it resolved first.
    assert _resolved(store, resolved, application).artifacts == resolved.artifacts
    plain = without_migration(profile)
    stored = with_rollback_point(store, resolved, plain, application)
    rolled = backend.deploy_backend(store, stored, plain, application("ecs"))
    definition = application("ecs").describe_task_definition(taskDefinition=rolled.task_definition_arn)
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == pinned_image(
        launch.request.backend_image, first
    )
    # The image the launch pinned is still in ECR, untagged, as ECR keeps it.
    kept = application("ecr").describe_images(repositoryName=ECR_REPOSITORY, imageIds=[{"imageDigest": first}])
    assert kept["imageDetails"][0].get("imageTags", []) == []


def test_a_build_changed_after_preflight_fails_the_frontend_naming_both_digests(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    resolved = _resolved(store, launch, application)
    assert resolved.artifacts is not None
    recorded = resolved.artifacts.frontend_digest
    application("s3").put_object(Bucket=ARTIFACT_BUCKET, Key="releases/1.1.0/index.html", Body=b"<h1>not reviewed</h1>")
    stored = with_rollback_point(store, resolved, profile, application)
    with pytest.raises(FrontendDeployFailed, match="changed since preflight recorded it") as failed:
        deploy_frontend(store, stored, profile, application("s3"), application("cloudfront"))
    assert recorded in str(failed.value)
    assert store.get_launch(launch.launch_id).changes == []  # refused before anything was copied
