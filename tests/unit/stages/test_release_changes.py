"""What a launch would change, read at preflight for its approvers: live now against what it puts live."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from localaws.github_api import GitHubAppIdentity, LocalGitHubApi, app_key_pair
from localaws.infrastructure import ACCOUNT_ID, FIRST_VERSION, backend_image, site_build

from chalicelib.checks.release import GitHubApp
from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.domain.profiles import EnvironmentProfile, ReleaseChecks
from chalicelib.stages.release_changes import read_changes
from tests.conftest import Denied, make_request

REPOSITORY = "acme/shop"
LIVE_SHA = "1a2b3c4d5e6f"


@pytest.fixture
def github() -> Iterator[tuple[LocalGitHubApi, GitHubApp]]:
    private, public = app_key_pair()
    api = LocalGitHubApi("token", app=GitHubAppIdentity("4242", public, {REPOSITORY: 9})).start()
    yield api, GitHubApp(app_id="4242", private_key=private, api_url=api.url)
    api.stop()


def _live(store: Any, profile: EnvironmentProfile) -> Launch:
    """A launch of the first version that succeeded: the release live now."""
    moment = datetime.now(UTC)
    live = Launch(
        launch_id="local-20261101-000000-aaaaaa",
        request=make_request(version=FIRST_VERSION, git_sha=LIVE_SHA),
        status=LaunchStatus.SUCCEEDED,
        created_at=moment,
        updated_at=moment,
        profile=profile,
    )
    store.create_launch(live)
    store.set_status(live.launch_id, LaunchStatus.SUCCEEDED)
    store.release_lock("local", live.launch_id)
    return live


def test_the_live_image_and_release_the_digests_and_the_sites_objects_are_read(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    live = _live(store, profile)
    changes = read_changes(store, launch, profile, application)
    assert changes.unread == []
    assert (changes.live_launch_id, changes.live_version) == (live.launch_id, FIRST_VERSION)
    assert changes.live_image == backend_image(FIRST_VERSION, ACCOUNT_ID)
    assert changes.live_task_definition is not None
    assert changes.image == launch.request.backend_image
    assert changes.image_digest is not None
    assert changes.image_digest.startswith("sha256:")
    assert changes.live_image_digest is not None
    assert changes.live_image_digest != changes.image_digest
    assert profile.backend.migration is not None
    assert changes.migration == profile.backend.migration.task_definition
    released = site_build(launch.request.version)
    assert changes.site_added + changes.site_changed + changes.site_unchanged == len(released)  # type: ignore[operator]
    assert changes.commits_total is None  # no GitHub App for this environment


def test_the_commits_since_the_live_release_are_read_as_the_github_app(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile, github: Any
) -> None:
    api, app = github
    checks = ReleaseChecks(repository=REPOSITORY, required=["build"], api_url=api.url)
    profile = profile.model_copy(update={"preflight": profile.preflight.model_copy(update={"release_checks": checks})})
    _live(store, profile)
    api.record_history(REPOSITORY, LIVE_SHA, launch.request.git_sha, ["first", "second\n\nits body", "third"])
    changes = read_changes(store, launch, profile, application, lambda: app)
    assert changes.commits_total == 3
    assert [commit.title for commit in changes.commits] == ["third", "second", "first"]  # newest first
    assert changes.compare_url == f"{api.url}/{REPOSITORY}/compare/{LIVE_SHA}...{launch.request.git_sha}"


def test_a_part_that_cannot_be_read_is_named_and_the_rest_still_read(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    def client(service: str) -> Any:
        return Denied(service) if service == "ecs" else application(service)

    changes = read_changes(store, launch, profile, client)
    assert changes.unread == ["the service's image: AccessDenied: not allowed: describe_services"]
    assert changes.live_image is None
    assert changes.image_digest is not None
    assert changes.site_added is not None
